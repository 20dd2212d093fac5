"""``llmreg serve``: run the serving app for one or more model URIs with uvicorn.

The address is bound first, then the model loaded, then the address announced:
a port in use fails at once with one line and exit code 1, and the announced
address is one that accepts connections (``--port 0`` announces the port chosen).
"""

from __future__ import annotations

import errno
import json
import os
import socket
from typing import Any

import click

from llmreg.cli.app import add_secrets, json_option
from llmreg.cli.components import current, kind_config
from llmreg.cli.predict import apply_trace, trace_option
from llmreg.cli.store import naming_store, say_store, shown_store, use_store
from llmreg.errors import ConfigError, LlmregError, ServeError

#: Where a tracing loader writes traces (llmreg-pyfunc's ``LLMREG_TRACE_EXPORT``).
TRACE_EXPORT_ENV = "LLMREG_TRACE_EXPORT"


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


def _serve_logging(access_log: bool) -> None:
    """Send the serving app's INFO lines (alias swaps, load failures) and the JSON
    access log to stderr, secrets masked (:class:`llmreg.secrets.RedactingFilter`)."""
    import logging
    import sys

    from llmreg.secrets import RedactingFilter

    logging.getLogger("llmreg_gateway").setLevel(logging.INFO)
    access = logging.getLogger("llmreg_gateway.access")
    access.propagate = False
    for old in list(access.handlers):
        access.removeHandler(old)
    if access_log:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.addFilter(RedactingFilter())
        access.addHandler(handler)
        access.setLevel(logging.INFO)
    else:
        access.setLevel(logging.CRITICAL)


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
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes on the one port; each loads the models and keeps its own metrics.",
)
@click.option(
    "--reload-interval",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds between checks of an alias URI for a moved alias (0: off).",
)
@click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a client has to send a request's headers; then 408 and the connection closed.",
)
@click.option(
    "--body-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a client has to send a request's body; then 408.",
)
@trace_option
@json_option
def serve(
    model_uris: tuple[str, ...],
    alias: str | None,
    host: str,
    port: int,
    api_keys: tuple[str, ...],
    keys_file: str | None,
    admin_key: str | None,
    no_auth: bool,
    protect_ready: bool,
    protect_metrics: bool,
    access_log: bool,
    workers: int,
    reload_interval: float,
    header_timeout: float,
    body_timeout: float,
    trace: bool | None,
    as_json: bool,
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
        from llmreg_gateway.app import timed_http_protocol
    except ImportError as exc:
        raise click.ClickException(
            f"serving needs fastapi and uvicorn ({exc}): pip install llmreg-gateway"
        ) from None
    if not model_uris and alias is None:
        raise click.UsageError("give at least one MODEL_URI, or --alias ALIAS")
    apply_trace(trace)  # before the app and its workers are built: they read it per call
    # a tracing loader writes a server's traces from a helper process, off its GIL
    os.environ.setdefault(TRACE_EXPORT_ENV, "process")
    sock = bind(host, port)
    try:
        if not (api_keys or keys_file or no_auth):
            raise ConfigError(
                "llmreg serve asks for keys: give --api-key env:NAME (or --keys-file FILE), "
                "or --no-auth to serve without keys"
            )
        store = use_store()
        kind = current().kinds["loader"]
        register_kind = current().kinds["register"]
        app = create_app(
            list(model_uris),
            alias=alias,
            register=None if register_kind is None else kind_config("register", register_kind),
            discover_interval=reload_interval or 30.0,
            # no --loader: the serving default the plugins register ("serve.loader")
            loader=None if kind is None else kind_config("loader", kind),
            manager=current().manager,
            reload_interval=reload_interval,
            api_keys=api_keys,
            keys_file=keys_file,
            admin_key=admin_key,
            no_auth=no_auth,
            protect_ready=protect_ready,
            protect_metrics=protect_metrics,
            access_log=access_log,
        )
        app.state.llmreg_routes.body_timeout = body_timeout
        _serve_logging(access_log)
        loaded = _load_all(app, store)
        bound = sock.getsockname()[1]
        shown_host = f"[{host}]" if ":" in host else host
        url = f"http://{shown_host}:{bound}"
        auth = "off (--no-auth)" if app.state.llmreg_routes.keys.open else "keys"
        if no_auth:
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
                "auth": "off" if no_auth else "keys",
            }
            click.echo(json.dumps(started, sort_keys=True))
        else:
            say_store(store)
            click.echo(
                f"serving {', '.join(served_uris) or 'no model yet'} on {url} "
                f"(OpenAI base_url {url}/v1), auth: {auth}",
                err=True,
            )
        if workers > 1:
            _run_workers(sock, workers, app, header_timeout, body_timeout)
            return
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            http=timed_http_protocol(header_timeout),
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def _run_workers(
    sock: socket.socket, workers: int, app: Any, header_timeout: float, body_timeout: float
) -> None:
    """Run ``workers`` uvicorn processes on ``sock``, each building the app of
    :mod:`llmreg_gateway.worker` from the settings this process checked (no key in them)."""
    import os

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from llmreg_gateway.worker import SETTINGS_ENV, header_protocol, shared_metrics

    routes = app.state.llmreg_routes
    app.state.llmreg_models.close()  # each worker loads its own
    settings = dict(app.state.llmreg_settings)
    settings["model_uri"] = [m.model_uri for m in app.state.llmreg_models]
    settings.update(header_timeout=header_timeout, body_timeout=body_timeout)
    settings["access_log"] = routes.observer.access_log
    os.environ[SETTINGS_ENV] = json.dumps(settings)
    config = uvicorn.Config(
        "llmreg_gateway.worker:app",
        factory=True,
        workers=workers,
        log_level="warning",
        access_log=False,
        http=header_protocol(),
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
