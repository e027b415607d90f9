"""Study files: every built-in loads; malformed files exit 2 with one line and write nothing."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ablation.cli import main
from ablation.engine.trials.worker import RunOptions, run_study
from ablation.spec.files import builtin_studies, load_study
from ablation.spec.space import grid_points
from ablation.spec.study import parse_study
from tests.fakes import FakeFit

GOOD = """\
[study]
name = "bad"
seeds = 2
[baseline]
dataset = "digits"
optimizer = "nadam"
lr = 0.002
epochs = 1
[axes.optimizer]
choices = ["sgd", "nadam"]
"""

GOOD_YAML = """\
study:
  name: bad
  seeds: 2
baseline:
  dataset: digits
  lr: 1e-3
axes:
  optimizer:
    choices: [sgd, nadam]
"""

AXIS = '[axes.optimizer]\nchoices = ["sgd", "nadam"]\n'
TPE = '[study]\nname = "bad"\nsampler = "tpe"\nn_trials = 4\n'

# (file name, file text, what the one-line message must contain besides the file name)
MALFORMED = {
    "unknown-key": GOOD.replace("epochs = 1", "epoch = 1"),
    "unknown-section": GOOD + "[extra]\nx = 1\n",
    "unknown-study-key": GOOD.replace("seeds = 2", "seed = 2"),
    "unknown-optimizer": GOOD.replace('"sgd", "nadam"', '"sgd", "adamm"'),
    "unknown-baseline-optimizer": GOOD.replace('optimizer = "nadam"', 'optimizer = "adamm"'),
    "unknown-activation": GOOD.replace(AXIS, '[axes.activation]\nchoices = ["relu", "swishy"]\n'),
    "unknown-model": GOOD.replace('dataset = "digits"', 'dataset = "digits"\nmodel = "vgg"'),
    "unknown-dataset": GOOD.replace('"digits"', '"imagenet"'),
    "wrong-type": GOOD.replace("epochs = 1", 'epochs = "1"'),
    "bool-for-int": GOOD.replace("epochs = 1", "epochs = true"),
    "empty-axis": GOOD.replace(AXIS, "[axes.lr]\n"),
    "empty-choices": GOOD.replace('["sgd", "nadam"]', "[]"),
    "choices-not-a-list": GOOD.replace('["sgd", "nadam"]', '"sgd"'),
    "no-axes": GOOD.replace(AXIS, ""),
    "negative-lr": GOOD.replace("lr = 0.002", "lr = -0.1"),
    "negative-lr-choice": GOOD.replace(AXIS, "[axes.lr]\nchoices = [0.1, -0.01]\n"),
    "nan-lr": GOOD.replace("lr = 0.002", "lr = nan"),
    "duplicate-values": GOOD.replace('"sgd", "nadam"', '"sgd", "sgd"'),
    "bad-toml": GOOD.replace("lr = 0.002", "lr = 0.002 0.003"),
    "duplicate-toml-key": GOOD.replace("epochs = 1", "epochs = 1\nepochs = 2"),
    "low-not-below-high": TPE + '[axes.lr]\nlow = 0.1\nhigh = 0.01\n',
    "log-low-zero": TPE + '[axes.weight_decay]\nlow = 0.0\nhigh = 0.1\nlog = true\n',
    "range-without-sampler": '[study]\nname = "bad"\n[axes.lr]\nlow = 0.001\nhigh = 0.1\n',
    "choices-and-range": GOOD.replace(AXIS, "[axes.lr]\nchoices = [0.1]\nlow = 0.01\n"),
    "zero-seeds": GOOD.replace("seeds = 2", "seeds = 0"),
    "too-many-seeds": GOOD.replace("seeds = 2", "seeds = 30000"),
    "bad-mode": GOOD.replace("seeds = 2", 'seeds = 2\nmode = "grid"'),
    "bad-direction": GOOD.replace("seeds = 2", 'seeds = 2\ndirection = "up"'),
    "bad-metric": GOOD.replace("seeds = 2", 'seeds = 2\nmetric = "accuracy"'),
    "bad-pruner": GOOD.replace("seeds = 2", 'seeds = 2\npruner = "asha"'),
    "axis-not-a-baseline-key": GOOD.replace("[axes.optimizer]", "[axes.optimiser]"),
    "dropout-out-of-range": GOOD.replace("lr = 0.002", "lr = 0.002\ndropout = 1.5"),
    "missing-name": GOOD.replace('name = "bad"\n', ""),
    "section-not-a-table": 'baseline = 3\n[study]\nname = "bad"\n' + AXIS,
    "refine-wrong-axis": GOOD.replace("seeds = 2", 'seeds = 2\nrefine = { axis = "lr" }'),
    "refine-test-metric": GOOD.replace(AXIS, "[axes.lr]\nchoices = [0.1, 0.01]\n").replace(
        "seeds = 2", 'seeds = 2\nmetric = "test_accuracy"\nrefine = { axis = "lr" }'),
    "refine-one-value": GOOD.replace(AXIS, "[axes.lr]\nchoices = [0.1, 0.01]\n").replace(
        "seeds = 2", 'seeds = 2\nrefine = { axis = "lr", values = 1 }'),
    "bad-yaml": GOOD_YAML.replace("choices: [sgd, nadam]", "choices: [sgd, nadam"),
    "duplicate-yaml-key": GOOD_YAML.replace("lr: 1e-3", "lr: 1e-3\n  lr: 1e-4"),
    "yaml-not-a-mapping": "- just\n- a list\n",
    "yaml-unknown-optimizer": GOOD_YAML.replace("[sgd, nadam]", "[sgd, Adam]"),
}

EXPECTED = {
    "unknown-key": ["baseline", "'epoch'", "allowed:", "epochs"],
    "unknown-section": ["unknown section 'extra'", "allowed: study, baseline, axes"],
    "unknown-study-key": ["'study.seed'", "allowed:", "seeds"],
    "unknown-optimizer": ["axes.optimizer.choices", "'adamm'", "allowed:", "nadam"],
    "unknown-baseline-optimizer": ["baseline", "'adamm'", "allowed:", "sgd-nesterov"],
    "unknown-activation": ["axes.activation.choices", "'swishy'", "allowed:", "swish"],
    "unknown-model": ["baseline", "unknown model 'vgg'", "resnet-lite"],
    "unknown-dataset": ["baseline", "unknown dataset 'imagenet'", "digits"],
    "wrong-type": ["baseline", "epochs must be an integer", "'1'"],
    "bool-for-int": ["baseline", "epochs must be an integer", "True"],
    "empty-axis": ["axes.lr", "'choices' or both 'low' and 'high'"],
    "empty-choices": ["axes.optimizer.choices", "non-empty list"],
    "choices-not-a-list": ["axes.optimizer.choices", "non-empty list"],
    "no-axes": ["[axes] is empty"],
    "negative-lr": ["baseline", "lr must be > 0", "-0.1"],
    "negative-lr-choice": ["axes.lr.choices", "lr must be > 0", "-0.01"],
    "nan-lr": ["baseline", "lr must be a finite number", "nan"],
    "duplicate-values": ["axes.optimizer.choices", "duplicate value 'sgd'"],
    "bad-toml": ["invalid TOML", "line 7"],
    "duplicate-toml-key": ["invalid TOML", "line 9"],
    "low-not-below-high": ["axes.lr", "low < high", "low=0.1 high=0.01"],
    "log-low-zero": ["axes.weight_decay", "log scale needs low > 0"],
    "range-without-sampler": ["low/high axes need a sampler that searches ranges",
                              "give the axis 'choices'"],
    "choices-and-range": ["axes.lr", "either 'choices' or 'low'/'high'"],
    "zero-seeds": ["study.seeds must be from 1 to 1000", "got 0"],
    "too-many-seeds": ["study.seeds must be from 1 to 1000", "got 30000"],
    "bad-mode": ["study.mode", "one-at-a-time, factorial", "'grid'"],
    "bad-direction": ["study.direction", "maximize, minimize", "'up'"],
    "bad-metric": ["study.metric", "val_accuracy", "'accuracy'"],
    "bad-pruner": ["study.pruner", "median", "hyperband", "'asha'"],
    "axis-not-a-baseline-key": ["axes.optimiser", "not a baseline key", "optimizer"],
    "dropout-out-of-range": ["baseline", "dropout must be in [0.0, 1.0)", "1.5"],
    "missing-name": ["study.name", "non-empty string"],
    "section-not-a-table": ["[baseline] must be a table"],
    "refine-wrong-axis": ["study.refine.axis", "only axis (optimizer)", "'lr'"],
    "refine-test-metric": ["study.refine", "val_accuracy, val_loss", "never a test metric"],
    "refine-one-value": ["study.refine.values", "from 2 to 100"],
    "bad-yaml": ["invalid YAML at line 10"],
    "duplicate-yaml-key": ["invalid YAML at line 7", "duplicate key 'lr'"],
    "yaml-not-a-mapping": ["must be a mapping of sections"],
    "yaml-unknown-optimizer": ["axes.optimizer.choices", "'Adam'", "allowed:", "adam"],
}


def _file_name(case: str) -> str:
    return f"{case}.{'yaml' if 'yaml' in case else 'toml'}"


@pytest.fixture(scope="module")
def stored_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database that already holds a finished study (made once, copied per test)."""
    folder = tmp_path_factory.mktemp("stored")
    spec = parse_study({"study": {"name": "kept", "seeds": 1},
                        "baseline": {"dataset": "digits", "epochs": 1},
                        "axes": {"optimizer": {"choices": ["sgd", "nadam"]}}}, "test")
    url = f"sqlite:///{folder / 'ablate.db'}"
    run_study(spec, RunOptions(url, folder / "artifacts", folder / "data"), FakeFit())
    return folder / "ablate.db"


