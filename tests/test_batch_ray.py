"""`summarizer batch --ray` (issue 22): the same lines as the local batch, on a local Ray and on a two-node
cluster on this machine (`ray.cluster_utils.Cluster`, one CPU a node), against the loopback fake endpoint
(bench/fake_openai.py), whose answers carry each article's tag; a worker killed mid-run; Ctrl-C.

The Ray tests are `system` tests (seconds each, and Ray's processes); ray is imported inside them only,
so the offline suite neither needs nor imports it. The first two tests are offline."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bench.bench_interrupt import as_foreground
from bench.fake_openai import serve_process
from summarizer.batch import BatchOutput, batch_settings, collect_inputs, run_batch
from summarizer.cli import app
from summarizer.model.local import free_port
from summarizer.model.settings import resolve_settings
from summarizer.pipeline import Summarizer
from tests.faults import kit
from tests.faults.conftest import cli

ROOT = Path(__file__).resolve().parent.parent


def _own_address() -> str:
    """The address Ray's nodes listen on (as Ray finds it: the outgoing interface's; a UDP socket's
    connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


# The model calls go to loopback; the driver's check that a cluster address answers goes to this machine.
pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1", _own_address()])


def comparable(path: Path) -> list[dict[str, Any]]:
    """The result lines sorted by id, without the timings (`seconds`), which no two runs share."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "seconds"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return sorted((strip(line) for line in kit.lines(path)), key=lambda line: line["id"])


def tags_by_id(folder: Path) -> dict[str, str]:
    return {item.id: Path(item.source).stem for item in collect_inputs([str(folder)])}


def assert_each_its_own_once(out: Path, tag_of: dict[str, str]) -> None:
    counts = kit.id_counts(out)
    assert sorted(counts) == sorted(tag_of) and set(counts.values()) == {1}, counts
    for article_id, tags in kit.tags_of_results(out).items():
        assert tags == {tag_of[article_id]}, f"{article_id} holds another article's answers: {tags}"


def descendants(root: int) -> set[int]:
    """Every process below `root` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# --- offline ---------------------------------------------------------------------------------------


def test_without_the_ray_extra_ray_is_a_one_line_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: `import ray` raises ImportError
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "x", "text": kit.ARTICLE}) + "\n")
    result = CliRunner().invoke(app, ["batch", str(source), "-o", str(tmp_path / "o.jsonl"), "--ray"])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'summarizer[ray]'" in lines[0], result.stderr
    assert not (tmp_path / "o.jsonl").exists()  # refused before anything was opened


def test_parquet_needs_ray(tmp_path: Path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "x", "text": kit.ARTICLE}) + "\n")
    result = CliRunner().invoke(app, ["batch", str(source), "-o", str(tmp_path / "o"), "--format", "parquet"])
    assert (
        result.exit_code == 2
        and "--format parquet is written by the Ray workers: it needs --ray" in result.stderr
    )
    assert not (tmp_path / "o").exists()


def test_an_address_that_takes_no_connection_is_one_line(tmp_path: Path):
    from summarizer.batch.ray import _reachable
    from summarizer.core.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"^cannot reach the Ray cluster at 127.0.0.1:\d+: .*--ray-address\)$"
    ):
        _reachable(f"127.0.0.1:{free_port()}")  # nothing listens there
    with socket.create_server(("127.0.0.1", 0)) as listening:
        _reachable(f"ray://127.0.0.1:{listening.getsockname()[1]}")  # answers: no error


def test_a_worker_row_is_written_as_the_local_batch_writes_it_and_once(tmp_path: Path):
    """What crosses Ray (`stream_columns` on the worker, `outcome_of` on the driver) gives the writer the
    very outcome the local batch would: the same bytes in the results and failures files, the same totals;
    and an id delivered twice (a retried worker) is written once."""
    from summarizer.batch import BatchReport, Outcome, ResultWriter
    from summarizer.batch.ray import outcome_of, stream_columns
    from summarizer.core.schemas import Metadata

    record = {"id": "é-1", "analysis": {"complete": False, "metadata": _metadata(), "text": "naïve “quotes”"}}
    failure = {"id": "é-1", "source": "s", "error": "partial", "exit_code": 6}
    local = Outcome("é-1", line=record, failure=failure, metadata=Metadata.model_validate(_metadata()))
    columns = stream_columns([local], "node-1", 0.5)
    row = {key: values[0] for key, values in columns.items()}
    outputs = {}
    for name, outcomes in {"local": [local], "ray": [outcome_of(row), outcome_of(row)]}.items():
        output, report = BatchOutput(tmp_path / f"{name}.jsonl"), BatchReport()
        writer = ResultWriter(output, report, "m", None)
        for outcome in outcomes:
            writer.write(outcome)
        writer.close()
        outputs[name] = (output.results.read_bytes(), output.failures.read_bytes(), report)
    assert outputs["ray"] == outputs["local"]
    assert outputs["ray"][0].count(b"\n") == 1 and outputs["ray"][2].prompt_tokens == 900


