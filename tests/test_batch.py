"""Batch runs against the loopback benchmark fixture (bench/fake_openai.py): resume, failures, 429s, the
cache and the cost budget. The fixture answers every task with a fixed valid output after a short delay."""

import asyncio
import json
from pathlib import Path

import httpx2 as httpx
import pytest

from bench.fake_openai import serve
from summarizer.batch import collect_inputs, done_ids, run_batch
from summarizer.cache import ResponseCache
from summarizer.client import make_client
from summarizer.local import free_port
from summarizer.pipeline import Summarizer
from summarizer.pricing import Price
from summarizer.settings import resolve_settings

pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
ARTICLE = (Path(__file__).resolve().parent.parent / "bench" / "article.txt").read_text()


def write_articles(folder: Path, n: int, *, marker: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"a{i:02d}.txt").write_text(f"Article number {i}. {marker if i == 1 else ''}\n{ARTICLE}")
    return folder


def fixture_calls(base_url: str) -> dict:
    return httpx.get(base_url.removesuffix("/v1") + "/calls").json()


def summarizer_for(base_url: str, *, cache: ResponseCache | None = None, http_retries: int = 0) -> Summarizer:
    settings = resolve_settings(base_url=base_url, model="bench-model", api_key="test", max_retries=0, env={})
    return Summarizer(settings, client=make_client(settings, http_retries=http_retries), cache=cache)


def run(inputs, summarizer, tmp_path: Path, **kw):
    async def go():
        async with summarizer:
            return await run_batch(
                inputs, summarizer, results=tmp_path / "out.jsonl", failures=tmp_path / "failed.jsonl", **kw
            )

    return asyncio.run(go())


def test_inputs_from_folders_globs_and_jsonl(tmp_path: Path):
    folder = write_articles(tmp_path / "news", 3)
    (folder / "notes.bin").write_bytes(b"\x00")  # not an article suffix: ignored
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text(json.dumps({"id": "x1", "text": "Some text.", "published": "2023-07-28"}) + "\n\n")
    inputs = collect_inputs([str(folder), str(tmp_path / "news" / "a0*.txt"), str(jsonl)])
    assert len(inputs) == 4  # a00 found twice, kept once
    by_id = {i.id: i for i in inputs}
    assert by_id["x1"].load().published.isoformat() == "2023-07-28"
    again = collect_inputs([str(folder)])
    assert {i.id for i in again} <= set(by_id)  # ids are stable across runs


def test_resume_after_an_interrupted_run_loses_and_repeats_nothing(tmp_path: Path):
    inputs = collect_inputs([str(write_articles(tmp_path / "news", 6))])
    with serve(free_port(), 0.05) as url:

        class Crash(Exception):
            pass

        def interrupt(report):
            if report.done >= 2:
                raise Crash  # the process dies here: what is on disk is all that survives

        with pytest.raises(Crash):
            run(inputs, summarizer_for(url), tmp_path, concurrency=1, on_progress=interrupt)
        first = done_ids(tmp_path / "out.jsonl")
        assert len(first) == 2
        calls_after_first = fixture_calls(url)["n"]
        report = run(inputs, summarizer_for(url), tmp_path, concurrency=3)
        assert report.skipped == 2 and report.done == 4 and report.failed == 0
        lines = (tmp_path / "out.jsonl").read_text().splitlines()
        assert sorted(json.loads(line)["id"] for line in lines) == sorted(i.id for i in inputs)
        assert fixture_calls(url)["n"] - calls_after_first == 4 * 3  # only the missing articles ran


def test_torn_last_line_is_cut_and_that_article_runs_again(tmp_path: Path):
    inputs = collect_inputs([str(write_articles(tmp_path / "news", 2))])
    with serve(free_port(), 0.0) as url:
        run(inputs, summarizer_for(url), tmp_path)
        out = tmp_path / "out.jsonl"
        data = out.read_bytes()
        out.write_bytes(data[: len(data) - 40])  # a kill -9 in the middle of the second line
        report = run(inputs, summarizer_for(url), tmp_path)
    assert report.done == 1
    assert len(done_ids(out)) == 2 and all(json.loads(line) for line in out.read_text().splitlines())


def test_failures_are_recorded_while_the_batch_goes_on(tmp_path: Path):
    folder = write_articles(tmp_path / "news", 4, marker="FAIL-ME")
    (folder / "empty.txt").write_text("   \n")
    inputs = collect_inputs([str(folder)])
    with serve(free_port(), 0.0, fail_marker="FAIL-ME") as url:
        report = run(inputs, summarizer_for(url), tmp_path)
    assert (report.done, report.failed) == (3, 2)
    failures = [json.loads(line) for line in (tmp_path / "failed.jsonl").read_text().splitlines()]
    reasons = sorted(f["error"] for f in failures)
    assert any("HTTP 500" in r for r in reasons) and any("contains only whitespace" in r for r in reasons)
    assert {f["exit_code"] for f in failures} == {2, 3}


def test_rate_limit_429_is_retried_after_retry_after(tmp_path: Path):
    inputs = collect_inputs([str(write_articles(tmp_path / "news", 2, marker="LIMIT-ME"))])
    with serve(free_port(), 0.0, rate_limit_marker="LIMIT-ME") as url:
        report = run(inputs, summarizer_for(url, http_retries=2), tmp_path)
        calls = fixture_calls(url)
    assert report.done == 2 and report.failed == 0
    assert calls["limited"] == 1 and calls["n"] == 2 * 3 + 1


def test_second_run_is_served_from_the_cache(tmp_path: Path):
    inputs = collect_inputs([str(write_articles(tmp_path / "news", 3))])
    cache = ResponseCache(tmp_path / "cache.sqlite3")
    with serve(free_port(), 0.0) as url:
        first = run(inputs, summarizer_for(url, cache=cache), tmp_path / "run1")
        calls = fixture_calls(url)["n"]
        second = run(inputs, summarizer_for(url, cache=cache), tmp_path / "run2")
        assert fixture_calls(url)["n"] == calls  # no model call at all
    assert (first.model_calls, first.cached_calls) == (9, 0)
    assert (second.model_calls, second.cached_calls, second.tokens) == (0, 9, 0)
    assert cache.stats().entries == 9  # one per article and task

    def headlines(run: str) -> list[str]:
        lines = (tmp_path / run / "out.jsonl").read_text().splitlines()
        return sorted(json.loads(line)["analysis"]["summary"]["headline"] for line in lines)

    assert headlines("run1") == headlines("run2")


def test_cost_budget_stops_new_articles(tmp_path: Path):
    inputs = collect_inputs([str(write_articles(tmp_path / "news", 6))])
    # 3 calls x (900 + 60 tokens) per article at $1/$10 per 1M tokens = $0.0045 per article.
    prices = {"bench-model": Price(input_per_million=1.0, output_per_million=10.0)}
    with serve(free_port(), 0.0) as url:
        report = run(inputs, summarizer_for(url), tmp_path, concurrency=1, prices=prices, max_cost=0.009)
    assert report.done == 2 and report.not_started == 4 and report.budget_spent
    assert report.cost == pytest.approx(0.009)
