"""Settings: flags, then environment, then the embedded default.

With neither an API key nor a base URL, the embedded local model is used. A base URL without a key is an
OpenAI-compatible server that needs none (Ollama, vLLM, LM Studio, llama.cpp). The key is a `SecretStr`,
so it never appears in a repr, a log line or the output.

Which key goes where: `OPENAI_API_KEY` goes to OpenAI, and to `OPENAI_BASE_URL` when that is set in the
environment (the openai SDK's own convention: both were set together, by the user). A base URL given as a
flag (or as `base_url=` in Python) is another server, so it gets a key only from a variable the user names
for it (`--api-key-env NAME`) or from `SUMMARIZER_API_KEY`: a key exported for OpenAI is never handed to
whatever server a flag names. No key goes over plain http to a host outside loopback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import SecretStr

from ..core.errors import ConfigError
from ..core.loopback import is_loopback

if TYPE_CHECKING:
    import instructor

EndpointKind = Literal["openai", "compatible", "embedded"]
Rails = Literal["extractive", "free"]
RAILS: tuple[Rails, ...] = ("extractive", "free")

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
EMBEDDED_MODEL = "SmolLM2-135M-Instruct"
# A key the openai client insists on even when the server ignores it; it is never a real secret.
PLACEHOLDER_KEY = "not-needed"
OPENAI_HOST = "api.openai.com"
OPENAI_URL = f"https://{OPENAI_HOST}/v1"
# Query parameters that carry a secret in some deployments (`?api-key=`, `?token=`, signed URLs).
_SECRET_PARAM = re.compile(r"(?i)([?&][^=&#]*(?:key|token|secret|password|passwd|sig|auth)[^=&#]*=)[^&#]*")
# Our modes and the instructor mode each sends, by name: settings are read without importing instructor
# (and openai under it, 0.6 s), so that `summarize` can start the embedded engine first (cli/entry.py).
MODES = {
    "tools": "TOOLS",
    # instructor's own TOOLS_STRICT is deprecated and never sets `"strict": true` (its `strict` argument
    # is about validation): the request is TOOLS, made strict by client.py and ground.with_strict_schema.
    "tools_strict": "TOOLS",
    "json_schema": "JSON_SCHEMA",
    # llama.cpp's own `grammar` field instead of `response_format`: the same JSON schema, read by the
    # server's llguidance backend with no whitespace between tokens (client.py, `llguidance_grammar`).
    "grammar": "JSON_SCHEMA",
    "json": "JSON",
}


@dataclass(frozen=True)
class Settings:
    model: str
    endpoint: EndpointKind
    base_url: str | None = None
    api_key: SecretStr = field(default=SecretStr(PLACEHOLDER_KEY), repr=False)
    # The default per endpoint is `default_mode`; "tools" is the one every OpenAI-compatible server takes.
    mode: str = "tools"
    max_retries: int = 2
    temperature: float = 0.0
    max_tokens: int = 1500
    timeout: float = 600.0
    prompts_dir: str | None = None
    # Names (actors, targets, recipients, locations) picked by an enum from the names the article contains,
    # instead of written freely and checked after: rails for a model too small to write a name at all (the
    # embedded one filled them with "{{<NAME>}}"). None: on for the embedded model only.
    name_choices: bool | None = None
    # What the model may generate: "free", it writes the headline, summary, key points, positions and
    # descriptions; "extractive", it only chooses them among spans of the article, which code copies
    # (candidates.py, extractive.py). None: extractive for the embedded model (a 135M model cannot write a
    # supported sentence: issue 21), free elsewhere.
    rails: Rails | None = None
    # Where the key came from, for messages ("check SUMMARIZER_API_KEY"); "" when no key is sent.
    key_source: str = ""

    @property
    def rails_used(self) -> Rails:
        if self.rails is not None:
            return self.rails
        return "extractive" if self.endpoint == "embedded" else "free"

    @property
    def extractive(self) -> bool:
        return self.rails_used == "extractive"

    @property
    def names_from_article(self) -> bool:
        # Extractive rails choose every field, names too.
        if self.name_choices is None:
            return self.endpoint == "embedded" or self.extractive
        return self.name_choices

    @property
    def strict_output(self) -> bool:
        """OpenAI structured outputs in strict mode: a strict-mode schema, the tool marked strict."""
        return self.mode == "tools_strict"

    @property
    def grammar_output(self) -> bool:
        """The schema sent as llama.cpp's `grammar` (compact JSON), not as `response_format`."""
        return self.mode == "grammar"

    @property
    def endpoint_url(self) -> str:
        """The endpoint's URL fit for a message: credentials masked, OpenAI's when none is set."""
        return redact_url(self.base_url) if self.base_url else OPENAI_URL

    @property
    def instructor_mode(self) -> instructor.Mode:
        import instructor

        return instructor.Mode[MODES[self.mode]]

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


