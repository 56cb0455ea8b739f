"""The terminal: a rich rendering, every piece of text cleaned and its markup escaped."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from ..core.schemas import ArticleAnalysis
from .common import _cites, _flag, _footer, _names_flag, _quote, _when, clean_text


def _term(text: str | None) -> str:
    """A piece of text for the terminal: clean, and rich markup escaped."""
    return escape(clean_text(text or ""))


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
