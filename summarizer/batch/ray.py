"""Many articles on a Ray cluster: workers compute, one writer writes.

`run_batch_ray` is `run_batch` with the articles analysed by Ray actors. Ray Data runs `ArticleWorker`
over an actor pool (`map_batches`): each actor holds one `Summarizer`, built from the run's settings, and
analyses a batch of `concurrency` articles at once, as the local batch does. The outcomes stream back to
the driver, which writes them with the local batch's own `ResultWriter` into the `BatchOutput` the caller
opened (settings file, lock, atomic appends, failures file, resume by id). So the result lines are the
local batch's, the totals are summed on the driver, and a kill -9 of the driver loses only the articles in
flight (on the workers, or computed and not yet written).

Ray itself is the optional `ray` extra, imported only here and only when called. The driver reads every
input (workers need not see the input files), so the articles travel to the workers through Ray's object
store (spilled to disk when large). An actor killed mid-batch is restarted by Ray and its batch retried
(Ray Data's default for actor pools); the writer skips an id it has already written.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import pickle
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..core.article import Article
from ..core.errors import ConfigError, SummarizerError
from ..core.schemas import Metadata
from ..model.cache import ResponseCache
from ..model.client import describe_error
from ..model.pricing import Price
from ..model.settings import Settings
from ..pipeline.summarizer import Summarizer, parse_tasks
from .output import differences
from .runner import (
    BatchInput,
    BatchOutput,
    BatchReport,
    Outcome,
    ProgressHook,
    ResultWriter,
    batch_settings,
    done_ids,
    failure_record,
    summarize_item,
)

RAY_HINT = "--ray needs the ray extra: pip install 'summarizer[ray]'"
WAIT_FOR_WORKERS = 600  # seconds for every worker to start (an autoscaling cluster may add nodes first)


def import_ray() -> ModuleType:
    """`ray` with Ray Data, or a one-line ConfigError (exit 2) saying how to install it."""
    try:
        import ray
        import ray.data  # the extra is ray[data]: Ray core alone is not enough
    except ImportError as exc:
        raise ConfigError(f"{RAY_HINT} ({exc.name} is missing)") from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run. `address`: a cluster to join (`ray://...` or `host:port`); None takes
    RAY_ADDRESS, and without it a local Ray is started for the run and stopped after it. `workers`: actors
    (one Summarizer each); None, one per CPU of the cluster. `http_retries` is the workers' Summarizer's
    (429/5xx retries are per worker)."""

    address: str | None = None
    workers: int | None = None
    http_retries: int = 2


@dataclass
class RayReport(BatchReport):
    """A batch's totals, and where it ran: articles per Ray node, actors, and the seconds from the call
    to the first outcome (Ray's start-up, the actors' start, and the first batch's model time)."""

    nodes: Counter[str] = field(default_factory=Counter)
    workers: int = 0
    started_ray: bool = False
    first_outcome_seconds: float | None = None
    worker_cpu_seconds: float = 0.0  # the actors' own CPU time in their batches (the driver's is not in it)

    @property
    def where(self) -> str:
        """One line for the CLI: where the batch ran."""
        if not self.workers:
            return "ray: nothing left to run (Ray was not started)"
        nodes = f" on {len(self.nodes)} node(s)" if self.nodes else ""  # Parquet runs do not count them
        ray = "a local Ray started for the run" if self.started_ray else "Ray"
        first = self.first_outcome_seconds
        after = "" if first is None else f", first result after {first:.1f} s"
        return f"ray: {self.workers} worker(s){nodes} of {ray}{after}"


