"""The public API is one list, ``llmreg._LAZY``: ``__all__`` and the type checkers' view follow."""

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import llmreg
from llmreg import errors

INIT = Path(llmreg.__file__)

#: Names this round made public (issue 11); each must stay.
NEW_IN_0_2 = {
    "AliasMove",
    "CliSetup",
    "ClientAdapter",
    "ModelVersionRef",
    "PluginContractError",
    "SavedModel",
    "StoreUnavailableError",
}


def test_all_is_derived_from_the_lazy_table():
    assert llmreg.__all__ == sorted(llmreg._LAZY)
    assert set(llmreg.__all__) >= NEW_IN_0_2


ERRORS = sorted(
    n
    for n in errors.__all__
    if isinstance(getattr(errors, n), type) and issubclass(getattr(errors, n), errors.LlmregError)
)


@pytest.mark.parametrize("name", ERRORS)
def test_every_error_is_public(name):
    """Every typed error, provider errors included, is importable from ``llmreg`` itself."""
    assert name in llmreg.__all__
    assert getattr(llmreg, name) is getattr(errors, name)


def test_every_error_class_of_the_errors_module_is_in_its_all():
    defined = {
        n
        for n, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, errors.LlmregError)
    }
    assert defined == set(errors.__all__)


@pytest.mark.parametrize("name", sorted(llmreg._LAZY))
def test_each_name_comes_from_the_module_the_table_names(name):
    module = importlib.import_module(llmreg._LAZY[name])
    value = getattr(llmreg, name)
    assert value is getattr(module, name)
    assert name in getattr(module, "__all__", [name]), f"{module.__name__}.__all__ lacks {name}"
    if inspect.isclass(value) or inspect.isfunction(value):
        assert inspect.getdoc(value), f"llmreg.{name} has no docstring"


def test_the_type_checking_imports_match_the_table():
    """The ``TYPE_CHECKING`` block imports every public name, as ``X as X``, from its module."""
    tree = ast.parse(INIT.read_text())
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    )
    imported = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom)
        for alias in node.names:
            assert alias.asname == alias.name, f"write 'import {alias.name} as {alias.name}'"
            imported[alias.name] = node.module
    assert imported == llmreg._LAZY


def test_star_import_gives_exactly_the_public_names():
    namespace: dict[str, object] = {}
    exec("from llmreg import *", namespace)  # noqa: S102 - the statement under test
    assert sorted(k for k in namespace if k != "__builtins__") == llmreg.__all__


def test_dir_lists_every_public_name():
    assert set(llmreg.__all__) <= set(dir(llmreg))


def test_the_version_is_the_installed_distributions():
    """One version source: the built metadata carries what llmreg/version.py says.

    (An editable install keeps the metadata of its last build: reinstall after a bump.)
    """
    from importlib.metadata import version

    assert llmreg.__version__ == version("llmreg")