def _metadata() -> dict[str, Any]:
    usage = {"prompt_tokens": 900, "completion_tokens": 60}
    run = {"prompt_version": "v", "attempts": 1, "usage": usage, "seconds": 0.2}
    return {
        "model": "m", "endpoint": "compatible", "mode": "tools", "prompt_versions": {"summary": "v"},
        "tasks": {"summary": run}, "usage": usage, "attempts": 1, "seconds": 0.2, "summarizer_version": "0",
    }  # fmt: skip


def test_the_batch_command_does_not_import_ray():
    """Ray (a second or more to import) is loaded by --ray only."""
    code = "import sys, summarizer.cli.batch, summarizer.batch; print('ray' in sys.modules)"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


# --- a local Ray, started by the command --------------------------------------------------------------


def write_jsonl(path: Path, n: int, marker: str) -> dict[str, str]:
    """n tagged articles as JSONL (ids given); {id: tag}."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(
                json.dumps(
                    {"id": f"{marker}-{i:02d}", "text": f"REF-{marker}{i:02d} {marker}\n{kit.ARTICLE}"}
                )
            )
            f.write("\n")
    return {f"{marker}-{i:02d}": f"{marker}{i:02d}" for i in range(n)}


@pytest.mark.system
def test_cli_ray_writes_the_same_lines_as_the_local_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    tag_of = write_jsonl(tmp_path / "in.jsonl", 6, "cli")
    with serve_process(free_port(), 0.1) as url:
        common = (
            "batch",
            str(tmp_path / "in.jsonl"),
            "--base-url",
            url,
            "--model",
            "m",
            "--concurrency",
            "3",
        )
        local = cli(*common, "-o", str(tmp_path / "local.jsonl"))
        # A cache of its own, so that the Ray run's workers make their calls too (and use their cache).
        monkeypatch.setenv("SUMMARIZER_CACHE_DIR", str(tmp_path / "ray-cache"))
        on_ray = cli(*common, "-o", str(tmp_path / "ray.jsonl"), "--ray", "--ray-workers", "1", timeout=180)
    assert local.returncode == 0, local.stderr
    assert on_ray.returncode == 0, on_ray.stderr
    assert "ray: 1 worker(s) on 1 node(s) of a local Ray started for the run" in on_ray.stderr
    assert "6 done, 0 already done, 0 failed · 18 model calls, 0 from the cache" in on_ray.stderr
    assert comparable(tmp_path / "ray.jsonl") == comparable(tmp_path / "local.jsonl")
    assert_each_its_own_once(tmp_path / "ray.jsonl", tag_of)
    assert (tmp_path / "ray-cache").is_dir()  # the worker's cache, under SUMMARIZER_CACHE_DIR
    meta = json.loads((tmp_path / "ray.jsonl.meta.json").read_text())
    assert meta == json.loads((tmp_path / "local.jsonl.meta.json").read_text())  # either resumes the other


@pytest.mark.system
def test_ctrl_c_ends_the_ray_run_and_the_ray_it_started(tmp_path: Path):
    tag_of = write_jsonl(tmp_path / "in.jsonl", 40, "int")
    out = tmp_path / "r.jsonl"
    with serve_process(free_port(), 0.5) as url:
        args = ["batch", str(tmp_path / "in.jsonl"), "--base-url", url, "--model", "m", "-o", str(out)]
        command = [
            sys.executable,
            "-m",
            "summarizer",
            *args,
            "--concurrency",
            "2",
            "--ray",
            "--ray-workers",
            "1",
        ]
        # A session of its own: Ctrl-C in a terminal signals the whole foreground group, Ray's processes too.
        process = subprocess.Popen(
            command,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=as_foreground,
        )
        try:
            deadline = time.monotonic() + 120
            while not (out.exists() and out.read_bytes().count(b"\n") >= 2):
                assert process.poll() is None and time.monotonic() < deadline, "no result line came"
                time.sleep(0.1)
            ray_processes = descendants(process.pid)
            assert any("raylet" in cmdline(pid) for pid in ray_processes)  # the Ray it started
            os.killpg(process.pid, signal.SIGINT)
            sent = time.monotonic()
            code = process.wait(timeout=30)
            took = time.monotonic() - sent
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            stderr = process.communicate()[1]
        assert code == 130, stderr
        assert took < 5, took
        assert stderr.strip().splitlines()[-1] == "interrupted (SIGINT): stopped", stderr
        time.sleep(2)  # the kernel's fate-sharing takes a moment to reach the workers
        left = [f"{pid} {cmdline(pid)}" for pid in ray_processes if alive(pid)]
        assert left == [], left
        before = {line["id"] for line in kit.lines(out)}
        assert 2 <= len(before) < len(tag_of)
        # The same command without --ray resumes it: same settings, the done ids skipped.
        again = cli(*args, "--concurrency", "8", timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"{len(tag_of) - len(before)} done, {len(before)} already done, 0 failed" in again.stderr
    assert_each_its_own_once(out, tag_of)


# --- a two-node cluster on this machine --------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Two Ray nodes of one CPU each. Their workers get a response cache of their own (not the user's)."""
    from ray.cluster_utils import Cluster

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SUMMARIZER_CACHE_DIR", str(tmp_path_factory.mktemp("ray-nodes-cache")))
        two = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        try:
            two.add_node(num_cpus=1)
            two.wait_for_nodes()
        except BaseException:
            two.shutdown()
            raise
    try:
        yield two
    finally:
        two.shutdown()


