"""``llmreg serve``: run the serving app for one model URI with uvicorn."""

from __future__ import annotations

import json

import click

from llmreg.cli.app import add_secrets, json_option
from llmreg.cli.components import current, kind_config
from llmreg.cli.store import say_store, use_store


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
@json_option
def serve(model_uri: str, host: str, port: int, reload_interval: float, as_json: bool) -> None:
    """Serve MODEL_URI over HTTP: /predict and the OpenAI-compatible /v1 routes.

    The model is loaded before the server starts, so a bad URI fails at once.
    With --json, one JSON line on stdout says what is served where, then it serves.
    """
    try:
        import uvicorn

        from llmreg.serve import create_app
    except ImportError as exc:
        raise click.ClickException(
            f"serving needs fastapi and uvicorn ({exc}): pip install 'llmreg[serve]'"
        ) from None
    store = use_store()
    kind = current().kinds["loader"]
    app = create_app(
        model_uri,
        # no --loader: the serving default the plugins register ("serve.loader")
        loader=None if kind is None else kind_config("loader", kind),
        manager=current().manager,
        reload_interval=reload_interval,
    )
    adapter = app.state.llmreg.load()
    if adapter.definition is not None:
        add_secrets(adapter.definition.resolved_secrets())
    url = f"http://{host}:{port}"
    if as_json:
        started = {"model_uri": model_uri, "url": url, "base_url": f"{url}/v1", "store": store}
        click.echo(json.dumps(started, sort_keys=True))
    else:
        say_store(store)
        click.echo(f"serving {model_uri} on {url} (OpenAI base_url {url}/v1)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
