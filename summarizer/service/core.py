"""What the routes share: ONE `Summarizer` (one client, one embedded server, one cache) run on the engine
loop (engine.py), seen by each key through a twin of its own, plus the guard, the metrics and the config."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..core.article import MAX_BYTES, Article, article_from_html, article_from_text
from ..core.errors import SummarizerError
from ..core.schemas import ArticleAnalysis
from ..model.cache import CachedResponse, ResponseCache
from ..model.pricing import Price, load_prices
from ..model.settings import Settings
from ..pipeline.summarizer import TASKS, Summarizer
from .budget import Budget, Spend
from .engine import Engine
from .guard import Guard, Limits
from .metrics import Metrics
from .offload import Offload, default_mode
from .problems import Problem

if TYPE_CHECKING:
    from .jobs import JobRunner

log = logging.getLogger("summarizer.service")


@dataclass
class ServiceConfig:
    """How the service is exposed. `keys` are SHA-256 digests (see `guard.load_keys`)."""

    keys: frozenset[str] = frozenset()
    limits: Limits = field(default_factory=Limits)
    cors_origins: tuple[str, ...] = ()
    request_timeout: float = 600.0  # one analysis, every chunk and re-ask included: then 504
    cache: bool = True
    jobs_db: Path | None = None  # None: the user's data directory
    batch_concurrency: int = 4
    prices: dict[str, Price] | None = None
    max_jobs_per_key: int = 20  # queued or running batch jobs of one key (429 above)
    max_articles_per_key: int = 10_000  # articles waiting in one key's jobs (429 above)
    running_jobs: int = 2  # jobs run at once, each of another key (a large job does not block the rest)
    budget: Budget = field(default_factory=Budget)
    offload: str = field(default_factory=default_mode)  # large bodies: "process" (offload.py) or "thread"


# What `tasks` may name, as the OpenAPI document says it (the server's own message names a wrong one);
# empty means the default.
TASKS_PARAM: dict[str, Any] = {
    "type": "string",
    "pattern": f"^(({'|'.join(TASKS)})(,({'|'.join(TASKS)}))*)?$",
}


class AnalysisRequest(BaseModel):
    """One article: `text` or `html` (a saved page), with what the caller knows about it."""

    # One of `text` and `html` is needed (checked in `article_of`, with a message naming the field): said
    # here for the OpenAPI document. Inside `allOf`: a generator reads a `oneOf` beside `properties` as a
    # union of the two branches and drops the other fields (openapi-python-client made `text`-only and
    # `html`-only models, without title, tasks or strict).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [
                {
                    "oneOf": [
                        {
                            "required": ["text"],
                            "properties": {"text": {"type": "string"}, "html": {"type": "null"}},
                        },
                        {
                            "required": ["html"],
                            "properties": {"html": {"type": "string"}, "text": {"type": "null"}},
                        },
                    ]
                }
            ]
        },
    )

    text: str | None = Field(
        default=None,
        description="The article as plain text. Send `text` or `html`.",
        json_schema_extra={"minLength": 1},
    )
    html: str | None = Field(
        default=None, description="The article as a saved HTML page.", json_schema_extra={"minLength": 1}
    )
    title: str | None = Field(default=None, max_length=1000)
    published: dt.date | None = Field(default=None, description="Publication date, YYYY-MM-DD.")
    language: str | None = Field(default=None, max_length=35)
    tasks: list[str] | str | None = Field(
        default=None,
        description="Default: summary, stances, events.",
        json_schema_extra={
            "anyOf": [{"type": "array", "items": {"enum": list(TASKS)}}, TASKS_PARAM, {"type": "null"}]
        },
    )
    strict: bool = Field(default=False, description="Drop the items the article does not support.")

    @field_validator("published", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        # Only what the document says: pydantic's lax dates would take numbers and timestamps too.
        if value is not None and not (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
            raise ValueError("a date as YYYY-MM-DD")
        return value


def article_of(request: AnalysisRequest) -> Article:
    """The same checks as the CLI's (empty, binary, too large), with messages naming the field. CPU-bound
    for a large HTML page: called off the server's loop."""
    if (request.text is None) == (request.html is None):
        raise Problem(
            422, "send exactly one of 'text' (plain text) or 'html' (a saved page)", kind="bad-request"
        )
    field_name, value = ("text", request.text) if request.text is not None else ("html", request.html)
    assert value is not None
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise Problem(
            413, f"{field_name}: too large: {size:,} bytes (the limit is {MAX_BYTES:,})", kind="too-large"
        )
    read = article_from_text if field_name == "text" else article_from_html
    article = read(value, source=field_name, published=request.published)
    if not any(ch.isalnum() for ch in article.text):
        # Nothing to cite: the pipeline would find no sentence (and fail on a model that cites one anyway).
        raise Problem(400, f"{field_name}: has no words", kind="bad-input")
    # `source` only named the field in error messages; the caller's own metadata wins over the page's.
    return dataclasses.replace(
        article,
        source=None,
        title=request.title or article.title,
        language=request.language or article.language,
    )


