"""A pytest plugin for testing prompts against recorded cassettes (registered as `summarizer`).

Fixtures:
- `vcr_config`: body matching, key redaction, compressed responses decoded;
- `vcr_cassette_dir`: `cassettes/<test module>/` at the project root;
- `summarizer_settings` / `summarizer`: a `Summarizer` bound to the cassette. Replaying needs no server.
  Recording (`--record-mode=once|rewrite`) uses OPENAI_API_KEY / OPENAI_BASE_URL when set, else starts
  the embedded model once per session.

A request that no longer matches its cassette (a prompt or schema changed) fails with a message that names
the prompt and the command that re-records it, instead of vcrpy's bare exception.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .client import causes, make_client
from .errors import SummarizerError
from .local import LocalServer
from .pipeline import Summarizer
from .prompts import PromptSet
from .settings import EMBEDDED_MODEL, Settings, resolve_settings

REDACTED = "REDACTED"
SECRET_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project", "cookie", "x-api-key")
SECRET_RESPONSE_HEADERS = ("set-cookie", "openai-organization", "openai-project")
# Replays never connect; the URL only has to be well-formed (matching ignores host and port).
REPLAY_BASE_URL = "http://127.0.0.1:9/v1"


def json_body(r1: Any, r2: Any) -> None:
    """vcrpy matcher: request bodies equal as JSON (key order aside), else as bytes."""
    b1, b2 = r1.body or b"", r2.body or b""
    try:
        same = json.loads(b1) == json.loads(b2)
    except ValueError:
        same = b1 == b2
    if not same:
        raise AssertionError("the request bodies differ")


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in SECRET_RESPONSE_HEADERS:
            del headers[name]
    return response


def cassette_config() -> dict[str, Any]:
    """The vcrpy settings every summarizer cassette uses."""
    return {
        "filter_headers": [(h, REDACTED) for h in SECRET_HEADERS],
        "filter_query_parameters": [("api-key", REDACTED), ("key", REDACTED)],
        "before_record_response": _scrub_response,
        "decode_compressed_response": True,
        # Host and port are left out: the embedded server records on a random loopback port.
        "match_on": ["method", "scheme", "path", "query", "json_body"],
    }


def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    vcr.register_matcher("json_body", json_body)


def _cassette_fixtures() -> ModuleType:
    """`vcr_config` and `vcr_cassette_dir`, in a module of their own. pytest-recording defines both too and
    the plugin registered last wins, so `pytest_configure` registers this after every entry-point plugin."""

    @pytest.fixture(scope="module")
    def vcr_config() -> dict[str, Any]:
        return cassette_config()

    @pytest.fixture(scope="module")
    def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
        return str(Path(request.config.rootpath) / "cassettes" / request.path.stem)

    module = ModuleType("summarizer.testing.cassette_fixtures")
    module.vcr_config = vcr_config  # type: ignore[attr-defined]
    module.vcr_cassette_dir = vcr_cassette_dir  # type: ignore[attr-defined]
    return module


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_cassette_fixtures(), "summarizer-cassette-fixtures")


def is_recording(config: pytest.Config) -> bool:
    return (config.getoption("--record-mode", default=None) or "none") != "none"


@pytest.fixture(scope="session")
def _recording_server(request: pytest.FixtureRequest) -> Iterator[LocalServer | None]:
    """The embedded server, started once, only when recording without a configured endpoint."""
    configured = os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
    if not is_recording(request.config) or configured:
        yield None
        return
    with LocalServer() as server:
        yield server


@pytest.fixture
def summarizer_settings(request: pytest.FixtureRequest, _recording_server: LocalServer | None) -> Settings:
    """Settings for cassette tests. The model name is part of the recorded request: replay with the one
    that recorded (SUMMARIZER_MODEL, default the embedded model)."""
    if is_recording(request.config) and _recording_server is None:
        settings = resolve_settings(model=os.environ.get("SUMMARIZER_MODEL"))
    else:
        base_url = _recording_server.base_url if _recording_server else REPLAY_BASE_URL
        settings = resolve_settings(
            model=os.environ.get("SUMMARIZER_MODEL") or EMBEDDED_MODEL, base_url=base_url, api_key="test"
        ).with_overrides(endpoint="embedded")
    return settings


@pytest.fixture
def summarizer(summarizer_settings: Settings) -> Iterator[Summarizer]:
    """A `Summarizer` bound to the test's cassette; the openai client does not retry (a replay never
    should)."""
    client = make_client(summarizer_settings, http_retries=0)
    with Summarizer(summarizer_settings, client=client, notice=lambda _: None) as s:
        yield s


def drift_message(exc: BaseException, nodeid: str, prompts: PromptSet | None = None) -> str | None:
    """The re-record message when `exc` comes from a request missing from its cassette, else None."""
    chain = list(causes(exc))
    if not any(type(e).__name__ == "CannotOverwriteExistingCassetteException" for e in chain):
        return None
    task = next((e for e in chain if isinstance(e, SummarizerError) and e.task), None)
    what = (
        f"prompt {task.task!r} (now version {task.prompt_version}) changed since its cassette was recorded"
        if task
        else "a request changed since its cassette was recorded"
    )
    return (
        f"{what}: the rendered messages or the schema no longer match.\n"
        f"If the change is intended, re-record with:\n"
        f"    pytest '{nodeid}' --record-mode=rewrite\n"
        f"(against the embedded model, or set OPENAI_API_KEY / OPENAI_BASE_URL and SUMMARIZER_MODEL)."
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if call.excinfo is not None and report.failed:
        message = drift_message(call.excinfo.value, item.nodeid)
        if message:
            report.longrepr = message
