"""Every recorded cassette is free of keys and Authorization values."""

import re
from pathlib import Path

import pytest
import yaml

CASSETTES = sorted((Path(__file__).resolve().parent.parent / "cassettes").rglob("*.yaml"))
KEY_LIKE = re.compile(r"sk-[A-Za-z0-9_-]{8,}|Bearer\s+[A-Za-z0-9._-]{8,}")
SECRET_HEADERS = {"authorization", "api-key", "x-api-key", "openai-organization", "openai-project", "cookie"}


def test_there_are_cassettes():
    assert CASSETTES


@pytest.mark.parametrize("path", CASSETTES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_cassette_holds_no_secret(path: Path):
    text = path.read_text(encoding="utf-8")
    assert not KEY_LIKE.search(text), f"key-like string in {path}"
    for interaction in yaml.safe_load(text)["interactions"]:
        for name, values in interaction["request"]["headers"].items():
            if name.lower() in SECRET_HEADERS:
                assert values == ["REDACTED"], f"{name} not redacted in {path}"
        for name in interaction["response"]["headers"]:
            assert name.lower() not in {"set-cookie", "openai-organization"}, f"{name} kept in {path}"
