"""Device choice, per-device precision and kernel settings, and training on a chosen device.

No GPU here: the GPU branches are pure functions of a Machine, exercised with made-up ones; the
fp16 + gradient-scaler path (GPUs without bf16) runs on the CPU, whose autocast has fp16 too.
"""

import dataclasses
import math
import os

import pytest
import torch

from ablation.errors import UserError
from ablation.training import device as device_mod
from ablation.training import fit as fit_mod
from ablation.training.batches import Batcher, batch_indices, random_affine
from ablation.training.device import (
    Machine,
    channels_last,
    device_precision,
    kernel_settings,
    pick_device,
)
from ablation.training.fit import fit, on_device
from ablation.training.precision import autocast

NONE, TWO_GPUS, MAC = Machine(), Machine(cuda=2, cuda_bf16=True), Machine(mps=True)


def test_auto_is_the_first_gpu_else_mps_else_the_cpu():
    assert pick_device("auto", TWO_GPUS) == "cuda:0"
    assert pick_device("auto", Machine(cuda=1, mps=True)) == "cuda:0"
    assert pick_device("auto", MAC) == "mps"
    assert pick_device("auto", NONE) == "cpu"
    assert pick_device("cuda", TWO_GPUS) == "cuda:0"
    assert pick_device("cuda:1", TWO_GPUS) == "cuda:1"
    assert pick_device("cpu", TWO_GPUS) == "cpu"


@pytest.mark.parametrize(("asked", "have", "message"), [
    ("cuda", NONE, "--device cuda: no CUDA GPU visible on this machine; use --device cpu"),
    ("cuda:2", TWO_GPUS, "--device cuda:2: 2 CUDA GPU(s) visible on this machine"),
    ("mps", TWO_GPUS, "--device mps: this machine has no MPS"),
    ("cuda:x", TWO_GPUS, "--device: device must be one of")])
