"""Cassettes: how requests are recorded and matched, what a mismatch means, and which prompts still match.

No pytest here: `summarizer prompts check` uses this module without the test dependencies.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import instructor
import yaml
from instructor.processing import handle_response_model
from pydantic import BaseModel

from ..core.article import Article
from ..core.errors import SummarizerError
from ..core.schemas import EXTRACTIVE_SUFFIX, PROMPT_MODELS
from ..core.segment import Sentence
from ..grounding.ground import Grounding
from ..grounding.request import request_model
from ..model.client import as_grammar, causes
from ..model.grammar import grammar_schema
from ..model.settings import MODES
from ..pipeline.extractive import Extractive
from ..pipeline.prompts import PromptSet, read_fenced

REDACTED = "REDACTED"
SECRET_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project", "cookie", "x-api-key")
SECRET_RESPONSE_HEADERS = ("set-cookie", "openai-organization", "openai-project")


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


def drift_message(
    exc: BaseException, nodeid: str, prompts: PromptSet | None = None, *, snapshot: bool = False
) -> str | None:
    """The re-record message when `exc` comes from a request missing from its cassette, else None.
    `snapshot`: the test also keeps an output snapshot, which records the prompt version and so must be
    accepted again with the new cassette."""
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
        f"    pytest '{nodeid}' --record-mode=rewrite{' --snapshot-update' if snapshot else ''}\n"
        f"(against the embedded model, or set OPENAI_API_KEY / OPENAI_BASE_URL and SUMMARIZER_MODEL)."
    )


# --- which prompts still match their cassettes ------------------------------------------------------------


@dataclass
class PromptCassettes:
    """For one prompt: the recorded requests that the current template and schema still produce, and
    those they no longer do (with the cassette files)."""

    prompt: str
    version: str
    current: int = 0
    stale: int = 0
    stale_files: set[str] = field(default_factory=set)

    @property
    def status(self) -> str:
        if not self.current and not self.stale:
            return "no cassettes"
        return (
            "up to date" if not self.stale else f"STALE: {self.stale} of {self.current + self.stale} requests"
        )


def _request_parts(body: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The response model's name (the forced tool's, the `response_format` schema's, or the title of the
    schema in llama.cpp's `grammar`) and the rest of the request that says what it asks for."""
    if tools := body.get("tools") or []:
        return tools[0]["function"]["name"], {"tools": tools, "tool_choice": body.get("tool_choice")}
    if isinstance(grammar := body.get("grammar"), str) and (schema := grammar_schema(grammar)) is not None:
        return schema.get("title"), {"grammar": schema}
    form = body.get("response_format") or {}
    return (form.get("json_schema") or {}).get("name"), {"response_format": form}


def _property(schema: Any, field: str) -> dict[str, Any] | None:
    """The first definition of property `field` in a recorded tool schema, wherever it is."""
    if isinstance(schema, dict):
        found = (schema.get("properties") or {}).get(field)
        if isinstance(found, dict):
            return found
        schema = list(schema.values())
    for item in schema if isinstance(schema, list) else []:
        if (found := _property(item, field)) is not None:
            return found
    return None


def _enum(schema: Any, field: str) -> list[Any] | None:
    """The enum a recorded tool schema gave `field` (in an item or a union too)."""
    found = _property(schema, field)
    return None if found is None else _values(found)


def _values(node: dict[str, Any]) -> list[Any] | None:
    for part in [node, node.get("items") or {}, *(node.get("anyOf") or [])]:
        if isinstance(part, dict) and isinstance(part.get("enum"), list):
            return list(part["enum"])
    return None


def _expected_request(
    name: str, recorded: dict[str, Any], mode: str, rails: Extractive | None = None
) -> dict[str, Any]:
    """What today's schema for `name` would send in `mode`. A free prompt's carries the enums the recorded
    request had (sentence numbers, the article's names and dates: they depend on the article, which the
    comparison of the messages already covers); an extractive prompt's is made by its `rails`, from the
    article the recorded messages carry."""
    if rails is not None:
        task = name.removesuffix(EXTRACTIVE_SUFFIX)
        model = rails.request_model(task, [s.number for s in rails.grounding.sentences])
        return _sent(model, mode)
    numbers = tuple(_enum(recorded, "sentences") or ())
    names = _enum(recorded, "actor") or _enum(recorded, "actors")
    dates = tuple(_enum(recorded, "when") or ())
    stances = _property(recorded, "stances") or {}
    model = request_model(
        name,
        numbers,
        names=tuple(names) if names else None,
        dates=dates,
        least=stances.get("minItems", 0),
        strict=mode == "tools_strict",
    )
    return _sent(model, mode)


