"""The models pages: every registered model, one model's versions and alias
history, and the definition diff of two versions (the same as ``llmreg diff``)."""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from llmreg.errors import ConfigError
from llmreg.results import ModelVersionRef
from llmreg_gateway.console.context import Console, Ctx
from llmreg_gateway.console.page import esc, layout, part, table


async def index(console: Console, ctx: Ctx) -> Response:
    """``GET /models``: one registry call lists every model with its aliases."""
    models = await run_in_threadpool(console.register.models)
    rows: list[tuple[str, ...]] = []
    for model in models:
        name = str(model["name"])
        aliases = model.get("aliases") or {}
        alias_text = ", ".join(f"@{esc(a)} → v{esc(v)}" for a, v in sorted(aliases.items()))
        latest = model.get("latest_version")
        rows.append(
            (
                f'<a href="{ctx.root}/models/{part(name)}">{esc(name)}</a>',
                alias_text or "no alias",
                f"v{esc(latest)}" if latest is not None else "none",
                esc(model.get("description") or ""),
            )
        )
    body = f"<p>{len(models)} registered models.</p>" + table(
        "Registered models", ("Model", "Aliases", "Latest version", "Description"), rows
    )
    return layout(ctx.root, "Models", body, csrf=ctx.session.csrf)


def _when(ms: int | None) -> str:
    if not ms:
        return ""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


def _version_rows(console: Console, ctx: Ctx, refs: list[ModelVersionRef]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for ref in reversed(refs):
        box = (
            f'<input type="checkbox" name="target" value="{esc(ref.name)}/{ref.version}" '
            f'id="v{ref.version}"><label for="v{ref.version}">v{ref.version}</label>'
        )
        link = ""
        if console.ui:
            link = (
                f'<a href="{esc(console.ui)}/#/models/{part(ref.name)}/versions/{ref.version}">'
                f"MLflow page of v{ref.version}</a>"
            )
        rows.append(
            (
                box,
                esc(", ".join(f"@{a}" for a in ref.aliases)),
                esc(_when(ref.created_at)),
                esc(ref.description or ""),
                esc((ref.content_hash or "")[:19]),
                link,
            )
        )
    return rows


def _history_tables(name: str, histories: dict[str, list[Any]]) -> str:
    out = []
    for alias, moves in sorted(histories.items()):
        rows = [
            (
                esc(m.at or ""),
                esc(m.action),
                f"v{esc(m.previous)} → v{esc(m.version)}"
                if m.previous is not None
                else f"v{esc(m.version)}",
                esc(m.by or ""),
                esc(m.note or ""),
            )
            for m in reversed(moves)
        ]
        out.append(table(f"History of {name}@{alias}", ("When", "What", "Move", "By", "Note"),
                         rows))  # fmt: skip
    return "".join(out)


async def detail(console: Console, ctx: Ctx) -> Response:
    """``GET /models/{name}``: versions (newest first), links, alias history, diff form."""
    name = ctx.request.path_params["name"]

    def read() -> tuple[list[ModelVersionRef], dict[str, list[Any]]]:
        refs = console.register.versions(name)
        aliases = sorted({a for r in refs for a in r.aliases})
        return refs, {a: console.register.history(name, a) for a in aliases}

    refs, histories = await run_in_threadpool(read)
    versions = table(
        f"Versions of {name}",
        ("Version", "Aliases", "Created", "Description", "Content hash", "MLflow"),
        _version_rows(console, ctx, refs),
    )
    options = "".join(f'<option value="{r.version}">v{r.version}</option>' for r in reversed(refs))
    body = (
        f'<form method="get" action="{ctx.root}/playground">{versions}'
        '<button type="submit">Compare the checked versions in the playground</button></form>'
        f'<h2>Definition diff</h2><form method="get" action="{ctx.root}/models/{part(name)}/diff">'
        f'<label for="left">From version</label> <select id="left" name="left">{options}</select> '
        f'<label for="right">to version</label> <select id="right" name="right">{options}</select> '
        '<button type="submit">Show the diff</button></form>'
        f"<h2>Alias history</h2>{_history_tables(name, histories) or '<p>No alias.</p>'}"
    )
    return layout(ctx.root, f"Model {name}", body, csrf=ctx.session.csrf)


def definition_of(console: Console, uri: str) -> dict[str, Any]:
    """The persisted definition of the model at ``uri`` (no client is built).

    Raises:
        ConfigError: the console has no loader.
    """
    from llmreg.adapter import deferred_clients

    if console.loader is None:
        raise ConfigError("the console was started without a loader: it cannot read definitions")
    with deferred_clients():
        adapter = console.loader.load(uri)
    try:
        definition = adapter.definition
        return definition.persistable() if definition is not None else {}
    finally:
        adapter.close()


async def diff(console: Console, ctx: Ctx) -> Response:
    """``GET /models/{name}/diff?left=V&right=W``: the settings that differ."""
    from llmreg.cli.registry import compare

    name = ctx.request.path_params["name"]
    left, right = ctx.query("left"), ctx.query("right")
    if not (left.isdigit() and right.isdigit()):
        raise ConfigError("left and right: give two version numbers, such as left=1&right=2")
    uris = (f"models:/{name}/{left}", f"models:/{name}/{right}")
    a, b = await run_in_threadpool(lambda: [definition_of(console, u) for u in uris])
    changes = compare(a, b)
    rows = [
        (f"<code>{esc(c['key'])}</code>", esc(_shown(c["left"])), esc(_shown(c["right"])))
        for c in changes
    ]
    body = (
        f"<p>{len(changes)} settings differ between <code>{esc(uris[0])}</code> and "
        f"<code>{esc(uris[1])}</code>.</p>"
        + table("Changed settings", ("Setting", f"v{left}", f"v{right}"), rows)
        + f'<p><a href="{ctx.root}/models/{part(name)}">Back to {esc(name)}</a></p>'
    )
    return layout(ctx.root, f"Diff of {name}: v{left} → v{right}", body, csrf=ctx.session.csrf)


def _shown(value: Any) -> str:
    return "(absent)" if value is None else str(value)


__all__ = ["definition_of", "detail", "diff", "index"]
