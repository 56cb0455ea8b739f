"""The command line: a thin layer over the Python API.

Exit codes: 0 success, 1 unexpected failure (or stale cassettes, for `prompts check`), 2 bad input or
settings, 3 endpoint unreachable or refusing (key, model, rate limit), 4 model output invalid after the
retries, 5 some articles of a batch failed (listed in the failures file), 6 a partial result (some pieces of
a long article failed; the rest is written), 130 interrupted.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, ParamSpec

import typer
from rich.console import Console
from rich.markup import escape

from ..core.errors import ConfigError, SummarizerError
from ..core.files import same_file, write_atomic
from ..model.settings import Settings, resolve_settings

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
DropUnknownNamesOpt = Annotated[
    bool,
    typer.Option(
        "--drop-unknown-names",
        help="Drop stances and events naming someone the article does not (and say how many).",
    ),
]
# The old name of --drop-unknown-names ("strict" is OpenAI's strict mode): still works, says so, not listed.
StrictAliasOpt = Annotated[bool, typer.Option("--strict", hidden=True)]
STRICT_NOTICE = "--strict is deprecated: use --drop-unknown-names (same meaning)"
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


def drop_unknown_names(flag: bool, old_flag: bool) -> bool:
    """--drop-unknown-names, or its deprecated alias --strict (with a one-line notice)."""
    if old_flag:
        err.print(STRICT_NOTICE, highlight=False)
    return flag or old_flag
