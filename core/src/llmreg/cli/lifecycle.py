"""``save``, ``register``, ``promote``, ``rollback``, ``versions`` and ``show``.

Each command builds its saver, loader or register from the global KIND options
through the plugin manager, so it works with any plugin's KINDs. Heavy
libraries are imported by the plugins, inside the command, never before.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import click

from llmreg.cli.app import add_secrets, emit_json, json_option, redact
from llmreg.cli.components import (
    build_alias_register,
    build_loader,
    build_register,
    build_saver,
    checked,
    tag_option,
)
from llmreg.cli.store import naming_store, reading_register, say_store, shown_store, use_store
from llmreg.errors import ConfigError, LlmregError
from llmreg.hashing import CONTENT_HASH_KEY
from llmreg.results import AliasMove, ModelVersionRef, SavedModel
from llmreg.uris import check_registration


@click.command()
@click.argument("config", metavar="CONFIG.json")
@click.option("--name", help="The registered model name (required with --register).")
@click.option("--register", "do_register", is_flag=True, help="Register the saved model.")
@click.option("--alias", help="Point this alias at the new version (needs --register).")
@tag_option
@json_option
def save(
    config: str,
    name: str | None,
    do_register: bool,
    alias: str | None,
    tags: dict[str, str],
    as_json: bool,
) -> None:
    """Save the model definition in CONFIG.json; optionally register it and set an alias.

    The name, alias and tags are checked before anything is written. Should the
    registry still refuse after the save, the error names what was written and
    the command that finishes the job.
    """
    from llmreg.definition import ModelDefinition

    if not do_register and (name or alias or tags):
        raise click.UsageError("--name, --alias and --tag go with --register")
    if do_register and not name:
        raise click.UsageError("--register needs --name NAME")
    if do_register:
        check_registration(name, alias, tags)
    definition = ModelDefinition.from_file(config)
    add_secrets(definition.resolved_secrets())
    store = use_store()
    with naming_store(store):
        # Build every component before anything is written: a bad KIND or tag fails first.
        saver = build_saver()
        registrar = build_register(tags) if do_register else None
        mover = build_alias_register() if alias else None
        if do_register and name and _takes(saver.save, "name"):
            # the saver names what it logs after the registered name (llmreg-pyfunc's
            # logged model and default experiment); an older saver's save lacks it
            save_named: Any = saver.save
            saved = checked(save_named(definition, name=name), SavedModel, saver, "save")
        else:
            saved = checked(saver.save(definition), SavedModel, saver, "save")
        result: dict[str, Any] = {"model_uri": saved.uri, "content_hash": saved.content_hash}
        if registrar is not None and name:
            with _written(
                f"the model was saved as {saved.uri} but not registered; to finish: "
                f"llmreg register {saved.uri} --name {name}"
            ):
                ref = registrar.register(name, saved.uri)
            ref = checked(ref, ModelVersionRef, registrar, "register")
            result["registered"] = _version_record(ref)
            if mover is not None and alias:
                with _written(
                    f"version {ref.version} of {name!r} was registered, the alias was not "
                    f"set; to finish: llmreg promote {name} {ref.version} --alias {alias}"
                ):
                    move = mover.promote(name, ref.version, alias)
                move = checked(move, AliasMove, mover, "promote")
                result["registered"]["alias"] = move.alias
                result["registered"]["alias_uri"] = move.uri
    lines = [f"saved: {result['model_uri']}"]
    if "registered" in result:
        lines += _registered_lines(result["registered"])
    _finish(result, store, as_json, lines)


@contextlib.contextmanager
def _written(note: str) -> Iterator[None]:
    """On a typed error in the block, add what was already written (and how to finish)."""
    try:
        yield
    except LlmregError as exc:
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (f"{exc.args[0]} [{note}]", *exc.args[1:])
        raise


@click.command()
@click.argument("model_uri")
@click.option("--name", required=True, help="The registered model name.")
@tag_option
@json_option
def register(model_uri: str, name: str, tags: dict[str, str], as_json: bool) -> None:
    """Register the saved model at MODEL_URI as a new version of NAME."""
    check_registration(name, None, tags)
    store = use_store()
    registrar = build_register(tags)
    with naming_store(store):
        ref = registrar.register(name, model_uri)
    ref = checked(ref, ModelVersionRef, registrar, "register")
    record = _version_record(ref)
    result = {"model_uri": model_uri, "registered": record}
    _finish(result, store, as_json, _registered_lines(record))


@click.command()
@click.argument("name")
@click.argument("version")
@click.option("--alias", default="champion", show_default=True, help="The alias to move.")
@click.option(
    "--require",
    "requirements",
    multiple=True,
    metavar="METRIC>=X",
    help="Refuse unless the version's evaluated METRIC passes (repeatable; llmreg evaluate).",
)
@click.option(
    "--not-worse-than",
    "baseline",
    metavar="ALIAS",
    help="Refuse a version whose evaluated metrics are worse than ALIAS's (e.g. champion).",
)
@json_option
def promote(
    name: str,
    version: str,
    alias: str,
    requirements: tuple[str, ...],
    baseline: str | None,
    as_json: bool,
) -> None:
    """Point ALIAS of NAME at VERSION, recording the move.

    With --require or --not-worse-than, the check's decision (the requirements and
    the numbers) is recorded with the move (``llmreg history``, where the register
    keeps notes) and as the version's ``llmreg.promotion_check`` tag.
    """
    store = use_store()
    register = build_alias_register()
    note: str | None = None
    with naming_store(store):
        if requirements or baseline:
            from llmreg.cli.gate import gate

            note = gate(register, name, version, requirements, baseline)
            register.set_tags(name, int(version), {"llmreg.promotion_check": note})
        if note is not None and _takes_note(register.promote):
            promote_with_note: Any = register.promote  # an optional keyword of newer registers
            move = promote_with_note(name, version, alias, note=note)
        else:
            move = register.promote(name, version, alias)
    move = checked(move, AliasMove, register, "promote")
    result = _alias_record(move)
    lines = [f"{result['alias_uri']} -> version {result['version']}"]
    if note is not None:
        result["note"] = note
        lines.append(f"checked: {note}")
    _finish(result, store, as_json, lines)


def _takes(method: Any, keyword: str) -> bool:
    """Whether a plugin's method takes the optional keyword ``keyword`` (a register's
    ``promote(note=)``, a saver's ``save(name=)``); older plugins lack it and keep
    working without it."""
    import inspect

    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == keyword or p.kind is p.VAR_KEYWORD for p in parameters)


def _takes_note(method: Any) -> bool:
    """Whether a register's ``promote`` takes ``note=``."""
    return _takes(method, "note")


