"""`summarizer eval`: score a run against an evaluation set, compare runs, write the report."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..batch.runner import BatchInput, BatchOutput, batch_settings
from ..core.article import article_from_text
from ..core.errors import ConfigError
from ..core.jsonl import iter_jsonl
from ..core.schemas import TASKS
from ..corpus.build import read_results
from ..model.cache import ResponseCache
from ..pipeline.prompts import PromptSet
from ..pipeline.summarizer import Summarizer
from .common import (
    ApiKeyEnvOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    MaxRetriesOpt,
    ModelOpt,
    NoCacheOpt,
    PromptsDirOpt,
    RailsOpt,
    app,
    cli_errors,
    cli_settings,
    err,
)
from .progress import batch_summary, run_with_progress


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
        from ..evaluation.compare import compare as compare_runs
        from ..evaluation.evaluate import evaluate, load_eval_set, load_report
        from ..evaluation.report import write_reports
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
        batch_summary(report, results_path, failures_path)
    results = dict(read_results(results_path))
    failed = iter_jsonl(failures_path) if failures_path.exists() else iter([])
    failures = {str(f["id"]): str(f["error"]) for _, _, f in failed if str(f["id"]) not in results}
    scores = evaluate(articles, results, failures, run=run, prompts=PromptSet.load(prompts_dir))
    paths = write_reports(scores, out, inputs=[dataset, scored])
    err.print(f"reports: {paths['markdown']} · {paths['html']}", soft_wrap=True)
