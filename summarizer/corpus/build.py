"""One picture of many articles: actors merged across spellings, events merged across articles, stances
over time. Exports (PLOVER JSONL, CSV) are in `summarizer.export`.

Batch results are JSONL, one line per article: `{"id": "<article id>", "analysis": <ArticleAnalysis>}`.
Every rule here is deliberately conservative: a missed merge leaves two rows a reader can join by hand, a
wrong merge silently mixes up two actors or two events.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, StrictStr, ValidationError
from rapidfuzz import fuzz

from ..core.errors import InputError
from ..core.jsonl import iter_jsonl
from ..core.schemas import (
    ArticleAnalysis,
    CheckedEvent,
    Citation,
    EventType,
    Polarity,
    ResolvedDate,
)
from ..core.text import folded


def read_results(path: str | os.PathLike[str]) -> list[tuple[str, ArticleAnalysis]]:
    """Read a batch results file. Skips blank lines; a line that is not JSON, not an object with a string
    `id` and a valid `analysis` (other keys are ignored), or repeats an earlier id raises InputError naming
    the file and the line number, unless the earlier one was partial: a re-run's result for an article
    that was owed pieces replaces it, in the earlier's position."""

    class _Line(BaseModel):
        id: StrictStr = Field(min_length=1)
        analysis: ArticleAnalysis

    results: dict[str, ArticleAnalysis] = {}
    seen: dict[str, int] = {}
    for number, where, record in iter_jsonl(path):
        try:
            item = _Line.model_validate(record)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "line"
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise InputError(f"{where}: not a valid result: {loc}: {first['msg']}{more}") from exc
        if item.id in seen and results[item.id].complete:
            raise InputError(f"{where}: id {item.id!r} already on line {seen[item.id]}")
        seen[item.id] = number
        results[item.id] = item.analysis
    return list(results.items())


def latest_results(
    files: Iterable[list[tuple[str, ArticleAnalysis]]],
) -> tuple[list[tuple[str, ArticleAnalysis]], int]:
    """The results of several files with each id once: an id in several files keeps the LAST file's
    result (a re-run's, when files are given oldest first), in the position it first appeared. Returns the
    rows and how many ids were replaced."""
    rows: dict[str, ArticleAnalysis] = {}
    replaced = 0
    for file in files:
        for article_id, analysis in file:
            replaced += article_id in rows
            rows[article_id] = analysis
    return list(rows.items()), replaced


class Mention(BaseModel):
    """Where an event comes from: one cited sentence of one article, with its offsets into that article's
    text."""

    article_id: str
    quote: str
    sentence: int | None = None
    start: int | None = None
    end: int | None = None


class Actor(BaseModel):
    name: str  # the most frequent surface form (ties: the longest, then the first seen)
    aliases: list[str]  # the other surface forms merged into it, in order of first appearance
    mentions: int  # times named as event actor or recipient, stance actor or target
    articles: list[str]  # article ids, in order of first appearance


class CorpusEvent(BaseModel):
    id: str
    event_type: EventType
    description: str
    actors: list[str] = Field(default_factory=list)  # canonical names
    recipients: list[str] = Field(default_factory=list)
    location: str | None = None
    date_text: str | None = None
    resolved_date: ResolvedDate | None = None
    sources: list[Mention] = Field(default_factory=list)  # every report, with its quote and offsets


class StancePoint(BaseModel):
    article_id: str
    date: dt.date | None  # the article's publication date
    target: str
    polarity: Polarity
    position: str
    quote: str


class Corpus(BaseModel):
    articles: int
    actors: list[Actor]  # most mentioned first
    events: list[CorpusEvent]  # by start date (undated last), then first appearance
    stances: dict[str, list[StancePoint]]  # canonical actor -> stances by publication date (undated last)


# --- actor names -------------------------------------------------------------------------------------

