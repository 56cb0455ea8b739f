"""`summarizer serve`: the HTTP service under uvicorn. Registered on the main app in cli.py."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import ConfigError
from . import interrupts
from .common import (
    ApiKeyEnvOpt,
    BaseUrlOpt,
    MaxRetriesOpt,
    ModelOpt,
    ModeOpt,
    NoCacheOpt,
    PromptsDirOpt,
    RailsOpt,
    app,
    cli_errors,
    cli_settings,
    err,
)

GRACEFUL_SECONDS = 30


@app.command()
@cli_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on. Beyond loopback, keys are required.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    keys_file: Annotated[
        Path | None,
        typer.Option(
            help="API keys, one a line (# comments). Also: SUMMARIZER_SERVER_KEYS, comma-separated."
        ),
    ] = None,
    max_body: Annotated[
        int, typer.Option(min=1, help="Largest request body in bytes (413 above).")
    ] = 2_000_000,
    rate_limit: Annotated[
        int, typer.Option(min=1, help="Analyses and batches a minute, per key (429 above).")
    ] = 120,
    max_concurrent: Annotated[int, typer.Option(min=1, help="Requests in flight at once, per key.")] = 8,
    request_timeout: Annotated[
        float, typer.Option(min=1, help="Seconds one analysis may take, re-asks included (504 after).")
    ] = 600.0,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(help="Allow browser calls from this origin (repeatable). Default: none."),
    ] = None,
    jobs_db: Annotated[
        Path | None, typer.Option(help="SQLite file of batch jobs. Default: in the user's data directory.")
    ] = None,
    batch_concurrency: Annotated[int, typer.Option(min=1, help="Batch articles in flight at once.")] = 4,
    running_jobs: Annotated[
        int, typer.Option(min=1, help="Batch jobs run at once, each of another key (fair between keys).")
    ] = 2,
    max_jobs_per_key: Annotated[int, typer.Option(min=1, help="Queued or running jobs per key (429).")] = 20,
    max_articles_per_key: Annotated[
        int, typer.Option(min=1, help="Articles waiting in one key's jobs (429 above).")
    ] = 10_000,
    read_timeout: Annotated[
        float,
        typer.Option(
            min=0.1, help="Seconds a client may take to send its request headers, or pause in its body."
        ),
    ] = 10.0,
    keep_alive: Annotated[
        int, typer.Option(min=1, help="Seconds an idle kept-alive connection is held.")
    ] = 5,
    max_request_tokens: Annotated[
        int, typer.Option(min=0, help="Tokens one analysis may be estimated to use (413 above; 0: no bound).")
    ] = 200_000,
    max_key_tokens_per_day: Annotated[
        int, typer.Option(min=0, help="Tokens one key may use a UTC day (429 above; 0: no bound).")
    ] = 5_000_000,
    keep_days: Annotated[
        float,
        typer.Option(min=0, help="Finished jobs and cache entries older than this are removed (0: kept)."),
    ] = 30.0,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    mode: ModeOpt = None,
    max_retries: MaxRetriesOpt = None,
    rails: RailsOpt = None,
    no_cache: NoCacheOpt = False,
    prompts_dir: PromptsDirOpt = None,
) -> None:
    """Run the summariser as an HTTP service: POST /v1/analyses, batch jobs, metrics, and an evidence page
    at /. Stops on Ctrl-C or SIGTERM after the requests in flight finish (30 s at most)."""
    try:
        import uvicorn

        from ..service import server as service_server
        from ..service.app import ServiceConfig, create_app
        from ..service.budget import Budget
        from ..service.guard import Limits, check_exposure, load_keys
    except ImportError as exc:
        raise ConfigError(
            f"serve needs the 'serve' extra: pip install 'summarizer[serve]' ({exc.name})"
        ) from None

    keys = load_keys(keys_file)
    check_exposure(host, keys)
    settings = cli_settings(model, base_url, mode, max_retries, prompts_dir, api_key_env, rails)
    config = ServiceConfig(
        keys=keys,
        limits=Limits(max_body=max_body, per_minute=rate_limit, concurrent=max_concurrent),
        cors_origins=tuple(cors_origin or ()),
        request_timeout=request_timeout,
        cache=not no_cache,
        jobs_db=jobs_db,
        batch_concurrency=batch_concurrency,
        running_jobs=running_jobs,
        max_jobs_per_key=max_jobs_per_key,
        max_articles_per_key=max_articles_per_key,
        budget=Budget(max_request_tokens, max_key_tokens_per_day, keep_days),
    )
    # Our access log (no keys, no article text, no query values) replaces uvicorn's.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("instructor").setLevel(logging.CRITICAL)
    for noisy in ("httpx", "httpx2"):  # one line per model call: not an access log
        logging.getLogger(noisy).setLevel(logging.WARNING)
    exposure = f"{len(keys)} API key(s)" if keys else "no API keys (loopback only)"
    err.print(
        f"summarizer: serving {settings.model} ({settings.endpoint}) on http://{host}:{port} with {exposure}"
    )
    service_app = create_app(settings, config)
    # A start-up failure (the embedded model would not start) is our one-line error, not uvicorn's traceback.
    logging.getLogger("uvicorn.error").addFilter(lambda record: service_app.state.startup_error is None)
    server = uvicorn.Server(
        service_server.config(
            service_app,
            host,
            port,
            read_timeout=read_timeout,
            keep_alive=keep_alive,
            graceful=GRACEFUL_SECONDS,
        )
    )
    # The interrupt watchdog (interrupts.py) would end the process 1.5 s after SIGTERM: give the requests in
    # flight uvicorn's drain time, and the embedded model its stop, first.
    interrupts.set_exit_deadline(GRACEFUL_SECONDS + 10)
    server.run()
    if service_app.state.startup_error is not None:
        raise service_app.state.startup_error
    if not server.started:
        raise ConfigError(f"the server could not start on {host}:{port} (see the message above)")
