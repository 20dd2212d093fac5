"""``llmreg serve``: run the serving app for one or more model URIs with uvicorn.

The address is bound first, then the model loaded, then the address announced:
a port in use fails at once with one line and exit code 1, and the announced
address is one that accepts connections (``--port 0`` announces the port chosen).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from llmreg.cli.app import add_secrets, json_option
from llmreg.cli.components import current, kind_config
from llmreg.cli.predict import apply_trace, trace_option
from llmreg.cli.store import naming_store, say_store, shown_store, use_store
from llmreg.errors import ConfigError, LlmregError, ServeError
from llmreg_gateway.cli_controls import control_options
from llmreg_gateway.drain import backstop
from llmreg_gateway.logsetup import serve_logging
from llmreg_gateway.settings import DEFAULT_MAX_ROWS, DEFAULT_MAX_UPSTREAM_BYTES, GatewaySettings

#: Where a tracing loader writes traces (llmreg-pyfunc's ``LLMREG_TRACE_EXPORT``).
TRACE_EXPORT_ENV = "LLMREG_TRACE_EXPORT"

_F = TypeVar("_F", bound=Callable[..., Any])


def bind(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` (IPv4 or IPv6), as uvicorn would.

    Raises:
        ServeError: the address is in use, cannot be assigned or resolved, or
            needs privileges; the message names it.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise ServeError(
            f"cannot serve on {host}:{port}: the host cannot be resolved ({exc})"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        in_use = exc.errno == errno.EADDRINUSE
        hint = " (another process listens there: choose another --port)" if in_use else ""
        raise ServeError(f"cannot serve on {host}:{port}: {exc.strerror or exc}{hint}") from None
    sock.set_inheritable(True)
    return sock


def _shown_option(
    flag: str, default: float, kind: click.IntRange | click.FloatRange, text: str
) -> Callable[[_F], _F]:
    """A number option whose default ``--help`` shows (most of serve's limits)."""
    return click.option(flag, default=default, show_default=True, type=kind, help=text)


@click.command()
@click.argument("model_uris", metavar="[MODEL_URI]...", nargs=-1)
@click.option(
    "--alias",
    default=None,
    metavar="ALIAS",
    help="Also serve NAME@ALIAS for every registered model with this alias, picking up "
    "models that gain it later (every --reload-interval seconds, or 30).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    metavar="env:NAME",
    help="A key the model routes accept as 'Authorization: Bearer KEY', by reference "
    "(env:NAME reads the variable NAME). Repeatable.",
)
@click.option(
    "--keys-file",
    type=click.Path(dir_okay=False),
    help="A file of accepted keys' sha256 hex digests, one per line, each optionally "
    "followed by the comma-separated model names the key may call.",
)
@click.option(
    "--admin-key",
    metavar="env:NAME",
    help="The key POST /admin/reload asks for, by reference (env:NAME). Without it, "
    "admin routes are off on a keyed server.",
)
@click.option(
    "--no-auth",
    is_flag=True,
    help="Serve without asking for keys (announced on start). Needed when no key is given.",
)
@click.option("--protect-ready", is_flag=True, help="/ready asks for an API key too.")
@click.option("--protect-metrics", is_flag=True, help="/metrics asks for an API key too.")
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="One JSON line per request on stderr (model, version, status, latency, tokens, key id).",
)
@_shown_option(
    "--workers",
    1,
    click.IntRange(1, 64),
    "Worker processes on the one port; each loads the models and keeps its own metrics.",
)
@_shown_option(
    "--reload-interval",
    30.0,
    click.FloatRange(min=0),
    "Seconds between checks of an alias URI for a moved alias (0: off).",
)
@_shown_option(
    "--header-timeout",
    10.0,
    click.FloatRange(min=0.1),
    "Seconds a client has to send a request's headers; then 408 and the connection closed.",
)
@_shown_option(
    "--body-timeout",
    30.0,
    click.FloatRange(min=0.1),
    "Seconds a client has to send a request's body; then 408.",
)
@_shown_option(
    "--max-rows",
    DEFAULT_MAX_ROWS,
    click.IntRange(min=1),
    "The most rows one /predict request may carry (each is an upstream call); more: 413.",
)
@_shown_option(
    "--max-upstream-bytes",
    DEFAULT_MAX_UPSTREAM_BYTES,
    click.IntRange(min=1),
    "The largest upstream answer read, in bytes; a larger one is a 502.",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    help="A JSON file of settings (the names of these options, with _); options given "
    "on the command line win over it.",
)
@_shown_option(
    "--graceful-timeout",
    10.0,
    click.FloatRange(min=0),
    "Seconds streams in flight get after SIGTERM or Ctrl-C; then they end with an "
    "error event and the server exits.",
)
@control_options
@trace_option
@json_option
def serve(
    model_uris: tuple[str, ...],
    host: str,
    port: int,
    workers: int,
    config: str | None,
    trace: bool | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Serve MODEL_URI... (with --alias, every registered NAME@ALIAS too) over HTTP.

    Routes: /predict and the OpenAI-compatible /v1 routes.

    A request's "model" (a URI, a registered name or name@alias) picks the model.
    Requests need a key (--api-key env:NAME or --keys-file) unless --no-auth is given.
    The address is bound and the models loaded before the server starts, so a port
    in use or a bad URI fails at once (with several models, the server starts once
    one loads; the others keep retrying on the reload poll). With --json, one JSON
    line on stdout says what is served where, then it serves.
    """
    try:
        import uvicorn

        from llmreg_gateway import create_app
        from llmreg_gateway.protocols import timed_http_protocol
    except ImportError as exc:
        raise click.ClickException(
            f"serving needs fastapi and uvicorn ({exc}): pip install llmreg-gateway"
        ) from None
    settings = _settings(model_uris, config, options)
    if not settings.model_uris and settings.alias is None:
        raise click.UsageError("give at least one MODEL_URI, or --alias ALIAS")
    apply_trace(trace)  # before the app and its workers are built: they read it per call
    # a tracing loader writes a server's traces from a helper process, off its GIL
    os.environ.setdefault(TRACE_EXPORT_ENV, "process")
    sock = bind(host, port)
    try:
        if not (settings.api_keys or settings.keys_file or settings.no_auth):
            raise ConfigError(
                "llmreg serve asks for keys: give --api-key env:NAME (or --keys-file FILE), "
                "or --no-auth to serve without keys"
            )
        store = use_store()
        app = create_app(settings=settings, manager=current().manager)
        serve_logging(settings.access_log)
        loaded = _load_all(app, store)
        _announce(app, settings, f"{host}:{sock.getsockname()[1]}", store, loaded, as_json)
        if workers > 1:
            _run_workers(sock, workers, app)
            return
        server = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            http=timed_http_protocol(settings.header_timeout),
            timeout_graceful_shutdown=backstop(settings.graceful_timeout),
        )
        graceful_server(server, settings.graceful_timeout).run(sockets=[sock])
    finally:
        sock.close()


def graceful_server(config: Any, grace: float) -> Any:
    """uvicorn's ``Server`` for ``config``, whose shutdown (SIGTERM, Ctrl-C) ends the
    streams still running after ``grace`` seconds (:mod:`llmreg_gateway.drain`)."""
    import uvicorn

    from llmreg_gateway import drain

    class GracefulServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            with contextlib.suppress(RuntimeError):  # no loop runs yet: nothing streams
                drain.begin(grace)
            super().handle_exit(sig, frame)

    return GracefulServer(config)


def _announce(
    app: Any, settings: GatewaySettings, address: str, store: Any, loaded: list[str], as_json: bool
) -> None:
    """Say what is served where: one JSON line on stdout (``--json``), else a line on stderr."""
    host, _, bound = address.rpartition(":")
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound}"
    auth = "off (--no-auth)" if app.state.llmreg_routes.keys.open else "keys"
    if settings.no_auth:
        click.echo(
            "warning: --no-auth: anyone who can reach this address can call the models",
            err=True,
        )
    served_uris = [m.model_uri for m in app.state.llmreg_models]
    if as_json:
        started = {
            "model_uri": served_uris[0] if served_uris else None,
            "model_uris": served_uris,
            "loaded": loaded,
            "url": url,
            "base_url": f"{url}/v1",
            "store": shown_store(store),
            "auth": "off" if settings.no_auth else "keys",
        }
        click.echo(json.dumps(started, sort_keys=True))
    else:
        say_store(store)
        click.echo(
            f"serving {', '.join(served_uris) or 'no model yet'} on {url} "
            f"(OpenAI base_url {url}/v1), auth: {auth}",
            err=True,
        )


def _settings(
    model_uris: tuple[str, ...], config: str | None, options: dict[str, Any]
) -> GatewaySettings:
    """The one settings object, from ``--config`` (if given) and the options.

    Options given on the command line win over the file; ``--loader`` and
    ``--register`` (the CLI's own) name the components.

    Raises:
        ConfigError: the file or an option holds an invalid setting.
    """
    ctx = click.get_current_context()
    if config is None:
        given = dict(options, discover_interval=options["reload_interval"] or 30.0)
        settings = GatewaySettings.build(**given)
    else:
        given = {
            name: value
            for name, value in options.items()
            if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
        }
        settings = GatewaySettings.from_file(config).replace(**given)
    changes: dict[str, Any] = {"model_uris": list(model_uris)} if model_uris else {}
    for role in ("loader", "register"):
        kind = current().kinds[role]
        # no --loader: the serving default the plugins register ("serve.loader")
        if kind is not None:
            changes[role] = kind_config(role, kind)
    return settings.replace(**changes) if changes else settings


def _run_workers(sock: socket.socket, workers: int, app: Any) -> None:
    """Run ``workers`` uvicorn processes on ``sock``, each building the app of
    :mod:`llmreg_gateway.worker` from the settings this process checked (no key in them)."""
    import os

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from llmreg_gateway.worker import SETTINGS_ENV, SUPERVISOR_ENV, header_protocol, shared_metrics

    app.state.llmreg_models.close()  # each worker loads its own
    # the URIs found by --alias too, so every worker serves what this process announced
    served = [m.model_uri for m in app.state.llmreg_models]
    settings = app.state.llmreg_settings.replace(model_uris=served)
    os.environ[SETTINGS_ENV] = settings.to_json()
    os.environ[SUPERVISOR_ENV] = str(os.getpid())  # the workers end when it is gone
    config = uvicorn.Config(
        "llmreg_gateway.worker:app",
        factory=True,
        workers=workers,
        log_level="warning",
        access_log=False,
        http=header_protocol(),
        timeout_graceful_shutdown=backstop(settings.graceful_timeout),
    )
    with shared_metrics():  # /metrics sums every worker's
        Multiprocess(config, sockets=[sock]).run()


def _load_all(app: Any, store: Any) -> list[str]:
    """Load every served model before serving; return the URIs that loaded.

    With one model its load error is raised. With several, a failed one is logged
    (it answers 503 until a reload succeeds) and only all failing is an error.
    """
    registry = app.state.llmreg_models
    if registry.discover is not None:
        with naming_store(store):
            registry.discover_new()
    models = list(registry)
    loaded: list[str] = []
    first_error: Exception | None = None
    for served in models:
        try:
            with naming_store(store):
                adapter = served.load()
        except LlmregError as exc:
            if len(models) == 1 and registry.discover is None:
                raise
            first_error = first_error or exc
            app.state.llmreg_routes.note_failure(served, exc, "loading")
            continue
        if adapter.definition is not None:
            add_secrets(adapter.definition.resolved_secrets())
        loaded.append(served.model_uri)
    if not loaded and first_error is not None:
        raise first_error
    return loaded
