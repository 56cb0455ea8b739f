"""Reading the input article: a text or HTML file, or stdin, into an `Article`.

Every failure is an `InputError` with one line naming the input, so the CLI can print it without a traceback.
Evidence offsets later point into `Article.text`, so plain text is kept as written apart from line endings
and the whitespace at its two ends.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .schemas import ArticleInfo
from .text import lone_surrogate

if TYPE_CHECKING:
    from trafilatura.settings import Document

MAX_BYTES: int = 5_000_000
"""Larger input is refused: no news article is this long, and it would blow any context window anyway."""

HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
# Comments are taken possessively, each up to its own "-->": with backtracking, a comment's ".*?" could also
# run across the next ones, and 24 empty comments before a non-HTML text took 15 s (doubling with each).
_HTML_START = re.compile(
    r"\s*+(?:<\?xml[^>]*+>\s*+)?+(?:<!--.*?-->\s*+)*+<(?:!doctype\s+html|html)\b", re.I | re.S
)
_HTML_EARLY = re.compile(r"<(?:head|body)\b", re.I)
_SNIFF_CHARS = 2048
# C0 controls and DEL, except the whitespace that text files legitimately contain.
_CONTROL = {c: None for c in [*range(0x20), 0x7F] if chr(c) not in "\t\n\r\f\v"}
_BINARY_RATIO = 0.3
_TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " :: ")


@dataclass(frozen=True)
class Article:
    """One article. `text` is what evidence offsets point into."""

    text: str
    title: str | None = None
    author: str | None = None
    published: dt.date | None = None
    language: str | None = None
    source: str | None = None  # the path, "-" for stdin, or a URL

    def info(self) -> ArticleInfo:
        return ArticleInfo(
            source=self.source,
            title=self.title,
            author=self.author,
            published=self.published,
            language=self.language,
            text=self.text,
        )


def read_article(path: str | os.PathLike[str], *, published: dt.date | None = None) -> Article:
    """Read a file, or stdin when path == "-". Never modifies the file."""
    source = os.fspath(path)
    name = _name(source)
    if source == "-":
        # Read one byte past the limit so an endless pipe is refused without reading it all.
        try:
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        except (OSError, AttributeError, ValueError):  # closed, missing or text-only stdin
            raise InputError(f"{name}: cannot read standard input") from None
        if len(data) > MAX_BYTES:
            raise InputError(f"{name}: too large: over {MAX_BYTES:,} bytes (the limit is {MAX_BYTES:,})")
        return parse_article(data, source=source, published=published)
    try:
        with open(source, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_BYTES:
                raise InputError(f"{name}: too large: {size:,} bytes (the limit is {MAX_BYTES:,})")
            # Special files (/dev/zero, FIFOs) report size 0, so bound the read itself too.
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a file") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except OSError as e:
        raise InputError(f"{name}: cannot read: {e.strerror or e}") from None
    if len(data) > MAX_BYTES:
        raise InputError(f"{name}: too large: over {MAX_BYTES:,} bytes (the limit is {MAX_BYTES:,})")
    return parse_article(data, source=source, published=published)


def parse_article(data: bytes, *, source: str | None = None, published: dt.date | None = None) -> Article:
    """Decode and, when it is HTML, extract the text and metadata."""
    name = _name(source)
    if len(data) > MAX_BYTES:
        raise InputError(f"{name}: too large: {len(data):,} bytes (the limit is {MAX_BYTES:,})")
    # NUL never occurs in text; checking it first keeps binary files from being reported as bad UTF-8.
    if b"\x00" in data:
        raise InputError(f"{name}: looks like a binary file (contains NUL bytes), not an article")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(f"{name}: not valid UTF-8 at byte offset {e.start} (line {line})") from None
    text = text.removeprefix("\ufeff")  # a BOM is decoration, not text
    if _is_html(text, source):
        return article_from_html(text, source=source, published=published)
    return article_from_text(text, source=source, published=published)


def article_from_text(text: str, *, source: str | None = None, published: dt.date | None = None) -> Article:
    """Validate plain text and normalise its line endings; everything else stays as written."""
    name = _name(source)
    _check_text(text, name)
    return Article(text=_normalise(text), published=published, source=source)


def article_from_html(html: str, *, source: str | None = None, published: dt.date | None = None) -> Article:
    """Extract the article text and metadata from an HTML page, offline."""
    name = _name(source)
    _check_text(html, name)
    doc = _extract(html)
    if doc is None:
        raise InputError(f"{name}: no article text could be extracted from this HTML page")
    return Article(
        text=_normalise(doc.text or ""),
        title=_clean_title(doc.title, doc.sitename),
        author=(doc.author or "").strip() or None,
        # An explicit date wins: the caller knows better than the page's metadata.
        published=published or _parse_date(doc.date),
        language=doc.language or _html_language(html),
        source=source,
    )


# --- helpers ------------------------------------------------------------------------------------------


def _name(source: str | None) -> str:
    if not source:
        return "input"
    if source == "-":
        return "<stdin>"
    # Keep the error on one line even for odd file names.
    return source if source.isprintable() else repr(source)


def _check_text(text: str, name: str) -> None:
    if not text.strip():
        raise InputError(f"{name}: is empty" if not text else f"{name}: contains only whitespace")
    if "\x00" in text:
        raise InputError(f"{name}: looks like a binary file (contains NUL bytes), not an article")
    if (surrogate := lone_surrogate(text)) is not None:  # as bytes that are not UTF-8 are, for a file
        raise InputError(f"{name}: not valid Unicode text: {surrogate}")
    if not any(c.isalnum() for c in text):  # ".", "!!!", "-", "。": no sentence to cite
        raise InputError(f"{name}: has no words (not one letter or digit), so nothing to summarise")
    controls = len(text) - len(text.translate(_CONTROL))
    if controls > _BINARY_RATIO * len(text):
        share = f"{controls / len(text):.0%}"
        raise InputError(f"{name}: looks like a binary file ({share} control characters), not an article")


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _is_html(text: str, source: str | None) -> bool:
    if source and source != "-" and Path(source).suffix.lower() in HTML_SUFFIXES:
        return True
    head = text[:_SNIFF_CHARS]
    return bool(_HTML_START.match(head) or _HTML_EARLY.search(head))


def _extract(html: str) -> Document | None:
    # Imported here: trafilatura is slow to import and plain-text input never needs it.
    import trafilatura

    # Measured on the 8 benchmark pages in tests/data/html: favor_precision scores best (it drops the
    # repeated headline and newsletter boxes); comments are not article text. Passing a string, not a
    # URL, keeps it offline. If precision finds nothing, the balanced mode (which itself retries with
    # recall settings) gets a second chance.
    options: dict[str, Any] = {"with_metadata": True, "include_comments": False, "include_tables": True}
    for favor_precision in (True, False):
        doc = trafilatura.bare_extraction(html, favor_precision=favor_precision, **options)
        if not isinstance(doc, dict) and doc is not None and (doc.text or "").strip():
            return doc
    return None


def _parse_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _clean_title(title: str | None, sitename: str | None) -> str | None:
    """Drop a trailing " | Site Name" that pages append to their <title>."""
    title = (title or "").strip()
    if title and sitename:
        for sep in _TITLE_SEPARATORS:
            head, found, tail = title.rpartition(sep)
            if found and head.strip() and tail.strip().casefold() == sitename.strip().casefold():
                return head.strip()
    return title or None


_LANG_ATTR = re.compile(r"<html\b[^>]*?\s(?:xml:)?lang\s*=\s*[\"']?([A-Za-z]{2,3})(?![A-Za-z])", re.I)


def _html_language(html: str) -> str | None:
    # trafilatura only detects the language when py3langid is installed and a target is given, so fall
    # back on what the page declares; keep the primary subtag ("pt-BR" -> "pt"), like ISO 639-1.
    m = _LANG_ATTR.search(html[: _SNIFF_CHARS * 4])
    return m.group(1).lower() if m else None
