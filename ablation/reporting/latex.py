"""LaTeX that fits a page: booktabs tables with compact cells and headers, split by columns
where a table would still be wider than the text.

Width model, measured with pdflatex (article class, 10 pt: text width 345 pt) at
\\footnotesize: a digit is 4.25 pt, a lower-case letter ~4.2, upper-case ~6.1, a space 2.8,
'.', ',', '[', ']' 2.4, '±', '+', '<' 6.6, '%' 7.1 (``CHAR_PT``; 4.6 for anything else). A
column takes its widest line plus twice \\tabcolsep (3 pt here); a header breaks into two
lines. The model overestimates (the verdict table of tests/reporting: 356 pt estimated, 314 pt
typeset). A table whose estimate passes ``TEXT_WIDTH_PT`` is split into tables that repeat
the key columns (value, n); tests/reporting checks the estimate on every export and, where
pdflatex is installed, that LaTeX reports no overfull box.
"""

from __future__ import annotations

from collections.abc import Sequence

from ablation.analysis.intervals import Interval
from ablation.analysis.metrics import METRICS
from ablation.analysis.stats import MIN_TEST_N
from ablation.reporting.summary import NO_MARGIN, ComparedRow, Margin, SummaryRow
from ablation.reporting.tables import adjustment_text, columns_for, fmt_ci, fmt_num, fmt_p
from ablation.reporting.text import TextTable, latex_escape

TEXT_WIDTH_PT = 345.0  # article, 10 pt, one column
CHAR_PT = {**dict.fromkeys("0123456789", 4.25), **dict.fromkeys(" -", 2.85),
           **dict.fromkeys(".,[]:;", 2.4), **dict.fromkeys("()", 3.3),
           **dict.fromkeys("±+<>=", 6.6), "%": 7.1, "†": 4.0}
OTHER_PT = 4.6  # anything else at \footnotesize (letters 4.2 on average; capitals 6.1)
TABCOLSEP_PT = 3.0
BASELINE_MARK = "†"
SHORT = {"inconclusive": "inconcl.", "equivalent": "equiv."}  # the rest: the bare verdict


