"""A compact, versioned, pickle-free file format for trained (and compressed) models.

Layout (all integers little-endian)::

    b"ABLT" | u8 version | u32 header length H | H bytes of UTF-8 JSON | payload

The JSON header holds the model's build arguments (``meta``), the payload's byte count and CRC-32,
and one compact entry per tensor, ``[name, shape, encoding, dtype, nbytes]``; tensors follow each
other in the payload in header order. Encodings: ``"d"`` dense values; ``"b"`` a bitmask of the
non-zero positions (1 bit per entry, numpy ``packbits`` order) then the non-zero values. Dtypes:
``"f4"`` float32, ``"f2"`` float16, ``"i1"`` int8 codes preceded by one float32 scale per output
channel. Integer buffers (BatchNorm's ``num_batches_tracked``) are not stored: evaluation never
reads them. Loading only parses JSON and copies raw arrays, so a file cannot run code.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ablation.compression.transforms import Int8Tensor, dequantize, prunable, quantize_int8
from ablation.errors import UserError

MAGIC = b"ABLT"
VERSION = 1
_PREFIX = struct.Struct("<4sBI")
_NP: dict[str, np.dtype[Any]] = {"f4": np.dtype("<f4"), "f2": np.dtype("<f2"), "i1": np.dtype("i1")}
SPARSE_CHOICES = ("auto", "never", "always")


class ArtifactError(UserError):
    """A file that is not a readable artifact (wrong magic, version, truncated, corrupt)."""


@dataclass(frozen=True)
class Artifact:
    """What a file holds: the build arguments and the fp32 state it decodes to."""

    meta: dict[str, Any]
    state: dict[str, torch.Tensor]
    version: int


def _dtype_for(name: str, tensor: torch.Tensor, mode: str, weight_names: set[str]) -> str:
    if mode == "int8" and name in weight_names and tensor.dim() >= 2:
        return "i1"
    return "f2" if mode in ("fp16", "int8") else "f4"


def _values(tensor: torch.Tensor, dtype: str) -> tuple[bytes, np.ndarray]:
    """(prefix bytes, flat value array) of one tensor in ``dtype``."""
    if dtype == "i1":
        q = quantize_int8(tensor)
        return q.scales.numpy().astype("<f4").tobytes(), q.codes.numpy().reshape(-1)
    return b"", tensor.detach().float().numpy().reshape(-1).astype(_NP[dtype])


def _encode(tensor: torch.Tensor, dtype: str, sparse: str) -> tuple[str, bytes]:
    prefix, flat = _values(tensor, dtype)
    dense = prefix + flat.tobytes()
    if sparse == "never":
        return "d", dense
    nonzero = flat != 0
    packed = prefix + np.packbits(nonzero).tobytes() + flat[nonzero].tobytes()
    if sparse == "always" or len(packed) < len(dense):
        return "b", packed
    return "d", dense


def encode(state: Mapping[str, torch.Tensor], meta: Mapping[str, Any], mode: str = "fp32",
           sparse: str = "auto", weight_names: set[str] | None = None) -> bytes:
    """The bytes of an artifact for ``state`` (``mode``: fp32, fp16 or int8 weights).

    ``sparse``: "auto" keeps whichever of dense / bitmask is smaller for each conv/linear
    weight; "never" and "always" force one encoding (tests and size curves).
    """
    if mode not in ("fp32", "fp16", "int8") or sparse not in SPARSE_CHOICES:
        raise ValueError(f"bad artifact mode {mode!r} or sparse {sparse!r}")
    weights = weight_names if weight_names is not None else set()
    entries, chunks = [], []
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            continue
        dtype = _dtype_for(name, tensor, mode, weights)
        enc, blob = _encode(tensor, dtype, sparse if name in weights else "never")
        entries.append([name, list(tensor.shape), enc, dtype, len(blob)])
        chunks.append(blob)
    payload = b"".join(chunks)
    header = json.dumps({"meta": dict(meta), "size": len(payload),
                         "crc": zlib.crc32(payload), "tensors": entries},
                        separators=(",", ":")).encode()
    return _PREFIX.pack(MAGIC, VERSION, len(header)) + header + payload


def weight_names(model: nn.Module) -> set[str]:
    """State-dict keys of the conv/linear weights (the tensors that get int8 and sparse forms)."""
    ids = {id(m) for m, _ in prunable(model)}
    return {f"{n}.weight" if n else "weight" for n, m in model.named_modules() if id(m) in ids}


def write(path: Path, model: nn.Module, meta: Mapping[str, Any], mode: str = "fp32",
          sparse: str = "auto") -> int:
    """Write ``model`` to ``path`` atomically; returns the file's size in bytes."""
    blob = encode(model.state_dict(), meta, mode, sparse, weight_names(model))
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(blob)
    tmp.replace(path)
    return path.stat().st_size


