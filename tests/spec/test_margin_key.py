"""The ``[study] margin`` key: an equivalence margin in the compared metric's displayed unit."""

import math

import pytest

from ablation.errors import UserError
from ablation.spec.study import parse_study

DOC = {"study": {"name": "m"}, "axes": {"optimizer": {"choices": ["sgd"]}}}


def with_margin(value: object) -> dict:
    return {**DOC, "study": {"name": "m", "margin": value}}


def test_margin_is_optional_and_read_as_a_float():
    assert parse_study(DOC, "f.toml").margin is None
    assert parse_study(with_margin(0.3), "f.toml").margin == 0.3
    assert parse_study(with_margin(1), "f.toml").margin == 1.0


@pytest.mark.parametrize("bad", [0, -0.3, math.inf, math.nan, True, "0.3", [0.3]])
def test_a_bad_margin_names_the_file_and_the_key(bad):
    with pytest.raises(UserError, match=r"f\.toml: study\.margin must be a (number > 0|finite)"):
        parse_study(with_margin(bad), "f.toml")
