"""The cache policy: what makes two requests the same (the key), and what a cached answer must still pass
(today's schema) to be used."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from ..model.cache import CachedResponse, ResponseCache, cache_key
from ..model.settings import Settings
from .prompts import schema_of

if TYPE_CHECKING:
    from ..model.client import Attempts


def request_key(s: Settings, messages: list[dict[str, str]], model: type[BaseModel]) -> str:
    """The cache key of one request: endpoint kind, model, messages, schema, mode and sampling."""
    return cache_key(
        endpoint=s.endpoint,
        # The embedded server's port changes every run; OpenAI's default URL has two spellings.
        base_url=None if s.endpoint in ("embedded", "openai") else s.base_url,
        model=s.model,
        messages=messages,
        schema=schema_of(model),
        mode=s.mode,
        temperature=s.temperature,
        max_tokens=s.max_tokens,
        max_retries=s.max_retries,
    )


def from_cache(cache: ResponseCache, key: str, response_model: type[BaseModel]) -> BaseModel | None:
    """A cached answer, validated again by today's schema (a stale entry is a miss)."""
    hit = cache.get(key)
    if hit is None:
        return None
    try:
        return response_model.model_validate_json(hit.output_json)
    except ValidationError:
        return None


def store(cache: ResponseCache, key: str, output: BaseModel, attempts: Attempts) -> None:
    """The model's answer, kept with what it cost."""
    u = attempts.usage
    cache.put(
        key,
        CachedResponse(
            output.model_dump_json(), attempts.count, u.prompt_tokens, u.completion_tokens, time.time()
        ),
    )
