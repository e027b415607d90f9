"""Contract tests over every registered name: a new loss, schedule, precision, quantize mode,
pruner, sampler, metric, device kind or p-value adjustment is checked here the moment it is
registered (STYLE.md, section 6)."""

from __future__ import annotations

import dataclasses
import itertools
import math

import optuna
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from ablation.analysis.metrics import METRICS, TEST, VAL, refinable, selectable
from ablation.analysis.records import EpochRecord, Metrics
from ablation.analysis.stats import ADJUSTMENTS, DUNNETT_FALLBACK, NONE, UNTESTED
from ablation.analysis.verdicts import compare_many
from ablation.compression.evaluate import CompressionResult
from ablation.compression.transforms import QUANTIZE_MODES, quantize_model
from ablation.config.devices import AUTO, DEVICES, check_device, parse_devices
from ablation.config.trainconfig import TrainConfig
from ablation.errors import UserError
from ablation.sampling.pruners import PRUNERS
from ablation.sampling.samplers import SAMPLERS, search_space
from ablation.spec.study import parse_study
from ablation.training.device import Machine, channels_last, device_precision, pick_device
from ablation.training.losses import LOSSES, make_loss
from ablation.training.precision import PRECISIONS, resolve_precision
from ablation.training.schedules import SCHEDULES, lr_lambda


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_is_a_finite_non_negative_scalar_with_a_gradient(name: str) -> None:
    torch.manual_seed(0)
    logits = torch.randn(16, 10, requires_grad=True)
    labels = torch.randint(0, 10, (16,))
    loss = make_loss(TrainConfig(loss=name), labels, 10)(logits, labels)
    loss.backward()
    assert loss.dim() == 0 and math.isfinite(loss.item()) and loss.item() >= 0
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_keeps_the_lr_multiplier_in_0_1(name: str) -> None:
    at = lr_lambda(name, total_steps=100, steps_per_epoch=10, warmup=0.2)
    values = [at(step) for step in range(100)]
    assert all(0 < v <= 1 and math.isfinite(v) for v in values)


@pytest.mark.parametrize("name", PRECISIONS.names())
def test_every_precision_resolves_to_one_that_runs(name: str) -> None:
    for flags in (frozenset(), frozenset({"avx512_bf16"})):
        assert resolve_precision(name, flags) in ("fp32", "bf16")


@pytest.mark.parametrize("name", QUANTIZE_MODES.names())
def test_every_quantize_mode_keeps_the_output_shape_and_roughly_the_output(name: str) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 10)).eval()
    x = torch.randn(2, 1, 8, 8)
    before = model(x).detach()
    after = quantize_model(model, name)(x.to(next(model.parameters()).dtype)).float().detach()
    assert after.shape == before.shape and torch.isfinite(after).all()
    assert (after - before).abs().max() < 0.05 * before.abs().max() + 1e-3


@pytest.mark.parametrize("name", PRUNERS.names())
def test_every_pruner_builds_an_optuna_pruner(name: str) -> None:
    assert isinstance(PRUNERS.get(name).build(), optuna.pruners.BasePruner)


def _search(sampler: str) -> object:
    multi = SAMPLERS.get(sampler).multi_objective and not SAMPLERS.get(sampler).searches_ranges
    assert not multi
    return parse_study({"study": {"name": "c", "sampler": sampler, "n_trials": 4, "seeds": 2},
                        "baseline": {"dataset": "digits"},
                        "axes": {"lr": {"low": 1e-4, "high": 1e-1, "log": True},
                                 "batch_size": {"low": 32, "high": 128, "step": 32},
                                 "optimizer": {"choices": ["sgd", "adam"]}}}, "contract")


@pytest.mark.parametrize("name", [n for n in SAMPLERS.names() if SAMPLERS.get(n).searches_ranges])
def test_every_searching_sampler_stays_in_bounds(name: str) -> None:
    spec = _search(name)
    study = optuna.create_study(sampler=SAMPLERS.get(name).build(spec, 0))  # type: ignore[arg-type]
    space = search_space(spec)  # type: ignore[arg-type]
    for _ in range(4):
        trial = study.ask(space)
        p = trial.params
        assert 1e-4 <= p["lr"] <= 1e-1 and p["batch_size"] in (32, 64, 96, 128)
        assert p["optimizer"] in ("sgd", "adam")
        study.tell(trial, -abs(math.log10(p["lr"]) + 2))


