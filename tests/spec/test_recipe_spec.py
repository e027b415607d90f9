"""Recipe study files: designs expand to the right rows, bad recipes exit 2 with one line."""

import pytest
from click.testing import CliRunner

from ablation.cli import main
from ablation.errors import UserError
from ablation.spec.recipe import Component, Recipe, fraction_runs, resolution
from ablation.spec.space import fingerprint, grid_points
from ablation.spec.study import parse_study, with_overrides

HEAD = '[study]\nname = "r"\ndesign = "{design}"\nseeds = 2\n{extra}\n'
BASE = '[baseline]\ndataset = "digits"\nepochs = 4\n'
RECIPE = ('[recipe]\nadamw = { optimizer = "adamw", weight_decay = 0.01 }\n'
          'swa = { swa_epochs = 2, swa_lr = 0.001 }\nclip = { grad_clip = 1.0 }\n')


def text(design="cumulative", extra="", base=BASE, recipe=RECIPE):
    return HEAD.format(design=design, extra=extra) + base + recipe


def validate(tmp_path, body):
    path = tmp_path / "r.toml"
    path.write_text(body)
    return CliRunner().invoke(main, ["validate", str(path)])


def test_every_design_validates_with_its_row_count(tmp_path):
    for design, rows in (("leave-one-out", 4), ("cumulative", 4), ("factorial", 8)):
        res = validate(tmp_path, text(design))
        assert res.exit_code == 0, res.output
        assert f"{design} recipe of 3 components" in res.output
        assert f"{rows} configurations x 2 seeds" in res.output


@pytest.mark.parametrize("body, says", [
    (text(recipe=RECIPE + 'bad = { optimiser = "sgd" }\n'), "unknown key 'optimiser'"),
    (text(recipe=RECIPE + 'wd = { weight_decay = 0.1 }\n'), "both set weight_decay"),
    (text(recipe=RECIPE + 'same = { augment = false }\n'), "changes nothing"),
    (text(recipe=RECIPE + 'mom = { momentum = 0.5 }\n'), "ignores without an optimizer"),
    (text(recipe=RECIPE + 'scope = { prune_scope = "global" }\n'), "without prune > 0"),
    (text(base=BASE + 'model = "lenet5"\n', recipe=RECIPE + 'w = { width = 32 }\n'),
     "sets width, which model 'lenet5' does not read"),
    (text(design="diagonal"), "study.design must be one of"),
    (text(extra='mode = "factorial"'), "does not apply to a recipe study"),
    (text() + '[axes.lr]\nchoices = [0.1]\n', "has no [axes]"),
    (text(design="cumulative", extra='generators = { clip = ["adamw", "swa"] }'),
     "belongs to design = \"factorial\""),
    (text(design="factorial", extra='generators = { clip = ["adamw", "swa"] }'),
     "resolution 3"),
    (HEAD.format(design="cumulative", extra="") + BASE, "add a [recipe]"),
    (text(recipe='[recipe]\n"Bad Name" = { augment = true }\n'), "component name"),
])
def test_bad_recipe_exits_2_with_one_line(tmp_path, body, says):
    res = validate(tmp_path, body)
    assert res.exit_code == 2, res.output
    assert says in res.output and len(res.output.strip().splitlines()) == 1, res.output


def test_leave_one_out_puts_the_removed_keys_back_at_the_baseline():
    spec = parse_study({"study": {"name": "r", "design": "leave-one-out"},
                        "baseline": {"epochs": 4, "weight_decay": 0.001},
                        "recipe": {"adamw": {"optimizer": "adamw", "weight_decay": 0.01},
                                   "clip": {"grad_clip": 1.0}}}, "t")
    rows = {p.label: p.config for p in grid_points(spec) if p.seed == 0}
    assert rows["full recipe"].optimizer == "adamw" and rows["full recipe"].grad_clip == 1.0
    assert rows["− adamw"].optimizer == "nadam" and rows["− adamw"].weight_decay == 0.001
    assert rows["− adamw"].grad_clip == 1.0
    assert [p.is_baseline for p in grid_points(spec) if p.seed == 0] == [True, False, False]


def test_epochs_override_keeps_swa_a_share_of_training_or_says_what_to_set():
    spec = parse_study({"study": {"name": "r", "design": "cumulative"},
                        "baseline": {"epochs": 20}, "recipe": {"swa": {"swa_epochs": 5}}}, "t")
    short = with_overrides(spec, epochs=4)
    assert dict(short.recipe.components[0].changes)["swa_epochs"] == 1
    assert fingerprint(short) != fingerprint(spec)
    with pytest.raises(UserError, match="give --epochs 2 or more"):
        with_overrides(spec, epochs=1)


def test_fraction_runs_are_balanced_and_resolution_is_the_shortest_word():
    names = ("a", "b", "c", "d", "e", "f")
    gens = (("e", ("a", "b", "c")), ("f", ("b", "c", "d")))
    recipe = Recipe("factorial", tuple(Component(n, (("augment", True),)) for n in names), gens)
    runs = fraction_runs(recipe)
    assert len(runs) == 16 and len(set(runs)) == 16
    for n in names:  # every component on in half of the runs
        assert sum(n in r for r in runs) == 8
    assert resolution(gens) == 4  # I = abce = bcdf = adef
    assert resolution((("c", ("a", "b")),)) == 3
