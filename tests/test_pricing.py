"""Prices: lookup by name and snapshot, the override file, and the arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from summarizer.core.errors import ConfigError
from summarizer.model.pricing import DEFAULT_PRICES, Price, cost, format_cost, load_prices, price_for


def test_known_model() -> None:
    assert price_for("gpt-4o-mini", DEFAULT_PRICES) == Price(0.15, 0.60)
    for name in ("gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3-mini", "o4-mini", "gpt-3.5-turbo"):
        assert price_for(name, DEFAULT_PRICES) is DEFAULT_PRICES[name]


@pytest.mark.parametrize(
    ("model", "base"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),  # the longest known prefix, not gpt-4o
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # an exact entry wins over the prefix
    ],
)
def test_dated_snapshot(model: str, base: str) -> None:
    assert price_for(model, DEFAULT_PRICES) is DEFAULT_PRICES[base]


@pytest.mark.parametrize(
    "model", ["SmolLM2-135M-Instruct", "llama3.1:8b", "gpt-4o-audio-preview", "o3-pro", "gpt-4o-", "GPT-4O"]
)
def test_unknown_model(model: str) -> None:
    assert price_for(model, DEFAULT_PRICES) is None
    assert cost(model, 1000, 1000, DEFAULT_PRICES) is None


def test_arithmetic_is_exact() -> None:
    # 1000 * 0.15 / 1e6 + 500 * 0.60 / 1e6 = 0.00015 + 0.0003
    assert cost("gpt-4o-mini", 1000, 500, DEFAULT_PRICES) == 0.00045
    assert cost("gpt-4o", 1_000_000, 1_000_000, DEFAULT_PRICES) == 12.5
    assert cost("gpt-4.1-mini", 3, 7, {"gpt-4.1-mini": Price(0.1, 0.2)}) == 0.0000017
    assert cost("gpt-4o", 0, 0, DEFAULT_PRICES) == 0.0


def test_format_cost() -> None:
    assert format_cost(0.0123) == "$0.0123"
    assert format_cost(0.00046) == "$0.0005"
    assert format_cost(1234.5) == "$1,234.5000"
    assert format_cost(0.0) == "$0.0000"
    assert format_cost(0.000001) == "<$0.0001"
    assert format_cost(None) == "n/a"


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_defaults_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUMMARIZER_PRICES", raising=False)
    assert load_prices() == DEFAULT_PRICES
    assert load_prices() is not DEFAULT_PRICES  # a copy: callers may change it


def test_override_file_adds_and_replaces(tmp_path: Path) -> None:
    path = write(
        tmp_path, {"gpt-4o-mini": {"input": 0.1, "output": 0.5}, "my-model": {"input": 1, "output": 2}}
    )
    prices = load_prices(path)
    assert prices["gpt-4o-mini"] == Price(0.1, 0.5)
    assert prices["my-model"] == Price(1.0, 2.0)
    assert prices["gpt-4o"] == DEFAULT_PRICES["gpt-4o"]  # the rest are kept
    assert DEFAULT_PRICES["gpt-4o-mini"] == Price(0.15, 0.60)  # the defaults are not mutated
    assert price_for("gpt-4o-mini-2024-07-18", prices) == Price(0.1, 0.5)  # snapshots follow the override
    assert cost("my-model", 1_000_000, 500_000, prices) == 2.0


def test_override_file_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUMMARIZER_PRICES", str(write(tmp_path, {"local": {"input": 0, "output": 0}})))
    assert load_prices()["local"] == Price(0.0, 0.0)
    # An explicit path wins over the environment.
    other = tmp_path / "other.json"
    other.write_text('{"x": {"input": 3, "output": 4}}', encoding="utf-8")
    prices = load_prices(other)
    assert "x" in prices and "local" not in prices


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must hold an object"),
        ('{"m": 0.15}', "'m' must be"),
        ('{"m": {"input": 0.15}}', "'m' must be"),
        ('{"m": {"input": 0.15, "output": 0.6, "cached": 0.01}}', "'m' must be"),
        ('{"m": {"input": "0.15", "output": 0.6}}', "'m' input must be a number"),
        ('{"m": {"input": 0.15, "output": -1}}', "'m' output must be a number"),
        ('{"m": {"input": true, "output": 0.6}}', "'m' input must be a number"),
        ('{"m": {"input": NaN, "output": 0.6}}', "'m' input must be a number"),
    ],
)
def test_bad_file_is_a_config_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "prices.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_prices(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_bytes(b'{"m": "\xff"}')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_prices(path)
