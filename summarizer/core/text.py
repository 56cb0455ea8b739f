"""Text made plain for comparison, the same way wherever two texts are compared (names, merged items)."""

from __future__ import annotations

import re
import unicodedata

# Curly quotes, primes and dashes that mean the same as their ASCII forms.
_PLAIN = str.maketrans(
    {**dict.fromkeys("‘’‚‛′‹›`´", "'"), **dict.fromkeys("“”„‟«»″", '"'), **dict.fromkeys("‐‑‒–—―−", "-")}
)


def plain(text: str) -> str:
    """Quotes and dashes in their ASCII forms, then NFKC; nothing else changes (case, spacing, words).
    The table first: NFKC would turn an acute accent used as an apostrophe ("O´Brien") into a space and
    a combining mark."""
    return unicodedata.normalize("NFKC", text.translate(_PLAIN))


# A surrogate code point alone is not Unicode text: JSON can carry one ("\ud800"), UTF-8 cannot, and
# every writer of UTF-8 (sentencex, the results file, the HTTP response) fails on it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> str | None:
    """Where `text` holds a lone surrogate ("a lone surrogate U+D800 at character 4"), else None: the one
    rule for every reader of text that did not come from UTF-8 bytes (JSON Lines, HTTP, the Python API)."""
    found = _SURROGATE.search(text)
    return (
        None if found is None else f"a lone surrogate U+{ord(found.group()):04X} at character {found.start()}"
    )


def folded(text: str) -> str:
    """Text compared loosely: NFKC, curly quotes and dashes made plain, case folded, whitespace collapsed."""
    return " ".join(plain(text).casefold().split())
