"""Artifacts and checkpoints through Optuna's artifact stores: a folder, a fake in-memory store,
and an S3 bucket on a local S3-compatible server (moto's server mode, a real HTTP endpoint)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import BinaryIO

import optuna
import pytest
import torch
from click.testing import CliRunner

from ablation.cli import main
from ablation.engine.options import RunOptions
from ablation.engine.results.trained import trial_weights
from ablation.engine.storage import artifact_store as art
from ablation.engine.trials.worker import run_study
from ablation.errors import UserError
from ablation.training.checkpoint import EpochCheckpoint, checkpoint_path
from ablation.training.fit import fit
from tests.fakes import FakeFit, make_spec

BUCKET = "ablate-test"


class MemoryStore:
    """An artifact store in a dict (what any ArtifactStore must do, nothing more)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def open_reader(self, artifact_id: str) -> BinaryIO:
        if artifact_id not in self.blobs:
            raise optuna.artifacts.exceptions.ArtifactNotFound(artifact_id)
        return io.BytesIO(self.blobs[artifact_id])

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self.blobs[artifact_id] = content_body.read()

    def remove(self, artifact_id: str) -> None:
        if self.blobs.pop(artifact_id, None) is None:
            raise optuna.artifacts.exceptions.ArtifactNotFound(artifact_id)


class Stop(Exception):
    pass


def test_locations_folders_and_buckets():
    assert art.as_location("s3://bucket/a/b") == "s3://bucket/a/b"
    assert art.as_location("runs/artifacts") == Path("runs/artifacts")
    assert art.is_bucket("s3://b") and not art.is_bucket(Path("s3:/b"))
    assert art.split_bucket("s3://bucket/a/b/") == ("bucket", "a/b")
    assert art.split_bucket("s3://bucket") == ("bucket", "")
    with pytest.raises(UserError, match="no bucket name"):
        art.split_bucket("s3:///prefix")


def test_prefixed_store_keeps_every_id_under_its_prefix():
    inner = MemoryStore()
    store = art.PrefixedStore(inner, "/team/run1/")
    store.write("checkpoints/x.pt", io.BytesIO(b"abc"))
    assert list(inner.blobs) == ["team/run1/checkpoints/x.pt"]
    assert store.open_reader("checkpoints/x.pt").read() == b"abc"
    store.remove("checkpoints/x.pt")
    assert inner.blobs == {}


def test_a_folder_is_optunas_filesystem_store_and_checkpoints_stay_files(tmp_path):
    store = art.artifact_store(tmp_path / "new")
    assert isinstance(store, optuna.artifacts.FileSystemArtifactStore)
    assert (tmp_path / "new").is_dir()
    ck = art.checkpoint_for(tmp_path, "study", "key")
    assert type(ck) is EpochCheckpoint and ck.path == checkpoint_path(tmp_path, "study", "key")


def _resume_through(make_checkpoint, tiny_config, tmp_path) -> EpochCheckpoint:
    """Die after epoch 2 with one checkpoint object, resume with a fresh one (another node)."""
    config = dataclasses.replace(tiny_config, epochs=3, augment=True, dropout=0.2)
    whole = fit(config, 3, data_dir=tmp_path)

    def die_after_epoch_2(record):
        if record.epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        fit(config, 3, data_dir=tmp_path, on_epoch=die_after_epoch_2,
            checkpoint=make_checkpoint())
    torch.manual_seed(12345)
    again = make_checkpoint()
    resumed = fit(config, 3, data_dir=tmp_path, checkpoint=again)
    assert again.resumed_from == 2
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    return again


def test_checkpoint_in_an_artifact_store_resumes_bit_for_bit(tiny_config, tmp_path):
    memory = MemoryStore()
    again = _resume_through(lambda: art.StoredCheckpoint(memory, "checkpoints/s/k.pt", "mem"),
                            tiny_config, tmp_path)
    assert list(memory.blobs) == ["checkpoints/s/k.pt"]
    again.delete()
    again.delete()  # already gone: fine
    assert memory.blobs == {}


def test_a_checkpoint_that_is_not_one_is_ignored_with_a_warning(tiny_config, tmp_path):
    memory = MemoryStore()
    memory.blobs["c.pt"] = b"not a checkpoint"
    ck = art.StoredCheckpoint(memory, "c.pt", "mem")
    with pytest.warns(UserWarning, match="ignoring unreadable checkpoint"):
        fit(tiny_config, 0, data_dir=tmp_path, checkpoint=ck)
    assert ck.resumed_from is None


@pytest.fixture
def s3_url(monkeypatch: pytest.MonkeyPatch):
    """A bucket on moto's S3 server on 127.0.0.1 (a real HTTP endpoint, as MinIO would be)."""
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for key, value in (("AWS_ENDPOINT_URL", f"http://{host}:{port}"),
                       ("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(key, value)
    import boto3

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    art._bucket_store.cache_clear()
    yield f"s3://{BUCKET}/team/run1"
    art._bucket_store.cache_clear()
    server.stop()


def _keys(prefix: str = "") -> list[str]:
    import boto3

    found = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in found.get("Contents", []))


def test_checkpoint_in_a_bucket_resumes_on_another_node(s3_url, tiny_config, tmp_path):
    def on_a_new_node():
        art._bucket_store.cache_clear()  # a new boto3 client, as in another process
        return art.checkpoint_for(s3_url, "study", "key")

    again = _resume_through(on_a_new_node, tiny_config, tmp_path)
    key = "team/run1/" + checkpoint_path(Path(), "study", "key").as_posix()
    assert _keys() == [key]
    again.delete()
    assert _keys() == []


def test_a_run_stores_weights_in_the_bucket_and_reads_them_back(s3_url, tmp_path):
    options = RunOptions(f"sqlite:///{tmp_path / 'a.db'}", s3_url, tmp_path, threads=1)
    spec = make_spec(seeds=1, choices=("sgd", "adam"), epochs=1, dataset="digits")
    summary = run_study(spec, options, FakeFit())
    assert summary.ran == 3 and summary.remaining == 0  # nadam (baseline), sgd, adam
    assert len(_keys("team/run1/")) == 6  # weights and confusion matrix of each trial
    assert not (tmp_path / "artifacts").exists()  # nothing went to a local folder
    from ablation.engine.storage.store import open_store

    state = trial_weights(open_store(options.storage_url), spec.storage_name, 0, s3_url)
    assert set(state) == {"weight", "bias"}  # FakeFit's nn.Linear(2, 2)


def test_an_unreachable_bucket_exits_2_before_anything_is_written(s3_url, tmp_path):
    db_file = tmp_path / "a.db"
    result = CliRunner().invoke(main, ["run", "optimizers", "--dataset", "digits", "--storage",
                                       f"sqlite:///{db_file}", "--artifacts",
                                       "s3://no-such-bucket/x"])
    assert result.exit_code == 2, result.output
    assert "cannot reach bucket 'no-such-bucket'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not db_file.exists()