def test_a_device_the_machine_lacks_is_a_user_error(asked, have, message):
    with pytest.raises(UserError) as err:
        pick_device(asked, have)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_this_machine_is_asked_through_torch(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert device_mod.machine() == Machine(cuda=3, mps=device_mod.machine().mps, cuda_bf16=False)


def test_precision_per_device():
    ampere, turing = Machine(cuda=1, cuda_bf16=True), Machine(cuda=1, cuda_bf16=False)
    assert device_precision("auto", "cuda", ampere) == "bf16"
    assert device_precision("auto", "cuda", turing) == "fp16"
    assert device_precision("bf16", "cuda", turing) == "fp16"
    assert device_precision("fp32", "cuda", ampere) == "fp32"
    assert device_precision("auto", "mps", MAC) == "fp32"
    # The CPU keeps its own rule: bf16 only where the flags say native.
    assert device_precision("auto", "cpu", ampere, frozenset({"avx512_bf16"})) == "bf16"
    assert device_precision("auto", "cpu", ampere, frozenset({"avx512f"})) == "fp32"
    assert channels_last("cuda") and channels_last("cpu") and not channels_last("mps")


def test_autocast_takes_the_device_and_fp16():
    with autocast("fp16", "cpu"):
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.float16
    with autocast("bf16"):
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast("fp32", "cuda"):  # disabled: no GPU needed to enter it
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.float32


def test_deterministic_settings_are_set_and_put_back(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    with kernel_settings(torch.device("cuda"), deterministic=True):
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()  # warns, never stops
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == before
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    with kernel_settings(torch.device("cuda"), deterministic=False):
        assert torch.backends.cudnn.benchmark  # the autotuner, on a GPU only
    with kernel_settings(torch.device("cpu"), deterministic=False):
        assert torch.backends.cudnn.benchmark == before[1]


def test_batches_draw_on_the_generators_and_the_datas_device(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    idx = next(batch_indices(10, 4, gen))
    assert idx.device == gen.device and len(idx) == 4
    asked = []
    real = torch.rand
    monkeypatch.setattr(torch, "rand", lambda *a, **k: asked.append(k.get("device")) or real(
        *a, **{**k, "device": "cpu"}))
    random_affine(torch.zeros(3, 1, 8, 8), gen)
    assert asked == [torch.device("cpu")]  # the data's device, not a default
    b = Batcher.for_data(torch.full((4, 1, 2, 2), 7, dtype=torch.uint8), False).to("meta")
    assert b.mean.device.type == "meta" and b.std.device.type == "meta"
    assert b(torch.zeros(3, 1, 2, 2, dtype=torch.uint8, device="meta")).device.type == "meta"


def test_splits_move_to_a_device_whole(tiny_config, tmp_path):
    from ablation.data.datasets import make_splits

    data = make_splits("digits", tmp_path, 0.1, 200)
    moved = on_device(data, torch.device("meta"))
    assert {getattr(moved, f.name).device.type for f in dataclasses.fields(moved)
            if isinstance(getattr(moved, f.name), torch.Tensor)} == {"meta"}
    assert moved.train_x.dtype == torch.uint8 and moved.classes == data.classes


def test_explicit_cpu_device_trains_there_and_says_so(tiny_config, tmp_path):
    result = fit(tiny_config, 0, data_dir=tmp_path, device="cpu")
    assert result.device == "cpu"
    assert all(p.device.type == "cpu" for p in result.model.parameters())
    assert result.batcher is not None and result.batcher.mean.device.type == "cpu"
    assert result.predictions is not None and result.predictions.device.type == "cpu"


def test_cuda_without_a_gpu_fails_before_training(tiny_config, tmp_path):
    with pytest.raises(UserError, match="no CUDA GPU visible"):
        fit(tiny_config, 0, data_dir=tmp_path, device="cuda")


def test_fp16_with_a_gradient_scaler_trains_like_fp32(tiny_config, tmp_path, monkeypatch):
    # What a GPU without bf16 runs; the CPU's autocast has fp16 and GradScaler("cpu") exists.
    config = dataclasses.replace(tiny_config, epochs=2, grad_clip=1.0)
    fp32 = fit(config, 0, data_dir=tmp_path)
    monkeypatch.setattr(fit_mod, "device_precision", lambda *a, **k: "fp16")
    steps = []
    real = torch.amp.GradScaler.step
    monkeypatch.setattr(torch.amp.GradScaler, "step",
                        lambda self, opt, *a, **k: steps.append(1) or real(self, opt, *a, **k))
    fp16 = fit(config, 0, data_dir=tmp_path)
    assert fp16.precision == "fp16" and fp16.data is not None
    assert len(steps) == 2 * math.ceil(len(fp16.data.train_y) / 64)  # every step went through it
    losses = [r.train_loss for r in fp16.curve]
    assert losses[1] < losses[0]  # it learns
    for a, b in zip(losses, [r.train_loss for r in fp32.curve], strict=True):
        assert abs(a - b) < 0.05 and a != b  # as fp32 does, but computed in fp16


def test_same_seed_deterministic_runs_are_bit_identical(tiny_config, tmp_path):
    config = dataclasses.replace(tiny_config, augment=True, dropout=0.1)
    a = fit(config, 5, data_dir=tmp_path, device="cpu", deterministic=True)
    assert not torch.are_deterministic_algorithms_enabled()  # put back after the run
    torch.manual_seed(99)  # another global RNG state in between must not matter
    b = fit(config, 5, data_dir=tmp_path, device="cpu", deterministic=True)
    timing = {"train_seconds": 0.0, "infer_seconds": 0.0, "infer_ms_per_image": 0.0}
    assert dataclasses.replace(a.metrics, **timing) == dataclasses.replace(b.metrics, **timing)
    assert [dataclasses.replace(r, seconds=0) for r in a.curve] == [
        dataclasses.replace(r, seconds=0) for r in b.curve]
    for name, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[name]), name
    c = fit(config, 6, data_dir=tmp_path, device="cpu", deterministic=True)
    assert c.metrics.test_loss != a.metrics.test_loss  # the seed matters: not a constant


def test_an_epoch_reads_the_device_back_once_not_per_step(tiny_config, tmp_path, monkeypatch):
    # On a GPU every .item()/float() of a tensor waits for the device: an epoch may do that for
    # its two sums at the end only, however many steps it has.
    from ablation.data.datasets import make_splits
    from ablation.models import build_model
    from ablation.training.fit import train_epoch

    config = dataclasses.replace(tiny_config, batch_size=16, grad_clip=1.0)
    data = make_splits("digits", tmp_path, 0.1, 200)
    model = build_model("resnet-lite", data.input_shape, data.n_classes, "relu", width=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    reads = []
    for name in ("item", "__float__", "__int__", "__bool__", "tolist"):
        real = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _r=real, _n=name, **k: (
            reads.append(_n), _r(self, *a, **k))[1])
    train_epoch(model, opt, sched, data, Batcher.for_data(data.train_x, False),
                torch.nn.CrossEntropyLoss(), config, torch.Generator().manual_seed(0), "fp32")
    assert math.ceil(len(data.train_y) / 16) >= 10  # many steps...
    assert reads == ["__float__", "__float__"]  # ...and two reads, both at the end
