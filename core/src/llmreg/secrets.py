"""Secrets, in one place: every form a secret takes in text, finding it, masking it.

A secret never lands in an artifact, a param, a tag, a log line, an error message or an
HTTP body, in any of its forms (:func:`secret_forms`: ``repr``, JSON, URL-encoded...).
Code that writes checks with :func:`find_secret` and refuses; code that reports masks
with :func:`redact` (URL user-info too). The process remembers the secrets of what it
loaded in :data:`SECRETS`; :class:`RedactingFilter` masks log records with them.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

#: What replaces a secret.
MASK = "***"
#: Shorter values are not masked: masking ``"a"`` would garble every message.
MIN_SECRET_CHARS = 4

#: Words that make a header name a credential's wherever they appear in it, in any case:
#: ``Authorization``, ``api-key``, ``Ocp-Apim-Subscription-Key``, ``X-Auth``, ``X-Api-Token``,
#: ``X-Amz-Signature``, ``Cookie``... A class, not a list: a new vendor's header is covered.
CREDENTIAL_HEADER_WORDS = re.compile(
    r"auth|key|token|secret|passw(?:or)?d|passphrase|credential|signature|cookie", re.I
)
#: Header names that hold one of those words but never carry a credential.
NOT_CREDENTIAL_HEADERS = frozenset({"idempotency-key", "x-idempotency-key", "sec-websocket-key"})

#: The user-info part of a URL: ``scheme://`` then anything up to ``@`` that is not a
#: ``/``, whitespace or another ``@`` (the host follows the ``@``).
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/\s@'\"]+)@")


def _escaped_forms(value: str) -> set[str]:
    """The forms of one value: raw, ``repr``, bytes ``repr``, JSON, escaped, URL-encoded."""
    forms = {value}
    forms.add(repr(value)[1:-1])
    forms.add(repr(value.encode("utf-8", "surrogatepass"))[2:-1])
    forms.add(json.dumps(value)[1:-1])
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms.add(value.encode("unicode_escape").decode("ascii"))
    forms.add(urllib.parse.quote(value, safe=""))
    forms.add(urllib.parse.quote(value))
    forms.add(urllib.parse.quote_plus(value, safe=""))
    return forms


def secret_forms(value: str) -> set[str]:
    """Return every form in which ``value`` can appear in a message or log line: raw,
    ``repr`` (of the text and of its UTF-8 bytes), JSON, ``unicode_escape`` and URL-encoded,
    of the value as is, stripped and with whitespace collapsed; none shorter than
    :data:`MIN_SECRET_CHARS`."""
    if not isinstance(value, str) or not value:
        return set()
    variants = {value, value.strip(), " ".join(value.split())}
    forms: set[str] = set()
    for variant in variants:
        if variant:
            forms |= _escaped_forms(variant)
    return {form for form in forms if len(form) >= MIN_SECRET_CHARS}


def is_credential_header(name: str) -> bool:
    """Whether an HTTP header named ``name`` carries a credential: the one rule llmreg uses.

    A literal value of such a header is never persisted, and its value is masked like
    a key. Any name holding ``auth``, ``key``, ``token``, ``secret``, ``password``,
    ``credential``, ``signature`` or ``cookie`` (any case) is one (``Ocp-Apim-Subscription-Key``,
    ``X-Auth``), except the few in :data:`NOT_CREDENTIAL_HEADERS`.
    """
    lowered = name.strip().lower()
    return lowered not in NOT_CREDENTIAL_HEADERS and bool(CREDENTIAL_HEADER_WORDS.search(lowered))


def mask_userinfo(text: str) -> str:
    """Return ``text`` with the user-info of every URL in it masked."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with every form of every secret, and URL user-info, masked.

    Longer forms are replaced first, so that a form that contains another is
    masked whole.
    """
    if not isinstance(text, str):
        text = str(text)
    for form in _all_forms(secrets):
        if form in text:
            text = text.replace(form, MASK)
    return mask_userinfo(text)


def redact_deep(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Return ``value`` with :func:`redact` applied to every string it holds, in
    mappings (as dicts), lists and tuples (as lists), at any depth; other values as
    they are. For what goes into a trace, an assessment or a JSON body.
    """
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {k: redact_deep(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_deep(v, secrets) for v in value]
    return value


def _all_forms(secrets: Iterable[str]) -> tuple[str, ...]:
    """Every form of every secret, longest first (computed once per set of secrets)."""
    return _forms_of(frozenset(s for s in secrets if isinstance(s, str)))


@functools.lru_cache(maxsize=256)
def _forms_of(secrets: frozenset[str]) -> tuple[str, ...]:
    # A log filter masks every line with the same few secrets: their ~20 forms each
    # are built once, not per line.
    forms: set[str] = set()
    for secret in secrets:
        forms |= secret_forms(secret)
    return tuple(sorted(forms, key=len, reverse=True))


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
    """A thread-safe set of the secrets of the models this process loaded, to mask what it
    reports (:meth:`redact`)."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._forms: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        """Remember ``values`` (too short ones are ignored)."""
        with self._lock:
            new = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_CHARS}
            if new - self._secrets:
                self._secrets |= new
                self._forms = _all_forms(self._secrets)

    def values(self) -> set[str]:
        """The secrets remembered so far."""
        with self._lock:
            return set(self._secrets)

    def redact(self, text: str) -> str:
        """Return ``text`` with every remembered secret (every form) and URL user-info masked."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return mask_userinfo(text)

    def clear(self) -> None:
        """Forget every secret."""
        with self._lock:
            self._secrets.clear()
            self._forms = ()


#: The process's registry: the secrets of what the CLI and the serving app loaded.
SECRETS = SecretRegistry()


class RedactingFilter(logging.Filter):
    """A logging filter (for a handler) that masks secrets, and URL user-info, in each
    record's message, exception text and stack info.

    ``secrets`` are the values, or a callable asked per record (default: the process's
    :data:`SECRETS`).
    """

    def __init__(
        self, secrets: Iterable[str] | Callable[[], Iterable[str]] | None = None, name: str = ""
    ) -> None:
        super().__init__(name)
        self._lock = threading.Lock()
        self._source: Callable[[], Iterable[str]] | None = None
        self._secrets: set[str] = set()
        if secrets is None:
            self._source = SECRETS.values
        elif callable(secrets):
            self._source = secrets
        else:
            self._secrets = {s for s in secrets if isinstance(s, str)}

    def add(self, values: Iterable[str]) -> None:
        """Remember more secret values."""
        with self._lock:
            self._secrets.update(v for v in values if isinstance(v, str))

    def secrets(self) -> set[str]:
        """The secret values masked now."""
        with self._lock:
            values = set(self._secrets)
        if self._source is not None:
            values.update(v for v in self._source() if isinstance(v, str))
        return values

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops it."""
        secrets = self.secrets()
        record.msg = redact(record.getMessage(), secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


__all__ = [
    "CREDENTIAL_HEADER_WORDS",
    "MASK",
    "MIN_SECRET_CHARS",
    "NOT_CREDENTIAL_HEADERS",
    "SECRETS",
    "RedactingFilter",
    "SecretRegistry",
    "find_secret",
    "is_credential_header",
    "mask_userinfo",
    "redact",
    "redact_deep",
    "secret_forms",
]