def test_cases_cover_at_least_15_kinds_of_mistake():
    assert set(MALFORMED) == set(EXPECTED) and len(MALFORMED) >= 15


@pytest.mark.parametrize("db_state", ["absent", "existing"])
@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_study_file_exits_2_with_one_line_and_leaves_storage_alone(
        tmp_path, stored_db, case, command, db_state):
    path = tmp_path / _file_name(case)
    path.write_text(MALFORMED[case])
    db = tmp_path / "ablate.db"
    if db_state == "existing":
        shutil.copy(stored_db, db)
    before = db.read_bytes() if db.exists() else None
    args = [command, str(path)]
    if command == "run":
        args += ["--storage", f"sqlite:///{db}", "--data-dir", str(tmp_path / "data")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and res.output.count("\n") == 1, res.output
    assert path.name in res.output
    for part in EXPECTED[case]:
        assert part in res.output, (part, res.output)
    assert (db.read_bytes() if db.exists() else None) == before
    assert not (tmp_path / "artifacts").exists()


def test_validate_summarises_a_good_file_without_writing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    res = CliRunner().invoke(main, ["validate", str(path)])
    assert res.exit_code == 0, res.output
    assert "study bad; axes: optimizer (2 values); 2 configurations x 2 seeds = 4 trials" \
        in res.output
    assert list(tmp_path.iterdir()) == [path]


def test_yaml_reads_exponent_numbers_as_numbers(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD_YAML)
    spec = load_study(str(path))
    assert spec.baseline.lr == 1e-3 and spec.axes[0].choices == ("sgd", "nadam")


# Points per built-in study: configurations x 3 seeds (the refine stage is derived at run time).
BUILTIN_POINTS = {
    "optimizers": 8 * 3,  # study 002 Table 3 (7 optimizers) + AdamW
    "activations": 11 * 3,  # study 002 Table 4 (10 activations) + mish
    "blocks": 4 * 3,  # study 002 Table 5
    "baselines": 4 * 3,  # study 002 Table 2 (without the published WaveMix-Lite figure)
    "loss": 3 * 3,  # study 002 section 5
    "augmentation": 2 * 3,  # study 000
    "lr": 5 * 3,  # study 002 section 4.3.4, stage 1 (stage 2: 10 values x 3 seeds)
    "compression": (1 + 4 + 2 + 1 + 1) * 3,  # baseline + prune x4, quantize x2, SWA, clipping
    "compression-pareto": 4 * 3 * 3,  # factorial: prune ratio x weight format
    "sparse-training": (1 + 3 + 3) * 3,  # dense baseline + DST sparsity x3 + pruning x3
    "lightweight-mnist": (1 + 6) * 3,  # study 000's recipe, cumulative: baseline + 6 steps
    "kaggle-digits": (1 + 6) * 3,  # the same recipe, leave-one-out: full recipe + 6 removals
}


# Sampled searches (issue 14): their trial budget and confirm stage instead of a grid of points.
SEARCH_STUDIES = {"lr-search": ("tpe", 30, 3, 5), "compression-search": ("tpe", 24, 4, 3)}


def test_every_builtin_study_loads_with_the_expected_number_of_points():
    assert set(builtin_studies()) == set(BUILTIN_POINTS) | set(SEARCH_STUDIES)
    for name, n in BUILTIN_POINTS.items():
        spec = load_study(name)
        points = grid_points(spec)
        assert len(points) == n, name
        assert len({p.key for p in points}) == n, name
        assert spec.seeds == (0, 1, 2), name
    lr = load_study("lr")
    assert lr.refine is not None and (lr.refine.axis, lr.refine.values) == ("lr", 10)


@pytest.mark.parametrize("name", sorted(BUILTIN_POINTS))
def test_every_builtin_study_validates_through_the_cli(name):
    res = CliRunner().invoke(main, ["validate", name])
    assert res.exit_code == 0 and f"study {name};" in res.output
    assert f"= {BUILTIN_POINTS[name]} trials" in res.output


@pytest.mark.parametrize("name", sorted(SEARCH_STUDIES))
def test_builtin_searches_state_their_sampler_budget_and_confirm_stage(name):
    sampler, n_trials, top, seeds = SEARCH_STUDIES[name]
    spec = load_study(name)
    assert spec.is_search and (spec.sampler, spec.n_trials) == (sampler, n_trials)
    assert spec.confirm is not None
    assert (spec.confirm.top, len(spec.confirm.seeds)) == (top, seeds)
    res = CliRunner().invoke(main, ["validate", name])
    assert res.exit_code == 0, res.output
    assert f"{n_trials} trials sampled by {sampler}" in res.output
    assert f"then {name}/confirm" in res.output
