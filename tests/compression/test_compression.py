"""Compression: pruning, int8/fp16, the artifact format, dynamic sparse training, SWA, Pareto."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from ablation.analysis.pareto import pareto_front
from ablation.cli import main
from ablation.compression import artifact, int8_kernels
from ablation.compression.evaluate import recompute_batchnorm
from ablation.compression.transforms import (
    compress,
    layer_sparsity,
    make_permanent,
    prune_model,
    sparsity,
)
from ablation.config.trainconfig import TrainConfig
from ablation.data.datasets import Splits
from ablation.engine.trials.worker import RunOptions, run_study
from ablation.errors import UserError
from ablation.models import build_model
from ablation.models.layers import prunable
from ablation.spec.study import parse_study
from ablation.spec.train_checks import make_train_config
from ablation.training.batches import Batcher
from ablation.training.fit import fit
from ablation.training.sparse import DynamicSparsity
from ablation.training.swa import Averager, swa_lr_lambda
from tests.fakes import META, tiny


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.75, 0.99])
def test_layer_pruning_gives_each_layer_the_requested_sparsity(ratio):
    model = make_permanent(prune_model(tiny(), ratio, "layer"))
    for module, _ in prunable(model):
        n = module.weight.numel()
        assert layer_sparsity(module) == pytest.approx(round(ratio * n) / n, abs=1 / n)
    assert not any(name.endswith("_orig") for name, _ in model.named_parameters())


def test_global_pruning_hits_the_ratio_overall_but_not_per_layer():
    model = make_permanent(prune_model(tiny(), 0.6, "global"))
    assert sparsity(model) == pytest.approx(0.6, abs=1e-3)
    per_layer = [layer_sparsity(m) for m, _ in prunable(model)]
    assert max(per_layer) - min(per_layer) > 0.05  # one threshold, uneven layers


def test_pruning_ratio_out_of_range_is_refused():
    with pytest.raises(ValueError, match="0.99"):
        prune_model(tiny(), 1.0)


@pytest.mark.parametrize("mode", ["fp32", "fp16", "int8"])
def test_reloaded_artifact_predicts_like_the_in_memory_model(tmp_path, mode):
    model = compress(tiny(), 0.5, "layer", mode)
    x = torch.randn(32, 1, 28, 28)
    path = tmp_path / f"m.{mode}"
    artifact.write(path, model, META, mode)
    loaded = artifact.load_model(path, int8=False)  # int8 kernels: tests/compression/test_int8*
    with torch.inference_mode():
        expected, got = model(x), loaded(x)
    assert torch.equal(expected.argmax(1), got.argmax(1))
    assert torch.allclose(expected, got, atol=1e-5)
    assert sparsity(loaded) >= 0.5


def test_int8_file_is_at_least_3_5x_smaller_than_fp32_for_a_real_sized_model(tmp_path):
    sizes = {}
    for width in (8, 32):
        model = tiny(width)
        for mode in ("fp32", "int8"):
            path = tmp_path / f"{width}.{mode}"
            sizes[width, mode] = artifact.write(path, model, META | {"width": width}, mode,
                                                sparse="never")
    assert sizes[32, "fp32"] / sizes[32, "int8"] >= 3.5  # ~290k weights: headers are noise
    # On the 18k-parameter model the header, scales and fp16 BatchNorm tensors weigh more: the
    # ratio is lower (3.3x in safetensors, 3.6x in the old format; docs/compression.md).
    assert sizes[8, "fp32"] / sizes[8, "int8"] < sizes[32, "fp32"] / sizes[32, "int8"]


def test_sparse_encoding_grows_with_density():
    w = torch.randn(64, 32, 3, 3, generator=torch.Generator().manual_seed(0))
    sizes = []
    for density in (0.05, 0.2, 0.4, 0.6, 0.8, 1.0):
        keep = torch.rand(w.shape, generator=torch.Generator().manual_seed(1)) < density
        state = {"conv.weight": w * keep}
        sizes.append(len(artifact.encode(state, {}, "fp32", "always", {"conv.weight"})))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    dense = len(artifact.encode({"conv.weight": w}, {}, "fp32", "never", {"conv.weight"}))
    # Full density: the values plus the whole bitmask plus one more header entry (~90 bytes:
    # "#mask" and "#values" instead of one plain entry, padded to 8 bytes).
    assert 0 < sizes[-1] - (dense + w.numel() // 8) <= 120
    assert sizes[0] < dense / 5


def test_auto_encoding_picks_the_smaller_form():
    w = torch.randn(64, 64)
    w[torch.rand(w.shape) < 0.9] = 0
    names = {"w"}
    auto = artifact.encode({"w": w}, {}, "int8", "auto", names)
    assert len(auto) == min(len(artifact.encode({"w": w}, {}, "int8", s, names))
                            for s in ("always", "never"))


def _written(tmp_path: Path) -> Path:
    path = tmp_path / "m.safetensors"
    artifact.write(path, tiny(), META, "int8")
    return path


def test_truncated_artifact_is_rejected_clearly(tmp_path):
    path = _written(tmp_path)
    blob = path.read_bytes()
    for cut in (3, 40, len(blob) - 10):
        path.write_bytes(blob[:cut])
        with pytest.raises(artifact.ArtifactError, match="not a readable ablate artifact"):
            artifact.load_model(path)


def test_corrupt_artifact_is_rejected_clearly(tmp_path):
    path = _written(tmp_path)
    blob = bytearray(path.read_bytes())
    blob[-100] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(artifact.ArtifactError, match="checksum"):
        artifact.read(path)
    path.write_bytes(b"PK\x03\x04" + bytes(blob[4:]))
    with pytest.raises(artifact.ArtifactError, match=f"{path}: not a readable.*truncated"):
        artifact.read(path)
    assert issubclass(artifact.ArtifactError, UserError)


def test_dynamic_sparse_training_holds_its_sparsity_after_every_update():
    torch.manual_seed(0)
    model = build_model("cnn", (1, 8, 8), 10, width=4)
    dst = DynamicSparsity(model, 0.8, interval=2, drop=0.5, total_steps=40,
                          gen=torch.Generator().manual_seed(0))
    targets = [round(0.8 * m.numel()) / m.numel() for m in dst.masks]
    first = [m.clone() for m in dst.masks]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(20):
        loss = nn.functional.cross_entropy(model(torch.randn(16, 1, 8, 8)),
                                           torch.randint(0, 10, (16,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        dst.after_step()
        assert dst.mask_sparsities() == pytest.approx(targets)
        for layer, mask in zip(dst.layers, dst.masks, strict=True):
            assert not layer.weight[~mask].any()  # inactive weights are exactly zero
    assert dst.updates == 10
    assert any(not torch.equal(a, b) for a, b in zip(first, dst.masks, strict=True))


def test_swa_averages_the_late_epochs_and_switches_the_lr():
    model = nn.Linear(2, 2)
    avg = Averager(model, swa_epochs=2, epochs=3)
    seen = []
    for epoch in (1, 2, 3):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        seen.append(float(epoch))
        avg.after_epoch(epoch, model)
    assert avg.count == 2
    assert torch.allclose(avg.finish([]).weight, torch.full((2, 2), 2.5))
    mult = swa_lr_lambda(lambda s: 0.5, lr=0.1, swa_lr=0.01, swa_epochs=2, epochs=5,
                         steps_per_epoch=10)
    assert mult(29) == 0.5 and mult(30) == pytest.approx(0.1)


def test_fit_with_swa_and_dynamic_sparsity_runs_and_stays_sparse(tmp_path):
    config = TrainConfig(dataset="digits", model="tiny-cnn", width=4, epochs=2, batch_size=64,
                         train_limit=300, swa_epochs=1, swa_lr=0.001)
    assert fit(config, 0, data_dir=tmp_path).metrics.epochs_run == 2
    sparse = TrainConfig(dataset="digits", model="tiny-cnn", width=4, epochs=1, batch_size=64,
                         train_limit=300, dst_sparsity=0.7, dst_interval=2)
    model = fit(sparse, 0, data_dir=tmp_path).model
    for module, _ in prunable(model):
        n = module.weight.numel()
        assert n - int(torch.count_nonzero(module.weight)) >= round(0.7 * n)


@pytest.mark.parametrize("raw, key", [({"prune": 1.2}, "prune"), ({"quantize": "int4"},
                                      "quantize"), ({"swa_epochs": 20}, "swa_epochs"),
                                      ({"dst_interval": 0}, "dst_interval"),
                                      ({"prune_scope": "row"}, "prune_scope")])
def test_bad_compression_values_are_user_errors(raw, key):
    with pytest.raises(UserError, match=key):
        make_train_config(raw, "test")


def test_artifact_metric_needs_an_artifact():
    doc = {"study": {"name": "c", "metric": "artifact_test_accuracy"},
           "baseline": {}, "axes": {"prune": {"choices": [0.5]}}}
    with pytest.raises(UserError, match="baseline.artifact"):
        parse_study(doc, "test")


def test_pareto_front_keeps_only_undominated_points():
    pts = [(0.99, 30_000), (0.985, 9_000), (0.98, 12_000), (0.97, 4_000), (0.99, 40_000)]
    assert pareto_front(pts) == [3, 1, 0]


def test_engine_records_the_reloaded_artifact_and_exports_the_front(storage_url, tmp_path):
    doc = {"study": {"name": "c", "seeds": 1, "metric": "artifact_test_accuracy"},
           "baseline": {"dataset": "digits", "model": "tiny-cnn", "width": 4, "epochs": 1,
                        "batch_size": 64, "train_limit": 300, "artifact": True},
           "axes": {"quantize": {"choices": ["int8"]}}}
    options = RunOptions(storage_url, tmp_path / "artifacts", tmp_path / "data")
    run_study(parse_study(doc, "test"), options, fit)
    trials = optuna.load_study(study_name="c", storage=storage_url).get_trials()
    by_q = {t.params["quantize"]: t for t in trials}
    base, small = by_q["fp32"].user_attrs, by_q["int8"].user_attrs
    assert small["artifact_bytes"] < base["artifact_bytes"] == base["fp32_bytes"]
    assert by_q["int8"].value == small["artifact_test_accuracy"]
    for key in ("sparsity", "latency_ms_b1", "latency_ms_b256", "artifact_ratio"):
        assert key in small
    stored = tmp_path / "artifacts" / small["compressed_artifact"]
    assert stored.stat().st_size == small["artifact_bytes"]
    assert artifact.read(stored).meta["model"] == "tiny-cnn"
    assert artifact.read(stored).meta["config"]["quantize"] == "int8"
    assert base["artifact_kernels"] == "fp32"
    ran_int8 = small["artifact_kernels"].startswith("int8 (")
    assert ran_int8 == (int8_kernels.quant_engine() is not None), small["artifact_kernels"]
    assert len(artifact.read(stored).calibration) > 0  # ranges from the training images
    out = CliRunner().invoke(main, ["export", "c", "--pareto", str(tmp_path / "front.csv"),
                                    "--storage", storage_url])
    assert out.exit_code == 0, out.output
    lines = (tmp_path / "front.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].endswith("on_front")
    assert any(line.endswith(",1") for line in lines[1:])


def test_conv_scope_prunes_every_conv_layer_and_keeps_the_linear_ones():
    torch.manual_seed(0)
    model = make_permanent(prune_model(build_model("resnet-lite", (1, 28, 28), 10), 0.5, "conv"))
    convs = [m for m, _ in prunable(model) if isinstance(m, nn.Conv2d)]
    linears = [m for m, _ in prunable(model) if isinstance(m, nn.Linear)]
    assert convs and linears
    assert all(abs(layer_sparsity(m) - 0.5) < 0.01 for m in convs)
    assert all(layer_sparsity(m) == 0.0 for m in linears)


def test_batchnorm_statistics_are_recomputed_for_the_pruned_weights():
    """After pruning, each BN layer's running mean and variance are those of what the pruned
    layers feed it on the training images, not the statistics collected before pruning."""
    torch.manual_seed(1)
    x = torch.randint(0, 256, (1024, 1, 28, 28), dtype=torch.uint8)
    data = Splits("t", x, torch.zeros(1024, dtype=torch.long), x[:0], x[:0, 0, 0, 0].long(),
                  x[:0], x[:0, 0, 0, 0].long(), tuple("0123456789"))
    batcher = Batcher.for_data(x, augment=False)
    model = tiny()
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    before = bn.running_var.clone()
    prune_model(model, 0.5, "layer")
    recompute_batchnorm(model, data, batcher)
    seen: list[torch.Tensor] = []
    hook = bn.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    with torch.no_grad():
        for i in range(0, 1024, 512):  # the batches recompute_batchnorm averaged over
            model.eval()(batcher(x[i:i + 512]))
    hook.remove()
    means = torch.stack([t.mean((0, 2, 3)) for t in seen]).mean(0)
    variances = torch.stack([t.var((0, 2, 3)) for t in seen]).mean(0)  # unbiased, as BN keeps
    assert torch.allclose(bn.running_mean, means, atol=1e-4)
    assert torch.allclose(bn.running_var, variances, rtol=1e-3)
    assert (bn.running_var < 0.8 * before).all()  # half the weights gone: smaller outputs
