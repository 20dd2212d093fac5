"""Cost in USD from prices per million tokens; unknown prices cost None, never a guess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmreg.errors import ConfigError
from llmreg_gateway.controls.cost import FREE, Price, PriceBook, cost, parse_price, read_prices

USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}


def test_cost_of_a_usage() -> None:
    price = Price(input=0.15, output=0.6)
    assert cost(USAGE, price) == pytest.approx(0.00045)  # 1000 * 0.15e-6 + 500 * 0.6e-6
    assert cost({"prompt_tokens": 1, "completion_tokens": 0}, Price(0.1, 0.1)) == 1e-7


def test_cached_prompt_tokens_are_billed_at_the_cached_price() -> None:
    usage = {**USAGE, "prompt_tokens_details": {"cached_tokens": 800}}
    price = Price(input=1.0, output=2.0, cached_input=0.25)
    assert cost(usage, price) == pytest.approx((200 * 1.0 + 800 * 0.25 + 500 * 2.0) / 1e6)
    # without a cached price they cost the input price
    assert cost(usage, Price(1.0, 2.0)) == pytest.approx((1000 + 1000) / 1e6)


def test_unknown_is_none_and_self_hosted_is_zero() -> None:
    assert cost(USAGE, None) is None
    assert cost(None, Price(1, 1)) is None
    assert cost(USAGE, FREE) == 0.0


def test_cost_is_rounded_to_a_nano_dollar() -> None:
    value = cost({"prompt_tokens": 3, "completion_tokens": 0}, Price(0.1, 0.0))
    assert value == 3e-7
    assert repr(value) == "3e-07"  # no float noise such as 3.0000000000000004e-07


def test_prices_file_and_lookup_order(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "models": {
                    "chat": {"input": 0.15, "output": 0.6},
                    "models:/chat/4": {"input": 1, "output": 2, "cached_input": 0.5},
                    "local": None,
                }
            }
        )
    )
    book = PriceBook.from_file(path)
    assert book.lookup("models:/chat/3", "chat") == Price(0.15, 0.6)
    assert book.lookup("models:/chat/4", "chat") == Price(1.0, 2.0, 0.5)
    assert book.lookup("models:/local/1", "local") == FREE
    assert book.lookup("models:/other/1", "other") is None
    book.define("models:/chat/3", {"input": 0.2, "output": 0.8})  # the definition's own price
    assert book.lookup("models:/chat/3", "chat") == Price(0.2, 0.8)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "not JSON"),
        ('{"chat": {"input": 1, "output": 1}}', "nothing else"),
        ('{"models": {"chat": {"input": 1, "output": 1}}, "extra": 1}', "nothing else"),
        ('{"models": []}', "must be an object"),
        ('{"models": {"chat": {"input": 1}}}', "no 'output'"),
        ('{"models": {"chat": {"input": 1, "output": -1}}}', "number >= 0"),
        ('{"models": {"chat": {"input": true, "output": 1}}}', "number >= 0"),
        ('{"models": {"chat": {"input": "1", "output": 1}}}', "number >= 0"),
        ('{"models": {"chat": {"input": 1, "output": 1, "per": "1k"}}}', "unknown price field"),
        ('{"models": {"chat": 0.5}}', "a price is an object"),
    ],
)
def test_a_bad_prices_file_is_a_config_error(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=says):
        read_prices(path)


def test_a_missing_prices_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        read_prices(tmp_path / "absent.json")


def test_parse_price_names_the_model() -> None:
    with pytest.raises(ConfigError, match="model 'chat'"):
        parse_price({"input": float("nan"), "output": 1}, "model 'chat'")