class ArticleWorker:
    """A Ray actor's work: one Summarizer for the run, one batch of articles at a time, concurrently."""

    def __init__(
        self,
        settings: Settings,
        drop_unknown_names: bool,
        use_cache: bool,
        http_retries: int,
        tasks: tuple[str, ...],
        expected: dict[str, Any],
        columns: Columns | None = None,
    ):
        # With no endpoint configured (`settings.endpoint == "embedded"`), the Summarizer starts its own
        # embedded model on first use, on this actor's node: a cluster of CPU machines needs no endpoint.
        # No close() at the end: Ray ends its actors with a kill, and the embedded server dies with its
        # parent process (local.py); a finalizer closing the loop there crashed a worker in Ray's core.
        cache = ResponseCache() if use_cache else None  # this node's cache dir, or SUMMARIZER_CACHE_DIR
        self.summarizer = Summarizer(
            settings, drop_unknown_names=drop_unknown_names, cache=cache, http_retries=http_retries
        )
        self.tasks = tasks
        self.columns = columns or stream_columns
        # A node with another summarizer (other prompts, another version) would write other lines.
        if diffs := differences(expected, batch_settings(self.summarizer, tasks)):
            raise ConfigError(
                f"a Ray worker's summarizer differs from the driver's ({'; '.join(diffs)}): install the same"
                " summarizer version and prompts on every node"
            )
        import ray

        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: Any) -> dict[str, list[Any]]:
        ids = batch.column("id").to_pylist()
        sources = batch.column("source").to_pylist()
        articles = [pickle.loads(blob) for blob in batch.column("article").to_pylist()]
        items = [
            BatchInput(id=i, source=s, load=functools.partial(_same, a))
            for i, s, a in zip(ids, sources, articles, strict=True)
        ]

        async def every() -> list[Outcome]:
            return list(
                await asyncio.gather(*(summarize_item(self.summarizer, it, self.tasks) for it in items))
            )

        cpu = time.process_time()
        outcomes = self.summarizer.run_sync(every())
        return self.columns(outcomes, self.node, time.process_time() - cpu)


# What a worker's batch of outcomes becomes: the rows Ray Data carries on (to the driver, or to Parquet).
Columns = Callable[[list[Outcome], str, float], dict[str, list[Any]]]


def stream_columns(outcomes: list[Outcome], node: str, cpu: float) -> dict[str, list[Any]]:
    """For the driver's writer: the line and failure record as JSON text, where and at what CPU cost."""
    return {
        "id": [o.id for o in outcomes],
        "line": [json.dumps(o.line, ensure_ascii=False) if o.line is not None else "" for o in outcomes],
        "failure": [json.dumps(o.failure) if o.failure is not None else "" for o in outcomes],
        "node": [node] * len(outcomes),
        "cpu": [cpu] + [0.0] * (len(outcomes) - 1),  # the batch's, counted once
    }


def _same(article: Article) -> Article:
    return article


def outcome_of(row: dict[str, Any]) -> Outcome:
    """A worker's row back into the outcome the local batch would have had (the same line, the same
    failure record, the line's metadata for the totals)."""
    line = json.loads(row["line"]) if row["line"] else None
    failure = json.loads(row["failure"]) if row["failure"] else None
    metadata = Metadata.model_validate(line["analysis"]["metadata"]) if line is not None else None
    return Outcome(str(row["id"]), line=line, failure=failure, metadata=metadata)


@contextlib.contextmanager
def ray_session(ray: ModuleType, options: RayOptions) -> Iterator[bool]:
    """Ray for one run; yields whether this run started it. An already initialised Ray (a caller's) is
    used as it is and left running; otherwise we join `options.address` or RAY_ADDRESS, or start a
    local Ray, and disconnect (stopping the local one) at the end, an interrupt included."""
    if ray.is_initialized():
        yield False
        return
    address = options.address or os.environ.get("RAY_ADDRESS") or None
    # "local", not None: None would join whichever `ray start` cluster this machine last ran.
    kwargs: dict[str, Any] = {"address": address or "local", "logging_level": "warning"}
    if address is None:
        kwargs |= {"num_cpus": options.workers, "include_dashboard": False}
    else:
        _reachable(address)
    try:
        ray.init(**kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"cannot join the Ray cluster at {address}: {describe_error(exc)}") from None
    try:
        yield address is None
    finally:
        ray.shutdown()


