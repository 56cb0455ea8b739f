"""The checks `summarizer eval` counts and the pytest plugin asserts, on hand-built fixtures."""

from __future__ import annotations

from summarizer import quality
from summarizer.pipeline.prompts import PromptSet

from .eval_fixtures import A1, a1, analysis_of, cite, event


def test_prompt_phrases_match_runs_of_words_and_schema_names() -> None:
    phrases = quality.prompt_phrases(PromptSet.load())
    # summary.j2 says "Give a headline of at most 15 words that states its main news;"
    assert phrases.matches("A headline of at most 15 words that states its main news.")
    assert phrases.matches("“Key points”")  # a schema field, quotes and case aside
    assert phrases.matches("Location")
    # one word of a template is an honest answer; a name, a sentence of news, an enum value too
    assert not phrases.matches("Government")
    assert not phrases.matches("Kim Jong Un")
    assert not phrases.matches("Shoigu toured a weapons exhibition")
    assert not phrases.matches("supports")
    assert not phrases.matches("…")


def test_html_entities_only_real_ones() -> None:
    analysis = analysis_of(
        A1, "AT&T; rose", "Shares &#39;rose&#39;, prices &amp; costs", point="Fish &chips;"
    )
    assert quality.html_entities(analysis) == ["summary: Shares &#39;rose&#39;, prices &amp; costs"]


def test_near_duplicate_events_same_type_actors_and_sentences() -> None:
    first = event(["Rain", "Wind"], [cite(A1, 1)], None, False)
    near = event(["wind", "rain."], [cite(A1, 1)], None, False).model_copy(update={"description": "Other"})
    elsewhere = event(["Rain", "Wind"], [cite(A1, 2)], None, False)
    analysis = analysis_of(A1, "H", "S", events=[first, near, elsewhere, first.model_copy()])
    assert quality.duplicates(analysis) == (2, 1)  # near repeats first, and first's copy repeats it exactly


def test_names_found_are_those_not_listed_unknown() -> None:
    analysis = a1()
    total, found = quality.names(analysis)
    unknown = [n for item in quality.items(analysis) for n in item.unknown_names]
    assert (total, found, unknown) == (12, 10, ["Nobody", "Atlantis"])


def test_misplaced_needs_the_sentence_offsets() -> None:
    analysis = a1()
    misplaced = analysis.events[2].evidence[0]  # type: ignore[index]
    assert quality.citation_equal(misplaced, analysis.article)  # the text is sentence 3's, at its offsets
    assert quality.citation_misplaced(misplaced, analysis.article)  # but it says sentence 4
    unnumbered = analysis.article.model_copy(update={"sentences": None})
    assert not quality.citation_misplaced(misplaced, unnumbered)
