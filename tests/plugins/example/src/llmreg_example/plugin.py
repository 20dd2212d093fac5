"""The entry point module: it registers the example's classes through llmreg's hooks."""

from __future__ import annotations

from llmreg import hookimpl
from llmreg.hookspecs import RegisterClass
from llmreg_example.folder import FolderLoader, FolderSaver


@hookimpl
def llmreg_register_savers(register: RegisterClass) -> None:
    """Contribute FolderSaver."""
    register(FolderSaver)


@hookimpl
def llmreg_register_loaders(register: RegisterClass) -> None:
    """Contribute FolderLoader."""
    register(FolderLoader)
