import csv
import datetime as dt
import json
from typing import Any

import pytest

from summarizer.core.errors import InputError
from summarizer.core.schemas import (
    ArticleAnalysis,
    ArticleInfo,
    CheckedEvent,
    CheckedStance,
    Citation,
    EventDate,
    Metadata,
    ResolvedDate,
    Usage,
)
from summarizer.corpus import actor_key, merge_corpus, read_results, resolve_actors
from summarizer.corpus.export import (
    plover_records,
    write_events_csv,
    write_plover_jsonl,
    write_stances_csv,
)

D = dt.date


def _day(d: dt.date, text: str | None = None) -> dict[str, Any]:
    resolved = ResolvedDate(start=d, end=d, precision="day", method="absolute")
    return _when(text or d.strftime("%B %d"), resolved)


def _when(text: str, resolved: ResolvedDate | None = None) -> dict[str, Any]:
    """An event's date as found in the article (offsets do not matter to the corpus)."""
    return {"date": EventDate(text=text, start=0, end=len(text), resolved=resolved)}


def _cite(text: str, start: int = 0, sentence: int = 1) -> Citation:
    return Citation(sentence=sentence, start=start, end=start + len(text), text=text)


def _event(
    actors: list[str], evidence: str, event_type: str = "CONSULT", *, at: int = 0, **kw: Any
) -> CheckedEvent:
    """An event citing one sentence whose text is `evidence` (at offset `at`), plus `more` citations."""
    cited = [_cite(evidence, at), *kw.pop("more", [])]
    return CheckedEvent(
        description=kw.pop("description", f"{' and '.join(actors)} did something."),
        event_type=event_type,
        actors=actors,
        sentences=[c.sentence for c in cited],
        evidence=cited,
        **kw,
    )


def _analysis(
    events: list[CheckedEvent] = (),  # type: ignore[assignment]
    stances: list[CheckedStance] = (),  # type: ignore[assignment]
    published: dt.date | None = None,
) -> ArticleAnalysis:
    return ArticleAnalysis(
        events=list(events),
        stances=list(stances),
        article=ArticleInfo(text="...", published=published),
        metadata=Metadata(
            model="m",
            endpoint="embedded",
            mode="tools",
            prompt_versions={},
            tasks={},
            usage=Usage(),
            attempts=1,
            seconds=0.0,
            summarizer_version="0",
        ),
    )


def _stance(actor: str, target: str, polarity: str = "opposes", quote: str = "We object.") -> CheckedStance:
    return CheckedStance(
        actor=actor,
        target=target,
        position="A position.",
        polarity=polarity,
        sentences=[1],
        evidence=[_cite(quote)],
    )


# --- actors ------------------------------------------------------------------------------------------


def test_actor_key_normalises_case_the_possessive_quotes_and_dots():
    assert actor_key("The U.N.’s") == actor_key("UN") == "un"
    assert actor_key("  the  White House ") == "white house"
    assert actor_key("Kim Jong-un") == actor_key("kim jong un")
    assert actor_key('"Hamas".') == "hamas"


def _groups(*names: str) -> list[set[str]]:
    by_group: dict[str, set[str]] = {}
    for name, group in resolve_actors(names).items():
        by_group.setdefault(group, set()).add(name)
    return sorted(by_group.values(), key=lambda g: sorted(g))


def test_aliases_merge_short_forms_and_acronyms():
    groups = _groups(
        "Kim Jong Un", "Kim", "United Nations", "U.N.", "UN", "Joe Biden", "Biden", "President Biden"
    )
    assert {"Kim Jong Un", "Kim"} in groups
    assert {"United Nations", "U.N.", "UN"} in groups
    assert {"Joe Biden", "Biden", "President Biden"} in groups


def test_north_and_south_korea_stay_apart():
    groups = _groups("North Korea", "South Korea", "Korea", "N. Korea", "S. Korea", "NK", "South Korean")
    assert all(len(g) == 1 for g in groups)
    corpus = merge_corpus(
        [
            ("a", _analysis([_event(["North Korea"], "NK fired.", "MOBILIZE", **_day(D(2024, 1, 2)))])),
            ("b", _analysis([_event(["South Korea"], "SK fired.", "MOBILIZE", **_day(D(2024, 1, 2)))])),
        ]
    )
    assert [a.name for a in corpus.actors] == ["North Korea", "South Korea"] and len(corpus.events) == 2