def _bad(path: object, why: str) -> ArtifactError:
    return ArtifactError(f"{path}: not a readable ablate artifact ({why})")


def _header(blob: bytes, where: object) -> tuple[dict[str, Any], int, bytes]:
    if len(blob) < _PREFIX.size:
        raise _bad(where, f"truncated: {len(blob)} bytes")
    magic, version, hlen = _PREFIX.unpack_from(blob)
    if magic != MAGIC:
        raise _bad(where, f"wrong magic {magic!r}")
    if version != VERSION:
        raise _bad(where, f"format version {version}, this reader knows {VERSION}")
    end = _PREFIX.size + hlen
    try:
        header = json.loads(blob[_PREFIX.size:end].decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _bad(where, "header is not valid JSON; truncated or corrupt") from None
    payload = blob[end:]
    if len(payload) != header.get("size"):
        raise _bad(where, f"payload is {len(payload)} bytes, header says {header.get('size')}")
    if zlib.crc32(payload) != header.get("crc"):
        raise _bad(where, "payload checksum mismatch; the file is corrupt")
    return header, version, payload


def _decode_one(buf: bytes, shape: list[int], enc: str, dtype: str) -> torch.Tensor:
    n = int(np.prod(shape)) if shape else 1
    pos, scales = 0, None
    if dtype == "i1":
        scales = torch.from_numpy(np.frombuffer(buf, "<f4", shape[0]).copy())
        pos = 4 * shape[0]
    if enc == "b":
        nbits = (n + 7) // 8
        mask = np.unpackbits(np.frombuffer(buf, np.uint8, nbits, pos))[:n].astype(bool)
        flat = np.zeros(n, _NP[dtype])
        flat[mask] = np.frombuffer(buf, _NP[dtype], int(mask.sum()), pos + nbits)
    else:
        flat = np.frombuffer(buf, _NP[dtype], n, pos).copy()
    values = torch.from_numpy(flat.reshape(shape))
    if scales is not None:
        return dequantize(Int8Tensor(values, scales))
    return values.float()


def decode(blob: bytes, where: object = "<bytes>") -> Artifact:
    """Parse and verify artifact bytes into fp32 tensors; a bad file raises ArtifactError."""
    header, version, payload = _header(blob, where)
    state, pos = {}, 0
    try:
        for name, shape, enc, dtype, nbytes in header["tensors"]:
            state[name] = _decode_one(payload[pos:pos + nbytes], shape, enc, dtype)
            pos += nbytes
    except (KeyError, ValueError, TypeError) as exc:
        raise _bad(where, f"tensor table does not match the payload: {exc}") from None
    return Artifact(dict(header["meta"]), state, version)


def read(path: Path) -> Artifact:
    """Read and verify an artifact file."""
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read artifact ({exc.strerror})") from None
    return decode(blob, path)


def load_state(model: nn.Module, art: Artifact) -> nn.Module:
    """Load ``art``'s tensors into a freshly built ``model`` (same architecture)."""
    expected = {k for k, v in model.state_dict().items() if v.is_floating_point()}
    if set(art.state) != expected:
        diff = sorted(set(art.state) ^ expected)
        raise ArtifactError(f"artifact does not fit the model: tensors differ ({diff[:3]})")
    model.load_state_dict(art.state, strict=False)
    return model.eval()


def model_meta(config: Any, input_shape: tuple[int, int, int], n_classes: int) -> dict[str, Any]:
    """The build arguments an artifact needs to rebuild its model (from a TrainConfig)."""
    return {"model": config.model, "input_shape": list(input_shape), "n_classes": n_classes,
            "activation": config.activation, "width": config.width, "blocks": config.blocks,
            "dropout": config.dropout}


def load_model(path: Path) -> nn.Module:
    """Rebuild the model an artifact describes and fill in its weights (eval mode)."""
    from ablation.models import build_model

    art = read(path)
    m = art.meta
    try:
        model = build_model(m["model"], tuple(m["input_shape"]), m["n_classes"],
                            m["activation"], width=m["width"], blocks=m["blocks"],
                            dropout=m["dropout"])
    except KeyError as exc:
        raise _bad(path, f"meta lacks {exc}") from None
    return load_state(model, art)