def run_local(folder: Path, url: str, out: Path) -> None:
    settings = resolve_settings(base_url=url, model="m", api_key="k", max_retries=0, env={})

    async def go() -> None:
        async with Summarizer(settings, http_retries=0) as summarizer:
            await run_batch(collect_inputs([str(folder)]), summarizer, results=out, concurrency=4)

    asyncio.run(go())


def run_on_ray(
    folder: Path, url: str, out: Path, address: str, *, prices=None, max_cost=None, **options: Any
):
    from summarizer.batch.ray import RayOptions, run_batch_ray
    from summarizer.model.cache import ResponseCache

    settings = resolve_settings(base_url=url, model="m", api_key="k", max_retries=0, env={})
    summarizer = Summarizer(settings, cache=ResponseCache())  # the workers build theirs with a cache too
    with BatchOutput(out).open(batch_settings(summarizer, None)) as held:
        return run_batch_ray(
            collect_inputs([str(folder)]), summarizer, output=held, concurrency=2, prices=prices,
            max_cost=max_cost, options=RayOptions(address=address, **options),
        )  # fmt: skip


@pytest.mark.system
def test_workers_import_the_drivers_summarizer(cluster: Any):
    import ray

    import summarizer

    ray.init(address=cluster.address)
    try:

        @ray.remote(num_cpus=1)
        def where() -> tuple[str, str]:
            import summarizer as theirs

            return theirs.__file__, ray.get_runtime_context().get_node_id()

        seen = ray.get([where.options(scheduling_strategy="SPREAD").remote() for _ in range(4)])
    finally:
        ray.shutdown()
    assert {file for file, _ in seen} == {summarizer.__file__}


