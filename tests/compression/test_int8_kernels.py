"""int8 artifacts run on x86 quantized kernels, the stored codes exactly; fp32 where none."""

from __future__ import annotations

import pytest
import torch

from ablation.compression import artifact, int8_kernels
from ablation.compression.transforms import compress
from ablation.models import build_model
from tests.fakes import META, tiny

needs_x86 = pytest.mark.skipif(int8_kernels.quant_engine() is None,
                               reason="no x86 quantized engine on this machine")


def _int8_file(tmp_path, model, meta=META, shape=(1, 28, 28)):
    small = compress(model, 0.5, "layer", "int8")
    gen = torch.Generator().manual_seed(1)
    calibration = int8_kernels.calibrate(small, [torch.randn(64, *shape, generator=gen)])
    path = tmp_path / "m.safetensors"
    artifact.write(path, small, meta, "int8", calibration=calibration)
    return small, path


@needs_x86
def test_int8_artifact_runs_the_stored_codes_on_quantized_kernels(tmp_path):
    small, path = _int8_file(tmp_path, tiny())
    loaded = artifact.load(path)
    assert loaded.kernels.startswith("int8 (")
    assert not any(isinstance(m, torch.nn.Conv2d) for m in loaded.model.modules())
    run = int8_kernels.kernel_codes(loaded.model)
    stored = loaded.artifact.codes
    assert set(run) == set(stored) == artifact.weight_names(small)
    for name, codes in run.items():
        # BatchNorm folded into the conv scales each output channel: same codes up to a sign.
        assert torch.equal(codes.abs(), stored[name].codes.abs()), name
    x = torch.randn(128, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        fp32, int8 = small(x), loaded.model(x)
    assert int8.dtype == torch.float32 and int8.shape == fp32.shape
    assert (int8.argmax(1) == fp32.argmax(1)).float().mean() >= 0.9
    assert not torch.equal(int8, fp32)  # it really is another computation


@needs_x86
@pytest.mark.parametrize("name, shape", [("cnn", (1, 28, 28)), ("lenet5", (1, 28, 28)),
                                         ("resnet-lite", (3, 16, 16))])
def test_every_cnn_family_quantizes(tmp_path, name, shape):
    torch.manual_seed(0)
    model = build_model(name, shape, 10, width=4, blocks=1)
    with torch.no_grad():
        model.train()(torch.randn(32, *shape))
    meta = META | {"model": name, "input_shape": list(shape), "width": 4}
    small, path = _int8_file(tmp_path, model.eval(), meta, shape)
    loaded = artifact.load(path)
    assert loaded.kernels.startswith("int8 ("), loaded.kernels
    assert int8_kernels.kernel_codes(loaded.model)
    x = torch.randn(64, *shape, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        agree = (loaded.model(x).argmax(1) == small(x).argmax(1)).float().mean()
    assert agree >= 0.8


def test_without_an_x86_engine_it_runs_dequantized_and_says_why(tmp_path, monkeypatch):
    small, path = _int8_file(tmp_path, tiny())
    monkeypatch.setattr(int8_kernels.platform, "machine", lambda: "aarch64")
    loaded = artifact.load(path)
    assert loaded.kernels == "fp32 (dequantized int8): no x86 quantized engine on aarch64"
    assert loaded.model is loaded.reference
    x = torch.randn(8, 1, 28, 28)
    with torch.inference_mode():
        assert torch.allclose(loaded.model(x), small(x), atol=1e-5)


def test_a_torch_without_fbgemm_falls_back_too(tmp_path, monkeypatch):
    _, path = _int8_file(tmp_path, tiny())
    monkeypatch.setattr(int8_kernels, "supported_engines", lambda: ["qnnpack", "none"])
    assert int8_kernels.quant_engine() is None
    assert artifact.load(path).kernels.startswith("fp32 (dequantized int8): no x86")


@needs_x86
def test_ranges_from_another_graph_fall_back(tmp_path):
    small, path = _int8_file(tmp_path, tiny())
    art = artifact.read(path)
    odd = artifact.Artifact(art.meta, art.state, art.version, art.mode, art.codes,
                            {"activation_post_process_99": (0.0, 1.0)})
    loaded = artifact.open_artifact(odd)
    assert "do not fit" in loaded.kernels and loaded.model is loaded.reference


def test_calibration_covers_the_observed_range():
    model = tiny()
    x = torch.randn(32, 1, 28, 28)
    ranges = int8_kernels.calibrate(model, [x])
    low, high = ranges["activation_post_process_0"]  # the input's observer
    assert low == pytest.approx(float(x.min())) and high == pytest.approx(float(x.max()))
    assert int8_kernels.calibrate(model, []) == {}
