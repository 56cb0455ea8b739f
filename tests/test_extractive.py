"""Extractive rails: the request offers enums of candidate ids, code copies the chosen spans, and the checks
a schema cannot say (a stance aimed at its own actor, polarity against a plain clause)."""

import json

import pytest
from pydantic import ValidationError

from bench.fake_openai import serve
from summarizer import schemas
from summarizer.batch import batch_settings
from summarizer.core.article import article_from_text
from summarizer.core.segment import split_sentences
from summarizer.grounding.ground import Grounding
from summarizer.model.local import free_port
from summarizer.model.settings import resolve_settings
from summarizer.pipeline import Summarizer
from summarizer.pipeline.extractive import Extractive, plain_polarity
from summarizer.pipeline.prompts import schema_of

from .test_pipeline import SEED_PUBLISHED

pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])  # the fake endpoint, on loopback


@pytest.fixture
def rails(seed_text: str) -> Extractive:
    article = article_from_text(seed_text, published=SEED_PUBLISHED)
    sentences = split_sentences(article.text)
    return Extractive(Grounding(article, sentences, pick_names=True))


def _numbers(rails: Extractive) -> tuple[int, ...]:
    return tuple(s.number for s in rails.grounding.sentences)


def _props(model) -> dict:
    schema = schema_of(model)
    out = dict(schema.get("properties", {}))
    for sub in schema.get("$defs", {}).values():
        out |= sub.get("properties", {})
    return out


def test_the_request_offers_only_candidate_ids(rails: Extractive):
    numbers = _numbers(rails)
    summary = _props(rails.request_model("summary", numbers))
    headlines = [c.id for c in rails.offered("headline", numbers)]
    assert summary["headline"]["enum"] == headlines
    shortlist = rails.summary_numbers(numbers)
    assert summary["summary"]["items"]["enum"] == summary["key_points"]["items"]["enum"] == list(shortlist)
    assert shortlist == (1, 2, 3, 4, 5, 6, 7, 8)  # the lead (every seed sentence has 6 words or more)
    assert (summary["summary"]["minItems"], summary["summary"]["maxItems"]) == (2, 3)
    schema = schema_of(rails.request_model("stances", numbers))
    assert schema["properties"]["stances"]["minItems"] == 2
    shapes = [
        schema["$defs"][ref["$ref"].rsplit("/", 1)[1]]
        for ref in schema["$defs"].get("ExtractiveStance", {}).get("anyOf", [])
    ] or [d for name, d in schema["$defs"].items() if name.startswith("Stance")]
    offered = {c.id: c for c in rails.offered("position", numbers)}
    assert len(shapes) >= 2
    text = rails.grounding.article.text
    for shape in shapes:
        props = shape["properties"]
        (span,) = props["position"]["enum"]
        c = offered[span]
        sentence = rails.grounding.sentences[c.sentence - 1]
        # The actor is named in the position's sentence outside the words said; the target in the sentence.
        for actor in props["actor"]["enum"]:
            outside = text[sentence.start : c.start] + " " + text[c.end : sentence.end]
            assert actor in outside
        assert all(t in sentence.text for t in props["target"]["enum"])
    events = _props(rails.request_model("events", numbers))
    assert events["description"]["enum"] == [c.id for c in rails.offered("event", numbers)]
    # No field is free text: every string property is an enum (or a name/date enum, or event_type's).
    prompt = rails.prompt_values("summary", numbers)["headlines"]
    assert all(f"[{i}] " in prompt for i in headlines)


def test_an_id_not_offered_is_refused(rails: Extractive):
    model = rails.request_model("summary", _numbers(rails))
    with pytest.raises(ValidationError, match="not one of the listed ids"):
        model.model_validate({"headline": "99z", "summary": [1, 2], "key_points": [1]})
    with pytest.raises(ValidationError):
        model.model_validate(
            {"headline": rails.offered("headline", _numbers(rails))[0].id, "summary": [1], "key_points": [1]}
        )


