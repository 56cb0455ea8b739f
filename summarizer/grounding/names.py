"""Check the names and numbers a model writes against the article they should come from.

`NameIndex(article_text)` is built once per article; `contains(name)` answers whether an actor, target,
recipient or location appears in it, and `unsupported(text)` lists the names and numbers of a generated
headline, summary or key point that the article does not hold (entity-level precision, Nan et al. 2021:
"Entity-level Factual Consistency of Abstractive Text Summarization"). No model: names are runs of
capitalised words, numbers are parsed by value.

Both sides are normalised the same way: HTML entities decoded, Unicode NFKC, curly quotes and dashes made
plain, possessives dropped ("Russia's" -> Russia), "U.S." -> US, digit groups joined ("3,000" -> 3000),
then cut into word tokens (punctuation only separates), lowercased. A name is found when its tokens occur
in the article in a row, within one sentence, after these small rules:

- A leading article ("the", "a", "an") is dropped: "the government" needs "government" in the text. A name
  made only of function words ("he", "they") is never found: it names no one.
- Any single name token counts on its own: "Shoigu" once "Sergei Shoigu" is named. A full name counts when
  it stands in the text, titles around it or not ("Sergei Shoigu" in "Defence Minister Sergei Shoigu"), but a
  first name that the text never gives is not made up for it.
- Plural and singular of simple nouns are the same word (protesters/protester, Russians/Russian): a
  trailing -s, -es or -ies is removed on both sides (English only).
- Countries and their demonyms are the same name ("Russian" for Russia and back, "North Korean" for North
  Korea, "British" for the United Kingdom), from the country data of the `countryinfo` package (237
  countries and territories with a demonym and common alternative names) and a few aliases news writes that
  it lacks ("America", "Britain"). English only.
- A name of several words also counts when its words appear in order within one sentence with at most
  `MAX_GAP` other words between two of them ("South Korean officials" in "South Korean and Japanese
  officials", "United Nations Council" in "United Nations Security Council"), but never across sentences:
  "Bruce Bennett" is not found in "Bruce Willis met Tony Bennett".
- Acronyms (a name token of 2 to 5 capital letters) are compared with their case, so "US" is not found in
  "told us". Everything else is compared without case.

Numbers are compared by value: "1,000" == "1000" == "1 000" == "one thousand", "$1.5bn" == "1.5 billion",
"40%" == "40 per cent" == 40. Written numbers ("three thousand", "twenty-five") are read in English only.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from functools import cached_property
from itertools import accumulate, product

from ..core.segment import Sentence, split_sentences
from .name_forms import (
    STOPWORDS,
    WORD,
    country_groups,
    inside,
    is_acronym,
    light_form,
    name_form,
    token_key,
)
from .numbers import find_numbers, value_key

MAX_GAP = 2
"""At most this many words between two words of a name found "in order within one sentence"."""
MAX_RUN = 8
"""A run of capitalised words is checked in parts of this many words (a title-cased sentence is not one
name, and each part costs up to MAX_RUN**2 / 2 look-ups)."""
MAX_VARIANTS = 64
"""At most this many spellings of one name are tried (a name with two countries in it has many)."""

# A word of a generated text that may be part of a name: "U.S." whole, or letters then letters and digits.
_NAME_WORD = re.compile(r"\b(?:[A-Za-z]\.){2,}|[^\W\d_]\w*")

# Lowercase words allowed inside a capitalised name: "Bank of England", "Ludwig van Beethoven".
_CONNECTOR_WORDS = "of de da del della di du van von der den al el bin ibn la le y"
_CONNECTORS = frozenset(_CONNECTOR_WORDS.split())
_LEADING_ARTICLES = ("the", "a", "an")


def _in_spans(at: int, starts: list[int], ends: list[int]) -> bool:
    """Whether `at` falls in one of the spans (starts sorted, ends[i] the furthest end of spans[:i + 1])."""
    i = bisect_right(starts, at)
    return i > 0 and at < ends[i - 1]


class NameIndex:
    """The names and numbers of one article, for checking what a model wrote about it.

    `language` is the article's language code; the English-only rules (plurals, demonyms, written
    numbers, sentence-initial function words) apply when it is English or unknown.
    """

    def __init__(
        self, text: str, *, language: str | None = None, sentences: Sequence[Sentence] | None = None
    ) -> None:
        self.english = language is None or language.casefold().startswith("en")
        norm = name_form(text)
        # The sentences the model cites (segment's), each in name form: "within one sentence" means one of
        # those. Without them (a caller with text alone), segment splits the text the same way.
        if sentences is None:
            sentences = split_sentences(text, language)
        self._tokens = [WORD.findall(name_form(s.text)) for s in sentences]
        english = self.english
        self._sentences = [[token_key(token, english) for token in tokens] for tokens in self._tokens]
        # One string per case policy, sentences apart, so that a name is a substring search.
        self._cased = " | ".join(" ".join(keys) for keys in self._sentences).join("  ")
        self._lower = self._cased.casefold()
        self._values = {value_key(v) for _, _, v in find_numbers(norm, english=self.english)}
        self._memo: dict[tuple[str, ...], bool] = {}

    @cached_property
    def _where(self) -> dict[str, list[tuple[int, int]]]:
        """key -> (sentence, word) positions: only the in-order rule needs them, so built on first use."""
        where: dict[str, list[tuple[int, int]]] = {}
        for s, keys in enumerate(self._sentences):
            for i, key in enumerate(keys):
                where.setdefault(key, []).append((s, i))
        return where

    @cached_property
    def _lowercase_words(self) -> set[str]:
        """Words the article writes in lowercase somewhere: a capitalised one of these at the start of a
        generated sentence is an ordinary word, not a name."""
        return {
            key
            for tokens, keys in zip(self._tokens, self._sentences, strict=True)
            for token, key in zip(tokens, keys, strict=True)
            if token.islower()
        }

    # --- names -------------------------------------------------------------------------------------

    def _name_keys(self, name: str) -> list[str]:
        tokens = WORD.findall(name_form(name))
        while tokens and tokens[0].casefold() in _LEADING_ARTICLES:
            tokens = tokens[1:]
        return [token_key(t, self.english) for t in tokens]

    def contains(self, name: str) -> bool:
        """Whether `name` (an actor, target, recipient or location) appears in the article, by the rules
        in this module's docstring."""
        keys = self._name_keys(name)
        if not keys or all(k in STOPWORDS for k in keys):
            return False
        return any(self._found(variant) for variant in self._variants(keys))

    def same(self, a: str, b: str) -> bool:
        """Whether two names name the same one: equal after normalising, one country's forms ("Russia",
        "Russian"), or one's words all inside the other's in order (a surname: "Kim", "Kim Jong Un")."""
        ka, kb = (self._name_keys(n) for n in (a, b))
        forms_a = [tuple(k.casefold() for k in v) for v in self._variants(ka)]
        forms_b = [tuple(k.casefold() for k in v) for v in self._variants(kb)]
        return any(inside(x, y) or inside(y, x) for x in forms_a for y in forms_b if not set(x) <= STOPWORDS)

    def _variants(self, keys: list[str]) -> Iterator[list[str]]:
        """The name itself, then with each country name or demonym in it replaced by the other forms of
        the same country ("North Korean defence minister" -> "North Korea defence minister")."""
        yield keys
        if not self.english:
            return
        index, groups = country_groups()
        spans: list[tuple[int, int, tuple[tuple[str, ...], ...]]] = []
        i = 0
        while i < len(keys):
            for j in range(min(len(keys), i + 6), i, -1):
                group = index.get(tuple(keys[i:j]))
                if group is not None:
                    spans.append((i, j, groups[group]))
                    i = j
                    break
            else:
                i += 1
        if not spans:
            return
        for n, choice in enumerate(product(*(forms for _, _, forms in spans[:2]))):
            if n >= MAX_VARIANTS:
                return
            out, last = [], 0
            for (i, j, _), form in zip(spans, choice, strict=False):
                out += [*keys[last:i], *form]
                last = j
            variant = [*out, *keys[last:]]
            if variant != keys:
                yield variant

    def _found(self, keys: list[str]) -> bool:
        # Remembered: each look-up below reads the whole article, and the runs of a text repeat their
        # phrases ("U.S.Ж<p>" * n was quadratic). One word is a set look-up.
        memo = tuple(keys)
        if (known := self._memo.get(memo)) is not None:
            return known
        cased = any(is_acronym(k) for k in keys)
        if len(keys) == 1:
            found = keys[0] in (self._cased_keys if cased else self._lower_keys)
        else:
            phrase = " ".join(keys).join("  ")
            found = phrase in (self._cased if cased else self._lower) or self._in_order(keys, cased)
        self._memo[memo] = found
        return found

    @cached_property
    def _cased_keys(self) -> frozenset[str]:
        return frozenset(k for keys in self._sentences for k in keys)

    @cached_property
    def _lower_keys(self) -> frozenset[str]:
        return frozenset(k.casefold() for k in self._cased_keys)

    def _in_order(self, keys: list[str], cased: bool) -> bool:
        """Every word of the name in one sentence, in order, at most MAX_GAP words between neighbours."""
        look = keys if cased else [k.casefold() for k in keys]
        for s, i in self._positions(look[0], cased):
            sentence, at = self._sentences[s], i
            for key in look[1:]:
                window = sentence[at + 1 : at + 2 + MAX_GAP]
                hit = next((n for n, w in enumerate(window) if (w if cased else w.casefold()) == key), None)
                if hit is None:
                    break
                at += 1 + hit
            else:
                return True
        return False

    def _positions(self, key: str, cased: bool) -> list[tuple[int, int]]:
        # Without case, "kim" is also found where the article writes the acronym-like "KIM".
        if cased or not is_acronym(key.upper()):
            return self._where.get(key, [])
        return self._where.get(key, []) + self._where.get(key.upper(), [])

    # --- generated text ----------------------------------------------------------------------------

    def entities(self, text: str) -> list[tuple[str, bool]]:
        """(entity as written, found in the article) for each name and number of a generated text, in
        order of kind (numbers, then names), each distinct entity once.

        A run of capitalised words that is not found as a whole is cut into the longest pieces that are
        ("Russian Defence Minister Sergei Shoigu" against an article that spells it "Defense": "Russian"
        and "Minister Sergei Shoigu" found, "Defence" not), as an NER model would tag "Russian" and
        "Sergei Shoigu" apart; neighbouring words not found stay together ("Bruce Bennett"). So a name
        made up of two real ones ("Kim Shoigu") passes: each piece is real.
        """
        light = light_form(text)
        seen: dict[str, bool] = {}
        numbers = list(find_numbers(light, english=self.english))
        for start, end, value in numbers:
            surface = light[start:end].strip()
            # A lone "one" is as often a pronoun ("one of them") as a count: not an entity.
            if surface.casefold() != "one":
                seen.setdefault(surface, value_key(value) in self._values)
        taken = [(start, end) for start, end, _ in numbers]
        for run in self._runs(light, taken):
            for piece, found in self._pieces(run, light):
                seen.setdefault(piece, found)
        return list(seen.items())

    def unsupported(self, text: str) -> list[str]:
        """The names and numbers of a generated headline, summary or key point that the article does not
        hold, as written there."""
        return [entity for entity, found in self.entities(text) if not found]

    def precision(self, text: str) -> float | None:
        """Share of the text's names and numbers found in the article; None when it has none."""
        found = [ok for _, ok in self.entities(text)]
        return sum(found) / len(found) if found else None

    def _ordinary(self, word: str, lowercase_in_text: set[str]) -> bool:
        key = token_key(word, self.english)
        return (
            (self.english and word.casefold() in STOPWORDS)
            or key in self._lowercase_words
            or key in lowercase_in_text
        )

    def _runs(self, light: str, taken: list[tuple[int, int]]) -> Iterator[list[re.Match[str]]]:
        """Runs of capitalised words (with connectors such as "of" inside), less a sentence-initial
        ordinary word. In a title-cased headline every capitalised word is tested as sentence-initial."""
        lowercase_in_text = {token_key(w, self.english) for w in WORD.findall(light) if w.islower()}
        # A word inside a number is not a name word. By bisection: testing every word against every number
        # was quadratic ("Kim 1 " * n).
        spans = sorted(taken)
        starts = [a for a, _ in spans]
        ends = list(accumulate((b for _, b in spans), max))  # the furthest a number before reaches
        words = [m for m in _NAME_WORD.finditer(light) if not _in_spans(m.start(), starts, ends)]
        capitals = [m.group()[0].isupper() for m in words]
        long_words = [c for m, c in zip(words, capitals, strict=True) if len(m.group()) > 3]
        title_case = len(long_words) >= 3 and sum(long_words) >= 0.8 * len(long_words)
        run: list[re.Match[str]] = []
        for n, m in enumerate(words):
            gap = light[words[n - 1].end() : m.start()] if n else "."
            # After "U.S." a new sentence may start: its full stop is inside the word.
            initial = n == 0 or bool(re.search(r"[.!?:\n\"]", gap)) or words[n - 1].group().endswith(".")
            if run and (not gap.isspace() or not (capitals[n] or m.group() in _CONNECTORS)):
                yield run
                run = []
            if not capitals[n]:
                if run and m.group() in _CONNECTORS:
                    run.append(m)
            elif (initial or title_case) and self._ordinary(m.group(), lowercase_in_text):
                if run:
                    yield run
                    run = []
            else:
                run.append(m)
        if run:
            yield run

    def _pieces(self, run: list[re.Match[str]], light: str) -> Iterator[tuple[str, bool]]:
        """The run as the longest pieces found in the article, from the left; the words in no found piece
        make pieces not found, neighbours together. Connectors neither start nor end a piece."""
        if len(run) > MAX_RUN:
            for start in range(0, len(run), MAX_RUN):
                yield from self._pieces(run[start : start + MAX_RUN], light)
            return
        i = 0
        missing: list[re.Match[str]] = []
        while i < len(run):
            if not run[i].group()[0].isupper():
                i += 1
                continue
            for j in range(len(run), i, -1):
                if run[j - 1].group()[0].isupper() and self.contains(
                    piece := light[run[i].start() : run[j - 1].end()]
                ):
                    if missing:
                        yield light[missing[0].start() : missing[-1].end()], False
                        missing = []
                    yield piece, True
                    i = j
                    break
            else:
                missing.append(run[i])
                i += 1
        if missing:
            yield light[missing[0].start() : missing[-1].end()], False
