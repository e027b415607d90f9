"""Rows -> plotly figures -> one self-contained HTML page. The only module that imports plotly.

The page inlines plotly.js once, so it opens offline from disk; every chart is one ``<section>``
holding one figure (or a short note where the chart does not apply).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ablation.analysis.metrics import METRICS
from ablation.analysis.records import StudyData, cell_name
from ablation.reporting.page.page_tables import (
    baseline_html,
    data_html,
    environment_html,
    noise_html,
    other_metrics_html,
    report_margin,
    report_rows,
    table_html,
    verdict_html,
)
from ablation.reporting.recipe_tables import recipe_table
from ablation.reporting.rows import (
    Bar,
    Curve,
    TrialPoint,
    bar_rows,
    confusion_rows,
    curve_rows,
    pareto_front,
    scatter_rows,
)
from ablation.reporting.summary import SummaryRow, points_text
from ablation.spec.recipe import recipe_from_record

PALETTE = qualitative.D3 + qualitative.Set2
BASELINE_COLOR = "#444444"
TEMPLATE = "plotly_white"


@dataclass(frozen=True)
class Section:
    """One part of the page: a title and a figure, or a note (or an HTML table) instead."""

    key: str
    title: str
    figure: go.Figure | None = None
    note: str = ""
    table_html: str = ""


def _colors(labels: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for label in labels:
        out.setdefault(label, PALETTE[len(out) % len(PALETTE)])
    return out


def bar_figure(axis: str, bars: Sequence[Bar], metric_title: str,
               bounds: tuple[float, float] = (0.0, 100.0)) -> go.Figure:
    """Mean per value with 95% CI whiskers; the baseline bar is dark and its mean a dashed line.

    The value axis stays within ``bounds`` (percent by default): with two seeds a t-interval can
    reach past 0 or 100, and drawing that would squash the bars; the hover shows the full CI.
    """
    fig = go.Figure(go.Bar(
        x=[f"{b.label}<br>(baseline)" if b.is_baseline else b.label for b in bars],
        y=[b.mean for b in bars],
        marker_color=[BASELINE_COLOR if b.is_baseline else PALETTE[0] for b in bars],
        error_y={"type": "data", "symmetric": False, "array": [b.err_plus for b in bars],
                 "arrayminus": [b.err_minus for b in bars], "color": "#222", "thickness": 1.5},
        text=[f"{b.mean:.2f}" for b in bars], textposition="inside", insidetextanchor="middle",
        customdata=[[b.n, _ci_text(b)] for b in bars],
        hovertemplate="%{x}: %{y:.2f}<br>n=%{customdata[0]}, 95% CI %{customdata[1]}"
                      "<extra></extra>"))
    base = [b for b in bars if b.is_baseline]
    if base:
        fig.add_hline(y=base[0].mean, line_dash="dash", line_color=BASELINE_COLOR)
    lows = [b.mean - b.err_minus for b in bars if not math.isnan(b.mean)]
    highs = [b.mean + b.err_plus for b in bars if not math.isnan(b.mean)]
    if lows:
        span = max(highs) - min(lows) or 1.0
        # Differences between configurations are often a fraction of a point: start the axis
        # below the lowest whisker rather than at 0, and say so in the axis title.
        floor = max(bounds[0], min(lows) - span)
        fig.update_yaxes(range=[floor, min(bounds[1] * 1.02, max(highs) + 0.25 * span)])
        if floor > 0:
            metric_title += " (axis not from 0)"
    fig.update_layout(template=TEMPLATE, height=380, margin={"t": 40, "b": 40},
                      xaxis_title=axis, yaxis_title=metric_title)
    return fig


def _ci_text(b: Bar) -> str:
    return "n/a (one seed)" if math.isnan(b.ci_low) else f"[{b.ci_low:.2f}, {b.ci_high:.2f}]"


def curves_figure(curves: dict[str, list[Curve]]) -> go.Figure:
    """2 x 2 learning curves: mean line and a mean ± std band per configuration."""
    titles = {"train_loss": "train loss", "val_loss": "validation loss",
              "train_accuracy": "train accuracy (%)", "val_accuracy": "validation accuracy (%)"}
    order = list(titles)
    fig = make_subplots(rows=2, cols=2, subplot_titles=[titles[m] for m in order],
                        horizontal_spacing=0.08, vertical_spacing=0.14)
    colors = _colors([_curve_name(c) for c in curves.get(order[0], [])])
    for i, metric in enumerate(order):
        row, col = i // 2 + 1, i % 2 + 1
        for c in curves.get(metric, []):
            name = _curve_name(c)
            color = colors.setdefault(name, PALETTE[len(colors) % len(PALETTE)])
            fig.add_trace(go.Scatter(
                x=[*c.epochs, *reversed(c.epochs)], y=[*c.high, *reversed(c.low)],
                mode="lines", fill="toself", fillcolor=color, opacity=0.18, line={"width": 0},
                hoverinfo="skip", legendgroup=name, showlegend=False), row=row, col=col)
            fig.add_trace(go.Scatter(
                x=list(c.epochs), y=list(c.mean), mode="lines+markers", name=name,
                line={"color": color}, legendgroup=name, showlegend=i == 0,
                customdata=list(c.n), hovertemplate=f"{name}<br>epoch %{{x}}: %{{y:.3f}}"
                                                    "<br>seeds: %{customdata}<extra></extra>"),
                row=row, col=col)
    fig.update_xaxes(title_text="epoch", dtick=1)
    # One diverging epoch can reach hundreds while the rest sit near 0.1: losses go on a log axis.
    fig.update_yaxes(type="log", row=1)
    fig.update_layout(template=TEMPLATE, height=680, margin={"t": 50},
                      legend={"title": "configuration (band: ±1 std over seeds,"
                                       "<br>within their range)"})
    return fig


def _curve_name(c: Curve) -> str:
    return cell_name(c.axis, c.label)


def confusion_figure(matrix: Sequence[Sequence[int]], trial: int) -> go.Figure:
    """Row-normalised confusion matrix (percent of each true class), counts in the cells."""
    pct = confusion_rows(matrix)
    names = [str(i) for i in range(len(matrix))]
    fig = go.Figure(go.Heatmap(
        z=pct, x=names, y=names, colorscale="Blues", zmin=0, zmax=100,
        text=[[str(v) for v in row] for row in matrix], texttemplate="%{text}",
        colorbar={"title": "% of true class"},
        hovertemplate="true %{y}, predicted %{x}: %{text} (%{z:.1f}%)<extra></extra>"))
    side = min(720, 300 + 30 * len(names))
    fig.update_yaxes(autorange="reversed", title="true class", scaleanchor="x")
    fig.update_xaxes(title="predicted class", side="bottom")
    fig.update_layout(template=TEMPLATE, height=side, width=side + 120,
                      title=f"trial {trial}, test set")
    return fig


def scatter_figure(points: Sequence[TrialPoint], x_title: str,
                   front: Sequence[TrialPoint] = (), log_x: bool = False) -> go.Figure:
    """One marker per trial, coloured by configuration; the Pareto front as a step line."""
    fig = go.Figure()
    colors = _colors([p.label for p in points])
    for label, color in colors.items():
        mine = [p for p in points if p.label == label]
        fig.add_trace(go.Scatter(
            x=[p.x for p in mine], y=[p.y for p in mine], mode="markers", name=label,
            marker={"color": color, "size": 9, "line": {"width": 0.5, "color": "#222"}},
            customdata=[p.number for p in mine],
            hovertemplate=f"{label}, trial %{{customdata}}<br>%{{x:.4g}}, %{{y:.2f}}%"
                          "<extra></extra>"))
    if front:
        fig.add_trace(go.Scatter(x=[p.x for p in front], y=[p.y for p in front],
                                 mode="lines", line={"shape": "hv", "dash": "dot",
                                                     "color": "#d62728"},
                                 name="Pareto front", hoverinfo="skip"))
    fig.update_xaxes(title=x_title, type="log" if log_x else "linear")
    fig.update_layout(template=TEMPLATE, height=440, yaxis_title="test accuracy (%)")
    return fig


def importance_figure(importances: dict[str, float]) -> go.Figure:
    """Horizontal bars of Optuna's parameter importance, largest on top."""
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h",
                           marker_color=PALETTE[0], text=[f"{v:.2f}" for _, v in items]))
    fig.update_layout(template=TEMPLATE, height=160 + 40 * len(items),
                      margin={"l": 20 + 8 * max(len(k) for k, _ in items), "t": 30},
                      xaxis_title="importance (fANOVA, sums to 1)")
    return fig


