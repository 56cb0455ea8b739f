"""Segment an article: numbered sentences with offsets, and chunks that are runs of whole sentences.

Sentences are the unit of evidence: the model cites their numbers and the grounding stage copies their
text and offsets. Numbers are global (1..N over the whole article), so a chunk of a long article cites
into the whole article. Lines (paragraphs, headlines, bylines) are split first, then each line into
sentences by `sentencex` (rule-based, many languages, nothing to download).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import sentencex

from .errors import InputError

TokenCounter = Callable[[str], int]

_LINES = re.compile(r"[^\n]+")
_SPACE = re.compile(r"\s+")
_WORDS = re.compile(r"\S+")
_LONG_RUN_PIECE = 256
# Starts only at the start of a run (the look-behind), so that runs just short of it are read once.
_LONG_RUN = re.compile(rf"(?<!\S)\S{{{_LONG_RUN_PIECE},}}+")


@dataclass(frozen=True)
class Sentence:
    number: int  # 1-based, over the whole article
    start: int  # [start, end) into the article text
    end: int
    text: str  # exactly article_text[start:end]

    def numbered(self) -> str:
        """As the model sees it: `[n] text`, on one line."""
        return f"[{self.number}] {_SPACE.sub(' ', self.text)}"


@dataclass(frozen=True)
class Chunk:
    index: int
    sentences: tuple[Sentence, ...]

    @property
    def numbers(self) -> tuple[int, ...]:
        return tuple(s.number for s in self.sentences)

    @property
    def span(self) -> str:
        """Its sentence range, for messages: "sentences 12-30"."""
        first, last = self.sentences[0].number, self.sentences[-1].number
        return f"sentence {first}" if first == last else f"sentences {first}-{last}"

    def numbered_text(self) -> str:
        return "\n".join(s.numbered() for s in self.sentences)


def covering_spans(sentences: Sequence[Sentence], length: int) -> list[tuple[int, int]]:
    """Each sentence from its start to the next one's (the first from 0, the last past the end), so that
    every offset of a text of `length` characters is in one: the sentence around a date (dates.py)."""
    starts = [0, *(s.start for s in sentences[1:])]
    ends = [*starts[1:], length + 1]
    return list(zip(starts, ends, strict=True))


def split_sentences(text: str, language: str | None = None) -> list[Sentence]:
    """The sentences of `text`, numbered from 1, each an exact slice of `text` with no edge whitespace."""
    lang = (language or "en").split("-")[0].lower()
    spans: list[tuple[int, int]] = []
    for line in _LINES.finditer(text):
        pos = line.start()
        for piece in _segment_line(lang, line.group()):
            piece = piece.strip()
            if not piece:
                continue
            found = text.find(piece, pos, line.end())
            if found < 0:  # sentencex changed the piece: keep the rest of the line as one sentence
                found, piece = pos, text[pos : line.end()].strip()
                found = text.find(piece, pos, line.end())
            spans.append((found, found + len(piece)))
            pos = found + len(piece)
    return [
        Sentence(n, s, e, text[s:e])
        for n, (s, e) in enumerate(spans, 1)
        if any(c.isalnum() for c in text[s:e])
    ]


def _segment_line(lang: str, line: str) -> Iterator[str]:
    """sentencex's sentences of one line, but a run of `_LONG_RUN` or more characters without a space
    is not given to it: sentencex is quadratic in such a run when it holds many terminators ("!-" * n:
    100 KB took 2 s). The run is cut into pieces of its own; no word of an article is that long."""
    pos = 0
    for run in _LONG_RUN.finditer(line):
        yield from sentencex.segment(lang, line[pos : run.start()])
        yield from (
            line[at : min(at + _LONG_RUN_PIECE, run.end())] for at in range(*run.span(), _LONG_RUN_PIECE)
        )
        pos = run.end()
    yield from sentencex.segment(lang, line[pos:])


def _renumber(sentences: Sequence[Sentence]) -> list[Sentence]:
    return [Sentence(n, s.start, s.end, s.text) for n, s in enumerate(sentences, 1)]


def _split_long(sentence: Sentence, article: str, max_tokens: int, count: TokenCounter) -> list[Sentence]:
    """A sentence longer than a chunk may carry (a table flattened into one line): cut between words."""
    pieces: list[Sentence] = []
    start = end = sentence.start
    for word in _WORDS.finditer(article, sentence.start, sentence.end):
        if end > start and count(article[start : word.end()]) > max_tokens:
            pieces.append(Sentence(0, start, end, article[start:end]))
            start = word.start()
        end = word.end()
    pieces.append(Sentence(0, start, end, article[start:end]))
    return pieces


def segment(
    text: str, max_tokens: int, count: TokenCounter, language: str | None = None
) -> tuple[list[Sentence], list[Chunk]]:
    """The article's sentences, and chunks of whole sentences whose numbered text fits `max_tokens`.

    One chunk when the whole article fits. Otherwise sentences are packed greedily in order; a sentence
    that alone exceeds the budget is first cut between words into several numbered sentences.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    sentences = split_sentences(text, language)
    if not sentences:  # an Article built by hand: reading refuses such text already
        raise InputError("the article has no sentence (not one letter or digit): nothing to summarise")
    if any(count(s.numbered()) > max_tokens for s in sentences):
        pieces = [p for s in sentences for p in _split_long(s, text, max_tokens - 8, count)]
        sentences = _renumber(pieces)
    whole = Chunk(0, tuple(sentences))
    if count(whole.numbered_text()) <= max_tokens:
        return sentences, [whole]
    chunks: list[Chunk] = []
    run: list[Sentence] = []
    used = 0
    for sentence in sentences:
        tokens = count(sentence.numbered()) + 1  # the line break
        if run and used + tokens > max_tokens:
            chunks.append(Chunk(len(chunks), tuple(run)))
            run, used = [], 0
        run.append(sentence)
        used += tokens
    if run:
        chunks.append(Chunk(len(chunks), tuple(run)))
    return sentences, chunks