def default_mode(kind: EndpointKind) -> str:
    """How structured output is asked for, by kind of endpoint.

    OpenAI: a tool marked strict (structured outputs: the schema enforced, enums included). The embedded
    engine (llama.cpp's server): the JSON schema as llama.cpp's `grammar`, which its llguidance backend
    enforces with no whitespace between tokens and stays out of the prompt. Through `response_format` the
    server's grammar lets the model write a newline between every two tokens, a third of what a 135M model
    wrote (bench/README.md); a forced `tool_choice` is ignored there. Other servers: a forced tool call, which
    every OpenAI-compatible server takes; llama.cpp's server, vLLM, Ollama and LM Studio also enforce
    `--mode json_schema`, the better choice for them (and `--mode grammar` for a llama.cpp server).
    """
    return {"openai": "tools_strict", "embedded": "grammar"}.get(kind, "tools")


def redact_url(url: str | None) -> str:
    """`url` fit for a message: credentials (`user:pass@`) and secret-looking query values masked."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:  # e.g. an unbalanced "[" in the host: show nothing of it rather than a secret
        return "<an unparsable URL>"
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return _SECRET_PARAM.sub(r"\1***", parts._replace(netloc=netloc).geturl())


def _parse_base_url(base_url: str, origin: str) -> SplitResult:
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError:
        raise ConfigError(f"{origin} {redact_url(base_url)} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{origin} {redact_url(base_url)} is not an http(s) URL: write it like http://localhost:11434/v1"
        )
    return parts


def _key_from(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"--api-key-env {name}: the environment variable {name} is not set or empty")
    return value


def resolve_settings(
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    api_key_env: str | None = None,
    mode: str | None = None,
    max_retries: int | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    prompts_dir: str | None = None,
    rails: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Flags win over the environment; the environment wins over the embedded default.

    `base_url` is the flag (or the Python argument); `api_key` is a key passed in Python, used as given;
    `api_key_env` names the environment variable that holds the key (`--api-key-env`)."""
    env = os.environ if env is None else env
    model = model or env.get("SUMMARIZER_MODEL") or None
    mode = (mode or env.get("SUMMARIZER_MODE") or "").lower() or None
    if mode is not None and mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    rails = (rails or env.get("SUMMARIZER_RAILS") or "").lower() or None
    if rails is not None and rails not in RAILS:
        raise ConfigError(f"unknown rails {rails!r}: choose extractive or free")
    if max_retries is not None and max_retries < 0:
        raise ConfigError("--max-retries must be 0 or more")

    origin = "--base-url" if base_url else "OPENAI_BASE_URL"
    url = base_url or env.get("OPENAI_BASE_URL") or None
    parts = _parse_base_url(url, origin) if url else None
    to_openai = parts is None or (parts.hostname == OPENAI_HOST and parts.scheme == "https")
    key, source = _choose_key(env, api_key, api_key_env, flag_url=bool(base_url), to_openai=to_openai)
    if parts is not None and parts.scheme != "https" and not is_loopback(parts.hostname):
        if key is not None:
            raise ConfigError(
                f"refusing to send the API key from {source} over plain http to {redact_url(url)}: "
                "it would cross the network unencrypted; use an https:// URL, or a server on loopback"
            )
        if parts.username or parts.password:
            raise ConfigError(
                f"refusing to send the credentials in {redact_url(url)} over plain http to a host outside "
                "loopback: use an https:// URL"
            )

    kind: EndpointKind
    if url is None and key is None:
        kind, model = "embedded", model or EMBEDDED_MODEL
    elif url is None or (parts is not None and parts.hostname == OPENAI_HOST):
        kind, model = "openai", model or DEFAULT_OPENAI_MODEL
    else:
        kind = "compatible"
        if model is None:
            raise ConfigError(
                f"--model is required with {origin} {redact_url(url)} (the server's model name)"
            )
    settings = Settings(
        model=model,
        endpoint=kind,
        base_url=url,
        api_key=SecretStr(key or PLACEHOLDER_KEY),
        key_source=source if key else "",
        mode=mode or default_mode(kind),
        prompts_dir=prompts_dir or env.get("SUMMARIZER_PROMPTS_DIR") or None,
        rails=rails,  # checked against RAILS above
    )
    return settings.with_overrides(max_retries=max_retries, temperature=temperature, max_tokens=max_tokens)


def _choose_key(
    env: Mapping[str, str], api_key: str | None, api_key_env: str | None, *, flag_url: bool, to_openai: bool
) -> tuple[str | None, str]:
    """The key for this endpoint and where it came from (for messages; never the key itself)."""
    if api_key:
        return api_key, "the api_key argument"
    if api_key_env:
        return _key_from(env, api_key_env), api_key_env
    # A flag's server is not the one OPENAI_API_KEY was exported for, unless it is OpenAI itself.
    if flag_url and not to_openai:
        return env.get("SUMMARIZER_API_KEY") or None, "SUMMARIZER_API_KEY"
    return env.get("OPENAI_API_KEY") or None, "OPENAI_API_KEY"
