"""Recipe studies: a ``[recipe]`` of named components, each setting configuration keys, ablated
as ``leave-one-out``, ``cumulative`` or ``factorial`` (``[study] design``). Parsing, validation
and the design's cells; pure, no I/O. The knob checks live in ``recipe_checks.py``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ablation.config.trainconfig import TRAIN_FIELDS, TrainConfig
from ablation.errors import UserError
from ablation.spec.train_checks import coerce_value, make_train_config

LEAVE_ONE_OUT, CUMULATIVE, FACTORIAL = "leave-one-out", "cumulative", "factorial"
DESIGNS = (LEAVE_ONE_OUT, CUMULATIVE, FACTORIAL)
REFERENCE = "baseline"  # the axis of the row every other row of a design is read against
FULL = "full recipe"  # the label of leave-one-out's reference row
MINUS, PLUS, TIMES = "− ", "+ ", " × "  # row names: "− swa", "+ swa", "swa × prune"
MAX_COMPONENTS = 12  # 2^12 cells is already far past any grid a study may register
MIN_RESOLUTION = 4  # a fraction must keep main effects clear of two-factor interactions
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Component:
    """One named step of a recipe and the configuration keys it sets."""

    name: str
    changes: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Recipe:
    """A recipe in order, its design and (factorial) the generators of a regular fraction:
    (generated component, the components whose product gives its sign)."""

    design: str
    components: tuple[Component, ...]
    generators: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The components' names, in recipe order."""
        return tuple(c.name for c in self.components)


@dataclass(frozen=True)
class Cell:
    """One configuration of a design: its row (axis, label) and the components switched on."""

    axis: str
    label: str
    on: tuple[str, ...]

    @property
    def is_reference(self) -> bool:
        """True for the row the design's verdicts are read against."""
        return self.axis == REFERENCE


def factorial_label(on: tuple[str, ...]) -> str:
    """A factorial cell's row: the components on, joined by ' + ', or 'baseline'."""
    return " + ".join(on) if on else REFERENCE


def design_cells(recipe: Recipe) -> list[Cell]:
    """The design's configurations in table order (the reference row first)."""
    names = recipe.names
    if recipe.design == LEAVE_ONE_OUT:
        return [Cell(REFERENCE, FULL, names),
                *(Cell(LEAVE_ONE_OUT, MINUS + n, tuple(m for m in names if m != n))
                  for n in names)]
    if recipe.design == CUMULATIVE:
        return [Cell(REFERENCE, REFERENCE, ()),
                *(Cell(CUMULATIVE, PLUS + n, names[:i + 1]) for i, n in enumerate(names))]
    return [Cell(REFERENCE if not on else FACTORIAL, factorial_label(on), on)
            for on in fraction_runs(recipe)]


def fraction_runs(recipe: Recipe) -> list[tuple[str, ...]]:
    """The runs of a factorial recipe (components on, in recipe order): every combination of
    the free components, each generated component on where its generator's product (in ±1
    coding) is +1. Ordered by how many are on, so the baseline leads."""
    generated = dict(recipe.generators)
    free = [n for n in recipe.names if n not in generated]
    runs = []
    for bits in itertools.product((False, True), repeat=len(free)):
        on = {n for n, b in zip(free, bits, strict=True) if b}
        for gen, word in recipe.generators:
            if sum(w not in on for w in word) % 2 == 0:  # product of ±1 signs is +1
                on.add(gen)
        runs.append(tuple(n for n in recipe.names if n in on))
    return sorted(runs, key=lambda r: (len(r), [recipe.names.index(n) for n in r]))


def cell_config(recipe: Recipe, baseline: TrainConfig, on: tuple[str, ...]) -> TrainConfig:
    """The baseline with the keys of the components in ``on`` set."""
    changes = {k: v for c in recipe.components if c.name in on for k, v in c.changes}
    return replace(baseline, **changes)


def _component(name: Any, raw: Any, baseline: TrainConfig, where: str) -> Component:
    at = f"{where}: recipe.{name}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise UserError(f"{at}: a component name is lower-case letters, digits, '-' or '_', "
                        "starting with a letter (at most 32)")
    if not isinstance(raw, Mapping) or not raw:
        raise UserError(f"{at}: must be a non-empty table of configuration keys, e.g. "
                        "{ optimizer = \"adamw\", weight_decay = 0.01 }")
    unknown = sorted(set(raw) - set(TRAIN_FIELDS), key=str)
    if unknown:
        raise UserError(f"{at}: unknown key {unknown[0]!r}; allowed: {', '.join(TRAIN_FIELDS)}")
    changes = tuple((k, coerce_value(k, v, f"{at}.{k}")) for k, v in raw.items())
    if all(getattr(baseline, k) == v for k, v in changes):
        raise UserError(f"{at}: every key it sets equals the baseline's "
                        f"({', '.join(f'{k} = {v!r}' for k, v in changes)}): the component "
                        "changes nothing; set another value or drop it")
    return Component(name, changes)