@pytest.mark.system
def test_two_nodes_write_the_same_lines_as_the_local_batch(cluster: Any, tmp_path: Path):
    """The same result lines and the same failures file (one article's calls get HTTP 500)."""
    from bench.fake_openai import Faults, serve

    folder = tmp_path / "news"
    kit.write_articles(folder, 12, markers=dict.fromkeys(range(12), "two-nodes") | {5: "two-nodes FAIL-ME"})
    with serve(free_port(), 0.2, faults=Faults(fail_marker="FAIL-ME")) as url:
        run_local(folder, url, tmp_path / "local.jsonl")
        report = run_on_ray(folder, url, tmp_path / "ray.jsonl", cluster.address, workers=2, http_retries=0)
    assert (report.done, report.failed, report.workers, report.started_ray) == (11, 1, 2, False)
    assert len(report.nodes) == 2, report.nodes  # both nodes analysed articles
    assert report.model_calls == 33 and report.tokens == 11 * 3 * 960  # the fake's usage, summed
    assert comparable(tmp_path / "ray.jsonl") == comparable(tmp_path / "local.jsonl")
    failures = [kit.lines(tmp_path / f"{name}.failures.jsonl") for name in ("ray", "local")]
    assert failures[0] == failures[1] and len(failures[0]) == 1 and "HTTP 500" in failures[0][0]["error"]
    tag_of = tags_by_id(folder)
    assert_each_its_own_once(tmp_path / "ray.jsonl", {i: t for i, t in tag_of.items() if t != "a05"})