_ENDS = re.compile(r"^[\W_]+|[\W_]+$")
_THE = re.compile(r"^the\s+", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
_DASHES = re.compile(r"[-‐‑‒–—―−]")
_DOTTED = re.compile(r"(?:\w\.)+\w?")  # U.N / U.S / W. -> UN / US / W
_ACRONYM = re.compile(r"[A-Z]{2,6}")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FUNCTION_WORDS = _words("of the and for on in de du des la le et")
_TITLES = _words(
    "president vice prime minister foreign defence defense chancellor secretary king queen prince princess "
    "pope senator sen rep governor gov mayor mr mrs ms dr leader chairman premier"
)
# A name containing one of these is a place or an organisation, never a person.
_NOT_PERSON = _FUNCTION_WORDS | _words(
    "north south east west northern southern eastern western central new equatorial united states state "
    "republic kingdom nations union ministry government army forces force military party council court "
    "police office department committee agency bank house assembly parliament congress senate group "
    "corps guard guards media news university company city island islands strip administration campaign "
    "regime cabinet embassy foundation institute fund organisation organization movement front league "
    "association federation commission authority authorities service tribunal times post press"
)
# Family name first: "Kim" is short for "Kim Jong Un", "Xi" for "Xi Jinping".
_FAMILY_FIRST = _words(
    "kim lee park choi jung kang cho yoon moon xi li wang zhang liu chen yang zhao huang zhou wu hu "
    "hun nguyen tran pham"
)


def _clean(name: str) -> str:
    """Case-preserving cleanup: ends' punctuation, a leading "the ", a possessive "'s", dashes -> spaces,
    dotted acronyms undotted."""
    s = _ENDS.sub("", unicodedata.normalize("NFKC", name).replace("’", "'"))
    s = _ENDS.sub("", _POSSESSIVE.sub("", _THE.sub("", s)))
    tokens = _DASHES.sub(" ", s).split()
    return " ".join(t.replace(".", "") if _DOTTED.fullmatch(t) else t for t in tokens)


def actor_key(name: str) -> str:
    """The form actor names are matched in: `folded()` (case, quotes, whitespace) after `_clean`.
    "The U.N.'s" -> "un", "Kim Jong-un" -> "kim jong un"."""
    return folded(_clean(name)).strip() or folded(name).strip()


def _person_core(cleaned: str) -> tuple[str, ...] | None:
    """The name without leading titles if `cleaned` looks like a person's name: words of letters only,
    the first (of at least 2 letters) and the last capitalised, no acronym, none of `_NOT_PERSON`, at
    most 4 words after the titles, and 2 words or more unless there was a title. None otherwise."""
    tokens = cleaned.split()
    if any(t.casefold() in _NOT_PERSON for t in tokens):
        return None
    i = 0
    while i < len(tokens) and tokens[i].casefold().rstrip(".") in _TITLES:
        i += 1
    core = tokens[i:]
    if not core or len(core) > 4 or (len(core) == 1 and i == 0):
        return None
    if not all(_WORD.fullmatch(t) and not (len(t) > 1 and t.isupper()) for t in core):
        return None
    if len(core[0]) < 2 or not (core[0][0].isupper() and core[-1][0].isupper()):
        return None  # "N. Korea" is not a person
    return tuple(folded(" ".join(core)).split())


def _initials(key: str) -> set[str]:
    words = key.split()
    if len(words) < 2:
        return set()
    forms = {"".join(w[0] for w in words), "".join(w[0] for w in words if w not in _FUNCTION_WORDS)}
    return {f for f in forms if len(f) >= 2}


class _UnionFind(dict[str, str]):
    def find(self, x: str) -> str:
        while self.setdefault(x, x) != x:
            self[x] = x = self[self[x]]
        return x

    def union(self, a: str, b: str) -> None:
        self[self.find(a)] = self.find(b)


def resolve_actors(surfaces: Iterable[str]) -> dict[str, str]:
    """Map each surface form to an actor group (a key of one of its members). Same actor when:
    1. the `actor_key`s are equal;
    2. acronym: a single all-caps token of 2-6 letters (dots allowed: "U.N.") equals the initials of
       exactly one multi-word name, with or without its function words ("UN" / "United Nations");
    3. titles: two person-like names (see `_person_core`) equal once leading titles are dropped
       ("President Joe Biden" / "Joe Biden", "President Biden" / "Biden");
    4. short form: a single word (not all-caps) equals the family name of exactly one person-like
       multi-word name group: its last word, or its first for common East Asian family names written
       first ("Kim" / "Kim Jong Un", "Biden" / "Joe Biden"; "Kim" alone stays when "Kim Yo Jong" is also
       named). No fuzzy matching: "North Korea", "South Korea" and "Korea" stay three actors.
    """
    by_key: dict[str, list[str]] = defaultdict(list)
    for s in dict.fromkeys(surfaces):
        by_key[actor_key(s)].append(s)
    uf = _UnionFind()
    acronyms = {k for k, ss in by_key.items() if any(_ACRONYM.fullmatch(_clean(s)) for s in ss)}
    expansions: dict[str, set[str]] = defaultdict(set)
    for key in by_key:
        for form in _initials(key):
            expansions[form].add(key)
    for key in acronyms:
        if len(expansions[key]) == 1:
            uf.union(key, next(iter(expansions[key])))
    cores: dict[str, tuple[str, ...]] = {}
    for key, ss in by_key.items():
        core = next((c for c in map(_person_core, map(_clean, ss)) if c), None)
        if core:
            cores[key] = core
            joined = " ".join(core)
            uf.union(key, joined if joined in by_key else key)
    by_core: dict[tuple[str, ...], str] = {}
    for key, core in cores.items():
        uf.union(key, by_core.setdefault(core, key))
    family: dict[str, set[str]] = defaultdict(set)
    for key, core in cores.items():
        if len(core) >= 2:
            family[core[-1]].add(key)
            if core[0] in _FAMILY_FIRST:
                family[core[0]].add(key)
    for key in by_key:
        if " " not in key and key not in acronyms:
            roots = {uf.find(k) for k in family.get(key, ())} - {uf.find(key)}
            if len(roots) == 1:
                uf.union(key, roots.pop())
    return {s: uf.find(key) for key, ss in by_key.items() for s in ss}


# --- events ------------------------------------------------------------------------------------------


def _date_key(text: str | None) -> str:
    return _ENDS.sub("", folded(text)) if text else ""


def _same_time(a: CorpusEvent, b: CheckedEvent, window: int) -> bool:
    b_resolved = b.date.resolved if b.date else None
    b_text = b.date.text if b.date else None
    if a.resolved_date and b_resolved:
        w = dt.timedelta(days=window)
        return a.resolved_date.start <= b_resolved.end + w and b_resolved.start <= (a.resolved_date.end + w)
    if a.resolved_date or b_resolved or a.date_text or b_text:
        return bool(a.date_text and b_text and _date_key(a.date_text) == _date_key(b_text))
    return fuzz.token_set_ratio(folded(a.description), folded(b.description)) >= 90


def _mention(article_id: str, c: Citation) -> Mention:
    return Mention(article_id=article_id, quote=c.text, sentence=c.sentence, start=c.start, end=c.end)


@dataclass
class _Group:
    event: CorpusEvent
    actors: set[str]
    articles: set[str] = field(default_factory=set)
    number: int = 0


def _event_id(event: CorpusEvent, taken: set[str]) -> str:
    date = event.resolved_date.start.isoformat() if event.resolved_date else _date_key(event.date_text)
    base = f"{event.event_type}|{';'.join(sorted(event.actors))}|{date}"
    for extra in ("", f"|{folded(event.description)}"):
        digest = hashlib.sha1((base + extra).encode()).hexdigest()[:12]
        if digest not in taken:
            return digest
    n = 2
    while f"{digest}-{n}" in taken:
        n += 1
    return f"{digest}-{n}"


def _names(analysis: ArticleAnalysis) -> list[str]:
    names = [n for ev in analysis.events or [] for n in (*ev.actors, *ev.recipients)]
    return names + [n for st in analysis.stances or [] for n in (st.actor, st.target)]


def _actor_table(articles: list[tuple[str, ArticleAnalysis]]) -> tuple[dict[str, str], list[Actor]]:
    """Surface form -> canonical name, and the actors, most mentioned first (ties by name)."""
    surfaces = [n for _, analysis in articles for n in _names(analysis)]
    group_of = resolve_actors(surfaces)
    order = {s: i for i, s in reversed(list(enumerate(surfaces)))}
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    seen_in: dict[str, dict[str, None]] = defaultdict(dict)
    for article_id, analysis in articles:
        for n in _names(analysis):
            forms[group_of[n]][n] += 1
            seen_in[group_of[n]][article_id] = None
    name_of: dict[str, str] = {}
    actors: list[Actor] = []
    for group, count in forms.items():
        name = name_of[group] = max(count, key=lambda s: (count[s], len(s), -order[s]))
        aliases = sorted((s for s in count if s != name), key=order.__getitem__)
        actors.append(Actor(name=name, aliases=aliases, mentions=count.total(), articles=[*seen_in[group]]))
    actors.sort(key=lambda a: (-a.mentions, a.name.casefold()))
    return {s: name_of[g] for s, g in group_of.items()}, actors


def merge_corpus(results: Iterable[tuple[str, ArticleAnalysis]], *, date_window_days: int = 1) -> Corpus:
    """Merge per-article analyses into one Corpus. Actors are merged by `resolve_actors`.

    An event joins an earlier CorpusEvent from ANOTHER article (one article's own duplicates were already
    merged by the pipeline, so an article is never a source twice) when all of these hold:
    - the same event_type;
    - canonical actor sets equal, or one a subset of the other (an exact match is preferred);
    - recipients equal, or one side has none, or they share one (disjoint lists name different events);
    - dates: with both resolved, intervals at most `date_window_days` apart ([start, end] of one widened
      by the window overlaps the other); else, with any date on either side, equal normalised date_text;
      with no date at all on either side, rapidfuzz token_set_ratio of normalised descriptions >= 90.
    Merging appends the sources (every cited sentence, with its number and offsets),
    unions actors and recipients, fills a missing location/date_text, and keeps the narrower resolved
    date. The first source gives the description. Ids hash type, sorted actors and date (start, else
    date_text), with the description added on a clash; they change if a merge renames an actor.
    """
    articles = list(results)
    if repeated := [a for a, n in Counter(a for a, _ in articles).items() if n > 1]:
        raise InputError(
            f"article id {repeated[0]!r} is given more than once ({len(repeated)} repeated id(s)):"
            " keep one result per id (latest_results does)"
        )
    canonical, actors = _actor_table(articles)

    def canon(names: Iterable[str]) -> list[str]:
        return list(dict.fromkeys(canonical[n] for n in names))

    groups: list[_Group] = []
    sharing: dict[tuple[str, str], set[int]] = defaultdict(set)  # (type, actor) -> groups; subsets share
    stances: dict[str, list[StancePoint]] = defaultdict(list)
    for article_id, analysis in articles:
        for ev in analysis.events or []:
            acts, recs = canon(ev.actors), canon(ev.recipients)
            near = sorted(set().union(*(sharing[ev.event_type, a] for a in acts)))
            fits = [
                g
                for g in map(groups.__getitem__, near)
                if article_id not in g.articles
                and (set(acts) <= g.actors or g.actors <= set(acts))
                and (not recs or not g.event.recipients or set(recs) & set(g.event.recipients))
                and _same_time(g.event, ev, date_window_days)
            ]
            if fits:
                fit = min(fits, key=lambda g: g.actors != set(acts))  # first exact actor match, else first
            else:
                event = CorpusEvent(id="", event_type=ev.event_type, description=ev.description)
                groups.append(fit := _Group(event, set(), number=len(groups)))
            _absorb(fit, article_id, ev, acts, recs)
            for a in acts:
                sharing[ev.event_type, a].add(fit.number)
        for st in analysis.stances or []:
            stances[canonical[st.actor]].append(
                StancePoint(
                    article_id=article_id,
                    date=analysis.article.published,
                    target=canonical[st.target],
                    polarity=st.polarity,
                    position=st.position,
                    quote=" ".join(c.text for c in st.evidence),
                )
            )
    events = [g.event for g in groups]  # a stable sort: first appearance breaks ties
    events.sort(key=lambda e: (e.resolved_date is None, e.resolved_date.start if e.resolved_date else None))
    taken: set[str] = set()
    for event in events:
        event.id = _event_id(event, taken)
        taken.add(event.id)
    undated_last = {
        a.name: sorted(stances[a.name], key=lambda p: (p.date is None, p.date or dt.date.min))
        for a in actors
        if a.name in stances
    }
    return Corpus(articles=len(articles), actors=actors, events=events, stances=undated_last)


def _absorb(group: _Group, article_id: str, ev: CheckedEvent, acts: list[str], recs: list[str]) -> None:
    e = group.event
    e.actors = list(dict.fromkeys([*e.actors, *acts]))
    e.recipients = list(dict.fromkeys([*e.recipients, *recs]))
    e.location = e.location or ev.location
    new = ev.date.resolved if ev.date else None
    text = ev.date.text if ev.date else None
    if new and (not e.resolved_date or new.end - new.start < e.resolved_date.end - e.resolved_date.start):
        e.resolved_date, e.date_text = new, text or e.date_text  # the text that gave the date
    e.date_text = e.date_text or text
    e.sources += [_mention(article_id, c) for c in ev.evidence]
    group.actors |= set(acts)
    group.articles.add(article_id)