class ScopedCache:
    """One key's view of the shared response cache: its entries are its own. A hit on another key's entry
    would tell this key (through `metadata.tasks.*.cached`, or the time taken) that someone sent the same
    article before."""

    def __init__(self, cache: ResponseCache, scope: str):
        self.cache, self.scope = cache, scope

    def _key(self, key: str) -> str:
        return hashlib.sha256(f"{self.scope}\0{key}".encode()).hexdigest()

    def get(self, key: str) -> CachedResponse | None:
        return self.cache.get(self._key(key))

    def put(self, key: str, value: CachedResponse) -> None:
        self.cache.put(self._key(key), value)


class Service:
    def __init__(self, settings: Settings, config: ServiceConfig, summarizer: Summarizer | None = None):
        self.settings, self.config = settings, config
        self.guard = Guard(config.keys, config.limits)
        self.metrics = Metrics()
        self.spend = Spend(config.budget)
        self.prices = config.prices if config.prices is not None else load_prices()
        self.engine = Engine()
        self.offload = Offload(config.offload)
        self._given = summarizer
        self.summarizer: Summarizer | None = None
        self._twins: dict[tuple[str, bool], Summarizer] = {}
        self.jobs: JobRunner | None = None  # when batches are enabled
        self._ready: tuple[float, str | None] = (0.0, "not checked yet")

    async def start(self) -> None:
        self.engine.start()
        cache = ResponseCache() if self.config.cache else None
        s = self._given or Summarizer(self.settings, cache=cache, notice=log.warning)
        # Start the client (and the embedded model) now, once, on the engine loop where it will be used.
        await self.engine.run(s._ensure_client())
        self.summarizer = s

    async def stop(self) -> None:
        # The client lives on the engine loop: it is closed there, a given summarizer's too.
        if self.summarizer is not None:
            await self.engine.run(self.summarizer.aclose())
        self.summarizer = None
        self._twins.clear()
        await asyncio.to_thread(self.engine.stop)

    def pick(self, owner: str, strict: bool = False) -> Summarizer:
        """The summarizer as `owner` sees it. `strict` and the cache are Summarizer attributes: a shallow
        copy shares the client, the request semaphore and the cache's storage, and differs only in them.
        Only the original is ever closed."""
        if self.summarizer is None:
            raise Problem(503, "the service is starting or stopping", kind="unavailable")
        twin = self._twins.get((owner, strict))
        if twin is None:
            twin = copy.copy(self.summarizer)
            twin.strict = strict
            if self.summarizer.cache is not None:
                base = self.summarizer.cache
                twin.cache = ScopedCache(base.cache if isinstance(base, ScopedCache) else base, owner)  # type: ignore[assignment]
            self._twins[(owner, strict)] = twin
        return twin

    async def analyse(self, owner: str, article: Article, tasks: Any, strict: bool) -> ArticleAnalysis:
        summarizer = self.pick(owner, strict)
        try:
            async with asyncio.timeout(self.config.request_timeout):
                analysis = await self.engine.run(summarizer.asummarize(article, tasks=tasks))
        except TimeoutError:
            self.metrics.articles.labels("failed").inc()
            raise Problem(
                504,
                f"the analysis took longer than {self.config.request_timeout:.0f} s: "
                "the model endpoint is slow or overloaded",
                kind="endpoint-timeout",
            ) from None
        except SummarizerError:
            self.metrics.articles.labels("failed").inc()
            raise
        self.metrics.observe_analysis(analysis, self.prices)
        self.spend.spend(
            owner, analysis.metadata.usage.prompt_tokens + analysis.metadata.usage.completion_tokens
        )
        return analysis

    async def ready(self) -> str | None:
        """None when the service can do its work, else why not. The model endpoint is checked at most every
        5 s: a probe that polls often should not turn into load on the endpoint."""
        if not self.engine.alive:
            return "the engine thread has stopped"
        if self.jobs is not None and (dead := self.jobs.dead()) is not None:
            return dead
        checked, reason = self._ready
        if time.monotonic() - checked < 5:
            return reason
        reason = None
        summarizer = self.pick("")

        async def probe() -> None:
            client = await summarizer._ensure_client()
            await client.with_options(timeout=5, max_retries=0).models.list()

        try:
            await self.engine.run(probe())
        except openai.APIStatusError:
            pass  # it answered: a server without /models (many compatible ones) is still up
        except (openai.APIConnectionError, SummarizerError) as exc:
            reason = f"the model endpoint does not answer: {type(exc).__name__}"
        self._ready = (time.monotonic(), reason)
        return reason