def test_a_short_form_shared_by_two_people_is_not_merged():
    groups = _groups("Kim Jong Un", "Kim Yo Jong", "Kim")
    assert {"Kim"} in groups and {"Kim Jong Un"} in groups and {"Kim Yo Jong"} in groups


def test_titles_and_organisations():
    assert _groups("Hunter Biden", "Joe Biden", "Biden") == [{"Biden"}, {"Hunter Biden"}, {"Joe Biden"}]
    assert _groups("Chairman Kim", "Kim", "Kim Jong Un") == [{"Chairman Kim", "Kim", "Kim Jong Un"}]
    assert _groups("Trump Administration", "Donald Trump", "Administration", "Trump") == [
        {"Administration"},
        {"Donald Trump", "Trump"},
        {"Trump Administration"},
    ]
    assert _groups(
        "NATO", "North Atlantic Treaty Organization", "DPRK", "Democratic People's Republic of Korea"
    ) == [
        {"DPRK", "Democratic People's Republic of Korea"},
        {"NATO", "North Atlantic Treaty Organization"},
    ]


def test_a_country_is_not_merged_into_a_person_who_bears_its_name():
    # "Israel Katz" is person-like, but "Israel" is his first name, not his family name.
    assert _groups("Israel Katz", "Israel") == [{"Israel"}, {"Israel Katz"}]
    # An acronym that is not the initials of exactly one name stays alone.
    assert _groups("UN", "Kim Jong Un") == [{"Kim Jong Un"}, {"UN"}]


def test_actor_table_counts_mentions_and_picks_the_most_frequent_form():
    a = _analysis([_event(["Kim"], "Kim met."), _event(["Kim", "U.N."], "Kim and the U.N. met.")])
    b = _analysis([_event(["Kim Jong Un"], "He met.")], [_stance("United Nations", "Kim")])
    corpus = merge_corpus([("a", a), ("b", b)])
    kim, un = corpus.actors
    assert (kim.name, kim.aliases, kim.mentions, kim.articles) == ("Kim", ["Kim Jong Un"], 4, ["a", "b"])
    # A tie: the longer form is the display name.
    assert (un.name, un.aliases, un.mentions) == ("United Nations", ["U.N."], 2)


# --- events ------------------------------------------------------------------------------------------


def test_two_articles_reporting_one_event_give_one_event_with_two_sources():
    a = _analysis(
        [
            _event(
                ["Kim Jong Un"],
                "Kim met Shoigu on Wednesday.",
                recipients=["Sergei Shoigu"],
                description="Kim Jong Un met Sergei Shoigu.",
                at=120,
                more=[_cite("The two held talks.", 300, sentence=4)],
                **_day(D(2023, 7, 26), "Wednesday"),
            )
        ]
    )
    b = _analysis(
        [
            _event(
                ["Kim"],
                "The North Korean leader hosted the Russian minister.",
                recipients=["Shoigu"],
                location="Pyongyang",
                description="North Korea's leader hosted Russia's defence minister.",
                at=40,
                **_day(D(2023, 7, 26), "July 26"),
            )
        ]
    )
    corpus = merge_corpus([("a", a), ("b", b)])
    assert len(corpus.events) == 1
    event = corpus.events[0]
    assert event.description == "Kim Jong Un met Sergei Shoigu."
    assert event.location == "Pyongyang"
    assert event.recipients == ["Sergei Shoigu"] or event.recipients == ["Shoigu"]
    assert [(m.article_id, m.sentence, m.start, m.end) for m in event.sources] == [
        ("a", 1, 120, 148),
        ("a", 4, 300, 319),
        ("b", 1, 40, 92),
    ]
    assert event.sources[2].quote == "The North Korean leader hosted the Russian minister."


def test_dates_beyond_the_window_stay_apart_and_within_it_merge():
    def corpus(day_b: dt.date, window: int = 1) -> int:
        a = _analysis([_event(["Iran"], "Iran fired.", "ASSAULT", **_day(D(2024, 4, 13)))])
        b = _analysis([_event(["Iran"], "Missiles flew.", "ASSAULT", **_day(day_b))])
        return len(merge_corpus([("a", a), ("b", b)], date_window_days=window).events)

    assert corpus(D(2024, 4, 13)) == 1
    assert corpus(D(2024, 4, 14)) == 1  # one day apart, window 1
    assert corpus(D(2024, 4, 12)) == 1
    assert corpus(D(2024, 4, 15)) == 2  # two days apart
    assert corpus(D(2024, 4, 15), window=2) == 2 - 1
    assert corpus(D(2024, 4, 14), window=0) == 2


