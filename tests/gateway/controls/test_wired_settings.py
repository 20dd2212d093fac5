"""The controls' settings in ``GatewaySettings``: checked once, typed errors naming the
option, no secret carried to the workers."""

from __future__ import annotations

import pytest

from llmreg.errors import ConfigError
from llmreg_gateway.settings import GatewaySettings


def test_the_control_settings_are_read_and_travel_to_workers():
    settings = GatewaySettings.build(
        key_limits="rpm=2, concurrent=3", key_budget="5/daily", cache_ttl=30, cache_shared=True
    )
    assert settings.controlled
    again = GatewaySettings.from_json(settings.to_json())
    controls = again.control_settings()
    assert (controls.key_limits.rpm, controls.key_limits.concurrent) == (2, 3)
    assert (controls.key_budget.usd, controls.key_budget.period) == (5.0, "daily")
    assert controls.cache_ttl == 30 and controls.cache_shared
    assert not GatewaySettings.build().controlled  # nothing set: the routes skip them


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("key_limits", "rpm=x", "--key-limits"),
        ("key_limits", "rph=3", "unknown limit"),
        ("key_budget", "ten/daily", "--key-budget"),
        ("key_budget", "10/weekly", "daily or monthly"),
        ("state", "postgres://db", "--state"),
        ("cache_ttl", -1, "cache_ttl"),
    ],
)
def test_a_bad_control_setting_is_a_config_error_naming_it(option, value, words):
    with pytest.raises(ConfigError, match=words):
        GatewaySettings.build(**{option: value})


def test_a_redis_password_is_taken_only_by_reference(monkeypatch):
    with pytest.raises(ConfigError, match="env:NAME") as refused:
        GatewaySettings.build(state="redis://:hunter2@127.0.0.1:6379/0")
    assert "hunter2" not in str(refused.value)
    monkeypatch.setenv("W_STATE", "redis://:hunter2@127.0.0.1:6379/0")
    settings = GatewaySettings.build(state="env:W_STATE")
    assert "hunter2" not in settings.to_json()
    assert settings.control_settings().state.endswith("@127.0.0.1:6379/0")
