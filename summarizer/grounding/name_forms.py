"""The forms names are compared in: the text (`name_form`: entities, NFKC, plain quotes, "U.S." -> "US",
possessives and digit separators dropped), each word (`token_key`: acronyms keep their case, other words
lowercased and, in English, made singular), and the countries (`country_groups`: a country's name, its
other names and demonyms as one)."""

from __future__ import annotations

import html
import re
from functools import cache, lru_cache

from ..core.text import plain

# "U.S." / "U.N." -> "US" / "UN" before the full stops separate them (and before sentences are split).
# Linear: a match starts only where a run of "x." starts (not after a "x." that could itself start one),
# and the run is taken possessively; else "a." * n + "ab" retried the whole run from each of its letters.
_DOTTED_ACRONYM = re.compile(r"\b(?<!\b[A-Za-z]\.)((?:[A-Za-z]\.){2,}+)(?!\w)")
_POSSESSIVE = re.compile(r"(?<=\w)'s\b|(?<=s)'(?!\w)", re.IGNORECASE)
_DIGIT_GROUP = re.compile(r"(?<=\d)[,\u00a0\u202f ](?=\d{3}(?!\d))")
WORD = re.compile(r"\w+")

# English function words: a sentence-initial capitalised one is not a name, and a name made only of them
# names no one. Kept short on purpose: a content word is judged by the article instead.
_STOPWORD_TEXT = """
    a about above after again against all also although an and another any are as at be because been
    before being below between both but by can could did do does doing down during each either every
    few for from further had has have having he her here hers herself him himself his how however i
    if in into is it its itself just many may me might more most much must my myself neither no nor
    not now of off on once one only or other our ours ourselves out over own same she should since
    so some such than that the their theirs them themselves then there these they this those though
    through thus to too under until up upon us very was we were what when where whether which while
    who whom whose why will with within without would yet you your yours yourself meanwhile despite
    amid according along across around behind beyond near toward towards via among besides inside
    outside onto per except unlike like
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Aliases that news uses and the country data lacks, keyed by the data's own country name.
_EXTRA_ALIASES = {
    "United States": ("America",),
    "United Kingdom": ("Britain",),
    "Saudi Arabia": ("Saudi",),
    "Argentina": ("Argentine",),
}
# ISO codes are not names ("IT", "CAN", "AND" would match ordinary words), except these that news writes.
_KEEP_CODES = frozenset({"US", "USA"})
# Alternative names in the data that are ordinary words or surnames elsewhere ("Island" is Iceland's).
_NOT_ALIASES = frozenset({"Island", "Mann", "Mannin", "Prathet"})


def name_form(text: str) -> str:
    """HTML entities decoded, NFKC, plain quotes and dashes, "U.S." -> "US", possessives and digit group
    separators removed. Case is kept (acronyms need it)."""
    text = light_form(text)
    text = _DOTTED_ACRONYM.sub(lambda m: m.group(1).replace(".", "") + " ", text)
    return _DIGIT_GROUP.sub("", _POSSESSIVE.sub("", text))


def light_form(text: str) -> str:
    """The normalisation that keeps a text readable (entities decoded, NFKC, plain quotes and dashes):
    what `unsupported` quotes back."""
    return plain(html.unescape(text))


def is_acronym(token: str) -> bool:
    return 2 <= len(token) <= 5 and token.isalpha() and token.isupper()


def _singular(word: str) -> str:
    if len(word) <= 3 or not word.isalpha() or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


@lru_cache(maxsize=1 << 16)
def token_key(token: str, english: bool) -> str:
    """The form a token is compared by: acronyms keep their case, other words are lowercased (and made
    singular in English)."""
    if is_acronym(token):
        return token
    low = token.casefold()
    return _singular(low) if english else low


def _usable_alias(alias: str, codes: set[str]) -> bool:
    return alias.isascii() and alias not in _NOT_ALIASES and (alias not in codes or alias in _KEEP_CODES)


@cache
def country_groups() -> tuple[dict[tuple[str, ...], int], tuple[tuple[tuple[str, ...], ...], ...]]:
    """(form's keys -> group, group -> its forms' keys): each group is one country's name, its common
    alternative names and its demonyms, all in `token_key` form. Loaded once per process, on the first name
    not found as written (30 to 70 ms, most of it countryinfo reading its JSON files)."""
    from countryinfo import CountryInfo

    by_demonym: dict[str, tuple[int, list[str]]] = {}
    groups: list[list[str]] = []
    for info in CountryInfo.all().values():
        name = info.get("name") or ""
        codes: set[str] = {str(code) for code in (info.get("ISO") or {}).values()}
        if not name or not info.get("ISO"):
            continue
        forms = [name, *(a for a in info.get("altSpellings") or () if _usable_alias(a, codes))]
        forms += _EXTRA_ALIASES.get(name, ())
        population = int(info.get("population") or 0)
        for demonym in re.split(r"[,/]", info.get("demonym") or ""):
            demonym = demonym.strip()
            # A demonym shared by a territory and its country ("French", "American", "Chinese") goes to
            # the most populous one: France, not Réunion.
            if demonym and by_demonym.get(demonym, (-1, []))[0] < population:
                by_demonym[demonym] = (population, forms)
        groups.append(forms)
    for demonym, (_, forms) in by_demonym.items():
        forms.append(demonym)
    index: dict[tuple[str, ...], int] = {}
    keyed: list[tuple[tuple[str, ...], ...]] = []
    for forms in groups:
        keys = tuple(
            dict.fromkeys(
                k for f in forms if (k := tuple(token_key(t, True) for t in WORD.findall(name_form(f))))
            )
        )
        for k in keys:
            index.setdefault(k, len(keyed))
        keyed.append(keys)
    return index, tuple(keyed)


def inside(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    """`short` is a run of `long`'s words."""
    n = len(short)
    return n > 0 and any(long[i : i + n] == short for i in range(len(long) - n + 1))
