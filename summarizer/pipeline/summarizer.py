"""One article through the model: render each task's prompt, run the tasks concurrently, assemble.

`Summarizer` holds one client (and, for the embedded model, one local server) across many articles.
`summarize` and `asummarize` are the one-shot forms.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import time
import warnings
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import openai
from pydantic import BaseModel

from ..core.article import Article, article_from_text
from ..core.errors import ConfigError, EndpointError, LocalModelError, ModelOutputError, SummarizerError
from ..core.schemas import (
    EXTRACTIVE_SUFFIX,
    PROMPT_MODELS,
    REDUCE_PROMPT,
    TASKS,
    ArticleAnalysis,
    MissingPiece,
    TaskName,
    TaskRun,
    Usage,
)
from ..core.segment import Chunk, Sentence, segment
from ..grounding.ground import Grounding
from ..model.budget import chunk_budget, token_counter
from ..model.cache import ResponseCache
from ..model.client import Attempts, call_model
from ..model.local import engine_slots
from ..model.settings import Settings, resolve_settings
from .assemble import ChunkResult, assemble, combine_runs
from .caching import from_cache, request_key, store
from .connection import Connection
from .extractive import EMPTY_VALUES, Extractive, Rails, merge_summaries
from .merge import cited_numbers, merge_events, merge_stances, reduce_notes
from .prompts import PromptPhrases, PromptSet, fence_tag, prompt_phrases, schema_of

T = TypeVar("T")
DEFAULT_MAX_REQUESTS = 16
# What an extractive prompt's candidate lists may add to it (candidates.LIMITS: at most 8 lines of about
# 30 tokens), counted into the chunk budget.
CANDIDATE_TOKENS = 400
STRICT_DEPRECATED = "Summarizer(strict=...) is deprecated: use drop_unknown_names=..."


async def _all(*work: Coroutine[Any, Any, T]) -> list[T]:
    """Like asyncio.gather, but the first failure cancels the rest: a failed article stops its other
    requests instead of leaving them running unawaited."""
    tasks = [asyncio.ensure_future(w) for w in work]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def parse_tasks(tasks: Iterable[str] | str | None) -> tuple[TaskName, ...]:
    """`("summary", "events")` or `"summary,events"`; in the canonical order, without repeats."""
    if tasks is None:
        return TASKS
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown or not names:
        raise ConfigError(f"unknown task(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(TASKS)}")
    return tuple(t for t in TASKS if t in names)


@dataclass(frozen=True)
class PlannedCall:
    """One model call the pipeline will make: what the OpenAI Batch API path submits ahead of time."""

    prompt: str  # the task ("summary"), whichever prompt the rails use for it
    messages: list[dict[str, str]]
    response_model: type[BaseModel]
    cache_key: str
    review: Callable[[BaseModel], list[str]]  # Grounding.review: what a valid answer may still get wrong


@dataclass(frozen=True)
class Segmented:
    """An article cut for the model: its numbered sentences and the chunks they are sent in."""

    sentences: list[Sentence]
    chunks: list[Chunk]


class Summarizer(Connection):
    """Summarise many articles with one client and, for the embedded model, one local server.

    Async: `async with Summarizer() as s: await s.asummarize(text)`.
    Sync: `with Summarizer() as s: s.summarize(text)` (runs a private `asyncio.Runner`).
    `drop_unknown_names=True` drops the stances and events that name someone or somewhere the article does
    not (and counts them); `strict=True` is its old name, deprecated ("strict" is OpenAI's strict mode,
    `Settings.strict_output`). `cache=ResponseCache()` answers repeated calls (same endpoint, model,
    messages, schema, mode and sampling) without the model.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        prompts: PromptSet | None = None,
        client: openai.AsyncOpenAI | None = None,
        http_retries: int = 2,
        drop_unknown_names: bool = False,
        cache: ResponseCache | None = None,
        max_requests: int | None = None,
        tasks_in_order: bool | None = None,
        notice: Callable[[str], None] | None = None,
        strict: bool | None = None,
        **overrides: Any,
    ):
        self.settings = settings or resolve_settings(**overrides)
        self.prompts = prompts or PromptSet.load(self.settings.prompts_dir)
        if strict is not None:
            warnings.warn(STRICT_DEPRECATED, DeprecationWarning, stacklevel=2)
            drop_unknown_names = drop_unknown_names or strict
        self.drop_unknown_names = drop_unknown_names
        self.cache = cache
        # Requests in flight at once, over every article and chunk. The embedded engine serves as many as it
        # has slots: more would only queue there, and time out while queued.
        embedded = self.settings.endpoint == "embedded"
        # The engine plans its threads when it starts (never, when every answer comes from the cache).
        limit = engine_slots() if embedded else DEFAULT_MAX_REQUESTS
        self._requests = asyncio.Semaphore(max_requests or limit)
        # On the embedded engine an article's tasks run in order, and articles run side by side on its
        # slots: evaluating the numbered article once per slot costs more than decoding the tasks' short
        # answers one after another (bench/bench_engine.py). Elsewhere every request goes out at once.
        self._in_order = embedded if tasks_in_order is None else tasks_in_order
        super().__init__(self.settings, client, http_retries, notice)

    @property
    def strict(self) -> bool:
        """The old name of `drop_unknown_names` (deprecated)."""
        return self.drop_unknown_names

    @strict.setter
    def strict(self, value: bool) -> None:
        self.drop_unknown_names = value

    # --- work --------------------------------------------------------------------------------------

    @functools.cached_property
    def _phrases(self) -> PromptPhrases:
        """What a generated field must not copy: this prompt set's templates and the schemas' texts."""
        return prompt_phrases(self.prompts)

    def prompt_name(self, task: str) -> str:
        """The prompt a task uses under these settings' rails: "summary", or "summary_extractive"."""
        extractive = self.settings.extractive and task != REDUCE_PROMPT
        return f"{task}{EXTRACTIVE_SUFFIX}" if extractive else task

    def prompt_versions(self, names: Iterable[str] = TASKS) -> dict[str, str]:
        """The version of the prompt each task uses (under these rails), by task name."""
        return {name: self._version(self.prompt_name(name)) for name in names}

    def _version(self, prompt: str) -> str:
        return self.prompts.version(prompt, schema_of(PROMPT_MODELS[prompt]))

    def segment(self, article: Article, tasks: Iterable[TaskName] = TASKS) -> Segmented:
        """The article's numbered sentences, and the chunks they go to the model in: one chunk unless
        the article is longer than one request may carry, re-asks included."""
        count = token_counter(self.settings)
        names = [self.prompt_name(t) for t in tasks]
        extra = CANDIDATE_TOKENS if self.settings.extractive else 0
        overhead = extra + max(
            count(
                " ".join(
                    m["content"]
                    for m in self.prompts.render(n, text="", title=article.title, extra=EMPTY_VALUES)
                )
            )
            + count(json.dumps(schema_of(PROMPT_MODELS[n])))
            for n in names
        )
        budget = chunk_budget(self.settings, overhead)
        sentences, chunks = segment(article.text, budget, count, article.language)
        return Segmented(sentences, chunks)

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
        cut = self.segment(article, chosen)
        rails = self._rails(article, cut.sentences)
        grounding = rails.grounding
        parts = await _all(
            *(self._analyse_chunk(client, article, rails, chunk, chosen) for chunk in cut.chunks)
        )
        merged = await self._merge(client, article, rails, cut.chunks, list(parts))
        return assemble(
            article,
            merged,
            self.settings,
            sentences=[(s.start, s.end) for s in cut.sentences],
            chunks=len(cut.chunks),
            seconds=time.perf_counter() - started,
            drop_unknown_names=self.drop_unknown_names,
            entity_precision=grounding.entity_precision(merged.summary),
            rails=self.settings.rails_used,
        )

    def summarize(self, article: Article | str, **kwargs: Any) -> ArticleAnalysis:
        """The sync form of `asummarize`, on a private event loop kept across calls."""
        return self.run_sync(self.asummarize(article, **kwargs))

    def plan(self, article: Article, tasks: Iterable[str] | str | None = None) -> list[PlannedCall]:
        """The first-round calls for one article (every chunk and task; not the reduce step, which needs
        their answers). Each carries the article's review: an answer the ordinary path would re-ask is not
        accepted."""
        chosen = parse_tasks(tasks)
        cut = self.segment(article, chosen)
        rails = self._rails(article, cut.sentences)
        calls = []
        for chunk in cut.chunks:
            for name in chosen:
                model = rails.request_model(name, chunk.numbers)
                extra = rails.values(name, chunk.numbers)
                messages = self._messages(self.prompt_name(name), chunk.numbered_text(), article, extra)
                key = self._cache_key(name, messages, model)
                calls.append(PlannedCall(name, messages, model, key, rails.review))
        return calls

    def _rails(self, article: Article, sentences: Sequence[Sentence]) -> Rails:
        grounding = Grounding(
            article,
            sentences,
            copies=self._phrases.matches,
            pick_names=self.settings.names_from_article,
            strict=self.settings.strict_output,
        )
        return Rails(grounding, Extractive(grounding) if self.settings.extractive else None)

    def _reask(self, errors: str) -> str:
        return self.prompts.reask(errors, tools=self._used.mode in ("tools", "tools_strict"))

    def _messages(
        self, name: str, text: str, article: Article, extra: dict[str, str] | None = None
    ) -> list[dict[str, str]]:
        # The fence tag hashes the whole article, not the chunk: every request of one article shares it.
        return self.prompts.render(
            name,
            text=text,
            title=article.title,
            published=article.published,
            tag=fence_tag(article.text),
            extra=extra,
        )

    def _cache_key(self, name: str, messages: list[dict[str, str]], model: type[BaseModel]) -> str:
        return request_key(self.settings, messages, model)

    async def _analyse_chunk(
        self,
        client: openai.AsyncOpenAI,
        article: Article,
        rails: Rails,
        chunk: Chunk,
        tasks: Sequence[TaskName],
    ) -> ChunkResult:
        text = chunk.numbered_text()
        if self._in_order:
            # One permit for the chunk's tasks, one after another: the engine's slot keeps the numbered
            # article from the first task, and the next ones evaluate only their own instructions.
            async with self._requests:
                outputs = [
                    await self._piece(client, t, text, chunk, article, rails, gated=False) for t in tasks
                ]
        else:
            outputs = await _all(*(self._piece(client, t, text, chunk, article, rails) for t in tasks))
        result = ChunkResult(runs={t: run for t, (_, run, _) in zip(tasks, outputs, strict=True)})
        result.missing = [missing for _, _, missing in outputs if missing is not None]
        for output, _, _ in outputs:
            if output is not None:
                rails.ground(output, result)
        return result

    async def _piece(
        self,
        client: openai.AsyncOpenAI,
        name: str,
        text: str,
        chunk: Chunk,
        article: Article,
        rails: Rails,
        *,
        gated: bool = True,
    ) -> tuple[Any, TaskRun, MissingPiece | None]:
        """One task for one chunk. Output that stays invalid after the retries costs this piece only: the
        rest of the article goes on, and the piece is listed as missing. Endpoint errors still end it."""
        try:
            output, run = await self._run_prompt(
                client, name, text, chunk.numbers, article, rails, gated=gated
            )
        except ModelOutputError as exc:
            run = exc.run or TaskRun(
                prompt_version=exc.prompt_version or "", attempts=0, usage=Usage(), seconds=0
            )
            return None, run, MissingPiece(task=name, sentences=chunk.span, error=str(exc))
        return output, run, None

    async def _run_prompt(
        self,
        client: openai.AsyncOpenAI,
        name: str,
        text: str,
        numbers: Sequence[int],
        article: Article,
        rails: Rails,
        *,
        gated: bool = True,
    ) -> tuple[Any, TaskRun]:
        """One model call for one task (or a cache hit), its answer validated against the article."""
        attempts = Attempts()
        response_model = rails.request_model(name, numbers)
        prompt = self.prompt_name(name)
        messages = self._messages(prompt, text, article, rails.values(name, numbers))
        prompt_version = self._version(prompt)
        key = self._cache_key(name, messages, response_model) if self.cache is not None else None
        # A cached answer was the model's last word: validated by the schema alone, as a last attempt is.
        if (
            key is not None
            and self.cache is not None
            and (hit := from_cache(self.cache, key, response_model)) is not None
        ):
            return hit, TaskRun(
                prompt_version=prompt_version, attempts=0, usage=Usage(), seconds=0.0, cached=True
            )
        async with self._requests if gated else contextlib.nullcontext():
            started = time.perf_counter()
            try:
                output = await call_model(
                    client, self._used, response_model, messages, attempts, rails.review, reask=self._reask
                )
            except SummarizerError as exc:
                error = exc
                if isinstance(exc, EndpointError) and (crashed := self._crash()):
                    error = LocalModelError(crashed)
                error.task, error.prompt_version = name, prompt_version
                error.run = _task_run(prompt_version, attempts, started)  # what the failed piece cost
                if error is exc:
                    raise
                raise error from exc
        run = _task_run(prompt_version, attempts, started)
        if key is not None and self.cache is not None:
            store(self.cache, key, output, attempts)
        return output, run

    async def _merge(
        self,
        client: openai.AsyncOpenAI,
        article: Article,
        rails: Rails,
        chunks: Sequence[Chunk],
        parts: list[ChunkResult],
    ) -> ChunkResult:
        """One result: stances and events without duplicates; a long article's chunk summaries reduced by
        the model to one, its key points citing sentences the chunks' key points cited."""
        merged = ChunkResult(runs=combine_runs([p.runs for p in parts]))
        # Any chunk, not the first: a failed chunk 0 must not drop the stances and events of the others.
        if any(p.stances is not None for p in parts):
            merged.stances = merge_stances([p.stances or [] for p in parts])
        if any(p.events is not None for p in parts):
            merged.events = merge_events([p.events or [] for p in parts])
        merged.missing = [m for p in parts for m in p.missing]
        summaries = [(c.span, p.summary) for c, p in zip(chunks, parts, strict=True) if p.summary]
        if len(summaries) == 1:
            merged.summary = summaries[0][1]
        elif summaries and rails.extractive is not None:  # nothing to write: code merges
            merged.summary = merge_summaries([s for _, s in summaries])
        elif summaries:
            numbers = cited_numbers([s for _, s in summaries])
            whole = Chunk(-1, tuple(s for c in chunks for s in c.sentences if s.number in numbers))
            output, merged.runs[REDUCE_PROMPT], missing = await self._piece(
                client, REDUCE_PROMPT, reduce_notes(summaries), whole, article, rails
            )
            if missing is not None:
                merged.missing.append(missing)
            else:
                merged.summary = rails.grounding.summary(output)
        if merged.missing and not any((merged.summary, merged.stances, merged.events)):
            raise ModelOutputError(merged.missing[0].error)  # nothing at all to return
        return merged


def _task_run(prompt_version: str, attempts: Attempts, started: float) -> TaskRun:
    return TaskRun(
        prompt_version=prompt_version,
        attempts=attempts.count,
        usage=attempts.usage,
        seconds=round(time.perf_counter() - started, 3),
    )


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
