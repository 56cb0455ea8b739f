"""The command line for many articles: batch, merge, cache, eval. Registered on the main app in cli.py."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..batch.runner import (
    BatchOutput,
    batch_settings,
    collect_inputs,
)
from ..core.errors import ConfigError
from ..model.cache import ResponseCache
from ..model.pricing import Price, load_prices, price_for
from ..pipeline.summarizer import Summarizer, parse_tasks
from .common import (
    ApiKeyEnvOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    DropUnknownNamesOpt,
    MaxRetriesOpt,
    ModelOpt,
    ModeOpt,
    NoCacheOpt,
    PromptsDirOpt,
    RailsOpt,
    StrictAliasOpt,
    TasksOpt,
    app,
    cli_errors,
    cli_settings,
    drop_unknown_names,
    err,
)
from .progress import batch_summary, run_with_progress

if TYPE_CHECKING:
    pass

# --- many articles --------------------------------------------------------------------------------------


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
    drop_names: DropUnknownNamesOpt = False,
    strict: StrictAliasOpt = False,
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
    are skipped, failures are retried. Resuming with other settings (model, tasks, prompts,
    --drop-unknown-names) is refused: use another --output, or --force-new."""
    on_ray = None
    if ray or ray_address or ray_workers:
        from ..batch.ray import RayOptions, import_ray

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
        Summarizer(
            settings,
            drop_unknown_names=drop_unknown_names(drop_names, strict),
            cache=cache,
            http_retries=http_retries,
        ) as summarizer,
        BatchOutput(output, failures).open(
            batch_settings(summarizer, chosen), inputs=paths, force_new=force_new
        ) as held,
    ):
        if held.moved:
            kept = ", ".join(aside.name for aside in held.moved)
            err.print(f"--force-new: the earlier files are kept as {kept}", highlight=False, soft_wrap=True)
        prefill = None
        if openai_batch:
            from ..batch.openai_batch import prefill_cache

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
    batch_summary(report, held.results, held.failures)
    if on_ray is not None:
        err.print(getattr(report, "where", ""), highlight=False, soft_wrap=True)
    if report.failed:
        raise typer.Exit(5)
