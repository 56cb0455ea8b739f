"""How well the article supports a generated sentence: a deterministic, model-free score.

A claim (a headline, a summary sentence, a stance position...) is cut into sentences and each into tokens:
words (compared by their Snowball stem when the language has one), numbers (compared exactly, thousands
separators removed) and, in scripts written without spaces (Chinese, Japanese, Thai), single characters.
For each claim sentence:

- **Local evidence** is the sentences the claim cites when there are any, else the one article sentence that
  holds the largest weight of the claim's tokens. A token found there counts fully; a token found only
  elsewhere in the article counts `Rules.elsewhere`; a token absent from the article counts nothing. So a
  claim that joins a subject from one sentence to an object from another scores below the faithful one.
- **Negation**: a word up to `Rules.negation_scope` words after a negation word ("did not [resign]") only
  matches the same word negated, and vice versa, so a negation added or dropped counts as unsupported.
- **Weights**: a token weighs its length squared (longer words are rarer and carry the content: Zipf's law
  of abbreviation, which spares a stop-word list per language), a number `Rules.number`, a negation word
  `Rules.negation`.
- **Word pairs**: each pair of neighbouring tokens is looked up the same way (weight: the sum of its two
  tokens'), which sees right words in a wrong relation.
- The sentence's score is `(1 - Rules.pairs) * token share + Rules.pairs * pair share`; the claim's score
  is the mean over its sentences, so one wrong sentence in a three-sentence summary costs a third.

`unsupported` lists the claim's tokens with no support anywhere in the article (in the claim's spelling);
`flagged` is `score < THRESHOLD`. What each rule bought on the FRANK factuality benchmark, and how
THRESHOLD was chosen: bench/bench_support.py and bench/README.md.

Limits: words are matched by form and stem, not meaning: a faithful paraphrase in new words scores lower
than a copied sentence with one wrong detail. Spelled-out numbers do not match digits ("two" and "2").
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import regex
import snowballstemmer

THRESHOLD: float = 0.5
"""A claim scoring below this is flagged: less than half of its weighted words and pairs are supported.
On FRANK's validation summaries (bench/README.md) it flags 47% of the sentences of XSum summaries that humans
found wholly wrong and 24% of those they found right (25 summaries); CNN/DM summaries copy from the article,
and there it flags 3% of the sentences of the wholly wrong summaries and none of the right ones. A flag
says "check this", not "false".
"""


@dataclass(frozen=True)
class Rules:
    """The scoring constants, in one place so the benchmark can switch each rule off and measure it."""

    elsewhere: float = 0.75  # credit for a token found in the article but not in the local evidence
    pairs: float = 0.3  # share of the score that comes from neighbouring-token pairs
    length_power: float = 2.0  # token weight = len ** length_power
    number: float = 100.0  # a number weighs as much as a 10-letter word: rarer than most words
    negation: float = 25.0  # a negation word weighs as much as a 5-letter word
    stem: bool = True  # compare words by stem (else by exact form)
    align: bool = True  # local evidence = the best article sentence (else the whole article is local)
    negation_scope: int = 2  # a word within this many words after a negation word is negated (0: off)


RULES = Rules()


@dataclass(frozen=True)
class Support:
    """The support of one claim: `score` in 0..1, higher is better supported."""

    score: float
    unsupported: tuple[str, ...] = ()
    flagged: bool = field(default=False)


# A number (1,000 / 3.5 / 2024), one character of a script written without spaces, or a word (letters
# with their combining marks, so Devanagari or Thai vowel signs do not split a word).
_TOKEN = regex.compile(
    r"(?P<num>\p{N}+(?:[.,]\p{N}+)*)"
    r"|(?P<char>[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}])"
    r"|(?P<word>[\p{L}\p{M}]+)"
)
_THOUSANDS = regex.compile(r"[.,](?=\p{N}{3}(?!\p{N}))")
# English n't is its own word ("has n't" in tokenised text, "hasn't" in prose): make both "not". The
# possessive 's is dropped: "Lyon's" is supported by "Lyon".
_NT = regex.compile(r"n['’]t\b", regex.I)
_POSSESSIVE = regex.compile(r"['’]s\b", regex.I)
_SENTENCE_END = regex.compile(r"(?<=[.!?…。！？])[\"'”’»)\]]*\s+|\n+")
# Negation words of the languages news is most often written in; a language not listed has none (its
# negations then count as ordinary words, which still catches one added or dropped through the word pairs).
NEGATIONS = {
    "en": "not no never nor none nobody nothing neither without cannot",
    "de": "nicht kein keine keinen keinem keiner nie niemals niemand nichts ohne",
    "fr": "ne pas jamais aucun aucune sans rien",
    "es": "no nunca jamás ningún ninguna ninguno sin nadie nada",
    "pt": "não nunca nenhum nenhuma sem ninguém nada",
    "it": "non mai nessuno nessuna senza niente nulla",
    "nl": "niet geen nooit zonder niemand niets",
}
_SNOWBALL = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek",
    "en": "english", "es": "spanish", "et": "estonian", "eu": "basque", "fi": "finnish", "fr": "french",
    "ga": "irish", "hi": "hindi", "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian",
    "lt": "lithuanian", "ne": "nepali", "nl": "dutch", "no": "norwegian", "nb": "norwegian",
    "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "sv": "swedish", "ta": "tamil", "tr": "turkish", "fa": "persian", "yi": "yiddish",
}  # fmt: skip


class _Token(NamedTuple):  # a tuple, not a dataclass: an article makes hundreds, built in a fraction
    text: str  # as written in the claim
    key: str  # what is compared: stem, number or character
    weight: float
    negated: bool = False  # a negation word shortly before it: "did not [resign]"


@dataclass(frozen=True)
class _Language:
    stem: Callable[[str], str]
    negations: frozenset[str]


@lru_cache(maxsize=64)
def _language(code: str | None) -> _Language:
    """Stemmer and negation words for an ISO 639-1 code (None: English, the project's default language).

    A language without a Snowball stemmer compares exact forms."""
    base = (code or "en").split("-")[0].split("_")[0].lower()
    name = _SNOWBALL.get(base)
    stem = lru_cache(maxsize=100_000)(snowballstemmer.stemmer(name).stemWord) if name else str
    return _Language(stem, frozenset(NEGATIONS.get(base, "").split()))


def split_sentences(text: str) -> list[str]:
    """Sentences by end punctuation and line breaks: enough to align a claim, not a linguist's splitter."""
    return [s for s in (p.strip() for p in _SENTENCE_END.split(text)) if s]


def _tokens(text: str, language: _Language, rules: Rules) -> list[_Token]:
    text = _POSSESSIVE.sub("", _NT.sub(" not", unicodedata.normalize("NFKC", text)))
    out = []
    cues = []
    for m in _TOKEN.finditer(text):
        written = m.group()
        if m.group("num"):
            out.append(_Token(written, _THOUSANDS.sub("", written), rules.number))
            cues.append(False)
            continue
        low = written.casefold()
        cues.append(low in language.negations)
        weight = rules.negation if cues[-1] else float(len(low)) ** rules.length_power
        out.append(_Token(written, language.stem(low) if rules.stem else low, weight))
    if rules.negation_scope:
        for i, t in enumerate(out):
            if not cues[i] and any(cues[max(0, i - rules.negation_scope) : i]):
                out[i] = _Token(t.text, t.key, t.weight, negated=True)
    return out


def _facts(tokens: Sequence[_Token]) -> frozenset[tuple[str, bool]]:
    return frozenset((t.key, t.negated) for t in tokens)


def _pair_keys(tokens: Sequence[_Token]) -> frozenset[tuple[str, str]]:
    return frozenset(itertools.pairwise(t.key for t in tokens))


def _pairs(tokens: Sequence[_Token]) -> list[tuple[tuple[str, str], float]]:
    return [((a.key, b.key), a.weight + b.weight) for a, b in itertools.pairwise(tokens)]


class SupportIndex:
    """One article, tokenised once, against which any number of claims are scored.

    `sentences`: the article's sentences if the caller has them (the pipeline's numbering); otherwise they
    are split here. `language`: ISO 639-1 code choosing the stemmer (None: English).
    """

    def __init__(
        self,
        article: str,
        *,
        language: str | None = None,
        sentences: Sequence[str] | None = None,
        rules: Rules = RULES,
    ) -> None:
        self.rules = rules
        self._language = _language(language)
        sents = list(sentences) if sentences is not None else split_sentences(article)
        tokenised = [_tokens(s, self._language, rules) for s in sents]
        self._facts = [_facts(ts) for ts in tokenised]
        self._pairs = [_pair_keys(ts) for ts in tokenised]
        self._all_facts = frozenset().union(*self._facts)
        self._all_pairs = frozenset().union(*self._pairs)
        # Which sentences hold a key, to align a claim without scanning every sentence.
        self._where: dict[str, list[int]] = {}
        for i, facts in enumerate(self._facts):
            for key in {key for key, _ in facts}:
                self._where.setdefault(key, []).append(i)

    def score(self, claim: str, cited: Sequence[str] = ()) -> Support:
        """Score `claim` against the `cited` sentences first, then the whole article (module docstring)."""
        cited_tokens = [_tokens(s, self._language, self.rules) for s in cited]
        cited_facts = frozenset().union(*(_facts(ts) for ts in cited_tokens))
        cited_pairs = frozenset().union(*(_pair_keys(ts) for ts in cited_tokens))
        scores: list[float] = []
        unsupported: dict[str, None] = {}
        for sentence in split_sentences(claim):
            tokens = _tokens(sentence, self._language, self.rules)
            if not tokens:
                continue
            if cited:
                local_facts, local_pairs = cited_facts, cited_pairs
            else:
                local_facts, local_pairs = self._align(tokens)
            scores.append(self._sentence_score(tokens, local_facts, local_pairs))
            for t in tokens:
                if (t.key, t.negated) not in self._all_facts and (t.key, t.negated) not in cited_facts:
                    unsupported.setdefault(t.text)
        # A claim with no word or number at all asserts nothing the article could contradict.
        score = sum(scores) / len(scores) if scores else 1.0
        return Support(round(score, 4), tuple(unsupported), score < THRESHOLD)

    def _align(
        self, tokens: Sequence[_Token]
    ) -> tuple[frozenset[tuple[str, bool]], frozenset[tuple[str, str]]]:
        if not self.rules.align or not self._facts:
            return self._all_facts, self._all_pairs
        held: dict[int, float] = {}
        for t in {t.key: t for t in tokens}.values():
            for i in self._where.get(t.key, ()):
                held[i] = held.get(i, 0.0) + t.weight
        if not held:
            return frozenset(), frozenset()
        best = max(held, key=lambda i: (held[i], -i))  # ties: the earlier sentence
        return self._facts[best], self._pairs[best]

    def _sentence_score(
        self,
        tokens: Sequence[_Token],
        facts: frozenset[tuple[str, bool]],
        pairs: frozenset[tuple[str, str]],
    ) -> float:
        elsewhere = self.rules.elsewhere

        def credit(item: object, local: frozenset, everywhere: frozenset) -> float:
            return 1.0 if item in local else elsewhere if item in everywhere else 0.0

        total = sum(t.weight for t in tokens)
        # A token must also agree in negation: "did not resign" does not support "resigned".
        token_share = (
            sum(t.weight * credit((t.key, t.negated), facts, self._all_facts) for t in tokens) / total
        )
        pair_list = _pairs(tokens)
        if not pair_list or not self.rules.pairs:
            return token_share
        pair_share = sum(w * credit(p, pairs, self._all_pairs) for p, w in pair_list) / sum(
            w for _, w in pair_list
        )
        return (1 - self.rules.pairs) * token_share + self.rules.pairs * pair_share


def score_support(claim: str, cited: Sequence[str], article: str, *, language: str | None = None) -> Support:
    """Score one claim; for many claims of one article, build a `SupportIndex` once and reuse it."""
    return SupportIndex(article, language=language).score(claim, cited)
