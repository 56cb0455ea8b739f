"""The command line for many articles: batch, merge, cache, eval. Registered on the main app in cli.py."""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .article import article_from_text
from .batch import (
    BatchInput,
    BatchOutput,
    BatchReport,
    batch_settings,
    collect_inputs,
    run_batch,
    run_to_end,
)
from .cache import ResponseCache
from .cli import (
    ApiKeyEnvOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    MaxRetriesOpt,
    ModelOpt,
    ModeOpt,
    NoCacheOpt,
    PromptsDirOpt,
    RailsOpt,
    StrictOpt,
    TasksOpt,
    app,
    cli_errors,
    cli_settings,
    err,
    write_output,
)
from .corpus import latest_results, merge_corpus, read_results
from .errors import ConfigError
from .export import write_events_csv, write_plover_jsonl, write_stances_csv
from .files import refuse_inputs
from .jsonl import iter_jsonl
from .pipeline import Summarizer, parse_tasks
from .pricing import Price, format_cost, load_prices, price_for
from .prompts import PromptSet
from .schemas import TASKS

if TYPE_CHECKING:
    from .batch_ray import RayOptions

# --- many articles --------------------------------------------------------------------------------------

cache_app = typer.Typer(
    help="The response cache (SQLite under the user's cache directory).", no_args_is_help=True
)
app.add_typer(cache_app, name="cache")


@app.command()
@cli_errors
def batch(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Files, folders, glob patterns, or JSONL (id, text, title, url, published)."),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Results JSONL, appended as articles finish.")
    ] = Path("results.jsonl"),
    failures: Annotated[
        Path | None, typer.Option(help="Failures JSONL. Default: <output>.failures.jsonl.")
    ] = None,
    concurrency: ConcurrencyOpt = 8,
    tasks: TasksOpt = "summary,stances,events",
    max_cost: Annotated[
        float | None,
        typer.Option(
            help="Stop starting articles once this many USD are spent; with --openai-batch, also refuse to "
            "submit a batch that could cost more."
        ),
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option(help="JSON price table overriding the built-in one. Env: SUMMARIZER_PRICES."),
    ] = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    mode: ModeOpt = None,
    max_retries: MaxRetriesOpt = None,
    rails: RailsOpt = None,
    http_retries: Annotated[
        int, typer.Option(help="Retries of 429/5xx with backoff (honours Retry-After).")
    ] = 5,
    strict: StrictOpt = False,
    no_cache: NoCacheOpt = False,
    openai_batch: Annotated[
        bool, typer.Option("--openai-batch", help="Send the requests through OpenAI's Batch API first.")
    ] = False,
    force_new: Annotated[
        bool,
        typer.Option(
            "--force-new",
            help="Start --output afresh even if it holds results made with other settings (the earlier "
            "files are moved aside, not deleted).",
        ),
    ] = False,
    prompts_dir: PromptsDirOpt = None,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Run on Ray: RAY_ADDRESS's cluster if set, else a local Ray for the run. --concurrency is "
            "then per worker. Needs the ray extra.",
        ),
    ] = False,
    ray_address: Annotated[
        str | None, typer.Option(help="The Ray cluster to join (implies --ray). Default: RAY_ADDRESS.")
    ] = None,
    ray_workers: Annotated[
        int | None, typer.Option(min=1, help="Ray actors, one Summarizer each. Default: one per CPU.")
    ] = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="jsonl, or parquet (with --ray: a directory the Ray workers write; see the README).",
        ),
    ] = "jsonl",
) -> None:
    """Summarise many articles concurrently. Re-running the same command resumes: ids already in --output
    are skipped, failures are retried. Resuming with other settings (model, tasks, prompts, --strict) is
    refused: use another --output, or --force-new."""
    on_ray = None
    if ray or ray_address or ray_workers:
        from .batch_ray import RayOptions, import_ray

        import_ray()  # without the extra: its one-line hint, before any input is read
        on_ray = RayOptions(address=ray_address, workers=ray_workers, http_retries=http_retries)
        if openai_batch:
            raise ConfigError("--openai-batch fills this machine's cache, not the Ray workers': drop one")
    if output_format not in ("jsonl", "parquet"):
        raise ConfigError(f"--format {output_format!r}: choose jsonl or parquet")
    parquet = output_format == "parquet"
    if parquet and (on_ray is None or max_cost is not None):
        raise ConfigError(
            "--format parquet is written by the Ray workers: it needs --ray, and takes no --max-cost"
        )
    chosen = parse_tasks(tasks)
    settings = cli_settings(model, base_url, mode, max_retries, prompts_dir, api_key_env, rails)
    table = load_prices(prices)
    if settings.endpoint == "embedded":
        table[settings.model] = Price(0.0, 0.0)  # runs here, costs nothing
    if max_cost is not None and price_for(settings.model, table) is None:
        raise ConfigError(f"--max-cost needs a price for {settings.model!r}: add it with --prices FILE")
    if openai_batch and no_cache:
        raise ConfigError("--openai-batch fills the response cache: it cannot run with --no-cache")
    items = collect_inputs(inputs)
    paths = [*inputs, *(item.path for item in items)]
    cache = None if no_cache else ResponseCache()
    with (
        Summarizer(settings, strict=strict, cache=cache, http_retries=http_retries) as summarizer,
        BatchOutput(output, failures).open(
            batch_settings(summarizer, chosen), inputs=paths, force_new=force_new
        ) as held,
    ):
        if held.moved:
            kept = ", ".join(aside.name for aside in held.moved)
            err.print(f"--force-new: the earlier files are kept as {kept}", highlight=False, soft_wrap=True)
        prefill = None
        if openai_batch:
            from .openai_batch import prefill_cache

            assert cache is not None
            prefill = prefill_cache(
                summarizer, items, chosen, cache, notice=err.print, state=held.openai_batch,
                max_cost=max_cost, prices=table,
            )  # fmt: skip
        budget = max_cost
        if prefill is not None and max_cost is not None and prefill.cost is not None:
            budget = max(0.0, max_cost - prefill.cost)  # one budget for the batch and the calls after it
        report = run_with_progress(
            summarizer, items, held, concurrency, chosen, table, budget, on_ray, parquet
        )
        if prefill is not None:
            report.add_prefill(prefill.prompt_tokens, prefill.completion_tokens, prefill.cost)
    _batch_summary(report, held.results, held.failures)
    if on_ray is not None:
        err.print(getattr(report, "where", ""), highlight=False, soft_wrap=True)
    if report.failed:
        raise typer.Exit(5)


