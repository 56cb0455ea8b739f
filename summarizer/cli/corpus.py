"""`summarizer merge` (many articles' results -> one corpus, and its exports) and `summarizer cache`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.files import refuse_inputs
from ..corpus.build import latest_results, merge_corpus, read_results
from ..corpus.export import write_events_csv, write_plover_jsonl, write_stances_csv
from ..model.cache import ResponseCache
from .common import app, cli_errors, err, write_output

cache_app = typer.Typer(
    help="The response cache (SQLite under the user's cache directory).", no_args_is_help=True
)
app.add_typer(cache_app, name="cache")


@app.command()
@cli_errors
def merge(
    results: Annotated[list[Path], typer.Argument(help="Results JSONL files from `summarizer batch`.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The merged corpus as JSON.")] = None,
    plover: Annotated[Path | None, typer.Option(help="Events as PLOVER-style JSONL.")] = None,
    events_csv: Annotated[Path | None, typer.Option(help="Events as flat CSV.")] = None,
    stances_csv: Annotated[Path | None, typer.Option(help="Stances as flat CSV.")] = None,
    date_window: Annotated[int, typer.Option(help="Days apart two reports of one event may be dated.")] = 1,
) -> None:
    """One picture of many articles: actors merged, events de-duplicated across articles with their
    sources, stances over time; exports for event-data tools and spreadsheets.

    An id in several results files is taken from the last file given (a re-run's results after the
    first run's), with a notice saying how many were replaced. An output file may not be an input."""
    outputs = [("--output", output), ("--plover", plover), ("--events-csv", events_csv)]
    refuse_inputs([*outputs, ("--stances-csv", stances_csv)], results)
    rows, replaced = latest_results(read_results(path) for path in results)
    if replaced:
        err.print(
            f"{replaced} article id(s) appear in more than one results file: the later file's result is kept",
            highlight=False,
            soft_wrap=True,
        )
    corpus = merge_corpus(rows, date_window_days=date_window)
    write_output(corpus.model_dump_json(indent=2), output)
    written = []
    if plover:
        written.append(f"{write_plover_jsonl(corpus, plover)} events -> {plover}")
    if events_csv:
        written.append(f"{write_events_csv(corpus, events_csv)} events -> {events_csv}")
    if stances_csv:
        written.append(f"{write_stances_csv(corpus, stances_csv)} stances -> {stances_csv}")
    err.print(
        f"{corpus.articles} articles: {len(corpus.actors)} actors, {len(corpus.events)} events"
        + "".join(f" · {w}" for w in written),
        highlight=False,
        soft_wrap=True,
    )


@cache_app.command("stats")
@cli_errors
def cache_stats() -> None:
    """Where the cache is, how many responses it holds and its size."""
    with ResponseCache() as cache:
        stats = cache.stats()
    sys.stdout.write(f"path\t{stats.path}\nentries\t{stats.entries}\nbytes\t{stats.bytes}\n")


@cache_app.command("clear")
@cli_errors
def cache_clear() -> None:
    """Remove every cached response."""
    with ResponseCache() as cache:
        removed = cache.clear()
    err.print(f"removed {removed} cached response(s)")
