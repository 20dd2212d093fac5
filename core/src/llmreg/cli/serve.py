"""``llmreg serve``: run the serving app for one model URI with uvicorn.

The address is bound first, then the model loaded, then the address announced:
a port in use fails at once with one line and exit code 1, and the announced
address is one that accepts connections (``--port 0`` announces the port chosen).
"""

from __future__ import annotations

import errno
import json
import socket

import click

from llmreg.cli.app import add_secrets, json_option
from llmreg.cli.components import current, kind_config
from llmreg.cli.store import naming_store, say_store, shown_store, use_store
from llmreg.errors import ServeError


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


@click.command()
@click.argument("model_uri")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
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
@json_option
def serve(
    model_uri: str,
    host: str,
    port: int,
    reload_interval: float,
    header_timeout: float,
    body_timeout: float,
    as_json: bool,
) -> None:
    """Serve MODEL_URI over HTTP: /predict and the OpenAI-compatible /v1 routes.

    The address is bound and the model loaded before the server starts, so a port
    in use or a bad URI fails at once. With --json, one JSON line on stdout says
    what is served where, then it serves.
    """
    try:
        import uvicorn

        from llmreg.serve import create_app
        from llmreg.serve.app import timed_h11_protocol
    except ImportError as exc:
        raise click.ClickException(
            f"serving needs fastapi and uvicorn ({exc}): pip install 'llmreg[serve]'"
        ) from None
    sock = bind(host, port)
    try:
        store = use_store()
        kind = current().kinds["loader"]
        app = create_app(
            model_uri,
            # no --loader: the serving default the plugins register ("serve.loader")
            loader=None if kind is None else kind_config("loader", kind),
            manager=current().manager,
            reload_interval=reload_interval,
        )
        app.state.llmreg_routes.body_timeout = body_timeout
        with naming_store(store):
            adapter = app.state.llmreg.load()
        if adapter.definition is not None:
            add_secrets(adapter.definition.resolved_secrets())
        bound = sock.getsockname()[1]
        shown_host = f"[{host}]" if ":" in host else host
        url = f"http://{shown_host}:{bound}"
        if as_json:
            started = {
                "model_uri": model_uri,
                "url": url,
                "base_url": f"{url}/v1",
                "store": shown_store(store),
            }
            click.echo(json.dumps(started, sort_keys=True))
        else:
            say_store(store)
            click.echo(f"serving {model_uri} on {url} (OpenAI base_url {url}/v1)", err=True)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            http=timed_h11_protocol(header_timeout),
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
