"""The two hooks the example leaves out: defaults for the CLI, and the CLI's setup."""

from pathlib import Path

from llmreg import CliSetup, hookimpl


@hookimpl
def llmreg_defaults(register):
    register("saver", {"KIND": "FolderSaver"})  # what `llmreg save` builds without --saver
    register("loader", {"KIND": "FolderLoader"})  # and the serving app, without serve.loader


@hookimpl
def llmreg_cli_setup(debug):
    # Set your store's defaults here (only those the user did not set), keep your
    # libraries' INFO logs quiet unless debug, and import no heavy library.
    store = {"tracking_uri": f"folder:{Path.cwd()}", "source": "default"}
    return CliSetup(store=store, quiet=("my_sdk",))  # the CLI prints "store: folder:/..."
