"""summarizer: structured, checkable summaries of news articles.

from summarizer import summarize
analysis = summarize(open("article.txt").read())
print(analysis.summary.headline)
"""

from typing import TYPE_CHECKING

# The names below are imported when first used (PEP 562), not with the package: the `summarizer` command
# imports this package first, and loading pydantic, openai and the rest takes about a second, during which
# a Ctrl-C must already get a clean exit (summarizer/entry.py).
_LAZY = {
    "Article": "article",
    "read_article": "article",
    "ResponseCache": "cache",
    "ConfigError": "errors",
    "EndpointError": "errors",
    "InputError": "errors",
    "LocalModelError": "errors",
    "ModelOutputError": "errors",
    "SummarizerError": "errors",
    "Summarizer": "pipeline",
    "asummarize": "pipeline",
    "summarize": "pipeline",
    "ArticleAnalysis": "schemas",
    "CheckedEvent": "schemas",
    "CheckedStance": "schemas",
    "Event": "schemas",
    "EventType": "schemas",
    "Citation": "schemas",
    "EventDate": "schemas",
    "FieldCheck": "schemas",
    "Metadata": "schemas",
    "ResolvedDate": "schemas",
    "Stance": "schemas",
    "Summary": "schemas",
    "Usage": "schemas",
    "Settings": "settings",
    "resolve_settings": "settings",
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'summarizer' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value  # once: later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


if TYPE_CHECKING:  # what type checkers and editors see
    from .article import Article, read_article
    from .cache import ResponseCache
    from .errors import (
        ConfigError,
        EndpointError,
        InputError,
        LocalModelError,
        ModelOutputError,
        SummarizerError,
    )
    from .pipeline import Summarizer, asummarize, summarize
    from .schemas import (
        ArticleAnalysis,
        CheckedEvent,
        CheckedStance,
        Citation,
        Event,
        EventDate,
        EventType,
        FieldCheck,
        Metadata,
        ResolvedDate,
        Stance,
        Summary,
        Usage,
    )
    from .settings import Settings, resolve_settings

__all__ = [
    "Article",
    "ArticleAnalysis",
    "CheckedEvent",
    "CheckedStance",
    "Citation",
    "ConfigError",
    "EndpointError",
    "Event",
    "EventDate",
    "EventType",
    "FieldCheck",
    "InputError",
    "LocalModelError",
    "Metadata",
    "ModelOutputError",
    "ResolvedDate",
    "ResponseCache",
    "Settings",
    "Stance",
    "Summarizer",
    "SummarizerError",
    "Summary",
    "Usage",
    "asummarize",
    "read_article",
    "resolve_settings",
    "summarize",
]
