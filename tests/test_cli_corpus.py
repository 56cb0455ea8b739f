"""The commands for many articles, end to end through the CLI, against the loopback benchmark fixture."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.fake_openai import serve
from summarizer.batch import collect_inputs
from summarizer.cli import app
from summarizer.model.local import free_port
from tests.faults import kit

pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
ARTICLE = (Path(__file__).resolve().parent.parent / "bench" / "article.txt").read_text()


def run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    folder = tmp_path / "news"
    folder.mkdir()
    for i in range(3):
        (folder / f"r{i}.txt").write_text(f"Report {i}. REF-r{i}\n{ARTICLE}")  # answers carry r{i}
    return folder


def test_batch_resumes_caches_and_merges(articles: Path, tmp_path: Path):
    out = tmp_path / "results.jsonl"
    with serve(free_port(), 0.0) as url:
        common = ("--base-url", url, "--model", "bench-model", "--output", str(out))
        first = run("batch", str(articles), *common)
        assert first.exit_code == 0, first.output
        assert "3 done, 0 already done, 0 failed" in first.stderr and "9 model calls" in first.stderr
        tag_of = {item.id: Path(item.source).stem for item in collect_inputs([str(articles)])}
        assert kit.tags_of_results(out) == {i: {tag} for i, tag in tag_of.items()}  # each its own answers
        again = run("batch", str(articles), *common)
        assert "0 done, 3 already done" in again.stderr
        out.unlink()
        cached = run("batch", str(articles), *common)
        assert (
            "0 model calls, 9 from the cache" in cached.stderr and "0 prompt + 0 completion" in cached.stderr
        )

    plover, events_csv, stances_csv = (
        tmp_path / "events.jsonl",
        tmp_path / "events.csv",
        tmp_path / "stances.csv",
    )
    merged = run(
        "merge", str(out), "-o", str(tmp_path / "corpus.json"),
        "--plover", str(plover), "--events-csv", str(events_csv), "--stances-csv", str(stances_csv),
    )  # fmt: skip
    assert merged.exit_code == 0, merged.output
    corpus = json.loads((tmp_path / "corpus.json").read_text())
    # The fixture gives every article the same event: one event with three sources.
    assert corpus["articles"] == 3 and len(corpus["events"]) == 1 and len(corpus["events"][0]["sources"]) == 3
    record = json.loads(plover.read_text().splitlines()[0])
    assert record["event"] == "OTHER" and record["date"] == "" and len(record["sources"]) == 3
    assert len(list(csv.DictReader(events_csv.open()))) == 1
    assert len(list(csv.DictReader(stances_csv.open()))) == 6  # the fake answers two stances an article


def test_batch_failures_exit_5_and_are_listed(articles: Path, tmp_path: Path):
    (articles / "bad.txt").write_bytes(b"\x00\x01binary")
    out = tmp_path / "results.jsonl"
    with serve(free_port(), 0.0) as url:
        result = run("batch", str(articles), "--base-url", url, "--model", "m", "--output", str(out))
    assert result.exit_code == 5
    failures = [json.loads(line) for line in out.with_suffix(".failures.jsonl").read_text().splitlines()]
    assert len(failures) == 1 and "binary" in failures[0]["error"]


def test_max_cost_needs_a_known_price(articles: Path, tmp_path: Path):
    result = run(
        "batch", str(articles), "--base-url", "http://127.0.0.1:1/v1", "--model", "m", "--max-cost", "1"
    )
    assert result.exit_code == 2 and "needs a price for 'm'" in result.stderr


def test_cache_stats_and_clear(articles: Path, tmp_path: Path):
    with serve(free_port(), 0.0) as url:
        run("batch", str(articles), "--base-url", url, "--model", "m", "--output", str(tmp_path / "r.jsonl"))
    stats = dict(line.split("\t") for line in run("cache", "stats").stdout.splitlines())
    assert stats["entries"] == "9"
    assert "removed 9" in run("cache", "clear").stderr
    stats = dict(line.split("\t") for line in run("cache", "stats").stdout.splitlines())
    assert stats["entries"] == "0"


def test_merge_reports_a_bad_results_line(tmp_path: Path):
    bad = tmp_path / "results.jsonl"
    bad.write_text('{"id": "a", "analysis": {}}\n')
    result = run("merge", str(bad))
    assert result.exit_code == 2 and "line 1" in result.stderr


def test_eval_runs_scores_and_compares(tmp_path: Path):
    dataset = tmp_path / "dev.jsonl"
    lines = (Path(__file__).resolve().parent / "data" / "cnndm-dev.jsonl").read_text().splitlines()[:3]
    dataset.write_text("\n".join(lines) + "\n")
    with serve(free_port(), 0.0) as url:
        for name in ("a", "b"):
            result = run(
                "eval", str(dataset), "--out", str(tmp_path / name), "--base-url", url, "--model", "m"
            )
            assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert len(report["articles"]) == 3 and report["overall"]["schema_failures"] == 0
    assert 0 < report["overall"]["lead3_rouge1"] < 1 and report["overall"]["rouge1"] is not None
    assert report["run"]["prompt_versions"].keys() == {"summary", "stances", "events"}
    html = (tmp_path / "a" / "report.html").read_text()
    assert "<img" in html
    compared = run(
        "eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp")
    )
    assert compared.exit_code == 0, compared.output
    assert "0 better, 0 worse, 3 same" in compared.stderr  # same answers: nothing changed
    assert (tmp_path / "cmp" / "comparison.json").exists()
    kept = (tmp_path / "a" / "report.json").read_bytes()
    onto_a = run("eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "a"))
    assert onto_a.exit_code == 2 and "is also an input of this command" in onto_a.stderr
    assert (tmp_path / "a" / "report.json").read_bytes() == kept


# --- data is never lost or mixed: the scenarios of issue 8 ------------------------------------------------


def test_batch_onto_its_own_input_is_refused(tmp_path: Path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"x{i}", "text": ARTICLE}) + "\n" for i in range(3)))
    before = source.read_bytes()
    result = run(
        "batch", str(source), "-o", str(source), "--base-url", "http://127.0.0.1:1/v1", "--model", "m"
    )
    assert result.exit_code == 2
    expected = f"error: --output {source} is also an input of this command: refusing to overwrite it"
    assert " ".join(result.stderr.split()).startswith(expected)
    assert source.read_bytes() == before


def test_resume_with_other_settings_is_refused_and_force_new_starts_afresh(articles: Path, tmp_path: Path):
    out = tmp_path / "results.jsonl"
    with serve(free_port(), 0.0) as url:
        first = run("batch", str(articles), "--base-url", url, "--model", "model-a", "-o", str(out))
        assert first.exit_code == 0, first.output
        kept = out.read_bytes()
        other = ("batch", str(articles), "--base-url", url, "--model", "model-b", "--tasks", "summary")
        refused = run(*other, "-o", str(out))
        assert refused.exit_code == 2 and out.read_bytes() == kept
        message = " ".join(refused.stderr.split())
        assert (
            "model 'model-a' -> 'model-b'" in message and "tasks summary,stances,events -> summary" in message
        )
        assert "write to another -o, or pass --force-new" in message
        fresh = run(*other, "-o", str(out), "--force-new")
        assert fresh.exit_code == 0 and "3 done, 0 already done" in fresh.stderr
    [aside] = tmp_path.glob("results.jsonl.before-*")
    assert aside.read_bytes() == kept  # the earlier results are kept, not deleted
    assert f"--force-new: the earlier files are kept as {aside.name}, " in fresh.stderr


def test_merge_refuses_to_export_onto_its_input(articles: Path, tmp_path: Path):
    out = tmp_path / "res.jsonl"
    with serve(free_port(), 0.0) as url:
        assert run("batch", str(articles), "--base-url", url, "--model", "m", "-o", str(out)).exit_code == 0
    kept = out.read_bytes()
    for option in ("--plover", "--events-csv", "--stances-csv", "-o"):
        result = run("merge", str(out), option, str(out))
        assert result.exit_code == 2 and "is also an input of this command" in result.stderr, option
        assert out.read_bytes() == kept


def test_merge_with_an_id_in_two_files_keeps_the_later(tmp_path: Path):
    results = []
    with serve(free_port(), 0.0) as url:
        for run_name in ("first", "second"):  # the same article id, answered differently each time
            source = tmp_path / f"{run_name}.jsonl"
            source.write_text(
                json.dumps({"id": "same", "text": f"REF-{run_name}\n{ARTICLE}"}) + "\n"
                + json.dumps({"id": f"only-{run_name}", "text": f"REF-{run_name}x\n{ARTICLE}"}) + "\n"
            )  # fmt: skip
            results.append(tmp_path / f"{run_name}.results.jsonl")
            made = run("batch", str(source), "--base-url", url, "--model", "m", "-o", str(results[-1]))
            assert made.exit_code == 0, made.output
    merged = run("merge", *map(str, results), "-o", str(tmp_path / "corpus.json"))
    assert merged.exit_code == 0, merged.output
    assert "1 article id(s) appear in more than one results file: the later file's result is kept" in (
        " ".join(merged.stderr.split())
    )
    corpus = json.loads((tmp_path / "corpus.json").read_text())
    assert corpus["articles"] == 3
    text = json.dumps(corpus)
    assert "answer-for-second)" in text and "answer-for-first)" not in text
