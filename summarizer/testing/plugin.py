"""A pytest plugin for testing prompts against recorded cassettes (registered as `summarizer`).

Installed with the library, it is a guest in every test suite of the environment: it changes nothing in a
test that does not ask for it. A test asks by using one of our fixtures (`summarizer`,
`summarizer_settings`, `output_snapshot`) or the `summarizer_cassettes` marker; a whole project asks with
`summarizer_cassettes = true` in its pytest configuration. Only for those tests, and only when they carry
pytest-recording's `vcr` marker:
- the cassette is `cassettes/<test module>/<test>.yaml` at the project root;
- requests match on their JSON body, secrets are redacted, compressed responses are decoded;
- a request missing from the cassette (a prompt or schema changed) fails with a message that names the
  prompt and the command that re-records it, instead of vcrpy's bare exception.
Every other test keeps pytest-recording's and vcrpy's defaults, errors included.

Fixtures `summarizer_settings` / `summarizer`: a `Summarizer` bound to the cassette. Replaying needs no
server. Recording (`--record-mode=once|rewrite`) uses OPENAI_API_KEY / OPENAI_BASE_URL when set, else starts
the embedded model once per session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the rest is imported where used: the plugin loads in every pytest session
    from ..model.local import LocalServer
    from ..model.settings import Settings
    from ..pipeline.summarizer import Summarizer

# Replays never connect; the URL only has to be well-formed (matching ignores host and port).
REPLAY_BASE_URL = "http://127.0.0.1:9/v1"
# How cassette tests send the schema, recording or replaying: as `response_format`, which the embedded
# engine and OpenAI both take, so that a cassette can be re-recorded against either. (The embedded
# default, llama.cpp's own `grammar` field, would be refused by OpenAI.)
CASSETTE_MODE = "json_schema"

OPT_IN_INI = "summarizer_cassettes"
OPT_IN_MARKER = "summarizer_cassettes"
# Using any of these is asking for our cassettes (`summarizer` and `output_snapshot` need the settings).
OUR_FIXTURES = frozenset({"summarizer", "summarizer_settings", "output_snapshot"})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        OPT_IN_INI,
        type="bool",
        default=False,
        help="summarizer: give every test marked `vcr` summarizer's cassette settings (cassettes/ at the "
        "root, JSON body matching, redaction, the re-record message). Default: only tests using "
        "summarizer's fixtures or the `summarizer_cassettes` marker.",
    )


def uses_our_cassettes(item: pytest.Item) -> bool:
    """Whether `item` asked for our cassette settings (see the module docstring)."""
    return bool(
        item.config.getini(OPT_IN_INI)
        or item.get_closest_marker(OPT_IN_MARKER) is not None
        or OUR_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    )


def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    from .cassettes import json_body

    # Registering a matcher changes nothing until a cassette's match_on names it, and only ours do.
    vcr.register_matcher("json_body", json_body)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Our vcrpy settings go onto our tests as one more `vcr` marker, the test's own last. pytest-recording
    merges `vcr_config` with the markers, the test's own winning: so ours beat any `vcr_config` and module
    marker, while the test's own `@pytest.mark.vcr(...)` arguments still beat ours. A test without a `vcr`
    marker gets none: using our fixtures does not turn recording on."""
    from .cassettes import cassette_config

    for item in items:
        if item.get_closest_marker("vcr") is not None and uses_our_cassettes(item):
            item.add_marker(pytest.mark.vcr(**cassette_config()))


def _cassette_dir_fixture() -> ModuleType:
    """`vcr_cassette_dir`, in a module of its own: it must be registered after pytest-recording (the plugin
    registered last wins), which `pytest_configure` does. For any test that did not ask for our cassettes
    it returns the fixture it overrides, pytest-recording's `<test dir>/cassettes/<module>/` unless a
    conftest overrides it. pytest-recording's is module-scoped; this one is per test, because whether a
    test asked is a property of the test, not of its module."""

    @pytest.fixture
    def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
        if not uses_our_cassettes(request.node):
            # Requesting its own name from inside a fixture gives the fixture it overrides.
            return str(request.getfixturevalue("vcr_cassette_dir"))
        return str(Path(request.config.rootpath) / "cassettes" / request.path.stem)

    module = ModuleType("summarizer.testing.cassette_dir")
    module.vcr_cassette_dir = vcr_cassette_dir  # type: ignore[attr-defined]
    return module


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{OPT_IN_MARKER}: give this `vcr` test summarizer's cassette settings (cassettes/ at the root, JSON "
        "body matching, redaction, the re-record message)",
    )
    config.pluginmanager.register(_cassette_dir_fixture(), "summarizer-cassette-dir")


