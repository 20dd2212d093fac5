"""Scan what a saver is about to write for secret values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from llmreg.errors import SecretPersistError


def find_secret(text: str | bytes, secrets: Iterable[str]) -> bool:
    """Whether any non-empty ``secrets`` value occurs in ``text``."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return any(s and s.encode("utf-8") in data for s in secrets)


def check_texts(named: Mapping[str, str | bytes], secrets: list[str]) -> None:
    """Raise if a secret occurs in any of the named texts (artifacts, params, tags).

    Raises:
        SecretPersistError: naming where the secret was found, never the secret itself.
    """
    hits = sorted(name for name, text in named.items() if find_secret(text, secrets))
    if hits:
        raise SecretPersistError(
            f"a secret value (the resolved api_key) would be written in: {', '.join(hits)}. "
            "Nothing was written. Remove the key from those fields; keep only a reference "
            "such as 'env:OPENAI_API_KEY' in api_key."
        )


def check_directory(root: str | Path, secrets: list[str]) -> None:
    """Raise if a secret occurs in any file under ``root``.

    Raises:
        SecretPersistError: naming the files, never the secret.
    """
    if not secrets:
        return
    base = Path(root)
    files = {str(p.relative_to(base)): p.read_bytes() for p in base.rglob("*") if p.is_file()}
    check_texts(files, secrets)
