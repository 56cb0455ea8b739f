"""Markdown for documents: each piece of text cleaned, kept on its line, its HTML and brackets escaped."""

from __future__ import annotations

import html
import re

from ..core.schemas import ArticleAnalysis, CheckedEvent, CheckedStance, Citation, FieldCheck
from .common import _cites, _flag, _footer, _names_flag, _when, clean_text

# Starts only where a run of white space starts: tried from each space of a long run, it was quadratic.
_LINE_BREAKS = re.compile(r"(?<!\s)\s*\n\s*")
# What makes the start of a Markdown line a block of its own: a heading, quote, list, rule, fence, table.
_BLOCK_START = re.compile(r"[#>*+=\-`~|]|\d+[.)]")


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
