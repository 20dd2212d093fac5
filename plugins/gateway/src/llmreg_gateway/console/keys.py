"""The keys and spend page: managed keys with this month's usage, limits and
budget; create one (its secret shown once) and revoke one (confirmed first)."""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import Response

from llmreg.errors import ConfigError
from llmreg_gateway.console.context import Console, Ctx
from llmreg_gateway.console.page import esc, hidden_csrf, layout, message, part, table
from llmreg_gateway.controls import Controls
from llmreg_gateway.controls.budgets import Budget, usd
from llmreg_gateway.controls.keys import ManagedKey
from llmreg_gateway.controls.limits import Limits


def _controls(console: Console) -> Controls:
    if console.controls is None:
        raise ConfigError(
            "the console was started without the gateway's controls: no managed keys to show"
        )
    return console.controls


def _when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch)) if epoch else ""


async def _rows(controls: Controls, ctx: Ctx) -> list[tuple[str, ...]]:
    keys = await controls.keys.list()
    usage: dict[str, dict[str, float]] = {}
    for row in await controls.budgets.usage():
        total = usage.setdefault(row["key"], {"requests": 0, "tokens": 0, "cost": 0.0})
        total["requests"] += row["requests"]
        total["tokens"] += row["prompt_tokens"] + row["completion_tokens"]
        total["cost"] += row["cost_usd"]
    now = time.time()
    rows: list[tuple[str, ...]] = []
    for key in keys:
        used = usage.get(key.key_id, {"requests": 0, "tokens": 0, "cost": 0.0})
        budget = "none"
        if key.budget is not None:
            spent = await controls.budgets.spent(key.key_id, key.budget, now)
            budget = f"${usd(spent)} of ${usd(key.budget.usd)} {key.budget.period}"
        state = "active" if key.active(now) else ("revoked" if key.revoked else "expired")
        revoke = ""
        if key.revoked is None:
            revoke = (f'<a class="button" href="{ctx.root}/keys/{part(key.key_id)}/revoke">'
                      f"Revoke {esc(key.key_id)}</a>")  # fmt: skip
        rows.append((
            f"<code>{esc(key.key_id)}</code>", esc(key.label), esc(state),
            esc(", ".join(sorted(key.models)) if key.models is not None else "every model"),
            esc(_limits(key)), esc(budget), str(int(used["requests"])), str(int(used["tokens"])),
            f"${usd(used['cost'])}", esc(_when(key.created)), revoke,
        ))  # fmt: skip
    return rows


def _limits(key: ManagedKey) -> str:
    parts = [f"{v} {k}" for k, v in key.limits.as_dict().items() if v is not None]
    return ", ".join(parts) or "none"


def _create_form(ctx: Ctx) -> str:
    return (
        f'<h2>Create a key</h2><form method="post" action="{ctx.root}/keys">'
        f"{hidden_csrf(ctx.session.csrf)}"
        '<label for="label">Label (who or what the key is for)</label>'
        '<input id="label" name="label" required maxlength="200">'
        '<label for="models">Models it may call (comma-separated; empty: every model)</label>'
        '<input id="models" name="models">'
        '<label for="rpm">Requests per minute (empty: no limit)</label>'
        '<input id="rpm" name="rpm" inputmode="numeric">'
        '<label for="budget">Budget in USD (empty: none)</label>'
        '<input id="budget" name="budget" inputmode="decimal">'
        '<label for="period">Budget period</label><select id="period" name="period">'
        '<option value="monthly">monthly</option><option value="daily">daily</option></select>'
        '<button type="submit">Create the key</button></form>'
    )


async def index(console: Console, ctx: Ctx, notice: str = "", extra: str = "") -> Response:
    """``GET /keys``: every managed key, with usage this month."""
    controls = _controls(console)
    head = ("Key", "Label", "State", "Models", "Limits", "Budget (spent this period)",
            "Requests", "Tokens", "Cost", "Created", "Revoke")  # fmt: skip
    body = (
        message(notice, "ok") + extra
        + table("Managed keys, with this month's usage", head, await _rows(controls, ctx))
        + _create_form(ctx)
    )  # fmt: skip
    return layout(ctx.root, "Keys and spend", body, csrf=ctx.session.csrf)


def _number(text: str, what: str, kind: type[Any]) -> Any:
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{what}: give a number, not {text[:40]!r}") from None
    if value <= 0:
        raise ConfigError(f"{what}: give a number above 0")
    return value


async def create(console: Console, ctx: Ctx) -> Response:
    """``POST /keys``: create a key; the page shows its secret this once."""
    controls = _controls(console)
    rpm = _number(ctx.field("rpm"), "requests per minute", int)
    amount = _number(ctx.field("budget"), "budget", float)
    budget = Budget.parse({"usd": amount, "period": ctx.field("period", "monthly")}, "budget") \
        if amount is not None else None  # fmt: skip
    names = [n.strip() for n in ctx.field("models").split(",") if n.strip()]
    key, secret = await controls.keys.create(
        ctx.field("label"), models=names or None, limits=Limits(rpm=rpm), budget=budget
    )
    shown = (
        '<section class="secret" aria-labelledby="secret-h"><h2 id="secret-h">The new key\'s '
        "secret</h2><p>Copy it now: it is shown this once and stored nowhere.</p>"
        f'<p><output id="secret" data-copy>{esc(secret)}</output></p></section>'
    )
    return await index(console, ctx, f"created {key.key_id}", shown)


async def confirm(console: Console, ctx: Ctx) -> Response:
    """``GET /keys/{key_id}/revoke``: the confirmation form."""
    key = await _controls(console).keys.get(ctx.request.path_params["key_id"])
    body = (
        f"<p>Revoke <code>{esc(key.key_id)}</code> ({esc(key.label)})? Requests with it are "
        f'refused from then on.</p><form method="post" action="{esc(ctx.request.url.path)}">'
        f'{hidden_csrf(ctx.session.csrf)}<button type="submit">Confirm: revoke</button> '
        f'<a href="{ctx.root}/keys">Cancel</a></form>'
    )
    return layout(ctx.root, "Confirm revoke", body, csrf=ctx.session.csrf)


async def revoke(console: Console, ctx: Ctx) -> Response:
    """``POST /keys/{key_id}/revoke``: revoke it, then show the list."""
    key = await _controls(console).keys.revoke(ctx.request.path_params["key_id"])
    return await index(console, ctx, f"revoked {key.key_id}")


__all__ = ["confirm", "create", "index", "revoke"]
