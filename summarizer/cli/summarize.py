"""`summarizer summarize` (one article) and `summarizer schema`."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..core.article import read_article
from ..core.errors import PartialResultError
from ..core.schemas import TASK_MODELS, ArticleAnalysis
from ..model.cache import ResponseCache
from ..pipeline.summarizer import Summarizer, parse_tasks
from ..render.formats import Format, render
from ..render.terminal import to_terminal
from .common import (
    ApiKeyEnvOpt,
    BaseUrlOpt,
    DropUnknownNamesOpt,
    MaxRetriesOpt,
    ModelOpt,
    ModeOpt,
    NoCacheOpt,
    PromptsDirOpt,
    RailsOpt,
    StrictAliasOpt,
    TasksOpt,
    _parse_date,
    app,
    cli_errors,
    cli_settings,
    drop_unknown_names,
    err,
    write_output,
)


@app.command()
@cli_errors
def summarize(
    path: Annotated[str, typer.Argument(help="The article: a text or HTML file, or - for stdin.")],
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-f",
            help="text, json, markdown or html (one self-contained file showing the article with its "
            "cited sentences highlighted). Default: text on a terminal, else json.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    tasks: TasksOpt = "summary,stances,events",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    mode: ModeOpt = None,
    max_retries: MaxRetriesOpt = None,
    published: Annotated[str | None, typer.Option(help="Publication date, YYYY-MM-DD.")] = None,
    rails: RailsOpt = None,
    drop_names: DropUnknownNamesOpt = False,
    strict: StrictAliasOpt = False,
    require_complete: Annotated[
        bool,
        typer.Option(
            "--require-complete",
            help="All or nothing: if a piece of the article fails, write nothing and exit 6.",
        ),
    ] = False,
    no_cache: NoCacheOpt = False,
    prompts_dir: PromptsDirOpt = None,
) -> None:
    """Summarise one article: headline, summary, key points, stances and events.

    The model cites the article's numbered sentences; the evidence (text and offsets) is copied from the
    article by code, names are checked against it, and dates are found and resolved by code against the
    publication date (--published, or the HTML page's). Long articles are split into chunks of whole
    sentences; if a piece fails, the rest is still written and the exit code is 6."""
    chosen = parse_tasks(tasks)
    settings = cli_settings(model, base_url, mode, max_retries, prompts_dir, api_key_env, rails)
    article = read_article(path, published=_parse_date(published))
    cache = None if no_cache else ResponseCache()
    # A spinner on a terminal only: the embedded model takes a minute or more per article.
    status = f"summarising with {settings.model}: {len(chosen)} task(s)"
    spinner = err.status(status, spinner="dots") if err.is_terminal else contextlib.nullcontext()
    with (
        Summarizer(
            settings, drop_unknown_names=drop_unknown_names(drop_names, strict), cache=cache
        ) as summarizer,
        spinner,
    ):
        analysis = summarizer.summarize(article, tasks=chosen)
    if analysis.checks is not None and analysis.checks.dropped:
        err.print(
            f"--drop-unknown-names: dropped {analysis.checks.dropped} item(s) naming someone not in the "
            "article"
        )
    if not analysis.complete:
        missing = "; ".join(f"{m.task} for {m.sentences}" for m in analysis.missing)
        if require_complete:
            message = f"partial result, nothing written (--require-complete): {missing} failed"
            raise PartialResultError(message)
        err.print(f"partial result: {missing} failed ({analysis.missing[0].error}); the rest is written")
    fmt = fmt or ("text" if output is None and sys.stdout.isatty() else "json")
    if fmt == "text" and output is None:
        to_terminal(analysis, Console())
    else:
        write_output(render(analysis, fmt), output, protect=None if path == "-" else Path(path))
    if not analysis.complete:
        raise typer.Exit(PartialResultError.exit_code)


@app.command()
@cli_errors
def schema(
    task: Annotated[str | None, typer.Option(help="Only what the model fills for this task.")] = None,
) -> None:
    """Print the JSON Schema of the output (or of one task's model request)."""
    model = ArticleAnalysis if task is None else TASK_MODELS[parse_tasks(task)[0]]
    sys.stdout.write(json.dumps(model.model_json_schema(), indent=2) + "\n")
