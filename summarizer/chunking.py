"""Articles longer than the model's context: split on paragraph boundaries, analyse each part, merge.

`split_text` cuts the article into chunks whose text fits `chunk_budget` tokens; every chunk is an exact
slice of the article, so offsets found in a chunk map back by adding `Chunk.start`. `merge_stances` and
`merge_events` then fold the per-chunk items into one list, keeping every evidence quote.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from annotated_types import MaxLen
from rapidfuzz import fuzz

from .errors import ConfigError, LocalModelError
from .evidence import normalise
from .local import CONTEXT_TOKENS, model_path
from .schemas import CheckedEvent, CheckedStance, Event, Evidence, Grounding
from .settings import Settings

TokenCounter = Callable[[str], int]

CHARS_PER_TOKEN = 3.0
DEFAULT_CONTEXT_TOKENS = 8192
MIN_CHUNK_TOKENS = 256
CONTEXT_ENV = "SUMMARIZER_CONTEXT_TOKENS"
# Documented context windows (platform.openai.com/docs/models), matched by the longest name prefix followed
# by "-", "." or ":" (dated snapshots: "gpt-4o-2024-08-06"). GPT-5 models have a 400,000-token window of
# which at most 272,000 may be input: the input limit is what a chunk must fit.
# fmt: off
OPENAI_CONTEXT: dict[str, int] = {
    "gpt-3.5-turbo": 16_385, "gpt-4": 8_192, "gpt-4-turbo": 128_000, "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000, "gpt-4.1": 1_047_576, "gpt-5": 272_000, "o1": 200_000, "o1-mini": 128_000,
    "o1-preview": 128_000, "o3": 200_000, "o3-mini": 200_000, "o4-mini": 200_000,
}
# fmt: on


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # offset of this chunk in the whole article text
    text: str  # exactly article_text[start : start + len(text)]


def estimate_tokens(text: str) -> int:
    """An over-estimate of the token count, for when the model's tokenizer is not at hand:
    ceil(ASCII characters / 3.0) + one token per non-ASCII character.

    Measured with SmolLM2's tokenizer (characters per token): the seed article 4.70 (3,153 chars, 671
    tokens); the 20 CNN/DailyMail articles 4.13 to 4.76, 4.50 pooled; the 7 English pages of the extraction
    benchmark 3.93 to 4.87; but its Portuguese page 2.52, a German sample 2.86, Russian 1.23, Chinese 0.63.
    The JSON schemas sent with the prompts give 3.1 to 3.4. So 3.0 over-counts every English text measured
    by 31 % or more; one token per non-ASCII character over-counts the Russian sample (200 tokens, estimate
    219) but not Chinese on SmolLM2 (1.5 tokens a character). Other languages in Latin script can be
    under-counted on an English-only vocabulary like SmolLM2's, whose real tokenizer is used anyway.
    """
    ascii_chars = len(text.encode("ascii", "ignore"))
    return math.ceil(ascii_chars / CHARS_PER_TOKEN) + (len(text) - ascii_chars)


@functools.cache
def _llama_counter(path: str) -> TokenCounter:
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr  # private helper

    # llama.cpp warns about the (unused) context on stderr even with verbose=False: hush it while loading.
    with suppress_stdout_stderr(disable=False):
        vocab = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode("utf-8", "replace"), add_bos=False))

    return count


def token_counter(settings: Settings) -> TokenCounter:
    """The model's own tokenizer where we have it, else `estimate_tokens`.

    For the embedded model the GGUF file's vocabulary is loaded once (vocab_only: ~0.07-0.09 s, cached per
    file) and its tokenizer used. Remote models get the estimate: tiktoken downloads its encodings on first
    use, which this tool must not need. If llama-cpp-python or the model is missing, the estimate is used too.
    """
    if settings.endpoint == "embedded":
        try:
            return _llama_counter(str(model_path()))
        except (ImportError, LocalModelError, ValueError, OSError):
            pass
    return estimate_tokens


def context_tokens(settings: Settings, env: Mapping[str, str] | None = None) -> int:
    """The model's context window in tokens: env SUMMARIZER_CONTEXT_TOKENS if set; the embedded model's
    CONTEXT_TOKENS (what its server is started with); OPENAI_CONTEXT for known OpenAI model names (also
    behind a provider prefix such as "openai/"); else a conservative 8192."""
    env = os.environ if env is None else env
    if raw := env.get(CONTEXT_ENV, "").strip():
        if not raw.isdigit() or int(raw) <= 0:
            raise ConfigError(f"{CONTEXT_ENV} must be a positive whole number of tokens, not {raw!r}")
        return int(raw)
    if settings.endpoint == "embedded":
        return CONTEXT_TOKENS
    name = settings.model.lower().rsplit("/", 1)[-1]
    for prefix in sorted(OPENAI_CONTEXT, key=len, reverse=True):
        if name == prefix or (name.startswith(prefix) and name[len(prefix)] in "-.:"):
            return OPENAI_CONTEXT[prefix]
    return DEFAULT_CONTEXT_TOKENS


def chunk_budget(settings: Settings, prompt_overhead: int) -> int:
    """Tokens of article text one request may carry: the context, less the prompt around the text, less
    max_tokens for every attempt (each re-ask appends the previous answer and its errors to the
    conversation), less a safety margin (5 % of the context, at least 256) for the chat template and tool
    wrapping; never below MIN_CHUNK_TOKENS."""
    context = context_tokens(settings)
    answers = settings.max_tokens * (settings.max_retries + 1)
    margin = max(256, context // 20)
    return max(MIN_CHUNK_TOKENS, context - prompt_overhead - answers - margin)


# Coarsest first: blank lines, single line breaks, sentence ends, spaces. A sentence ends at ". ", "? " or
# "! " (after optional closing quotes or brackets) followed by an opening quote or an uppercase letter;
# abbreviations such as "Mr. Smith" are split too, which only moves a cut inside an oversized paragraph.
_SEPARATORS = (
    re.compile(r"\n[^\S\n]*\n\s*"),
    re.compile(r"\s*\n\s*"),
    re.compile(r"(?:(?<=[.?!])|(?<=[.?!][\"'”’)\]]))\s+(?=[\"'“‘(\[A-ZÀ-ÖØ-Þ])"),
    re.compile(r"\s+"),
)


def _spans(text: str, start: int, end: int, separator: re.Pattern[str]) -> Iterator[tuple[int, int]]:
    """The non-empty, whitespace-trimmed pieces of text[start:end] between matches of `separator`."""
    pos = start
    for gap in [*separator.finditer(text, start, end), None]:
        stop = end if gap is None else gap.start()
        piece = text[pos:stop]
        if piece.strip():
            yield pos + len(piece) - len(piece.lstrip()), stop - len(piece) + len(piece.rstrip())
        if gap is not None:
            pos = gap.end()


def _atoms(
    text: str, start: int, end: int, level: int, max_tokens: int, count: TokenCounter
) -> Iterator[tuple[int, int, int]]:
    """Spans of text[start:end] that each fit `max_tokens`, as coarse as possible, with their counts."""
    for s, e in _spans(text, start, end, _SEPARATORS[level]):
        if (tokens := count(text[s:e])) <= max_tokens:
            yield s, e, tokens
        elif level + 1 < len(_SEPARATORS):
            yield from _atoms(text, s, e, level + 1, max_tokens, count)
        else:  # one "word" larger than the budget (a URL, a table row): cut by characters
            while s < e:
                n = e - s
                while n > 1 and (tokens := count(text[s : s + n])) > max_tokens:
                    n = max(1, min(n - 1, n * max_tokens // tokens))
                yield s, s + n, count(text[s : s + n])
                s += n


def split_text(text: str, max_tokens: int, count: TokenCounter = estimate_tokens) -> list[Chunk]:
    """`text` in chunks of at most `max_tokens` tokens per `count`, cut at the coarsest boundary that works.

    The whole text if it fits. Else paragraphs (split on blank lines; a paragraph that is too big, or a
    text with no blank lines, on single line breaks) are packed greedily into chunks; a paragraph larger
    than the budget is split at sentence ends, a sentence at spaces, a word by characters. Chunks are
    exact slices of `text`, in order and never overlapping; only whitespace between them is left out.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if count(text) <= max_tokens:
        return [Chunk(0, 0, text)]
    atoms = list(_atoms(text, 0, len(text), 0, max_tokens, count))
    chunks: list[Chunk] = []
    i = 0
    while i < len(atoms):
        start, end, used = atoms[i]
        j = i + 1
        while j < len(atoms) and used + (more := count(text[end : atoms[j][1]])) <= max_tokens:
            used, end, j = used + more, atoms[j][1], j + 1
        # Counts of adjacent pieces do not always add up exactly (a merge across the joint): check the whole.
        while j - i > 1 and count(text[start:end]) > max_tokens:
            j -= 1
            end = atoms[j - 1][1]
        chunks.append(Chunk(len(chunks), start, text[start:end]))
        i = j
    return chunks


