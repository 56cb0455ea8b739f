"""Batch runs against the loopback benchmark fixture (bench/fake_openai.py): resume, failures, 429s, the
cache, the cost budget, and the output's guards (settings, lock, inputs). The fixture answers each task
with a valid output after a short delay; answers carry the article's tag, so each result can be checked to
be its own article's."""

import asyncio
import json
import shutil
from pathlib import Path

import httpx2 as httpx
import pytest

from bench.fake_openai import serve
from summarizer.batch import BatchInput, collect_inputs, done_ids, run_batch
from summarizer.core.errors import ConfigError
from summarizer.core.files import OutputLock
from summarizer.model.cache import ResponseCache
from summarizer.model.client import make_client
from summarizer.model.local import free_port
from summarizer.model.pricing import Price
from summarizer.model.settings import resolve_settings
from summarizer.pipeline import Summarizer
from tests.faults import kit

pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
ROOT = Path(__file__).resolve().parent.parent


def write_articles(folder: Path, n: int, *, marker: str = "") -> Path:
    kit.write_articles(folder, n, markers={1: marker})
    return folder


def assert_each_its_own(inputs: list[BatchInput], results: Path) -> None:
    """Every result holds the answers to its own article (by tag), none twice."""
    tag_of = {item.id: Path(item.source).stem for item in inputs}
    assert max(kit.id_counts(results).values()) == 1
    for article_id, tags in kit.tags_of_results(results).items():
        assert tags == {tag_of[article_id]}, article_id


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


# Each with a decoy that the name, read as a pattern, would match as well (or instead).
@pytest.mark.parametrize(
    ("name", "decoy"),
    [("[2023] story.txt", "2 story.txt"), ("what? story.txt", "whatX story.txt"), ("a * b.txt", "a X b.txt")],
)
def test_a_literal_path_with_glob_characters_wins_over_the_glob(tmp_path: Path, name: str, decoy: str):
    path = tmp_path / name
    path.write_text("Kim Jong Un met Sergei Shoigu in Pyongyang.", encoding="utf-8")
    (tmp_path / decoy).write_text("Another article.", encoding="utf-8")
    assert [i.source for i in collect_inputs([str(path)])] == [str(path)]
    # A pattern that names no existing file is still a pattern.
    assert {Path(i.source).name for i in collect_inputs([str(tmp_path / "*.txt")])} == {name, decoy}


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
        assert sorted(kit.id_counts(tmp_path / "out.jsonl")) == sorted(i.id for i in inputs)
        assert_each_its_own(inputs, tmp_path / "out.jsonl")
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


def test_a_line_torn_inside_a_multibyte_character_is_cut_too(tmp_path: Path):
    # The watchdog's os._exit can stop a write anywhere, also between the bytes of one character. Both
    # articles hold the accents: the two finish in either order, and the last line must have one to cut.
    marker = "Café née à Zürich"
    kit.write_articles(tmp_path / "news", 2, markers={0: marker, 1: marker})
    inputs = collect_inputs([str(tmp_path / "news")])
    with serve(free_port(), 0.0) as url:
        run(inputs, summarizer_for(url), tmp_path)
        out = tmp_path / "out.jsonl"
        data = out.read_bytes()
        last = data.rstrip(b"\n").rfind(b"\n") + 1
        cut = data.find("é".encode(), last) + 1  # after the first byte of "é" in the last line
        assert last < cut < len(data)
        out.write_bytes(data[:cut])
        assert len(done_ids(out)) == 1  # the whole line only, without a UnicodeDecodeError
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


def test_concurrent_articles_each_get_their_own_answers(tmp_path: Path):
    inputs = collect_inputs([str(write_articles(tmp_path / "news", 8))])
    with serve(free_port(), 0.02) as url:
        report = run(inputs, summarizer_for(url), tmp_path, concurrency=8)
    assert report.done == 8
    assert_each_its_own(inputs, tmp_path / "out.jsonl")


