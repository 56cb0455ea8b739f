"""Tokens into money: an estimate of what a run cost, from list prices per million tokens.

The built-in prices are OpenAI's public list prices (standard tier, USD per 1M tokens) as known in
mid-2025. They change: check them against https://openai.com/api/pricing, and override or extend them
with a JSON file given by `SUMMARIZER_PRICES` (see `load_prices`). The estimate ignores discounts this
code cannot see (cached prompt tokens, the Batch API, negotiated rates), so it errs on the high side.
Reasoning models' hidden reasoning tokens are billed as output and already counted in completion_tokens.
A model without a price (local and most compatible servers) gets no cost, only its token counts.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ..core.errors import ConfigError


@dataclass(frozen=True)
class Price:
    input_per_million: float  # USD per 1M prompt tokens
    output_per_million: float  # USD per 1M completion tokens


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4o": Price(2.50, 10.00),
    # The first gpt-4o snapshot kept the launch price; named exactly so the "gpt-4o" prefix misses it.
    "gpt-4o-2024-05-13": Price(5.00, 15.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "o1": Price(15.00, 60.00),
    "o1-mini": Price(1.10, 4.40),
    "o3": Price(2.00, 8.00),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-4": Price(30.00, 60.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
}

PRICES_ENV = "SUMMARIZER_PRICES"
# What may follow a known name for a snapshot of it: a date ("2024-07-18") or OpenAI's older MMDD ("0125").
# Anything else ("o3-pro", "gpt-4o-audio-preview", "gpt-4-32k") is another model with another price, and
# no price beats a wrong one.
_SNAPSHOT = re.compile(r"\d{4}-\d{2}-\d{2}|\d{4}")


def load_prices(path: str | os.PathLike[str] | None = None) -> dict[str, Price]:
    """DEFAULT_PRICES, updated from a JSON file {"model": {"input": 0.15, "output": 0.6}, ...} given by
    path or env SUMMARIZER_PRICES (a file path). Bad file → summarizer.errors.ConfigError with a one-line
    message."""
    prices = dict(DEFAULT_PRICES)
    source = path if path is not None else (os.environ.get(PRICES_ENV) or None)
    if source is None:
        return prices
    where = Path(source)
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the prices file {where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the prices file {where} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"the prices file {where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f'the prices file {where} must hold an object {{"model": {{"input": …, "output": …}}}}'
        )
    for model, entry in data.items():
        prices[model] = _parse_entry(where, model, entry)
    return prices


def _parse_entry(where: Path, model: str, entry: object) -> Price:
    if not isinstance(entry, dict) or set(entry) != {"input", "output"}:
        raise ConfigError(
            f'the prices file {where}: {model!r} must be {{"input": <USD per 1M>, "output": <USD per 1M>}}'
        )
    values: list[float] = []
    for side in ("input", "output"):
        v = entry[side]
        # bool is an int in Python; `true` as a price is a mistake, not 1 dollar.
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise ConfigError(
                f"the prices file {where}: {model!r} {side} must be a number of USD per 1M tokens, not {v!r}"
            )
        values.append(float(v))
    return Price(*values)


def price_for(model: str, prices: dict[str, Price]) -> Price | None:
    """Exact name first, then dated snapshots ("gpt-4o-mini-2024-07-18" → "gpt-4o-mini": longest prefix
    match on known names followed by '-'), else None (unknown models: tokens only)."""
    if model in prices:
        return prices[model]
    # Longest first, so "gpt-4o-mini-2024-07-18" finds gpt-4o-mini rather than gpt-4o.
    for name in sorted(prices, key=len, reverse=True):
        if model.startswith(name + "-") and _SNAPSHOT.fullmatch(model[len(name) + 1 :]):
            return prices[name]
    return None


def cost(model: str, prompt_tokens: int, completion_tokens: int, prices: dict[str, Price]) -> float | None:
    """USD for these tokens, or None for a model without a price."""
    price = price_for(model, prices)
    if price is None:
        return None
    # Decimal of each price's shortest repr: 0.15 is exactly 0.15 here, so the sum is exact and rounded to
    # a float once, not accumulated in binary (1000 * 0.15 is not 150 in floats).
    total = (
        Decimal(prompt_tokens) * Decimal(repr(price.input_per_million))
        + Decimal(completion_tokens) * Decimal(repr(price.output_per_million))
    ) / 1_000_000
    return float(total)


def format_cost(value: float | None) -> str:
    """Dollars to four decimals ("$0.0123"), or "n/a" for None. A cost too small for four decimals is
    "<$0.0001": "$0.0000" would read as free."""
    if value is None:
        return "n/a"
    if 0 < value < 0.00005:
        return "<$0.0001"
    return f"${value:,.4f}"