def test_no_position_offered_allows_no_stance():
    article = article_from_text("The bridge opened in 1932. It carries four lanes of traffic over the river.")
    x = Extractive(Grounding(article, split_sentences(article.text), pick_names=True))
    stances = _props(x.request_model("stances", (1, 2)))["stances"]
    assert stances["maxItems"] == 0


def test_a_name_inside_a_longer_one_is_not_another_actor(rails: Extractive):
    numbers = _numbers(rails)
    (position,) = [c for c in rails.offered("position", numbers) if c.sentence == 19]
    actors, _ = rails.stance_names(position)
    assert "Kang Sun Nam" in actors and "Kang" not in actors  # "Kang" is matched inside "Kang Sun Nam"
    assert "Kang" in rails.grounding.name_choices  # the name itself stays: sentence 20 says "said Kang"


def test_the_actor_is_who_speaks_and_the_target_what_is_said():
    article = article_from_text(
        "Ahmed Khan said on Monday that the Lagos project would fail. Rain fell on Tuesday in Lagos. "
        '"It will never work," the engineers wrote.'
    )
    x = Extractive(Grounding(article, split_sentences(article.text), pick_names=True))
    offered = x.offered("position", (1, 2, 3))
    assert [c.text for c in offered] == ["the Lagos project would fail.", "It will never work"]
    actors, targets = x.stance_names(offered[0])
    assert actors[0] == "Ahmed Khan" and "Lagos" not in actors and targets == ("Lagos",)
    assert x.stance_names(offered[1]) == ((), ())  # nobody named: no stance can be made of it
    schema = schema_of(x.request_model("stances", (1, 2, 3)))
    assert "It will never work" not in str(schema) and '"1a"' in json.dumps(schema)


def test_a_repeat_is_re_asked_only_when_it_leaves_one_sentence(rails: Extractive):
    model = rails.request_model("summary", _numbers(rails))
    head = rails.offered("headline", _numbers(rails))[0].id
    once = model.model_validate({"headline": head, "summary": [2, 2], "key_points": [4]})
    assert rails.review(once) == [
        "summary: the same sentence chosen more than once: choose 2 or 3 different sentences"
    ]
    repeated = model.model_validate({"headline": head, "summary": [2, 2, 3], "key_points": [4, 1, 4]})
    assert rails.review(repeated) == []
    summary = rails.summary(repeated)
    assert [s.sentence for s in summary.spans["summary"]] == [2, 3]  # each once, in article order
    assert [p.sentences for p in summary.key_points] == [[4], [1]]


def test_chosen_spans_are_copied_with_their_offsets(rails: Extractive):
    numbers = _numbers(rails)
    head = rails.offered("headline", numbers)[0]
    answer = rails.request_model("summary", numbers).model_validate(
        {"headline": head.id, "summary": [3, 1, 1], "key_points": [2, 5]}
    )
    summary = rails.summary(answer)
    text = rails.grounding.article.text
    assert summary.headline == head.text == text[head.start : head.end]
    assert [s.sentence for s in summary.spans["summary"]] == [1, 3]  # article order, once each
    assert summary.summary == " ".join(text[s.start : s.end] for s in summary.spans["summary"])
    assert [p.text for p in summary.key_points] == [p.evidence[0].text for p in summary.key_points]
    for check in [*summary.checks.values(), *(p.check for p in summary.key_points)]:
        assert check.extractive and not check.flagged and check.support >= 0.9


def test_a_stance_aimed_at_its_own_actor_is_re_asked_then_dropped(rails: Extractive):
    numbers = _numbers(rails)
    position = rails.offered("position", numbers)[0].id
    rails.request_model("stances", numbers)
    # The base shape: the names need not be in this request's lists to test the checks.
    answer = schemas.ExtractiveStanceList.model_validate(
        {
            "stances": [
                {"actor": "Kim Jong Un", "target": "Kim", "position": position, "polarity": "neutral"},
                {"actor": "Russia", "target": "Russian", "position": position, "polarity": "neutral"},
                {"actor": "Russia", "target": "North Korea", "position": position, "polarity": "neutral"},
            ]
        }
    )
    problems = rails.review(answer)
    assert len(problems) == 2 and "stances[0]" in problems[0] and "stances[1]" in problems[1]
    kept = rails.stances(answer)
    assert [(s.actor, s.target) for s in kept] == [("Russia", "North Korea")]
    assert kept[0].span is not None and kept[0].position == kept[0].span.text
    assert kept[0].evidence[0].start <= kept[0].span.start < kept[0].span.end <= kept[0].evidence[0].end


