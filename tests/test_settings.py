import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from summarizer.cli import app
from summarizer.core.errors import ConfigError
from summarizer.model.settings import (
    DEFAULT_OPENAI_MODEL,
    EMBEDDED_MODEL,
    PLACEHOLDER_KEY,
    redact_url,
    resolve_settings,
)

from .conftest import SEED


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


# --- which key goes where ----------------------------------------------------------------------------

OPENAI_ENV = {"OPENAI_API_KEY": "sk-openai-0123456789"}


def test_openai_key_goes_to_the_base_url_set_beside_it_in_the_environment():
    env = {**OPENAI_ENV, "OPENAI_BASE_URL": "https://proxy.example/v1", "SUMMARIZER_MODEL": "m"}
    s = resolve_settings(env=env)
    assert (s.endpoint, s.base_url) == ("compatible", "https://proxy.example/v1")
    assert s.api_key.get_secret_value() == "sk-openai-0123456789"


def test_a_base_url_flag_does_not_get_the_openai_key():
    s = resolve_settings(base_url="https://other.example/v1", model="m", env=OPENAI_ENV)
    assert s.endpoint == "compatible"
    assert s.api_key.get_secret_value() == PLACEHOLDER_KEY


def test_a_base_url_flag_gets_summarizer_api_key_or_the_named_variable():
    env = {**OPENAI_ENV, "SUMMARIZER_API_KEY": "sk-summ-0123456789", "MY_KEY": "sk-mine-0123456789"}
    flag = {"base_url": "https://other.example/v1", "model": "m", "env": env}
    assert resolve_settings(**flag).api_key.get_secret_value() == "sk-summ-0123456789"
    named = resolve_settings(**flag, api_key_env="MY_KEY")
    assert named.api_key.get_secret_value() == "sk-mine-0123456789"


def test_the_openai_url_as_a_flag_still_gets_the_openai_key():
    s = resolve_settings(base_url="https://api.openai.com/v1", env=OPENAI_ENV)
    assert (s.endpoint, s.model) == ("openai", DEFAULT_OPENAI_MODEL)
    assert s.api_key.get_secret_value() == "sk-openai-0123456789"


@pytest.mark.parametrize(
    "url", ["https://api.openai.com.evil.example/v1", "https://evil.example/api.openai.com/v1"]
)
def test_a_host_that_only_contains_the_openai_name_is_not_openai(url):
    s = resolve_settings(base_url=url, model="m", env=OPENAI_ENV)
    assert s.endpoint == "compatible"
    assert s.api_key.get_secret_value() == PLACEHOLDER_KEY


def test_a_named_variable_that_is_not_set_is_an_error():
    with pytest.raises(ConfigError, match="--api-key-env NOPE: the environment variable NOPE is not set"):
        resolve_settings(base_url="https://other.example/v1", model="m", api_key_env="NOPE", env=OPENAI_ENV)


@pytest.mark.parametrize(
    ("kwargs", "env", "source"),
    [
        (
            {"base_url": "http://10.0.0.5:8000/v1"},
            {"SUMMARIZER_API_KEY": "sk-x-0123456789"},
            "SUMMARIZER_API_KEY",
        ),
        ({"base_url": "http://gpu.example/v1", "api_key_env": "K"}, {"K": "sk-x-0123456789"}, "K"),
        ({}, {**OPENAI_ENV, "OPENAI_BASE_URL": "http://gpu.example/v1"}, "OPENAI_API_KEY"),
        ({"base_url": "http://api.openai.com/v1", "api_key": "sk-x-0123456789"}, {}, "api_key"),
    ],
)
def test_no_key_over_plain_http_to_a_host_outside_loopback(kwargs, env, source):
    with pytest.raises(ConfigError) as exc:
        resolve_settings(model="m", env=env, **kwargs)
    message = str(exc.value)
    assert "plain http" in message and source in message and "https://" in message
    assert "sk-" not in message


@pytest.mark.parametrize(
    "url",
    ["http://localhost:8080/v1", "http://127.0.0.1:8080/v1", "http://127.1.2.3/v1", "http://[::1]:80/v1"],
)
def test_a_key_may_go_over_plain_http_to_loopback(url):
    s = resolve_settings(base_url=url, model="m", env={"SUMMARIZER_API_KEY": "sk-loop-0123456789"})
    assert s.api_key.get_secret_value() == "sk-loop-0123456789"


