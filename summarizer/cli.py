"""The command line: a thin layer over the Python API.

Exit codes: 0 success, 1 unexpected failure (or stale cassettes, for `prompts check`), 2 bad input or
settings, 3 endpoint unreachable or refusing (key, model, rate limit), 4 model output invalid after the
retries, 5 some articles of a batch failed (listed in the failures file), 6 a partial result (some pieces of
a long article failed; the rest is written), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, ParamSpec

import typer
from rich.console import Console
from rich.markup import escape

from .article import read_article
from .cache import ResponseCache
from .errors import ConfigError, PartialResultError, SummarizerError
from .files import same_file, write_atomic
from .pipeline import Summarizer, parse_tasks
from .prompts import PromptSet, fence_tag, schema_of
from .render import Format, render, to_terminal
from .schemas import EXTRACTIVE_SUFFIX, PROMPT_MODELS, TASK_MODELS, ArticleAnalysis
from .segment import split_sentences
from .settings import Settings, resolve_settings

app = typer.Typer(
    help="Structured, checkable summaries of news articles: summary, actor stances and events.\n\n"
    "With nothing configured it runs a small embedded offline model. Set OPENAI_API_KEY for OpenAI, or "
    "--base-url and --model for any OpenAI-compatible server (Ollama, vLLM, LM Studio, llama.cpp).\n\n"
    "Exit codes: 0 ok, 1 unexpected failure or stale cassettes (prompts check), 2 bad input or settings, "
    "3 endpoint error, 4 invalid model output, 5 some articles of a batch failed, 6 partial result (some "
    "pieces failed, the rest is written), 130 interrupted.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
prompts_app = typer.Typer(help="List and show the prompt templates.", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")
P = ParamSpec("P")

err = Console(stderr=True)
# instructor logs each failed attempt at ERROR; the CLI reports failures itself, in one line.
logging.getLogger("instructor").addHandler(logging.NullHandler())
logging.getLogger("instructor").propagate = False

ModelOpt = Annotated[str | None, typer.Option(help="Model name. Env: SUMMARIZER_MODEL.")]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1. Env: OPENAI_BASE_URL."),
]
ApiKeyEnvOpt = Annotated[
    str | None,
    typer.Option(
        help="The environment variable holding the key for --base-url (default SUMMARIZER_API_KEY; "
        "OPENAI_API_KEY goes only to OpenAI and to OPENAI_BASE_URL)."
    ),
]
PromptsDirOpt = Annotated[
    Path | None, typer.Option(help="A directory of prompt templates. Env: SUMMARIZER_PROMPTS_DIR.")
]
TasksOpt = Annotated[str, typer.Option(help="Comma-separated: summary,stances,events.")]
ModeOpt = Annotated[
    str | None,
    typer.Option(
        help="How the schema is sent: tools, tools_strict, json_schema, grammar (llama.cpp's own field) or "
        "json. Default: tools_strict for OpenAI, grammar for the embedded model, tools elsewhere. "
        "Env: SUMMARIZER_MODE."
    ),
]
MaxRetriesOpt = Annotated[int | None, typer.Option(help="Re-asks after a validation failure.")]
RailsOpt = Annotated[
    str | None,
    typer.Option(
        help="extractive: the model only chooses spans of the article for every text field, and code "
        "copies them; free: it writes them. Default: extractive for the embedded model, free elsewhere. "
        "Env: SUMMARIZER_RAILS."
    ),
]
StrictOpt = Annotated[
    bool,
    typer.Option(help="Drop stances and events naming someone the article does not (and say how many)."),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the response cache.")]
ConcurrencyOpt = Annotated[int, typer.Option(min=1, help="Articles in flight at once.")]


def _print_error(error: SummarizerError) -> None:
    err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)


def fail(error: SummarizerError) -> NoReturn:
    _print_error(error)
    raise typer.Exit(error.exit_code)


def cli_settings(
    model: str | None,
    base_url: str | None,
    mode: str | None,
    max_retries: int | None,
    prompts_dir: Path | None,
    api_key_env: str | None = None,
    rails: str | None = None,
) -> Settings:
    """The settings from the options every model-calling command shares (then environment, then default)."""
    return resolve_settings(
        model=model,
        base_url=base_url,
        api_key_env=api_key_env,
        mode=mode,
        max_retries=max_retries,
        prompts_dir=str(prompts_dir) if prompts_dir else None,
        rails=rails,
    )


def cli_errors(command: Callable[P, None]) -> Callable[P, None]:
    """Turn our errors into one line on stderr and the error's exit code, for every command."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except SummarizerError as exc:
            fail(exc)

    return run


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(ConfigError(f"--published {value!r} is not a date in the form YYYY-MM-DD"))


