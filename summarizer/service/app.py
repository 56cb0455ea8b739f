"""The routes, over ONE `Summarizer` shared by every request (one client, one embedded server, one cache).

`create_app(settings, config)` builds the app; `summarizer serve` runs it under uvicorn. The summarizer
starts with the app (the embedded model, when used, starts once here) and stops with it.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..article import MAX_BYTES, Article, article_from_html, article_from_text
from ..cache import ResponseCache
from ..errors import SummarizerError
from ..pipeline import Summarizer, parse_tasks
from ..pricing import Price, load_prices
from ..prompts import schema_of
from ..schemas import PROMPT_MODELS, ArticleAnalysis
from ..settings import Settings
from .guard import AccessLog, BodyLimit, Caller, Guard, Limits
from .metrics import Metrics
from .page import STATIC, page_html
from .problems import Problem, documented, from_error, problem_response

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


class AnalysisRequest(BaseModel):
    """One article: `text` or `html` (a saved page), with what the caller knows about it."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, description="The article as plain text.")
    html: str | None = Field(default=None, description="The article as a saved HTML page.")
    title: str | None = Field(default=None, max_length=1000)
    published: dt.date | None = Field(default=None, description="Publication date, YYYY-MM-DD.")
    language: str | None = Field(default=None, max_length=35)
    tasks: list[str] | str | None = Field(default=None, description="Default: summary, stances, events.")
    strict: bool = Field(default=False, description="Drop the items the article does not support.")


def article_of(request: AnalysisRequest) -> Article:
    """The same checks as the CLI's (empty, binary, too large), with messages naming the field."""
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
    # `source` only named the field in error messages; the caller's own metadata wins over the page's.
    return dataclasses.replace(
        article,
        source=None,
        title=request.title or article.title,
        language=request.language or article.language,
    )


class Service:
    """What the routes share: the summarizer (and its strict twin), the guard, metrics, the config."""

    def __init__(self, settings: Settings, config: ServiceConfig, summarizer: Summarizer | None = None):
        self.settings, self.config = settings, config
        self.guard = Guard(config.keys, config.limits)
        self.metrics = Metrics()
        self.prices = config.prices if config.prices is not None else load_prices()
        self._given = summarizer
        self.summarizer: Summarizer | None = None
        self.strict_twin: Summarizer | None = None
        self.jobs: Any = None  # jobs.JobRunner, when batches are enabled
        self._ready: tuple[float, str | None] = (0.0, "not checked yet")

    async def start(self) -> None:
        cache = ResponseCache() if self.config.cache else None
        s = self._given or Summarizer(self.settings, cache=cache, notice=log.warning)
        # Start the client (and the embedded model) now, once, rather than inside the first request.
        await s._ensure_client()
        self.summarizer = s
        # `strict` is a per-request choice but a Summarizer attribute: a shallow copy shares the client,
        # the request semaphore and the cache, and differs only in it. Only the original is ever closed.
        self.strict_twin = copy.copy(s)
        self.strict_twin.strict = True

    async def stop(self) -> None:
        if self.summarizer is not None and self._given is None:
            await self.summarizer.aclose()
        self.summarizer = None

    def pick(self, strict: bool) -> Summarizer:
        chosen = self.strict_twin if strict else self.summarizer
        if chosen is None:
            raise Problem(503, "the service is starting or stopping", kind="unavailable")
        return chosen

    async def analyse(self, article: Article, tasks: Any, strict: bool) -> ArticleAnalysis:
        summarizer = self.pick(strict)
        try:
            async with asyncio.timeout(self.config.request_timeout):
                analysis = await summarizer.asummarize(article, tasks=tasks)
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
        return analysis

    async def ready(self) -> str | None:
        """None when the model endpoint answers, else why not. Checked at most every 5 s: a probe that
        polls often should not turn into load on the endpoint."""
        checked, reason = self._ready
        if time.monotonic() - checked < 5:
            return reason
        reason = None
        try:
            client = await self.pick(False)._ensure_client()
            await client.with_options(timeout=5, max_retries=0).models.list()
        except openai.APIStatusError:
            pass  # it answered: a server without /models (many compatible ones) is still up
        except (openai.APIConnectionError, SummarizerError) as exc:
            reason = f"the model endpoint does not answer: {type(exc).__name__}"
        self._ready = (time.monotonic(), reason)
        return reason


