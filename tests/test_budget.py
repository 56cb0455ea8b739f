"""Token budgets: the model's own tokenizer, context sizes, what one request may carry."""

from __future__ import annotations

import pytest

from summarizer.core.errors import ConfigError
from summarizer.model.budget import (
    CONTEXT_ENV,
    MIN_CHUNK_TOKENS,
    REASK_TOKENS,
    chunk_budget,
    context_tokens,
    estimate_tokens,
    token_counter,
)
from summarizer.model.settings import Settings

from .test_segment import articles, real_counter


@pytest.fixture(autouse=True)
def _no_context_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONTEXT_ENV, raising=False)


# --- counting tokens and budgets -----------------------------------------------------------------------


@pytest.mark.live
@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_estimate_over_counts_the_real_tokenizer(seed_text: str) -> None:
    # The embedded model's chunks are cut by the estimate: it must never under-count its tokenizer.
    assert token_counter(Settings(model="SmolLM2-135M-Instruct", endpoint="embedded")) is estimate_tokens
    with real_counter() as count:
        assert estimate_tokens(seed_text) > count(seed_text)
        for article in articles():
            assert estimate_tokens(article) > count(article)


def test_estimate_counts_non_ascii_characters() -> None:
    assert estimate_tokens("abcdef") == 2
    assert estimate_tokens("北京是中国的首都") == 8
    assert token_counter(Settings(model="gpt-4o-mini", endpoint="openai")) is estimate_tokens


@pytest.mark.parametrize(
    ("model", "endpoint", "expected"),
    [
        ("SmolLM2-135M-Instruct", "embedded", 8192),
        ("gpt-4o", "openai", 128_000),
        ("gpt-4o-2024-08-06", "openai", 128_000),
        ("gpt-4.1-nano", "openai", 1_047_576),
        ("o3-mini", "openai", 200_000),
        ("openai/gpt-4o-mini", "compatible", 128_000),
        ("gpt-4", "openai", 8192),
        ("llama3.1:8b", "compatible", 8192),
        ("o1x", "compatible", 8192),
    ],
)
def test_context_tokens(model: str, endpoint: str, expected: int) -> None:
    assert context_tokens(Settings(model=model, endpoint=endpoint)) == expected  # type: ignore[arg-type]


def test_context_tokens_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONTEXT_ENV, "32768")
    assert context_tokens(Settings(model="mystery", endpoint="compatible")) == 32768
    settings = Settings(model="gpt-4o", endpoint="openai")
    assert context_tokens(settings, env={CONTEXT_ENV: "4096"}) == 4096
    with pytest.raises(ConfigError):
        context_tokens(settings, env={CONTEXT_ENV: "lots"})


def test_chunk_budget_leaves_room_for_one_answer_and_one_bounded_reask() -> None:
    embedded = Settings(model="SmolLM2-135M-Instruct", endpoint="embedded", max_tokens=1000, max_retries=5)
    # 8192 tokens: the prompt, one answer, the re-ask's errors and excerpt, and 5 % (409) for the template.
    # More retries do not shrink it: a re-ask replaces the previous one instead of piling up.
    assert chunk_budget(embedded, 1200) == 8192 - 1200 - 1000 - REASK_TOKENS - 409
    small = Settings(model="mystery", endpoint="compatible", max_tokens=6000)
    with pytest.raises(ConfigError, match="leaves 0 tokens for the article"):
        chunk_budget(small, 2000)
    assert (
        chunk_budget(Settings(model="mystery", endpoint="compatible", max_tokens=5000), 1000)
        >= MIN_CHUNK_TOKENS
    )
