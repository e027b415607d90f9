"""The statistics' own tables, beside Optuna's and ``engine/storage/db.py``'s (same metadata, so
``db.create_tables`` creates them too).

``ablate_predictions`` holds each trial's predicted test labels (``analysis/predcodec`` bytes:
~5 KB for MNIST's 10,000) and ``ablate_test_labels`` each distinct test set's true labels once,
under their digest, so ``show --noise`` can split test-set noise from training noise per
example and ``ablate compare`` can run McNemar's test between two trials. ``ablate_looks``
records every look of ``run --until-resolved``: each cell tested at that look, with how many
seeds, the rule's threshold and its outcome; ``show`` reports the rule's verdict from it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ablation.engine.storage.db import META, now, retrying

# MySQL's BLOB stops at 64 KB; a large test set's labels (EMNIST ByClass: 116,323) need more.
BLOB = sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")

TEST_LABELS = sa.Table(
    "ablate_test_labels", META,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("labels", BLOB, nullable=False),  # predcodec bytes, test-set order
)

PREDICTIONS = sa.Table(
    "ablate_predictions", META,
    sa.Column("study", sa.String(512), primary_key=True),
    sa.Column("trial_number", sa.Integer, primary_key=True),
    sa.Column("labels_digest", sa.String(64), nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("predictions", BLOB, nullable=False),  # predcodec bytes, test-set order
)

LOOKS = sa.Table(
    "ablate_looks", META,
    sa.Column("study", sa.String(512), primary_key=True),
    sa.Column("look", sa.Integer, primary_key=True),
    # (axis, label) hashed: MySQL keys stop at 3,072 bytes, and 4-byte characters of study,
    # axis and label together would pass that
    sa.Column("cell", sa.String(32), primary_key=True),
    sa.Column("axis", sa.String(128), nullable=False),
    sa.Column("label", sa.String(256), nullable=False),
    sa.Column("looks", sa.Integer, nullable=False),  # planned looks (the last at max seeds)
    sa.Column("seeds", sa.Integer, nullable=False),  # seeds per cell planned at this look
    sa.Column("n", sa.Integer, nullable=False),  # values the test used (pairs when paired)
    sa.Column("metric", sa.String(64), nullable=False),
    sa.Column("design", sa.String(32), nullable=False),
    sa.Column("level", sa.Float, nullable=False),
    sa.Column("cells", sa.Integer, nullable=False),  # cells the level is shared over
    sa.Column("test", sa.String(16), nullable=False),
    sa.Column("p", sa.Float),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("diff", sa.Float),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("created", sa.DateTime, nullable=False),
)


def cell_key(axis: str, label: str) -> str:
    """A cell's key in ``ablate_looks``: a digest of its axis and value."""
    return hashlib.sha256(f"{axis}\0{label}".encode()).hexdigest()[:32]


def labels_digest(labels: bytes) -> str:
    """Identity of a test set's labels (its encoded bytes): trials compare only on one set."""
    return hashlib.sha256(labels).hexdigest()[:32]


def put_predictions(engine: Engine, study: str, trial_number: int, predictions: bytes,
                    labels: bytes, n: int) -> None:
    """Store a trial's predicted test labels, and the test set's labels once per digest."""
    digest = labels_digest(labels)
    retrying(lambda: _put_predictions(engine, study, trial_number, predictions, digest, labels,
                                      n))


def _put_predictions(engine: Engine, study: str, trial_number: int, predictions: bytes,
                     digest: str, labels: bytes, n: int) -> None:
    with engine.begin() as conn:
        have = conn.scalar(sa.select(TEST_LABELS.c.digest).where(TEST_LABELS.c.digest == digest))
        if have is None:
            try:
                with conn.begin_nested():
                    conn.execute(TEST_LABELS.insert().values(digest=digest, n=n, labels=labels))
            except IntegrityError:  # another worker stored the same test set first
                pass
        mine = (PREDICTIONS.c.study == study, PREDICTIONS.c.trial_number == trial_number)
        # Delete only a row that is there: on InnoDB a DELETE that finds nothing still locks the
        # gap, and two workers' gap locks then deadlock their INSERTs.
        if conn.scalar(sa.select(sa.func.count()).select_from(PREDICTIONS).where(*mine)):
            conn.execute(PREDICTIONS.delete().where(*mine))
        conn.execute(PREDICTIONS.insert().values(study=study, trial_number=trial_number,
                                                 labels_digest=digest, n=n,
                                                 predictions=predictions))


def _has(engine: Engine, table: sa.Table) -> bool:
    return sa.inspect(engine).has_table(table.name)


def predictions(engine: Engine, study: str) -> dict[int, tuple[str, bytes]]:
    """trial number -> (labels digest, predcodec bytes) for every trial that stored them."""
    if not _has(engine, PREDICTIONS):
        return {}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(PREDICTIONS.c.trial_number, PREDICTIONS.c.labels_digest,
                                      PREDICTIONS.c.predictions)
                            .where(PREDICTIONS.c.study == study))
        return {r.trial_number: (r.labels_digest, bytes(r.predictions)) for r in rows}


def stored_labels(engine: Engine, digest: str) -> bytes | None:
    """The predcodec bytes of the test set stored under ``digest`` (None when absent)."""
    if not _has(engine, TEST_LABELS):
        return None
    with engine.connect() as conn:
        blob = conn.scalar(sa.select(TEST_LABELS.c.labels).where(TEST_LABELS.c.digest == digest))
    return None if blob is None else bytes(blob)


def put_looks(engine: Engine, study: str, rows: Sequence[dict[str, Any]]) -> None:
    """Record one look of the sequential rule (one row per cell), replacing a re-made look."""
    if not rows:
        return
    stored = [dict(r, study=study, cell=cell_key(r["axis"], r["label"]), created=now())
              for r in rows]
    retrying(lambda: _replace_looks(engine, study, stored))


def _replace_looks(engine: Engine, study: str, stored: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        for row in stored:
            conn.execute(LOOKS.delete().where(LOOKS.c.study == study, LOOKS.c.look == row["look"],
                                              LOOKS.c.cell == row["cell"]))
        conn.execute(LOOKS.insert(), stored)


def looks(engine: Engine, study: str) -> list[dict[str, Any]]:
    """Every recorded look of a study, by look then cell (empty when it never ran rounds)."""
    if not _has(engine, LOOKS):
        return []
    with engine.connect() as conn:
        rows = conn.execute(sa.select(LOOKS).where(LOOKS.c.study == study)
                            .order_by(LOOKS.c.look, LOOKS.c.axis, LOOKS.c.label))
        return [dict(r._mapping) for r in rows]
