"""One loopback check for the key rule (settings) and the keyless service (guard, middleware)."""

from __future__ import annotations

import pytest

from summarizer.core.errors import ConfigError
from summarizer.core.loopback import is_loopback
from summarizer.model.settings import resolve_settings


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST", "ollama.localhost", "a.b.localhost", "127.0.0.1", "127.8.9.1", "::1", "[::1]"],
)
def test_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["", None, "localhost.example.com", "notlocalhost", "10.0.0.1", "0.0.0.0", "::", "example.com"]
)
def test_not_loopback(host: str | None) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize("url", ["http://ollama.localhost:11434/v1", "http://[::1]:8080/v1"])
def test_a_key_may_go_over_plain_http_to_loopback(url: str) -> None:
    settings = resolve_settings(base_url=url, api_key="sk-test-0123456789", model="m", env={})
    assert settings.base_url == url


def test_a_key_never_goes_over_plain_http_beyond_loopback() -> None:
    with pytest.raises(ConfigError, match="unencrypted"):
        resolve_settings(base_url="http://localhost.example.com/v1", api_key="sk-test-0123456789", env={})


def test_the_service_uses_the_same_check() -> None:
    pytest.importorskip("fastapi")
    from summarizer.service import guard, middleware

    assert guard.is_loopback is is_loopback and middleware.is_loopback is is_loopback
    guard.check_exposure("app.localhost", frozenset())  # keyless on a loopback name: allowed
    with pytest.raises(ConfigError, match="without API keys"):
        guard.check_exposure("0.0.0.0", frozenset())