def test_plain_http_without_a_key_is_fine_anywhere():
    s = resolve_settings(base_url="http://gpu.example:11434/v1", model="llama3.2", env=OPENAI_ENV)
    assert (s.endpoint, s.base_url) == ("compatible", "http://gpu.example:11434/v1")


def test_credentials_in_a_plain_http_url_are_refused_and_never_shown():
    with pytest.raises(ConfigError, match="plain http") as exc:
        resolve_settings(base_url="http://bob:hunter2@gpu.example/v1", model="m", env={})
    assert "hunter2" not in str(exc.value) and "bob" not in str(exc.value)


def test_error_messages_never_show_url_credentials():
    with pytest.raises(ConfigError, match="--model is required") as exc:
        resolve_settings(base_url="https://bob:hunter2@gpu.example/v1?api-key=s3cret", env={})
    assert "hunter2" not in str(exc.value) and "s3cret" not in str(exc.value)
    assert "gpu.example/v1" in str(exc.value)


@pytest.mark.parametrize("url", ["localhost:11434/v1", "ftp://host/v1", "http://host:port/v1", "http:///v1"])
def test_a_base_url_that_is_not_an_http_url_is_an_error(url):
    with pytest.raises(ConfigError, match="--base-url"):
        resolve_settings(base_url=url, model="m", env={})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://bob:hunter2@host.example/v1", "https://***@host.example/v1"),
        ("https://sk-abc@host.example:8443/v1", "https://***@host.example:8443/v1"),
        ("https://host.example/v1?api-key=s3cret&x=1", "https://host.example/v1?api-key=***&x=1"),
        ("https://host.example/v1?token=t0k&sig=abc", "https://host.example/v1?token=***&sig=***"),
        ("http://localhost:11434/v1", "http://localhost:11434/v1"),
        ("", ""),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


# --- through the command line: the key the server actually receives ----------------------------------


class _KeyRecorder:
    """A loopback endpoint that notes each request's Authorization header and answers 401."""

    def __init__(self) -> None:
        self.authorization: list[str | None] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                recorder.authorization.append(self.headers.get("authorization"))
                body = b'{"error": {"message": "bad key"}}'
                self.send_response(401)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A client that gives up after the 401 leaves a broken pipe: not this test's concern.
        self.server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture
def key_recorder() -> Iterator[_KeyRecorder]:
    recorder = _KeyRecorder()
    yield recorder
    recorder.server.shutdown()
    recorder.server.server_close()


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
@pytest.mark.parametrize(
    ("extra_args", "expected"),
    [
        ((), f"Bearer {PLACEHOLDER_KEY}"),  # not the OpenAI key
        (("--api-key-env", "MY_SERVER_KEY"), "Bearer sk-mine-0123456789"),
    ],
)
def test_cli_sends_a_base_url_flag_only_the_key_meant_for_it(
    key_recorder: _KeyRecorder, monkeypatch: pytest.MonkeyPatch, extra_args: tuple[str, ...], expected: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-0123456789")
    monkeypatch.setenv("MY_SERVER_KEY", "sk-mine-0123456789")
    for name in ("OPENAI_BASE_URL", "SUMMARIZER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    args = ["summarize", str(SEED), "--base-url", key_recorder.base_url, "--model", "m", "--no-cache"]
    result = CliRunner().invoke(app, [*args, *extra_args])
    assert result.exit_code == 3, result.output
    assert key_recorder.authorization and set(key_recorder.authorization) == {expected}
    assert "sk-" not in result.output


def test_cli_refuses_a_key_over_plain_http_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUMMARIZER_API_KEY", "sk-summ-0123456789")
    args = ["summarize", str(SEED), "--base-url", "http://gpu.example:8000/v1", "--model", "m"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: refusing to send the API key from SUMMARIZER_API_KEY over plain")
    assert "sk-summ" not in result.output and "Traceback" not in result.output


def test_settings_say_where_the_key_came_from_and_where_it_goes_without_secrets():
    env = {**OPENAI_ENV, "SUMMARIZER_API_KEY": "sk-summ-0123456789"}
    flag = resolve_settings(base_url="https://bob:pw@gpu.example/v1", model="m", env=env)
    assert (flag.key_source, flag.endpoint_url) == ("SUMMARIZER_API_KEY", "https://***@gpu.example/v1")
    openai_default = resolve_settings(env=OPENAI_ENV)
    assert (openai_default.key_source, openai_default.endpoint_url) == (
        "OPENAI_API_KEY",
        "https://api.openai.com/v1",
    )
    assert resolve_settings(base_url="http://localhost:1/v1", model="m", env=OPENAI_ENV).key_source == ""