def _sent(model: type[BaseModel], mode: str) -> dict[str, Any]:
    """What a request for `model` in `mode` says it asks for."""
    request = handle_response_model(model, mode=instructor.Mode[MODES[mode]], messages=[])[1]
    if mode == "grammar":  # what client.py's hook makes of the JSON-schema request
        extra: dict[str, Any] = {}
        as_grammar(extra)(**request)
        request |= extra
    return _request_parts(request)[1]


def _recorded_mode(body: dict[str, Any]) -> str:
    """The mode a recorded request was sent in: the schema is compared as that mode would send it."""
    if tools := body.get("tools") or []:
        return "tools_strict" if tools[0].get("function", {}).get("strict") else "tools"
    return "grammar" if "grammar" in body else "json_schema"


def check_cassettes(prompts: PromptSet, cassette_dir: Path) -> list[PromptCassettes]:
    """For every prompt, how many recorded first requests the current template and schema would send
    unchanged (re-asks follow their first request). Each request's article is taken out of its messages
    and rendered again with the current templates; it matches if the messages and the tool schema come
    out identical."""
    report = {
        name: PromptCassettes(name, prompts.version(name, PROMPT_MODELS[name].model_json_schema()))
        for name in prompts.names()
        if name in PROMPT_MODELS
    }
    for path in sorted(cassette_dir.rglob("*.yaml")):
        for interaction in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("interactions", []):
            try:
                body = json.loads(interaction["request"]["body"])
            except (TypeError, ValueError, KeyError):
                continue
            tool, parts = _request_parts(body)
            candidates = [n for n in report if PROMPT_MODELS[n].__name__ == tool]
            messages = body.get("messages", [])
            # Only first requests: a re-ask repeats them and adds the model's answer and the errors.
            context = read_fenced(messages[1]["content"]) if len(messages) == 2 else None
            if not candidates or context is None:
                continue
            rails = {n: _rails(n, context) for n in candidates}
            matched = [
                n
                for n in candidates
                if _render(prompts, n, context, rails[n]) == messages
                and parts == _expected_request(n, parts, _recorded_mode(body), rails[n])
            ]
            if matched:
                report[matched[0]].current += 1
                continue
            # Stale: charge it to the candidate whose instructions come closest to the recorded ones.
            closest = max(
                candidates,
                key=lambda n: _shared_prefix(
                    _render(prompts, n, context, rails[n])[1]["content"], messages[1]["content"]
                ),
            )
            report[closest].stale += 1
            report[closest].stale_files.add(str(path))
    return list(report.values())


def _render(
    prompts: PromptSet, name: str, context: dict[str, str | None], rails: Extractive | None = None
) -> list[dict[str, str]]:
    numbers = [s.number for s in rails.grounding.sentences] if rails else []
    return prompts.render(
        name,
        text=context["text"] or "",
        title=context["title"],
        published=context["published"],
        tag=context["tag"],
        extra=rails.prompt_values(name.removesuffix(EXTRACTIVE_SUFFIX), numbers) if rails else None,
    )


_NUMBERED = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)


def _rails(name: str, context: dict[str, str | None]) -> Extractive | None:
    """For an extractive prompt, its rails over the article the recorded messages carry: the numbered
    sentences, one per line, are the article's text (as the model saw it), so the candidate lists and the
    request schema come out as the pipeline made them for an article of one chunk."""
    if not name.endswith(EXTRACTIVE_SUFFIX):
        return None
    text, sentences = "", []
    for found in _NUMBERED.finditer(context["text"] or ""):
        start = len(text) + (1 if text else 0)
        text = f"{text}\n{found[2]}" if text else found[2]
        sentences.append(Sentence(int(found[1]), start, len(text), found[2]))
    article = Article(text=text, title=context["title"])
    return Extractive(Grounding(article, sentences, pick_names=True))


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