def test_events_need_the_same_type_and_compatible_actors():
    a = _analysis([_event(["Russia"], "Russia attacked.", "ASSAULT", **_day(D(2024, 1, 1)))])
    b = _analysis(
        [
            _event(["Russia"], "Russia threatened.", "THREATEN", **_day(D(2024, 1, 1))),
            _event(["Ukraine"], "Ukraine attacked.", "ASSAULT", **_day(D(2024, 1, 1))),
            _event(["Russia", "Belarus"], "Both attacked.", "ASSAULT", **_day(D(2024, 1, 1))),
        ]
    )
    events = merge_corpus([("a", a), ("b", b)]).events
    assert len(events) == 3
    merged = next(e for e in events if len(e.sources) == 2)
    assert merged.actors == ["Russia", "Belarus"]  # {Russia} is a subset of {Russia, Belarus}


def test_disjoint_recipients_are_different_events():
    a = _analysis(
        [_event(["US"], "Sanctions on Iran.", "SANCTION", recipients=["Iran"], **_day(D(2024, 5, 1)))]
    )
    b = _analysis(
        [_event(["US"], "Sanctions on Cuba.", "SANCTION", recipients=["Cuba"], **_day(D(2024, 5, 1)))]
    )
    assert len(merge_corpus([("a", a), ("b", b)]).events) == 2


def test_without_resolved_dates_date_text_then_descriptions_decide():
    def n_events(ev_a: CheckedEvent, ev_b: CheckedEvent) -> int:
        return len(merge_corpus([("a", _analysis([ev_a])), ("b", _analysis([ev_b]))]).events)

    same_text = _when("last spring")
    assert n_events(_event(["NATO"], "q", **same_text), _event(["NATO"], "r", **_when("Last Spring."))) == 1
    assert n_events(_event(["NATO"], "q", **same_text), _event(["NATO"], "r", **_when("in winter"))) == 2
    assert n_events(_event(["NATO"], "q", **same_text), _event(["NATO"], "r")) == 2
    desc = "NATO ministers met in Brussels to discuss Ukraine"
    assert (
        n_events(_event(["NATO"], "q", description=desc), _event(["NATO"], "r", description=desc + ".")) == 1
    )
    assert (
        n_events(_event(["NATO"], "q", description=desc), _event(["NATO"], "r", description="NATO spoke."))
        == 2
    )


def test_one_articles_own_duplicates_are_not_merged_again():
    ev = _event(["Iran"], "Iran fired.", "ASSAULT", **_day(D(2024, 4, 13)))
    other = _analysis([_event(["Iran"], "Missiles.", "ASSAULT", **_day(D(2024, 4, 13)))])
    events = merge_corpus([("a", _analysis([ev, ev])), ("b", other)]).events
    assert [[m.article_id for m in e.sources] for e in events] == [["a", "b"], ["a"]]


def test_events_are_sorted_by_date_undated_last_and_ids_are_stable_and_unique():
    a = _analysis(
        [
            _event(["A"], "undated", description="A undated."),
            _event(["B"], "later", **_day(D(2024, 3, 1))),
            _event(["C"], "earlier", **_day(D(2024, 1, 1))),
            _event(["C"], "same day", "ASSAULT", **_day(D(2024, 1, 1))),
        ]
    )
    corpus = merge_corpus([("a", a)])
    assert [e.sources[0].quote for e in corpus.events] == ["earlier", "same day", "later", "undated"]
    ids = [e.id for e in corpus.events]
    assert len(set(ids)) == 4 and ids == [e.id for e in merge_corpus([("a", a)]).events]


# --- stances -----------------------------------------------------------------------------------------


def test_stances_over_time_are_sorted_by_publication_date_undated_last():
    articles = [
        ("late", _analysis(stances=[_stance("the U.N.", "Sanctions", "supports")], published=D(2024, 3, 1))),
        ("undated", _analysis(stances=[_stance("UN", "Sanctions", "mixed")])),
        ("early", _analysis(stances=[_stance("United Nations", "sanctions")], published=D(2024, 1, 1))),
    ]
    stances = merge_corpus(articles).stances
    assert list(stances) == ["United Nations"]  # a tie of three forms: the longest is the display name
    points = stances["United Nations"]
    assert [(p.article_id, p.date, p.polarity) for p in points] == [
        ("early", D(2024, 1, 1), "opposes"),
        ("late", D(2024, 3, 1), "supports"),
        ("undated", None, "mixed"),
    ]
    assert {p.target for p in points} == {"Sanctions"}


