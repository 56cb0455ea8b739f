"""The plots of the evaluation report, drawn by matplotlib on its Agg backend (no pyplot state) and
embedded in report.html as base64 PNG: ROUGE per article beside lead-3, the checks (names found, fields
supported, citations equal), dates, tokens and time, and a comparison of two runs."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from typing import Any

from .compare import Comparison
from .evaluate import ROUGE_TYPES, ArticleScore, EvalReport

ROUGE_NAMES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L"}
COLOURS = {"model": "#1f6fb4", "lead3": "#f0a030", "good": "#2e9e4f", "bad": "#d1495b"}
COLOURS |= {
    "undated": "#ddd",
    "better": "#2e9e4f",
    "worse": "#d1495b",
    "same": "#aaa",
}


def label(run: dict[str, Any]) -> str:
    return str(run.get("label") or run.get("model") or "run")


Series = Sequence[tuple[str, str | list[str], Sequence[float]]]  # (legend name, colour(s), a value per row)


def bar_panels(
    ids: Sequence[str], panels: Sequence[tuple[str, Series, bool]], notes: Sequence[str] = ()
) -> Any:
    """A figure of side-by-side panels of horizontal bars, one row per article (top to bottom), each panel
    (title, series, stacked): stacked series share a bar, others are grouped. `notes` are written on the
    rows (e.g. "failed"). Ids label the rows while there are few enough to read."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 1.4 + 0.3 * min(len(ids), 120)), layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    ys = list(range(len(ids)))
    for ax, (title, series, stacked) in zip(axes, panels, strict=True):
        left, height = [0.0] * len(ys), 0.7 if stacked or len(series) == 1 else 0.8 / len(series)
        for index, (name, colour, values) in enumerate(series):
            offset = 0.0 if stacked else (index - (len(series) - 1) / 2) * height
            ax.barh([y + offset for y in ys], values, height, left=left, color=colour, label=name or None)
            if stacked:
                left = [a + b for a, b in zip(left, values, strict=True)]
        for y, note in zip(ys, notes, strict=False):
            ax.text(0, y, f" {note}", va="center", fontsize=7, color="#8a1c2b")
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
    shown = [i if len(i) <= 24 else i[:23] + "…" for i in ids] if len(ids) <= 60 else [""] * len(ids)
    axes[0].set_yticks(ys, shown, fontsize=8)
    axes[0].set_ylim(len(ids) - 0.5, -0.5)
    if any(name for _, series, _ in panels for name, _, _ in series):
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=4, fontsize=8)
    return fig


def plot_rouge(report: EvalReport) -> Any:
    arts = report.articles
    panels = [
        (
            f"{ROUGE_NAMES[r]} F1",
            [
                ("model", COLOURS["model"], [s.rouge[r] if s.rouge else 0.0 for s in arts]),
                ("lead-3", COLOURS["lead3"], [s.lead3_rouge[r] for s in arts]),
            ],
            False,
        )
        for r in ROUGE_TYPES
    ]
    fig = bar_panels([s.id for s in arts], panels, [_missing(s) for s in arts])
    for ax, r in zip(fig.axes, ROUGE_TYPES, strict=True):  # dashed: the means over the same articles
        for key in ("model", "lead3"):
            mean = report.overall.get(r if key == "model" else f"lead3_{r}")
            if mean is not None:
                ax.axvline(mean, color=COLOURS[key], linestyle="--", linewidth=1)
        ax.set_xlim(0, 1)
    return fig


def _missing(s: ArticleScore) -> str:
    return "" if s.rouge is not None else "failed" if not s.ok else "no summary"


# (title, what passes and what fails, per article: (passing, total))
CHECK_PANELS: tuple[tuple[str, Callable[[ArticleScore], tuple[int, int]]], ...] = (
    ("Names: found / not in the article", lambda s: (s.names_found, s.names)),
    ("Text fields: supported / flagged", lambda s: (s.checked_fields - s.flagged_fields, s.checked_fields)),
    ("Citations: equal / not equal to the article", lambda s: (s.citations_equal, s.citations)),
)


