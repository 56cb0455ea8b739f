"""The CLI's errors: one line on stderr, no traceback, a distinct exit code; the input left untouched."""

import hashlib
import json

import pytest
from typer.testing import CliRunner

from summarizer.cli import app
from summarizer.model.settings import resolve_settings
from summarizer.pipeline import Summarizer

from .conftest import SEED, tool_call_completion

pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SUMMARIZER_MODEL", "SUMMARIZER_MODE"):
        monkeypatch.delenv(name, raising=False)


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(app, list(args), input=input)


def _assert_one_line_error(result, code: int, fragment: str):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert fragment in result.stderr
    assert result.stderr.strip().startswith("error:")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "is empty"),
        (b"  \n\t \n", "contains only whitespace"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"caf\xe9 au lait, a news story", "not valid UTF-8"),
    ],
)
def test_bad_input_files(tmp_path, content, fragment):
    path = tmp_path / "article.txt"
    path.write_bytes(content)
    _assert_one_line_error(run("summarize", str(path)), 2, fragment)
    assert path.read_bytes() == content


def test_missing_file(tmp_path):
    _assert_one_line_error(run("summarize", str(tmp_path / "nope.txt")), 2, "no such file")


def test_empty_stdin():
    _assert_one_line_error(run("summarize", "-", input=b""), 2, "is empty")


def test_unknown_task_and_bad_date():
    _assert_one_line_error(run("summarize", str(SEED), "--tasks", "poems"), 2, "unknown task")
    _assert_one_line_error(run("summarize", str(SEED), "--published", "28/07/2023"), 2, "YYYY-MM-DD")


def test_unreachable_endpoint():
    result = run(
        "summarize", str(SEED), "--base-url", "http://127.0.0.1:1/v1", "--model", "m", "--max-retries", "0"
    )
    _assert_one_line_error(result, 3, "cannot reach the endpoint")


def test_rejected_key(stub_endpoint, monkeypatch):
    stub = stub_endpoint(401, {"error": {"message": "Incorrect API key provided: sk-abc***"}})
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-0000")
    result = run("summarize", str(SEED), "--base-url", stub.base_url, "--model", "m")
    _assert_one_line_error(result, 3, "rejected the API key")
    assert "sk-wrong-key" not in result.output


def test_unknown_model(stub_endpoint):
    stub = stub_endpoint(404, {"error": {"message": "model not found"}})
    result = run("summarize", str(SEED), "--base-url", stub.base_url, "--model", "no-such-model")
    _assert_one_line_error(result, 3, "'no-such-model' not found")


def test_output_still_invalid_after_retries(stub_endpoint):
    stub = stub_endpoint(200, tool_call_completion(json.dumps({"headline": "x"})))
    args = ("summarize", str(SEED), "--base-url", stub.base_url, "--model", "m", "--tasks", "summary")
    result = run(*args, "--max-retries", "1")
    _assert_one_line_error(result, 4, "failed validation after 2 attempts")
    assert stub.requests == 2


def test_success_writes_json_and_leaves_the_input_alone(stub_endpoint, tmp_path):
    point = {"text": "Missiles.", "sentences": [1]}
    good = {"headline": "Kim shows Shoigu missiles", "summary": "A tour.", "key_points": [point]}
    stub = stub_endpoint(200, tool_call_completion(json.dumps(good)))
    before = hashlib.sha256(SEED.read_bytes()).hexdigest()
    out = tmp_path / "out.json"
    args = ("summarize", str(SEED), "--base-url", stub.base_url, "--model", "m", "--tasks", "summary")
    result = run(*args, "--format", "json", "--output", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["summary"]["headline"] == good["headline"]
    (cited,) = data["summary"]["key_points"][0]["evidence"]  # sentence 1, copied from the article
    assert cited["sentence"] == 1 and cited["text"] == data["article"]["text"][cited["start"] : cited["end"]]
    assert data["metadata"]["endpoint"] == "compatible"
    assert set(data["metadata"]["prompt_versions"]) == {"summary"}
    assert hashlib.sha256(SEED.read_bytes()).hexdigest() == before


def test_output_may_not_overwrite_the_input(tmp_path, stub_endpoint):
    good = {"headline": "h", "summary": "s.", "key_points": [{"text": "k.", "sentences": [1]}]}
    stub = stub_endpoint(200, tool_call_completion(json.dumps(good)))
    article = tmp_path / "a.txt"
    article.write_text(SEED.read_text())
    args = ("summarize", str(article), "--base-url", stub.base_url, "--model", "m", "--tasks", "summary")
    _assert_one_line_error(run(*args, "--output", str(article)), 2, "is the input article")
    assert article.read_text() == SEED.read_text()


def test_schema_and_prompts_commands():
    schema = json.loads(run("schema").stdout)
    assert "metadata" in schema["properties"]
    listed = run("prompts", "list").stdout
    names = {line.split("\t")[0] for line in listed.splitlines()}
    assert names == {"events", "stances", "summary", "summary_reduce"} | {
        f"{t}_extractive" for t in ("events", "stances", "summary")
    }
    shown = run("prompts", "show", "events", "--article", str(SEED)).stdout
    assert "--- system ---" in shown and "Kim Jong Un" in shown
    _assert_one_line_error(run("prompts", "show", "nope", "--article", str(SEED)), 2, "no prompt named")
    checked = run("prompts", "check")  # it once stopped at the first extractive prompt: "does not render"
    assert checked.exit_code == 0, checked.output
    assert {line.split("\t")[0] for line in checked.stdout.splitlines()} == names


def test_prompts_show_prints_the_messages_the_pipeline_sends():
    # Numbered sentences inside the tagged fence, as sent; it once showed the raw text instead.
    from summarizer.core.article import read_article

    settings = resolve_settings(base_url="http://127.0.0.1:9/v1", model="x", env={})
    with Summarizer(settings) as s:
        (call,) = [c for c in s.plan(read_article(SEED), "events")]
    expected = "".join(f"--- {m['role']} ---\n{m['content']}\n" for m in call.messages)
    assert run("prompts", "show", "events", "--article", str(SEED)).stdout == expected


def test_drop_unknown_names_is_listed_and_its_old_name_strict_is_not() -> None:
    for command in ("summarize", "batch"):
        shown = run(command, "--help").output
        assert "--drop-unknown-names" in shown and "--strict" not in shown


def test_the_old_strict_flag_still_works_and_says_it_is_deprecated(tmp_path) -> None:
    article = tmp_path / "a.txt"
    article.write_text(SEED.read_text())
    # Nothing listens on port 9: the run fails at the endpoint (exit 3), after the options were read.
    result = run("summarize", str(article), "--strict", "--base-url", "http://127.0.0.1:9/v1", "--model", "m")
    assert result.exit_code == 3, result.output
    assert "--strict is deprecated: use --drop-unknown-names" in result.stderr


def test_summarizer_strict_is_the_deprecated_name_of_drop_unknown_names() -> None:
    settings = resolve_settings(base_url="http://127.0.0.1:9/v1", model="m", api_key="t", env={})
    with pytest.warns(DeprecationWarning, match="drop_unknown_names"):
        summarizer = Summarizer(settings, strict=True)
    assert summarizer.drop_unknown_names and summarizer.strict