def _table_sections(data: StudyData, rows: Sequence[SummaryRow], level: float,
                    adjust: str, margin: float | None = None) -> list[Section]:
    """The verdict table first, then the other metrics, the baseline, data, environment and
    test-set noise; a section with nothing to show is left out."""
    compared = METRICS.get(data.metric)
    setup = baseline_html(data) + data_html(data.spec, data.data_sizes, data.evidence)
    recipe = recipe_from_record(data.spec.get("recipe"))
    candidates = [
        *([Section("recipe", f"The {recipe.design} recipe: {compared.label}",
                   table_html=table_html(recipe_table(
                       data.name, rows, recipe, data.metric, level, adjust,
                       report_margin(data, rows, margin).value)))]
          if recipe is not None else []),
        Section("verdict", f"Verdict: {compared.label} against the baseline",
                table_html=verdict_html(data, rows, level, adjust, margin)),
        Section("metrics", "Other metrics (mean [95% CI] over seeds)",
                table_html=other_metrics_html(data, rows)),
        Section("setup", "Baseline configuration and data", table_html=setup),
        Section("environment", "Environment (from the run records)",
                table_html=environment_html(data.runs)),
        Section("noise", "Test-set noise against training noise (test accuracy)",
                table_html=noise_html(data))]
    return [s for s in candidates if s.table_html]