@pytest.mark.parametrize("in_order", [True, False])
def test_on_the_embedded_engine_an_articles_tasks_go_in_order_and_articles_share_the_slots(
    tmp_path: Path, in_order: bool
):
    # As the embedded engine is asked (a JSON schema as response_format, 3 slots): one request of an
    # article at a time, so its slot keeps the numbered article for the next task; 3 articles at once.
    inputs = collect_inputs([str(write_articles(tmp_path / "news", 6))])
    with serve(free_port(), 0.05) as url:
        settings = resolve_settings(base_url=url, model="m", api_key="t", max_retries=0, env={})
        # Free rails: each answer carries its article's tag in its text (extractive rails copy the article,
        # so nothing could carry it); the order of requests is the same under both.
        settings = settings.with_overrides(mode="json_schema", endpoint="embedded", rails="free")
        summarizer = Summarizer(
            settings, client=make_client(settings, http_retries=0), max_requests=3, tasks_in_order=in_order
        )
        report = run(inputs, summarizer, tmp_path, concurrency=6)
        peaks = fixture_calls(url)["peak"]
    assert report.done == 6
    assert_each_its_own(inputs, tmp_path / "out.jsonl")
    assert len(peaks) == 6
    assert max(peaks.values()) == (1 if in_order else 3)


def test_an_unexpected_exception_is_one_articles_failure(tmp_path: Path):
    inputs = collect_inputs([str(write_articles(tmp_path / "news", 3))])

    def broken() -> None:
        raise RuntimeError("a bug in a reader")

    inputs.insert(1, BatchInput(id="broken", source="broken.txt", load=broken))  # type: ignore[arg-type]
    with serve(free_port(), 0.0) as url:
        report = run(inputs, summarizer_for(url), tmp_path, concurrency=2)
    assert (report.done, report.failed) == (3, 1)
    [failure] = kit.lines(tmp_path / "failed.jsonl")
    assert failure == {
        "id": "broken",
        "source": "broken.txt",
        "error": "unexpected error: RuntimeError: a bug in a reader",
        "exit_code": 1,
    }
    assert_each_its_own(inputs[:1] + inputs[2:], tmp_path / "out.jsonl")


def test_an_interrupt_ends_every_article_before_the_files_close(tmp_path: Path):
    """Nothing of the interrupted run is left pending on the loop to write later into a closed (or reused)
    descriptor, e.g. when the next batch runs on the same Summarizer."""
    inputs = collect_inputs([str(write_articles(tmp_path / "news", 6))])

    class Crash(Exception):
        pass

    def interrupt(report):
        if report.done >= 1:
            raise Crash

    with serve(free_port(), 0.05) as url:
        summarizer = summarizer_for(url)

        async def go():
            async with summarizer:
                with pytest.raises(Crash):
                    await run_batch(inputs, summarizer, results=tmp_path / "1.jsonl", concurrency=4,
                                    on_progress=interrupt)  # fmt: skip
                assert asyncio.all_tasks() == {asyncio.current_task()}  # every article has ended
                await run_batch(inputs[:2], summarizer, results=tmp_path / "2.jsonl")

        asyncio.run(go())
    assert 1 <= len(kit.lines(tmp_path / "1.jsonl")) <= 4  # whole lines: the articles that finished
    assert sorted(kit.id_counts(tmp_path / "2.jsonl")) == sorted(i.id for i in inputs[:2])


def test_the_output_may_not_be_an_input(tmp_path: Path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "x", "text": kit.ARTICLE}) + "\n")
    before = source.read_bytes()
    inputs = collect_inputs([str(source)])
    with serve(free_port(), 0.0) as url, pytest.raises(ConfigError, match="is also an input of this command"):
        asyncio.run(run_batch(inputs, summarizer_for(url), results=tmp_path / "./in.jsonl"))
    with serve(free_port(), 0.0) as url, pytest.raises(ConfigError, match=r"^--failures .* is also an input"):
        asyncio.run(run_batch(inputs, summarizer_for(url), results=tmp_path / "o.jsonl", failures=source))
    assert source.read_bytes() == before


