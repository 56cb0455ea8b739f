"""The pytest plugin as a user gets it: a project that knows nothing of summarizer and the docs' example
project, each run by pytest in a directory of its own; the assertion helpers; the re-record message."""

import datetime as dt
import json
import shlex
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from summarizer.core.schemas import (
    ArticleAnalysis,
    ArticleInfo,
    CheckedEvent,
    CheckedKeyPoint,
    CheckedStance,
    CheckedSummary,
    Citation,
    EventDate,
    ResolvedDate,
)
from summarizer.core.segment import split_sentences
from summarizer.pipeline.prompts import PromptSet
from summarizer.testing import (
    assert_actor,
    assert_dates_resolved,
    assert_evidence_in_article,
    assert_min_events,
    assert_names_in_article,
    assert_no_prompt_text,
    assert_polarity,
    assert_schema_valid,
    snapshot_view,
)

from .eval_fixtures import metadata

ROOT = Path(__file__).resolve().parent.parent
USER_PROJECT = Path(__file__).resolve().parent / "data" / "user_project"
OUR_MESSAGE = "changed since its cassette was recorded"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


# --- a project that uses pytest-recording and knows nothing of summarizer -----------------------------

# pytest-recording's documented use: a `vcr` marker, nothing else. {marker} and {fixture} are how the
# opt-in tests below ask for our settings; here they stay empty.
PLAIN_TEST = """\
import json
import os
import urllib.request

import pytest


@pytest.mark.vcr{marker}
def test_a({fixture}):
    request = urllib.request.Request(
        os.environ["PLAIN_URL"], data=b'{{"q": 1}}', headers={{"Authorization": "Bearer plain-token"}}
    )
    with urllib.request.urlopen(request) as response:
        assert json.load(response) == {{"answer": 42}}
"""


def recorded_authorization(cassette: Path) -> list[str]:
    headers = yaml.safe_load(cassette.read_text())["interactions"][0]["request"]["headers"]
    return next(value for name, value in headers.items() if name.lower() == "authorization")


def plain_project(pytester: pytest.Pytester, *, ini: str = "", marker: str = "", fixture: str = "") -> Path:
    pytester.makefile(".ini", pytest="[pytest]\n" + ini)
    tests = pytester.mkdir("tests")
    (tests / "test_x.py").write_text(PLAIN_TEST.format(marker=marker, fixture=fixture))
    return pytester.path


