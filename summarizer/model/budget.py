"""Token budgets: how many tokens of article one request may carry, counted with the model's own tokenizer
where we have it. Part of the model stage: it knows the embedded model's file and context size."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from ..core.errors import ConfigError
from ..core.segment import TokenCounter
from .engine import CONTEXT_TOKENS
from .settings import Settings

CHARS_PER_TOKEN = 3.0
DEFAULT_CONTEXT_TOKENS = 8192
MIN_CHUNK_TOKENS = 256
CONTEXT_ENV = "SUMMARIZER_CONTEXT_TOKENS"
# Room for a re-ask: the validation errors and a bounded excerpt of the failed answer (client.py cuts
# both to REASK_CHARS characters; 3 characters a token over-counts them).
REASK_TOKENS = 700
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


def estimate_tokens(text: str) -> int:
    """An over-estimate of the token count, for when the model's tokenizer is not at hand:
    ceil(ASCII characters / 3.0) + one token per non-ASCII character.

    Measured with SmolLM2's tokenizer (characters per token): the seed article 4.70 (3,153 chars, 671
    tokens); the 20 CNN/DailyMail articles 4.13 to 4.76, 4.50 pooled; the 7 English pages of the extraction
    benchmark 3.93 to 4.87; but its Portuguese page 2.52, a German sample 2.86, Russian 1.23, Chinese 0.63.
    So 3.0 over-counts every English text measured by 31 % or more; one token per non-ASCII character
    over-counts the Russian sample but not Chinese on SmolLM2 (1.5 tokens a character), whose real
    tokenizer is used anyway.
    """
    ascii_chars = len(text.encode("ascii", "ignore"))
    return math.ceil(ascii_chars / CHARS_PER_TOKEN) + (len(text) - ascii_chars)


def token_counter(settings: Settings) -> TokenCounter:
    """`estimate_tokens`, for every model.

    The embedded engine's tokenizer lives in its own process (a request away); tiktoken downloads its
    encodings on first use, which this tool must not need. The estimate over-counts every English text
    measured by 31 % or more, so a chunk always fits; it only makes long articles' chunks a little shorter.
    """
    del settings  # one counter for all, for now: kept as the place to add a model's own tokenizer
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
    """Tokens of numbered article text one request may carry, so that every attempt fits the context:
    the context, less the prompt around the text (and its schema), less max_tokens for the answer, less
    REASK_TOKENS for a re-ask's errors and excerpt (a re-ask replaces, never accumulates, earlier ones),
    less a margin (5 % of the context, at least 256) for the chat template. A context that leaves fewer
    than MIN_CHUNK_TOKENS is an error: no request could carry a useful part of an article."""
    context = context_tokens(settings)
    margin = max(256, context // 20)
    budget = context - prompt_overhead - settings.max_tokens - REASK_TOKENS - margin
    if budget < MIN_CHUNK_TOKENS:
        raise ConfigError(
            f"the model's context ({context} tokens) leaves {max(budget, 0)} tokens for the article after "
            f"the prompt ({prompt_overhead}), the answer (--max-tokens {settings.max_tokens}) and a re-ask "
            f"({REASK_TOKENS}): lower --max-tokens or set {CONTEXT_ENV} if the model's context is larger"
        )
    return budget
