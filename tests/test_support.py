"""The support score on small hand-made cases: what it must rank, list and flag."""

from __future__ import annotations

import pytest

from summarizer.grounding.support import THRESHOLD, SupportIndex, score_support, split_sentences

ARTICLE = (
    "The city council of Lyon approved a budget of 4.2 million euros on Tuesday. "
    "Mayor Anna Berg said the money would repair three bridges. "
    "The opposition leader, Paul Meyer, did not vote for the plan. "
    "Work is expected to start in March."
)


@pytest.fixture(scope="module")
def index() -> SupportIndex:
    return SupportIndex(ARTICLE)


def test_copied_sentence_is_fully_supported_and_not_flagged(index: SupportIndex) -> None:
    support = index.score("Mayor Anna Berg said the money would repair three bridges.")
    assert support.score == 1.0
    assert support.unsupported == ()
    assert not support.flagged


def test_supported_paraphrase_beats_a_wrong_number(index: SupportIndex) -> None:
    paraphrase = index.score("Lyon's council approved the 4.2 million euro budget on Tuesday.")
    wrong_number = index.score("The city council of Lyon approved a budget of 9.5 million euros on Tuesday.")
    assert paraphrase.score > wrong_number.score
    assert wrong_number.unsupported == ("9.5",)


def test_supported_claim_beats_a_wrong_name(index: SupportIndex) -> None:
    right = index.score("Mayor Anna Berg said the money would repair bridges.")
    wrong = index.score("Mayor John Smith said the money would repair bridges.")
    assert right.score > wrong.score
    assert wrong.unsupported == ("John", "Smith")


def test_negation_added_or_dropped_lowers_the_score() -> None:
    negated = SupportIndex("The minister resigned on Friday after the vote.")
    assert (
        negated.score("The minister did not resign on Friday.").score
        < negated.score("The minister resigned on Friday.").score
    )
    plain = SupportIndex("The minister did not resign on Friday after the vote.")
    assert (
        plain.score("The minister did resign on Friday.").score
        < plain.score("The minister did not resign on Friday.").score
    )


def test_facts_stitched_from_two_sentences_score_below_one_sentence() -> None:
    index = SupportIndex("Lyon beat Monaco on Saturday. Paris lost to Nice on Sunday.")
    faithful = index.score("Lyon beat Monaco on Saturday.")
    stitched = index.score("Paris beat Monaco on Saturday.")
    # Every word of the stitched claim is in the article: only alignment and word pairs see the error.
    assert stitched.unsupported == ()
    assert stitched.score < faithful.score


def test_cited_sentences_are_the_local_evidence() -> None:
    sentences = split_sentences(ARTICLE)
    claim = "Paul Meyer did not vote for the plan."
    right = score_support(claim, [sentences[2]], ARTICLE)
    wrong = score_support(claim, [sentences[3]], ARTICLE)
    # A wrong citation costs, but the words are still in the article: partly supported, none unsupported.
    assert right.score > wrong.score > score_support("Nobody knows why.", [sentences[3]], ARTICLE).score
    assert wrong.unsupported == ()


def test_invented_claim_is_flagged_with_its_words() -> None:
    support = score_support("Aliens landed in Tokyo yesterday.", [], ARTICLE)
    assert support.flagged
    assert support.score < THRESHOLD
    assert support.unsupported == ("Aliens", "landed", "Tokyo", "yesterday")


def test_multi_sentence_claim_is_the_mean_of_its_sentences(index: SupportIndex) -> None:
    good = "Work is expected to start in March."
    bad = "Aliens landed in Tokyo yesterday."
    both = index.score(f"{good} {bad}").score
    assert both == pytest.approx((index.score(good).score + index.score(bad).score) / 2, abs=1e-3)


def test_forms_that_mean_the_same_token() -> None:
    article = "He hasn't paid the 1,000 dollars yet."
    assert score_support("He has not paid the 1000 dollars.", [], article).unsupported == ()
    # Tokenised text as in news corpora: "has n't".
    assert score_support("he has n't paid the 1,000 dollars .", [], article).score == 1.0


def test_stems_follow_the_language() -> None:
    article = "Die Regierung hat am Montag drei neue Gesetze beschlossen."
    claim = "Die Regierung beschloss ein neues Gesetz."
    german = score_support(claim, [], article, language="de")
    exact = score_support(claim, [], article, language="xx")  # no stemmer: exact forms only
    assert "Gesetz" not in german.unsupported
    assert "Gesetz" in exact.unsupported
    assert german.score > exact.score


def test_scripts_without_spaces_are_compared_by_character() -> None:
    article = "市议会周二批准了新预算。"
    assert score_support("市议会批准了新预算。", [], article).score > 0.8
    assert score_support("足球队赢得了比赛。", [], article).flagged


def test_claim_without_words_asserts_nothing(index: SupportIndex) -> None:
    assert index.score(" ... ") == index.score("")
    assert index.score("").score == 1.0
    assert not index.score("").flagged


def test_callers_sentences_are_the_units_of_alignment() -> None:
    article = (
        "Lyon beat Monaco on Saturday while Paris lost to Nice on Sunday"  # one sentence to the splitter
    )
    claim = "Paris beat Monaco on Saturday."
    as_one = SupportIndex(article).score(claim)
    as_two = SupportIndex(
        article, sentences=["Lyon beat Monaco on Saturday", "while Paris lost to Nice on Sunday"]
    ).score(claim)
    assert as_two.score < as_one.score


def test_swapped_roles_score_below_the_right_order() -> None:
    index = SupportIndex("Lyon beat Monaco on Saturday.")
    # Same words, same sentence: only the word pairs see who beat whom.
    assert (
        index.score("Monaco beat Lyon on Saturday.").score
        < index.score("Lyon beat Monaco on Saturday.").score
    )


def test_word_found_only_under_negation_is_unsupported() -> None:
    support = score_support("The minister resigned.", [], "The minister did not resign after the vote.")
    assert support.unsupported == ("resigned",)
    assert score_support("The minister did not resign.", [], "The minister did not resign.").unsupported == ()