@pytest.mark.system
def test_cli_joins_ray_address_and_writes_the_local_lines(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The issue's command, `batch in.jsonl -o out.jsonl --ray --base-url URL --model M`, with RAY_ADDRESS
    naming the two-node cluster."""
    tag_of = write_jsonl(tmp_path / "in.jsonl", 8, "env")
    with serve_process(free_port(), 0.1) as url:
        common = (
            "batch",
            str(tmp_path / "in.jsonl"),
            "--base-url",
            url,
            "--model",
            "m",
            "--concurrency",
            "2",
        )
        local = cli(*common, "-o", str(tmp_path / "local.jsonl"))
        monkeypatch.setenv("RAY_ADDRESS", cluster.address)
        on_ray = cli(*common, "-o", str(tmp_path / "out.jsonl"), "--ray", timeout=180)
    assert local.returncode == 0, local.stderr
    assert on_ray.returncode == 0, on_ray.stderr
    assert "ray: 2 worker(s) on 2 node(s) of Ray," in on_ray.stderr  # joined, not started
    assert comparable(tmp_path / "out.jsonl") == comparable(tmp_path / "local.jsonl")
    assert_each_its_own_once(tmp_path / "out.jsonl", tag_of)


@pytest.mark.system
def test_a_worker_killed_mid_run_loses_no_article_and_repeats_none(cluster: Any, tmp_path: Path):
    folder = tmp_path / "news"
    n = 24
    kit.write_articles(folder, n, markers=dict.fromkeys(range(n), "kill"))
    out = tmp_path / "ray.jsonl"
    raylets = [
        p.process.pid
        for node in [cluster.head_node, *cluster.worker_nodes]
        for p in node.all_processes["raylet"]
    ]
    killed: dict[str, int] = {}

    def kill_a_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if out.exists() and out.read_bytes().count(b"\n") >= 2:
                workers = [pid for r in raylets for pid in descendants(r) if "MapWorker" in cmdline(pid)]
                if workers:
                    killed["lines"] = out.read_bytes().count(b"\n")
                    os.kill(workers[0], signal.SIGKILL)
                    killed["pid"] = workers[0]
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_worker)
    with serve_process(free_port(), 0.3) as url:
        killer.start()
        try:
            report = run_on_ray(folder, url, out, cluster.address, workers=2)
        finally:
            killer.join()
    assert "pid" in killed, "no worker was found to kill"
    assert killed["lines"] < n  # it was killed mid-run
    assert not alive(killed["pid"])
    assert (report.done, report.failed) == (n, 0)
    assert_each_its_own_once(out, tags_by_id(folder))


@pytest.mark.system
def test_parquet_written_by_the_workers_resumes_by_id(cluster: Any, tmp_path: Path):
    import pyarrow.dataset

    from bench.fake_openai import Faults, serve
    from summarizer.batch.parquet import run_batch_parquet
    from summarizer.batch.ray import RayOptions

    folder = tmp_path / "news"
    markers = dict.fromkeys(range(8), "parquet") | {3: "parquet FAIL-ME"}
    kit.write_articles(folder, 8, markers=markers)
    tag_of = tags_by_id(folder)
    out = tmp_path / "out.parquet"
    faults = Faults(fail_marker="FAIL-ME")

    def run(url: str):
        settings = resolve_settings(base_url=url, model="m", api_key="k", max_retries=0, env={})
        summarizer = Summarizer(settings, http_retries=0)
        with BatchOutput(out).open(batch_settings(summarizer, None)) as held:
            return run_batch_parquet(
                collect_inputs([str(folder)]), summarizer, output=held, concurrency=2,
                options=RayOptions(address=cluster.address, workers=2, http_retries=0),
            )  # fmt: skip

    def rows() -> list[dict[str, Any]]:
        return pyarrow.dataset.dataset(out, format="parquet").to_table().to_pylist()

    with serve(free_port(), 0.1, faults=faults) as url:
        first = run(url)
        local = tmp_path / "local.jsonl"
        settings = resolve_settings(base_url=url, model="m", api_key="k", max_retries=0, env={})

        async def go() -> None:
            async with Summarizer(settings, http_retries=0) as s:
                await run_batch(collect_inputs([str(folder)]), s, results=local, concurrency=4)

        asyncio.run(go())
        assert (first.done, first.failed, first.skipped) == (7, 1, 0)
        failed_id = next(i for i, tag in tag_of.items() if tag == "a03")
        failures = kit.lines(tmp_path / "out.failures.jsonl")
        assert [f["id"] for f in failures] == [failed_id] and "HTTP 500" in failures[0]["error"]
        written = rows()
        assert len(written) == 8 and {r["id"] for r in written if r["complete"]} == set(tag_of) - {failed_id}
        as_lines = [{"id": r["id"], "analysis": json.loads(r["analysis"])} for r in written if r["complete"]]
        (tmp_path / "from-parquet.jsonl").write_text("".join(json.dumps(line) + "\n" for line in as_lines))
        assert comparable(tmp_path / "from-parquet.jsonl") == comparable(local)  # the local batch's lines
        assert all(
            kit.ANSWER.findall(r["analysis"]) == [tag_of[r["id"]]] * 3 for r in written if r["complete"]
        )

        (out / "torn.parquet").write_bytes(b"PAR1 cut short by a kill")
        faults.fail_marker = None
        second = run(url)
    assert (second.done, second.failed, second.skipped) == (1, 0, 7)
    assert (out / ".torn-torn.parquet").exists()  # moved aside: the directory reads whole again
    assert {r["id"] for r in rows() if r["complete"]} == set(tag_of)
    assert kit.lines(tmp_path / "out.failures.jsonl") == []  # done since: no longer owed


@pytest.mark.system
def test_max_cost_stops_the_ray_run_and_a_rerun_finishes_it(cluster: Any, tmp_path: Path):
    from summarizer.model.pricing import Price

    folder = tmp_path / "news"
    n = 16
    kit.write_articles(folder, n, markers=dict.fromkeys(range(n), "budget"))
    out = tmp_path / "ray.jsonl"
    prices = {"m": Price(1000.0, 0.0)}  # 2.7 USD an article: the fake's 3 x 900 prompt tokens
    with serve_process(free_port(), 0.2) as url:
        first = run_on_ray(folder, url, out, cluster.address, workers=2, prices=prices, max_cost=5.0)
        assert first.budget_spent and first.cost is not None and first.cost >= 5.0
        assert 2 <= first.done < n and first.not_started == n - first.done
        second = run_on_ray(folder, url, out, cluster.address, workers=2, prices=prices)
    assert (second.skipped, second.done, second.budget_spent) == (first.done, n - first.done, False)
    assert_each_its_own_once(out, tags_by_id(folder))


@pytest.mark.system
def test_more_workers_than_the_cluster_holds_is_one_line(cluster: Any, tmp_path: Path, monkeypatch):
    from summarizer import batch_ray
    from summarizer.core.errors import ConfigError

    monkeypatch.setattr(batch_ray, "WAIT_FOR_WORKERS", 5)
    folder = tmp_path / "news"
    kit.write_articles(folder, 2, markers={0: "too-many", 1: "too-many"})
    with (
        serve_process(free_port(), 0.0) as url,
        pytest.raises(ConfigError, match="did not start every worker"),
    ):
        run_on_ray(folder, url, tmp_path / "r.jsonl", cluster.address, workers=3)  # 2 CPUs, 1 each
    assert kit.lines(tmp_path / "r.jsonl") == []
