"""Secrets, in one place: how a secret can appear in text, finding it, and masking it.

A secret (a resolved API key, a credential header value, the password of a URL)
never lands in an artifact, a param, a tag, a log line, an error message or an
HTTP body. Code that writes checks with :func:`find_secret` and refuses;
code that reports masks with :func:`redact` (or the process-wide
:class:`SecretRegistry` that the CLI and the serving app fill, and
:class:`RedactingFilter` on their log handlers).

A secret is looked for in every form a message can carry it: the raw value,
its ``repr`` (how Python shows a ``str`` or ``bytes`` with control
characters), JSON-escaped, URL-encoded (both ``%20`` and ``+`` styles). URL
userinfo (``http://user:pass@host``) is masked wherever it appears, secret or not.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping

#: What a masked secret is replaced by.
MASK = "***"
#: Secrets shorter than this are not masked (too likely to match ordinary text).
MIN_SECRET_CHARS = 4

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/@\s'\"]+)@")


def secret_forms(value: str) -> set[str]:
    """Return the forms ``value`` can take in a message: raw, repr, escaped, URL-encoded.

    Example:
        >>> sorted(secret_forms("a b\\n"))
        ['a b\\n', 'a b\\\\n', 'a%20b%0A', 'a+b%0A']
    """
    forms = {
        value,
        repr(value)[1:-1],
        repr(value.encode("utf-8", "backslashreplace"))[2:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
    }
    return {f for f in forms if f}


def _all_forms(secrets: Iterable[str]) -> list[str]:
    forms: set[str] = set()
    for secret in secrets:
        if isinstance(secret, str) and len(secret) >= MIN_SECRET_CHARS:
            forms |= secret_forms(secret)
            stripped = secret.strip()
            if len(stripped) >= MIN_SECRET_CHARS:
                forms |= secret_forms(stripped)
    # longest first: a form that contains another is masked whole
    return sorted(forms, key=len, reverse=True)


def mask_userinfo(text: str) -> str:
    """Return ``text`` with the userinfo of every URL masked (``http://***@host``)."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Return ``text`` with every form of every secret, and URL userinfo, masked."""
    for form in _all_forms(secrets):
        text = text.replace(form, MASK)
    return mask_userinfo(text)


def find_secret(texts: Mapping[str, str], secrets: Iterable[str]) -> str | None:
    """Return the name of the first text that holds a secret in any form, else ``None``.

    Savers call it on everything they are about to write, before writing.
    """
    forms = _all_forms(secrets)
    for name, text in texts.items():
        if any(form in text for form in forms):
            return name
    return None


class SecretRegistry:
    """A thread-safe set of secrets known to this process, for masking reports.

    The CLI and the serving app add the secrets of each model they load; log
    handlers and error messages are masked with :meth:`redact`.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._forms: list[str] = []
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        """Remember ``values`` (short ones are ignored)."""
        with self._lock:
            new = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_CHARS}
            if new - self._secrets:
                self._secrets |= new
                self._forms = _all_forms(self._secrets)

    def redact(self, text: str) -> str:
        """Return ``text`` with every remembered secret (every form) and URL userinfo masked."""
        for form in self._forms:
            text = text.replace(form, MASK)
        return mask_userinfo(text)

    def clear(self) -> None:
        """Forget every secret."""
        with self._lock:
            self._secrets.clear()
            self._forms = []


#: The process's registry: what the CLI and the serving app have loaded.
SECRETS = SecretRegistry()


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in each record's message and traceback.

    Args:
        registry: where the secrets come from; the process's :data:`SECRETS` by default.
    """

    def __init__(self, registry: SecretRegistry | None = None) -> None:
        super().__init__()
        self.registry = registry or SECRETS

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place (message, args, traceback); always keep it."""
        message = record.getMessage()
        record.msg = self.registry.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.registry.redact(record.exc_text)
        return True


__all__ = [
    "MASK",
    "SECRETS",
    "RedactingFilter",
    "SecretRegistry",
    "find_secret",
    "mask_userinfo",
    "redact",
    "secret_forms",
]
