import pytest

from ablation.errors import UserError
from ablation.registry import Registry


def test_register_get_and_list():
    r: Registry[int] = Registry("thing")
    r.add("a", 1)

    @r.register("b")
    def b() -> int:
        return 2

    assert r.get("a") == 1 and r.get("b") is b
    assert r.names() == ["a", "b"] and "a" in r and len(r) == 2


def test_duplicate_and_upper_case_names_are_errors():
    r: Registry[int] = Registry("thing")
    r.add("a", 1)
    with pytest.raises(ValueError, match="twice"):
        r.add("a", 2)
    with pytest.raises(ValueError, match="lower-case"):
        r.add("B", 2)


def test_unknown_name_lists_known_ones():
    r: Registry[int] = Registry("thing")
    r.add("alpha", 1)
    r.add("beta", 2)
    with pytest.raises(UserError, match="unknown thing 'gamma'; known: alpha, beta"):
        r.get("gamma")