def is_recording(config: pytest.Config) -> bool:
    return (config.getoption("--record-mode", default=None) or "none") != "none"


@pytest.fixture(scope="session")
def _recording_server(request: pytest.FixtureRequest) -> Iterator[LocalServer | None]:
    """The embedded server, started once, only when recording without a configured endpoint."""
    from ..model.local import LocalServer

    configured = os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
    if not is_recording(request.config) or configured:
        yield None
        return
    with LocalServer() as server:
        yield server


@pytest.fixture
def summarizer_rails() -> str | None:
    """The rails of cassette tests: "free" by default, so that the prompts a project writes (`summary.j2`,
    `stances.j2`, `events.j2`) are what its tests send; override to return "extractive" to test the
    extractive prompts (`*_extractive.j2`), or None for the endpoint's default."""
    return "free"


@pytest.fixture
def summarizer_settings(
    request: pytest.FixtureRequest, _recording_server: LocalServer | None, summarizer_rails: str | None
) -> Settings:
    """Settings for cassette tests. The model name is part of the recorded request: replay with the one
    that recorded (SUMMARIZER_MODEL, default the embedded model)."""
    from ..model.settings import EMBEDDED_MODEL, resolve_settings

    if is_recording(request.config) and _recording_server is None:
        # A replay cannot tell what recorded the cassette and asks as for the embedded model (a JSON
        # schema as response_format, names picked from the article): a recording against a configured
        # endpoint asks the same, or its cassette would not replay.
        settings = resolve_settings(model=os.environ.get("SUMMARIZER_MODEL")).with_overrides(
            mode=CASSETTE_MODE, name_choices=True
        )
    else:
        base_url = _recording_server.base_url if _recording_server else REPLAY_BASE_URL
        settings = resolve_settings(
            model=os.environ.get("SUMMARIZER_MODEL") or EMBEDDED_MODEL, base_url=base_url, api_key="test"
        ).with_overrides(endpoint="embedded", mode=CASSETTE_MODE)
    return settings.with_overrides(rails=summarizer_rails)


@pytest.fixture
def summarizer_prompts_dir() -> str | None:
    """Override to test your own templates: return their directory (default: the installed prompts)."""
    return None


@pytest.fixture
def summarizer(summarizer_settings: Settings, summarizer_prompts_dir: str | None) -> Iterator[Summarizer]:
    """A `Summarizer` bound to the test's cassette; the openai client does not retry (a replay never
    should)."""
    from ..model.client import make_client
    from ..pipeline.prompts import PromptSet
    from ..pipeline.summarizer import Summarizer

    client = make_client(summarizer_settings, http_retries=0)
    prompts = PromptSet.load(summarizer_prompts_dir)
    with Summarizer(summarizer_settings, prompts=prompts, client=client, notice=lambda _: None) as s:
        yield s


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    from .cassettes import drift_message

    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    # Only our cassettes get our message: anyone else's test keeps vcrpy's own error.
    if call.excinfo is not None and report.failed and uses_our_cassettes(item):
        snapshot = "output_snapshot" in getattr(item, "fixturenames", ())
        message = drift_message(call.excinfo.value, item.nodeid, snapshot=snapshot)
        if message:
            report.longrepr = message


@pytest.fixture
def output_snapshot(snapshot: Any, vcr_cassette_dir: str) -> Any:
    """A syrupy snapshot of the output, stored as JSON in a tree beside the cassettes':
    `cassettes/snapshots/<module>/<test>.json`. On a change, pytest shows the diff; `pytest
    --snapshot-update` accepts it. Not in the cassettes' own folders: with --snapshot-update, syrupy
    deletes every file it does not know under the parent of a snapshot folder, cassettes included."""
    from syrupy.extensions.json import JSONSnapshotExtension

    class BesideTheCassette(JSONSnapshotExtension):
        @classmethod
        def dirname(cls, *, test_location: Any) -> str:
            cassettes = Path(vcr_cassette_dir)
            return str(cassettes.parent / "snapshots" / cassettes.name)

    return snapshot.use_extension(BesideTheCassette)
