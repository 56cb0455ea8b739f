"""A batch's inputs: files, folders, globs and JSONL files of articles, each with a stable id, read lazily."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import glob
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..core.article import Article, article_from_text, read_article
from ..core.errors import InputError
from ..core.jsonl import iter_jsonl

ARTICLE_SUFFIXES = {".txt", ".md", ".html", ".htm", ".xhtml"}


@dataclass(frozen=True)
class BatchInput:
    """One article to run: a stable id, where it came from, and how to read it (lazily, so a folder of
    thousands is not held in memory)."""

    id: str
    source: str
    load: Callable[[], Article]
    path: str | None = None  # the file it is read from: no output of the batch may overwrite it


def content_id(data: bytes | str) -> str:
    """A stable id from the content: the same article gets the same id on every run."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:16]


def collect_inputs(specs: Iterable[str]) -> list[BatchInput]:
    """Files, folders (recursively: .txt, .md, .html, .htm), glob patterns and JSONL files.

    JSONL lines hold `text` (or `article`) and optionally `id`, `title`, `url`, `published` (YYYY-MM-DD).
    Ids are given or a hash of the content. A repeated id keeps its first input.
    """
    inputs: dict[str, BatchInput] = {}
    for spec in specs:
        for item in _expand(spec):
            inputs.setdefault(item.id, item)
    return list(inputs.values())


def _expand(spec: str) -> Iterator[BatchInput]:
    # A path that exists is that path, even when it holds glob characters ("news/[2023] story.txt").
    literal = not glob.has_magic(spec) or os.path.lexists(spec)
    paths = [Path(spec)] if literal else [Path(p) for p in sorted(glob.glob(spec, recursive=True))]
    if not paths:
        raise InputError(f"{spec}: no file matches this pattern")
    for path in paths:
        if path.is_dir():
            for file in sorted(
                p for p in path.rglob("*") if p.suffix.lower() in ARTICLE_SUFFIXES and p.is_file()
            ):
                yield _file_input(file)
        elif path.suffix.lower() == ".jsonl":
            yield from _jsonl_inputs(path)
        elif path.exists():
            yield _file_input(path)
        else:
            raise InputError(f"{path}: no such file or directory")


def _file_input(path: Path) -> BatchInput:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return BatchInput(id=content_id(data), source=str(path), load=lambda: read_article(path), path=str(path))


def _jsonl_inputs(path: Path) -> Iterator[BatchInput]:
    for _, where, record in iter_jsonl(path):
        text = record.get("text") or record.get("article")
        try:
            published = (
                dt.date.fromisoformat(str(record["published"])[:10]) if record.get("published") else None
            )
        except ValueError as exc:
            raise InputError(f"{where}: 'published' is not a YYYY-MM-DD date: {exc}") from exc
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where}: no 'text' (or 'article') field with the article")
        item_id = str(record.get("id") or content_id(text))
        source = str(record.get("url") or where)
        title = record.get("title")
        load = functools.partial(_jsonl_article, text, source, published, str(title) if title else None)
        yield BatchInput(id=item_id, source=source, load=load, path=str(path))


def _jsonl_article(text: str, source: str, published: dt.date | None, title: str | None) -> Article:
    return dataclasses.replace(article_from_text(text, source=source, published=published), title=title)


# --- the run -------------------------------------------------------------------------------------------