def create_app(
    settings: Settings, config: ServiceConfig | None = None, *, summarizer: Summarizer | None = None
) -> FastAPI:
    config = config or ServiceConfig()
    service = Service(settings, config, summarizer)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await service.start()
        except SummarizerError as exc:
            app.state.startup_error = exc
            raise
        if service.jobs is not None:
            await service.jobs.start(service.pick(False))
        try:
            yield
        finally:
            if service.jobs is not None:
                await service.jobs.stop()
            await service.stop()

    app = FastAPI(
        title="summarizer",
        summary="Structured, checkable summaries of news articles: summary, actor stances and events.",
        lifespan=lifespan,
        docs_url=None,  # served below, from files of our own rather than a CDN
    )
    app.state.service = service
    app.state.startup_error = None
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimit, max_body=config.limits.max_body)
    app.add_middleware(AccessLog, observe=service.metrics.observe_request)
    _error_handlers(app)

    @app.post(
        "/v1/analyses",
        # Documents the answer; the route returns a Response, which FastAPI sends as it is.
        response_model=ArticleAnalysis,
        tags=["analyses"],
        responses=documented(400, 413, 415, 422, 429, 502, 503, 504),
    )
    async def analyses(body: AnalysisRequest, who: Caller) -> Response:
        """Analyse one article: returns the same ArticleAnalysis JSON as `summarizer summarize -f json`."""
        tasks = parse_tasks(body.tasks)
        article = article_of(body)
        service.guard.admit(who)
        try:
            analysis = await service.analyse(article, tasks, body.strict)
        finally:
            service.guard.release(who)
        # pydantic's own serializer: the same JSON as model_dump(mode="json"), without a dict in between.
        return Response(analysis.model_dump_json(), media_type="application/json")

    @app.get("/v1/schema", tags=["about"])
    async def schema(who: Caller) -> dict[str, Any]:
        """The JSON Schema of an analysis."""
        return ArticleAnalysis.model_json_schema()

    @app.get("/v1/prompts", tags=["about"])
    async def prompts(who: Caller) -> dict[str, Any]:
        """The prompts and their versions (a version changes with the template or the schema it fills)."""
        s = service.pick(False)
        names = [n for n in s.prompts.names() if n in PROMPT_MODELS]
        return {
            "prompts": [
                {"name": n, "version": s.prompts.version(n, schema_of(PROMPT_MODELS[n]))} for n in names
            ]
        }

    @app.get("/healthz", tags=["probes"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["probes"])
    async def readyz() -> dict[str, str]:
        """The model endpoint answers (checked at most every 5 s)."""
        if (reason := await service.ready()) is not None:
            raise Problem(503, reason, kind="endpoint-unavailable", headers={"Retry-After": "5"})
        return {"status": "ready", "model": settings.model, "endpoint": settings.endpoint}

    @app.get("/metrics", tags=["probes"])
    async def metrics(who: Caller) -> Response:
        """Prometheus text format."""
        return Response(service.metrics.text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(page_html(), headers=_PAGE_HEADERS)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in STATIC:
            raise Problem(404, f"no static file {name!r}", kind="not-found")
        media, data = STATIC[name]
        return Response(data, media_type=media, headers={"Cache-Control": "no-cache"})

    _add_docs(app)
    from .jobs import add_batch_routes

    add_batch_routes(app, service)
    return app


# The page runs only its own script and talks only to this origin.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _add_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the files of the swagger-ui-py package (Swagger UI 5, which reads the
    OpenAPI 3.1 FastAPI writes), not from a CDN: it works offline and fetches nothing from elsewhere."""
    from importlib import resources

    files = resources.files("swagger_ui") / "static"
    assets = {
        "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
        "swagger-ui.css": "text/css; charset=utf-8",
    }

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title}: API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    @app.get("/static/swagger/{name}", include_in_schema=False)
    async def swagger_asset(name: str) -> Response:
        if name not in assets:
            raise Problem(404, f"no static file {name!r}", kind="not-found")
        return Response(
            (files / name).read_bytes(), media_type=assets[name], headers={"Cache-Control": "max-age=86400"}
        )


def _error_handlers(app: FastAPI) -> None:
    def handler(kind: type[Exception], to_problem: Callable[[Request, Any], Problem]) -> None:
        async def handle(request: Request, exc: Exception) -> Response:
            return problem_response(to_problem(request, exc))

        app.add_exception_handler(kind, handle)

    handler(Problem, lambda request, exc: exc)
    handler(SummarizerError, lambda request, exc: from_error(exc))
    handler(RequestValidationError, _validation_problem)
    handler(
        StarletteHTTPException,
        lambda request, exc: Problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {})),
    )


def _validation_problem(request: Request, exc: RequestValidationError) -> Problem:
    # FastAPI parses the body before it runs the key check: a caller without a valid key learns nothing
    # about the body, only that the key is missing.
    if request.url.path.startswith("/v1/"):
        try:
            request.app.state.service.guard.identify(request.headers.get("authorization"))
        except Problem as problem:
            return problem
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and "json" not in content_type:
        return Problem(
            415,
            f'send the article as JSON (Content-Type: application/json), e.g. {{"text": "..."}}; '
            f"got {content_type or 'no Content-Type'}",
            kind="unsupported-media-type",
        )
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return Problem(400, f"the body is not valid JSON: {first.get('ctx', {}).get('error', 'parse error')}")
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return Problem(422, f"{where}: {first.get('msg', 'invalid')}{more}", kind="bad-request")
