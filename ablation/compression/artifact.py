"""Artifact files: a trained (and compressed) model as a safetensors file, ablate's facts inside.

A file is plain safetensors (8-byte header length, JSON header, raw little-endian tensors), so any
safetensors tool opens it and nothing in it can run code. Tensor names are the model's state-dict
keys; compressed forms add entries under the same name with a ``#`` suffix:

- dense fp32 / fp16 tensors are stored as themselves (``F32`` / ``F16``);
- an int8 weight is ``name`` (``I8`` codes, the weight's shape) plus ``name#scale`` (``F32``, one
  symmetric scale per output channel, zero-point 0);
- a sparse weight is ``name#mask`` (``U8``, the non-zero positions bit-packed in numpy
  ``packbits`` order) plus ``name#values`` (only the non-zero values, fp32/fp16/int8), and
  ``name#scale`` for int8;
- an int8 artifact also holds the calibrated activation ranges of its quantized graph,
  ``#act#min`` / ``#act#max`` (``F32``, one entry per observer named in ``calibration``).

The header's string metadata (``__metadata__``) holds ``format`` ("ablate-artifact"),
``version`` ("2"), ``mode`` (fp32/fp16/int8), ``meta`` (JSON: model name and build arguments,
input shape, classes, normalisation, training configuration), ``layout`` (JSON: per state tensor
``[shape, encoding, dtype]``), ``calibration`` (JSON list of observer names) and ``crc32`` of the
data section (safetensors itself has no checksum). Files of the first format (``ABLT``) still
load (:mod:`ablation.compression.legacy`). Integer buffers (BatchNorm's
``num_batches_tracked``) are not stored: evaluation never reads them.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ablation.compression import legacy
from ablation.compression.transforms import QUANTIZE_MODES, Int8Tensor, dequantize, quantize_int8
from ablation.errors import UserError
from ablation.models.layers import prunable

FORMAT = "ablate-artifact"
VERSION = 2
SEP = "#"  # never in a state-dict key (module and parameter names are identifiers)
ACT_MIN, ACT_MAX = f"{SEP}act{SEP}min", f"{SEP}act{SEP}max"
SPARSE_CHOICES = ("auto", "never", "always")
# A safetensors header entry beyond its name: '"#values":{"dtype":"I8","shape":[n],
# "data_offsets":[a,b]},' is ~64 bytes with typical digits (tests/compression/test_artifact).
HEADER_ENTRY_BYTES = 64
_NP = legacy.NP_DTYPES
Calibration = dict[str, tuple[float, float]]  # observer name -> (min, max) activation range


class ArtifactError(UserError):
    """A file that is not a readable artifact (wrong magic, version, truncated, corrupt)."""


@dataclass(frozen=True)
class Artifact:
    """What a file holds: build arguments, the fp32 state it decodes to, and its int8 parts."""

    meta: dict[str, Any]
    state: dict[str, torch.Tensor]  # every stored tensor as fp32 (int8 weights dequantized)
    version: int
    mode: str = "fp32"
    codes: dict[str, Int8Tensor] = field(default_factory=dict)  # int8 weights as stored
    calibration: Calibration = field(default_factory=dict)


def _dtype_for(name: str, tensor: torch.Tensor, mode: str, weight_names: set[str]) -> str:
    if mode == "int8" and name in weight_names and tensor.dim() >= 2:
        return "i1"
    return "f2" if mode in ("fp16", "int8") else "f4"


def _entries(name: str, tensor: torch.Tensor, dtype: str, sparse: str
             ) -> tuple[str, dict[str, np.ndarray]]:
    """(encoding, safetensors entries) of one state tensor."""
    extra: dict[str, np.ndarray] = {}
    if dtype == "i1":
        q = quantize_int8(tensor)
        extra[name + SEP + "scale"] = q.scales.numpy().astype("<f4")
        values = q.codes.numpy()
    else:
        values = tensor.detach().float().numpy().astype(_NP[dtype])
    flat = values.reshape(-1)
    nonzero = flat != 0
    mask = np.packbits(nonzero)
    # The bitmask pays off below 97% density for fp32 values, 87.5% for int8; its form also has
    # one more header entry, counted so that "auto" keeps the smaller file.
    packed = mask.nbytes + int(nonzero.sum()) * flat.itemsize + len(name) + HEADER_ENTRY_BYTES
    if sparse == "always" or (sparse == "auto" and packed < flat.nbytes):
        extra[name + SEP + "mask"] = mask
        extra[name + SEP + "values"] = np.ascontiguousarray(flat[nonzero])
        return "b", extra
    extra[name] = np.ascontiguousarray(values)
    return "d", extra


def _serialise(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    from safetensors.numpy import save

    # The data section does not depend on the header, so its CRC-32 can go into the header.
    first = save(tensors, metadata=metadata)
    (hlen,) = struct.unpack_from("<Q", first)
    crc = zlib.crc32(first[8 + hlen:])
    return bytes(save(tensors, metadata=metadata | {"crc32": str(crc)}))


def encode(state: Mapping[str, torch.Tensor], meta: Mapping[str, Any], mode: str = "fp32",
           sparse: str = "auto", weight_names: set[str] | None = None,
           calibration: Calibration | None = None) -> bytes:
    """The bytes of an artifact for ``state`` (``mode``: fp32, fp16 or int8 weights).

    ``sparse``: "auto" keeps whichever of dense / bitmask is smaller for each conv/linear
    weight; "never" and "always" force one encoding (tests and size curves).
    """
    if mode not in QUANTIZE_MODES or sparse not in SPARSE_CHOICES:
        raise ValueError(f"bad artifact mode {mode!r} or sparse {sparse!r}")
    weights = weight_names if weight_names is not None else set()
    tensors: dict[str, np.ndarray] = {}
    layout: dict[str, list[Any]] = {}
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            continue
        tensor = tensor.detach().cpu()  # a model trained on a GPU writes the same file
        dtype = _dtype_for(name, tensor, mode, weights)
        enc, entries = _entries(name, tensor, dtype, sparse if name in weights else "never")
        tensors.update(entries)
        layout[name] = [list(tensor.shape), enc, dtype]
    calibration = calibration or {}
    if calibration:
        tensors[ACT_MIN] = np.array([v[0] for v in calibration.values()], "<f4")
        tensors[ACT_MAX] = np.array([v[1] for v in calibration.values()], "<f4")
    metadata = {"format": FORMAT, "version": str(VERSION), "mode": mode,
                "meta": json.dumps(dict(meta), separators=(",", ":")),
                "layout": json.dumps(layout, separators=(",", ":")),
                "calibration": json.dumps(list(calibration))}
    return _serialise(tensors, metadata)


def weight_names(model: nn.Module) -> set[str]:
    """State-dict keys of the conv/linear weights (the tensors that get int8 and sparse forms)."""
    ids = {id(m) for m, _ in prunable(model)}
    return {f"{n}.weight" if n else "weight" for n, m in model.named_modules() if id(m) in ids}


def write(path: Path, model: nn.Module, meta: Mapping[str, Any], mode: str = "fp32",
          sparse: str = "auto", calibration: Calibration | None = None) -> int:
    """Write ``model`` to ``path`` atomically; returns the file's size in bytes (os.stat)."""
    blob = encode(model.state_dict(), meta, mode, sparse, weight_names(model), calibration)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(blob)
    tmp.replace(path)
    return path.stat().st_size


