"""The routes, over ONE `Summarizer` shared by every request (core.Service).

`create_app(settings, config)` builds the app; `summarizer serve` runs it under uvicorn. The summarizer
starts with the app (the embedded model, when used, starts once here) and stops with it. A summarizer
given to `create_app` is used on the service's engine loop and closed with the app.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ..core.errors import SummarizerError
from ..core.schemas import PROMPT_MODELS, ArticleAnalysis
from ..model.settings import Settings
from ..pipeline.prompts import schema_of
from ..pipeline.summarizer import Summarizer, parse_tasks
from ..render.page import STATIC, page_html
from . import openapi
from .batches import add_batch_routes
from .core import AnalysisRequest, Service, ServiceConfig, article_of
from .guard import BodyLimit, Caller
from .middleware import Gate, RequestContext
from .problems import Problem, documented, from_error, problem_response, request_id

__all__ = ["AnalysisRequest", "ServiceConfig", "create_app"]

log = logging.getLogger("summarizer.service")


def create_app(
    settings: Settings, config: ServiceConfig | None = None, *, summarizer: Summarizer | None = None
) -> FastAPI:
    config = config or ServiceConfig()
    service = Service(settings, config, summarizer)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await service.start()
            if service.jobs is not None:
                await service.jobs.start(service)
            service.offload.start()  # last: it freezes what start-up built out of the collector's way
        except SummarizerError as exc:
            app.state.startup_error = exc
            await service.stop()
            raise
        try:
            yield
        finally:
            service.offload.stop()
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
    # The last added is the outermost: RequestContext sees every answer, CORS headers go on the Gate's too.
    app.add_middleware(BodyLimit, max_body=config.limits.max_body)
    app.add_middleware(Gate, guard=service.guard, cors_origins=config.cors_origins)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(RequestContext, observe=service.metrics.observe_request)
    _error_handlers(app)

    @app.post(
        "/v1/analyses",
        # Documents the answer; the route returns a Response, which FastAPI sends as it is.
        response_model=ArticleAnalysis,
        tags=["analyses"],
        responses=documented(400, 413, 415, 422, 429, 502, 503, 504),
        operation_id="create_analysis",
    )
    async def analyses(body: AnalysisRequest, who: Caller) -> Response:
        """Analyse one article: returns the same ArticleAnalysis JSON as `summarizer summarize -f json`."""
        tasks = parse_tasks(body.tasks or None)  # "" or []: the default tasks
        # HTML extraction is CPU-bound: a large page's in a worker process (offload.py).
        article = await service.offload.run(len(body.text or body.html or ""), article_of, body)
        service.spend.check_request(article.text, len(tasks))
        service.spend.check_key(who)
        service.guard.admit(who)
        try:
            analysis = await service.analyse(who, article, tasks, body.strict)
        finally:
            service.guard.release(who)
        # pydantic's own serializer: the same JSON as model_dump(mode="json"), without a dict in between.
        return Response(analysis.model_dump_json(), media_type="application/json")

    @app.get("/v1/schema", tags=["about"], operation_id="get_schema", responses=documented())
    async def schema(who: Caller) -> dict[str, Any]:
        """The JSON Schema of an analysis."""
        return ArticleAnalysis.model_json_schema()

    @app.get("/v1/prompts", tags=["about"], operation_id="get_prompts", responses=documented())
    async def prompts(who: Caller) -> dict[str, Any]:
        """The prompts and their versions (a version changes with the template or the schema it fills)."""
        s = service.pick(who)
        names = [n for n in s.prompts.names() if n in PROMPT_MODELS]
        return {
            "prompts": [
                {"name": n, "version": s.prompts.version(n, schema_of(PROMPT_MODELS[n]))} for n in names
            ]
        }

    @app.get("/healthz", tags=["probes"], operation_id="healthz")
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["probes"], operation_id="readyz", responses={503: documented(503)[503]})
    async def readyz() -> dict[str, str]:
        """The model endpoint answers (checked at most every 5 s)."""
        if (reason := await service.ready()) is not None:
            raise Problem(503, reason, kind="endpoint-unavailable", headers={"Retry-After": "5"})
        return {"status": "ready", "model": settings.model, "endpoint": settings.endpoint}

    @app.get("/metrics", tags=["probes"], operation_id="metrics", responses=documented())
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
    openapi.install(app, keyed=bool(config.keys))
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
    handler(SummarizerError, _error_problem)
    handler(RequestValidationError, _validation_problem)
    handler(StarletteHTTPException, _http_problem)


def _http_problem(request: Request, exc: StarletteHTTPException) -> Problem:
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names the methods of the first route that matched the path only (GET, not DELETE).
        allowed: set[str] = set()
        for route in request.app.routes:
            if route.matches(request.scope)[0] != Match.NONE:
                allowed |= getattr(route, "methods", None) or set()
        headers["Allow"] = ", ".join(sorted(allowed))
    return Problem(exc.status_code, str(exc.detail), headers=headers)


def _error_problem(request: Request, exc: SummarizerError) -> Problem:
    problem = from_error(exc)
    if problem.detail != str(exc) or problem.status >= 500:
        # The caller's copy hides URLs and paths; the operator's has them, under the request's id.
        log.warning("request %s: %s", request_id.get(), exc)
    return problem


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
