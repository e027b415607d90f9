"""Limits every value from a user must respect, checked once at the edge.

Numbers must be finite and fit the integer column every storage backend has (PostgreSQL's and
MySQL's INTEGER is 32-bit signed; SQLite's is 64-bit); names must be printable and short enough
for every backend's indexed columns; a study's grid is counted before it is built. A value that
breaks a limit is a UserError naming the file (or option) and the key.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from typing import Any

from ablation.errors import UserError

INT_MAX = 2**31 - 1  # PostgreSQL/MySQL INTEGER; seeds, counts and sizes are stored in one
MAX_DEPTH = 6  # a study document nests 4 levels at most (axes.NAME.choices[...])
MAX_ITEMS = 100_000  # values in one study document (choices of every axis together, ...)
MAX_TEXT = 2_000  # characters of any string value (descriptions are the longest)
MAX_NAME = 128  # study names: Optuna stores study_name in VARCHAR(512) with the overrides
MAX_STORED_NAME = 512  # Optuna's studies.study_name and ablate_points.study: VARCHAR(512)
MAX_LABEL = 256  # ablate_points.label: VARCHAR(256) (MySQL/PostgreSQL refuse longer)
MAX_POINTS = 100_000  # configurations x seeds of one study: 10^5 rows register in seconds
MAX_STUDY_BYTES = 1 << 20  # a study file of more than 1 MiB is not a study file
MAX_EPOCHS = 100_000
MAX_THREADS = 1024  # torch threads per worker; more than the cores is warned about
MAX_WORKERS = 1024
# Upper bounds of TrainConfig integers beyond "fits INTEGER": values past them are typos that
# would exhaust memory (a 10^6-wide stem) rather than run.
INT_CAPS = {"epochs": MAX_EPOCHS, "batch_size": 1 << 20, "width": 4096, "blocks": 1024,
            "swa_epochs": MAX_EPOCHS, "prune_finetune": MAX_EPOCHS}
_SCALARS = (str, int, float, bool)


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a huge value keeps a message one line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_int(value: int, where: str, key: str, low: int = 0, high: int = INT_MAX) -> int:
    """An integer in [low, high]; beyond INT_MAX no backend stores it."""
    if not low <= value <= high:
        raise UserError(f"{where}: {key} must be from {low} to {high}, got {shown(value)}")
    return value


def check_float(value: float, where: str, key: str) -> float:
    """A finite number (NaN and infinity train nothing and compare with nothing)."""
    if not math.isfinite(value):
        raise UserError(f"{where}: {key} must be a finite number, got {value!r}")
    return value


def bad_character(text: str, allow: str = "") -> str | None:
    """The first control, format or unassigned character of ``text`` (NUL included)."""
    for ch in text:
        if ch not in allow and unicodedata.category(ch)[0] == "C":
            return ch
    return None


def check_text(text: str, where: str, key: str, limit: int = MAX_TEXT, allow: str = "") -> str:
    """A string without control characters (PostgreSQL cannot store NUL) and of sane length."""
    ch = bad_character(text, allow)
    if ch is not None:
        raise UserError(f"{where}: {key} contains the control character {ch!r} at position "
                        f"{text.index(ch)}")
    if len(text) > limit:
        raise UserError(f"{where}: {key} is {len(text)} characters long; at most {limit}")
    return text


def check_document(doc: Mapping[str, Any], where: str) -> None:
    """Every value of a parsed study document is a plain scalar, list or table, with finite
    numbers, stored-size integers, clean strings, string keys, and bounded nesting and size."""
    count = [0]

    def walk(value: Any, path: str, depth: int) -> None:
        count[0] += 1
        if count[0] > MAX_ITEMS:
            raise UserError(f"{where}: more than {MAX_ITEMS} values; not a study file")
        if depth > MAX_DEPTH:
            raise UserError(f"{where}: {path} is nested {depth} levels deep; a study file "
                            f"nests {MAX_DEPTH - 2} at most")
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise UserError(f"{where}: {path or 'top level'}: key {shown(key)} must be a "
                                    "string")
                check_text(key, where, f"key {shown(key)}", MAX_NAME)
                walk(item, f"{path}.{key}" if path else key, depth + 1)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]", depth + 1)
        elif not isinstance(value, _SCALARS):
            raise UserError(f"{where}: {path}: {type(value).__name__} values are not allowed "
                            f"(got {shown(value)}); use a string, number, boolean or list")
        else:
            _check_scalar(value, where, path)

    walk(doc, "", 0)


def _check_scalar(value: Any, where: str, path: str) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not -INT_MAX <= value <= INT_MAX:
        raise UserError(f"{where}: {path} is {shown(value)}, beyond what every storage backend "
                        f"keeps (-{INT_MAX}..{INT_MAX})")
    elif isinstance(value, float):
        check_float(value, where, path)
    elif isinstance(value, str):
        check_text(value, where, path, allow="\n\t")


def check_study_name(name: str, where: str) -> str:
    """A study name every backend stores and every output shows as it is."""
    check_text(name, where, "study.name", MAX_NAME)
    bad = next((c for c in name if c.isspace() or c in "[]/<>&|`\"'\\"), None)
    if not name or bad is not None:
        raise UserError(f"{where}: study.name must be non-empty, without spaces, '/', brackets, "
                        f"quotes or any of <>&|`\\, got {shown(name)}")
    return name


def check_stored_name(name: str, where: str) -> str:
    """The name a study is stored under (its name plus command-line overrides)."""
    if len(name) > MAX_STORED_NAME:
        raise UserError(f"{where}: the stored study name {shown(name)} is {len(name)} "
                        f"characters long; storage keeps at most {MAX_STORED_NAME}")
    return name


def check_grid_size(configs: int, seeds: int, where: str) -> None:
    """Refuse a grid of more than MAX_POINTS points before it is built."""
    if configs * seeds > MAX_POINTS:
        raise UserError(f"{where}: {configs} configurations x {seeds} seeds = "
                        f"{configs * seeds} trials; a study runs at most {MAX_POINTS} "
                        "(fewer choices or seeds, or split it into several studies)")