def _header(blob: bytes, where: object) -> dict[str, str]:
    """The checked ``__metadata__`` of safetensors bytes (size, format, version, CRC-32)."""
    if len(blob) < 8:
        raise legacy.bad(where, f"truncated: {len(blob)} bytes")
    (hlen,) = struct.unpack_from("<Q", blob)
    if hlen > len(blob) - 8:
        raise legacy.bad(where, f"truncated: header of {hlen} bytes in a {len(blob)}-byte file")
    try:
        header = json.loads(blob[8:8 + hlen].decode())
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
        metadata = dict(header.get("__metadata__") or {})
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError, TypeError,
            ValueError, IndexError):
        raise legacy.bad(where, "header is not valid safetensors JSON; truncated or corrupt"
                         ) from None
    if metadata.get("format") != FORMAT:
        raise legacy.bad(where, "a safetensors file without ablate's metadata")
    if metadata.get("version") != str(VERSION):
        raise legacy.bad(where, f"format version {metadata.get('version')}, this reader knows "
                   f"{VERSION}")
    data = blob[8 + hlen:]
    if len(data) != max(ends, default=0):
        raise legacy.bad(where, f"data is {len(data)} bytes, header says {max(ends, default=0)}")
    if str(zlib.crc32(data)) != metadata.get("crc32"):
        raise legacy.bad(where, "data checksum mismatch; the file is corrupt")
    return metadata


