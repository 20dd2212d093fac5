"""API keys for the serving app: given as references, kept as sha256 hashes, constant-time checks.

A key is never held in plain text past start-up: ``env:NAME`` references are read
once and hashed, and a keys file holds only hashes (:func:`read_keys_file`: one
``sha256-hex [MODELS]`` per line, the line ``sha256sum`` prints being one).
A presented bearer token is hashed and compared with every known hash through
:func:`hmac.compare_digest`, so neither the comparison nor the loop stops early.

The key id written to logs is the first 12 hex characters of the key's sha256,
never the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from llmreg.errors import ConfigError
from llmreg_gateway.errors import ApiError

#: How many hex characters of a key's sha256 name it in logs and errors.
KEY_ID_CHARS = 12
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def key_hash(key: str) -> str:
    """Return the sha256 hex digest of ``key`` (what a keys file holds)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id(digest: str) -> str:
    """Return the short id of a key hash, for logs: its first :data:`KEY_ID_CHARS` hex digits."""
    return digest[:KEY_ID_CHARS]


@dataclass(frozen=True)
class ApiKey:
    """One accepted key, by its hash.

    Attributes:
        digest: the sha256 hex digest of the key.
        models: the model names (or URIs) the key may call; ``None`` for every model.
    """

    digest: str
    models: frozenset[str] | None = None

    @property
    def id(self) -> str:
        """The key id shown in logs (a prefix of its hash)."""
        return key_id(self.digest)

    def allows(self, names: Iterable[str | None]) -> bool:
        """Whether the key may call a model known by any of ``names``."""
        return self.models is None or any(n in self.models for n in names if n)


def resolve_reference(reference: str, option: str = "--api-key") -> str:
    """Return the key a reference names: ``env:NAME`` reads the environment variable NAME.

    Raises:
        ConfigError: the reference is not ``env:NAME``, or the variable is unset or empty.
    """
    if not reference.startswith("env:") or not reference[4:]:
        raise ConfigError(
            f"{option} takes a reference such as env:LLMREG_API_KEY, not the key itself: "
            "keys are never passed on the command line"
        )
    name = reference[4:]
    value = os.environ.get(name, "")
    if not value.strip():
        raise ConfigError(f"{option} {reference}: the environment variable {name} is not set")
    return value.strip()


#: What may follow a hash to mean "every model": ``sha256sum``'s name for stdin (``-``,
#: ``*-`` in binary mode) and ``*``.
ALL_MODELS = frozenset({"-", "*", "*-"})


def parse_keys_line(line: str) -> tuple[str, frozenset[str] | None] | None:
    """Read one line of a keys file: ``None`` for a blank or comment line, else the hash
    (lowercase) and the model names the key may call (``None``: every model).

    The grammar: ``HASH [MODELS]``, where ``HASH`` is 64 hex digits and ``MODELS``,
    after whitespace, is a comma-separated list of model names (spaces around commas
    allowed), or a lone ``-``, ``*-`` or ``*`` for every model, as is nothing at all.
    ``#`` starts a comment. ``printf %s KEY | sha256sum`` prints ``HASH  -``: a key
    for every model.

    Raises:
        ValueError: the line's first word is not 64 hex digits.
    """
    line = line.split("#", 1)[0].strip()
    if not line:
        return None
    digest, *tail = line.split(None, 1)
    digest = digest.lower()
    if not _HEX64.match(digest):
        raise ValueError("not a sha256 hex digest (64 hex digits)")
    rest = tail[0].strip() if tail else ""
    if not rest or rest in ALL_MODELS:
        return digest, None
    names = frozenset(m.strip() for m in rest.split(",") if m.strip())
    return digest, names or None


