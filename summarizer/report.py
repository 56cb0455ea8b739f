"""Evaluation reports: report.json (the `EvalReport`, which loads back), report.md and report.html.

The HTML page is one self-contained file: inline CSS, plots as base64 PNG drawn by matplotlib (Agg, no
pyplot state), no script, no external reference, and a Content-Security-Policy that forbids loading
anything. Every string that comes from an article or a model (ids, headlines, errors) is escaped; in
Markdown too, since Markdown viewers render raw HTML.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .evaluate import ROUGE_TYPES, ArticleScore, Comparison, EvalReport
from .files import refuse_inputs, write_atomic

ROUGE_NAMES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L"}
METRICS = {  # overall metrics shown besides ROUGE, in order, with their labels
    "articles": "articles",
    "with_output": "with output",
    "schema_failures": "schema failures (no valid output)",
    "quotes": "evidence quotes",
    "exact_share": "quotes found exactly",
    "approximate_share": "quotes found approximately",
    "ungrounded_share": "quotes not found",
    "events": "events",
    "events_dated": "events with a date",
    "resolved_share_dated": "dates resolved (of dated events)",
    "resolved_share_all": "dates resolved (of all events)",
    "attempts": "model attempts",
    "retries": "retries",
    "tokens": "tokens (sum)",
    "tokens_median": "tokens (median per article)",
    "seconds": "seconds (sum)",
    "seconds_median": "seconds (median per article)",
}
COLOURS = {"model": "#1f6fb4", "lead3": "#f0a030", "exact": "#2e9e4f", "approximate": "#f2c14e"}
COLOURS |= {
    "ungrounded": "#d1495b",
    "undated": "#ddd",
    "better": "#2e9e4f",
    "worse": "#d1495b",
    "same": "#aaa",
}


def fmt(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if "_share" in key:
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        return f"{value:.1f}" if key.startswith(("seconds", "tokens")) else f"{value:.3f}"
    return str(value)


def fmt_delta(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if "_share" in key:
        return f"{100 * value:+.1f} pts"
    if isinstance(value, float):
        return f"{value:+.1f}" if key.startswith(("seconds", "tokens")) else f"{value:+.3f}"
    return f"{value:+d}"


def label(run: dict[str, Any]) -> str:
    return str(run.get("label") or run.get("model") or "run")


# --- the document, rendered as Markdown or HTML ----------------------------------------------------

Table = tuple[list[str], list[list[str]]]
# ("h1" | "h2" | "h3" | "p", text), ("table", (Table, row classes)), ("list", items), ("plots", indices)
Block = tuple[str, Any]
ARTICLE_HEADER = [
    "id",
    "headline (or FAILED: error)",
    "ROUGE 1/2/L",
    "lead-3 1/2/L",
    "quotes: exact/approx/none",
]
ARTICLE_HEADER += ["events: dated/resolved", "attempts (retries)", "tokens", "seconds"]


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _triple(scores: dict[str, float] | None) -> str:
    return "–" if scores is None else "/".join(f"{scores[r]:.3f}" for r in ROUGE_TYPES)


def _article_row(s: ArticleScore) -> list[str]:
    grounding = f"{s.quotes}: {s.exact}/{s.approximate}/{s.ungrounded}"
    events = f"{s.events}: {s.events_dated}/{s.events_resolved}"
    headline = (s.headline or "") if s.ok else f"FAILED: {s.error}"
    scores = [_triple(s.rouge), _triple(s.lead3_rouge), grounding, events]
    return [s.id, headline, *scores, f"{s.attempts} ({s.retries})", str(s.tokens), f"{s.seconds:.1f}"]


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> Block:
    return ("table", ((header, rows), classes))


def document(report: EvalReport, comparison: Comparison | None = None) -> list[Block]:
    o = report.overall
    rouge_rows = [
        [ROUGE_NAMES[r], *(fmt(r, o.get(k + r)) for k in ("", "lead3_", "lead3_all_"))] for r in ROUGE_TYPES
    ]
    rouge_header = [
        "ROUGE F1",
        f"model ({o.get('scored')} articles with a summary)",
        "lead-3 (same articles)",
    ]
    blocks: list[Block] = [
        ("h1", f"Evaluation: {label(report.run)}"),
        _table(["run", ""], [[k, _text(v)] for k, v in report.run.items()]),
        ("h2", "Overall"),
        _table([*rouge_header, "lead-3 (all articles)"], rouge_rows),
        _table(["metric", "value"], [[n, fmt(k, o.get(k))] for k, n in METRICS.items()]),
        ("plots", [0, 1, 2, 3]),
        ("h2", "Articles"),
        ("p", "ROUGE is the F1 of the model's headline and summary against the reference."),
        _table(
            ARTICLE_HEADER,
            [_article_row(s) for s in report.articles],
            ["" if s.ok else "failed" for s in report.articles],
        ),
    ]
    if comparison is None:
        return blocks
    c, a, b = comparison, label(comparison.a_run), label(comparison.b_run)
    names = {**ROUGE_NAMES, **{f"lead3_{r}": f"lead-3 {n}" for r, n in ROUGE_NAMES.items()}, **METRICS}
    overall = [
        [names[k], fmt(k, c.overall[k]["a"]), fmt(k, c.overall[k]["b"]), fmt_delta(k, c.overall[k]["delta"])]
        for k in names
        if k in c.overall
    ]
    per_article = [[d.id, fmt("", d.a), fmt("", d.b), fmt_delta("", d.delta), d.outcome] for d in c.articles]
    deltas = {d.id: fmt_delta("", d.delta) for d in c.articles}
    blocks += [
        ("h2", f"Comparison: A = {a}, B = {b}"),
        _table(["metric", f"A: {a}", f"B: {b}", "Δ (B − A)"], overall),
        ("plots", [4]),
        ("p", f"Per article: {c.metric}; better or worse when the change is beyond ±{c.threshold}."),
        _table(["id", f"A: {a}", f"B: {b}", "Δ", "outcome"], per_article, [d.outcome for d in c.articles]),
        ("h3", f"Better ({len(c.better)})"),
        ("list", [f"{i} ({deltas[i]})" for i in c.better] or ["none"]),
        ("h3", f"Worse ({len(c.worse)})"),
        ("list", [f"{i} ({deltas[i]})" for i in c.worse] or ["none"]),
    ]
    return blocks


def _md_cell(text: str) -> str:
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|")


def to_markdown(report: EvalReport, comparison: Comparison | None = None) -> str:
    """The report as Markdown (no plots: they are in report.html)."""
    parts = []
    for kind, content in document(report, comparison):
        if kind in ("h1", "h2", "h3"):
            parts.append("#" * int(kind[1]) + " " + _md_cell(content))
        elif kind == "p":
            parts.append(_md_cell(content))
        elif kind == "list":
            parts.append("\n".join(f"- {_md_cell(item)}" for item in content))
        elif kind == "plots" and content[0] == 0:
            parts.append("Plots are in report.html.")
        elif kind == "table":
            (header, rows), _ = content
            lines = ["| " + " | ".join(map(_md_cell, header)) + " |", "|" + " --- |" * len(header)]
            parts.append("\n".join(lines + ["| " + " | ".join(map(_md_cell, row)) + " |" for row in rows]))
    return "\n\n".join(parts) + "\n"


# --- plots -------------------------------------------------------------------------------------------


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


def plot_grounding(report: EvalReport) -> Any:
    keys = ("exact", "approximate", "ungrounded")
    rows = [("ALL (pooled)", [sum(getattr(s, k) for s in report.articles) for k in keys])]
    rows += [(s.id, [getattr(s, k) for k in keys]) for s in report.articles]
    shares = [[v / (sum(counts) or 1) for v in counts] for _, counts in rows]
    series = [(k, COLOURS[k], [row[i] for row in shares]) for i, k in enumerate(keys)]
    title = "Evidence quotes found in the article: share per article (number of quotes at the right)"
    fig = bar_panels([r[0] for r in rows], [(title, series, True)])
    for y, (_, counts) in enumerate(rows):
        fig.axes[0].text(1.01, y, str(sum(counts)), va="center", fontsize=7)
    fig.axes[0].set_xlim(0, 1.06)
    return fig


def plot_dates(report: EvalReport) -> Any:
    arts = report.articles
    series = [
        ("date resolved", COLOURS["exact"], [float(s.events_resolved) for s in arts]),
        (
            "date not resolved",
            COLOURS["ungrounded"],
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
        ("Grounding of evidence quotes", lambda: plot_grounding(report)),
        ("Date resolution", lambda: plot_dates(report)),
        ("Tokens and time", lambda: plot_cost(report)),
    ]
    if comparison is not None:
        names = f"A = {label(comparison.a_run)}, B = {label(comparison.b_run)}"
        makers.append((f"Comparison per article ({names})", lambda: plot_comparison(comparison)))
    with matplotlib.rc_context({"text.parse_math": False, "font.size": 9}):
        return [(title, png_base64(make())) for title, make in makers]


# --- HTML --------------------------------------------------------------------------------------------

CSS = """body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;
padding:0 1em;color:#222}h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f3f5f7}td.n{text-align:right;font-variant-numeric:
tabular-nums;white-space:nowrap}tr.failed td{background:#fdecee}tr.better td{background:#eaf6ee}
tr.worse td{background:#fdecee}td.id{font-family:monospace;font-size:12px;word-break:break-all;
min-width:12em}div.t{overflow-x:auto}figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-weight:600}.note{color:#555}"""
NUMERIC = re.compile(r"–|[+\-]?[\d.,:/ %()]+(pts)?")  # numbers, "0.1 / 0.2 / 0.3", "+1.5 pts", "–"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_table(table: Table, classes: Sequence[str] | None) -> str:
    header, rows = table
    out = ["<table><thead><tr>", *(f"<th>{_esc(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for index, row in enumerate(rows):
        cls = f' class="{_esc(classes[index])}"' if classes and classes[index] else ""
        cells = [
            f'<td class="{_cell_class(col, cell, header[0])}">{_esc(cell)}</td>'
            for col, cell in enumerate(row)
        ]
        out.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return "\n".join(['<div class="t">', *out, "</tbody></table></div>"])


def _cell_class(col: int, cell: str, first: str) -> str:
    if col == 0:
        return "id" if first == "id" else ""
    return "n" if NUMERIC.fullmatch(cell) else ""


def to_html(report: EvalReport, comparison: Comparison | None = None) -> str:
    """The report as one self-contained HTML page with its plots."""
    figures = plots(report, comparison)
    body = []
    for kind, content in document(report, comparison):
        if kind in ("h1", "h2", "h3", "p"):
            body.append(f"<{kind}>{_esc(content)}</{kind}>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{_esc(item)}</li>" for item in content) + "</ul>")
        elif kind == "table":
            body.append(_html_table(*content))
        elif kind == "plots":
            for title, data in (figures[i] for i in content):
                body.append(
                    f'<figure><figcaption>{_esc(title)}</figcaption><img alt="{_esc(title)}" '
                    f'src="data:image/png;base64,{data}"></figure>'
                )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f"<title>{_esc('Evaluation: ' + label(report.run))}</title>\n<style>{CSS}</style></head>\n"
        "<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_reports(
    report: EvalReport,
    out_dir: Path,
    comparison: Comparison | None = None,
    *,
    inputs: Sequence[str | Path | None] = (),
) -> dict[str, Path]:
    """Write report.json, report.md and report.html into `out_dir` (created), and comparison.json when
    there is a comparison, each file atomically; none may be one of `inputs` (the command's input files).
    Returns the paths by kind: json, markdown, html (, comparison)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "markdown": out_dir / "report.md",
        "html": out_dir / "report.html",
    }
    if comparison is not None:
        paths["comparison"] = out_dir / "comparison.json"
    refuse_inputs([(f"the {kind} report", path) for kind, path in paths.items()], inputs)
    write_atomic(paths["json"], report.model_dump_json(indent=2) + "\n", what="the report")
    write_atomic(paths["markdown"], to_markdown(report, comparison), what="the report")
    write_atomic(paths["html"], to_html(report, comparison), what="the report")
    if comparison is not None:
        write_atomic(paths["comparison"], comparison.model_dump_json(indent=2) + "\n", what="the report")
    return paths