def run_with_progress(
    summarizer: Summarizer,
    items: list[BatchInput],
    output: BatchOutput,
    concurrency: int,
    tasks: Sequence[str],
    prices: dict[str, Price],
    max_cost: float | None,
    ray: RayOptions | None = None,
    parquet: bool = False,
) -> BatchReport:
    """The batch on the summarizer's loop (or on Ray, the driver feeding the bar), with a rich progress
    bar on a terminal (quiet otherwise)."""
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=err, disable=not err.is_terminal,
    )  # fmt: skip
    with progress:
        bar = progress.add_task("articles", total=len(items), info="")

        def update(report: BatchReport) -> None:
            info = f"{report.failed} failed · {report.tokens:,} tokens · {format_cost(report.cost)}"
            progress.update(bar, completed=report.skipped + report.done + report.failed, info=info)

        if ray is not None:  # the driver's loop feeds the bar (Parquet: once, at the end)
            from .batch_parquet import run_batch_parquet
            from .batch_ray import run_batch_ray

            run = run_batch_parquet if parquet else functools.partial(run_batch_ray, max_cost=max_cost)
            return run(items, summarizer, output=output, concurrency=concurrency, tasks=tasks, prices=prices,
                       on_progress=update, options=ray)  # fmt: skip
        return run_to_end(
            summarizer,
            run_batch(items, summarizer, output=output, concurrency=concurrency,
                      tasks=tasks, prices=prices, max_cost=max_cost, on_progress=update)
        )  # fmt: skip


