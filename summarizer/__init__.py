"""summarizer: structured, checkable summaries of news articles.

from summarizer import summarize
analysis = summarize(open("article.txt").read())
print(analysis.summary.headline)
"""

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
    Event,
    EventType,
    Citation,
    EventDate,
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
    "ConfigError",
    "EndpointError",
    "Event",
    "EventType",
    "Citation",
    "EventDate",
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
