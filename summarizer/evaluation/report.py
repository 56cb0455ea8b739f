"""Evaluation reports: report.json (the `EvalReport`, which loads back), report.md and report.html.

The HTML page is one self-contained file: inline CSS, plots as base64 PNG drawn by matplotlib (Agg, no
pyplot state), no script, no external reference, and a Content-Security-Policy that forbids loading
anything. Every string that comes from an article or a model (ids, headlines, errors) is escaped; in
Markdown too, since Markdown viewers render raw HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.files import refuse_inputs, write_atomic
from .compare import Comparison
from .evaluate import ROUGE_TYPES, ArticleScore, EvalReport
from .plots import ROUGE_NAMES, label, plots

METRICS = {  # overall metrics shown besides ROUGE, in order, with their labels
    "articles": "articles",
    "with_output": "with output",
    "schema_failures": "schema failures (no valid output)",
    "items": "items (stances and events)",
    "items_cited_share": "items citing a sentence",
    "citations": "citations (key points, stances, events)",
    "evidence_equal_share": "citations equal to the article at their offsets",
    "citations_misplaced": "citations whose offsets are not their sentence's",
    "fields": "fields the model wrote",
    "prompt_copies": "fields copying prompt or schema text",
    "articles_with_prompt_copies": "articles with a field copying prompt or schema text",
    "html_entities": "fields with an HTML entity",
    "articles_with_html_entities": "articles with an HTML entity in a field",
    "duplicates": "duplicate items (near or exact)",
    "exact_duplicates": "exact duplicate items",
    "articles_with_duplicates": "articles with a duplicate",
    "names": "actor, target, recipient and location names",
    "names_found_share": "names found in the article",
    "entity_precision_mean": "entity precision of the summary (mean per article)",
    "checked_fields": "text fields with a support check",
    "flagged_fields": "flagged fields",
    "flagged_share": "flagged fields (share)",
    "extractive_fields": "fields copied from the article (extractive rails; not in the support scores)",
    **{
        f"support_{k}": f"support score of written fields: {k}"
        for k in ("min", "q1", "median", "q3", "max", "mean")
    },
    "events": "events",
    "events_dated": "events with a date in their sentences",
    "resolved_share_dated": "dates resolved (of dated events)",
    "resolved_share_all": "dates resolved (of all events)",
    "attempts": "model attempts",
    "retries": "re-asks (attempts beyond the first per call)",
    "tokens": "tokens (sum)",
    "tokens_median": "tokens (median per article)",
    "seconds": "seconds (sum)",
    "seconds_median": "seconds (median per article)",
}


def fmt(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _percent(key):
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        return f"{value:.1f}" if key.startswith(("seconds", "tokens")) else f"{value:.3f}"
    return str(value)


def fmt_delta(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if _percent(key):
        return f"{100 * value:+.1f} pts"
    if isinstance(value, float):
        return f"{value:+.1f}" if key.startswith(("seconds", "tokens")) else f"{value:+.3f}"
    return f"{value:+d}"


def _percent(key: str) -> bool:
    return "_share" in key or key.startswith("entity_precision")


# --- the document, rendered as Markdown or HTML ----------------------------------------------------

Table = tuple[list[str], list[list[str]]]
# ("h1" | "h2" | "h3" | "p", text), ("table", (Table, row classes)), ("list", items), ("plots", indices)
Block = tuple[str, Any]
ARTICLE_HEADER = ["id", "headline (or FAILED: error)", "ROUGE 1/2/L", "lead-3 1/2/L"]
ARTICLE_HEADER += ["evidence equal / citations", "items cited / items", "names found / names"]
ARTICLE_HEADER += ["entity precision", "flagged / checked fields", "prompt copies, entities, duplicates"]
ARTICLE_HEADER += ["events: dated/resolved", "attempts (re-asks)", "tokens", "seconds"]


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _triple(scores: dict[str, float] | None) -> str:
    return "–" if scores is None else "/".join(f"{scores[r]:.3f}" for r in ROUGE_TYPES)


def _article_row(s: ArticleScore) -> list[str]:
    headline = (s.headline or "") if s.ok else f"FAILED: {s.error}"
    checks = [
        f"{s.citations_equal}/{s.citations}",
        f"{s.items_cited}/{s.items}",
        f"{s.names_found}/{s.names}",
        fmt("entity_precision", s.entity_precision),
        f"{s.flagged_fields}/{s.checked_fields}",
        f"{len(s.prompt_copies)}, {len(s.html_entities)}, {s.duplicates}",
        f"{s.events}: {s.events_dated}/{s.events_resolved}",
    ]
    scores = [_triple(s.rouge), _triple(s.lead3_rouge), *checks]
    return [s.id, headline, *scores, f"{s.attempts} ({s.retries})", str(s.tokens), f"{s.seconds:.1f}"]


def _field_lists(report: EvalReport) -> list[Block]:
    """The fields copied from the prompt and those with an HTML entity, by article: what to look at."""
    blocks: list[Block] = []
    for title, key in (
        ("Fields copying prompt or schema text", "prompt_copies"),
        ("HTML entities", "html_entities"),
    ):
        found = [f"{s.id}: {field}" for s in report.articles for field in getattr(s, key)]
        blocks += [("h3", f"{title} ({len(found)})"), ("list", found or ["none"])]
    return blocks


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
        *_field_lists(report),
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
