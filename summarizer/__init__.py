"""summarizer: structured, checkable summaries of news articles.

from summarizer import summarize
analysis = summarize(open("article.txt").read())
print(analysis.summary.headline)
"""

from typing import TYPE_CHECKING

from . import _moved

_moved.install()  # the flat layout's module paths (summarizer.client, ...) still import, for one release

# The names below are imported when first used (PEP 562), not with the package: the `summarizer` command
# imports this package first, and loading pydantic, openai and the rest takes about a second, during which
# a Ctrl-C must already get a clean exit (summarizer/entry.py).
_LAZY = {
    "Article": "core.article",
    "read_article": "core.article",
    "ResponseCache": "model.cache",
    "ConfigError": "core.errors",
    "EndpointError": "core.errors",
    "InputError": "core.errors",
    "LocalModelError": "core.errors",
    "ModelOutputError": "core.errors",
    "PartialResultError": "core.errors",
    "SummarizerError": "core.errors",
    "Summarizer": "pipeline.summarizer",
    "asummarize": "pipeline.summarizer",
    "summarize": "pipeline.summarizer",
    "ArticleAnalysis": "core.schemas",
    "CheckedEvent": "core.schemas",
    "CheckedStance": "core.schemas",
    "Event": "core.schemas",
    "EventType": "core.schemas",
    "Citation": "core.schemas",
    "EventDate": "core.schemas",
    "FieldCheck": "core.schemas",
    "Metadata": "core.schemas",
    "ResolvedDate": "core.schemas",
    "Stance": "core.schemas",
    "Summary": "core.schemas",
    "Usage": "core.schemas",
    "Settings": "model.settings",
    "resolve_settings": "model.settings",
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
    from .core.article import Article, read_article
    from .core.errors import (
        ConfigError,
        EndpointError,
        InputError,
        LocalModelError,
        ModelOutputError,
        PartialResultError,
        SummarizerError,
    )
    from .core.schemas import (
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
    from .model.cache import ResponseCache
    from .model.settings import Settings, resolve_settings
    from .pipeline.summarizer import Summarizer, asummarize, summarize

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
    "PartialResultError",
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
