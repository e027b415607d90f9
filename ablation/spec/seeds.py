"""A study's seeds: the count or list its file gives, and what `--seeds N` extends it to."""

from __future__ import annotations

from typing import Any

from ablation.config.limits import INT_MAX, shown
from ablation.errors import UserError

MAX_SEEDS = 1000  # a typo such as seeds = 30000 should not register millions of points


def parse_seeds(raw: Any, where: str, key: str = "study.seeds") -> tuple[int, ...]:
    """A seed count ``n`` (seeds 0..n-1) or a list of distinct seeds >= 0."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        if not 1 <= raw <= MAX_SEEDS:
            raise UserError(f"{where}: {key} must be from 1 to {MAX_SEEDS}, got {raw}")
        return tuple(range(raw))
    if (isinstance(raw, list) and raw and all(isinstance(s, int) and not isinstance(s, bool)
                                              and 0 <= s <= INT_MAX for s in raw)):
        if len(set(raw)) != len(raw):
            raise UserError(f"{where}: {key} has a duplicate seed")
        if len(raw) > MAX_SEEDS:
            raise UserError(f"{where}: {key} lists {len(raw)} seeds; at most {MAX_SEEDS}")
        return tuple(raw)
    raise UserError(f"{where}: {key} must be a count or a list of seeds from 0 to {INT_MAX}, "
                    f"got {shown(raw)}")


def extend_seeds(seeds: tuple[int, ...], n: int) -> tuple[int, ...]:
    """The first ``n`` seeds of the study's list, continued with the next unused integers.

    So ``--seeds 5`` on a study of seeds (0, 1, 2) runs (0, 1, 2, 3, 4): the stored trials of
    0-2 are the same points (same keys) and only 3 and 4 are new. A study file listing its
    own seeds, e.g. [7, 11, 13], keeps them: (7, 11, 13, 14, 15), never a different set
    beside the stored one.
    """
    out = list(seeds[:n])
    nxt = max(seeds, default=-1) + 1
    while len(out) < n:
        out.append(nxt)
        nxt += 1
    return tuple(out)
