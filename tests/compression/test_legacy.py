"""Files of the first artifact format (``ABLT`` v1) still load; their writer lives only here."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ablation.compression import artifact
from ablation.compression.transforms import compress, quantize_int8
from tests.compression.test_compression import META, tiny

_NP = {"f4": "<f4", "f2": "<f2", "i1": "i1"}


def _blob(tensor: torch.Tensor, dtype: str, sparse: bool) -> tuple[str, bytes]:
    # The version-1 encoder as it was: optional per-channel scales, then dense values or a
    # packbits mask followed by the non-zero values.
    prefix = b""
    if dtype == "i1":
        q = quantize_int8(tensor)
        prefix, flat = q.scales.numpy().astype("<f4").tobytes(), q.codes.numpy().reshape(-1)
    else:
        flat = tensor.detach().float().numpy().reshape(-1).astype(_NP[dtype])
    if not sparse:
        return "d", prefix + flat.tobytes()
    nonzero = flat != 0
    return "b", prefix + np.packbits(nonzero).tobytes() + flat[nonzero].tobytes()


def write_v1(path: Path, model: nn.Module, meta: dict, mode: str, sparse: bool = False) -> None:
    """An ``ABLT`` version-1 file, byte for byte as ablate wrote them before safetensors."""
    weights = artifact.weight_names(model)
    entries, chunks = [], []
    for name, tensor in model.state_dict().items():
        if not tensor.is_floating_point():
            continue
        dtype = "i1" if mode == "int8" and name in weights else "f2" if mode != "fp32" else "f4"
        enc, blob = _blob(tensor, dtype, sparse and name in weights)
        entries.append([name, list(tensor.shape), enc, dtype, len(blob)])
        chunks.append(blob)
    payload = b"".join(chunks)
    header = json.dumps({"meta": meta, "size": len(payload), "crc": zlib.crc32(payload),
                         "tensors": entries}, separators=(",", ":")).encode()
    path.write_bytes(struct.pack("<4sBI", b"ABLT", 1, len(header)) + header + payload)


@pytest.mark.parametrize("mode, sparse", [("fp32", False), ("fp16", True), ("int8", True),
                                          ("int8", False)])
def test_an_old_ablt_file_loads_and_predicts_as_written(tmp_path, mode, sparse):
    model = compress(tiny(), 0.6, "layer", mode)
    path = tmp_path / "trial-3-int8.ablt"  # the old file name, as old studies stored it
    write_v1(path, model, META, mode, sparse)
    loaded = artifact.load(path)
    assert loaded.artifact.version == 1 and loaded.artifact.mode == mode
    x = torch.randn(16, 1, 28, 28)
    with torch.inference_mode():
        assert torch.allclose(loaded.reference(x), model(x), atol=1e-5)
    if mode == "int8":
        # No activation ranges in a v1 file: it runs dequantized, and says so.
        assert loaded.kernels.startswith("fp32 (dequantized int8)")
        assert "no activation ranges" in loaded.kernels
        assert set(loaded.artifact.codes) == artifact.weight_names(model)


def test_a_corrupt_old_file_is_still_one_clear_line(tmp_path):
    path = tmp_path / "old.ablt"
    write_v1(path, tiny(), META, "fp32")
    blob = bytearray(path.read_bytes())
    blob[-50] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(artifact.ArtifactError, match="old.ablt: .*checksum"):
        artifact.read(path)
    path.write_bytes(bytes(blob[:30]))
    with pytest.raises(artifact.ArtifactError, match="old.ablt: not a readable"):
        artifact.read(path)
