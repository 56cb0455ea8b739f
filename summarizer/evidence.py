"""Find a model's evidence quote in the article text.

Models paraphrase, swap curly for straight quotes, wrap quotes in quotation marks and add full stops, so
both sides are normalised (NFKC, quotes, dashes, whitespace, case) before searching. Offsets are always
reported into the ORIGINAL text: normalisation keeps a map from normalised positions back to the source.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator

from rapidfuzz import fuzz

from .schemas import Grounding, GroundingCounts

# Below this many normalised characters a fuzzy score says nothing (a short quote finds a near-perfect
# window in almost any article), so short quotes only count when found exactly.
MIN_FUZZY_CHARS = 12

_TABLE = str.maketrans(
    {**dict.fromkeys("‘’‚‛′‹›", "'"), **dict.fromkeys("“”„‟«»″", '"'), **dict.fromkeys("‐‑‒–—―−", "-")}
    # Invisible characters that HTML extraction leaves inside words: dropped, so "inter\xadnational" matches.
    | dict.fromkeys("\u00ad\u200b\u2060\ufeff")
)
# Whitespace that is not a single plain space: collapsed to one space. Between two such spots lies a
# "block" (often a whole paragraph) that is folded in one go when possible.
_IRREGULAR_SPACE = re.compile(r"\s{2,}|[^\S ]")
_LEADING_JUNK = "\"' ."
_TRAILING_JUNK = "\"' .,;:!?"


def _fold(text: str) -> str:
    # "″" first, as NFKC would make it two primes ('' instead of "); the table after NFKC, which turns
    # fullwidth and small dashes and quotes into the ones in the table.
    return unicodedata.normalize("NFKC", text.replace("″", '"')).translate(_TABLE).casefold()


class _PerChar(dict[int, str]):
    """ord(c) -> _fold(c), filled on first use, so `text.translate(_PER_CHAR)` folds each character on
    its own at C speed. The characters that do not fold to exactly one character go into _ODD."""

    def __missing__(self, key: int) -> str:
        folded = self[key] = _fold(chr(key))
        if len(folded) != 1:
            _ODD.add(chr(key))
        return folded


_ODD: set[str] = set()

_PER_CHAR = _PerChar()


def _positions(text: str, char: str) -> Iterator[int]:
    i = text.find(char)
    while i >= 0:
        yield i
        i = text.find(char, i + 1)


class _Normalised:
    """Normalised text plus a piecewise map back to the original.

    Segment k covers normalised positions [starts[k], starts[k+1]). A linear segment maps position
    starts[k] + i to original offset orig_start[k] + i; a non-linear one (a whitespace run collapsed to
    one space, a ligature expanded to two letters, an accent composed with its letter) maps each of its
    characters to the whole original range [orig_start[k], orig_end[k]).
    """

    def __init__(self, source: str) -> None:
        self.starts: list[int] = []
        self.orig_start: list[int] = []
        self.orig_end: list[int] = []
        self.linear: list[bool] = []
        self._pieces: list[str] = []
        self._length = 0
        pos = 0
        for match in _IRREGULAR_SPACE.finditer(source):
            self._add_block(source[pos : match.start()], pos, split=True)
            self._add(" ", match.start(), match.end(), match.end() - match.start() == 1)
            pos = match.end()
        self._add_block(source[pos:], pos, split=True)
        self.text = "".join(self._pieces)

    def _add_block(self, block: str, offset: int, *, split: bool) -> None:
        if block.isascii():  # ASCII is NFKC-stable and never composes: lower-casing is the whole job
            self._add(block.lower(), offset, offset + len(block), True)
            return
        per_char = block.translate(_PER_CHAR)
        folded = _fold(block)
        if folded == per_char:  # no composition across characters: each character maps on its own
            # Only the few characters that expand (ligatures, '…') or vanish need their own segment;
            # equal lengths would not prove that, as a deletion and an expansion can cancel out.
            odd = sorted(i for c in _ODD.intersection(block) for i in _positions(block, c))
            done = out = 0  # next unmapped position in block and in per_char
            for i in odd:
                piece = _PER_CHAR[ord(block[i])]
                self._add(per_char[out : out + i - done], offset + done, offset + i, True)
                self._add(piece, offset + i, offset + i + 1, False)
                out, done = out + i - done + len(piece), i + 1
            self._add(per_char[out:], offset + done, offset + len(block), True)
        elif split:  # e.g. decomposed accents: retry word by word, so only those words lose precision
            for i, word in enumerate(block.split(" ")):
                if i:
                    self._add(" ", offset, offset + 1, True)
                    offset += 1
                self._add_block(word, offset, split=False)
                offset += len(word)
        else:  # one word whose characters compose: map it as a single block
            self._add(folded, offset, offset + len(block), False)

    def _add(self, piece: str, start: int, end: int, linear: bool) -> None:
        if not piece:
            return
        if linear and self.linear and self.linear[-1] and self.orig_end[-1] == start:
            self.orig_end[-1] = end  # contiguous with the previous linear segment: extend it
        else:
            self.starts.append(self._length)
            self.orig_start.append(start)
            self.orig_end.append(end)
            self.linear.append(linear)
        self._pieces.append(piece)
        self._length += len(piece)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map the normalised span [start, end) (non-empty) to an original span [start, end)."""
        k = bisect_right(self.starts, start) - 1
        orig_start = self.orig_start[k] + (start - self.starts[k] if self.linear[k] else 0)
        k = bisect_right(self.starts, end - 1) - 1
        orig_end = self.orig_start[k] + end - self.starts[k] if self.linear[k] else self.orig_end[k]
        return orig_start, orig_end


