"""Candidate spans for extractive rails: exact slices of the article, split at the documented boundaries,
offered in article order (the lead prior) and capped."""

import itertools

from summarizer.core.segment import split_sentences
from summarizer.grounding.candidates import LIMITS, candidates, clauses, listing, reports_position


def _one(text: str):
    (sentence,) = split_sentences(text)
    return sentence


def test_every_candidate_is_the_article_at_its_offsets(seed_text: str):
    sentences = split_sentences(seed_text)
    for kind in ("headline", "position", "event"):
        found = candidates(kind, sentences, limit=1000)
        assert found, kind
        for c in found:
            assert seed_text[c.start : c.end] == c.text
            assert c.text == c.text.strip() and c.text


def test_clauses_split_at_the_boundaries():
    s = _one("The talks collapsed on Friday; both sides blamed each other for the delay.")
    assert [c.text for c in clauses(s)] == [
        "The talks collapsed on Friday",
        "both sides blamed each other for the delay.",
    ]
    s = _one("Prices rose sharply in March, but wages stayed flat for the third month.")
    assert [c.text for c in clauses(s)] == [
        "Prices rose sharply in March",
        "wages stayed flat for the third month.",
    ]


def test_reported_words_are_the_position():
    s = _one("The plan will ruin small farmers across the region, the minister said on Tuesday.")
    assert [c.text for c in clauses(s, reported=True)] == [
        "The plan will ruin small farmers across the region"
    ]
    s = _one("Kang said in a statement that the situation had changed for the worse.")
    assert [c.text for c in clauses(s, reported=True)] == ["the situation had changed for the worse."]
    s = _one('She called the decision "a betrayal of every voter in this city" on Monday.')
    assert "a betrayal of every voter in this city" in [c.text for c in clauses(s, reported=True)]


def test_a_clause_keeps_its_id_whatever_the_field():
    s = _one("The army moved north, the ministry said, and the border was closed on Sunday.")
    every = {c.text: c.id for c in clauses(s, commas=True)}
    for c in [*clauses(s), *clauses(s, reported=True)]:
        assert every[c.text] == c.id


def test_other_languages_are_offered_whole_sentences():
    text = (
        "Die Regierung hat am Montag, nach langen Gesprächen, den Plan beschlossen. "
        "Die Opposition sagte, er sei falsch."
    )
    sentences = split_sentences(text, "de")
    assert clauses(sentences[0], "de") == []
    found = candidates("event", sentences, "de")
    assert [c.id for c in found] == ["1", "2"] and [c.text for c in found] == [s.text for s in sentences]


def test_candidates_come_in_article_order_and_are_capped(seed_text: str):
    sentences = split_sentences(seed_text)
    for kind in ("headline", "position", "event"):
        found = candidates(kind, sentences)
        assert len(found) <= LIMITS[kind]
        assert [c.sentence for c in found] == sorted(c.sentence for c in found)
    headline = candidates("headline", sentences)
    assert all(4 <= c.words <= 15 for c in headline)
    # Within one sentence, a headline's candidates come shortest first.
    for a, b in itertools.pairwise(headline):
        assert a.sentence < b.sentence or a.words <= b.words
    # Positions only come from sentences that report one.
    assert all(reports_position(sentences[c.sentence - 1].text) for c in candidates("position", sentences))
    assert listing(headline).splitlines()[0].startswith(f"[{headline[0].id}] ")


def test_a_sentence_reporting_no_position_offers_none():
    sentences = split_sentences("The bridge opened in 1932. It carries four lanes of traffic over the river.")
    assert candidates("position", sentences) == []


def test_after_an_inverted_verb_of_saying_comes_the_speaker_not_the_words():
    s = _one('"We will not leave this city before the spring," said the letter, per Reuters.')
    texts = [c.text for c in clauses(s, reported=True)]
    assert "We will not leave this city before the spring" in texts
    assert not any("Reuters" in t for t in texts)
