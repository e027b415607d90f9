"""The artifact file: safetensors any tool opens, ablate's metadata, honest sizes, bad files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import save

from ablation.compression import artifact
from ablation.compression.transforms import compress, quantize_int8
from tests.fakes import META, tiny


def test_safetensors_opens_an_int8_sparse_artifact_with_its_metadata(tmp_path):
    model = compress(tiny(), 0.7, "layer", "int8")
    path = tmp_path / "m.safetensors"
    size = artifact.write(path, model, META | {"classes": list("0123456789")}, "int8")
    assert size == os.stat(path).st_size
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
        keys = set(f.keys())
        mask, values = f.get_tensor("17.weight#mask"), f.get_tensor("17.weight#values")
        scales = f.get_tensor("17.weight#scale")
        bias = f.get_tensor("1.bias")
    assert meta["format"] == "ablate-artifact" and meta["version"] == "2"
    assert meta["mode"] == "int8"
    assert json.loads(meta["meta"])["classes"] == list("0123456789")
    assert "17.weight" not in keys  # 70% zeros: stored as mask + non-zero values only
    weight = model.state_dict()["17.weight"]
    q = quantize_int8(weight)
    assert mask.dtype == np.uint8 and mask.size == (weight.numel() + 7) // 8
    assert values.dtype == np.int8 and values.size == int(torch.count_nonzero(q.codes))
    assert np.array_equal(np.unpackbits(mask)[:weight.numel()].astype(bool),
                          q.codes.numpy().reshape(-1) != 0)
    assert np.array_equal(values, q.codes.numpy().reshape(-1)[q.codes.numpy().reshape(-1) != 0])
    assert np.allclose(scales, q.scales.numpy())
    assert bias.dtype == np.float16  # int8 mode keeps BatchNorm tensors in fp16


def test_dense_fp32_artifact_is_the_plain_state_dict_for_other_tools(tmp_path):
    model = tiny()
    path = tmp_path / "m.safetensors"
    artifact.write(path, model, META, "fp32", sparse="never")
    with safe_open(str(path), framework="pt") as f:
        got = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is no dict
    expected = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    assert set(got) == set(expected)
    assert all(torch.equal(got[k], expected[k]) for k in expected)


def test_pruned_artifacts_are_smaller_on_disk(tmp_path):
    sizes = []
    for ratio in (0.0, 0.5, 0.9):
        path = tmp_path / f"{ratio}.safetensors"
        sizes.append(artifact.write(path, compress(tiny(16), ratio, "layer", "fp32"),
                                    META, "fp32"))
    assert sizes[0] > sizes[1] > sizes[2]
    assert sizes[2] < sizes[0] / 3


def test_a_safetensors_file_without_ablate_metadata_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    path.write_bytes(save({"w": np.zeros(3, np.float32)}, metadata={"x": "y"}))
    with pytest.raises(artifact.ArtifactError, match=f"{path}: .*without ablate's metadata"):
        artifact.read(path)


def test_a_missing_file_is_one_clear_line(tmp_path):
    with pytest.raises(artifact.ArtifactError, match="nope.safetensors: cannot read artifact"):
        artifact.read(tmp_path / "nope.safetensors")


def test_a_changed_tensor_table_is_caught(tmp_path):
    path = tmp_path / "m.safetensors"
    artifact.write(path, tiny(), META, "fp16")
    blob = path.read_bytes()
    # Same length, same CRC of the data, but the layout names a tensor that is not there.
    bad = blob.replace(b'\\"1.bias\\":[[8]', b'\\"9.bias\\":[[8]')  # JSON inside JSON
    assert bad != blob and len(bad) == len(blob)
    path.write_bytes(bad)
    with pytest.raises(artifact.ArtifactError, match="tensor table does not match"):
        artifact.read(path)


@pytest.mark.parametrize("mode", ["fp32", "int8"])
@pytest.mark.parametrize("name", ["w", "stages.2.blocks.1.conv2.weight"])
def test_auto_picks_the_smaller_file_around_the_crossover(mode, name):
    # int8: a bitmask pays off below ~85% density for a 64x64 weight; fp32 below ~96%.
    w = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    order = torch.rand(w.shape, generator=torch.Generator().manual_seed(1))
    for density in [d / 100 for d in range(78, 100)]:
        state = {name: w * (order < density)}
        size = {s: len(artifact.encode(state, {}, mode, s, {name}))
                for s in ("auto", "always", "never")}
        # Within the header's 8-byte padding (and a digit or two) of the smaller form.
        assert size["auto"] - min(size["always"], size["never"]) <= 10, (density, size)
