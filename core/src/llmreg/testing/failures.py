"""How the contract kit reports a failure, and the checks every contract shares.

Every failure of the kit goes through :func:`contract_failure`: its message says
what the contract expects and what the plugin did, so that a plugin author reads
the fix off the test report instead of a bare ``AssertionError``.
"""

from __future__ import annotations

import inspect
import json
import urllib.parse
from pathlib import Path
from typing import Any, NoReturn


class ContractError(AssertionError):
    """A contract check failed: the plugin did something other than the contract says."""


def contract_failure(*, expected: str, got: str, check: str = "") -> NoReturn:
    """Fail the running check: ``expected`` is what the contract says, ``got`` what happened.

    Raises:
        ContractError: an ``AssertionError`` whose message holds both.
    """
    head = f"{check}: " if check else ""
    raise ContractError(f"{head}the contract expects {expected}; the plugin {got}")


def expect(condition: object, *, expected: str, got: str, check: str = "") -> None:
    """Fail with :func:`contract_failure` unless ``condition`` is true."""
    if not condition:
        contract_failure(expected=expected, got=got, check=check)


def expect_raises(
    error: type[BaseException], call: Any, *, expected: str, what: str, check: str = ""
) -> BaseException:
    """Call ``call()``; return the ``error`` it raises, or fail saying what it did instead."""
    try:
        result = call()
    except error as exc:
        return exc
    except Exception as exc:  # the wrong error is the failure to report
        contract_failure(
            expected=expected, got=f"raised {type(exc).__name__}: {exc} ({what})", check=check
        )
    contract_failure(expected=expected, got=f"returned {result!r} ({what})", check=check)


def secret_forms(value: str) -> set[str]:
    """The forms a secret can take in a file: raw, ``repr``, JSON-escaped, URL-encoded."""
    return {
        value,
        repr(value)[1:-1],
        json.dumps(value)[1:-1],
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
    }


def files_holding(root: Path, value: str) -> list[str]:
    """Return the files under ``root`` whose name or bytes hold any form of ``value``."""
    forms = secret_forms(value)
    encoded = [f.encode() for f in forms]
    found = []
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if any(form in relative for form in forms):
            found.append(relative)
        elif path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(form in data for form in encoded):
                found.append(relative)
    return found


def check_signature(method: Any, base_method: Any, what: str) -> None:
    """Fail unless ``method`` accepts every call ``base_method`` accepts.

    Same parameters in the same order and of the same kind; any extra parameter
    has a default.
    """
    mine = list(inspect.signature(method).parameters.values())
    base = list(inspect.signature(base_method).parameters.values())
    expected = f"{what} to take the base's parameters {[p.name for p in base]}"
    names = [p.name for p in mine[: len(base)]]
    expect(
        names == [p.name for p in base], expected=expected, got=f"takes {[p.name for p in mine]}"
    )
    for got, want in zip(mine, base, strict=False):
        expect(
            got.kind == want.kind,
            expected=f"{what}: parameter {got.name} to be {want.kind}",
            got=f"made it {got.kind}",
        )
        if want.default is not inspect.Parameter.empty:
            expect(
                got.default is not inspect.Parameter.empty,
                expected=f"{what}: parameter {got.name} to keep a default",
                got="dropped it",
            )
    extra = [
        p.name
        for p in mine[len(base) :]
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    expect(
        not extra,
        expected=f"{what} to add no required parameter (give extras defaults)",
        got=f"adds required parameters {extra}",
    )


__all__ = [
    "ContractError",
    "check_signature",
    "contract_failure",
    "expect",
    "expect_raises",
    "files_holding",
    "secret_forms",
]
