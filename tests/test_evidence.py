"""Locating evidence quotes: offsets must always index the ORIGINAL article text."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from summarizer.evidence import MIN_FUZZY_CHARS, _Normalised, count_grounding, locate_quote, normalise
from summarizer.schemas import Grounding, GroundingCounts

SEED = (Path(__file__).resolve().parent.parent / "seeds" / "000_576e96b86ee510dd.txt").read_text(
    encoding="utf-8"
)
PUTIN = "Kim was reportedly given a letter from Russian President Vladimir Putin."


def exact_span(g: Grounding) -> tuple[str, int | None, int | None, str | None]:
    return g.status, g.start, g.end, g.matched_text


# --- exact ---------------------------------------------------------------------------------------------


def test_exact_sentence_from_the_seed() -> None:
    g = locate_quote(PUTIN, SEED)
    assert exact_span(g) == ("exact", 1421, 1493, PUTIN)
    assert g.score == 100.0 and g.reason is None
    assert g.start is not None and g.end is not None and SEED[g.start : g.end] == g.matched_text


def test_straight_quotes_match_curly_ones_in_the_article() -> None:
    # The article has “Victory Day.” in curly quotes and Pyongyang's with a straight apostrophe.
    g = locate_quote('known in North Korea as "Victory Day."', SEED)
    assert exact_span(g) == ("exact", 515, 553, "known in North Korea as “Victory Day.”")
    g = locate_quote("seemed to highlight Pyongyang’s new drones", SEED)
    assert exact_span(g) == ("exact", 692, 734, "seemed to highlight Pyongyang's new drones")


@pytest.mark.parametrize(
    ("quote", "start", "end", "original"),
    [
        # hyphen in the quote, en dash in the article
        (
            "armistice agreement - known in North Korea",
            493,
            535,
            "armistice agreement – known in North Korea",
        ),
        # hyphen in the quote, em dash in the article
        ("new drones - one possibly modeled", 724, 757, "new drones — one possibly modeled"),
        # em dash in the quote, en dash in the article
        ("armistice agreement — known", 493, 520, "armistice agreement – known"),
    ],
)
def test_dash_variants_are_equal(quote: str, start: int, end: int, original: str) -> None:
    assert exact_span(locate_quote(quote, SEED)) == ("exact", start, end, original)


def test_whitespace_newlines_and_case_are_ignored() -> None:
    # The article has a newline between "July 26." and “The pictures"; the quote has spaces, an inner
    # newline, other capitals and a straight double quote.
    quote = 'released by a NORTH KOREAN media\n outlet on July 26.   "The pictures seemed'
    g = locate_quote(quote, SEED)
    assert exact_span(g) == (
        "exact",
        626,
        698,
        "released by a North Korean media outlet on July 26.\n“The pictures seemed",
    )


@pytest.mark.parametrize(
    "quote", [f"“{PUTIN}”", f'"{PUTIN}"', f"'{PUTIN}'", PUTIN[:-1] + "...", PUTIN[:-1] + "…"]
)
def test_wrapping_quote_marks_and_final_punctuation_are_ignored(quote: str) -> None:
    g = locate_quote(quote, SEED)
    # The article's own full stop follows the match, so it is given back to the span.
    assert exact_span(g) == ("exact", 1421, 1493, PUTIN)
    # Without a final full stop in the quote, the span stops before the article's.
    assert exact_span(locate_quote(f"  «{PUTIN[:-1]}»\n", SEED)) == ("exact", 1421, 1492, PUTIN[:-1])


def test_stripped_punctuation_is_only_kept_where_the_article_has_it() -> None:
    assert exact_span(locate_quote("the U.S.", SEED)) == ("exact", 764, 772, "the U.S.")
    # "Victory Day!" : the article has "Day.”", so the "!" is not given back and the span ends at "Day".
    assert exact_span(locate_quote('"Victory Day!"', SEED)) == ("exact", 540, 551, "Victory Day")


def test_length_changing_nfkc_characters_before_the_match_keep_offsets_exact() -> None:
    # 'ﬁ' becomes "fi" and '…' becomes "..." under NFKC: the normalised text is longer than the original
    # from there on, and the offsets must still point into the original.
    prefix = "The ﬁrst reports… were oﬃcial ½ of the time.\n\n"
    article = prefix + SEED
    g = locate_quote(PUTIN, article)
    assert exact_span(g) == ("exact", 1421 + len(prefix), 1493 + len(prefix), PUTIN)


def test_quote_matching_inside_ligatures_spans_the_whole_ligature() -> None:
    article = "The ﬁrst reports… said: “The oﬃcial ﬁgures are wrong.” Later…"
    g = locate_quote("the official figures are wrong", article)
    assert exact_span(g) == ("exact", 25, 52, "The oﬃcial ﬁgures are wrong")
    assert article[25:52] == "The oﬃcial ﬁgures are wrong"
    # "fficial" starts inside the 'ﬃ' ligature: the span takes the whole (one-character) ligature.
    assert exact_span(locate_quote("fficial figures", article)) == ("exact", 30, 42, "ﬃcial ﬁgures")
    # The quote writes the ellipsis as three dots; the article has one '…' character.
    g = locate_quote("first reports... said", article)
    assert exact_span(g) == ("exact", 4, 22, "ﬁrst reports… said")


def test_composed_quote_finds_decomposed_article_text() -> None:
    article = "Le cafe\u0301 de Ha\u0300 No\u0323\u0302i est ouvert."  # accents as combining marks
    g = locate_quote("le café de hà nội", article)
    assert exact_span(g) == ("exact", 0, 21, "Le cafe\u0301 de Ha\u0300 No\u0323\u0302i")
    assert g.matched_text is not None and normalise(g.matched_text) == "le café de hà nội"


def test_first_occurrence_wins() -> None:
    # "missile tests" is in the seed twice, at 2083 and 2576.
    assert SEED.find("missile tests", 2084) == 2576
    assert exact_span(locate_quote("missile tests", SEED)) == ("exact", 2083, 2096, "missile tests")
    # Also when the two occurrences differ only in what normalisation erases.
    article = 'He said “no deal” twice. Later he said "no deal" again.'
    assert exact_span(locate_quote('he said "no deal"', article)) == ("exact", 0, 17, "He said “no deal”")


@pytest.mark.parametrize(
    "quote", ["(a+b)*?[x]", "^$.|\\d+{2}", "[North Korean] law on the nuclear force policy"]
)
def test_regex_metacharacters_are_plain_text(quote: str) -> None:
    article = f"Before. The formula (a+b)*?[x] and ^$.|\\d+{{2}} appear here. {SEED}"
    g = locate_quote(quote, article)
    start = article.find(quote)
    assert exact_span(g) == ("exact", start, start + len(quote), quote)
    # Absent, short or long: no error, just ungrounded.
    assert locate_quote("(a+b)*?[y]", SEED).status == "ungrounded"
    assert locate_quote("((?:a+b)*?[x]{3,}|\\w+$)^ (?P<n>.*)", SEED).status == "ungrounded"


# --- approximate ---------------------------------------------------------------------------------------


def test_one_word_changed_is_approximate() -> None:
    g = locate_quote("Kim was reportedly handed a letter from Russian President Vladimir Putin", SEED)
    assert g.status == "approximate"
    assert g.score is not None and 85 <= g.score < 100
    assert g.score == round(g.score, 1)
    assert (g.start, g.end) == (1421, 1492)
    assert g.matched_text == SEED[1421:1492] == PUTIN[:-1]


def test_two_words_changed_is_approximate() -> None:
    quote = "North Korea has repeatedly tested cruise missiles in 2021 and 2023"
    g = locate_quote(quote, SEED)
    assert g.status == "approximate" and g.score is not None and 85 <= g.score < 100
    assert (g.start, g.end) == (1288, 1357)
    assert g.matched_text == "North Korea has repeatedly tested ballistic missiles in 2022 and 2023"


def test_fuzzy_span_is_widened_to_whole_words() -> None:
    # The quote starts mid-word ("ssiles") and misspells "year": the span covers the whole words.
    g = locate_quote("ssiles have been test-launched by North Korea this yr", SEED)
    assert g.status == "approximate"
    assert (g.start, g.end) == (1007, 1064)
    assert g.matched_text == "missiles have been test-launched by North Korea this year"


def test_min_score_is_the_threshold() -> None:
    quote = "Kim was reportedly handed a letter from Russian President Vladimir Putin"
    approx = locate_quote(quote, SEED)
    assert approx.score is not None
    g = locate_quote(quote, SEED, min_score=approx.score + 0.1)
    assert g.status == "ungrounded" and g.start is None and g.end is None and g.matched_text is None
    assert g.score == approx.score
    assert (
        g.reason == f"not found in the article (best fuzzy match {approx.score:.1f} < {approx.score + 0.1:g})"
    )
    assert locate_quote(quote, SEED, min_score=approx.score).status == "approximate"


# --- ungrounded ----------------------------------------------------------------------------------------


def test_absent_quote_is_ungrounded_with_its_best_score() -> None:
    g = locate_quote("The moon is made of green cheese, the minister told reporters.", SEED)
    assert g.status == "ungrounded"
    assert (g.start, g.end, g.matched_text) == (None, None, None)
    assert g.score is not None and g.score < 85
    assert g.reason is not None and g.reason.startswith("not found in the article (best fuzzy match ")
    assert g.reason.endswith(" < 85)")


def test_short_quote_must_match_exactly() -> None:
    assert exact_span(locate_quote("Kim Jong Un", SEED)) == ("exact", 20, 31, "Kim Jong Un")
    # One letter off, and too short for a fuzzy score to mean anything.
    assert len(normalise("Kim Jong Il")) < MIN_FUZZY_CHARS
    g = locate_quote("Kim Jong Il", SEED)
    assert g.status == "ungrounded" and g.start is None and g.score is None
    assert g.reason is not None and "too short" in g.reason


@pytest.mark.parametrize("quote", ["", "   \n ", '""', "“.”", "'...'"])
def test_empty_quote(quote: str) -> None:
    g = locate_quote(quote, SEED)
    assert g == Grounding(status="ungrounded", reason="the quote is empty")


def test_empty_article() -> None:
    g = locate_quote(PUTIN, " \n ")
    assert g.status == "ungrounded" and g.reason == "the article text is empty"


# --- the offset map ------------------------------------------------------------------------------------

_TRICKY = [
    *"abcXYZ ..,'\"-",
    *["ﬁ", "ﬃ", "…", "“", "”", "’", "—", "–", "\u00a0", "\n", "  ", "\t", "\u0301", "e\u0301"],
    *["ß", "İ", "\u00ad", "\u200b", "Д", "½", "㎏", "″", "Ⅻ", "ｱ", "ﾞ", "가", "\u1100\u1161", "Ω"],
]


def test_offset_map_on_random_tricky_text() -> None:
    # Every normalised character maps back to original characters that normalise to contain it, and
    # every normalised span maps to an original span whose normalised form contains it.
    rng = random.Random(20240726)
    for _ in range(2000):
        source = "".join(rng.choice(_TRICKY) for _ in range(rng.randint(0, 30)))
        norm = _Normalised(source)
        assert norm.text == normalise(source)
        for i, char in enumerate(norm.text):
            start, end = norm.to_original(i, i + 1)
            assert 0 <= start < end <= len(source)
            assert char in normalise(source[start:end]) or (char == " " and source[start:end].isspace())
        for _ in range(5):
            if not norm.text.strip():
                break
            i = rng.randrange(len(norm.text))
            j = rng.randrange(i + 1, len(norm.text) + 1)
            start, end = norm.to_original(i, j)
            assert norm.text[i:j].strip() in normalise(source[start:end])


def test_every_word_aligned_slice_of_the_seed_is_found_exactly() -> None:
    rng = random.Random(7)
    words = [i + 1 for i, c in enumerate(SEED) if c == " "]
    for _ in range(200):
        a, b = sorted(rng.sample(words, 2))
        quote = SEED[a:b]
        g = locate_quote(quote, SEED)
        assert g.status == "exact"
        assert g.start is not None and g.end is not None and g.matched_text == SEED[g.start : g.end]
        # The first occurrence, which may be earlier; leading quote marks are skipped.
        assert g.start <= a + len(quote) - len(quote.lstrip(" \"'“”‘’"))
        assert _core(g.matched_text) == _core(quote)


def _core(text: str) -> str:
    return normalise(text).strip(" \"'.").rstrip(",;:!?\"' .")


def test_normalise() -> None:
    assert normalise("  “Don’t”\u00a0—\n\tSTOP…  ﬁne ″x″ ") == ' "don\'t" - stop... fine "x" '


# --- performance ---------------------------------------------------------------------------------------


def test_fuzzy_match_in_a_50k_article() -> None:
    # Speed is measured in bench/bench_evidence.py, not asserted here.
    rng = random.Random(3)
    words = SEED.split()
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 25))) for _ in range(600)]
    article = "\n".join(lines)[:50_000]
    assert len(article) == 50_000
    quote = article[40_000:40_300].replace(" ", " xq ", 3)  # not found exactly: takes the fuzzy path
    g = locate_quote(quote, article)
    assert g.status == "approximate" and g.start is not None and abs(g.start - 40_000) < 20


# --- counting ------------------------------------------------------------------------------------------


def test_count_grounding() -> None:
    groundings = [
        locate_quote(PUTIN, SEED),
        None,
        locate_quote("Kim was reportedly handed a letter from Russian President Vladimir Putin", SEED),
        locate_quote("missile tests", SEED),
        locate_quote("Nothing like this is written anywhere in it.", SEED),
        None,
    ]
    assert count_grounding(groundings) == GroundingCounts(exact=2, approximate=1, ungrounded=1)
    assert count_grounding([]) == GroundingCounts()
    assert count_grounding(iter([None])) == GroundingCounts()
