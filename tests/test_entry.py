"""The command's entry: which commands start the embedded engine before their imports."""

from __future__ import annotations

import pytest

from summarizer.cli.entry import _flag, engine_first


@pytest.fixture(autouse=True)
def _no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SUMMARIZER_MODEL", "SUMMARIZER_MODE", "MY_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "argv",
    [
        ["summarize", "seed.txt"],
        ["summarize", "-", "--no-cache", "-f", "json"],
        ["summarize", "a.txt", "--model", "SmolLM2-135M-Instruct"],
    ],
)
def test_summarize_on_the_embedded_model_starts_the_engine_first(argv: list[str]) -> None:
    assert engine_first(argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["batch", "a.jsonl"],
        ["serve"],
        ["summarize", "--help"],
        ["summarize", "a.txt", "--base-url", "http://127.0.0.1:8080/v1", "--model", "m"],
        ["summarize", "a.txt", "--base-url=http://127.0.0.1:8080/v1", "--model", "m"],
        ["summarize", "a.txt", "--mode", "no-such-mode"],  # the command reports it, with nothing started
    ],
)
def test_other_commands_and_other_endpoints_start_nothing_early(argv: list[str]) -> None:
    assert not engine_first(argv)


def test_the_environment_decides_as_it_does_for_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert not engine_first(["summarize", "a.txt"])
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("MY_KEY", "sk-test")
    assert not engine_first(["summarize", "a.txt", "--api-key-env", "MY_KEY"])
    # A variable named but empty is the command's error to report, not a reason to start the engine.
    assert not engine_first(["summarize", "a.txt", "--api-key-env", "UNSET_KEY"])


def test_a_flag_is_read_in_either_form_and_the_last_wins() -> None:
    assert _flag(["--base-url", "a", "--base-url=b"], "--base-url") == "b"
    assert _flag(["--base-url"], "--base-url") is None
    assert _flag(["--base-urlx=c"], "--base-url") is None
