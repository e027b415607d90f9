"""Files of the first artifact format (``ABLT`` v1) still load; their writer lives only here."""

from __future__ import annotations

import pytest
import torch

from ablation.compression import artifact
from ablation.compression.transforms import compress
from tests.fakes import META, tiny, write_v1


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