@click.command()
@click.argument("name")
@click.option("--alias", default="champion", show_default=True, help="The alias to move back.")
@json_option
def rollback(name: str, alias: str, as_json: bool) -> None:
    """Point ALIAS of NAME back at the version that held it before the last move."""
    store = use_store()
    register = build_alias_register()
    with naming_store(store):
        move = register.rollback(name, alias)
    move = checked(move, AliasMove, register, "rollback")
    result = _alias_record(move)
    _finish(result, store, as_json, [f"{result['alias_uri']} -> version {result['version']}"])


@click.command()
@click.argument("name")
@json_option
def versions(name: str, as_json: bool) -> None:
    """List the versions of NAME with their aliases, content hash and tags."""
    store = use_store()
    register = reading_register()
    with naming_store(store):
        refs = register.versions(name)
    for ref in refs:
        checked(ref, ModelVersionRef, register, "versions")
    rows = [ref.to_dict() for ref in refs]
    if as_json:
        emit_json({"name": name, "versions": rows, "store": shown_store(store)})
        return
    say_store(store)
    if not refs:
        click.echo(f"{name}: no versions")
    for ref in refs:
        aliases = ",".join(ref.aliases) or "-"
        tags = " ".join(
            f"{_one_line(k)}={_one_line(v)}"
            for k, v in sorted(ref.tags.items())
            if k != CONTENT_HASH_KEY
        )
        click.echo(f"{ref.version}\t{aliases}\t{ref.content_hash or '-'}\t{tags}".rstrip())


