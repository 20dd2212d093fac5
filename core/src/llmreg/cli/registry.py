"""The registry workflow: ``list``, ``history``, ``tag``, ``describe``, ``delete``, ``diff``.

The first five ask the register (an :class:`~llmreg.bases.AliasRegister`; ``list``,
``tag``, ``describe`` and ``delete`` use its optional methods). ``diff`` loads two
models and compares their definitions. None of them resolves a provider key:
``diff`` loads inside :func:`llmreg.adapter.deferred_clients`.
"""

from __future__ import annotations

import json
from typing import Any

import click

from llmreg.cli.app import json_option
from llmreg.cli.components import build_alias_register, build_loader, checked
from llmreg.cli.lifecycle import _finish, _one_line
from llmreg.cli.store import naming_store, reading_register, use_store
from llmreg.results import AliasMove, ModelVersionRef


@click.command(name="list")
@json_option
def list_models(as_json: bool) -> None:
    """List the registered models: name, latest version and aliases."""
    store = use_store()
    register = reading_register()
    with naming_store(store):
        models = register.models()
    lines = []
    for model in models:
        aliases = ",".join(f"{a}={v}" for a, v in sorted(model.get("aliases", {}).items()))
        latest = model.get("latest_version")
        lines.append(f"{_one_line(model['name'])}\t{latest or '-'}\t{aliases or '-'}")
    if not models:
        lines.append("no registered models")
    _finish({"models": models}, store, as_json, lines)


@click.command()
@click.argument("name")
@click.option(
    "--alias", default="champion", show_default=True, help="The alias whose moves to list."
)
@json_option
def history(name: str, alias: str, as_json: bool) -> None:
    """List the recorded moves of ALIAS of NAME, oldest first."""
    store = use_store()
    register = reading_register()
    with naming_store(store):
        moves = register.history(name, alias)
    moves = [checked(m, AliasMove, register, "history") for m in moves]
    lines = [
        f"{m.at or '-'}\t{m.action}\t{m.previous if m.previous is not None else '-'} -> "
        f"{m.version}" + (f"\t{m.by}" if m.by else "") + (f"\t{m.note}" if m.note else "")
        for m in moves
    ] or [f"{name}@{alias}: no recorded moves"]
    _finish(
        {"name": name, "alias": alias, "moves": [m.to_dict() for m in moves]}, store, as_json, lines
    )


def _pairs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    from llmreg.cli.components import parse_tags

    if not values:
        raise click.BadParameter("give at least one KEY=VALUE", ctx=ctx, param=param)
    return parse_tags(ctx, param, values)


def _version_lines(ref: ModelVersionRef, what: str) -> list[str]:
    return [f"{what}: {ref.uri}"]


@click.command()
@click.argument("name")
@click.argument("version")
@click.argument("tags", nargs=-1, metavar="KEY=VALUE...", callback=_pairs)
@json_option
def tag(name: str, version: str, tags: dict[str, str], as_json: bool) -> None:
    """Set tags on VERSION of NAME (other tags are kept)."""
    store = use_store()
    register = build_alias_register()
    with naming_store(store):
        ref = register.set_tags(name, version, tags)
    ref = checked(ref, ModelVersionRef, register, "set_tags")
    shown = " ".join(f"{_one_line(k)}={_one_line(v)}" for k, v in sorted(tags.items()))
    _finish({"version": ref.to_dict()}, store, as_json, [f"tagged: {ref.uri} {shown}"])


@click.command()
@click.argument("name")
@click.argument("version")
@click.argument("text")
@json_option
def describe(name: str, version: str, text: str, as_json: bool) -> None:
    """Set the description of VERSION of NAME to TEXT."""
    store = use_store()
    register = build_alias_register()
    with naming_store(store):
        ref = register.describe(name, version, text)
    ref = checked(ref, ModelVersionRef, register, "describe")
    _finish({"version": ref.to_dict()}, store, as_json, _version_lines(ref, "described"))


@click.command()
@click.argument("name")
@click.argument("version")
@click.option("--force", is_flag=True, help="Delete it even while an alias points at it.")
@json_option
def delete(name: str, version: str, force: bool, as_json: bool) -> None:
    """Delete VERSION of NAME (refused while an alias points at it, unless --force)."""
    store = use_store()
    register = build_alias_register()
    with naming_store(store):
        ref = register.delete(name, version, force=force)
    ref = checked(ref, ModelVersionRef, register, "delete")
    dropped = f" (aliases removed: {', '.join(ref.aliases)})" if ref.aliases else ""
    result = {"deleted": ref.to_dict()}
    _finish(result, store, as_json, [f"deleted: {ref.uri}{dropped}"])


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts into dotted keys (lists stay values)."""
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def compare(left: dict[str, Any], right: dict[str, Any]) -> list[dict[str, Any]]:
    """The settings that differ: ``{"key", "left", "right"}`` (``None`` where absent), sorted."""
    a, b = flatten(left), flatten(right)
    return [
        {"key": key, "left": a.get(key), "right": b.get(key)}
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key) or (key in a) != (key in b)
    ]


def _definition(loader: Any, uri: str) -> dict[str, Any]:
    from llmreg.adapter import deferred_clients
    from llmreg.bases import Adapter

    with deferred_clients():
        adapter = loader.load(uri)
    adapter = checked(adapter, Adapter, loader, "load")  # type: ignore[type-abstract]
    try:
        definition = adapter.definition
        return definition.persistable() if definition is not None else {}
    finally:
        adapter.close()


@click.command()
@click.argument("left_uri", metavar="URI")
@click.argument("right_uri", metavar="URI")
@json_option
def diff(left_uri: str, right_uri: str, as_json: bool) -> None:
    """Compare the definitions of two models: which settings changed.

    Exit code 0 either way; ``changes`` is empty when they are the same.
    """
    store = use_store()
    loader = build_loader()
    with naming_store(store):
        left = _definition(loader, left_uri)
        right = _definition(loader, right_uri)
    changes = compare(left, right)
    result = {"left": left_uri, "right": right_uri, "changes": changes, "same": not changes}
    width = max([len(c["key"]) for c in changes] + [3])
    lines = [f"{'key':<{width}}  {left_uri}  ->  {right_uri}"] if changes else []
    for change in changes:
        shown = [
            "(absent)" if v is None else _one_line(json.dumps(v, sort_keys=True))
            for v in (change["left"], change["right"])
        ]
        lines.append(f"{change['key']:<{width}}  {shown[0]}  ->  {shown[1]}")
    if not changes:
        lines.append("the definitions are the same")
    _finish(result, store, as_json, lines)
