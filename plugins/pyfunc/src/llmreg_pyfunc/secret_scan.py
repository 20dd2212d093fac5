"""Scan what a saver is about to write for secret values, with the core's rules.

A secret is looked for in every form :func:`llmreg.secrets.find_secret` knows (raw,
``repr``, JSON-escaped, URL-encoded); this module only names where it was found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from llmreg.errors import SecretPersistError
from llmreg.secrets import find_secret


def refusal(where: Iterable[str]) -> str:
    """The message of a refused save: where a secret would have been written, never the secret."""
    return (
        f"a secret value (a resolved api_key or credential header) would be written in: "
        f"{', '.join(where)}. Nothing was written. Remove the value from there; keep only a "
        "reference such as 'env:OPENAI_API_KEY' in api_key."
    )


def check_texts(named: Mapping[str, str], secrets: Iterable[str]) -> None:
    """Raise if a secret occurs, in any form, in any of the named texts (artifacts, params, tags).

    Raises:
        SecretPersistError: naming where the secret was found, never the secret itself.
    """
    where = find_secret(named, list(secrets))
    if where is not None:
        raise SecretPersistError(refusal([where]))


def check_directory(root: str | Path, secrets: Iterable[str]) -> None:
    """Raise if a secret occurs, in any form, in any file under ``root``.

    Files are read as UTF-8 (undecodable bytes replaced): a secret is text.

    Raises:
        SecretPersistError: naming the file, never the secret.
    """
    values = list(secrets)
    if not values:
        return
    base = Path(root)
    files = {
        p.relative_to(base).as_posix(): p.read_bytes().decode("utf-8", errors="replace")
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }
    check_texts(files, values)


__all__ = ["check_directory", "check_texts", "refusal"]