#: Characters that would start a new line (or column) of one-line-per-version output.
_BREAKS = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _one_line(text: str) -> str:
    r"""Return ``text`` with backslashes, control characters and line separators escaped."""
    out = []
    for char in str(text):
        code = ord(char)
        if char in _BREAKS:
            out.append(_BREAKS[char])
        elif code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


@click.command()
@click.argument("model_uri")
@json_option
def show(model_uri: str, as_json: bool) -> None:
    """Show what is known of MODEL_URI: definition (no secrets), version, alias, run, hash."""
    store = use_store()
    from llmreg.adapter import deferred_clients
    from llmreg.bases import Adapter

    loader = build_loader()
    # a reading command: the client (and its key) would be built at a first predict
    with naming_store(store), deferred_clients():
        adapter = loader.load(model_uri)
    adapter = checked(adapter, Adapter, loader, "load")  # type: ignore[type-abstract]
    adapter.close()  # only what it knows is read: its client is not needed
    definition = adapter.definition
    if definition is not None:
        add_secrets(definition.resolved_secrets())
    known = dict(adapter.info)
    # one key per fact: the URI and the hash at the top, unknown (None) facts left out
    info = {
        k: v
        for k, v in known.items()
        if v is not None and k not in ("uri", "model_uri", "content_hash")
    }
    result: dict[str, Any] = {"model_uri": model_uri, "info": info}
    content_hash = known.get("content_hash") or _registered_hash(known)
    if content_hash:
        result["content_hash"] = content_hash
    if definition is not None:
        result["definition"] = definition.persistable()
    if as_json:
        emit_json({**result, "store": shown_store(store)})
        return
    say_store(store)
    click.echo(f"model_uri: {model_uri}")
    for key, value in sorted(info.items()):
        click.echo(f"{key}: {_one_line(str(value))}")
    if content_hash:
        click.echo(f"content_hash: {content_hash}")
    if definition is not None:
        click.echo("definition:")
        text = json.dumps(result["definition"], indent=2, sort_keys=True)
        click.echo("  " + redact(text).replace("\n", "\n  "))


def _registered_hash(info: dict[str, Any]) -> str | None:
    """Look up the content hash of a registered version (``info`` names and versions it)."""
    name, version = info.get("name"), info.get("version")
    if not name or version is None:
        return None
    try:
        refs = reading_register().versions(str(name))
    except ConfigError:
        return None  # the register KIND cannot list versions: nothing more is known
    found = next((r for r in refs if str(r.version) == str(version)), None)
    return found.content_hash if found is not None else None


def _version_record(ref: ModelVersionRef) -> dict[str, Any]:
    """A registered version as the CLI prints it: name, version (int), uri, created, tags."""
    return {
        "name": ref.name,
        "version": ref.version,
        "uri": ref.uri,
        "created": ref.created,
        "tags": dict(ref.tags),
    }


def _alias_record(move: AliasMove) -> dict[str, Any]:
    return {
        "name": move.name,
        "alias": move.alias,
        "version": move.version,
        "previous": move.previous,
        "alias_uri": move.uri,
    }


def _registered_lines(registered: dict[str, Any]) -> list[str]:
    reused = "" if registered.get("created", True) else ", reused: same content"
    lines = [
        f"registered: {registered['name']} version {registered['version']} "
        f"({registered['uri']}{reused})"
    ]
    if registered.get("alias"):
        lines.append(f"alias: {registered['alias_uri']} -> version {registered['version']}")
    return lines


def _finish(
    result: dict[str, Any], store: dict[str, Any] | None, as_json: bool, lines: list[str]
) -> None:
    if as_json:
        emit_json({**result, "store": shown_store(store)})
        return
    say_store(store)
    for line in lines:
        click.echo(line)
