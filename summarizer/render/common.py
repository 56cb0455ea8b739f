"""What every output form shares: the formats, cleaning hostile text, the pieces of an item (its citations,
quotes, flags, date, footer), and JSON.

Article and model text is hostile until shown otherwise: an escape sequence in a quote could retitle the
terminal, hide lines or fake a prompt, and a newline in a headline could add Markdown of its own. So the
terminal and Markdown forms strip escape sequences and control characters from every piece of text, and
Markdown keeps each piece on its line. JSON needs none of this: it escapes control characters itself.
"""

from __future__ import annotations

import re
from typing import Literal

from ..core.schemas import ArticleAnalysis, CheckedEvent, Citation, FieldCheck

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


def clean_text(text: str) -> str:
    """`text` without escape sequences and control characters; newlines and tabs kept (CR as newline)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


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
