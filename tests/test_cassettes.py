"""Every recorded cassette is free of keys and Authorization values; `prompts check` tells which prompts
still match their cassettes."""

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from summarizer.core.schemas import EXTRACTIVE_SUFFIX, PROMPT_MODELS
from summarizer.pipeline.prompts import PromptSet
from summarizer.testing.cassettes import check_cassettes

ROOT = Path(__file__).resolve().parent.parent
CASSETTE_DIR = ROOT / "cassettes"
CASSETTES = sorted(CASSETTE_DIR.rglob("*.yaml"))
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


def test_prompts_check_finds_every_recorded_prompt_up_to_date() -> None:
    report = {p.prompt: p for p in check_cassettes(PromptSet.load(ROOT / "prompts"), CASSETTE_DIR)}
    assert sorted(report) == sorted(PROMPT_MODELS)
    assert all(p.status == "up to date" for p in report.values()), report
    # the extractive prompts too: their candidate lists and schemas are remade from the recorded article
    assert all(report[n].current >= 3 for n in report if n.endswith(EXTRACTIVE_SUFFIX)), report


def test_prompts_check_finds_an_edited_extractive_template_stale(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    template = tmp_path / "prompts" / "summary_extractive.j2"
    template.write_text(template.read_text(encoding="utf-8") + "Be brief.\n", encoding="utf-8")
    report = {p.prompt: p for p in check_cassettes(PromptSet.load(tmp_path / "prompts"), CASSETTE_DIR)}
    assert report["summary_extractive"].status.startswith("STALE"), report["summary_extractive"]
    assert report["stances_extractive"].status == "up to date"


def test_prompts_check_finds_an_extractive_request_whose_schema_differs_stale(tmp_path: Path) -> None:
    # As if recorded when the schema allowed 4 summary sentences: the template is the same, the schema not.
    shutil.copytree(CASSETTE_DIR, tmp_path / "cassettes")
    for path in (tmp_path / "cassettes").rglob("test_summary_extractive_prompt*.yaml"):
        cassette = yaml.safe_load(path.read_text(encoding="utf-8"))
        for interaction in cassette["interactions"]:
            body = json.loads(interaction["request"]["body"])
            summary = body["response_format"]["json_schema"]["schema"]["properties"]["summary"]
            summary["maxItems"] = 4
            interaction["request"]["body"] = json.dumps(body)
        path.write_text(yaml.safe_dump(cassette), encoding="utf-8")
    report = {p.prompt: p for p in check_cassettes(PromptSet.load(ROOT / "prompts"), tmp_path / "cassettes")}
    assert report["summary_extractive"].status == "STALE: 3 of 3 requests", report["summary_extractive"]
    assert report["events_extractive"].status == "up to date"
