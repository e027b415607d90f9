"""The report's tables as HTML: the verdict table (what ``show`` prints), the other metrics, the
baseline configuration, the data sizes, the environment the trials ran in (from the
``ablate_runs`` records) and the test-set noise per cell. Pure functions over StudyData."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ablation.analysis.records import Evidence, StudyData
from ablation.reporting.looks import looks_note, sequential_decisions
from ablation.reporting.noise import NO_EVIDENCE, noise_table
from ablation.reporting.summary import Margin, SummaryRow, resolve_margin, summary_rows
from ablation.reporting.tables import columns_for, metrics_table, paper_table
from ablation.reporting.text import TextTable


def table_html(table: TextTable, drop: Sequence[str] = ()) -> str:
    """A TextTable as an HTML table with its notes below it (columns in ``drop`` left out)."""
    keep = [i for i, h in enumerate(table.header) if h not in drop]
    head = "".join(f"<th>{html.escape(table.header[i])}</th>" for i in keep)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(row[i])}</td>" for i in keep) + "</tr>"
                   for row in table.rows)
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in table.notes)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}"


def report_margin(data: StudyData, rows: Sequence[SummaryRow],
                  given: float | None = None) -> Margin:
    """The equivalence margin of a report: ``given`` (--margin), else the stored study's
    ``margin``, else the default rule on the stored split sizes."""
    stored = data.spec.get("margin")
    if given is None and isinstance(stored, int | float):
        return resolve_margin(rows, data.metric, float(stored), "the study file")
    return resolve_margin(rows, data.metric, given, sizes=data.data_sizes)


def verdict_html(data: StudyData, rows: Sequence[SummaryRow], level: float = 0.05,
                 adjust: str = "holm", margin: float | None = None) -> str:
    """The verdict table: the compared metric, Δ and its CI, P(improvement), p, adjusted p's,
    verdict and rank per configuration (the sequential rule's verdicts after rounds)."""
    sequential = sequential_decisions(rows, data.looks, data.metric)
    table = paper_table(data.name, rows, data.metric, level, adjust, sequential,
                        report_margin(data, rows, margin))
    note = looks_note(data.looks, data.metric) if sequential is not None else ""
    return table_html(table) + (
        f'<p class="note">{html.escape(note)}</p>' if note else "")


def other_metrics_html(data: StudyData, rows: Sequence[SummaryRow]) -> str:
    """Mean [95% CI] of every other table metric ('' when the study recorded none)."""
    if not columns_for(rows, data.metric)[1:]:
        return ""
    return table_html(metrics_table(data.name, rows, data.metric))


def _pairs_html(pairs: Sequence[tuple[str, str]], across: int = 1) -> str:
    """Key/value pairs as a table, ``across`` pairs to a row."""
    cells = [f"<th>{html.escape(k)}</th><td>{html.escape(v)}</td>" for k, v in pairs]
    body = "".join("<tr>" + "".join(cells[i:i + across]) + "</tr>"
                   for i in range(0, len(cells), across))
    return f'<table class="facts"><tbody>{body}</tbody></table>'


def seeds_text(data: StudyData) -> str:
    """The seeds the complete trials ran, e.g. '0-4 (5 seeds)'."""
    seeds = sorted({t.seed for t in data.trials if t.state == "complete"})
    if not seeds:
        return "none complete"
    run = seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2
    shown = f"{seeds[0]}-{seeds[-1]}" if run else ", ".join(map(str, seeds))
    return f"{shown} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def baseline_html(data: StudyData) -> str:
    """The baseline configuration every cell varies one thing of, with the seeds run."""
    spec = data.spec
    if not spec:
        return ""
    pairs = [(k, _text(v)) for k, v in sorted(spec.get("baseline", {}).items())]
    facts = [("varied", ", ".join(spec.get("axes", [])) or "—"), ("seeds", seeds_text(data)),
             ("selects on", str(spec.get("metric", ""))),
             ("compared on", data.metric),
             ("command-line overrides", _text(spec.get("overrides") or "none"))]
    return _pairs_html(facts) + _pairs_html(pairs, across=3)


def data_html(spec: Mapping[str, Any], sizes: Mapping[str, int], evidence: Evidence | None,
              ) -> str:
    """The data set and its split sizes ('' when nothing about them is stored)."""
    base = spec.get("baseline", {})
    pairs = [("data set", str(base.get("dataset", "?")))]
    pairs += [(f"{k} images", f"{v:,}") for k, v in sizes.items()]
    if "test" not in sizes and evidence is not None and evidence.n_test:
        pairs.append(("test images", f"{max(evidence.n_test.values()):,}"))
    if base.get("train_limit"):
        pairs.append(("train_limit", f"first {int(base['train_limit']):,} training images"))
    return _pairs_html(pairs) if len(pairs) > 1 else ""


ENV_KEYS = ("cpu", "gpu", "device", "device_name", "device_memory_bytes", "cuda_version",
            "driver_version", "threads", "bf16_native", "precision", "deterministic", "python",
            "platform", "host", "git_sha")


def environment_html(runs: Sequence[Mapping[str, Any]]) -> str:
    """Each distinct environment the trials ran in (CPU/GPU, threads, versions, commit), with
    how many trials and when ('' for a study without run records)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in runs:
        groups.setdefault(str(r["environment"]), []).append(r)
    parts = []
    for env_text, members in groups.items():
        env = json.loads(env_text)
        pairs = [(k, _text(env[k])) for k in ENV_KEYS if k in env]
        if "gpu" not in env and str(env.get("device", "cpu")) == "cpu":
            pairs.insert(1, ("gpu", "none recorded (CPU run)"))
        pairs += [(name, str(v)) for name, v in sorted(env.get("packages", {}).items()) if v]
        started = min(str(m["started"])[:19] for m in members)
        ends = [str(m["finished"])[:19] for m in members if m.get("finished")]
        pairs.append(("trials", f"{len(members)}, {started} to {max(ends) if ends else '?'} "
                                "UTC"))
        parts.append(_pairs_html(pairs))
    return "".join(parts)


def noise_html(data: StudyData) -> str:
    """Per cell: observed spread of test accuracy over seeds against the part a finite test
    set alone explains ('' when no cell has 2 runs)."""
    table = noise_table(data.name, data.trials, data.evidence or NO_EVIDENCE)
    return table_html(table) if table.rows else ""


def report_rows(data: StudyData) -> list[SummaryRow]:
    """The summary rows the report's tables and bars share."""
    return summary_rows(data.trials, data.metric)
