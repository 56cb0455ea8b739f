"""Settings: flags, then environment, then the embedded default.

With neither an API key nor a base URL, the embedded local model is used. A base URL without a key is an
OpenAI-compatible server that needs none (Ollama, vLLM, LM Studio, llama.cpp). The key is a `SecretStr`,
so it never appears in a repr, a log line or the output.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import instructor
from pydantic import SecretStr

from .errors import ConfigError

EndpointKind = Literal["openai", "compatible", "embedded"]

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
EMBEDDED_MODEL = "SmolLM2-135M-Instruct"
# A key the openai client insists on even when the server ignores it; it is never a real secret.
PLACEHOLDER_KEY = "not-needed"
MODES = {
    "tools": instructor.Mode.TOOLS,
    "json_schema": instructor.Mode.JSON_SCHEMA,
    "json": instructor.Mode.JSON,
}


@dataclass(frozen=True)
class Settings:
    model: str
    endpoint: EndpointKind
    base_url: str | None = None
    api_key: SecretStr = field(default=SecretStr(PLACEHOLDER_KEY), repr=False)
    # TOOLS works on OpenAI and on llama.cpp's server (the forced tool call becomes a grammar there);
    # JSON_SCHEMA is rejected by llama.cpp and plain JSON is unconstrained (NOTES.md).
    mode: str = "tools"
    max_retries: int = 2
    temperature: float = 0.0
    max_tokens: int = 1500
    timeout: float = 600.0
    prompts_dir: str | None = None

    @property
    def instructor_mode(self) -> instructor.Mode:
        return MODES[self.mode]

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


def resolve_settings(
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    mode: str | None = None,
    max_retries: int | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    prompts_dir: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Flags win over the environment; the environment wins over the embedded default."""
    env = os.environ if env is None else env
    base_url = base_url or env.get("OPENAI_BASE_URL") or None
    key = api_key or env.get("OPENAI_API_KEY") or None
    model = model or env.get("SUMMARIZER_MODEL") or None
    mode = (mode or env.get("SUMMARIZER_MODE") or "tools").lower()
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    if max_retries is not None and max_retries < 0:
        raise ConfigError("--max-retries must be 0 or more")

    kind: EndpointKind
    if base_url is None and key is None:
        kind, model = "embedded", model or EMBEDDED_MODEL
    elif base_url is None or "api.openai.com" in base_url:
        kind, model = "openai", model or DEFAULT_OPENAI_MODEL
    else:
        kind = "compatible"
        if model is None:
            raise ConfigError(f"--model is required with --base-url {base_url} (the server's model name)")
    settings = Settings(
        model=model,
        endpoint=kind,
        base_url=base_url,
        api_key=SecretStr(key or PLACEHOLDER_KEY),
        mode=mode,
        prompts_dir=prompts_dir or env.get("SUMMARIZER_PROMPTS_DIR") or None,
    )
    return settings.with_overrides(max_retries=max_retries, temperature=temperature, max_tokens=max_tokens)