def read_keys_file(path: str | os.PathLike[str]) -> list[ApiKey]:
    """Read a keys file: one ``sha256-hex [model1,model2]`` per line (:func:`parse_keys_line`).

    Raises:
        ConfigError: the file cannot be read, or a line is not a sha256 hex digest.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--keys-file {path}: cannot be read ({exc})") from None
    keys = []
    for number, raw in enumerate(text.splitlines(), 1):
        try:
            parsed = parse_keys_line(raw)
        except ValueError:
            raise ConfigError(
                f"--keys-file {path}, line {number}: not a sha256 hex digest (64 hex digits); "
                "write sha256(key), never the key (e.g. printf %s KEY | sha256sum)"
            ) from None
        if parsed is not None:
            keys.append(ApiKey(*parsed))
    return keys


class KeyRing:
    """The keys a serving app accepts, and whether it checks them at all.

    Args:
        keys: the accepted API keys (by hash).
        admin: hashes of the admin keys (``POST /admin/reload``).
        open: no key is asked for the model routes (``--no-auth``, or a library
            app built without keys).
    """

    def __init__(
        self, keys: Sequence[ApiKey] = (), admin: Sequence[str] = (), *, open: bool = False
    ) -> None:
        self.keys = tuple(keys)
        self.admin = tuple(admin)
        self.open = open

    @classmethod
    def build(
        cls,
        api_keys: Sequence[str] = (),
        keys_file: str | os.PathLike[str] | None = None,
        admin_key: str | None = None,
        *,
        no_auth: bool = False,
    ) -> KeyRing:
        """Build the ring from references (``env:NAME``) and a keys file.

        With neither keys nor a keys file, the ring is open (every request passes).

        Raises:
            ConfigError: a reference or the keys file is invalid.
        """
        keys = [ApiKey(key_hash(resolve_reference(r))) for r in api_keys]
        if keys_file is not None:
            keys += read_keys_file(keys_file)
        admin = [key_hash(resolve_reference(admin_key, "--admin-key"))] if admin_key else []
        return cls(keys, admin, open=no_auth or not keys)

    @staticmethod
    def _bearer(authorization: str | None) -> str | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token else None

    def _match(self, token: str, digests: Iterable[str]) -> str | None:
        presented = key_hash(token)
        found = None
        for digest in digests:  # no early exit: every hash is compared
            if hmac.compare_digest(presented, digest):
                found = digest
        return found

    def identify(self, authorization: str | None) -> ApiKey | None:
        """Return the key of an ``Authorization: Bearer KEY`` header, or ``None`` if unknown."""
        token = self._bearer(authorization)
        if token is None:
            return None
        digest = self._match(token, [k.digest for k in self.keys])
        return next((k for k in self.keys if k.digest == digest), None)

    def authenticate(self, authorization: str | None) -> ApiKey | None:
        """Check a model route's key; return it (``None`` on an open ring).

        Raises:
            ApiError: 401 without a valid key.
        """
        if self.open:
            return None
        key = self.identify(authorization)
        if key is None:
            raise unauthorized(authorization)
        return key

    @staticmethod
    def authorize(key: ApiKey | None, names: Iterable[str | None]) -> None:
        """Check that ``key`` may call the model known by ``names`` (any passes on ``None``).

        Raises:
            ApiError: 403 for a key limited to other models.
        """
        names = [n for n in names if n]
        if key is None or key.allows(names):
            return
        raise ApiError(
            403,
            f"this API key (id {key.id}) may not call model {names[0] if names else '?'}",
            type="permission_error",
            param="model",
            code="model_not_allowed",
        )

    def require_admin(self, authorization: str | None) -> str | None:
        """Check an admin route's key; return its key id.

        Without admin keys admin requests are refused (403), even on an open ring
        (``--no-auth`` opens the model routes, never the admin ones).

        Raises:
            ApiError: 401 without a valid admin key, 403 when no admin key is set.
        """
        if not self.admin:
            raise ApiError(
                403,
                "admin routes are off: start the server with --admin-key env:NAME",
                type="permission_error",
                code="admin_disabled",
            )
        token = self._bearer(authorization)
        digest = self._match(token, self.admin) if token else None
        if digest is None:
            raise unauthorized(authorization, admin=True)
        return key_id(digest)


def unauthorized(authorization: str | None, *, admin: bool = False) -> ApiError:
    """The 401 for a missing or unknown key, in OpenAI's error shape."""
    what = "admin key" if admin else "API key"
    if not authorization:
        message = f"this route needs an {what}: send 'Authorization: Bearer KEY'"
    else:
        message = f"invalid {what}: send 'Authorization: Bearer KEY' with a key this server knows"
    return ApiError(401, message, type="invalid_request_error", code="invalid_api_key")


__all__ = [
    "ALL_MODELS",
    "KEY_ID_CHARS",
    "ApiKey",
    "KeyRing",
    "key_hash",
    "key_id",
    "parse_keys_line",
    "read_keys_file",
    "resolve_reference",
    "unauthorized",
]
