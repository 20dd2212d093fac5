"""``llmreg promote --require/--not-worse-than`` refuses what it cannot compare.

A candidate metric that is NaN or missing, a baseline alias no version holds (a typo),
a baseline with no recorded metrics, or one whose metric is not a number: each refuses
the promotion with a typed error and exit 1, and the alias stays where it was. A
malformed ``--require`` is a typed error naming it and the accepted form. Real sqlite
store, the echo provider, the CLI in-process; metrics are the version tags
``llmreg evaluate`` writes.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llmreg.definition import ModelDefinition
from llmreg_mlflow import MlflowRegister

EVAL = "llmreg.eval."


@pytest.fixture(scope="module")
def models(store: Path, providers: Any) -> list[str]:
    """Two saved models (their URIs), registered under a new name per test."""
    from llmreg_pyfunc import CustomSaver

    saver = CustomSaver(experiment="gate")
    return [saver.save(ModelDefinition(provider="echo", model=m)).uri for m in ("a", "b")]


def _registered(models: list[str], first: dict[str, str], second: dict[str, str]) -> str:
    """A registered model whose version 1 (@champion) and 2 carry these eval metrics."""
    name = f"gate-{uuid.uuid4().hex[:8]}"
    register = MlflowRegister()
    for uri, metrics in zip(models, (first, second), strict=True):
        ref = register.register(name, uri)
        if metrics:
            register.set_tags(name, ref.version, {EVAL + k: v for k, v in metrics.items()})
    register.promote(name, 1, "champion")
    return name


def _promote(name: str, *options: str) -> dict[str, Any]:
    from llmreg.cli import cli

    done = CliRunner().invoke(cli, ["promote", name, "2", *options, "--json"])
    out = json.loads(done.stdout)
    out["_exit"] = done.exit_code
    return out


def _champion(name: str) -> int:
    from mlflow import MlflowClient

    return int(MlflowClient().get_registered_model(name).aliases["champion"])


GOOD = {"exact_match": "0.9", "failed_rows": "0"}


@pytest.mark.parametrize(
    ("candidate", "said"),
    [
        ({"exact_match": "nan", "failed_rows": "0"}, "exact_match is nan"),
        ({"exact_match": "NaN", "failed_rows": "nan"}, "failed_rows is nan"),
        ({"failed_rows": "0"}, "exact_match is not evaluated"),
        ({"exact_match": "high", "failed_rows": "0"}, "exact_match is nan"),
    ],
    ids=["nan", "nan-failed-rows", "missing", "not-a-number"],
)
def test_a_candidate_metric_that_cannot_be_compared_refuses(models, candidate, said):
    name = _registered(models, GOOD, candidate)
    out = _promote(name, "--not-worse-than", "champion")
    assert out["_exit"] == 1 and out["error"]["type"] == "RegistrationError"
    assert said in out["error"]["message"]
    assert _champion(name) == 1


def test_a_nan_candidate_fails_every_requirement(models):
    name = _registered(models, GOOD, {"exact_match": "nan"})
    for requirement in ("exact_match>=0.5", "exact_match<0.5", "exact_match==0"):
        out = _promote(name, "--require", requirement)
        assert out["_exit"] == 1 and "exact_match is nan (not a number)" in out["error"]["message"]
    assert _champion(name) == 1


@pytest.mark.parametrize("alias", ["champoin", "challenger"])
def test_a_baseline_alias_no_version_holds_refuses(models, alias):
    name = _registered(models, GOOD, GOOD)
    out = _promote(name, "--not-worse-than", alias)
    assert out["_exit"] == 1 and out["error"]["type"] == "RegistrationError"
    assert f"holds @{alias}" in out["error"]["message"]
    assert "@champion" in out["error"]["message"]  # the aliases it could have meant
    assert _champion(name) == 1


def test_a_malformed_baseline_alias_is_a_config_error(models):
    name = _registered(models, GOOD, GOOD)
    out = _promote(name, "--not-worse-than", "champ ion!")
    assert out["_exit"] == 1 and out["error"]["type"] == "ConfigError"
    assert "--not-worse-than" in out["error"]["message"]
    assert _champion(name) == 1


@pytest.mark.parametrize(
    "baseline", [{}, {"exact_match": "nan"}, {"exact_match": "n/a"}], ids=["none", "nan", "text"]
)
def test_a_baseline_without_usable_metrics_refuses(models, baseline):
    name = _registered(models, baseline, GOOD)
    out = _promote(name, "--not-worse-than", "champion")
    assert out["_exit"] == 1 and out["error"]["type"] == "RegistrationError"
    assert "champion" in out["error"]["message"]
    assert _champion(name) == 1


@pytest.mark.parametrize("requirement", ["x>=1.2.3", "exact_match>=nan", "exact_match>=1e", "a>="])
def test_a_malformed_requirement_names_itself_and_the_form(models, requirement):
    name = _registered(models, GOOD, GOOD)
    out = _promote(name, "--require", requirement)
    assert out["_exit"] == 1 and out["error"]["type"] == "ConfigError"
    assert "unexpected" not in out["error"]
    assert repr(requirement) in out["error"]["message"]
    assert "METRIC>=NUMBER" in out["error"]["message"]
    assert _champion(name) == 1


def test_comparable_metrics_still_promote(models):
    name = _registered(models, GOOD, {"exact_match": "0.95", "failed_rows": "0"})
    out = _promote(name, "--not-worse-than", "@champion", "--require", "exact_match>=9e-1")
    assert out["_exit"] == 0, out
    assert _champion(name) == 2
    assert out["note"].endswith("exact_match 0.95 vs 0.9, failed_rows 0 vs 0 ok")
