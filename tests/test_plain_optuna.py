"""A database holding a study Optuna alone wrote (no ablate tables): ``show``, ``report`` and
``export`` say so in one line, exit 2, and write nothing (issue #21; it was a traceback,
`relation "ablate_points" does not exist`, and a meaningless exported row)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ablation.cli import main
from tests.bad_input_round3 import PLAIN, make_plain_study
from tests.fakes import scratch_database


@pytest.fixture
def pg_plain():
    with scratch_database("postgres", "CREATE SCHEMA {}", "DROP SCHEMA {} CASCADE") as (
            base, schema):
        sep = "&" if "?" in base else "?"
        url = f"{base}{sep}options=-csearch_path%3D{schema}"
        make_plain_study(url)
        yield url


def _tables(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", [("show", "plain"), ("report", "plain", "-o", "{tmp}/r.html"),
                                     ("export", "plain", "--csv", "{tmp}/o.csv")])
def test_a_plain_optuna_study_on_postgresql_is_one_line(pg_plain, tmp_path, command):
    before = _tables(pg_plain)
    args = [a.format(tmp=tmp_path) for a in command]
    res = CliRunner().invoke(main, [*args, "--storage", pg_plain])
    assert res.exit_code == 2, res.output
    assert "study 'plain' in postgresql" in res.output and PLAIN in res.output, res.output
    assert "Traceback" not in res.output and res.output.count("\n") == 1, res.output
    assert not list(tmp_path.iterdir())  # no report, no CSV
    assert _tables(pg_plain) == before and not [t for t in before if t.startswith("ablate_")]