_RECIPIENTS = Event.model_fields["recipients"].metadata
_MAX_RECIPIENTS = next(c.max_length for c in _RECIPIENTS if isinstance(c, MaxLen))


def _key(name: str) -> str:
    """A name compared loosely: `normalise`d, without punctuation and without a leading "the "."""
    words = re.sub(r"[^\w\s]", "", normalise(name)).split()
    return " ".join(words[1:] if words[:1] == ["the"] and len(words) > 1 else words)


def _add_evidence(kept: CheckedStance | CheckedEvent, dup: CheckedStance | CheckedEvent) -> None:
    grounding = dup.grounding or Grounding(status="ungrounded", reason="not checked")
    for evidence in [Evidence(quote=dup.evidence, grounding=grounding), *dup.more_evidence]:
        if evidence.quote != kept.evidence and all(e.quote != evidence.quote for e in kept.more_evidence):
            kept.more_evidence.append(evidence)


def merge_stances(parts: Sequence[Sequence[CheckedStance]]) -> list[CheckedStance]:
    """The stances of all chunks, duplicates folded into their first occurrence (in chunk order).

    Two stances are the same when their actors, their targets (by `_key`) and their polarity are equal.
    The first is kept as it is; each duplicate's quote and grounding, and its own `more_evidence`, are
    appended to the kept stance's `more_evidence` unless that exact quote is already there. Groundings,
    which already point into the whole article, are not changed, nor are the inputs.
    """
    kept: dict[tuple[str, str, str], CheckedStance] = {}
    for stance in (s for part in parts for s in part):
        key = (_key(stance.actor), _key(stance.target), stance.polarity)
        if key in kept:
            _add_evidence(kept[key], stance)
        else:
            kept[key] = stance.model_copy(update={"more_evidence": list(stance.more_evidence)})
    return list(kept.values())


