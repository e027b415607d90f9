"""engine/storage/db.py: transactions a database rolls back to break a deadlock are run again."""

import pytest
import sqlalchemy as sa

from ablation.engine.storage import db


class _Orig(Exception):
    def __init__(self, *args, pgcode=None):
        super().__init__(*args)
        self.pgcode = pgcode


def _dbapi(orig: Exception) -> sa.exc.OperationalError:
    return sa.exc.OperationalError("INSERT ...", {}, orig)


@pytest.mark.parametrize("orig", [_Orig(1213, "Deadlock found when trying to get lock"),
                                  _Orig(1205, "Lock wait timeout exceeded"),
                                  _Orig("deadlock detected", pgcode="40P01"),
                                  _Orig("could not serialize access", pgcode="40001")])
def test_a_transaction_rolled_back_for_a_deadlock_runs_again(orig):
    calls = []

    def work():
        calls.append(1)
        if len(calls) < 3:
            raise _dbapi(orig)
        return "stored"

    assert db.retrying(work, pause=0) == "stored" and len(calls) == 3


def test_other_database_errors_and_a_lasting_deadlock_are_not_hidden():
    calls = []

    def broken():
        calls.append(1)
        raise _dbapi(_Orig(1045, "Access denied"))

    with pytest.raises(sa.exc.OperationalError, match="Access denied"):
        db.retrying(broken, pause=0)
    assert len(calls) == 1

    def stuck():
        calls.append(1)
        raise _dbapi(_Orig(1213, "Deadlock"))

    with pytest.raises(sa.exc.OperationalError, match="Deadlock"):
        db.retrying(stuck, attempts=3, pause=0)
    assert len(calls) == 4
