"""The fault suite: a batch against the loopback fake endpoint (bench/fake_openai.py) while things go wrong.

Each test asserts what issue 8 asks of every fault: no finished article lost, none done twice (ids counted
in the results), every article that failed named in the failures file, each result its own article's
(the fake's answers carry the article's tag), and the documented exit codes (0 done, 5 some articles
failed, 2 refused, 130 interrupted). Small delays and few articles keep it to seconds.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.fake_openai import Faults, serve, start_process
from summarizer.batch import collect_inputs, done_ids, run_batch
from summarizer.cli import app
from summarizer.model.client import make_client
from summarizer.model.local import free_port
from summarizer.model.settings import resolve_settings
from summarizer.pipeline import Summarizer
from tests.faults import kit
from tests.faults.conftest import check_batch, cli, last_line, start_cli

pytestmark = [pytest.mark.system, pytest.mark.block_network(allowed_hosts=["127.0.0.1"])]
Rows = list[tuple[str, str, int, int]]


def make_articles(
    tmp_path: Path, n: int, markers: dict[int, str] | None = None
) -> tuple[Path, dict[str, str]]:
    """A folder of n tagged articles, and each article's id -> its tag."""
    folder = tmp_path / "news"
    kit.write_articles(folder, n, markers=markers)
    return folder, {item.id: Path(item.source).stem for item in collect_inputs([str(folder)])}


def batch_args(folder: Path, url: str, out: Path, *more: str) -> tuple[str, ...]:
    return ("batch", str(folder), "--base-url", url, "--model", "m", "-o", str(out), *more)


def run_in_process(*args: str):  # the CLI without a process of its own, where no signal is involved
    return CliRunner().invoke(app, list(args))


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def result_lines(out: Path) -> int:
    return out.read_bytes().count(b"\n") if out.exists() else 0


def test_endpoint_killed_mid_batch(tmp_path: Path, record: Rows) -> None:
    folder, tag_of = make_articles(tmp_path, 6)
    out, port = tmp_path / "r.jsonl", free_port()
    args = batch_args(folder, f"http://127.0.0.1:{port}/v1", out, "--concurrency", "2", "--http-retries", "1")
    fake = start_process(port, 0.2)
    try:
        import threading

        def kill_after_two() -> None:
            wait_for(lambda: result_lines(out) >= 2)
            fake.kill()

        killer = threading.Thread(target=kill_after_two)
        killer.start()
        first = run_in_process(*args)
        killer.join()
    finally:
        fake.kill()
        fake.wait()
    assert first.exit_code == 5, first.output
    before = check_batch(out, tag_of)
    assert len(before.done) >= 2 and before.failed == set(tag_of) - before.done  # every failure named
    fake = start_process(port, 0.0)  # the endpoint is back: the same command again
    try:
        second = run_in_process(*args)
    finally:
        fake.kill()
        fake.wait()
    assert second.exit_code == 0, second.output
    after = check_batch(out, tag_of, finished_before=before.done)
    assert after.done == set(tag_of) and after.failed == set() and (after.lost, after.twice) == (0, 0)
    saw = f"exit 5: {last_line(first.stderr)}; again: exit 0: {last_line(second.stderr)}"
    record.append(("endpoint killed mid-batch, then the same command", saw, after.lost, after.twice))


def test_http_500s(tmp_path: Path, record: Rows) -> None:
    folder, tag_of = make_articles(tmp_path, 4, markers={1: "FAIL-ME", 3: "FAIL-ME"})
    out, faults = tmp_path / "r.jsonl", Faults(fail_marker="FAIL-ME")
    with serve(free_port(), 0.0, faults=faults) as url:
        first = run_in_process(*batch_args(folder, url, out, "--http-retries", "1"))
        assert first.exit_code == 5
        before = check_batch(out, tag_of)
        assert {tag_of[i] for i in before.failed} == {"a01", "a03"} and len(before.done) == 2
        reasons = {f["error"] for f in kit.lines(out.with_suffix(".failures.jsonl"))}
        assert all("HTTP 500" in r for r in reasons), reasons
        faults.fail_marker = None
        second = run_in_process(*batch_args(folder, url, out))
    after = check_batch(out, tag_of, finished_before=before.done)
    assert second.exit_code == 0 and after.done == set(tag_of) and (after.lost, after.twice) == (0, 0)
    saw = f"exit 5: {last_line(first.stderr)}; failures file: {sorted(reasons)[0][:90]}...; again: exit 0"
    record.append(("HTTP 500 for 2 of 4 articles", saw, after.lost, after.twice))


