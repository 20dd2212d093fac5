"""``llmreg keys``: manage a shared gateway's keys and read its usage, over HTTP.

Every command calls the gateway's admin routes (``/admin/keys``, ``/admin/usage``) at
``--url`` with the admin key, given as a reference (``--admin-key env:NAME``), never
on the command line. A new or rotated key's secret is printed once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from llmreg.cli.app import emit_json, json_option
from llmreg.errors import ConfigError, LlmregError
from llmreg_gateway.auth import resolve_reference
from llmreg_gateway.controls.settings import parse_budget, parse_limits


class GatewayAdminError(LlmregError):
    """The gateway could not be reached, or refused an admin request."""


def _call(ctx: click.Context, method: str, path: str, body: Any = None) -> Any:
    import httpx

    url, reference = ctx.obj
    key = resolve_reference(reference, "--admin-key")
    try:
        answer = httpx.request(method, f"{url.rstrip('/')}{path}", json=body, timeout=30,
                               headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    except httpx.HTTPError as exc:
        raise GatewayAdminError(
            f"{url} cannot be reached ({type(exc).__name__}): is llmreg serve running there?"
        ) from None
    try:
        data = answer.json()
    except ValueError:
        data = None
    if answer.status_code >= 400:
        error = data.get("error") if isinstance(data, dict) else None
        message = error.get("message") if isinstance(error, dict) else answer.reason_phrase
        raise GatewayAdminError(f"{method} {path} answered {answer.status_code}: {message}")
    if data is None:
        raise GatewayAdminError(f"{method} {path} answered something that is not JSON")
    return data


def _when(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _line(key: dict[str, Any]) -> str:
    state = "revoked" if key.get("revoked") else "active"
    models = ",".join(key.get("models") or []) or "all models"
    return f"{key['id']}  {state}  {key['label']}  {models}  expires {_when(key.get('expires'))}"


def _emit(data: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        emit_json(data)
        return
    for line in lines:
        click.echo(line)


@click.group()
@click.option("--url", required=True, help="The gateway's base URL, e.g. http://127.0.0.1:8000.")
@click.option("--admin-key", required=True, metavar="env:NAME",
              help="The gateway's admin key, by reference (env:NAME).")  # fmt: skip
@click.pass_context
def keys(ctx: click.Context, url: str, admin_key: str) -> None:
    """Create, list, revoke and rotate a shared gateway's managed keys; read its usage."""
    if not admin_key.startswith("env:"):
        raise ConfigError("--admin-key takes a reference such as env:LLMREG_ADMIN_KEY")
    ctx.obj = (url, admin_key)


@keys.command()
@click.argument("label")
@click.option("--model", "models", multiple=True, help="A model the key may call (repeatable).")
@click.option("--expires", type=float, default=None, help="Expiry, epoch seconds.")
@click.option("--limits", default=None, metavar="rpm=N,tpm=N,concurrent=N")
@click.option("--budget", default=None, metavar="USD/daily|monthly")
@json_option
@click.pass_context
def create(ctx: click.Context, label: str, models: tuple[str, ...], expires: float | None,
           limits: str | None, budget: str | None, as_json: bool) -> None:  # fmt: skip
    """Create a key for LABEL; its secret is printed this once."""
    spent = parse_budget(budget)
    body = {"label": label, "models": list(models) or None, "expires": expires,
            "limits": parse_limits(limits).as_dict(),
            "budget": spent.as_dict() if spent else None}  # fmt: skip
    made = _call(ctx, "POST", "/admin/keys", body)
    _emit(made, as_json, [_line(made), f"secret (shown once): {made['secret']}"])


@keys.command("list")
@json_option
@click.pass_context
def list_keys(ctx: click.Context, as_json: bool) -> None:
    """List the managed keys (ids and labels; never secrets)."""
    data = _call(ctx, "GET", "/admin/keys")
    _emit(data, as_json, [_line(k) for k in data["data"]] or ["no managed keys"])


@keys.command()
@click.argument("key_id")
@json_option
@click.pass_context
def revoke(ctx: click.Context, key_id: str, as_json: bool) -> None:
    """Revoke KEY_ID (its usage stays in the report)."""
    gone = _call(ctx, "DELETE", f"/admin/keys/{key_id}")
    _emit(gone, as_json, [_line(gone)])


@keys.command()
@click.argument("key_id")
@json_option
@click.pass_context
def rotate(ctx: click.Context, key_id: str, as_json: bool) -> None:
    """Give KEY_ID a new secret (printed once); the old one stops working."""
    made = _call(ctx, "POST", f"/admin/keys/{key_id}/rotate")
    _emit(made, as_json, [_line(made), f"secret (shown once): {made['secret']}"])


@keys.command()
@click.option("--month", default=None, metavar="YYYY-MM", help="Default: this month.")
@json_option
@click.pass_context
def usage(ctx: click.Context, month: str | None, as_json: bool) -> None:
    """Requests, tokens and cost per key, model and version."""
    path = "/admin/usage" + (f"?month={month}" if month else "")
    data = _call(ctx, "GET", path)
    rows = [json.dumps(r, sort_keys=True) for r in data["data"]]
    _emit(data, as_json, rows or ["no usage"])


__all__ = ["GatewayAdminError", "keys"]
