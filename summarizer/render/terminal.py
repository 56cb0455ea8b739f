"""Output: JSON for programs, Markdown for documents, a rich rendering for the terminal, and one
self-contained HTML file with the article and its cited sentences highlighted (the service's evidence page).

Article and model text is hostile until shown otherwise: an escape sequence in a quote could retitle the
terminal, hide lines or fake a prompt, and a newline in a headline could add Markdown of its own. So the
terminal and Markdown forms strip escape sequences and control characters from every piece of text, and
Markdown keeps each piece on its line. JSON needs none of this: it escapes control characters itself.
"""

from __future__ import annotations

import html
import io
import re
from typing import Literal

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from ..core.schemas import ArticleAnalysis, CheckedEvent, CheckedStance, Citation, FieldCheck

Format = Literal["text", "json", "markdown", "html"]

# ESC sequences whole (CSI `ESC [ ... final`, OSC/DCS/SOS/PM/APC strings up to BEL or ST, two-character
# escapes; and their one-character C1 forms), so that no parameters are left behind as visible junk.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -~]?"
)
# C0 but tab and newline, DEL, C1; and the bidi embeddings, overrides and isolates, which reorder what is
# shown (the marks U+200E/U+200F stay: right-to-left text needs them).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Starts only where a run of white space starts: tried from each space of a long run, it was quadratic.
_LINE_BREAKS = re.compile(r"(?<!\s)\s*\n\s*")
# What makes the start of a Markdown line a block of its own: a heading, quote, list, rule, fence, table.
_BLOCK_START = re.compile(r"[#>*+=\-`~|]|\d+[.)]")