@pytest.fixture
def plain_endpoint(
    stub_endpoint: Callable[[int, dict[str, Any]], Any], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """A loopback server the plain project's test talks to when it records."""
    endpoint = stub_endpoint(200, {"answer": 42})
    monkeypatch.setenv("PLAIN_URL", endpoint.base_url + "/answer")
    return endpoint


@pytest.fixture
def recorded_plain_project(pytester: pytest.Pytester, plain_endpoint: Any) -> Path:
    """The plain project, its cassette recorded by pytest-recording alone (our plugin disabled)."""
    root = plain_project(pytester)
    run(pytester, "-p", "no:summarizer", "--record-mode=once").assert_outcomes(passed=1)
    assert plain_endpoint.requests == 1
    assert (root / "tests" / "cassettes" / "test_x" / "test_a.yaml").is_file()
    return root


@pytest.mark.system
def test_plain_project_replays_unchanged_with_our_plugin(
    pytester: pytest.Pytester, recorded_plain_project: Path, plain_endpoint: Any
):
    run(pytester, "--block-network").assert_outcomes(passed=1)
    assert plain_endpoint.requests == 1  # replayed, not fetched again


@pytest.mark.system
def test_plain_project_records_as_pytest_recording_does_with_our_plugin(
    pytester: pytest.Pytester, plain_endpoint: Any
):
    root = plain_project(pytester)
    run(pytester, "--record-mode=once").assert_outcomes(passed=1)
    cassette = root / "tests" / "cassettes" / "test_x" / "test_a.yaml"
    assert not (root / "cassettes").exists()
    # pytest-recording filters nothing unless told to: our redaction is not applied behind its back.
    assert recorded_authorization(cassette) == ["Bearer plain-token"]


@pytest.mark.system
def test_plain_project_keeps_vcrpys_own_error_on_a_changed_request(
    pytester: pytest.Pytester,
    recorded_plain_project: Path,
    plain_endpoint: Any,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("PLAIN_URL", plain_endpoint.base_url + "/another")
    result = run(pytester, "--block-network")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*CannotOverwriteExistingCassetteException*"])
    assert OUR_MESSAGE not in result.stdout.str()


@pytest.mark.system
@pytest.mark.parametrize(
    "opt_in",
    [
        {"ini": "summarizer_cassettes = true"},
        {"marker": "\n@pytest.mark.summarizer_cassettes"},
        {"fixture": "summarizer_settings"},
    ],
    ids=["ini line", "marker", "fixture"],
)
def test_a_project_that_asks_gets_our_cassettes(
    pytester: pytest.Pytester,
    plain_endpoint: Any,
    monkeypatch: pytest.MonkeyPatch,
    opt_in: dict[str, str],
):
    # What `summarizer_settings` records against (a configured endpoint, not the embedded model).
    monkeypatch.setenv("OPENAI_BASE_URL", plain_endpoint.base_url)
    monkeypatch.setenv("SUMMARIZER_MODEL", "stub")
    root = plain_project(pytester, **opt_in)
    run(pytester, "--record-mode=once").assert_outcomes(passed=1)
    cassette = root / "cassettes" / "test_x" / "test_a.yaml"
    assert not (root / "tests" / "cassettes").exists()
    assert recorded_authorization(cassette) == ["REDACTED"]

    run(pytester, "--block-network").assert_outcomes(passed=1)

    monkeypatch.setenv("PLAIN_URL", plain_endpoint.base_url + "/another")
    drift = run(pytester, "--block-network")
    drift.assert_outcomes(failed=1)
    drift.stdout.fnmatch_lines(
        [f"*a request {OUR_MESSAGE}*", "*pytest 'tests/test_x.py::test_a' --record-mode=rewrite"]
    )


# --- the docs' example project (docs/prompt-testing.md) ---------------------------------------------------


def test_the_docs_show_the_example_verbatim():
    example = (USER_PROJECT / "test_my_prompts.py").read_text()
    assert example.strip() in (ROOT / "docs" / "prompt-testing.md").read_text()


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> Path:
    shutil.copytree(USER_PROJECT, pytester.path, dirs_exist_ok=True)
    return pytester.path


def change_events_prompt(user_project: Path) -> None:
    template = user_project / "my_prompts" / "events.j2"
    template.write_text(template.read_text().replace("List the events", "List all the events"))


@pytest.mark.system
def test_users_example_replays_offline(pytester: pytest.Pytester, user_project: Path):
    run(pytester, "--block-network").assert_outcomes(passed=1)


@pytest.mark.system
def test_users_changed_prompt_fails_with_the_re_record_message(pytester: pytest.Pytester, user_project: Path):
    change_events_prompt(user_project)
    result = run(pytester, "--block-network")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*prompt 'events' (now version *) {OUR_MESSAGE}*",
            "*pytest 'test_my_prompts.py::test_events_prompt' --record-mode=rewrite --snapshot-update",
        ]
    )


