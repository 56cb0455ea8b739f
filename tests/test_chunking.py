"""Splitting long articles into chunks that fit the model's context, and merging the chunks' items."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from pathlib import Path

import pytest

from summarizer.chunking import (
    CONTEXT_ENV,
    MIN_CHUNK_TOKENS,
    Chunk,
    TokenCounter,
    chunk_budget,
    context_tokens,
    estimate_tokens,
    merge_events,
    merge_stances,
    split_text,
    token_counter,
)
from summarizer.errors import ConfigError
from summarizer.schemas import (
    CheckedEvent,
    CheckedStance,
    EventType,
    Evidence,
    Grounding,
    Polarity,
    ResolvedDate,
)
from summarizer.settings import Settings

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


def real_counter() -> TokenCounter:
    pytest.importorskip("llama_cpp")
    count = token_counter(Settings(model="SmolLM2-135M-Instruct", endpoint="embedded"))
    if count is estimate_tokens:  # pragma: no cover
        pytest.skip("the embedded model is not installed")
    return count


def check_chunks(text: str, chunks: list[Chunk], budget: int, count: TokenCounter) -> None:
    assert [c.index for c in chunks] == list(range(len(chunks)))
    covered = [False] * len(text)
    previous_end = 0
    for chunk in chunks:
        assert count(chunk.text) <= budget
        assert chunk.text and text[chunk.start : chunk.start + len(chunk.text)] == chunk.text
        assert chunk.start >= previous_end
        previous_end = chunk.start + len(chunk.text)
        covered[chunk.start : previous_end] = [True] * len(chunk.text)
    assert all(done or char.isspace() for char, done in zip(text, covered, strict=True))


# --- splitting -----------------------------------------------------------------------------------------


def test_short_text_is_one_chunk(seed_text: str) -> None:
    assert split_text(seed_text, 10_000) == [Chunk(0, 0, seed_text)]
    assert split_text("", 10) == [Chunk(0, 0, "")]


def test_long_text_packs_whole_paragraphs() -> None:
    text = long_article()
    assert len(text.split()) >= 7000
    chunks = split_text(text, 2000)
    check_chunks(text, chunks, 2000, estimate_tokens)
    assert 1 < len(chunks) < len(text.split("\n\n"))  # several paragraphs per chunk
    paragraphs = set(text.split("\n\n"))
    for chunk in chunks:  # every article fits the budget on its own, so none is cut
        assert all(part in paragraphs for part in chunk.text.split("\n\n"))


def test_one_paragraph_per_line() -> None:
    text = long_article("\n")
    chunks = split_text(text, 2000)
    check_chunks(text, chunks, 2000, estimate_tokens)
    lines = set(text.splitlines())
    assert all(line in lines for chunk in chunks for line in chunk.text.split("\n"))


def test_long_text_with_the_real_tokenizer() -> None:
    count = real_counter()
    text = "\r\n\r\n  " + long_article() + "\n\n"
    for budget in (256, 1500, 4000):
        chunks = split_text(text, budget, count)
        check_chunks(text, chunks, budget, count)


def test_counts_that_do_not_add_up_are_checked_on_the_whole_chunk() -> None:
    def count(text: str) -> int:  # 18 words count as 20, though 9 words count as 9
        words = len(text.split())
        return words + 2 * (words // 10)

    text = "\n\n".join(" ".join(["word"] * 9) for _ in range(6))
    chunks = split_text(text, 19, count)
    check_chunks(text, chunks, 19, count)
    assert len(chunks) == 6


def test_giant_paragraph_is_split_at_sentences() -> None:
    text = articles()[0]  # one paragraph, 4,291 characters
    chunks = split_text(text, 300)
    check_chunks(text, chunks, 300, estimate_tokens)
    assert len(chunks) > 3
    for before, after in itertools.pairwise(chunks):
        assert re.search(r"[.?!][\"'”’)\]]?$", before.text)
        assert re.match(r"[\"'“‘(\[A-Z]", after.text)


def test_giant_sentence_is_split_at_words() -> None:
    text = " ".join(f"word{i}" for i in range(3000))
    chunks = split_text(text, 100)
    check_chunks(text, chunks, 100, estimate_tokens)
    for chunk in chunks:
        assert chunk.start == 0 or text[chunk.start - 1] == " "
        end = chunk.start + len(chunk.text)
        assert end == len(text) or text[end] == " "


def test_giant_word_is_cut_by_characters() -> None:
    text = "See https://example.org/" + "x" * 2000 + " for more."
    chunks = split_text(text, 50)
    check_chunks(text, chunks, 50, estimate_tokens)
    with pytest.raises(ValueError):
        split_text(text, 0)


# --- counting tokens and budgets -----------------------------------------------------------------------


def test_estimate_over_counts_the_real_tokenizer(seed_text: str) -> None:
    count = real_counter()
    assert estimate_tokens(seed_text) > count(seed_text)
    for article in articles():
        assert estimate_tokens(article) > count(article)
    assert token_counter(Settings(model="SmolLM2-135M-Instruct", endpoint="embedded")) is count  # cached


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
        ("gpt-4o-mini", "openai", 128_000),
        ("gpt-4.1-nano", "openai", 1_047_576),
        ("o3-mini", "openai", 200_000),
        ("o1-mini", "openai", 128_000),
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
    assert context_tokens(Settings(model="SmolLM2-135M-Instruct", endpoint="embedded")) == 32768
    assert context_tokens(Settings(model="mystery", endpoint="compatible")) == 32768
    settings = Settings(model="gpt-4o", endpoint="openai")
    assert context_tokens(settings, env={CONTEXT_ENV: "4096"}) == 4096
    with pytest.raises(ConfigError):
        context_tokens(settings, env={CONTEXT_ENV: "lots"})


def test_chunk_budget() -> None:
    embedded = Settings(model="SmolLM2-135M-Instruct", endpoint="embedded", max_tokens=1000, max_retries=1)
    # 8192 - 1200 - 1000 * 2 - max(256, 8192 // 20 = 409)
    assert chunk_budget(embedded, 1200) == 8192 - 1200 - 2000 - 409
    openai = Settings(model="gpt-4o-mini", endpoint="openai", max_tokens=1500, max_retries=2)
    assert chunk_budget(openai, 2000) == 128_000 - 2000 - 4500 - 6400
    small = Settings(model="mystery", endpoint="compatible", max_tokens=3000, max_retries=2)
    assert chunk_budget(small, 2000) == MIN_CHUNK_TOKENS


# --- merging -------------------------------------------------------------------------------------------


def grounding(start: int) -> Grounding:
    return Grounding(status="exact", start=start, end=start + 10)


def stance(actor: str, target: str, polarity: Polarity, quote: str, at: int) -> CheckedStance:
    return CheckedStance(
        actor=actor, target=target, position="p", polarity=polarity, evidence=quote, grounding=grounding(at)
    )


def test_merge_stances() -> None:
    un = stance("The United Nations", "Russia", "opposes", "The UN condemned Russia.", 10)
    kim = stance("Kim", "Shoigu", "supports", "Kim welcomed Shoigu.", 50)
    un_again = stance("united nations", "Russia.", "opposes", "The UN said Russia broke the ban.", 1010)
    un_again.more_evidence = [Evidence(quote="An earlier quote.", grounding=grounding(900))]
    un_supports = stance("United Nations", "Russia", "supports", "The UN thanked Russia.", 1100)
    un_same_quote = stance("UN", "Russia", "opposes", "The UN condemned Russia.", 2010)  # other actor
    un_repeat = stance("The United Nations", "Russia", "opposes", "The UN condemned Russia.", 3010)

    merged = merge_stances([[un, kim], [un_again, un_supports, un_same_quote], [un_repeat]])

    assert merged == [merged[0], kim, un_supports, un_same_quote]
    first = merged[0]
    assert first.actor == "The United Nations" and first.evidence == "The UN condemned Russia."
    assert first.grounding == grounding(10)
    assert first.more_evidence == [
        Evidence(quote="The UN said Russia broke the ban.", grounding=grounding(1010)),
        Evidence(quote="An earlier quote.", grounding=grounding(900)),
    ]
    assert un.more_evidence == []  # inputs untouched
    assert merge_stances([]) == []


def event(
    description: str,
    at: int,
    *,
    kind: EventType = EventType.ASSAULT,
    actors: tuple[str, ...] = ("Russia",),
    recipients: tuple[str, ...] = (),
    location: str | None = None,
    date_text: str | None = None,
    day: int | None = None,
) -> CheckedEvent:
    resolved = None
    if day is not None:
        date = dt.date(2023, 7, day)
        resolved = ResolvedDate(start=date, end=date, precision="day", method="relative to publication")
    return CheckedEvent(
        description=description,
        event_type=kind,
        actors=list(actors),
        recipients=list(recipients),
        location=location,
        date_text=date_text,
        evidence=f"Quote {at}.",
        grounding=grounding(at),
        resolved_date=resolved,
    )


def test_merge_events_same_resolved_date() -> None:
    strike = event("Russia struck Kyiv.", 10, recipients=("Ukraine",), date_text="Monday", day=24)
    again = event(
        "Missiles hit the capital.",
        2010,
        actors=("russia",),
        recipients=("ukraine", "Kyiv"),
        location="Kyiv",
        date_text="July 24",
        day=24,
    )
    other_day = event("Russia struck Kyiv.", 2050, date_text="Tuesday", day=25)
    merged = merge_events([[strike], [again, other_day]])
    assert len(merged) == 2 and merged[1] == other_day
    first = merged[0]
    assert first.recipients == ["Ukraine", "Kyiv"]
    assert (first.location, first.date_text, first.description) == ("Kyiv", "Monday", "Russia struck Kyiv.")
    assert first.grounding == grounding(10)
    assert first.more_evidence == [Evidence(quote="Quote 2010.", grounding=grounding(2010))]
    assert strike.recipients == ["Ukraine"] and strike.more_evidence == []  # inputs untouched


def test_merge_events_by_date_text_fills_resolved_date() -> None:
    talks = event("Kim met Shoigu.", 5, kind=EventType.CONSULT, actors=("Kim", "Shoigu"), date_text="Tuesday")
    talks_resolved = event(
        "Kim and Shoigu held talks.",
        905,
        kind=EventType.CONSULT,
        actors=("Shoigu", "Kim"),
        date_text="tuesday.",
        day=25,
    )
    merged = merge_events([[talks], [talks_resolved]])
    assert len(merged) == 1
    assert merged[0].resolved_date == talks_resolved.resolved_date
    assert merged[0].date_text == "Tuesday"


NK = ("North Korea",)


def test_merge_events_without_dates() -> None:
    tests = event("North Korea tested ballistic missiles.", 1, kind=EventType.MOBILIZE, actors=NK)
    tests_again = event(
        "North Korea tested ballistic missiles again.", 801, kind=EventType.MOBILIZE, actors=NK
    )
    parade = event("North Korea held a military parade.", 802, kind=EventType.MOBILIZE, actors=NK)
    dated = event(
        "North Korea tested ballistic missiles.",
        1601,
        kind=EventType.MOBILIZE,
        actors=NK,
        location="Pyongyang",
        date_text="in 2023",
    )
    accused = event("North Korea tested ballistic missiles.", 1602, kind=EventType.ACCUSE, actors=NK)
    others = event("North Korea tested ballistic missiles.", 1603, kind=EventType.MOBILIZE, actors=("Iran",))

    merged = merge_events([[tests], [tests_again, parade], [dated, accused, others]])

    assert [e.evidence for e in merged] == ["Quote 1.", "Quote 802.", "Quote 1602.", "Quote 1603."]
    first = merged[0]
    assert [e.quote for e in first.more_evidence] == ["Quote 801.", "Quote 1601."]
    assert (first.location, first.date_text) == ("Pyongyang", "in 2023")


def test_merge_events_caps_recipients_at_the_schema_limit() -> None:
    one = event("Sanctions.", 1, kind=EventType.SANCTION, actors=("EU",), recipients=("A", "B", "C"), day=3)
    two = event("Sanctions.", 2, kind=EventType.SANCTION, actors=("EU",), recipients=("D", "E"), day=3)
    merged = merge_events([[one], [two]])
    assert merged[0].recipients == ["A", "B", "C", "D"]
    CheckedEvent.model_validate(merged[0].model_dump())  # still valid output
