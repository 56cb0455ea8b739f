"""One analysis as a string in any of the formats (the terminal form is printed by `terminal.to_terminal`):
JSON for programs, Markdown for documents, one self-contained HTML file with the article and its cited
sentences highlighted (the service's evidence page, page.py)."""

from __future__ import annotations

import io

from rich.console import Console

from ..core.schemas import ArticleAnalysis
from .common import Format, to_json
from .markdown import to_markdown
from .terminal import to_terminal


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
