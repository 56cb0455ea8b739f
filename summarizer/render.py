"""Output: JSON for programs, Markdown for documents, a rich rendering for the terminal.

Article and model text is hostile until shown otherwise: an escape sequence in a quote could retitle the
terminal, hide lines or fake a prompt, and a newline in a headline could add Markdown of its own. So the
terminal and Markdown forms strip escape sequences and control characters from every piece of text, and
Markdown keeps each piece on its line. JSON needs none of this: it escapes control characters itself.
"""

from __future__ import annotations

import io
import re
from typing import Literal

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from .schemas import ArticleAnalysis, CheckedEvent, CheckedStance, Grounding

Format = Literal["text", "json", "markdown"]

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
_LINE_BREAKS = re.compile(r"\s*\n\s*")
# What makes the start of a Markdown line a block of its own: a heading, quote, list, rule, fence, table.
_BLOCK_START = re.compile(r"[#>*+=\-`~|]|\d+[.)]")


def clean_text(text: str) -> str:
    """`text` without escape sequences and control characters; newlines and tabs kept (CR as newline)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def _md(text: str | None) -> str:
    """A piece of text for Markdown: clean, and on one line, so it cannot start a heading or a list."""
    return _LINE_BREAKS.sub(" ", clean_text(text or "")).strip()


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


def _grounding_label(g: Grounding | None) -> str:
    if g is None:
        return ""
    if g.status == "exact":
        return f"exact [{g.start}:{g.end}]"
    if g.status == "approximate":
        return f"≈{g.score:.0f} [{g.start}:{g.end}]"
    return "ungrounded"


def _when(event: CheckedEvent) -> str:
    r = event.resolved_date
    if r is None:
        return event.date_text or ""
    span = r.start.isoformat() if r.start == r.end else f"{r.start.isoformat()}..{r.end.isoformat()}"
    flags = (
        [r.precision]
        + (["scheduled"] if r.scheduled else [])
        + (["year inferred"] if r.year_inferred else [])
    )
    return f"{event.date_text or ''} → {span} ({', '.join(flags)})".strip()


def _footer(analysis: ArticleAnalysis) -> str:
    m = analysis.metadata
    parts = [
        f"{m.model} ({m.endpoint})",
        f"{m.usage.total_tokens} tokens",
        f"{m.attempts} call(s)",
        f"{m.seconds:.1f} s",
        "prompts " + ", ".join(f"{k}@{v}" for k, v in m.prompt_versions.items()),
    ]
    if (g := analysis.grounding) is not None:
        parts.append(f"quotes: {g.exact} exact, {g.approximate} approximate, {g.ungrounded} ungrounded")
    return " · ".join(parts)


def to_markdown(analysis: ArticleAnalysis) -> str:
    lines: list[str] = []
    if (s := analysis.summary) is not None:
        lines += [f"# {_md(s.headline)}", "", _md_block(s.summary), "", "## Key points", ""]
        lines += [f"- {_md_block(p)}" for p in s.key_points] + [""]
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


def _stance_md(st: CheckedStance) -> str:
    label = _grounding_label(st.grounding)
    evidence = f'\n  > "{_md(st.evidence)}"' + (f" ({label})" if label else "")
    return f"- **{_md(st.actor)}** {st.polarity} **{_md(st.target)}**: {_md(st.position)}{evidence}"


def _event_md(ev: CheckedEvent) -> str:
    who = ", ".join(ev.actors) + (f" → {', '.join(ev.recipients)}" if ev.recipients else "")
    where = f" in {ev.location}" if ev.location else ""
    when = f" ({_when(ev)})" if _when(ev) else ""
    label = _grounding_label(ev.grounding)
    evidence = f'\n  > "{_md(ev.evidence)}"' + (f" ({label})" if label else "")
    return f"- `{ev.event_type.value}` {_md(ev.description)} — {_md(who + where + when)}{evidence}"


def to_terminal(analysis: ArticleAnalysis, console: Console) -> None:
    parts: list[RenderableType] = []
    if (s := analysis.summary) is not None:
        points = "\n".join(f"• {_term(p)}" for p in s.key_points)
        parts.append(
            Panel(f"{_term(s.summary)}\n\n{points}", title=f"[bold]{_term(s.headline)}", expand=True)
        )
    if analysis.stances is not None:
        table = Table(title="Stances", expand=True, show_lines=True)
        for column in ("actor", "polarity", "target", "position", "evidence"):
            table.add_column(column)
        for st in analysis.stances:
            evidence = f"{_term(st.evidence)}\n[dim]{_grounding_label(st.grounding)}"
            table.add_row(_term(st.actor), st.polarity, _term(st.target), _term(st.position), evidence)
        parts.append(table)
    if analysis.events is not None:
        table = Table(title="Events", expand=True, show_lines=True)
        for column in ("type", "what", "who", "where / when", "evidence"):
            table.add_column(column)
        for ev in analysis.events:
            who = ", ".join(ev.actors) + (f" → {', '.join(ev.recipients)}" if ev.recipients else "")
            where_when = "\n".join(x for x in (ev.location or "", _when(ev)) if x)
            evidence = f"{_term(ev.evidence)}\n[dim]{_grounding_label(ev.grounding)}"
            table.add_row(ev.event_type.value, _term(ev.description), _term(who), _term(where_when), evidence)
        parts.append(table)
    console.print(Group(*parts))
    console.print(f"[dim]{_term(_footer(analysis))}")


def render(analysis: ArticleAnalysis, fmt: Format) -> str:
    """JSON or Markdown as a string; the terminal form is printed by `to_terminal`."""
    if fmt == "json":
        return to_json(analysis)
    if fmt == "markdown":
        return to_markdown(analysis)
    console = Console(record=True, width=120, file=io.StringIO())
    to_terminal(analysis, console)
    return console.export_text()
