"""Redirects: followed within the endpoint's origin, refused to any other.

A redirect to another origin (scheme, host or port) would carry the request's
credentials there: the bearer key and every header of the definition's
``extra_headers`` (an Azure-style ``api-key``, a vendor's ``X-Auth``...). httpx drops
only ``Authorization`` on such a hop, and no rule can know every credential header, so
both paths (the lean one, :mod:`llmreg_litellm._http`, and the SDK's, through the
response hook :func:`refuse_cross_origin`) refuse to follow one at all:
:class:`RedirectRefused` is raised before anything is sent to the new origin, and
becomes a :class:`~llmreg.errors.ProviderRedirectError`. A redirect within the origin
is followed, with its headers, as before.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import openai

#: The statuses that redirect (with a ``Location``).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: At most this many redirects per request (httpx's limit, as the SDK's path has it).
MAX_REDIRECTS = 20
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int | None]:
    """The origin of ``url``: scheme and host in lower case, and the port (the default one
    of the scheme when none is written)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: no origin matches it
        port = -1
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def origin_text(url: str) -> str:
    """``scheme://host:port`` of ``url``: no user-info, path, query or fragment."""
    scheme, host, port = origin(url)
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def redirect_target(url: str, location: str) -> str:
    """The absolute URL a ``Location`` header names, relative to the request's ``url``."""
    return urljoin(url, location.strip())


class RedirectRefused(openai.APIError):
    """An endpoint redirected a request to another origin; it was not followed.

    Raised as an SDK error (so that the SDK passes it on without retrying it), and typed
    as a :class:`~llmreg.errors.ProviderRedirectError` by
    :func:`llmreg_litellm._errors.provider_error`.

    Attributes:
        status_code: the redirect's HTTP status.
        target: the new origin (``scheme://host:port`` only).
    """

    def __init__(self, status: int, target_url: str, request: Any) -> None:
        self.status_code = status
        self.target = origin_text(target_url)
        super().__init__(
            f"a redirect to another origin ({self.target})", request=request, body=None
        )


async def refuse_cross_origin(response: Any) -> None:
    """httpx response hook: raise :class:`RedirectRefused` for a redirect to another origin.

    httpx runs response hooks before it follows a redirect, so nothing is sent there.
    """
    if response.status_code not in REDIRECT_STATUSES or "location" not in response.headers:
        return
    url = str(response.request.url)
    target = redirect_target(url, response.headers["location"])
    if origin(target) != origin(url):
        raise RedirectRefused(response.status_code, target, response.request)


__all__ = [
    "MAX_REDIRECTS",
    "REDIRECT_STATUSES",
    "RedirectRefused",
    "origin",
    "origin_text",
    "redirect_target",
    "refuse_cross_origin",
]