def test_429_storm_with_retry_after_is_ridden_out(tmp_path: Path, record: Rows) -> None:
    folder, tag_of = make_articles(tmp_path, 3)
    out, faults = tmp_path / "r.jsonl", Faults(storm=20, retry_after=0.2)
    with serve(free_port(), 0.0, faults=faults) as url:
        result = run_in_process(*batch_args(folder, url, out, "--concurrency", "3", "--http-retries", "5"))
    assert result.exit_code == 0, result.output
    after = check_batch(out, tag_of)
    assert after.done == set(tag_of) and (after.lost, after.twice) == (0, 0)
    assert faults.calls["limited"] == 20
    # 9 requests at once, all refused, twice over: the first answer comes after two Retry-After waits.
    assert faults.first_after_storm is not None and faults.limited_at
    assert faults.first_after_storm - faults.limited_at[0] >= 2 * 0.2 * 0.9
    record.append(("a storm of 20 HTTP 429s, Retry-After 0.2 s", f"exit 0: {last_line(result.stderr)}", 0, 0))


def test_429_storm_longer_than_the_retries(tmp_path: Path, record: Rows) -> None:
    folder, tag_of = make_articles(tmp_path, 3)
    out, faults = tmp_path / "r.jsonl", Faults(storm=10_000, retry_after=0.05)
    with serve(free_port(), 0.0, faults=faults) as url:
        first = run_in_process(*batch_args(folder, url, out, "--http-retries", "1"))
        assert first.exit_code == 5
        before = check_batch(out, tag_of)
        assert before.done == set() and before.failed == set(tag_of)
        reasons = {f["error"] for f in kit.lines(out.with_suffix(".failures.jsonl"))}
        assert all("HTTP 429" in r for r in reasons), reasons
        faults.storm = 0
        second = run_in_process(*batch_args(folder, url, out))
    after = check_batch(out, tag_of)
    assert second.exit_code == 0 and after.done == set(tag_of) and after.twice == 0
    saw = f"exit 5: {last_line(first.stderr)}; failures file: {sorted(reasons)[0]}; again: exit 0"
    record.append(("endless HTTP 429s (beyond --http-retries)", saw, 0, after.twice))


def test_truncated_json(tmp_path: Path, record: Rows) -> None:
    folder, tag_of = make_articles(tmp_path, 3, markers={1: "TRUNCATE-ME"})
    out, faults = tmp_path / "r.jsonl", Faults(truncate_marker="TRUNCATE-ME")
    with serve(free_port(), 0.0, faults=faults) as url:
        first = run_in_process(*batch_args(folder, url, out, "--http-retries", "0"))
        assert first.exit_code == 5, first.output
        before = check_batch(out, tag_of)
        assert {tag_of[i] for i in before.failed} == {"a01"} and len(before.done) == 2
        [reason] = [f["error"] for f in kit.lines(out.with_suffix(".failures.jsonl"))]
        assert "\n" not in reason
        faults.truncate_marker = None
        second = run_in_process(*batch_args(folder, url, out))
    after = check_batch(out, tag_of, finished_before=before.done)
    assert second.exit_code == 0 and after.done == set(tag_of) and (after.lost, after.twice) == (0, 0)
    record.append(("a response body cut mid-JSON", f"exit 5; failures file: {reason}; again: exit 0", 0, 0))


def test_a_response_slower_than_the_timeout(tmp_path: Path, record: Rows) -> None:
    folder, tag_of = make_articles(tmp_path, 3, markers={2: "SLOW-ME"})
    faults = Faults(slow_marker="SLOW-ME", slow_seconds=3.0)
    out = tmp_path / "r.jsonl"
    with serve(free_port(), 0.0, faults=faults) as url:
        settings = resolve_settings(base_url=url, model="m", api_key="t", max_retries=0, env={})
        settings = settings.with_overrides(timeout=1.0)
        summarizer = Summarizer(settings, client=make_client(settings, http_retries=0))

        async def go():
            async with summarizer:
                return await run_batch(collect_inputs([str(folder)]), summarizer, results=out)

        started = time.monotonic()
        report = asyncio.run(go())
        took = time.monotonic() - started
    after = check_batch(out, tag_of)
    assert (report.done, report.failed) == (2, 1) and took < 3.0  # it did not wait for the slow answer
    assert {tag_of[i] for i in after.failed} == {"a02"} and after.twice == 0
    [reason] = [f["error"] for f in kit.lines(out.with_suffix(".failures.jsonl"))]
    assert "did not answer within" in reason
    record.append(("an answer slower than the timeout", f"failures file: {reason} (exit 5)", 0, 0))