def test_a_stance_aimed_at_its_own_actor_cannot_be_chosen():
    # The sentence names nobody inside the clause: targets fall back to the sentence's names, the actor's
    # own among them. Each actor gets a shape of its own whose targets leave its own names out.
    article = article_from_text(
        "Kim Jong Un met Sergei Shoigu in Pyongyang, and Kim said the talks were a success. Rain fell."
    )
    x = Extractive(Grounding(article, split_sentences(article.text), pick_names=True))
    (offered,) = [c for c in x.offered("position", (1, 2)) if "success" in c.text]
    actors, targets = x.stance_names(offered)
    assert {"Kim Jong Un", "Kim"} <= set(actors) and set(actors) <= set(targets)
    shapes = dict(x.stance_shapes(offered))
    for (actor,), aimed in shapes.items():
        assert aimed and not any(x.grounding.names.same(actor, t) for t in aimed), (actor, aimed)
    assert "Kim" not in shapes[("Kim Jong Un",)] and "Sergei Shoigu" in shapes[("Kim Jong Un",)]
    model = x.request_model("stances", (1, 2))
    with pytest.raises(ValidationError):
        model.model_validate(
            {
                "stances": [
                    {"actor": "Kim", "target": "Kim Jong Un", "position": offered.id, "polarity": "neutral"}
                ]
            }
        )
    ok = {"actor": "Kim", "target": "Sergei Shoigu", "position": offered.id, "polarity": "supports"}
    assert x.review(model.model_validate({"stances": [ok]})) == []


def test_polarity_against_a_plain_clause_becomes_neutral(rails: Extractive):
    assert plain_polarity("he fully supports the Kremlin") == "supports"
    assert plain_polarity("the ministry condemned the strike") == "opposes"
    assert plain_polarity("they did not condemn the strike") is None  # negated: not plain
    assert plain_polarity("support for Ukraine and determination to oppose the West") is None  # both
    assert plain_polarity("the ships arrived on Monday") is None
    numbers = _numbers(rails)
    supports = next(c for c in rails.offered("position", numbers) if plain_polarity(c.text) == "supports")
    rails.request_model("stances", numbers)
    # The base shape: the names need not be in this request's lists to test the checks.
    answer = schemas.ExtractiveStanceList.model_validate(
        {
            "stances": [
                {
                    "actor": "Kang Sun Nam",
                    "target": "Kremlin",
                    "position": supports.id,
                    "polarity": "opposes",
                },
                {"actor": "Russia", "target": "Kremlin", "position": supports.id, "polarity": "supports"},
            ]
        }
    )
    first, second = rails.stances(answer)
    assert (first.polarity, first.polarity_overruled) == ("neutral", "opposes")
    assert (second.polarity, second.polarity_overruled) == ("supports", None)


def test_rails_default_per_endpoint(monkeypatch: pytest.MonkeyPatch):
    env: dict[str, str] = {}
    assert resolve_settings(env=env).rails_used == "extractive"  # the embedded model
    compatible = resolve_settings(base_url="http://127.0.0.1:1/v1", model="m", env=env)
    assert compatible.rails_used == "free" and not compatible.names_from_article
    chosen = resolve_settings(
        base_url="http://127.0.0.1:1/v1", model="m", env={"SUMMARIZER_RAILS": "extractive"}
    )
    assert chosen.extractive and chosen.names_from_article
    assert resolve_settings(rails="free", env=env).rails_used == "free"
    with pytest.raises(Exception, match="unknown rails"):
        resolve_settings(rails="loose", env=env)