def _check_disjoint(components: tuple[Component, ...], where: str) -> None:
    owner: dict[str, str] = {}
    for c in components:
        for k, _ in c.changes:
            if k in owner:
                raise UserError(f"{where}: recipe.{c.name} and recipe.{owner[k]} both set {k}; "
                                "a key belongs to one component (merge them or drop one)")
            owner[k] = c.name


def parse_recipe(raw: Any, design: Any, generators: Any, baseline: TrainConfig,
                 where: str) -> Recipe:
    """Validate ``[recipe]``, ``study.design`` and ``study.generators`` into a Recipe."""
    if design not in DESIGNS:
        raise UserError(f"{where}: study.design must be one of {', '.join(DESIGNS)} for a "
                        f"study with a [recipe], got {design!r}")
    if not isinstance(raw, Mapping) or not raw:
        raise UserError(f"{where}: [recipe] must be a table of at least one named component")
    if len(raw) > MAX_COMPONENTS:
        raise UserError(f"{where}: [recipe] has {len(raw)} components; at most "
                        f"{MAX_COMPONENTS}")
    components = tuple(_component(n, v, baseline, where) for n, v in raw.items())
    _check_disjoint(components, where)
    recipe = Recipe(str(design), components,
                    parse_generators(generators, design, tuple(raw), where))
    for cell in design_cells(recipe):  # every configuration must be a valid one
        make_train_config(dict(cell_config(recipe, baseline, cell.on).describe()),
                          f"{where}: recipe row {cell.label!r}")
    return recipe


def parse_generators(raw: Any, design: Any, names: tuple[str, ...],
                     where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``study.generators = { int8 = ["adamw", "swa", "clip", "augment"] }``: a regular
    fraction, each generated component's sign the product of the listed ones; checked to be
    of resolution >= IV (main effects not aliased with two-factor interactions)."""
    if raw is None:
        return ()
    at = f"{where}: study.generators"
    if design != FACTORIAL:
        raise UserError(f"{at}: a fraction belongs to design = \"factorial\"; drop it")
    if not isinstance(raw, Mapping) or not raw:
        raise UserError(f"{at}: must be a table like {{ e = [\"a\", \"b\", \"c\", \"d\"] }}")
    out = []
    for gen, word in raw.items():
        if gen not in names or not isinstance(word, list) or not word or any(
                w not in names or w == gen or w in raw for w in word) or len(set(word)) < len(
                word):
            raise UserError(f"{at}.{gen}: must name a component and list other, distinct "
                            f"components that are not generated themselves; components: "
                            f"{', '.join(names)}")
        out.append((str(gen), tuple(str(w) for w in word)))
    res = resolution(tuple(out))
    if res < MIN_RESOLUTION:
        raise UserError(f"{at}: the fraction has resolution {res} (a defining word of length "
                        f"{res}); it needs >= {MIN_RESOLUTION} so that main effects are not "
                        "aliased with two-factor interactions: list more components per "
                        "generator")
    return tuple(out)


def defining_words(generators: tuple[tuple[str, tuple[str, ...]], ...]) -> list[frozenset[str]]:
    """Every word of the defining relation (products of the generators' words)."""
    base = [frozenset((g, *w)) for g, w in generators]
    words = []
    for r in range(1, len(base) + 1):
        for combo in itertools.combinations(base, r):
            word: frozenset[str] = frozenset()
            for w in combo:
                word = word ^ w
            words.append(word)
    return words


def resolution(generators: tuple[tuple[str, tuple[str, ...]], ...]) -> int:
    """The fraction's resolution: its shortest defining word (a large number for none)."""
    return min((len(w) for w in defining_words(generators)), default=99)


def aliases(effect: frozenset[str], generators: tuple[tuple[str, tuple[str, ...]], ...],
            ) -> list[frozenset[str]]:
    """The effects a fraction confounds with ``effect`` (its products with each word)."""
    return [effect ^ w for w in defining_words(generators)]


def recipe_record(recipe: Recipe) -> dict[str, Any]:
    """What a stored study keeps of its recipe (for ``show``, ``export`` and ``report``)."""
    return {"design": recipe.design,
            "components": [[c.name, {k: v for k, v in c.changes}] for c in recipe.components],
            "generators": {g: list(w) for g, w in recipe.generators}}


def recipe_from_record(record: Any) -> Recipe | None:
    """The Recipe a stored spec record describes, or None for any other study."""
    if not isinstance(record, Mapping) or record.get("design") not in DESIGNS:
        return None
    components = tuple(Component(str(n), tuple(dict(ch).items()))
                       for n, ch in record.get("components", []))
    generators = tuple((str(g), tuple(w)) for g, w in dict(record.get("generators", {})).items())
    return Recipe(str(record["design"]), components, generators)