def clean_text(text: str) -> str:
    """`text` without escape sequences and control characters; newlines and tabs kept (CR as newline)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def _md(text: str | None) -> str:
    """A piece of text for Markdown: clean, and on one line, so it cannot start a heading or a list. Raw
    HTML is escaped, as the eval report does (Markdown viewers render it: "<script>", "<img onerror>"),
    and so are brackets, so that no link or image ("[x](javascript:...)") is made from article text."""
    line = html.escape(_LINE_BREAKS.sub(" ", clean_text(text or "")).strip(), quote=False)
    # The backslash first: else "\\[" in the text would become an escaped backslash and a bare bracket.
    return line.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _md_block(text: str | None) -> str:
    """`_md` for text that starts a Markdown line or list item: a leading marker is escaped, so that a
    summary beginning with "# " stays a paragraph."""
    line = _md(text)
    if (start := _BLOCK_START.match(line)) is not None:
        return line[: start.end() - 1] + "\\" + line[start.end() - 1 :]
    return line


def _term(text: str | None) -> str:
    """A piece of text for the terminal: clean, and rich markup escaped."""
    return escape(clean_text(text or ""))


def to_json(analysis: ArticleAnalysis) -> str:
    return analysis.model_dump_json(indent=2)


def _cites(evidence: list[Citation]) -> str:
    return ", ".join(f"[{c.sentence}]" for c in evidence)


def _quote(evidence: list[Citation]) -> str:
    """The cited sentences, numbered, as one line each (cut to 300 characters)."""
    return "\n".join(
        f"[{c.sentence}] {c.text if len(c.text) <= 300 else c.text[:299] + '…'}" for c in evidence
    )


def _flag(check: FieldCheck) -> str:
    if not check.flagged:
        return ""
    missing = list(dict.fromkeys([*check.unsupported_entities, *check.unsupported_words]))[:6]
    return " ⚠ unsupported" + (f": {', '.join(missing)}" if missing else "")


def _when(event: CheckedEvent) -> str:
    if event.date is None:
        return ""
    r = event.date.resolved
    if r is None:
        return f"{event.date.text} (unresolved)"
    span = r.start.isoformat() if r.start == r.end else f"{r.start.isoformat()}..{r.end.isoformat()}"
    flags = (
        [r.precision]
        + (["scheduled"] if r.scheduled else [])
        + (["year inferred"] if r.year_inferred else [])
    )
    return f"{event.date.text} → {span} ({', '.join(flags)})"


def _names_flag(unknown: list[str]) -> str:
    return f" ⚠ not in the article: {', '.join(unknown)}" if unknown else ""


def _footer(analysis: ArticleAnalysis) -> str:
    m = analysis.metadata
    parts = [
        f"{m.model} ({m.endpoint})",
        f"{m.usage.total_tokens} tokens",
        f"{m.attempts} call(s)",
        f"{m.seconds:.1f} s",
        "prompts " + ", ".join(f"{k}@{v}" for k, v in m.prompt_versions.items()),
    ]
    if (c := analysis.checks) is not None:
        parts.append(f"{c.items} items, {c.unknown_names} naming someone not in the article")
        parts.append(f"{c.flagged_fields} field(s) flagged")
    return " · ".join(parts)


def to_markdown(analysis: ArticleAnalysis) -> str:
    lines: list[str] = []
    if (s := analysis.summary) is not None:
        head, summ = s.checks.get("headline", FieldCheck()), s.checks.get("summary", FieldCheck())
        lines += [
            f"# {_md(s.headline)}{_flag(head)}",
            "",
            _md_block(s.summary) + _flag(summ),
            "",
            "## Key points",
            "",
        ]
        lines += [f"- {_md_block(p.text)} {_cites(p.evidence)}{_flag(p.check)}" for p in s.key_points] + [""]
    if analysis.stances is not None:
        lines += ["## Stances", ""]
        lines += [_stance_md(st) for st in analysis.stances] or ["_None found._"]
        lines.append("")
    if analysis.events is not None:
        lines += ["## Events", ""]
        lines += [_event_md(ev) for ev in analysis.events] or ["_None found._"]
        lines.append("")
    lines += ["---", f"_{_md(_footer(analysis))}_", ""]
    return "\n".join(lines)


def _evidence_md(evidence: list[Citation]) -> str:
    return "".join(f"\n  > [{c.sentence}] {_md(c.text)}" for c in evidence)


def _stance_md(st: CheckedStance) -> str:
    head = f"- **{_md(st.actor)}** {st.polarity} **{_md(st.target)}**: {_md(st.position)}"
    return head + _md(_flag(st.check) + _names_flag(st.unknown_names)) + _evidence_md(st.evidence)


def _event_md(ev: CheckedEvent) -> str:
    who = ", ".join(ev.actors) + (f" → {', '.join(ev.recipients)}" if ev.recipients else "")
    where = f" in {ev.location}" if ev.location else ""
    when = f" ({_when(ev)})" if _when(ev) else ""
    flags = _md(_flag(ev.check) + _names_flag(ev.unknown_names))
    head = f"- `{ev.event_type.value}` {_md(ev.description)} — {_md(who + where + when)}{flags}"
    return head + _evidence_md(ev.evidence)


def to_terminal(analysis: ArticleAnalysis, console: Console) -> None:
    parts: list[RenderableType] = []
    if (s := analysis.summary) is not None:
        points = "\n".join(
            f"• {_term(p.text)} [dim]{_cites(p.evidence)}{_term(_flag(p.check))}" for p in s.key_points
        )
        parts.append(
            Panel(f"{_term(s.summary)}\n\n{points}", title=f"[bold]{_term(s.headline)}", expand=True)
        )
    if analysis.stances is not None:
        table = Table(title="Stances", expand=True, show_lines=True)
        for column in ("actor", "polarity", "target", "position", "evidence"):
            table.add_column(column)
        for st in analysis.stances:
            position = (
                _term(st.position) + f"[yellow]{_term(_flag(st.check) + _names_flag(st.unknown_names))}"
            )
            table.add_row(
                _term(st.actor), st.polarity, _term(st.target), position, _term(_quote(st.evidence))
            )
        parts.append(table)
    if analysis.events is not None:
        table = Table(title="Events", expand=True, show_lines=True)
        for column in ("type", "what", "who", "where / when", "evidence"):
            table.add_column(column)
        for ev in analysis.events:
            who = ", ".join(ev.actors) + (f" → {', '.join(ev.recipients)}" if ev.recipients else "")
            where_when = "\n".join(x for x in (ev.location or "", _when(ev)) if x)
            what = _term(ev.description) + f"[yellow]{_term(_flag(ev.check) + _names_flag(ev.unknown_names))}"
            table.add_row(
                ev.event_type.value, what, _term(who), _term(where_when), _term(_quote(ev.evidence))
            )
        parts.append(table)
    console.print(Group(*parts))
    console.print(f"[dim]{_term(_footer(analysis))}")


def render(analysis: ArticleAnalysis, fmt: Format) -> str:
    """JSON, Markdown or HTML as a string; the terminal form is printed by `to_terminal`."""
    if fmt == "json":
        return to_json(analysis)
    if fmt == "html":
        # The service's page with the analysis, script and style inlined: nothing to fetch. Its script puts
        # text into the page as text, never as markup, so no cleaning is needed here.
        from .page import render_html

        return render_html(analysis.model_dump(mode="json"))
    if fmt == "markdown":
        return to_markdown(analysis)
    console = Console(record=True, width=120, file=io.StringIO())
    to_terminal(analysis, console)
    return console.export_text()
