"""Testing prompts: the pytest plugin (`plugin`, registered as `summarizer` by the entry point
`summarizer.testing`), the cassettes' settings and checks (`cassettes`), and assertion helpers for
structured output (`asserts`).

The plugin is a guest in every pytest session of the environment: loading it imports pytest and the
standard library only. The pipeline (openai, instructor, dateparser) is imported by the fixtures that use
it, and the helpers below when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .plugin import (
    OPT_IN_INI,
    OPT_IN_MARKER,
    OUR_FIXTURES,
    REPLAY_BASE_URL,
    _recording_server,
    is_recording,
    output_snapshot,
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_recording_configure,
    pytest_runtest_makereport,
    summarizer,
    summarizer_prompts_dir,
    summarizer_rails,
    summarizer_settings,
    uses_our_cassettes,
)

_LAZY = {
    "assert_actor": "asserts",
    "assert_dates_resolved": "asserts",
    "assert_evidence_in_article": "asserts",
    "assert_min_events": "asserts",
    "assert_names_in_article": "asserts",
    "assert_no_prompt_text": "asserts",
    "assert_polarity": "asserts",
    "assert_schema_valid": "asserts",
    "snapshot_view": "asserts",
    "cassette_config": "cassettes",
    "drift_message": "cassettes",
    "json_body": "cassettes",
}


def __getattr__(name: str) -> object:
    # Not listed by dir(): pytest reads every attribute dir() lists of a plugin, which would import them.
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


if TYPE_CHECKING:
    from .asserts import (
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
    from .cassettes import cassette_config, drift_message, json_body

__all__ = [
    "OPT_IN_INI",
    "OPT_IN_MARKER",
    "OUR_FIXTURES",
    "REPLAY_BASE_URL",
    "_recording_server",
    "assert_actor",
    "assert_dates_resolved",
    "assert_evidence_in_article",
    "assert_min_events",
    "assert_names_in_article",
    "assert_no_prompt_text",
    "assert_polarity",
    "assert_schema_valid",
    "cassette_config",
    "drift_message",
    "is_recording",
    "json_body",
    "output_snapshot",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_recording_configure",
    "pytest_runtest_makereport",
    "snapshot_view",
    "summarizer",
    "summarizer_prompts_dir",
    "summarizer_rails",
    "summarizer_settings",
    "uses_our_cassettes",
]