def write_output(text: str, output: Path | None, *, protect: Path | None = None) -> None:
    """Print, or write atomically to `output` (never over the input article `protect`)."""
    text = text if text.endswith("\n") else text + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    if protect is not None and same_file(output, protect):  # also through a symlink or a hard link
        raise ConfigError(f"--output {output} is the input article: refusing to overwrite it")
    write_atomic(output, text, what="--output")


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
    strict: StrictOpt = False,
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
    with Summarizer(settings, strict=strict, cache=cache) as summarizer, spinner:
        analysis = summarizer.summarize(article, tasks=chosen)
    if analysis.checks is not None and analysis.checks.dropped:
        err.print(f"--strict: dropped {analysis.checks.dropped} item(s) naming someone not in the article")
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


@prompts_app.command("list")
@cli_errors
def prompts_list(prompts_dir: PromptsDirOpt = None) -> None:
    """The prompts, their versions and files."""
    prompts = PromptSet.load(prompts_dir)
    for name in prompts.names():
        model = PROMPT_MODELS.get(name)
        version = prompts.version(name, schema_of(model) if model else None)
        sys.stdout.write(f"{name}\t{version}\t{prompts.directory / (name + '.j2')}\n")


@prompts_app.command("show")
@cli_errors
def prompts_show(
    name: Annotated[str, typer.Argument(help="The prompt, e.g. summary.")],
    article: Annotated[str, typer.Option(help="Render with this article (a file or -).")],
    prompts_dir: PromptsDirOpt = None,
) -> None:
    """Show the rendered messages a task sends for an article that fits one request: its sentences
    numbered, inside the fence tagged with the article's hash, as the pipeline sends them."""
    prompts = PromptSet.load(prompts_dir)
    a = read_article(article)
    sentences = split_sentences(a.text, a.language)
    numbered = "\n".join(s.numbered() for s in sentences)
    tag = fence_tag(a.text)
    extra = None
    if name.endswith(EXTRACTIVE_SUFFIX):  # its candidate lists, as the pipeline makes them
        from .extractive import Extractive
        from .ground import Grounding

        x = Extractive(Grounding(a, sentences, pick_names=True))
        extra = x.prompt_values(name.removesuffix(EXTRACTIVE_SUFFIX), [s.number for s in sentences])
    rendered = prompts.render(name, text=numbered, title=a.title, published=a.published, tag=tag, extra=extra)
    for message in rendered:
        sys.stdout.write(f"--- {message['role']} ---\n{message['content']}\n")


@prompts_app.command("check")
@cli_errors
def prompts_check(
    cassettes: Annotated[Path, typer.Option(help="The cassettes directory.")] = Path("cassettes"),
    prompts_dir: PromptsDirOpt = None,
) -> None:
    """For every prompt, whether its recorded cassettes still match its current version. Exit 1 if any
    is stale (re-record those tests with --record-mode=rewrite)."""
    from .cassettes import check_cassettes

    if not cassettes.is_dir():
        raise ConfigError(f"no cassettes directory at {cassettes}")
    report = check_cassettes(PromptSet.load(prompts_dir), cassettes)
    for entry in report:
        line = f"{entry.prompt}\t{entry.version}\t{entry.status}"
        sys.stdout.write(line + "".join(f"\n\t{f}" for f in sorted(entry.stale_files)) + "\n")
    if any(entry.stale for entry in report):
        raise typer.Exit(1)


def main() -> None:
    """Run the command. The installed `summarizer` script starts at `entry.main` instead, which sets up the
    interrupt handling (SIGINT, SIGTERM, exit code 130) before this module's slow imports."""
    from . import entry

    entry.install()
    entry.run(app)


# The commands for many articles, and `serve`, live in modules of their own that register on `app`.
from . import cli_corpus, cli_serve  # noqa: E402, F401