def normalise(text: str) -> str:
    """The normalised form both the quote and the article are compared in."""
    return _Normalised(text).text


def _snap_to_words(source: str, start: int, end: int) -> tuple[int, int]:
    # A fuzzy window has the quote's length, so it often starts or ends mid-word: widen it to whole words.
    while start > 0 and source[start - 1].isalnum() and source[start].isalnum():
        start -= 1
    while end < len(source) and source[end - 1].isalnum() and source[end].isalnum():
        end += 1
    return start, end


def locate_quote(quote: str, source: str, *, min_score: float = 85.0) -> Grounding:
    """Where `quote` stands in `source`, with `[start, end)` offsets into the original `source`.

    Surrounding quote marks and final punctuation are ignored when searching (and kept in the span only
    where the article has them right after the match). Exact (after normalising) wins; if the quote
    occurs several times, the FIRST occurrence is reported. Otherwise the best fuzzy window (rapidfuzz
    partial_ratio, widened to whole words) counts if it scores >= `min_score`, except for quotes shorter
    than MIN_FUZZY_CHARS normalised characters, which must match exactly. An ungrounded result carries a
    reason and the best fuzzy score (None when no fuzzy search was made).
    """
    quote_norm = normalise(quote).lstrip(_LEADING_JUNK)
    needle = quote_norm.rstrip(_TRAILING_JUNK)
    if not needle:
        return Grounding(status="ungrounded", reason="the quote is empty")
    hay = _Normalised(source)
    if not hay.text.strip():
        return Grounding(status="ungrounded", reason="the article text is empty")

    found = hay.text.find(needle)  # plain substring search: regex metacharacters in quotes are harmless
    if found >= 0:
        end = found + len(needle)
        # Give back the stripped tail where the article has it too, so "the U.S." keeps its full stop.
        tail = quote_norm[len(needle) :].rstrip()
        while tail and not hay.text.startswith(tail, end):
            tail = tail[:-1]
        start, end = hay.to_original(found, end + len(tail))
        return Grounding(status="exact", start=start, end=end, score=100.0, matched_text=source[start:end])

    if len(needle) < MIN_FUZZY_CHARS:
        reason = f"not found in the article, and too short ({len(needle)} characters) to match loosely"
        return Grounding(status="ungrounded", reason=reason)

    # src_* index the first argument (the quote) and dest_* the second (the article), whichever is
    # longer (checked with rapidfuzz 3.14). Among equally good windows rapidfuzz picks one, not
    # necessarily the first.
    alignment = fuzz.partial_ratio_alignment(needle, hay.text)
    lo, hi = (alignment.dest_start, alignment.dest_end) if alignment is not None else (0, 0)
    while lo < hi and hay.text[lo] == " ":  # no spaces at the window's edges
        lo += 1
    while hi > lo and hay.text[hi - 1] == " ":
        hi -= 1
    # Decide on the rounded score, so that the score reported and the status always agree.
    score = round(alignment.score, 1) if alignment is not None else 0.0
    if score < min_score or lo == hi:
        reason = f"not found in the article (best fuzzy match {score:.1f} < {min_score:g})"
        return Grounding(status="ungrounded", score=score, reason=reason)
    start, end = _snap_to_words(source, *hay.to_original(lo, hi))
    return Grounding(status="approximate", start=start, end=end, score=score, matched_text=source[start:end])


def count_grounding(groundings: Iterable[Grounding | None]) -> GroundingCounts:
    """How many quotes were exact, approximate and ungrounded; None (nothing to check) is skipped."""
    counts = GroundingCounts()
    for grounding in groundings:
        if grounding is not None:
            setattr(counts, grounding.status, getattr(counts, grounding.status) + 1)
    return counts


def shift(grounding: Grounding, offset: int) -> Grounding:
    """A grounding found in a chunk, with its offsets moved to point into the whole article."""
    if grounding.start is None or grounding.end is None or offset == 0:
        return grounding
    return grounding.model_copy(update={"start": grounding.start + offset, "end": grounding.end + offset})


class QuoteCheck:
    """The validation context that makes instructor re-ask for a quote not found in the source.

    The error names the quote, so the model knows which one to fix. On the last attempt the check lets
    every quote through: an item whose quote is still not found is kept and marked ungrounded by the
    pipeline, never dropped without a trace.
    """

    def __init__(self, source: str, is_last_attempt: Callable[[], bool]):
        self.source = source
        self.is_last_attempt = is_last_attempt

    def __call__(self, quote: str) -> None:
        if self.is_last_attempt():
            return
        grounding = locate_quote(quote, self.source)
        if grounding.status == "ungrounded":
            raise ValueError(
                f"the evidence quote {quote!r} is not in the article ({grounding.reason}); "
                "copy one sentence from the article word for word"
            )