@pytest.mark.system
def test_users_example_re_records_with_the_command_the_message_gives(
    pytester: pytest.Pytester,
    user_project: Path,
    stub_endpoint: Callable[[int, dict[str, Any]], Any],
    monkeypatch: pytest.MonkeyPatch,
):
    cassette = user_project / "cassettes" / "test_my_prompts" / "test_events_prompt.yaml"
    recorded = yaml.safe_load(cassette.read_text())["interactions"][-1]
    # Re-recording needs an endpoint, not this model: a loopback one serves the model's recorded answer.
    endpoint = stub_endpoint(200, json.loads(recorded["response"]["body"]["string"]))
    change_events_prompt(user_project)
    drift = run(pytester, "--block-network")
    command = next(line for line in drift.outlines if "--record-mode=rewrite" in line)

    monkeypatch.setenv("OPENAI_BASE_URL", endpoint.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-rerecord-0123456789")
    monkeypatch.setenv("SUMMARIZER_MODEL", json.loads(recorded["request"]["body"])["model"])
    run(pytester, *shlex.split(command)[1:]).assert_outcomes(passed=1)
    assert endpoint.requests == 1
    text = cassette.read_text()
    (interaction,) = yaml.safe_load(text)["interactions"]
    assert "List all the events" in interaction["request"]["body"]
    assert interaction["request"]["headers"]["authorization"] == ["REDACTED"]
    assert "sk-rerecord" not in text

    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    run(pytester, "--block-network").assert_outcomes(passed=1)


# --- the assertion helpers, on an analysis built here -----------------------------------------------

ARTICLE = (ROOT / "bench" / "article.txt").read_text(encoding="utf-8").strip()


@pytest.fixture
def analysis() -> ArticleAnalysis:
    """An analysis of bench/article.txt as the pipeline would give it: citations copied from the split
    sentences, one event dated and resolved, one dated but unresolved, one stance naming someone the
    article does not."""
    sentences = split_sentences(ARTICLE)

    def cite(cue: str) -> list[Citation]:
        s = next(s for s in sentences if cue in s.text)
        return [Citation(sentence=s.number, start=s.start, end=s.end, text=s.text)]

    def date(cue: str, resolved: dt.date | None) -> EventDate:
        at = ARTICLE.index(cue)
        day = resolved and ResolvedDate(start=resolved, end=resolved, precision="day", method="absolute")
        return EventDate(text=cue, start=at, end=at + len(cue), resolved=day or None)

    def event(description: str, actors: list[str], cue: str, when: EventDate) -> CheckedEvent:
        evidence = cite(cue)
        return CheckedEvent(
            description=description,
            event_type="OTHER",
            actors=actors,
            sentences=[c.sentence for c in evidence],
            evidence=evidence,
            date=when,
        )

    def stance(actor: str, target: str, cue: str, unknown: list[str]) -> CheckedStance:
        evidence = cite(cue)
        return CheckedStance(
            actor=actor,
            target=target,
            position=f"{actor} backs {target}.",
            polarity="supports",
            sentences=[c.sentence for c in evidence],
            evidence=evidence,
            unknown_names=unknown,
        )

    point = cite("Russia and China both sent")
    return ArticleAnalysis(
        summary=CheckedSummary(
            headline="Kim shows Shoigu his missiles",
            summary="Kim Jong Un showed Sergei Shoigu his missiles.",
            key_points=[
                CheckedKeyPoint(
                    text="Russia and China sent delegations.", sentences=[point[0].sentence], evidence=point
                )
            ],
        ),
        stances=[
            stance("Kang Sun Nam", "Kremlin", "fully supports the Kremlin", []),
            stance("Bruce Bennett", "Kremlin", "analysts believe", ["Bruce Bennett"]),
        ],
        events=[
            event(
                "Photos of the tour were released.",
                ["North Korea"],
                "July 26",
                date("July 26", dt.date(2023, 7, 26)),
            ),
            event("Pyongyang warned the U.S.", ["Pyongyang"], "July 20", date("July 20", None)),
        ],
        article=ArticleInfo(
            text=ARTICLE, published=dt.date(2023, 7, 28), sentences=[(s.start, s.end) for s in sentences]
        ),
        metadata=metadata(attempts=1, tokens=15, seconds=2.0, tasks=("events",)),
    )


def test_helpers_pass_on_what_holds(analysis: ArticleAnalysis):
    assert_schema_valid(analysis)
    assert_evidence_in_article(analysis, min_items=5)  # 2 stances, 2 events, 1 key point
    assert_names_in_article(analysis, min_share=0.75)  # 3 of 4 items
    assert_no_prompt_text(analysis, PromptSet.load())
    assert_min_events(analysis, 2)
    assert_actor(analysis, "KANG SUN NAM.")  # names compare case- and punctuation-insensitively
    assert_polarity(analysis, "Kang Sun Nam", "supports", target="Kremlin")
    assert_dates_resolved(analysis, min_resolved=1)


def test_helpers_fail_with_a_message_on_what_does_not(analysis: ArticleAnalysis):
    assert analysis.events is not None and analysis.stances is not None
    with pytest.raises(AssertionError, match="expected at least 99"):
        assert_min_events(analysis, 99)
    with pytest.raises(AssertionError, match="'Nobody At All' not among the actors"):
        assert_actor(analysis, "Nobody At All")
    with pytest.raises(AssertionError, match="holds no stance, expected 'supports'"):
        assert_polarity(analysis, "Nobody At All", "supports")
    with pytest.raises(AssertionError, match="holds \\['supports'\\], expected 'opposes'"):
        assert_polarity(analysis, "Kang Sun Nam", "opposes")
    with pytest.raises(
        AssertionError, match=r"1 event\(s\) with a resolved date .* unresolved: \['July 20'\]"
    ):
        assert_dates_resolved(analysis, min_resolved=2)
    with pytest.raises(AssertionError, match=r"75% of items .* not in the article: \['Bruce Bennett'\]"):
        assert_names_in_article(analysis)
    with pytest.raises(AssertionError, match="5 item\\(s\\) cite a sentence, expected at least 6"):
        assert_evidence_in_article(analysis, min_items=6)
    # A citation whose text is not the article at its offsets (moved by one character).
    first = analysis.events[0].evidence[0]
    moved = first.model_copy(update={"start": first.start + 1, "end": first.end + 1})
    shifted = analysis.events[0].model_copy(update={"evidence": [moved]})
    with pytest.raises(
        AssertionError, match=f"sentence \\[{first.sentence}\\] is not the article at its offsets"
    ):
        assert_evidence_in_article(analysis.model_copy(update={"events": [shifted, *analysis.events[1:]]}))
    # A citation whose number is not its sentence's (offsets and text of sentence 5, number 4).
    renumbered = first.model_copy(update={"sentence": first.sentence - 1})
    misnumbered = analysis.events[0].model_copy(update={"evidence": [renumbered]})
    with pytest.raises(AssertionError, match=f"sentence \\[{first.sentence - 1}\\] is cited at"):
        assert_evidence_in_article(
            analysis.model_copy(update={"events": [misnumbered, *analysis.events[1:]]})
        )
    # An event whose date is in none of its cited sentences (the second event's sentence, not the first's).
    other = analysis.events[1].evidence
    undated = analysis.events[0].model_copy(update={"evidence": other, "sentences": [other[0].sentence]})
    with pytest.raises(AssertionError, match=r"the date .July 26. .* is in none of its cited sentences"):
        assert_evidence_in_article(analysis.model_copy(update={"events": [undated, *analysis.events[1:]]}))
    # JSON the published schema refuses, though pydantic would read its own dump back leniently: a sentence
    # number written as a string, a polarity the enum does not have (pydantic warns as it dumps them).
    loose = analysis.events[0].model_copy(update={"sentences": ["1"]})
    odd = analysis.stances[0].model_copy(update={"polarity": "maybe"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AssertionError, match=r"`summarizer schema`: events/0/sentences/0: '1' is not"):
            assert_schema_valid(analysis.model_copy(update={"events": [loose, *analysis.events[1:]]}))
        with pytest.raises(AssertionError, match=r"`summarizer schema`: stances/0/polarity: 'maybe' is not"):
            assert_schema_valid(analysis.model_copy(update={"stances": [odd]}))
    # A description that copies the prompt's instructions.
    copied = analysis.events[0].model_copy(
        update={"description": "the numbers of the 1 to 3 story sentences that report it"}
    )
    with pytest.raises(AssertionError, match="copied from the prompt"):
        assert_no_prompt_text(analysis.model_copy(update={"events": [copied]}), PromptSet.load())


def test_snapshot_view_drops_what_changes_between_runs(analysis: ArticleAnalysis):
    view = snapshot_view(analysis)
    assert "seconds" not in view["metadata"] and "summarizer_version" not in view["metadata"]
    assert "endpoint" not in view["metadata"]
    assert all("seconds" not in run for run in view["metadata"]["tasks"].values())
    assert view["events"] == analysis.model_dump(mode="json")["events"]  # the content is all kept
