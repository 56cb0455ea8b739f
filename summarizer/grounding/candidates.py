"""Candidate spans of an article, for extractive rails: what the model may choose a field from.

Under extractive rails (`Settings.rails`) the model writes no text: each generated field is a choice among
spans of the article, listed in its prompt with an id and offered as an `enum` in the request schema, and
code copies the chosen span's text and offsets (`extractive.py`). This module makes the spans.

- **Sentences** are `segment`'s, id = the sentence number ("4").
- **Clauses** (English only; other languages get whole sentences): a sentence is cut at a small set of
  boundaries: `;`, a spaced dash, a colon, a comma before a conjunction ("..., but ..."), and around a
  verb of saying ("X, he said." gives "X"; "He said that X." gives "X"); a quotation of four words or
  more is a clause too. Id = number + letter ("4b"). Cut edges lose their connective and punctuation, so
  a clause reads on its own, and it stays an exact slice of the article.
- **Kinds**: a headline is a clause or a short sentence (4 to 20 words); a stance position is a clause of
  a sentence that reports a position (a quotation or a verb of saying, backing or opposing: the quoted
  words, or the words said); an event description is a clause holding a verb (a past tense, or a common
  verb of news).
- **Ranking, a lead prior, stated**: candidates are offered in article order (a headline's clauses of
  one sentence shortest first), and only the first
  `LIMITS[kind]` are offered, to keep the prompt short for a small context. News puts its main facts
  first, and the embedded 135M model picks the first ids offered whatever they say (NOTES.md, "What the
  small model can choose"): so for that model the ranking IS the choice, and this module says so rather
  than presenting the pick as the model's judgement.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..core.segment import Sentence

Kind = Literal["headline", "position", "event"]
# How many candidates a prompt offers per field: about 30 tokens each, so at most ~300 tokens a prompt.
LIMITS: dict[str, int] = {"headline": 6, "position": 8, "event": 8}
# A headline's length in words. Short, because the eval scores headline + summary and a headline copied
# from the lead repeats the summary's words: on the 20 dev articles with the first three sentences as the
# summary, the first candidate scores ROUGE-1 0.349 at 4-20 words and 0.361 at 4-15, shortest first.
HEADLINE_WORDS = (4, 15)
CLAUSE_MIN_WORDS = 4

_WORD = re.compile(r"\w+(?:['’]\w+)*")
# Boundaries between clauses (English): the cut falls between the two clauses; the match itself (the
# punctuation and the connective) belongs to neither.
_BOUNDARY = re.compile(
    r"\s*;\s+|\s+[—–-]{1,2}\s+|:\s+|,\s+(?:but|while|whereas|although|though|and|as|after|before|because|"
    r"when|which|who|where)\s+",
    re.IGNORECASE,
)
_SAY = r"(?:said|says|say|saying|told|added|stated|warned|insisted|argued|claimed|wrote|announced)"
# A plain comma: a headline may also be the part of a sentence before or after one ("X did Y, the first
# time since Z").
_COMMA = re.compile(r",\s+")
# Backing or opposing said in a verb, without a quotation: the sentence itself states the position.
_STANCE_VERB = re.compile(
    r"\b(?:urg(?:es|ed)|call(?:s|ed) for|promis(?:es|ed)|pledg(?:es|ed)|vow(?:s|ed)|condemn(?:s|ed)|"
    r"critici[sz](?:es|ed)|prais(?:es|ed)|support(?:s|ed)|back(?:s|ed)|oppos(?:es|ed)|reject(?:s|ed)|"
    r"den(?:ies|ied)|accus(?:es|ed)|demand(?:s|ed)|threaten(?:s|ed)|welcom(?:es|ed)|warn(?:s|ed))\b",
    re.IGNORECASE,
)
# "..., he said." / "..., Kim said on Friday." at the end: the clause before it is what was said.
_SAID_AFTER = re.compile(
    rf",[\"'”’]?\s+(?:[\w.’'-]+\s+){{0,5}}?{_SAY}\b[^,]{{0,40}}[.!?]?[\"'”’]?$", re.IGNORECASE
)
# "He said (in a statement) that ..." / "saying he ...": the clause after it is what was said.
_SAID_BEFORE = re.compile(rf"\b{_SAY}\b[^;\"“”]{{0,40}}?\bthat\s+|\b(?:said|says|saying)\s+(?!that\b)", re.I)
_QUOTE = re.compile(r"[\"“]([^\"“”]{10,})[\"”]")
_POSITION = re.compile(
    r"[\"\u201c\u201d\u00ab\u00bb]|\b(?:say|says|said|saying|told|warn(?:s|ed)?|urg(?:es|ed)|call(?:s|ed|ing)|"
    r"promis(?:es|ed)|pledg(?:es|ed)|vow(?:s|ed)|condemn(?:s|ed)|critici[sz](?:es|ed)|prais(?:es|ed)|"
    r"support(?:s|ed)?|back(?:s|ed)|oppos(?:es|ed)|reject(?:s|ed)|den(?:ies|ied)|accus(?:es|ed)|"
    r"demand(?:s|ed)|threaten(?:s|ed)|welcom(?:es|ed)|insist(?:s|ed)|argu(?:es|ed)|claim(?:s|ed))\b",
    re.IGNORECASE,
)
# A verb, roughly: a past tense or participle in -ed, or a common irregular or auxiliary verb of news.
_VERB = re.compile(
    r"\b(?:\w{3,}ed|is|are|was|were|has|have|had|will|would|can|could|gave|give|gives|met|meet|meets|"
    r"sent|send|sends|told|said|says|took|take|takes|made|make|makes|won|lost|led|left|fled|began|came|"
    r"went|saw|held|hit|struck|shot|killed|died|fell|rose|paid|sold|bought|kept|brought|caught|"
    r"found|spoke|wrote|set|put|ran|run|runs|broke|drove|flew|stood|threw|sought|fought|built|spent)\b",
    re.IGNORECASE,
)
_QUOTES = ('"', "”", "’", "'")
_EDGE = " \t\n,;:—–-\"'“”‘’()"


def reports_position(text: str) -> bool:
    """A sentence that reports someone's position: a quotation mark, or an English verb of saying, backing
    or opposing."""
    return bool(_POSITION.search(text))


@dataclass(frozen=True)
class Candidate:
    """One span the model may choose: `text == article[start:end]`; `id` as the prompt lists it."""

    id: str
    sentence: int
    start: int
    end: int
    text: str

    @property
    def words(self) -> int:
        return len(_WORD.findall(self.text))

    def listed(self) -> str:
        """As the prompt lists it: `[4b] text`, on one line."""
        return f"[{self.id}] {' '.join(self.text.split())}"


def _trimmed(sentence: Sentence, start: int, end: int) -> tuple[int, int]:
    """[start, end) (offsets into the sentence) without edge punctuation and spaces; a final full stop
    stays only if the span ends where the sentence does."""
    text = sentence.text
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE:
        end -= 1
    if end < len(text) and end > start and text[end - 1] == ".":
        end -= 1
    return start, end


def _split(text: str, boundary: re.Pattern[str]) -> list[tuple[int, int]]:
    cuts = [0]
    for m in boundary.finditer(text):
        cuts += [m.start(), m.end()]
    cuts.append(len(text))
    return [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts), 2)] if len(cuts) > 2 else []


def _pieces(sentence: Sentence, reported: bool, commas: bool) -> list[tuple[int, int]]:
    """Clause boundaries of one English sentence, as [start, end) offsets into the sentence; the sentence
    itself is not among them. `reported`: only what someone is reported to say (quotations, the clause
    before ", he said" or after "said that"). `commas`: plain commas cut too (headlines)."""
    text = sentence.text
    found: list[tuple[int, int]] = []
    if not reported:
        found += _split(text, _BOUNDARY)
    if commas:
        found += _split(text, _COMMA)
    if (m := _SAID_AFTER.search(text)) is not None and m.start() > 0:
        found.append((0, m.start()))
    m = _SAID_BEFORE.search(text)
    # Not '"...," said Kang': after an inverted verb of saying comes the speaker, not what was said.
    if m is not None and m.end() < len(text) and not text[: m.start()].rstrip().endswith((",", *_QUOTES)):
        found.append((m.end(), len(text)))
    found += [(m.start(1), m.end(1)) for m in _QUOTE.finditer(text)]
    return found


def clauses(
    sentence: Sentence, language: str | None = None, *, reported: bool = False, commas: bool = False
) -> list[Candidate]:
    """The sentence's clauses (English; none for another language), each an exact slice of the article,
    in order of their start, without repeats and without the whole sentence. `reported`: only the words
    someone is reported to say. Ids are lettered over all the sentence's clauses, whichever are kept."""
    if language is not None and not language.lower().startswith("en"):
        return []
    every = clauses(sentence, language, commas=True) if reported or not commas else None
    spans: dict[tuple[int, int], None] = {}
    for a, b in _pieces(sentence, reported, commas):
        a, b = _trimmed(sentence, a, b)
        whole = sentence.text.strip(_EDGE)
        if b > a and sentence.text[a:b] != whole:
            spans.setdefault((a, b))
    out = []
    ordered = sorted(spans, key=lambda s: (s[0], -s[1]))
    for a, b in ordered:
        text = sentence.text[a:b]
        if len(_WORD.findall(text)) >= CLAUSE_MIN_WORDS:
            out.append((a, b, text))
    letters = "abcdefghijklmnopqrstuvwxyz"
    made = [
        Candidate(
            f"{sentence.number}{letters[i]}", sentence.number, sentence.start + a, sentence.start + b, t
        )
        for i, (a, b, t) in enumerate(out[: len(letters)])
    ]
    if every is not None:  # the same span keeps the same id whatever the field
        ids = {(c.start, c.end): c.id for c in every}
        made = [c for c in (Candidate(ids.get((c.start, c.end), ""), *_rest(c)) for c in made) if c.id]
    return made