# --- exports -----------------------------------------------------------------------------------------

AWKWARD = 'He said, "no deal",\nthen left; a | b'


def _export_corpus():
    a = _analysis(
        [_event(["Iran"], AWKWARD, "REJECT", recipients=["US"], location="Tehran", **_day(D(2024, 2, 2)))],
        [_stance("Iran", "US", quote=AWKWARD)],
        published=D(2024, 2, 3),
    )
    b = _analysis([_event(["Iran"], "Iran said no.", "REJECT", **_day(D(2024, 2, 2)))])
    return merge_corpus([("a", a), ("b", b), ("c", _analysis([_event(["X"], "x", "OTHER")]))])


def test_plover_jsonl_has_exactly_the_documented_keys(tmp_path):
    corpus = _export_corpus()
    path = tmp_path / "events.jsonl"
    assert write_plover_jsonl(corpus, path) == 2
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert records == plover_records(corpus)
    # The keys written down as the export's docs state them (PLOVER's, then `sources`, `date_precision`).
    documented = ("id", "date", "actor", "recipient", "event", "mode", "context", "event_text", "source")
    assert all(tuple(r) == (*documented, "sources", "date_precision") for r in records)
    dated, undated = records
    assert dated["date"] == "2024-02-02" and dated["date_precision"] == "day"
    assert (dated["actor"], dated["recipient"], dated["event"]) == ("Iran", "US", "REJECT")
    assert (dated["mode"], dated["context"]) == ("", "")
    assert (dated["source"], dated["sources"]) == ("a", ["a", "b"])
    assert (undated["date"], undated["recipient"], undated["date_precision"]) == ("", "", "")


def test_csv_round_trips_awkward_text(tmp_path):
    corpus = _export_corpus()
    events_path, stances_path = tmp_path / "events.csv", tmp_path / "stances.csv"
    assert write_events_csv(corpus, events_path) == 2
    assert write_stances_csv(corpus, stances_path) == 1
    with open(events_path, encoding="utf-8", newline="") as f:
        header, dated, undated = list(csv.reader(f))
    assert header == [
        "id", "date_start", "date_end", "date_precision", "event_type", "actors", "recipients", "location",
        "description", "sources", "quotes",
    ]  # fmt: skip
    row = dict(zip(header, dated, strict=True))
    assert row["quotes"] == AWKWARD + " | Iran said no."
    assert (row["sources"], row["location"], row["date_start"], row["date_end"]) == (
        "a;b",
        "Tehran",
        "2024-02-02",
        "2024-02-02",
    )
    assert dict(zip(header, undated, strict=True))["date_start"] == ""
    with open(stances_path, encoding="utf-8", newline="") as f:
        header, stance = list(csv.reader(f))
    assert header == ["actor", "article_id", "date", "target", "polarity", "position", "quote"]
    assert stance == ["Iran", "a", "2024-02-03", "US", "opposes", "A position.", AWKWARD]


# --- reading results ---------------------------------------------------------------------------------


def test_read_results_skips_blank_lines_and_round_trips(tmp_path):
    a = _analysis([_event(["Iran"], "Iran fired.", "ASSAULT")])
    path = tmp_path / "results.jsonl"
    path.write_text(f'{{"id": "a1", "analysis": {a.model_dump_json()}}}\n\n  \n', encoding="utf-8")
    assert read_results(path) == [("a1", a)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 3: not valid JSON"),
        ('{"id": "x"}', "line 3: not a valid result: analysis: Field required"),
        ('{"id": 7, "analysis": {}}', "line 3: not a valid result: id"),
        ('{"id": "a1", "analysis": ANALYSIS}', "line 3: id 'a1' already on line 1"),
    ],
)
def test_read_results_names_the_file_and_line_of_a_bad_line(tmp_path, line, message):
    good = _analysis().model_dump_json()
    path = tmp_path / "results.jsonl"
    path.write_text(
        f'{{"id": "a1", "analysis": {good}}}\n\n{line.replace("ANALYSIS", good)}\n', encoding="utf-8"
    )
    with pytest.raises(InputError) as info:
        read_results(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_merge_corpus_rejects_repeated_article_ids():
    with pytest.raises(InputError, match="given more than once"):
        merge_corpus([("a", _analysis()), ("a", _analysis())])


def test_read_results_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_results(tmp_path / "missing.jsonl")
