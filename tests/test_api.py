"""The public API: what `from summarizer import ...` offers, pinned; the flat layout's module paths still
import (for one release) and are the same modules as the new ones."""

from __future__ import annotations

import importlib

import pytest

import summarizer
from summarizer._moved import MOVED

PUBLIC = [
    "Article",
    "ArticleAnalysis",
    "CheckedEvent",
    "CheckedStance",
    "Citation",
    "ConfigError",
    "EndpointError",
    "Event",
    "EventDate",
    "EventType",
    "FieldCheck",
    "InputError",
    "LocalModelError",
    "Metadata",
    "ModelOutputError",
    "PartialResultError",
    "ResolvedDate",
    "ResponseCache",
    "Settings",
    "Stance",
    "Summarizer",
    "SummarizerError",
    "Summary",
    "Usage",
    "asummarize",
    "read_article",
    "resolve_settings",
    "summarize",
]


def test_all_is_pinned() -> None:
    assert summarizer.__all__ == PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(summarizer, name) is not None


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_the_flat_layout_paths_still_import(old: str, new: str) -> None:
    assert importlib.import_module(f"summarizer.{old}") is importlib.import_module(f"summarizer.{new}")


def test_old_package_level_names_still_import() -> None:
    from summarizer.batch import collect_inputs, run_batch, run_to_end
    from summarizer.cli import app
    from summarizer.pipeline import Summarizer, parse_tasks
    from summarizer.render import render, to_json

    assert all((collect_inputs, run_batch, run_to_end, app, Summarizer, parse_tasks, render, to_json))