def _batch_summary(report: BatchReport, output: Path, failures: Path) -> None:
    err.print(
        f"{report.done} done, {report.skipped} already done, {report.failed} failed"
        + (f", {report.not_started} not started: --max-cost reached" if report.budget_spent else "")
        + f" · {report.model_calls} model calls, {report.cached_calls} from the cache"
        + f" · {report.prompt_tokens:,} prompt + {report.completion_tokens:,} completion tokens"
        + f" · {format_cost(report.cost)} · {report.seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    err.print(f"results: {output}" + (f" · failures: {failures}" if report.failed else ""), soft_wrap=True)


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


@app.command("eval")
@cli_errors
def eval_(
    dataset: Annotated[
        Path | None,
        typer.Argument(help="JSONL of articles with reference summaries: id, article, reference."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for results and reports.")] = Path(
        "eval"
    ),
    compare: Annotated[
        tuple[Path, Path] | None,
        typer.Option(help="Compare two earlier runs (their directories or report.json files), A then B."),
    ] = None,
    label: Annotated[str | None, typer.Option(help="A name for this run in the reports.")] = None,
    scored: Annotated[
        Path | None,
        typer.Option(
            "--results", help="Score this finished `summarizer batch` results file instead of running."
        ),
    ] = None,
    concurrency: ConcurrencyOpt = 8,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    max_retries: MaxRetriesOpt = None,
    rails: RailsOpt = None,
    no_cache: NoCacheOpt = False,
    force_new: Annotated[
        bool, typer.Option("--force-new", help="Start --out's results afresh if made with other settings.")
    ] = False,
    prompts_dir: PromptsDirOpt = None,
) -> None:
    """Score the pipeline on articles with reference summaries: ROUGE against the references beside the
    lead-3 baseline, evidence, copied prompt text, duplicates, names, support, dates, failures, retries,
    tokens and time. Writes report.json, report.md and a self-contained report.html."""
    try:
        from .compare import compare as compare_runs
        from .evaluate import evaluate, load_eval_set, load_report
        from .report import write_reports
    except ImportError as exc:
        raise ConfigError(
            f"summarizer eval needs the eval extra ({exc.name} is missing): pip install 'summarizer[eval]'"
        ) from exc

    if compare is not None:
        sources = [p / "report.json" if p.is_dir() else p for p in compare]
        a, b = (load_report(p) for p in sources)
        comparison = compare_runs(a, b)
        paths = write_reports(b, out, comparison, inputs=sources)
        err.print(
            f"{len(comparison.better)} better, {len(comparison.worse)} worse, {len(comparison.same)} same"
            f" · {paths['html']}",
            soft_wrap=True,
        )
        return
    if dataset is None:
        raise ConfigError("give a dataset JSONL to evaluate, or --compare RUN_A RUN_B")
    articles = load_eval_set(dataset)
    settings = cli_settings(model, base_url, None, max_retries, prompts_dir, api_key_env, rails)
    items = [
        BatchInput(
            id=a.id, source=a.url or a.id, load=functools.partial(article_from_text, a.text, source=a.url)
        )
        for a in articles
    ]
    run: dict[str, Any] = {"command": " ".join(sys.argv)} | ({"label": label} if label else {})
    if scored is not None:
        # Score a finished batch: its results file and the failures file beside it; run facts from them.
        results_path, failures_path = scored, scored.with_suffix(".failures.jsonl")
    else:
        results_path, failures_path = out / "results.jsonl", out / "failures.jsonl"
        with (
            Summarizer(settings, cache=None if no_cache else ResponseCache()) as summarizer,
            BatchOutput(results_path, failures_path).open(
                batch_settings(summarizer, TASKS), inputs=[dataset], force_new=force_new
            ) as held,
        ):
            report = run_with_progress(summarizer, items, held, concurrency, TASKS, {}, None)
            run |= {"model": settings.model, "endpoint": settings.endpoint, "label": label or settings.model}
            run |= {"prompt_versions": summarizer.prompt_versions(TASKS)}
        _batch_summary(report, results_path, failures_path)
    results = dict(read_results(results_path))
    failed = iter_jsonl(failures_path) if failures_path.exists() else iter([])
    failures = {str(f["id"]): str(f["error"]) for _, _, f in failed if str(f["id"]) not in results}
    scores = evaluate(articles, results, failures, run=run, prompts=PromptSet.load(prompts_dir))
    paths = write_reports(scores, out, inputs=[dataset, scored])
    err.print(f"reports: {paths['markdown']} · {paths['html']}", soft_wrap=True)
