"""Prompt templates: loading `prompts/*.j2`, rendering chat messages, and prompt versions.

A prompt's version is a short hash of everything that shapes the request for that task: its template,
the templates it shares (system prompt, article block) and the JSON schema the model must fill. Any change
to one of them changes the version, and the recorded cassettes stop matching.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
from pydantic import BaseModel

from ..core.errors import ConfigError
from ..core.schemas import PROMPT_MODELS

SYSTEM_TEMPLATE = "system.j2"
SHARED_TEMPLATES = (SYSTEM_TEMPLATE, "_article.j2")
# What asks again after an invalid answer. Not in a task's version: it is not part of a first request,
# and a changed one shows on replay (the re-ask's body differs from its cassette's).
REASK_TEMPLATE = "_reask.j2"
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


def default_prompts_dir() -> Path:
    """`SUMMARIZER_PROMPTS_DIR`, else the prompts shipped in the wheel, else the repository's `prompts/`."""
    if env := os.environ.get("SUMMARIZER_PROMPTS_DIR"):
        return Path(env)
    package = Path(__file__).parent.parent  # summarizer/
    packaged = package / "prompts"
    return packaged if packaged.is_dir() else package.parent / "prompts"


@functools.lru_cache(maxsize=512)
def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema, computed once per model (pydantic takes milliseconds for it); read-only.
    Bounded: request models are built per article's numbers and names, and a service runs for weeks."""
    return model.model_json_schema()


def _read(path: Path) -> str:
    """A template's text, read again only when the file changes (a prompt version is computed per call)."""
    stat = path.stat()
    return _read_version(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _read_version(path: Path, mtime_ns: int, size: int) -> str:
    return path.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=256)
def _includes(source: str) -> tuple[str, ...]:
    """The templates a template's text includes, parsed once per text, like `_read` reads it once."""
    found = jinja2.meta.find_referenced_templates(jinja2.Environment().parse(source))
    return tuple(sorted({t for t in found if t}))


def fence_tag(text: str) -> str:
    """The tag on the fence lines around one article: a hash of its text, so an article cannot know the
    line that closes its own fence, and the same article always gives the same prompt (cassettes). 64 bits:
    with 32, a text could be varied until its own hash closed its fence (a few billion tries)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def one_line(value: object) -> str | None:
    """Metadata shown inside the fence (title, date): newlines and control characters collapsed, so a
    title cannot start a line of its own."""
    if value is None:
        return None
    return _CONTROL_OR_SPACE.sub(" ", str(value)).strip() or None


_FENCED = re.compile(
    r"^<<<ARTICLE (?P<tag>\w+)\n(?:Title: (?P<title>[^\n]*)\n)?(?:Published: (?P<published>[^\n]*)\n)?\n"
    r"(?P<text>.*)\nEND OF ARTICLE (?P=tag)>>>(?:\n|$)",
    re.S | re.M,  # at the message's start, or after the instructions that come before the article
)


def read_fenced(user: str) -> dict[str, str | None] | None:
    """Text, title, published date and tag as `_article.j2` rendered them into a user message (its
    inverse, for checking recorded requests against today's templates); None if there is no fence."""
    found = _FENCED.search(user)
    return None if found is None else found.groupdict()


# --- what a generated field must not copy ------------------------------------------------------------


def words(text: str) -> str:
    """Text as compared with the prompts: NFKC, case folded, its words joined by one space, punctuation
    dropped."""
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold()))


def _schema_text(schema: Any) -> Iterator[str]:
    """Property names (as written and with spaces), titles and descriptions anywhere in a JSON schema; enum
    values are left out: a polarity "supports" is an answer, not a copy."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("title", "description") and isinstance(value, str):
                yield value
            elif key in ("properties", "$defs") and isinstance(value, dict):
                for name, sub in value.items():
                    yield from (name, name.replace("_", " "))
                    yield from _schema_text(sub)
            elif key != "enum":
                yield from _schema_text(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _schema_text(value)


@dataclass(frozen=True)
class PromptPhrases:
    """What a generated field must not copy: the words of every template (padded with spaces) and the
    schema texts, both as `words` gives them."""

    templates: tuple[str, ...]
    schema: frozenset[str]

    def matches(self, text: str) -> bool:
        """`text` equals a schema text, or its words (two or more) run inside a template's."""
        found = words(text)
        if not found:
            return False
        return found in self.schema or (" " in found and any(f" {found} " in t for t in self.templates))