def test_kill_9_mid_run_then_the_same_command(tmp_path: Path, record: Rows) -> None:
    folder, tag_of = make_articles(tmp_path, 8)
    out = tmp_path / "r.jsonl"
    with serve(free_port(), 0.3) as url:
        args = batch_args(folder, url, out, "--concurrency", "2")
        victim = start_cli(*args)
        try:
            wait_for(lambda: result_lines(out) >= 2)
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.communicate()
        finished = done_ids(out)  # whole lines only: a torn last line is an article not finished
        again = cli(*args)
    assert again.returncode == 0, again.stderr
    after = check_batch(out, tag_of, finished_before=finished)
    assert after.done == set(tag_of) and (after.lost, after.twice) == (0, 0)
    saw = f"kill -9 after {len(finished)} of 8; again: exit 0: {last_line(again.stderr)}"
    record.append(("kill -9 of the batch mid-run, then the same command", saw, after.lost, after.twice))


def test_a_corrupt_cache_file(tmp_path: Path, record: Rows, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, tag_of = make_articles(tmp_path, 3)
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / "responses.sqlite3").write_bytes(b"not a database\x00\xff" * 200)
    monkeypatch.setenv("SUMMARIZER_CACHE_DIR", str(cache_dir))
    out = tmp_path / "r.jsonl"
    with serve(free_port(), 0.0) as url:
        result = cli(*batch_args(folder, url, out))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("response cache: cannot use") == 1  # said once, not once per call
    after = check_batch(out, tag_of)
    assert after.done == set(tag_of) and after.twice == 0
    warning = next(line for line in result.stderr.splitlines() if "response cache" in line)
    record.append(("a corrupt cache database file", f"exit 0; once on stderr: {warning[:110]}...", 0, 0))


def test_sigint_at_random_moments(tmp_path: Path, record: Rows) -> None:
    folder, tag_of = make_articles(tmp_path, 6)
    out = tmp_path / "r.jsonl"
    rng = random.Random(8)
    finished: set[str] = set()
    codes, worst = [], 0.0
    with serve(free_port(), 0.15) as url:
        args = batch_args(folder, url, out, "--concurrency", "2")
        # Once the batch has begun (it holds the output's lock), before any result; then after 1 and 3
        # results. (Before that, Python itself is starting: no program's handler is in place yet.)
        for after_results in (0, 1, 3):
            process = start_cli(*args)
            wait_for(lambda: (tmp_path / "r.jsonl.lock").exists())
            wait_for(lambda n=after_results: result_lines(out) >= n)
            time.sleep(rng.uniform(0.0, 0.3))
            process.send_signal(signal.SIGINT)
            sent = time.monotonic()
            _, stderr = process.communicate(timeout=20)
            worst = max(worst, time.monotonic() - sent)
            codes.append(process.returncode)
            assert process.returncode in (130, 0), stderr  # 0: it finished before the signal
            assert "Traceback" not in stderr
            if process.returncode == 130:
                assert len(stderr.strip().splitlines()) == 1, stderr  # one line: "interrupted ..."
            outcome = check_batch(out, tag_of, finished_before=finished)  # every line whole, none lost
            assert (outcome.lost, outcome.twice) == (0, 0)
            finished = outcome.done
        final = cli(*args)
    assert final.returncode == 0, final.stderr
    after = check_batch(out, tag_of, finished_before=finished)
    assert after.done == set(tag_of) and (after.lost, after.twice) == (0, 0)
    assert worst < 2.0  # from the signal to the exit, the promise of the README
    saw = f"exits {codes} (one line on stderr, no traceback, worst {worst:.2f} s); again: exit 0"
    record.append(("SIGINT at 3 random moments, then the same command", saw, 0, 0))


def test_a_second_process_on_the_same_output_is_refused(tmp_path: Path, record: Rows) -> None:
    folder, tag_of = make_articles(tmp_path, 4)
    out = tmp_path / "r.jsonl"
    lock = tmp_path / "r.jsonl.lock"
    with serve(free_port(), 0.3) as url:
        args = batch_args(folder, url, out, "--concurrency", "1")
        first = start_cli(*args)
        wait_for(lambda: lock.exists() and lock.read_text().strip() == str(first.pid))
        second = cli(*args)
        _, first_stderr = first.communicate(timeout=30)
    assert second.returncode == 2
    assert f"another process (pid {first.pid}) is writing" in second.stderr
    assert first.returncode == 0, first_stderr
    after = check_batch(out, tag_of)
    assert after.done == set(tag_of) and after.twice == 0
    saw = f"the second: exit 2: {last_line(second.stderr)}; the first: exit 0"
    record.append(("a second batch process on the same output", saw, 0, after.twice))
