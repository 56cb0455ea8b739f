"""The evidence page: one template and a small script, no build step, nothing fetched from elsewhere.

`GET /` serves the page with its script and style as separate files of this app (so the page can run under
a strict Content-Security-Policy); `render_html(analysis)` inlines them with the analysis, for one
self-contained file (`summarizer summarize --format html`).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import jinja2

_FILES = resources.files(__package__) / "static"


@functools.cache
def _read(name: str) -> str:
    return (_FILES / name).read_text(encoding="utf-8")


_MEDIA = {"page.js": "text/javascript; charset=utf-8", "page.css": "text/css; charset=utf-8"}
STATIC: dict[str, tuple[str, bytes]] = {
    name: (media, _read(name).encode("utf-8")) for name, media in _MEDIA.items()
}


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_read("page.html"))


def _script_json(value: Any) -> str:
    # Inside <script type="application/json">, "</script>" or "<!--" in an article would end or bend the
    # element: every "<" becomes its JSON escape, which JSON.parse reads back unchanged.
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


def page_html() -> str:
    """The page as the service serves it: it asks the service for analyses."""
    return _template().render(inline=False, analysis_json=None, css="", js="")


def render_html(analysis_json: dict[str, Any]) -> str:
    """One analysis (`ArticleAnalysis.model_dump(mode="json")`) as a self-contained HTML file: the same
    view as the service's page, with nothing to fetch."""
    return _template().render(
        inline=True,
        analysis_json=jinja2.utils.markupsafe.Markup(_script_json(analysis_json)),
        css=jinja2.utils.markupsafe.Markup(_read("page.css")),
        js=jinja2.utils.markupsafe.Markup(_read("page.js").replace("</", "<\\/")),
    )