def test_resuming_with_other_settings_is_refused(tmp_path: Path):
    inputs = collect_inputs([str(write_articles(tmp_path / "news", 2))])
    out = tmp_path / "out.jsonl"

    def summarizer(url: str, model: str, *, strict: bool = False, prompts: str | None = None) -> Summarizer:
        settings = resolve_settings(
            base_url=url, model=model, api_key="t", max_retries=0, prompts_dir=prompts, env={}
        )
        return Summarizer(settings, client=make_client(settings, http_retries=0), drop_unknown_names=strict)

    with serve(free_port(), 0.0) as url:
        asyncio.run(run_batch(inputs[:1], summarizer(url, "model-a"), results=out, tasks="summary,events"))
        first = out.read_bytes()
        with pytest.raises(ConfigError) as refused:
            asyncio.run(
                run_batch(inputs, summarizer(url, "model-b", strict=True), results=out, tasks="summary")
            )
        message = str(refused.value)
        assert "model 'model-a' -> 'model-b'" in message and "tasks summary,events -> summary" in message
        assert "strict False -> True" in message and "prompt_versions" not in message  # said as tasks
        assert "another -o" in message and "--force-new" in message
        assert out.read_bytes() == first  # untouched
        # An edited prompt is another setting too.
        edited = tmp_path / "prompts"
        shutil.copytree(ROOT / "prompts", edited)
        with (edited / "summary.j2").open("a") as template:
            template.write("\nBe brief.\n")
        with pytest.raises(ConfigError, match=r"\(prompt_versions\.summary '\w+' -> '\w+'\)"):
            asyncio.run(
                run_batch(inputs, summarizer(url, "model-a", prompts=str(edited)), results=out,
                          tasks="summary,events")
            )  # fmt: skip
        # The same settings resume; --force-new starts afresh and keeps the earlier files aside.
        same = asyncio.run(run_batch(inputs, summarizer(url, "model-a"), results=out, tasks="summary,events"))
        assert (same.skipped, same.done) == (1, 1)
        new = asyncio.run(
            run_batch(inputs, summarizer(url, "model-b"), results=out, tasks="summary", force_new=True)
        )
        assert (new.skipped, new.done) == (0, 2)
    [aside] = tmp_path.glob("out.jsonl.before-*")
    assert len(kit.lines(aside)) == 2 and len(kit.lines(out)) == 2
    meta = json.loads((tmp_path / "out.jsonl.meta.json").read_text())["settings"]
    assert (meta["model"], meta["tasks"]) == ("model-b", ["summary"])


def test_a_second_run_on_the_same_output_is_refused(tmp_path: Path):
    inputs = collect_inputs([str(write_articles(tmp_path / "news", 1))])
    out = tmp_path / "out.jsonl"
    refused = pytest.raises(ConfigError, match=r"is writing .*out\.jsonl: wait for it")
    with serve(free_port(), 0.0) as url, OutputLock(out), refused:  # another run holds the output
        asyncio.run(run_batch(inputs, summarizer_for(url), results=out))
    assert not out.exists()


def test_failures_of_articles_done_since_are_dropped(tmp_path: Path):
    inputs = collect_inputs([str(write_articles(tmp_path / "news", 3, marker="FAIL-ME"))])
    with serve(free_port(), 0.0, fail_marker="FAIL-ME") as url:
        first = run(inputs, summarizer_for(url), tmp_path)
    assert first.failed == 1 and len(kit.lines(tmp_path / "failed.jsonl")) == 1
    with serve(free_port(), 0.0) as url:  # the endpoint works again
        second = run(inputs, summarizer_for(url), tmp_path)
    assert (second.skipped, second.done, second.failed) == (2, 1, 0)
    assert kit.lines(tmp_path / "failed.jsonl") == []
    assert_each_its_own(inputs, tmp_path / "out.jsonl")


def test_a_cost_spent_before_the_run_counts_in_the_totals(tmp_path: Path):
    inputs = collect_inputs([str(write_articles(tmp_path / "news", 1))])
    prices = {"bench-model": Price(input_per_million=1.0, output_per_million=10.0)}
    with serve(free_port(), 0.0) as url:
        report = run(inputs, summarizer_for(url), tmp_path, prices=prices)
    report.add_prefill(1000, 100, 0.5)  # what --openai-batch reports
    assert (report.prompt_tokens, report.completion_tokens) == (3 * 900 + 1000, 3 * 60 + 100)
    assert report.cost == pytest.approx(0.0045 + 0.5)