def test_the_grid_sampler_builds_without_searching_ranges() -> None:
    info = SAMPLERS.get("grid")
    assert not info.searches_ranges
    assert isinstance(info.build(_search("tpe"), 0), optuna.samplers.BaseSampler)  # type: ignore[arg-type]


EPOCH_FIELDS = {f.name for f in dataclasses.fields(EpochRecord)}


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_has_a_direction_a_range_and_registered_counterparts(name: str) -> None:
    info = METRICS.get(name)
    assert info.direction in ("maximize", "minimize") and info.low < info.high
    assert info.reported is None or info.reported in METRICS
    assert info.epoch is None or info.epoch in EPOCH_FIELDS
    assert info.header.startswith(info.label)
    if info.percent:
        assert (info.low, info.high) == (0.0, 1.0)
    if name in selectable():
        assert info.selectable


FIT_FIELDS = {f.name for f in dataclasses.fields(Metrics)}  # what every fit records
ARTIFACT_FIELDS = {f.name for f in dataclasses.fields(CompressionResult)}  # the artifact's


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_says_its_split_and_which_record_holds_it(name: str) -> None:
    info = METRICS.get(name)
    assert info.split in (None, VAL, TEST)
    # from_artifact is true exactly for the reloaded artifact's measurements, which no fit records
    assert (name in ARTIFACT_FIELDS, name in FIT_FIELDS) == (info.from_artifact,
                                                             not info.from_artifact)
    if info.reported is not None:  # a validation metric, reported by the same model's test twin
        twin = METRICS.get(info.reported)
        assert (info.split, twin.split, twin.from_artifact) == (VAL, TEST, info.from_artifact)
    if info.epoch is not None:  # what pruners see after each epoch: the fit's validation split
        assert METRICS.get(info.epoch).split == VAL and info.epoch in FIT_FIELDS


def test_every_number_a_fit_or_an_artifact_records_is_a_registered_metric() -> None:
    numbers = (FIT_FIELDS | ARTIFACT_FIELDS) - {"confusion", "kernels"}
    assert numbers == set(METRICS.names())
    assert {n for n in METRICS if METRICS.get(n).from_artifact} == numbers - FIT_FIELDS


def test_refine_metrics_are_the_selectable_validation_metrics_every_fit_records() -> None:
    fits_own = [n for n in selectable() if METRICS.get(n).split == VAL and n in FIT_FIELDS]
    assert refinable() == fits_own == ["val_accuracy", "val_loss"]


def _study(metric: str, sampler: str = "grid", **baseline: object) -> dict[str, object]:
    axes = ({"lr": {"choices": [0.1, 0.01]}} if sampler == "grid"
            else {"lr": {"low": 1e-3, "high": 1e-1, "log": True}})
    return {"study": {"name": "s", "metric": metric, "sampler": sampler, "n_trials": 4},
            "baseline": {"epochs": 1, **baseline}, "axes": axes}


def _refused(doc: dict[str, object]) -> str:
    try:
        parse_study(doc, "f.toml")
    except UserError as err:
        return str(err)
    return ""


@pytest.mark.parametrize("name", selectable())
def test_every_selectable_metric_is_checked_by_its_split_and_artifact_facts(name: str) -> None:
    info = METRICS.get(name)
    plain = _refused(_study(name))
    assert ("compressed artifact" in plain) == info.from_artifact, plain
    no_val = _refused(_study(name, artifact=True, val_fraction=0.0))
    assert ("val_fraction = 0" in no_val) == (info.split == VAL), no_val
    search = _refused(_study(name, "tpe", artifact=True))
    assert ("must not be measured on the test split" in search) == (info.split == TEST), search
    refine = _refused({**_study(name, artifact=True),
                       "study": {"name": "s", "metric": name, "refine": {"axis": "lr"}}})
    assert ("second stage" in refine) == (name not in refinable()), refine


def _spelled(name: str) -> list[str]:
    return [name, f"{name}:0", f"{name}:3"] if DEVICES.get(name).numbered else [name]


@pytest.mark.parametrize("name", DEVICES.names())
def test_every_device_kind_is_spelled_and_resolves_on_a_cpu_only_machine(name: str) -> None:
    kind = DEVICES.get(name)
    assert all(check_device(s, "here") == s for s in _spelled(name))
    for spelled in _spelled(name):  # a usable device, or one line saying what this machine has
        try:
            resolved = pick_device(spelled, Machine())
        except UserError as err:
            assert not kind.everywhere and "\n" not in str(err)
            assert str(err).startswith(f"--device {spelled}: ") and "cpu or auto" in str(err)
        else:
            assert kind.everywhere and resolved == name
            dtype = torch.float64 if kind.float64 else torch.float32
            assert torch.ones(2, dtype=dtype, device=resolved).sum().item() == 2
    assert pick_device(AUTO, Machine()) in [n for n in DEVICES if DEVICES.get(n).everywhere]


