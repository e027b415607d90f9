"""Recipe designs on a trainer with a known truth (tests.fakes.recipe_fit): adamw and clip help,
augment does nothing, adamw with clip adds a planted synergy. Five seeds, every design."""

from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna_dashboard import get_note

from ablation.analysis.records import TrialRecord, metric_values
from ablation.cli import main
from ablation.reporting.recipe_tables import effect_rows, recipe_table, step_rows
from ablation.reporting.summary import compare_rows, summary_rows
from ablation.spec.space import grid_points
from ablation.spec.study import StudySpec, parse_study
from tests.fakes import RECIPE_EFFECTS, RECIPE_SYNERGY, recipe_fit

RECIPE = {"adamw": {"optimizer": "adamw"}, "clip": {"grad_clip": 1.0},
          "augment": {"augment": True}}


def recipe_spec(design: str, seeds: int = 5) -> StudySpec:
    doc = {"study": {"name": "three", "design": design, "seeds": seeds},
           "baseline": {"dataset": "digits", "epochs": 1}, "recipe": RECIPE}
    return parse_study(doc, "test")


def trained(spec: StudySpec) -> list[TrialRecord]:
    """Every point of the design trained by recipe_fit, as the engine would record it."""
    out = []
    for i, p in enumerate(grid_points(spec)):
        m = recipe_fit(p.config, p.seed, data_dir=Path("."))
        out.append(TrialRecord(i, "complete", p.axis, p.label, p.seed, dict(p.params),
                               {k: float(v) for k, v in metric_values(m.metrics).items()},
                               m.metrics.test_accuracy, p.is_baseline))
    return out


def verdicts_of(design: str) -> dict[str, str]:
    rows = summary_rows(trained(recipe_spec(design)), "test_accuracy", n_resamples=0)
    if design == "cumulative":
        return {s.label: s.step_decision.verdict for s in
                step_rows(rows, recipe_spec(design).recipe, "test_accuracy") if s.step_decision}
    return {c.row.label: c.decision.verdict for c in compare_rows(rows, "test_accuracy")
            if c.decision}


def test_leave_one_out_marks_both_helpful_removals_worse_never_better():
    found = verdicts_of("leave-one-out")
    assert found["− adamw"] == "worse" and found["− clip"] == "worse"
    assert "better" not in found.values() and set(found) == {"− adamw", "− clip", "− augment"}


def test_cumulative_marks_both_helpful_additions_better_never_worse():
    found = verdicts_of("cumulative")
    assert found["+ adamw"] == "better" and found["+ clip"] == "better"
    assert "worse" not in found.values() and set(found) == {"+ adamw", "+ clip", "+ augment"}


def test_cumulative_totals_are_against_the_baseline():
    spec = recipe_spec("cumulative")
    rows = summary_rows(trained(spec), "test_accuracy", n_resamples=0)
    steps = step_rows(rows, spec.recipe, "test_accuracy")
    total = steps[2].total.contrast.diff  # + clip: adamw and clip and their synergy
    truth = 100 * (RECIPE_EFFECTS["adamw"] + RECIPE_EFFECTS["clip"] + RECIPE_SYNERGY)
    assert abs(total - truth) < 0.25 and steps[2].step.diff < total


def test_factorial_recovers_main_effects_and_the_planted_interaction():
    spec = recipe_spec("factorial")
    rows = summary_rows(trained(spec), "test_accuracy", n_resamples=0)
    found = {e.effect.name: e for e in effect_rows(rows, spec.recipe, "test_accuracy")}
    truth = {"adamw": RECIPE_EFFECTS["adamw"] + RECIPE_SYNERGY / 2,
             "clip": RECIPE_EFFECTS["clip"] + RECIPE_SYNERGY / 2, "augment": 0.0,
             "adamw × clip": RECIPE_SYNERGY, "adamw × augment": 0.0, "clip × augment": 0.0}
    assert set(found) == set(truth)
    for name, value in truth.items():  # seed noise: ~0.03 points per effect over 5 seeds
        assert abs(found[name].contrast.diff - 100 * value) < 0.15, name
        assert len(found[name].effect.per_seed) == 5
    assert {n for n, e in found.items() if e.decision.verdict == "better"} == {
        "adamw", "clip", "adamw × clip"}
    assert not any(e.decision.verdict == "worse" for e in found.values())


def test_fraction_keeps_main_effects_and_names_aliases():
    doc = {"study": {"name": "four", "design": "factorial", "seeds": 3,
                     "generators": {"d": ["a", "b", "c"]}},  # I = abcd: resolution IV
           "baseline": {"dataset": "digits", "epochs": 2},
           "recipe": {"a": {"optimizer": "adamw"}, "b": {"grad_clip": 1.0},
                      "c": {"augment": True}, "d": {"label_smoothing": 0.0}}}
    spec = parse_study(doc, "test")
    rows = summary_rows(trained(spec), "test_accuracy", n_resamples=0)
    assert len(rows) == 8  # a half fraction of 2^4
    found = {e.effect.name: e for e in effect_rows(rows, spec.recipe, "test_accuracy")}
    truth = 100 * (RECIPE_EFFECTS["adamw"] + RECIPE_SYNERGY / 2)
    assert abs(found["a"].contrast.diff - truth) < 0.2
    assert found["a"].aliased == () and found["a × b"].aliased == ("c × d",)
    # a × b and c × d are one contrast in this fraction: the same estimate, seed by seed
    assert found["a × b"].effect.per_seed == found["c × d"].effect.per_seed