def prompt_phrases(prompts: PromptSet) -> PromptPhrases:
    """The texts a field must not copy: every template in the prompts directory (tasks, system prompt,
    shared partials) and the field names, titles and descriptions of the schemas the model fills."""
    templates = tuple(
        f" {words(path.read_text(encoding='utf-8'))} " for path in sorted(prompts.directory.glob("*.j2"))
    )
    schema = {words(t) for model in PROMPT_MODELS.values() for t in _schema_text(schema_of(model))}
    return PromptPhrases(templates, frozenset(schema - {""}))


@dataclass(frozen=True)
class PromptSet:
    """The templates in one prompts directory."""

    directory: Path

    @classmethod
    def load(cls, directory: str | os.PathLike[str] | None = None) -> PromptSet:
        path = Path(directory) if directory else default_prompts_dir()
        if not (path / SYSTEM_TEMPLATE).is_file():
            raise ConfigError(f"no prompts in {path}: expected {SYSTEM_TEMPLATE} and one NAME.j2 per task")
        return cls(path)

    @cached_property
    def _env(self) -> jinja2.Environment:
        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.directory),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # the output is a chat message, not HTML
            keep_trailing_newline=False,
        )

    def names(self) -> list[str]:
        """Task prompts: every `*.j2` that is neither the system prompt nor a shared `_partial.j2`."""
        return sorted(
            p.stem
            for p in self.directory.glob("*.j2")
            if p.name != SYSTEM_TEMPLATE and not p.name.startswith("_")
        )

    def source(self, name: str) -> str:
        path = self.directory / f"{name}.j2"
        if not path.is_file():
            known = ", ".join(self.names())
            raise ConfigError(f"no prompt named {name!r} in {self.directory} (known: {known})")
        return _read(path)

    def version(self, name: str, schema: dict[str, Any] | None = None) -> str:
        """A hash of what `name` sends: its template, the shared ones, any other it includes, the schema."""
        digest = hashlib.sha256()
        shared = (*SHARED_TEMPLATES, *self._included(name))
        for part in (self.source(name), *(self._shared_source(t) for t in shared)):
            digest.update(part.encode())
            digest.update(b"\0")
        if schema is not None:
            digest.update(json.dumps(schema, sort_keys=True).encode())
        return digest.hexdigest()[:10]

    def _included(self, name: str) -> list[str]:
        """The templates `name` includes besides the shared ones (the extractive prompts' task list)."""
        return [t for t in _includes(self.source(name)) if t not in SHARED_TEMPLATES]

    def _shared_source(self, template: str) -> str:
        path = self.directory / template
        return _read(path) if path.is_file() else ""

    def reask(self, errors: str, *, tools: bool) -> str:
        """The message after an invalid answer, naming its `errors`: this directory's `_reask.j2`, else the
        default one (a prompts directory of one's own need not have it). `tools`: the answer was to be a
        function call (instructor's TOOLS mode), which the message then asks for."""
        own = (self.directory / REASK_TEMPLATE).is_file()
        env = self._env if own else PromptSet(default_prompts_dir())._env
        try:
            return env.get_template(REASK_TEMPLATE).render(errors=errors, tools=tools).strip()
        except jinja2.TemplateError as exc:
            raise ConfigError(f"prompt {REASK_TEMPLATE!r} does not render: {exc}") from exc

    def render(
        self,
        name: str,
        *,
        text: str,
        title: object = None,
        published: object = None,
        tag: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> list[dict[str, str]]:
        """The chat messages for one task: the system prompt, then the fenced article, then the task. What
        does not change with the article comes first (the extractive prompts' instructions), the article
        next, so that requests share prefixes: an article's tasks its article, every article the fixed
        part (llama.cpp's prefix cache and OpenAI's prompt caching reuse them). `tag` defaults to a hash
        of `text`. `extra`: more values for the task's template (an extractive prompt's candidate lists)."""
        self.source(name)  # a clear error for an unknown prompt, before jinja's
        values = {
            **(extra or {}),
            "title": one_line(title),
            "published": one_line(published),
            "text": text,
            "tag": tag or fence_tag(text),
        }
        try:
            system = self._env.get_template(SYSTEM_TEMPLATE).render(**values)
            user = self._env.get_template(f"{name}.j2").render(**values)
        except jinja2.TemplateError as exc:
            raise ConfigError(f"prompt {name!r} does not render: {exc}") from exc
        return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user.strip()}]
