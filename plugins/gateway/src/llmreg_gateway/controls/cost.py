"""Cost in US dollars: prices per model per million tokens, and the cost of a usage.

A :class:`Price` has an input, an optional cached-input and an output price, in USD per
million tokens. A self-hosted model has the price :data:`FREE` (it costs 0, known);
a model with no price at all costs ``None`` (unknown): never an invented number.

Prices come from a prices file (JSON, read strictly)::

    {"models": {
        "chat": {"input": 0.15, "cached_input": 0.075, "output": 0.6},
        "models:/chat/3": {"input": 0.1, "output": 0.4},
        "local-gemma": null
    }}

and from a definition-level mapping (the same object per model). A
:class:`PriceBook` looks a request up by its resolved version first
(``models:/chat/3``), then by its model name, so two versions can carry two prices.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmreg.errors import ConfigError

#: Cost is rounded to this many decimals of a dollar (a nano-dollar): float noise goes,
#: the price of one token of the cheapest model stays.
COST_DECIMALS = 9


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens.

    Attributes:
        input: per prompt token not read from the provider's prompt cache.
        output: per completion token.
        cached_input: per cached prompt token; ``None`` bills them as ``input``.
    """

    input: float
    output: float
    cached_input: float | None = None


#: The price of a self-hosted model: every token costs 0.
FREE = Price(0.0, 0.0, 0.0)

_FIELDS = ("input", "cached_input", "output")


def parse_price(value: Any, where: str) -> Price:
    """Read one price: ``{"input": X, "output": Y, "cached_input": Z?}`` or ``null`` (free).

    Raises:
        ConfigError: not an object, an unknown or missing field, or a price that is not a
            finite number >= 0.
    """
    if value is None:
        return FREE
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{where}: a price is an object such as "
            '{"input": 0.15, "output": 0.6} (USD per million tokens), or null if self-hosted'
        )
    unknown = set(value) - set(_FIELDS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown price field(s) {', '.join(sorted(map(str, unknown)))}; "
            f"known: {', '.join(_FIELDS)}"
        )
    for name in ("input", "output"):
        if name not in value:
            raise ConfigError(f"{where}: the price has no {name!r} (USD per million tokens)")
    for name, number in value.items():
        if number is None and name == "cached_input":
            continue
        if (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not math.isfinite(number)
            or number < 0
        ):
            raise ConfigError(f"{where}: {name} must be a number >= 0 (USD per million tokens)")
    cached = value.get("cached_input")
    return Price(float(value["input"]), float(value["output"]), _float(cached))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def read_prices(path: str | os.PathLike[str]) -> dict[str, Price]:
    """Read a prices file (see the module docstring).

    Raises:
        ConfigError: the file cannot be read, is not JSON, or holds anything but
            ``{"models": {NAME: PRICE | null}}``; the message names the model at fault.
    """
    where = f"prices file {path}"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{where}: not JSON ({exc})") from None
    if not isinstance(data, dict) or set(data) != {"models"}:
        raise ConfigError(f'{where}: expected {{"models": {{NAME: PRICE}}}} and nothing else')
    models = data["models"]
    if not isinstance(models, dict):
        raise ConfigError(f'{where}: "models" must be an object of NAME: PRICE')
    return {name: parse_price(price, f"{where}, model {name!r}") for name, price in models.items()}


def cost(usage: Mapping[str, Any] | None, price: Price | None) -> float | None:
    """The cost in USD of an OpenAI ``usage`` at ``price``; ``None`` if either is unknown.

    Cached prompt tokens (``prompt_tokens_details.cached_tokens``) are billed at
    ``cached_input``.
    """
    if price is None or not usage:
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
    cached = min(cached, prompt)
    cached_price = price.input if price.cached_input is None else price.cached_input
    total = (prompt - cached) * price.input + cached * cached_price + completion * price.output
    return round(total / 1_000_000, COST_DECIMALS)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class PriceBook:
    """Prices by resolved version (``models:/chat/3``) or model name.

    Args:
        prices: prices from a prices file, by version URI or model name.
    """

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self._prices: dict[str, Price] = dict(prices or {})

    @classmethod
    def from_file(cls, path: str | os.PathLike[str] | None) -> PriceBook:
        """A book from a prices file, or an empty one for ``None``.

        Raises:
            ConfigError: see :func:`read_prices`.
        """
        return cls(read_prices(path) if path is not None else None)

    def define(self, version: str, price: Any) -> None:
        """Set the price of one version from its definition (a price object or ``null``).

        A definition's price wins over the prices file's entry for the model's name.

        Raises:
            ConfigError: see :func:`parse_price`.
        """
        self._prices[version] = parse_price(price, f"the definition of {version}")

    def lookup(self, version: str, model: str) -> Price | None:
        """The price of ``version`` (else of ``model``), or ``None`` if unknown."""
        return self._prices.get(version) or self._prices.get(model)


__all__ = [
    "COST_DECIMALS",
    "FREE",
    "Price",
    "PriceBook",
    "cost",
    "parse_price",
    "read_prices",
]
