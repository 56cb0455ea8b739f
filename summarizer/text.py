"""Text made plain for comparison, the same way wherever two texts are compared (names, merged items)."""

from __future__ import annotations

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