def _reachable(address: str) -> None:
    """A cluster address that takes no connection is one line now: `ray.init` would retry for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and the like: Ray's to resolve
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}"
            " (check RAY_ADDRESS or --ray-address)"
        ) from None


def run_batch_ray(
    inputs: list[BatchInput],
    summarizer: Summarizer,
    *,
    output: BatchOutput,
    concurrency: int = 8,
    tasks: Iterable[str] | str | None = None,
    prices: dict[str, Price] | None = None,
    max_cost: float | None = None,
    on_progress: ProgressHook | None = None,
    options: RayOptions | None = None,
) -> RayReport:
    """`run_batch` on Ray, into an `output` the caller has opened. `summarizer` is the driver's: its
    settings, strictness and cache (on or off) are what each worker's Summarizer is built with; it makes
    no call itself. `concurrency` is articles in flight per worker. With `max_cost`, the driver stops
    once the cost so far reaches it: the articles on the workers then are dropped (and paid for)."""
    ray = import_ray()
    options = options or RayOptions()
    chosen = parse_tasks(tasks)
    started = time.perf_counter()
    model = summarizer.settings.model
    report, todo = RayReport.start(inputs, done_ids(output.results), model, prices)

    def progress() -> None:
        report.seconds = time.perf_counter() - started
        if on_progress is not None:
            on_progress(report)

    writer = ResultWriter(output, report, model, prices)
    try:
        progress()
        rows = article_rows(todo, writer.write)
        if not rows:
            return report
        with ray_session(ray, options) as report.started_ray:
            report.workers = options.workers or cluster_cpus(ray)
            args = worker_args(summarizer, chosen, options)
            dataset = article_dataset(ray, rows, args, report.workers, concurrency)
            batches = dataset.iter_batches(batch_format="pyarrow", batch_size=None)
            try:
                for batch in batches:
                    for row in batch.to_pylist():
                        if report.first_outcome_seconds is None:
                            report.first_outcome_seconds = time.perf_counter() - started
                        report.nodes[str(row["node"])] += 1
                        report.worker_cpu_seconds += row["cpu"]
                        writer.write(outcome_of(row))
                        progress()
                    if max_cost is not None and report.cost is not None and report.cost >= max_cost:
                        report.budget_spent = True
                        break
            except Exception as exc:
                raise ours(exc) from None
            finally:
                _close(batches)
    finally:
        writer.close()
        report.not_started = len(todo) - len(writer.written) if report.budget_spent else 0
        report.seconds = time.perf_counter() - started
    return report


def worker_args(summarizer: Summarizer, tasks: tuple[str, ...], options: RayOptions) -> dict[str, Any]:
    """What each worker builds its Summarizer from: the driver's settings, name dropping and cache choice."""
    return {
        "settings": summarizer.settings,
        "drop_unknown_names": summarizer.drop_unknown_names,
        "use_cache": summarizer.cache is not None,
        "http_retries": options.http_retries,
        "tasks": tasks,
        "expected": batch_settings(summarizer, tasks),
    }


def cluster_cpus(ray: ModuleType) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def article_rows(todo: list[BatchInput], failed: Callable[[Outcome], None]) -> list[dict[str, Any]]:
    """The articles to send, read here on the driver; one that cannot be read is its failure, now."""
    rows = []
    for item in todo:
        try:
            article = item.load()
        except SummarizerError as exc:
            failed(Outcome(item.id, failure=failure_record(item, str(exc), exc.exit_code)))
            continue
        except Exception as exc:
            reason = f"unexpected error: {type(exc).__name__}: {describe_error(exc)}"
            failed(Outcome(item.id, failure=failure_record(item, reason, 1)))
            continue
        rows.append({"id": item.id, "source": item.source, "article": pickle.dumps(article)})
    return rows


def article_dataset(
    ray: ModuleType, rows: list[dict[str, Any]], worker_args: dict[str, Any], workers: int, c: int
) -> Any:
    from ray.data import ActorPoolStrategy
    from ray.util.debug import log_once

    # Ray Data's INFO lines ("execution finished") and its notice that its bars are off (ours is the
    # driver's bar) would come between ours on stderr; its warnings still show.
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    log_once("ray_data_progress_manager_disabled")
    dataset = ray.data.from_items(rows)
    context = dataset.context
    context.enable_progress_bars = False  # ours is the driver's bar
    context.print_on_execution_start = False
    context.raise_original_map_exception = True  # a worker's ConfigError reaches the user as itself
    # Every worker started before the first article goes out, so that a batch spreads over all of them
    # (else the first worker up takes it all), and a cluster that cannot hold them says so in time.
    context.wait_for_min_actors_s = WAIT_FOR_WORKERS
    return dataset.map_batches(
        ArticleWorker,
        fn_constructor_kwargs=worker_args,
        batch_size=c,
        batch_format="pyarrow",
        compute=ActorPoolStrategy(size=workers),
        num_cpus=1,
    )


def ours(exc: BaseException) -> BaseException:
    """One of our errors raised on a worker (ConfigError: a node with another summarizer), however Ray
    wrapped it, or the workers' start timing out as a one-line error; else the exception as it came."""
    if "Timed out while starting actors" in str(exc):
        return ConfigError(
            f"the Ray cluster did not start every worker within {WAIT_FOR_WORKERS} s: it has too few CPUs for"
            " --ray-workers (each takes one), or its nodes are still coming up"
        )
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, SummarizerError):
            return seen
        seen = getattr(seen, "cause", None) or seen.__cause__
    return exc


def _close(batches: Any) -> None:
    """Stop Ray Data's execution now (an interrupt, a budget spent), not when the iterator is collected."""
    close = getattr(batches, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()
