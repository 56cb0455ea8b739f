"""One article through the model: render each task's prompt, run the tasks concurrently, assemble.

`Summarizer` holds one client (and, for the embedded model, one local server) across many articles.
`summarize` and `asummarize` are the one-shot forms.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import openai

from .article import Article, article_from_text
from .client import Attempts, call_model, make_client
from .errors import ConfigError, SummarizerError
from .local import LocalServer
from .prompts import PromptSet, schema_of
from .schemas import (
    TASK_MODELS,
    TASKS,
    ArticleAnalysis,
    CheckedEvent,
    CheckedStance,
    EventList,
    Metadata,
    StanceList,
    Summary,
    TaskName,
    TaskRun,
    Usage,
)
from .settings import Settings, resolve_settings

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


class Summarizer:
    """Summarise many articles with one client and, for the embedded model, one local server.

    Async: `async with Summarizer() as s: await s.asummarize(text)`.
    Sync: `with Summarizer() as s: s.summarize(text)` (runs a private event loop).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        prompts: PromptSet | None = None,
        client: openai.AsyncOpenAI | None = None,
        http_retries: int = 2,
        notice: Callable[[str], None] | None = None,
        **overrides: Any,
    ):
        self.settings = settings or resolve_settings(**overrides)
        self.prompts = prompts or PromptSet.load(self.settings.prompts_dir)
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

    def prompt_versions(self, tasks: Iterable[TaskName] = TASKS) -> dict[str, str]:
        return {t: self.prompts.version(t, schema_of(TASK_MODELS[t])) for t in tasks}

    async def asummarize(
        self,
        article: Article | str,
        *,
        tasks: Iterable[str] | str | None = None,
        published: dt.date | None = None,
    ) -> ArticleAnalysis:
        """Analyse one article; the chosen tasks run concurrently."""
        chosen = parse_tasks(tasks)
        if isinstance(article, str):
            article = article_from_text(article, published=published)
        client = await self._ensure_client()
        started = time.perf_counter()
        results = await asyncio.gather(*(self._run_task(client, name, article) for name in chosen))
        outputs: dict[str, Any] = {name: output for name, (output, _) in zip(chosen, results, strict=True)}
        runs: dict[str, TaskRun] = {name: run for name, (_, run) in zip(chosen, results, strict=True)}
        return self._assemble(article, outputs, runs, time.perf_counter() - started)

    def summarize(self, article: Article | str, **kwargs: Any) -> ArticleAnalysis:
        """The sync form of `asummarize`, on a private event loop kept across calls."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self.asummarize(article, **kwargs))

    async def _run_task(
        self, client: openai.AsyncOpenAI, name: TaskName, article: Article
    ) -> tuple[Any, TaskRun]:
        response_model = TASK_MODELS[name]
        messages = self.prompts.render(
            name, text=article.text, title=article.title, published=article.published
        )
        prompt_version = self.prompts.version(name, schema_of(response_model))
        attempts = Attempts()
        started = time.perf_counter()
        try:
            output = await call_model(client, self.settings, response_model, messages, attempts)
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

    def _assemble(
        self, article: Article, outputs: dict[str, Any], runs: dict[str, TaskRun], seconds: float
    ) -> ArticleAnalysis:
        summary: Summary | None = outputs.get("summary")
        stance_list: StanceList | None = outputs.get("stances")
        event_list: EventList | None = outputs.get("events")
        metadata = Metadata(
            model=self.settings.model,
            endpoint=self.settings.endpoint,
            mode=self.settings.mode,
            prompt_versions={name: run.prompt_version for name, run in runs.items()},
            tasks=runs,
            usage=sum((run.usage for run in runs.values()), Usage()),
            attempts=sum(run.attempts for run in runs.values()),
            seconds=round(seconds, 3),
            summarizer_version=_package_version(),
        )
        return ArticleAnalysis(
            summary=summary,
            stances=None
            if stance_list is None
            else [CheckedStance(**s.model_dump()) for s in stance_list.stances],
            events=None
            if event_list is None
            else [CheckedEvent(**e.model_dump()) for e in event_list.events],
            article=article.info(),
            metadata=metadata,
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