def _same_event(a: CheckedEvent, b: CheckedEvent) -> bool:
    if a.event_type != b.event_type or {_key(x) for x in a.actors} != {_key(x) for x in b.actors}:
        return False
    if a.resolved_date and b.resolved_date:
        return (a.resolved_date.start, a.resolved_date.end) == (b.resolved_date.start, b.resolved_date.end)
    if a.date_text and b.date_text:
        return _key(a.date_text) == _key(b.date_text)
    return fuzz.token_set_ratio(_key(a.description), _key(b.description)) >= 90


def merge_events(parts: Sequence[Sequence[CheckedEvent]]) -> list[CheckedEvent]:
    """The events of all chunks, duplicates folded into their first occurrence (in chunk order).

    Two events are the same when they have the same event_type, the same set of actors (by `_key`) and the
    same date: the resolved dates' start and end if both have one, else the date texts (by `_key`) if both
    have one; if either has no date at all, only when their descriptions are near-identical (rapidfuzz
    token_set_ratio >= 90). The first is kept; each duplicate adds its quotes as in `merge_stances`, its
    recipients not yet there (by `_key`, in order, up to the schema's limit of 4), and the location,
    date_text and resolved_date the kept event lacks. Groundings and the inputs are not changed.
    """
    kept: list[CheckedEvent] = []
    for event in (e for part in parts for e in part):
        first = next((k for k in kept if _same_event(k, event)), None)
        if first is None:  # copies of the lists that merging extends, so the inputs stay as they were
            lists = {"more_evidence": list(event.more_evidence), "recipients": list(event.recipients)}
            kept.append(event.model_copy(update=lists))
            continue
        _add_evidence(first, event)
        known = {_key(r) for r in first.recipients}
        for recipient in event.recipients:
            if _key(recipient) not in known and len(first.recipients) < _MAX_RECIPIENTS:
                first.recipients.append(recipient)
                known.add(_key(recipient))
        for name in ("location", "date_text", "resolved_date"):
            if getattr(first, name) is None and getattr(event, name) is not None:
                setattr(first, name, getattr(event, name))
    return kept
