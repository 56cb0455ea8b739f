"""The pytest plugin as a user gets it: the README's example project, run by pytest in a directory of its
own; the assertion helpers; the re-record message."""

import json
import shutil
from pathlib import Path

import pytest

from summarizer.schemas import ArticleAnalysis
from summarizer.testing import (
    assert_actor,
    assert_dates_resolved,
    assert_min_events,
    assert_polarity,
    assert_quotes_grounded,
    assert_schema_valid,
    snapshot_view,
)

ROOT = Path(__file__).resolve().parent.parent
USER_PROJECT = Path(__file__).resolve().parent / "data" / "user_project"


def test_readme_shows_the_example_verbatim():
    example = (USER_PROJECT / "test_my_prompts.py").read_text()
    assert example.strip() in (ROOT / "README.md").read_text()


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> Path:
    shutil.copytree(USER_PROJECT, pytester.path, dirs_exist_ok=True)
    return pytester.path


def test_users_example_replays_offline(pytester: pytest.Pytester, user_project: Path):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--block-network")
    result.assert_outcomes(passed=1)


def test_users_changed_prompt_fails_with_the_re_record_message(pytester: pytest.Pytester, user_project: Path):
    template = user_project / "my_prompts" / "events.j2"
    template.write_text(template.read_text().replace("List the events", "List all the events"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--block-network")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*prompt 'events' (now version *) changed since its cassette was recorded*",
            "*pytest 'test_my_prompts.py::test_events_prompt' --record-mode=rewrite*",
        ]
    )


# --- the assertion helpers, on a recorded output --------------------------------------------------------


@pytest.fixture
def analysis() -> ArticleAnalysis:
    """The embedded model's recorded events for the Daily Mail road-accident article: six events, no
    quote grounded (the golden snapshot, with the timings a snapshot leaves out put back as zero)."""
    path = ROOT / "cassettes" / "test_golden" / "test_events_prompt[dm-road-accident].json"
    data = json.loads(path.read_text())
    data["metadata"] |= {"seconds": 0.0, "summarizer_version": "0"}
    for run in data["metadata"]["tasks"].values():
        run["seconds"] = 0.0
    return ArticleAnalysis.model_validate(data)


def test_helpers_pass_on_what_holds(analysis: ArticleAnalysis):
    assert_schema_valid(analysis)
    assert_quotes_grounded(analysis, min_share=0.0)
    assert analysis.events
    assert_min_events(analysis, len(analysis.events))
    assert_actor(analysis, analysis.events[0].actors[0].upper())  # names compare case-insensitively


def test_helpers_fail_with_a_message_on_what_does_not(analysis: ArticleAnalysis):
    with pytest.raises(AssertionError, match="expected at least 99"):
        assert_min_events(analysis, 99)
    with pytest.raises(AssertionError, match="'Nobody At All' not among the actors"):
        assert_actor(analysis, "Nobody At All")
    with pytest.raises(AssertionError, match="holds no stance, expected 'supports'"):
        assert_polarity(analysis, "Nobody At All", "supports")
    with pytest.raises(AssertionError, match="0% of dates resolved"):
        assert_dates_resolved(analysis)  # its date_texts are not dates
    with pytest.raises(AssertionError, match="0% of quotes grounded"):
        assert_quotes_grounded(analysis, min_share=1.0)


def test_snapshot_view_drops_what_changes_between_runs(analysis: ArticleAnalysis):
    view = snapshot_view(analysis)
    assert "seconds" not in view["metadata"] and "summarizer_version" not in view["metadata"]
    assert all("seconds" not in run for run in view["metadata"]["tasks"].values())
