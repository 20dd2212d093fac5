"""Choosing the state backend a ``--state`` URL names (memory or Redis).

Apart from :mod:`llmreg_gateway.controls.state`, which the backends import for their
base class and operations, so that no import cycle joins them.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from llmreg.errors import ConfigError
from llmreg_gateway.controls.state import SCHEMES, StateBackend, redacted


def state_from_url(url: str, *, options: Mapping[str, float] | None = None) -> StateBackend:
    """Build the backend a URL names: ``memory://`` or ``redis://host:port/db``.

    ``rediss://`` (TLS) and ``unix:///path?db=N`` are Redis too. A password belongs
    in the URL's user part, read from the environment by the caller; it never
    appears in an error message.

    Args:
        url: the state URL (``--state``).
        options: ``timeout`` (seconds per Redis call, default 0.5).

    Raises:
        ConfigError: the URL is empty, names another scheme, is malformed, or names
            Redis without redis-py installed (``pip install 'llmreg-gateway[redis]'``).
    """
    scheme = urlsplit(url).scheme.lower() if url else ""
    if scheme not in SCHEMES:
        raise ConfigError(
            f"--state {redacted(url)!r}: expected memory:// or redis://HOST:PORT/DB "
            f"(schemes: {', '.join(SCHEMES)})"
        )
    if scheme == "memory":
        if url.rstrip("/") != "memory:":
            raise ConfigError(f"--state {url!r}: memory:// takes no host, path or options")
        from llmreg_gateway.controls.memory_state import MemoryState

        return MemoryState()
    from llmreg_gateway.controls.redis_state import RedisState

    return RedisState.from_url(url, timeout=(options or {}).get("timeout", 0.5))


__all__ = ["state_from_url"]