def _rest(c: Candidate) -> tuple[int, int, int, str]:
    return c.sentence, c.start, c.end, c.text


def whole(sentence: Sentence) -> Candidate:
    return Candidate(str(sentence.number), sentence.number, sentence.start, sentence.end, sentence.text)


def _fits(kind: Kind, candidate: Candidate, sentence: Sentence) -> bool:
    if kind == "headline":
        low, high = HEADLINE_WORDS
        return low <= candidate.words <= high
    if kind == "position":
        return reports_position(sentence.text)
    return bool(_VERB.search(candidate.text)) or candidate.id == str(sentence.number)


def candidates(
    kind: Kind, sentences: Sequence[Sentence], language: str | None = None, limit: int | None = None
) -> list[Candidate]:
    """What a field of `kind` may be chosen from, in article order (the lead prior of the module
    docstring), at most `limit` (default `LIMITS[kind]`). Per sentence: for a headline, its clauses and
    the sentence itself when short enough (a sentence with no short clause or length yields nothing, so
    a long lead gives way to the next fitting one); for a position, its quotations and reported clauses,
    else the sentence; for an event, its clauses holding a verb, else the sentence. Another language than
    English: whole sentences, for every kind. If no sentence fits a headline, the first sentences are
    offered whole."""
    limit = LIMITS[kind] if limit is None else limit
    out: list[Candidate] = []
    for sentence in sentences:
        parts = clauses(sentence, language, reported=kind == "position", commas=kind == "headline")
        if kind == "headline":  # within a sentence, the shortest first: a headline says little
            found = sorted(
                (c for c in [whole(sentence), *parts] if _fits(kind, c, sentence)), key=lambda c: c.words
            )
        elif kind == "position":
            stated = _STANCE_VERB.search(sentence.text) or (language or "en").lower()[:2] != "en"
            found = parts or ([whole(sentence)] if stated else [])
        else:
            fitting = [c for c in parts if _fits(kind, c, sentence)]
            found = fitting or [whole(sentence)]
        out += found
        if len(out) >= limit:
            break
    if not out and kind == "headline":
        out = [whole(s) for s in sentences]
    return out[:limit]


def listing(found: Iterable[Candidate]) -> str:
    """The candidates as the prompt lists them, one a line."""
    return "\n".join(c.listed() for c in found)