def report_sections(data: StudyData, level: float = 0.05, adjust: str = "holm",
                    margin: float | None = None) -> list[Section]:
    """Every section of a study report, in page order; empty ones are left out."""
    rows = report_rows(data)
    sections = _table_sections(data, rows, level, adjust, margin)
    compared = METRICS.get(data.metric)
    for axis, bars in bar_rows(rows, data.metric).items():
        shown = "configuration" if axis == "factorial" else axis
        sections.append(Section(f"bars-{axis}", f"{compared.label.capitalize()} by {shown} "
                                "(95% CI of the mean)",
                                bar_figure(shown, bars, compared.header, compared.bounds())))
    curves = {m: curve_rows(data.trials, data.epochs, m) for m in
              ("train_loss", "val_loss", "train_accuracy", "val_accuracy")}
    if any(curves.values()):
        sections.append(Section("curves", "Learning curves", curves_figure(curves)))
    if data.confusion and data.confusion_trial is not None:
        sections.append(Section("confusion", _confusion_title(data),
                                confusion_figure(data.confusion, data.confusion_trial)))
    timed = scatter_rows(data.trials, "train_seconds")
    if timed:
        sections.append(Section("time", "Training time vs test accuracy",
                                scatter_figure(timed, "training seconds")))
    sized = _size_section(data)
    if sized is not None:
        sections.append(sized)
    if data.importances:
        sections.append(Section("importance", "Parameter importance",
                                importance_figure(data.importances)))
    return sections


def _confusion_title(data: StudyData) -> str:
    t = next((t for t in data.trials if t.number == data.confusion_trial), None)
    what = "" if t is None else f": {cell_name(t.axis, t.label)}, seed {t.seed}"
    why = ("the baseline's median seed on " + METRICS.get(data.metric).label
           if t is not None and t.is_baseline else "chosen with --trial" if t is not None
           else "")
    return f"Confusion matrix (trial {data.confusion_trial}{what}; {why})"


def _size_section(data: StudyData) -> Section | None:
    points = scatter_rows(data.trials, "artifact_bytes")
    title = "Test accuracy vs artifact size"
    if not points:
        return None
    return Section("size", title + " (Pareto front: nothing smaller is more accurate)",
                   scatter_figure(points, "artifact bytes (log)", pareto_front(points),
                                  log_x=True))