def test_recipe_table_rows_are_named_by_component():
    for design, names in (("leave-one-out", ["full recipe", "− adamw"]),
                          ("cumulative", ["baseline", "+ adamw"]),
                          ("factorial", ["adamw", "clip", "augment", "adamw × clip"])):
        spec = recipe_spec(design, seeds=3)
        rows = summary_rows(trained(spec), "test_accuracy", n_resamples=0)
        table = recipe_table("three", rows, spec.recipe, "test_accuracy")
        assert [r[0] for r in table.rows][:len(names)] == names


def test_dunnett_is_refused_for_steps_with_one_line():
    spec = recipe_spec("cumulative", seeds=3)
    rows = summary_rows(trained(spec), "test_accuracy", n_resamples=0)
    with pytest.raises(Exception, match="--adjust holm or none"):
        step_rows(rows, spec.recipe, "test_accuracy", adjust="dunnett")


def test_run_show_export_through_the_cli(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[study]\nname = "three"\ndesign = "leave-one-out"\nseeds = 2\n'
                    '[baseline]\ndataset = "digits"\nepochs = 1\n[recipe]\n'
                    'adamw = { optimizer = "adamw" }\nclip = { grad_clip = 1.0 }\n')
    url = f"sqlite:///{tmp_path / 'a.db'}"
    # on two worker processes, as a recipe's rows are ordinary points (issue 22: workers too)
    run = CliRunner().invoke(main, ["run", str(path), "--trainer", "tests.fakes:recipe_fit",
                                    "--storage", url, "--workers", "2"])
    assert run.exit_code == 0, run.output
    assert "leave-one-out recipe" in run.output and "− clip" in run.output
    assert "6 trial(s) run now" in run.output and "2 worker" in run.output
    md, csv = tmp_path / "t.md", tmp_path / "t.csv"
    out = CliRunner().invoke(main, ["export", "three", "--storage", url, "--markdown", str(md),
                                    "--csv", str(csv)])
    assert out.exit_code == 0, out.output
    assert "Δ vs full recipe" in md.read_text() and "− adamw" in csv.read_text()
    page = tmp_path / "r.html"
    rep = CliRunner().invoke(main, ["report", "three", "--storage", url, "-o", str(page)])
    assert rep.exit_code == 0, rep.output
    assert "The leave-one-out recipe" in page.read_text()
    note = get_note(optuna.load_study(study_name="three", storage=url))
    assert "three: leave-one-out recipe" in note and "| − clip |" in note
    plan = CliRunner().invoke(main, ["plan", "three", "--storage", url, "--detect", "0.5"])
    assert plan.exit_code == 0 and "− clip" in plan.output, plan.output


def test_until_resolved_runs_leave_one_out_and_refuses_steps_with_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    for design, code in (("cumulative", 2), ("leave-one-out", 0)):
        path = tmp_path / f"{design}.toml"
        path.write_text(f'[study]\nname = "u{code}"\ndesign = "{design}"\nseeds = 3\n'
                        '[baseline]\ndataset = "digits"\nepochs = 1\n[recipe]\n'
                        'adamw = { optimizer = "adamw" }\n')
        res = CliRunner().invoke(main, ["run", str(path), "--trainer", "tests.fakes:recipe_fit",
                                        "--storage", url, "--until-resolved", "--max-seeds",
                                        "4"])
        assert res.exit_code == code, res.output
        if code:
            assert "give --seeds N instead" in res.output
            assert len(res.output.strip().splitlines()) == 1


def test_cumulative_table_shows_artifact_bytes_on_every_row():
    spec = parse_study({"study": {"name": "small", "design": "cumulative", "seeds": 3},
                        "baseline": {"dataset": "digits", "epochs": 2, "artifact": True},
                        "recipe": {"adamw": {"optimizer": "adamw"}, "prune": {"prune": 0.5},
                                   "int8": {"quantize": "int8"}}}, "test")
    trials = trained(spec)
    for t in trials:  # bytes as a compressing trial records them: pruning and int8 shrink it
        cfg = next(p.config for p in grid_points(spec) if p.label == t.label)
        t.metrics["artifact_bytes"] = 40_000 // (2 if cfg.prune else 1) // (
            4 if cfg.quantize == "int8" else 1)
    rows = summary_rows(trials, "test_accuracy", n_resamples=0)
    table = recipe_table("small", rows, spec.recipe, "test_accuracy")
    col = table.header.index("artifact bytes (mean)")
    assert [r[col] for r in table.rows] == ["40,000", "40,000", "20,000", "5,000"]
