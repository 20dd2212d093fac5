"""``llmreg rollout``: start, status, pause, resume, abort, promote and watch a rollout.

Every option is checked before the store is touched; the register is the one the
global ``--register`` option names (default: the installed plugins'), and must
keep model tags (``MlflowRegister`` does). ``watch`` runs the controller: one
tick with ``--once``, else until the rollout ends. Heavy libraries are imported
by the register and the stats sink, inside the command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from llmreg.cli.app import emit_json, json_option
from llmreg.cli.components import build_alias_register
from llmreg.cli.store import naming_store, say_store, shown_store, use_store
from llmreg_gateway.rollout import operations
from llmreg_gateway.rollout.errors import RolloutInputError
from llmreg_gateway.rollout.spec import Guards, parse_interval, parse_steps, parse_sticky
from llmreg_gateway.rollout.state import Rollout, RolloutStore, SystemClock

_ALIAS_HELP = "The alias whose traffic is split and moved at promotion."


def _alias_option(func: Any) -> Any:
    return click.option("--from", "alias", default="champion", show_default=True, help=_ALIAS_HELP)(
        func
    )


def _reason_option(func: Any) -> Any:
    return click.option("--reason", default="", help="Why, recorded in the history.")(func)


def _lines(rollout: Rollout) -> list[str]:
    steps = ",".join(f"[{w}]" if i == rollout.step else str(w) for i, w in enumerate(rollout.steps))
    return [
        f"{rollout.name}@{rollout.alias}: {rollout.status}, version {rollout.to_version} at "
        f"{rollout.weight}% (from {rollout.from_version}), steps {steps}",
        f"rollout {rollout.id}, generation {rollout.generation}, sticky by {rollout.sticky_by}",
        *([f"last: {rollout.reason}"] if rollout.reason else []),
    ]


def _emit(rollout: Rollout, store: dict[str, Any] | None, as_json: bool) -> None:
    if as_json:
        emit_json({"rollout": rollout.to_dict(), "store": shown_store(store)})
        return
    say_store(store)
    for line in _lines(rollout):
        click.echo(line)


def _rollouts() -> tuple[RolloutStore, dict[str, Any] | None]:
    store = use_store()
    return RolloutStore(build_alias_register()), store


def _act(action: Callable[[RolloutStore], Rollout], as_json: bool) -> None:
    # status and the by-hand commands differ only in what they do to the store
    rollouts, store = _rollouts()
    with naming_store(store):
        done = action(rollouts)
    _emit(done, store, as_json)


@click.group()
def rollout() -> None:
    """Progressive delivery of a registered version: a weighted, sticky canary with guards.

    The rollout lives in the registry (the registered model's tags), so every
    gateway replica on the same store applies the same split; every change is
    an entry in ``llmreg history NAME``.
    """


@rollout.command()
@click.argument("name")
@click.option("--to", "to", required=True, help="The candidate: a version number or an alias.")
@_alias_option
@click.option("--steps", default="5,25,50,100", show_default=True, help="Canary weights, %.")
@click.option("--interval", default="10m", show_default=True, help="Least time per step.")
@click.option(
    "--sticky-by",
    default="key",
    show_default=True,
    help="What keeps a caller on one arm: key (API key), user (body's user), header:NAME.",
)
@click.option("--max-error-rate", type=float, default=0.05, show_default=True)
@click.option("--max-p95-ms", type=float, help="The candidate's highest p95 latency.")
@click.option("--max-p95-ratio", type=float, help="Highest p95 as a multiple of the current.")
@click.option("--max-tokens-ratio", type=float, help="Highest tokens/request vs the current.")
@click.option("--max-cost-ratio", type=float, help="Highest cost/request vs the current.")
@click.option("--min-requests", type=int, default=100, show_default=True)
@json_option
def start(
    name: str,
    to: str,
    alias: str,
    steps: str,
    interval: str,
    sticky_by: str,
    max_error_rate: float,
    max_p95_ms: float | None,
    max_p95_ratio: float | None,
    max_tokens_ratio: float | None,
    max_cost_ratio: float | None,
    min_requests: int,
    as_json: bool,
) -> None:
    """Start a rollout of --to in place of NAME@champion (or --from ALIAS)."""
    from llmreg.uris import check_alias, check_model_name

    # every option is checked before the store is opened
    weights = parse_steps(steps)
    interval_s = parse_interval(interval)
    sticky = parse_sticky(sticky_by)
    guards = Guards(
        max_error_rate=max_error_rate,
        max_p95_ms=max_p95_ms,
        max_p95_ratio=max_p95_ratio,
        max_tokens_ratio=max_tokens_ratio,
        max_cost_ratio=max_cost_ratio,
        min_requests=min_requests,
    )
    check_model_name(name)
    check_alias(alias)
    if not str(to).strip():
        raise RolloutInputError("--to is empty: give a version number or an alias")
    rollouts, store = _rollouts()
    with naming_store(store):
        started = operations.start(
            rollouts,
            SystemClock(),
            name,
            to=to,
            alias=alias,
            steps=weights,
            interval_s=interval_s,
            sticky_by=sticky,
            guards=guards,
        )
    _emit(started, store, as_json)


@rollout.command()
@click.argument("name")
@_alias_option
@json_option
def status(name: str, alias: str, as_json: bool) -> None:
    """Show the rollout of NAME: status, weight, step, generation, last decision."""
    _act(lambda rollouts: rollouts.get(name, alias), as_json)


@rollout.command()
@click.argument("name")
@_alias_option
@json_option
def pause(name: str, alias: str, as_json: bool) -> None:
    """Hold the rollout at its current weight (the controller makes no step)."""
    _act(lambda rollouts: operations.pause(rollouts, name, alias), as_json)


@rollout.command()
@click.argument("name")
@_alias_option
@json_option
def resume(name: str, alias: str, as_json: bool) -> None:
    """Let a paused rollout go on (its step's interval starts again)."""
    _act(lambda rollouts: operations.resume(rollouts, SystemClock(), name, alias), as_json)


@rollout.command()
@click.argument("name")
@_alias_option
@_reason_option
@json_option
def abort(name: str, alias: str, reason: str, as_json: bool) -> None:
    """Send all traffic back to the current version; the alias stays."""
    _act(lambda rollouts: operations.abort(rollouts, name, alias, reason), as_json)


@rollout.command()
@click.argument("name")
@_alias_option
@_reason_option
@json_option
def promote(name: str, alias: str, reason: str, as_json: bool) -> None:
    """Promote the candidate now: the alias moves to it, skipping the remaining steps."""
    _act(lambda rollouts: operations.promote(rollouts, name, alias, reason), as_json)


@rollout.command()
@click.argument("name")
@_alias_option
@click.option("--once", is_flag=True, help="Judge once and exit.")
@click.option("--poll", default="5s", show_default=True, help="Time between two judgements.")
@click.option("--lease", "lease_s", default="30s", show_default=True, help="Lease term.")
@json_option
def watch(name: str, alias: str, once: bool, poll: str, lease_s: str, as_json: bool) -> None:
    """Run the controller: step, promote or roll back from the per-arm stats in MLflow.

    Only the holder of the registry lease acts; other watchers stand by, and take
    over when the holder's lease runs out.
    """
    import json as jsonlib

    from llmreg_gateway.rollout.controller import Controller, Decision
    from llmreg_gateway.rollout.lease import Lease
    from llmreg_gateway.rollout.mlflow_stats import MlflowRunSink

    poll_s, term = parse_interval(poll), parse_interval(lease_s)
    rollouts, store = _rollouts()
    clock = SystemClock()
    with naming_store(store):
        sink = MlflowRunSink((store or {}).get("tracking_uri"))
        lease = Lease(rollouts.register, name, alias, clock, ttl=term)
        controller = Controller(rollouts, sink, name, alias, clock, lease=lease)

        def say(decision: Decision) -> None:
            if as_json:
                click.echo(jsonlib.dumps(decision.to_dict(), sort_keys=True))
            else:
                click.echo(f"{decision.action}: {decision.detail}")

        if once:
            try:
                say(controller.tick())
            finally:
                lease.release()  # the next --once (cron) need not wait for the term
        else:
            controller.run(poll=poll_s, on_decision=say)
    say_store(store)


__all__ = ["rollout"]
