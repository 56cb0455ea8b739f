"""Segmenting: numbered sentences with offsets, chunks of whole sentences, token budgets."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from summarizer.core.segment import Chunk, Sentence, TokenCounter, segment, split_sentences
from summarizer.model.budget import CONTEXT_ENV, estimate_tokens
from summarizer.model.local import EnginePlan, LocalServer

DATA = Path(__file__).parent / "data" / "cnndm-dev-8.jsonl"


@pytest.fixture(autouse=True)
def _no_context_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONTEXT_ENV, raising=False)


def articles() -> list[str]:
    return [json.loads(line)["article"] for line in DATA.read_text(encoding="utf-8").splitlines()]


def long_article(separator: str = "\n\n") -> str:
    """About 7,000 words of real news paragraphs: the 8 articles, then the first ones again."""
    paragraphs: list[str] = []
    source = articles()
    while sum(len(p.split()) for p in paragraphs) < 7000:
        paragraphs.append(source[len(paragraphs) % len(source)])
    return separator.join(paragraphs)


@contextlib.contextmanager
def real_counter() -> Iterator[TokenCounter]:
    """The embedded model's own tokenizer: its engine's /tokenize (the tokenizer lives in that process)."""
    with LocalServer(plan=EnginePlan(slots=1, threads=1)) as server:

        def count(text: str) -> int:
            body = json.dumps({"content": text, "add_special": False}).encode()
            url = server.base_url.removesuffix("/v1") + "/tokenize"
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                return len(json.load(response)["tokens"])

        yield count


def check_sentences(text: str, sentences: list[Sentence]) -> None:
    """Numbered 1..N, exact slices without edge whitespace, in order, covering every word of the text."""
    assert [s.number for s in sentences] == list(range(1, len(sentences) + 1))
    covered = [False] * len(text)
    end = 0
    for s in sentences:
        assert text[s.start : s.end] == s.text and s.text == s.text.strip() and s.text
        assert s.start >= end
        end = s.end
        covered[s.start : s.end] = [True] * (s.end - s.start)
    assert all(done or not char.isalnum() for char, done in zip(text, covered, strict=True))


def check_chunks(sentences: list[Sentence], chunks: list[Chunk], budget: int, count: TokenCounter) -> None:
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert [s for c in chunks for s in c.sentences] == sentences  # every sentence once, in order
    for chunk in chunks:
        assert count(chunk.numbered_text()) <= budget


def test_seed_sentences(seed_text: str) -> None:
    sentences = split_sentences(seed_text)
    check_sentences(seed_text, sentences)
    assert sentences[0].text.startswith("North Korean leader Kim Jong Un gave Russian Defense Minister")
    assert sentences[0].text.endswith("advanced weapons.")
    assert sentences[1].text.startswith("Russia and China both sent delegations")
    assert sentences[0].numbered().startswith("[1] North Korean leader")


def test_lines_are_never_joined_and_numbered_lines_have_no_breaks() -> None:
    text = "A headline without a stop\nBy A. Reporter\n\nFirst sentence here. Second one,\r\n  wrapped."
    sentences = split_sentences(text.replace("\r\n", " "))
    assert [s.text for s in sentences[:2]] == ["A headline without a stop", "By A. Reporter"]
    assert "\n" not in Chunk(0, tuple(sentences)).numbered_text().replace("\n[", "[")


def test_pieces_without_a_letter_or_digit_are_not_sentences() -> None:
    sentences = split_sentences("First.\n* * *\n---\nSecond.")
    assert [s.text for s in sentences] == ["First.", "Second."]


def test_whole_article_is_one_chunk_when_it_fits(seed_text: str) -> None:
    sentences, chunks = segment(seed_text, 10_000, estimate_tokens)
    assert len(chunks) == 1 and chunks[0].sentences == tuple(sentences)
    assert chunks[0].span == f"sentences 1-{len(sentences)}"


def test_long_article_chunks_are_runs_of_whole_sentences_with_global_numbers() -> None:
    text = long_article()
    sentences, chunks = segment(text, 1500, estimate_tokens)
    check_sentences(text, sentences)
    check_chunks(sentences, chunks, 1500, estimate_tokens)
    assert len(chunks) > 3
    assert chunks[1].numbers[0] == chunks[0].numbers[-1] + 1  # numbering goes on across chunks


@pytest.mark.live
@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_long_article_with_the_real_tokenizer() -> None:
    text = long_article("\n")
    with real_counter() as count:
        for budget in (300, 1500, 4000):
            sentences, chunks = segment(text, budget, count)
            check_sentences(text, sentences)
            check_chunks(sentences, chunks, budget, count)


def test_a_sentence_longer_than_the_budget_is_cut_between_words() -> None:
    text = "Intro. " + " ".join(f"word{i}" for i in range(3000)) + " end. Outro."
    sentences, chunks = segment(text, 100, estimate_tokens)
    check_sentences(text, sentences)
    check_chunks(sentences, chunks, 100, estimate_tokens)
    for s in sentences:
        assert s.start == 0 or text[s.start - 1] == " "
    with pytest.raises(ValueError):
        segment(text, 0, estimate_tokens)
