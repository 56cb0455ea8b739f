import pytest

from summarizer.errors import ConfigError
from summarizer.settings import DEFAULT_OPENAI_MODEL, EMBEDDED_MODEL, resolve_settings


def test_nothing_configured_is_the_embedded_model():
    s = resolve_settings(env={})
    assert (s.endpoint, s.model, s.base_url) == ("embedded", EMBEDDED_MODEL, None)


def test_key_alone_is_openai_with_default_model():
    s = resolve_settings(env={"OPENAI_API_KEY": "sk-test-123456789"})
    assert (s.endpoint, s.model) == ("openai", DEFAULT_OPENAI_MODEL)
    assert s.api_key.get_secret_value() == "sk-test-123456789"


def test_base_url_is_a_compatible_server_and_needs_a_model():
    with pytest.raises(ConfigError, match="--model is required"):
        resolve_settings(env={"OPENAI_BASE_URL": "http://localhost:11434/v1"})
    s = resolve_settings(env={"OPENAI_BASE_URL": "http://localhost:11434/v1", "SUMMARIZER_MODEL": "llama3.2"})
    assert (s.endpoint, s.model, s.base_url) == ("compatible", "llama3.2", "http://localhost:11434/v1")


def test_flags_win_over_environment():
    env = {"OPENAI_BASE_URL": "http://env/v1", "SUMMARIZER_MODEL": "env-model", "SUMMARIZER_MODE": "json"}
    s = resolve_settings(base_url="http://flag/v1", model="flag-model", mode="tools", max_retries=5, env=env)
    assert (s.base_url, s.model, s.mode, s.max_retries) == ("http://flag/v1", "flag-model", "tools", 5)


def test_environment_wins_over_default():
    s = resolve_settings(
        env={"OPENAI_API_KEY": "k", "SUMMARIZER_MODEL": "gpt-4.1-mini", "SUMMARIZER_MODE": "JSON"}
    )
    assert (s.model, s.mode) == ("gpt-4.1-mini", "json")


def test_unknown_mode_and_negative_retries_are_errors():
    with pytest.raises(ConfigError, match="unknown mode"):
        resolve_settings(mode="xml", env={})
    with pytest.raises(ConfigError, match="max-retries"):
        resolve_settings(max_retries=-1, env={})


def test_key_never_in_repr():
    s = resolve_settings(env={"OPENAI_API_KEY": "sk-secret-abcdefgh"})
    assert "sk-secret" not in repr(s)
    assert "sk-secret" not in str(s)