@pytest.mark.parametrize("mode", ["tools", "json_schema"])  # a forced tool call; the embedded engine's form
def test_end_to_end_against_the_fake_endpoint(seed_text: str, mode: str):
    with serve(free_port(), 0.0) as url:
        settings = resolve_settings(base_url=url, model="fake", rails="extractive", mode=mode, env={})
        with Summarizer(settings, notice=lambda _: None) as s:
            analysis = s.summarize(seed_text, published=SEED_PUBLISHED)
            assert batch_settings(s, None)["rails"] == "extractive"
            assert analysis.metadata.prompt_versions == s.prompt_versions()
    assert analysis.metadata.rails == "extractive"
    text = analysis.article.text
    summary = analysis.summary
    assert summary is not None and summary.spans is not None
    article = article_from_text(seed_text, published=SEED_PUBLISHED)
    x = Extractive(Grounding(article, split_sentences(article.text)))
    offered = {(c.start, c.end) for c in x.offered("headline", _numbers(x))}
    (head,) = summary.spans["headline"]
    assert (head.start, head.end) in offered and text[head.start : head.end] == summary.headline
    assert (
        "70th anniversary" in summary.headline
    )  # the fake chose the candidate holding its cue, not the first
    for span in summary.spans["summary"]:
        assert text[span.start : span.end] == span.text
    assert analysis.stances and analysis.events
    for item in [*analysis.stances, *analysis.events]:
        assert item.span is not None and text[item.span.start : item.span.end] == item.span.text
        assert item.check.extractive and not item.check.flagged
        assert item.sentences == [item.span.sentence]
    assert all(not s.unknown_names and s.actor != s.target for s in analysis.stances)
    assert analysis.checks is not None and analysis.checks.flagged_fields == 0


def test_free_rails_send_the_old_requests(seed_text: str):
    with serve(free_port(), 0.0) as url:
        settings = resolve_settings(base_url=url, model="fake", env={})
        with Summarizer(settings, notice=lambda _: None) as s:
            calls = s.plan(article_from_text(seed_text))
            analysis = s.summarize(seed_text)
    assert {c.response_model.__name__ for c in calls} == {"Summary", "StanceList", "EventList"}
    assert all("_extractive" not in v for v in [c.prompt for c in calls])
    assert analysis.metadata.rails == "free" and analysis.summary is not None
    assert analysis.summary.spans is None and not any(c.extractive for c in analysis.summary.checks.values())


def test_a_copied_field_is_not_flagged_for_a_capitalised_word():
    # A Daily Mail page's "Scroll down for video" runs into the next sentence: the name check reads "In"
    # as a name it cannot find. Copied text is the article's own: only its support is scored.
    text = (
        "Photographs of Frida Kahlo were released on Monday. Scroll down for video In the new pictures "
        "by Gisele Freund the artist is seen at home."
    )
    article = article_from_text(text)
    x = Extractive(Grounding(article, split_sentences(text), pick_names=True))
    answer = x.request_model("summary", (1, 2)).model_validate(
        {"headline": x.offered("headline", (1, 2))[0].id, "summary": [1, 2], "key_points": [2]}
    )
    summary = x.summary(answer)
    assert Grounding(article, split_sentences(text)).check_text(summary.key_points[0].text).flagged
    for check in [*summary.checks.values(), summary.key_points[0].check]:
        assert check.extractive and not check.flagged and check.support == 1.0


def test_the_prompt_lists_the_positions_the_request_allows(rails: Extractive):
    numbers = _numbers(rails)
    schema = schema_of(rails.request_model("stances", numbers))
    allowed = {
        d["properties"]["position"]["enum"][0] for n, d in schema["$defs"].items() if n.startswith("Stance")
    }
    listed = rails.prompt_values("stances", numbers)["positions"].splitlines()
    assert {line.split("]")[0].lstrip("[") for line in listed} == allowed
    assert len(allowed) < len(rails.offered("position", numbers))  # an unattributed quotation is left out
