"""The rollouts page: every recorded rollout with per-arm numbers and the
controller's decisions; pause, resume, abort and promote, each confirmed first."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from llmreg.errors import ConfigError
from llmreg_gateway.console.context import Console, Ctx
from llmreg_gateway.console.page import esc, hidden_csrf, layout, message, part, table
from llmreg_gateway.rollout import operations
from llmreg_gateway.rollout.state import ROLLOUT_TAG_PREFIX, Rollout, RolloutStore, SystemClock

#: The actions a person may take, and the status each needs.
ACTIONS = {"pause": ("running",), "resume": ("paused",), "abort": ("running", "paused"),
           "promote": ("running", "paused")}  # fmt: skip


def recorded(console: Console) -> list[Rollout]:
    """Every rollout recorded in the registry, from one listing of the models."""
    out = []
    for model in console.register.models():
        for key, raw in sorted((model.get("tags") or {}).items()):
            if key.startswith(ROLLOUT_TAG_PREFIX) and raw:
                out.append(Rollout.from_dict(json.loads(raw)))
    return sorted(out, key=lambda r: (not r.active, -r.started_at, r.name))


def _arms(console: Console, rollout: Rollout) -> str:
    if console.stats is None:
        return "<p>No per-arm numbers: the console was started without the rollouts' stats.</p>"
    window = console.stats.window(rollout.id, rollout.step)
    rows = []
    for arm, version in (("stable", rollout.from_version), ("canary", rollout.to_version)):
        s = window.get(arm)  # type: ignore[call-overload]
        if s is None:
            rows.append((esc(arm), f"v{version}", "0", "0", "n/a", "n/a", "n/a", "n/a"))
            continue
        rows.append((esc(arm), f"v{version}", str(s.requests), str(s.errors),
                     f"{s.error_rate:.1%}", f"{s.p95_ms:.0f}", f"{s.tokens_per_request:.1f}",
                     f"${s.cost_per_request:.6f}"))  # fmt: skip
    head = ("Arm", "Version", "Requests", "Errors", "Error rate", "p95 ms", "Tokens/request",
            "Cost/request")  # fmt: skip
    return table(f"This step's numbers of {rollout.id}", head, rows)


def _decisions(console: Console, rollout: Rollout) -> str:
    marker = f"[rollout {rollout.id} "
    moves = [m for m in console.register.history(rollout.name, rollout.alias)
             if m.note and marker in m.note]  # fmt: skip
    rows = [(esc(m.at or ""), esc(m.action), esc(m.note)) for m in reversed(moves)]
    return table(f"Decisions of {rollout.id}", ("When", "What", "Note"), rows)


def _actions(ctx: Ctx, rollout: Rollout) -> str:
    links = [
        f'<a class="button" href="{ctx.root}/rollouts/{part(rollout.name)}/'
        f'{part(rollout.alias)}/{verb}">{verb.capitalize()} {esc(rollout.name)}@'
        f"{esc(rollout.alias)}</a>"
        for verb, needs in ACTIONS.items()
        if rollout.status in needs
    ]
    return f'<p class="actions">{" ".join(links)}</p>' if links else ""


def _section(console: Console, ctx: Ctx, r: Rollout) -> str:
    return (
        f'<section aria-labelledby="h-{esc(r.id)}"><h2 id="h-{esc(r.id)}">{esc(r.name)}@'
        f'{esc(r.alias)}: v{r.from_version} → v{r.to_version}, <span class="status">'
        f"{esc(r.status)}</span></h2><p>Step {r.step + 1} of {len(r.steps)} "
        f"(canary at {r.weight}%), steps {esc(','.join(map(str, r.steps)))} every "
        f"{r.interval_s:g} s, sticky by {esc(r.sticky_by)}. Last: {esc(r.reason)}</p>"
        f"{_actions(ctx, r)}{_arms(console, r)}{_decisions(console, r)}</section>"
    )


async def index(console: Console, ctx: Ctx, notice: str = "", ok: bool = True) -> Response:
    """``GET /rollouts``: each rollout, active ones first."""

    def read() -> str:
        return "".join(_section(console, ctx, r) for r in recorded(console))

    sections = await run_in_threadpool(read)
    body = message(notice, "ok" if ok else "error") + (sections or "<p>No rollout recorded.</p>")
    return layout(ctx.root, "Rollouts", body, csrf=ctx.session.csrf)


def _target(ctx: Ctx) -> tuple[str, str, str]:
    p = ctx.request.path_params
    if p["action"] not in ACTIONS:
        raise ConfigError(f"{p['action']!r} is not a rollout action: {', '.join(ACTIONS)}")
    return str(p["name"]), str(p["alias"]), str(p["action"])


async def confirm(console: Console, ctx: Ctx) -> Response:
    """``GET /rollouts/{name}/{alias}/{action}``: the confirmation form."""
    name, alias, action = _target(ctx)
    r = await run_in_threadpool(RolloutStore(console.register).get, name, alias)
    why = ""
    if action in ("abort", "promote"):
        why = '<label for="why">Reason (recorded in the alias history)</label>' \
              '<input id="why" name="why" maxlength="500">'  # fmt: skip
    body = (
        f"<p>{esc(action.capitalize())} the rollout of <strong>{esc(name)}@{esc(alias)}</strong> "
        f"(v{r.to_version} in place of v{r.from_version}, now {esc(r.status)} at {r.weight}%)?"
        f'</p><form method="post" action="{esc(ctx.request.url.path)}">'
        f"{hidden_csrf(ctx.session.csrf)}{why}"
        f'<button type="submit">Confirm: {esc(action)}</button> '
        f'<a href="{ctx.root}/rollouts">Cancel</a></form>'
    )
    return layout(ctx.root, f"Confirm {action}", body, csrf=ctx.session.csrf)


async def act(console: Console, ctx: Ctx) -> Response:
    """``POST /rollouts/{name}/{alias}/{action}``: do it, then show the list."""
    name, alias, action = _target(ctx)
    store, why = RolloutStore(console.register), ctx.field("why")[:500]

    def run() -> Rollout:
        if action == "pause":
            return operations.pause(store, name, alias)
        if action == "resume":
            return operations.resume(store, SystemClock(), name, alias)
        if action == "abort":
            return operations.abort(store, name, alias, why)
        return operations.promote(store, name, alias, why)

    done: Any = await run_in_threadpool(run)
    return await index(console, ctx, done.reason)


__all__ = ["ACTIONS", "act", "confirm", "index", "recorded"]
