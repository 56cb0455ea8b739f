"""One article through the model: render each task's prompt, run the tasks concurrently, assemble.

`Summarizer` holds one client (and, for the embedded model, one local server) across many articles.
`summarize` and `asummarize` are the one-shot forms.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import openai

from .article import Article, article_from_text
from .chunking import Chunk, chunk_budget, merge_events, merge_stances, split_text, token_counter
from .client import Attempts, call_model, make_client
from .dates import resolve_date
from .errors import ConfigError, SummarizerError
from .evidence import QuoteCheck, count_grounding, locate_quote, shift
from .local import LocalServer
from .prompts import PromptSet, schema_of
from .schemas import (
    PROMPT_MODELS,
    REDUCE_PROMPT,
    TASKS,
    ArticleAnalysis,
    CheckedEvent,
    CheckedStance,
    EventList,
    GroundingCounts,
    Metadata,
    StanceList,
    Summary,
    TaskName,
    TaskRun,
    Usage,
)
from .settings import Settings, resolve_settings

DEFAULT_MAX_REQUESTS = 16
EMBEDDED_NOTICE = (
    "summarizer: using the embedded {model}, a small offline model: expect rough output. "
    "For a capable model set OPENAI_API_KEY, or pass --base-url and --model for another server."
)


def _package_version() -> str:
    try:
        return version("summarizer")
    except PackageNotFoundError:
        return "0+unknown"


def parse_tasks(tasks: Iterable[str] | str | None) -> tuple[TaskName, ...]:
    """`("summary", "events")` or `"summary,events"`; in the canonical order, without repeats."""
    if tasks is None:
        return TASKS
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown or not names:
        raise ConfigError(f"unknown task(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(TASKS)}")
    return tuple(t for t in TASKS if t in names)


@dataclass
class ChunkResult:
    """The checked output of every task for one chunk of the article."""

    summary: Summary | None = None
    stances: list[CheckedStance] | None = None
    events: list[CheckedEvent] | None = None
    runs: dict[str, TaskRun] = field(default_factory=dict)


class Summarizer:
    """Summarise many articles with one client and, for the embedded model, one local server.

    Async: `async with Summarizer() as s: await s.asummarize(text)`.
    Sync: `with Summarizer() as s: s.summarize(text)` (runs a private event loop).
    `strict=True` drops the stances and events whose quote is not in the article (and counts them).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        prompts: PromptSet | None = None,
        client: openai.AsyncOpenAI | None = None,
        http_retries: int = 2,
        strict: bool = False,
        max_requests: int | None = None,
        notice: Callable[[str], None] | None = None,
        **overrides: Any,
    ):
        self.settings = settings or resolve_settings(**overrides)
        self.prompts = prompts or PromptSet.load(self.settings.prompts_dir)
        self.strict = strict
        # Requests in flight at once, over every article and chunk. The embedded server answers one at a
        # time: more would only queue there, and time out while queued.
        embedded = self.settings.endpoint == "embedded"
        self._requests = asyncio.Semaphore(max_requests or (1 if embedded else DEFAULT_MAX_REQUESTS))
        self._client = client
        self._http_retries = http_retries
        self._notice = notice or (lambda message: print(message, file=sys.stderr))
        self._server: LocalServer | None = None
        self._start_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    async def _ensure_client(self) -> openai.AsyncOpenAI:
        async with self._start_lock:
            if self._client is None:
                settings = self.settings
                if settings.endpoint == "embedded":
                    self._notice(EMBEDDED_NOTICE.format(model=settings.model))
                    self._server = LocalServer()
                    await asyncio.to_thread(self._server.start)
                    settings = settings.with_overrides(base_url=self._server.base_url)
                self._client = make_client(settings, http_retries=self._http_retries)
            return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    async def __aenter__(self) -> Summarizer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> Summarizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._loop is not None:
            self._loop.run_until_complete(self.aclose())
            self._loop.close()
            self._loop = None
        elif self._server is not None:
            self._server.stop()
            self._server = None

    # --- work --------------------------------------------------------------------------------------

    def prompt_versions(self, names: Iterable[str] = TASKS) -> dict[str, str]:
        return {name: self.prompts.version(name, schema_of(PROMPT_MODELS[name])) for name in names}

    def chunks(self, article: Article, tasks: Iterable[TaskName] = TASKS) -> list[Chunk]:
        """The parts the article is analysed in: one, unless it is longer than the model's context allows."""
        count = token_counter(self.settings)
        overhead = max(
            count(" ".join(m["content"] for m in self.prompts.render(t, text="", title=article.title)))
            + count(json.dumps(schema_of(PROMPT_MODELS[t])))
            for t in tasks
        )
        return split_text(article.text, chunk_budget(self.settings, overhead), count)

    async def asummarize(
        self,
        article: Article | str,
        *,
        tasks: Iterable[str] | str | None = None,
        published: dt.date | None = None,
    ) -> ArticleAnalysis:
        """Analyse one article: every chunk's tasks run concurrently, then the chunks are merged."""
        chosen = parse_tasks(tasks)
        if isinstance(article, str):
            article = article_from_text(article, published=published)
        client = await self._ensure_client()
        started = time.perf_counter()
        chunks = self.chunks(article, chosen)
        parts = await asyncio.gather(
            *(self._analyse_chunk(client, article, chunk, chosen) for chunk in chunks)
        )
        merged = await self._merge(client, article, list(parts))
        return self._assemble(article, merged, len(chunks), time.perf_counter() - started)

    def summarize(self, article: Article | str, **kwargs: Any) -> ArticleAnalysis:
        """The sync form of `asummarize`, on a private event loop kept across calls."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self.asummarize(article, **kwargs))

    async def _analyse_chunk(
        self, client: openai.AsyncOpenAI, article: Article, chunk: Chunk, tasks: Sequence[TaskName]
    ) -> ChunkResult:
        outputs = await asyncio.gather(*(self._run_prompt(client, t, chunk.text, article) for t in tasks))
        result = ChunkResult(runs={t: run for t, (_, run) in zip(tasks, outputs, strict=True)})
        for output, _ in outputs:
            if isinstance(output, Summary):
                result.summary = output
            elif isinstance(output, StanceList):
                result.stances = [
                    CheckedStance(
                        **s.model_dump(), grounding=shift(locate_quote(s.evidence, chunk.text), chunk.start)
                    )
                    for s in output.stances
                ]
            elif isinstance(output, EventList):
                result.events = [self._check_event(e.model_dump(), chunk, article) for e in output.events]
        return result

    def _check_event(self, event: dict[str, Any], chunk: Chunk, article: Article) -> CheckedEvent:
        return CheckedEvent(
            **event,
            grounding=shift(locate_quote(event["evidence"], chunk.text), chunk.start),
            resolved_date=resolve_date(
                event["date_text"], article.published, article_text=article.text, language=article.language
            ),
        )

    async def _run_prompt(
        self, client: openai.AsyncOpenAI, name: str, text: str, article: Article
    ) -> tuple[Any, TaskRun]:
        """One model call for one prompt, quotes checked against `text`, with its cost and version."""
        response_model = PROMPT_MODELS[name]
        messages = self.prompts.render(name, text=text, title=article.title, published=article.published)
        prompt_version = self.prompts.version(name, schema_of(response_model))
        attempts = Attempts()
        check = QuoteCheck(text, is_last_attempt=lambda: attempts.count > self.settings.max_retries)
        async with self._requests:
            started = time.perf_counter()
            try:
                output = await call_model(
                    client, self.settings, response_model, messages, attempts, context={"check_quote": check}
                )
            except SummarizerError as exc:
                exc.task, exc.prompt_version = name, prompt_version
                raise
        run = TaskRun(
            prompt_version=prompt_version,
            attempts=attempts.count,
            usage=attempts.usage,
            seconds=round(time.perf_counter() - started, 3),
        )
        return output, run

    async def _merge(
        self, client: openai.AsyncOpenAI, article: Article, parts: list[ChunkResult]
    ) -> ChunkResult:
        """One result: the chunk summaries reduced by the model, stances and events de-duplicated."""
        if len(parts) == 1:
            return parts[0]
        merged = ChunkResult(runs=_combine_runs([p.runs for p in parts]))
        if parts[0].stances is not None:
            merged.stances = merge_stances([p.stances or [] for p in parts])
        if parts[0].events is not None:
            merged.events = merge_events([p.events or [] for p in parts])
        if parts[0].summary is not None:
            notes = "\n\n".join(_summary_notes(i, p.summary) for i, p in enumerate(parts, 1) if p.summary)
            merged.summary, merged.runs[REDUCE_PROMPT] = await self._run_prompt(
                client, REDUCE_PROMPT, notes, article
            )
        return merged

    def _assemble(
        self, article: Article, result: ChunkResult, chunks: int, seconds: float
    ) -> ArticleAnalysis:
        stances, events = result.stances, result.events
        counts: GroundingCounts | None = None
        if stances is not None or events is not None:
            items: list[CheckedStance | CheckedEvent] = [*(stances or []), *(events or [])]
            counts = count_grounding(item.grounding for item in items)
            if self.strict:
                keep_stances = None if stances is None else [s for s in stances if _grounded(s)]
                keep_events = None if events is None else [e for e in events if _grounded(e)]
                counts.dropped = len(items) - len(keep_stances or []) - len(keep_events or [])
                stances, events = keep_stances, keep_events
        runs = result.runs
        metadata = Metadata(
            model=self.settings.model,
            endpoint=self.settings.endpoint,
            mode=self.settings.mode,
            prompt_versions={name: run.prompt_version for name, run in runs.items()},
            tasks=runs,
            usage=sum((run.usage for run in runs.values()), Usage()),
            attempts=sum(run.attempts for run in runs.values()),
            seconds=round(seconds, 3),
            chunks=chunks,
            summarizer_version=_package_version(),
        )
        return ArticleAnalysis(
            summary=result.summary,
            stances=stances,
            events=events,
            grounding=counts,
            article=article.info(),
            metadata=metadata,
        )


def _grounded(item: CheckedStance | CheckedEvent) -> bool:
    """Its quote, or the quote of a duplicate merged into it from another chunk, is in the article."""
    groundings = [item.grounding, *(e.grounding for e in item.more_evidence)]
    return any(g is None or g.status != "ungrounded" for g in groundings)


def _summary_notes(index: int, summary: Summary) -> str:
    points = " ".join(summary.key_points)
    return f"Part {index}: {summary.headline}. {summary.summary} {points}"


def _combine_runs(per_chunk: list[dict[str, TaskRun]]) -> dict[str, TaskRun]:
    """A task's cost over all chunks: attempts and tokens summed; time is the slowest chunk's, as they
    run concurrently."""
    combined: dict[str, TaskRun] = {}
    for runs in per_chunk:
        for name, run in runs.items():
            seen = combined.get(name)
            combined[name] = (
                run
                if seen is None
                else TaskRun(
                    prompt_version=run.prompt_version,
                    attempts=seen.attempts + run.attempts,
                    usage=seen.usage + run.usage,
                    seconds=max(seen.seconds, run.seconds),
                )
            )
    return combined


async def asummarize(
    article: Article | str,
    *,
    tasks: Sequence[str] | str | None = None,
    published: dt.date | None = None,
    settings: Settings | None = None,
    **overrides: Any,
) -> ArticleAnalysis:
    """Analyse one article. `overrides` are settings: model, base_url, api_key, mode, max_retries, ..."""
    async with Summarizer(settings, **overrides) as summarizer:
        return await summarizer.asummarize(article, tasks=tasks, published=published)


def summarize(
    article: Article | str,
    *,
    tasks: Sequence[str] | str | None = None,
    published: dt.date | None = None,
    settings: Settings | None = None,
    **overrides: Any,
) -> ArticleAnalysis:
    """Analyse one article (sync). Inside a running event loop, use `asummarize`."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(
            asummarize(article, tasks=tasks, published=published, settings=settings, **overrides)
        )
    raise RuntimeError("summarize() was called inside a running event loop: use `await asummarize(...)`")
