"""Console sessions: login with the admin key, a server-side session, CSRF tokens.

The admin key is compared in constant time and kept only in this process's
memory. A login makes a session stored server-side (the cookie holds a random
id, nothing else); each session has its own CSRF token, which every form
carries and every POST must match. The login form itself is protected by a
per-browser nonce cookie and its HMAC under a per-process random secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

#: The session cookie and the login nonce cookie.
SESSION_COOKIE = "llmreg_console"
LOGIN_COOKIE = "llmreg_console_login"
#: How long a session lasts without being used, in seconds.
SESSION_TTL = 8 * 3600.0
#: At most this many sessions are kept; the oldest goes first.
MAX_SESSIONS = 1000


@dataclass
class Session:
    """One logged-in browser: its CSRF token, expiry, and its playground comparisons."""

    csrf: str
    expires: float
    comparisons: dict[str, Any] = field(default_factory=dict)


class Sessions:
    """The admin key check and the server-side session table."""

    def __init__(self, admin_key: str, ttl: float = SESSION_TTL) -> None:
        # A digest, so that the key itself is not even held by this object.
        self._key_digest = hashlib.sha256(admin_key.encode()).digest()
        self._secret = secrets.token_bytes(32)
        self._ttl = ttl
        self._by_id: dict[str, Session] = {}

    def key_matches(self, candidate: str) -> bool:
        """Whether ``candidate`` is the admin key (constant time)."""
        digest = hashlib.sha256(candidate.encode()).digest()
        return hmac.compare_digest(digest, self._key_digest)

    def open(self) -> tuple[str, Session]:
        """Start a session; return its id (for the cookie) and the session."""
        while len(self._by_id) >= MAX_SESSIONS:
            self._by_id.pop(next(iter(self._by_id)))
        sid = secrets.token_urlsafe(32)
        session = Session(csrf=secrets.token_urlsafe(32), expires=time.time() + self._ttl)
        self._by_id[sid] = session
        return sid, session

    def find(self, request: Request) -> Session | None:
        """The live session of ``request``'s cookie, or ``None``; using it extends it."""
        sid = request.cookies.get(SESSION_COOKIE, "")
        session = self._by_id.get(sid)
        if session is None:
            return None
        now = time.time()
        if session.expires < now:
            self._by_id.pop(sid, None)
            return None
        session.expires = now + self._ttl
        return session

    def close(self, request: Request) -> None:
        """End ``request``'s session, if any."""
        self._by_id.pop(request.cookies.get(SESSION_COOKIE, ""), None)

    def login_token(self, nonce: str) -> str:
        """The login form's CSRF token for the browser's ``nonce`` cookie."""
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()

    def login_token_ok(self, request: Request, token: str) -> bool:
        """Whether ``token`` is the login token of ``request``'s nonce cookie."""
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        return bool(nonce) and hmac.compare_digest(self.login_token(nonce), token)


def csrf_ok(session: Session, token: str) -> bool:
    """Whether a form's ``token`` is ``session``'s CSRF token (constant time)."""
    return bool(token) and hmac.compare_digest(session.csrf.encode(), token.encode())


def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    """Set a console cookie: HttpOnly, SameSite=Strict, Secure over https, console path."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=request.scope.get("root_path") or "/",
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    """Remove a console cookie."""
    response.delete_cookie(
        name,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=request.scope.get("root_path") or "/",
    )


__all__ = [
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "Session",
    "Sessions",
    "clear_cookie",
    "csrf_ok",
    "set_cookie",
]