CSS = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 28px; }
section { border-top: 1px solid #ddd; padding-top: 4px; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
td:nth-child(-n+2), th:nth-child(-n+2) { text-align: left; }
table.facts { display: inline-table; vertical-align: top; margin: 0 16px 8px 0; }
table.facts th { text-align: left; background: #f4f4f4; font-weight: normal; }
table.facts td { text-align: left; }
td { white-space: nowrap; }
p.note { color: #555; font-style: italic; }
"""

PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "toImageButtonOptions": {"format": "svg"}}


def render_page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """A complete HTML document with plotly.js inlined once (no network needed to open it)."""
    parts = []
    for s in sections:
        inner = s.table_html or (f'<p class="note">{html.escape(s.note)}</p>' if s.note else "")
        if s.figure is not None:
            inner = pio.to_html(s.figure, full_html=False, include_plotlyjs=False,
                                div_id=f"fig-{s.key}", config=PLOT_CONFIG)
        parts.append(f'<section id="{html.escape(s.key)}"><h2>{html.escape(s.title)}</h2>'
                     f"{inner}</section>")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style>"
            f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
            f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>"
            + "\n".join(parts) + "</body></html>\n")


def report_html(data: StudyData, level: float = 0.05, adjust: str = "holm",
                margin: float | None = None) -> str:
    """The whole study report as one self-contained HTML document."""
    complete = sum(t.state == "complete" for t in data.trials)
    subtitle = (f"{complete} complete trial(s) of {len(data.trials)}"
                f"{points_text(data.points)}; accuracies in percent; intervals are 95% "
                "t-intervals of the mean over seeds, clipped to the metric's range.")
    return render_page(f"ablate report: {data.name}", subtitle,
                       report_sections(data, level, adjust, margin))


def embed_html(study: str, trial: int, xy: Sequence[Sequence[float]], labels: Sequence[int],
               classes: Sequence[str]) -> str:
    """A page with the 2-D t-SNE of test-set features, one colour per true class."""
    fig = go.Figure()
    for k, name in enumerate(classes):
        idx = [i for i, y in enumerate(labels) if y == k]
        if idx:
            fig.add_trace(go.Scatter(x=[xy[i][0] for i in idx], y=[xy[i][1] for i in idx],
                                       mode="markers", name=name,
                                       marker={"size": 5, "color": PALETTE[k % len(PALETTE)]}))
    fig.update_layout(template=TEMPLATE, height=720, legend={"title": "true class"},
                      xaxis={"showticklabels": False}, yaxis={"showticklabels": False})
    title = f"t-SNE of penultimate-layer features: {study}, trial {trial}"
    section = Section("tsne", f"{len(labels)} test images", fig)
    return render_page(title, "Each point is one test image; nearby points have similar "
                       "features in the trained model.", [section])


def image_page(figure: go.Figure, width: int = 1000, height: int | None = None) -> str:
    """A page that renders ``figure`` and writes it as SVG and PNG data URLs into the DOM
    (``<pre id="svg">``, ``<pre id="png">``), for a headless browser to read back."""
    h = height or int(figure.layout.height or 450)
    w = int(figure.layout.width or width)
    opts = f"{{width: {w}, height: {h}}}"
    script = (
        "const gd = document.getElementById('fig');"
        f"Plotly.newPlot(gd, {figure.to_json()})"
        f".then(() => Plotly.toImage(gd, Object.assign({{format: 'svg'}}, {opts})))"
        ".then(u => { document.getElementById('svg').textContent = u; })"
        f".then(() => Plotly.toImage(gd, Object.assign({{format: 'png', scale: 2}}, {opts})))"
        ".then(u => { document.getElementById('png').textContent = u; })"
        ".catch(e => { document.getElementById('err').textContent = String(e); });")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script></head>'
            f'<body><div id="fig"></div><pre id="svg"></pre><pre id="png"></pre>'
            f'<pre id="err"></pre><script>{script}</script></body></html>\n')