@pytest.mark.parametrize("name", [n for n in DEVICES.names() if not DEVICES.get(n).everywhere])
def test_every_accelerator_kind_is_found_listed_and_preferred_by_auto(name: str) -> None:
    kind, have = DEVICES.get(name), dataclasses.replace(Machine(), **{name: 1})
    assert (Machine().count(name), have.count(name)) == (0, 1)  # a Machine field per kind
    alone = f"{name}:0" if kind.numbered else name
    assert pick_device(name, have) == pick_device(AUTO, have) == alone  # before the CPU
    if kind.numbered:  # --devices lists the numbered kinds only
        assert parse_devices(f"{name}:0,{name}:1") == (f"{name}:0", f"{name}:1")
    else:
        with pytest.raises(UserError, match="--devices: expected 'auto'"):
            parse_devices(name)


@pytest.mark.parametrize("name", DEVICES.names())
def test_every_device_kind_trains_in_a_precision_autocast_runs(name: str) -> None:
    for gpu_bf16 in (False, True):
        for requested in PRECISIONS.names():
            have = Machine(cuda_bf16=gpu_bf16)
            assert device_precision(requested, name, have, frozenset()) in ("fp32", "bf16", "fp16")
    assert isinstance(channels_last(name), bool)


@st.composite
def _family(draw: st.DrawFn) -> tuple[dict[int, float], list[dict[int, float]]]:
    """A control on 3-8 seeds and 1-5 cells: each the control's values reshuffled and shifted
    (equal spreads, so Dunnett runs rather than falling back to Holm) or values of its own
    (other spreads, other seeds, too few to test)."""
    n = draw(st.integers(3, 8))
    noise = draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n, unique=True))
    cells = []
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            shift = draw(st.floats(-2, 2))
            cells.append({i: v + shift for i, v in enumerate(draw(st.permutations(noise)))})
        else:
            own = draw(st.lists(st.floats(-3, 3), min_size=1, max_size=8))
            cells.append({i + draw(st.integers(0, 2)): v for i, v in enumerate(own)})
    return dict(enumerate(noise)), cells


QMC = 1e-3  # scipy's Dunnett integrates by quasi-Monte Carlo, error ~1e-4 (verdicts._dunnett_ps)


def _check_family(raw: list[float], adjusted: list[float], exact: bool) -> None:
    """One family's adjusted p's: NaN where untested; else raw <= adjusted <= min(1, m raw)
    (Bonferroni bounds Holm and Dunnett), in the raw p's order, the raw p for one test."""
    tested = sorted((r, a) for r, a in zip(raw, adjusted, strict=True) if not math.isnan(r))
    assert all(math.isnan(a) for r, a in zip(raw, adjusted, strict=True) if math.isnan(r))
    m = len(tested)
    for r, a in tested:
        assert 0 <= r <= a <= 1 and a <= min(1.0, m * r) + QMC
        assert a == r or not exact
    assert all(a <= b + QMC for (_, a), (_, b) in itertools.pairwise(tested))
    assert m != 1 or tested[0][1] == pytest.approx(tested[0][0], abs=QMC)


@pytest.mark.parametrize("name", ADJUSTMENTS.names())
def test_every_adjustment_lies_between_the_raw_p_and_bonferroni_in_the_raw_order(name: str
                                                                                ) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_family(), st.sampled_from([None, 0.5]))
    def check(case: tuple[dict[int, float], list[dict[int, float]]],
              margin: float | None) -> None:
        control, cells = case
        found = compare_many(cells, control, True, 0.05, name, margin=margin)
        assert {d.adjustment for d in found} <= {name, DUNNETT_FALLBACK}
        tested = [d.verdict != UNTESTED for d in found]  # the family: untested cells stay out
        for raw, adjusted in (([d.p for d in found], [d.p_adj for d in found]),
                              ([d.p_equiv for d in found], [d.p_equiv_adj for d in found])):
            _check_family([r if t else math.nan for r, t in zip(raw, tested, strict=True)],
                          adjusted, name == NONE)

    check()