def _lines(text: str) -> list[str]:
    """A header's lines: split at the first space after about half its length."""
    if len(text) <= 10 or " " not in text:
        return [text]
    cut = text.find(" ", len(text) // 2 - 3)
    cut = cut if cut > 0 else text.rfind(" ")
    return [text[:cut], text[cut + 1:]]


def text_pt(text: str) -> float:
    """Estimated printed width of ``text`` at \\footnotesize, in points."""
    return sum(CHAR_PT.get(ch, 6.1 if ch.isupper() else OTHER_PT) for ch in text)


def column_pt(table: TextTable, i: int) -> float:
    """Estimated width of column ``i``: its widest line (headers break in two lines) plus the
    space around it."""
    lines = [row[i] for row in table.rows] + _lines(table.header[i])
    return max(text_pt(x) for x in lines) + 2 * TABCOLSEP_PT


def width_pt(table: TextTable) -> float:
    """Estimated printed width of ``table`` in points (see the module docstring)."""
    return sum(column_pt(table, i) for i in range(len(table.header)))


def split_to_fit(table: TextTable, keys: int, budget: float = TEXT_WIDTH_PT) -> list[TextTable]:
    """``table`` as one or more tables within ``budget`` points, each repeating the first
    ``keys`` columns; the notes go with the last part."""
    key_pt = sum(column_pt(table, i) for i in range(keys))
    parts: list[list[int]] = [[]]
    used = key_pt
    for i in range(keys, len(table.header)):
        w = column_pt(table, i)
        if parts[-1] and used + w > budget:
            parts.append([])
            used = key_pt
        parts[-1].append(i)
        used += w
    out = []
    for k, cols in enumerate(parts):
        idx = [*range(keys), *cols]
        title = table.title if len(parts) == 1 else f"{table.title} ({k + 1} of {len(parts)})"
        out.append(TextTable(title, tuple(table.header[i] for i in idx),
                             tuple(tuple(r[i] for i in idx) for r in table.rows),
                             table.notes if k == len(parts) - 1 else (),
                             tuple(table.right[i] for i in idx) if table.right else ()))
    return out


def pm(mean: float, ci: Interval, digits: int) -> str:
    """'mean ± half-width' of a symmetric interval; 'mean [low, high]' where clipping to the
    metric's range made it lopsided; the bare mean without an interval."""
    if mean != mean:
        return "—"
    if ci.low != ci.low:
        return f"{mean:.{digits}f}"
    if ci.clipped:
        return f"{mean:.{digits}f} {fmt_ci(ci, digits)}"
    return f"{mean:.{digits}f} ± {ci.half:.{digits}f}"


def _label(c: SummaryRow) -> str:
    return c.label + BASELINE_MARK if c.is_baseline else c.label


def _margin_note(margin: Margin) -> str:
    if margin.value is None:
        return "no equivalence margin, so no cell is called equiv."
    return f"equiv.: Δ shown inside ±{margin.value:.3g} ({margin.source}) by two one-sided tests"


def compact_verdict_table(study: str, compared: Sequence[ComparedRow], metric: str,
                          level: float, adjust: str, margin: Margin = NO_MARGIN) -> TextTable:
    """The verdict table in eight narrow columns, for print: mean ± CI, Δ ± CI,
    P(improvement), adjusted p, verdict and rank (the rest is in the CSV)."""
    info = METRICS.get(metric)
    how = adjustment_text(adjust, [c.decision for c in compared])
    header = ("value", "n", "mean", "Δ", "P(impr.)", "p adj.", "verdict", "rank")
    body = []
    for c in compared:
        s, k, d = c.row.stats.get(metric), c.contrast, c.decision
        mean = pm(s.mean, s.t_ci, info.digits) if s and s.n else "—"
        if k is None or d is None:
            stat = ["—", "—", "—"]
        else:
            delta = pm(k.diff, k.t_ci, info.digits)
            stat = ["+" + delta if k.diff > 0 else delta, fmt_num(k.p_improve, 2),
                    fmt_p(d.p_adj)]
        verdict = c.verdict_text.split(" (")[0]
        body.append((_label(c.row), str(c.row.n), mean, *stat, SHORT.get(verdict, verdict),
                     "–" if c.rank is None else str(c.rank)))
    unit = "%" if info.percent else info.unit
    notes = (f"{info.label.capitalize()}{f' ({unit})' if unit else ''}: mean ± half-width of "
             "the 95% t-interval over seeds ([low, high] where the metric's range clipped "
             f"it); {BASELINE_MARK} baseline. Δ: cell − baseline, paired over shared seeds, ± "
             "its per-comparison 95% t-interval. P(impr.): share of seeds on which the cell "
             f"beats the baseline. p adj. ({how}) < {level:g} decides better/worse; "
             f"{_margin_note(margin)}, adjusted alike (it takes precedence); inconcl.: these "
             f"seeds cannot tell, no rank (–); untested: < {MIN_TEST_N} seeds or no spread. "
             "Effect sizes, raw p, equivalence p and intervals of P(impr.): the CSV export.",)
    right = (False, True, True, True, True, True, False, True)
    return TextTable(study, header, tuple(body), notes, right)


def compact_metrics_table(study: str, rows: Sequence[SummaryRow], metric: str) -> TextTable:
    """The other table metrics as 'mean ± half-width' (both ends where clipped)."""
    columns = columns_for(rows, metric)[1:]
    header = ("value", "n", *(METRICS.get(m).header for m in columns))
    body = []
    for r in rows:
        cells = [_label(r), str(r.n)]
        for m in columns:
            s, digits = r.stats.get(m), METRICS.get(m).digits
            cells.append("—" if s is None or s.n == 0 else pm(s.mean, s.t_ci, digits))
        body.append(tuple(cells))
    return TextTable(f"{study}: other metrics", header, tuple(body),
                     ("Mean ± half-width of the 95% t-interval over seeds; [low, high] where "
                      f"the metric's range clipped the interval; {BASELINE_MARK} baseline.",),
                     (False, *(True for _ in header[1:])))


def latex_header(text: str) -> str:
    """A header cell, broken into two lines with \\shortstack where it is long."""
    lines = [latex_escape(x) for x in _lines(text)]
    return lines[0] if len(lines) == 1 else r"\shortstack{" + r"\\".join(lines) + "}"


def to_booktabs(table: TextTable) -> str:
    """A ``table`` environment with booktabs rules (\\usepackage{booktabs}), footnotesize."""
    right = table.right or (False,) * len(table.header)
    spec = "".join("r" if r else "l" for r in right)
    body = [" & ".join(latex_escape(c) for c in row) + r" \\" for row in table.rows]
    caption = " ".join([table.title + ".", *table.notes]) if table.notes else table.title
    return "\n".join([
        r"\begin{table}[htbp]", r"\centering", r"\footnotesize",
        rf"\setlength{{\tabcolsep}}{{{TABCOLSEP_PT:g}pt}}",
        rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
        " & ".join(latex_header(h) for h in table.header) + r" \\", r"\midrule",
        *body, r"\bottomrule", r"\end{tabular}",
        rf"\caption{{{latex_escape(caption)}}}", r"\end{table}"]) + "\n"


def latex_document_tables(tables: Sequence[TextTable], keys: int = 2) -> str:
    """Every table, split to fit the text width, as booktabs LaTeX (needs booktabs)."""
    parts = [to_booktabs(t) for table in tables for t in split_to_fit(table, keys)]
    return "% needs \\usepackage{booktabs}\n" + "\n".join(parts)