def _tensor(arrays: Mapping[str, np.ndarray], name: str, shape: list[int], enc: str,
            dtype: str) -> torch.Tensor | Int8Tensor:
    if enc == "b":
        n = int(np.prod(shape)) if shape else 1
        mask = np.unpackbits(arrays[name + SEP + "mask"])[:n].astype(bool)
        flat = np.zeros(n, _NP[dtype])
        flat[mask] = arrays[name + SEP + "values"]
        values = torch.from_numpy(flat.reshape(shape))
    else:
        values = torch.from_numpy(np.array(arrays[name]).reshape(shape))
    if dtype == "i1":
        return Int8Tensor(values, torch.from_numpy(np.array(arrays[name + SEP + "scale"])))
    return values.float()


def _decode_v2(blob: bytes, where: object) -> Artifact:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    metadata = _header(blob, where)
    try:
        arrays = load(blob)
        meta, layout = json.loads(metadata["meta"]), json.loads(metadata["layout"])
        tensors = {name: _tensor(arrays, name, *spec) for name, spec in layout.items()}
        observers = json.loads(metadata.get("calibration", "[]"))
        calibration = {}
        if observers:
            lows, highs = arrays[ACT_MIN].tolist(), arrays[ACT_MAX].tolist()
            calibration = {n: (lows[i], highs[i]) for i, n in enumerate(observers)}
    except (SafetensorError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise legacy.bad(where, f"tensor table does not match the data: {exc}") from None
    return _artifact(meta, tensors, VERSION, metadata.get("mode", "fp32"), calibration)


def _artifact(meta: dict[str, Any], tensors: Mapping[str, torch.Tensor | Int8Tensor],
              version: int, mode: str, calibration: Calibration) -> Artifact:
    codes = {k: v for k, v in tensors.items() if isinstance(v, Int8Tensor)}
    state = {k: dequantize(v) if isinstance(v, Int8Tensor) else v for k, v in tensors.items()}
    return Artifact(meta, state, version, mode, codes, calibration)


def decode(blob: bytes, where: object = "<bytes>") -> Artifact:
    """Parse and verify artifact bytes (safetensors, or the old ABLT format); a bad file raises
    ArtifactError."""
    if blob[:4] == legacy.MAGIC:
        meta, tensors, mode = legacy.decode(blob, where)
        return _artifact(meta, tensors, legacy.VERSION, mode, {})
    return _decode_v2(blob, where)


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


def rebuild(art: Artifact, where: object = "<bytes>") -> nn.Module:
    """The fp32 model an artifact describes, its weights filled in (int8 ones dequantized)."""
    from ablation.models import build_model

    m = art.meta
    try:
        model = build_model(m["model"], tuple(m["input_shape"]), m["n_classes"],
                            m["activation"], width=m["width"], blocks=m["blocks"],
                            dropout=m["dropout"])
    except KeyError as exc:
        raise legacy.bad(where, f"meta lacks {exc}") from None
    return load_state(model, art)


@dataclass(frozen=True)
class LoadedArtifact:
    """A reloaded artifact: the model to run, its fp32 twin, and which kernels the model runs."""

    artifact: Artifact
    model: nn.Module  # what inference runs: int8 kernels for an int8 file where possible
    reference: nn.Module  # the fp32 model (int8 weights dequantized): sparsity, fallbacks
    kernels: str  # "fp32", "fp32 (from fp16)", "int8 (x86 kernels)", "fp32 (dequantized ...)"


def open_artifact(art: Artifact, where: object = "<bytes>", int8: bool = True) -> LoadedArtifact:
    """Rebuild ``art``'s model; an int8 file runs on int8 kernels unless ``int8`` is False."""
    from ablation.compression.int8_kernels import DEQUANTIZED, int8_module

    reference = rebuild(art, where)
    if art.mode != "int8":
        return LoadedArtifact(art, reference, reference,
                              "fp32" if art.mode == "fp32" else f"fp32 (from {art.mode})")
    if not int8:
        return LoadedArtifact(art, reference, reference, DEQUANTIZED)
    model, kernels = int8_module(reference, art.calibration, tuple(art.meta["input_shape"]))
    return LoadedArtifact(art, model, reference, kernels)


def load(path: Path, int8: bool = True) -> LoadedArtifact:
    """Read an artifact file and rebuild its model (see :func:`open_artifact`)."""
    return open_artifact(read(path), path, int8)


def load_model(path: Path, int8: bool = True) -> nn.Module:
    """The runnable model of an artifact file (eval mode): int8 kernels for an int8 file where
    this CPU has them, else fp32."""
    return load(path, int8).model
