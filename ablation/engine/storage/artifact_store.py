"""Where artifacts and checkpoints live: a folder (local or NFS) or an S3-compatible bucket.

Both are Optuna artifact stores (``FileSystemArtifactStore``, ``Boto3ArtifactStore``), so final
weights, confusion matrices and compressed models go through ``optuna.artifacts.upload_artifact``
either way and optuna-dashboard serves them. Checkpoints go to the same store under a fixed id,
``checkpoints/<study hash>/<point key>.pt``: a point taken over on another node finds the dead
node's last checkpoint there whenever the store is shared (a bucket, or a folder on NFS).

``--artifacts s3://bucket/prefix`` reads its credentials and endpoint the way boto3 always does
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` for MinIO, Ceph or any
S3-compatible server, ``~/.aws/config``); nothing of them is stored or printed.
"""

from __future__ import annotations

import contextlib
import functools
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import optuna

from ablation.errors import UserError
from ablation.training.checkpoint import EpochCheckpoint, checkpoint_path

if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore

BUCKET_SCHEME = "s3://"
Location = Path | str  # a folder, or an "s3://bucket/prefix" URL


def is_bucket(location: Location) -> bool:
    """Whether ``location`` names a bucket (``s3://...``) rather than a folder."""
    return isinstance(location, str) and location.startswith(BUCKET_SCHEME)


def as_location(value: str | Path) -> Location:
    """A command-line ``--artifacts`` value: the URL kept as text for a bucket, else a Path."""
    text = str(value)
    return text if text.startswith(BUCKET_SCHEME) else Path(text)


def split_bucket(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix")."""
    bucket, _, prefix = url.removeprefix(BUCKET_SCHEME).partition("/")
    if not bucket:
        raise UserError(f"--artifacts {url!r}: no bucket name; expected s3://BUCKET[/PREFIX]")
    return bucket, prefix.strip("/")


class PrefixedStore:
    """An artifact store that keeps every id under ``prefix/`` of another store."""

    def __init__(self, inner: ArtifactStore, prefix: str) -> None:
        self.inner, self.prefix = inner, prefix.strip("/")

    def _id(self, artifact_id: str) -> str:
        return f"{self.prefix}/{artifact_id}" if self.prefix else artifact_id

    def open_reader(self, artifact_id: str) -> BinaryIO:
        """A reader of the artifact's bytes (ArtifactNotFound when there is none)."""
        return self.inner.open_reader(self._id(artifact_id))

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        """Store ``content_body`` under ``artifact_id``."""
        self.inner.write(self._id(artifact_id), content_body)

    def remove(self, artifact_id: str) -> None:
        """Delete the artifact."""
        self.inner.remove(self._id(artifact_id))


@functools.cache
def _bucket_store(url: str) -> ArtifactStore:
    # One boto3 client per process and bucket: creating one costs ~0.1 s and some memory.
    try:
        import boto3
    except ImportError:
        raise UserError(f"--artifacts {url!r}: boto3 is not installed; install ablate[s3]"
                        ) from None
    bucket, prefix = split_bucket(url)
    store = optuna.artifacts.Boto3ArtifactStore(bucket, client=boto3.client("s3"))
    return PrefixedStore(store, prefix)


def artifact_store(location: Location, create: bool = True) -> ArtifactStore:
    """The Optuna artifact store at ``location`` (a missing folder is created if ``create``)."""
    if is_bucket(location):
        return _bucket_store(str(location))
    folder = Path(location)
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return optuna.artifacts.FileSystemArtifactStore(str(folder))


def check_bucket(url: str) -> None:
    """Fail with one line, before anything is written, when the bucket cannot be reached."""
    bucket, _ = split_bucket(url)
    store = _bucket_store(url)
    client: Any = getattr(getattr(store, "inner", None), "client", None)
    try:
        client.head_bucket(Bucket=bucket)
    except Exception as exc:  # noqa: BLE001 - botocore raises many kinds; each is the user's to fix
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"--artifacts {url}: cannot reach bucket {bucket!r}: {reason}") from None


def _store_errors() -> tuple[type[BaseException], ...]:
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return (OSError,)
    return (OSError, BotoCoreError, ClientError)


class StoredCheckpoint(EpochCheckpoint):
    """A training checkpoint kept in an artifact store (a bucket) instead of a local file."""

    def __init__(self, store: ArtifactStore, artifact_id: str, shown: str) -> None:
        super().__init__(Path(artifact_id))
        self.store, self.artifact_id, self.shown = store, artifact_id, shown

    def _store(self, state: dict[str, Any]) -> None:
        import torch

        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        try:  # one PUT: an object store never shows half an object, so no temporary name
            self.store.write(self.artifact_id, buf)
        except _store_errors() as exc:
            raise UserError(f"cannot write checkpoint {self.shown}: {exc}") from None

    def _read(self) -> Any:
        import torch

        try:
            with self.store.open_reader(self.artifact_id) as f:
                blob = f.read()
        except optuna.artifacts.exceptions.ArtifactNotFound:
            return None
        return torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")

    def delete(self) -> None:
        """Remove the checkpoint (the point is finished); one already gone is fine."""
        with contextlib.suppress(optuna.artifacts.exceptions.ArtifactNotFound):
            self.store.remove(self.artifact_id)


def checkpoint_for(location: Location, study: str, point_key: str) -> EpochCheckpoint:
    """The checkpoint of one point: a file in a folder, or an object in a bucket."""
    if not is_bucket(location):
        return EpochCheckpoint(checkpoint_path(Path(location), study, point_key))
    artifact_id = checkpoint_path(Path(), study, point_key).as_posix()
    return StoredCheckpoint(artifact_store(location), artifact_id,
                            f"{str(location).rstrip('/')}/{artifact_id}")