def plot_checks(report: EvalReport) -> Any:
    """Per article and pooled, the share passing and failing each check, the count at the right."""
    ids = ["ALL (pooled)", *(s.id for s in report.articles)]
    panels, totals = [], []
    for title, count in CHECK_PANELS:
        pairs = [count(s) for s in report.articles]
        pairs.insert(0, (sum(p for p, _ in pairs), sum(t for _, t in pairs)))
        series = [
            ("passes", COLOURS["good"], [p / t if t else 0.0 for p, t in pairs]),
            ("fails", COLOURS["bad"], [(t - p) / t if t else 0.0 for p, t in pairs]),
        ]
        panels.append((title, series, True))
        totals.append([t for _, t in pairs])
    fig = bar_panels(ids, panels)
    for ax, counts in zip(fig.axes, totals, strict=True):
        for y, n in enumerate(counts):
            ax.text(1.01, y, str(n), va="center", fontsize=7)
        ax.set_xlim(0, 1.15)
    return fig


def plot_dates(report: EvalReport) -> Any:
    arts = report.articles
    series = [
        ("date resolved", COLOURS["good"], [float(s.events_resolved) for s in arts]),
        (
            "date not resolved",
            COLOURS["bad"],
            [float(s.events_dated - s.events_resolved) for s in arts],
        ),
        ("no date written", COLOURS["undated"], [float(s.events - s.events_dated) for s in arts]),
    ]
    return bar_panels(
        [s.id for s in arts], [("Events per article: dates written and resolved", series, True)]
    )


def plot_cost(report: EvalReport) -> Any:
    arts = report.articles
    panels = [
        (
            f"{title} per article (orange: with retries)",
            [("", colours, [float(getattr(s, key)) for s in arts])],
            False,
        )
        for key, title in (("tokens", "Tokens"), ("seconds", "Seconds"))
        for colours in [[COLOURS["lead3"] if s.retries else COLOURS["model"] for s in arts]]
    ]
    return bar_panels([s.id for s in arts], panels)


def plot_comparison(c: Comparison) -> Any:
    deltas = [d for d in c.articles if d.outcome not in ("only_a", "only_b")]
    colours = [COLOURS[d.outcome] for d in deltas]
    notes = [
        {"better": "now has a summary", "worse": "lost its summary"}.get(d.outcome, "no summary")
        if d.delta is None
        else ""
        for d in deltas
    ]
    title = f"B − A, {c.metric}: green better, red worse, dotted ±{c.threshold}"
    fig = bar_panels(
        [d.id for d in deltas], [(title, [("", colours, [d.delta or 0.0 for d in deltas])], False)], notes
    )
    ax = fig.axes[0]
    ax.axvline(0, color="black", linewidth=0.8)
    for x in (c.threshold, -c.threshold):
        ax.axvline(x, color="#888888", linewidth=0.6, linestyle=":")
    return fig


def png_base64(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plots(report: EvalReport, comparison: Comparison | None = None) -> list[tuple[str, str]]:
    """(title, base64 PNG) of each plot. Text is drawn literally: "$" in an id starts no mathtext."""
    import matplotlib

    makers: list[tuple[str, Callable[[], Any]]] = [
        ("ROUGE per article: model vs lead-3 (dashed lines: the means)", lambda: plot_rouge(report)),
        ("Checks: names found, fields supported, evidence equal", lambda: plot_checks(report)),
        ("Date resolution", lambda: plot_dates(report)),
        ("Tokens and time", lambda: plot_cost(report)),
    ]
    if comparison is not None:
        names = f"A = {label(comparison.a_run)}, B = {label(comparison.b_run)}"
        makers.append((f"Comparison per article ({names})", lambda: plot_comparison(comparison)))
    with matplotlib.rc_context({"text.parse_math": False, "font.size": 9}):
        return [(title, png_base64(make())) for title, make in makers]
