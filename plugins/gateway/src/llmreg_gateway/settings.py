"""One settings object for the gateway: :class:`GatewaySettings`.

Built once (from ``llmreg serve``'s options, ``create_app``'s keyword arguments, a
JSON file or the workers' environment), validated there, then handed as it is to
the app, its routes and every worker process. Keys stay references (``env:NAME``,
a keys file's path): no secret is ever held here, so :meth:`GatewaySettings.to_json`
is safe to put in a worker's environment.

Imports neither fastapi nor uvicorn.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from llmreg.errors import ConfigError
from llmreg.uris import check_alias
from llmreg_gateway.drain import GRACE_S

if TYPE_CHECKING:
    from llmreg_gateway.controls.settings import ControlSettings

#: The largest request body the app reads, in bytes; larger ones get HTTP 413.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
#: The most rows one ``/predict`` request may carry (each row is an upstream call).
DEFAULT_MAX_ROWS = 256
#: The largest upstream answer the gateway reads, in bytes; larger ones are a 502.
DEFAULT_MAX_UPSTREAM_BYTES = 16 * 1024 * 1024
#: Seconds a client has to send the whole request body once its headers arrived.
BODY_TIMEOUT_S = 30.0
#: Seconds a client has to send a request's headers.
HEADER_TIMEOUT_S = 10.0

#: The environment variable that carries the settings to worker processes (JSON).
SETTINGS_ENV = "LLMREG_SERVE_WORKER_SETTINGS"


class AppOptions(TypedDict, total=False):
    """The settings ``create_app`` takes as keyword arguments (see :class:`GatewaySettings`)."""

    alias: str | None
    discover_interval: float
    reload_interval: float
    max_body_bytes: int
    body_timeout: float
    header_timeout: float
    graceful_timeout: float
    max_rows: int
    max_upstream_bytes: int
    api_keys: Sequence[str]
    keys_file: str | os.PathLike[str] | None
    admin_key: str | None
    no_auth: bool
    protect_ready: bool
    protect_metrics: bool
    access_log: bool
    metrics: bool
    state: str
    prices: str | os.PathLike[str] | None
    key_limits: str | Mapping[str, Any] | None
    key_budget: str | Mapping[str, Any] | None
    cache_ttl: float
    cache_shared: bool
    rollout_interval: float


@dataclass(frozen=True)
class GatewaySettings:
    """Everything that shapes a gateway app, checked once.

    Attributes:
        model_uris: the URIs served (each loads and reloads on its own).
        alias: also serve ``models:/NAME@ALIAS`` for every registered model with it.
        register: the register config that lists models for ``alias`` (default: the
            plugins' default register).
        loader: the loader config (default: the ``serve.loader`` default).
        discover_interval: seconds between two listings for ``alias``.
        reload_interval: seconds between checks of an alias URI (0: off).
        max_body_bytes: larger request bodies get 413.
        body_timeout: seconds a client has to send a body; then 408, connection closed.
        header_timeout: seconds a client has to send its headers (the CLI's protocol).
        graceful_timeout: seconds streams in flight get after SIGTERM (``llmreg serve``).
        max_rows: the most rows one ``/predict`` request may carry; more get 413.
        max_upstream_bytes: the largest upstream answer read; a larger one is a 502.
        api_keys: key references (``env:NAME``), never keys.
        keys_file: a file of sha256 key hashes.
        admin_key: the reference of the key ``POST /admin/reload`` asks for.
        no_auth: ask for no key on the model routes even when keys are given.
        protect_ready: ``/ready`` asks for a key too.
        protect_metrics: ``/metrics`` asks for a key too.
        access_log: one JSON line per request on the access logger.
        metrics: keep Prometheus metrics for ``/metrics``.
        state: where the controls keep their counters and managed keys:
            ``memory://`` (this process) or ``redis://HOST:PORT/DB`` (shared); a
            URL with a password only as ``env:NAME``.
        prices: a JSON prices file; answers then carry ``usage.cost_usd``.
        key_limits: limits of each env/file key (and of an open gateway's caller),
            ``rpm=N,tpm=N,concurrent=N``.
        key_budget: the budget of each such key, ``USD/daily`` or ``USD/monthly``.
        cache_ttl: seconds a cached chat answer lives; 0 turns the cache off.
        cache_shared: one cache for every key (default: each key its own).
        rollout_interval: seconds between two reads of the served aliases' rollouts
            (0: off; needs a register that lists models, such as llmreg-mlflow's).
    """

    model_uris: tuple[str, ...] = ()
    alias: str | None = None
    register: Mapping[str, Any] | None = None
    loader: Mapping[str, Any] | None = None
    discover_interval: float = 30.0
    reload_interval: float = 30.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    body_timeout: float = BODY_TIMEOUT_S
    header_timeout: float = HEADER_TIMEOUT_S
    graceful_timeout: float = GRACE_S
    max_rows: int = DEFAULT_MAX_ROWS
    max_upstream_bytes: int = DEFAULT_MAX_UPSTREAM_BYTES
    api_keys: tuple[str, ...] = ()
    keys_file: str | None = None
    admin_key: str | None = None
    no_auth: bool = False
    protect_ready: bool = False
    protect_metrics: bool = False
    access_log: bool = True
    metrics: bool = True
    state: str = "memory://"
    prices: str | None = None
    key_limits: str | None = None
    key_budget: str | None = None
    cache_ttl: float = 0.0
    cache_shared: bool = False
    rollout_interval: float = 5.0

    def __post_init__(self) -> None:
        _check(self)

    @classmethod
    def build(cls, **options: Any) -> GatewaySettings:
        """Build and check the settings from keyword arguments, named as the attributes.

        Raises:
            ConfigError: an unknown option, or a value of the wrong type or range;
                the message names the option and what it takes.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise ConfigError(
                f"unknown gateway setting(s): {', '.join(unknown)}; "
                f"the settings are {', '.join(sorted(names))}"
            )
        values = dict(options)
        for name in ("model_uris", "api_keys"):
            if name in values:
                values[name] = _strings(name, values[name])
        for name in ("register", "loader"):
            if values.get(name) is not None:
                values[name] = _mapping(name, values[name])
        for name in ("keys_file", "prices"):
            if values.get(name) is not None:
                values[name] = os.fspath(values[name])
        for name in ("key_limits", "key_budget"):
            if isinstance(values.get(name), Mapping):
                values[name] = _pairs(values[name])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str, source: str = "the settings") -> GatewaySettings:
        """Read settings written by :meth:`to_json` (or a ``--config`` file's text).

        Raises:
            ConfigError: the text is not a JSON object of known settings.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source} are not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source} must be a JSON object of settings")
        return cls.build(**data)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> GatewaySettings:
        """Read a JSON settings file (``llmreg serve --config FILE``).

        Raises:
            ConfigError: the file cannot be read or holds no valid settings.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--config {path}: cannot be read ({exc})") from None
        return cls.from_json(text, f"--config {path}")

    @classmethod
    def from_env(cls, name: str = SETTINGS_ENV) -> GatewaySettings:
        """Read the settings a parent process put in the environment variable ``name``.

        Raises:
            ConfigError: the variable is unset or holds no valid settings.
        """
        text = os.environ.get(name)
        if text is None:
            raise ConfigError(f"the environment variable {name} holds no gateway settings")
        return cls.from_json(text, f"the settings in {name}")

    def control_settings(self) -> ControlSettings:
        """The controls' settings (:class:`~llmreg_gateway.controls.ControlSettings`).

        Raises:
            ConfigError: ``key_limits`` or ``key_budget`` cannot be read.
        """
        from llmreg_gateway.auth import resolve_reference
        from llmreg_gateway.controls.settings import ControlSettings, parse_budget, parse_limits

        state = self.state
        if state.startswith("env:"):
            state = resolve_reference(state, "--state")
        return ControlSettings(
            state=state,
            prices_file=self.prices,
            key_limits=parse_limits(self.key_limits),
            key_budget=parse_budget(self.key_budget),
            cache_ttl=float(self.cache_ttl),
            cache_shared=self.cache_shared,
        )

    @property
    def controlled(self) -> bool:
        """Whether every request goes through the controls (a limit, budget, prices
        or the cache is set); managed keys always do."""
        return bool(self.key_limits or self.key_budget or self.prices or self.cache_ttl)

    def replace(self, **changes: Any) -> GatewaySettings:
        """A copy with ``changes`` applied and checked again."""
        return GatewaySettings.build(**{**self.as_dict(), **changes})

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values (references, never keys)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    def to_json(self) -> str:
        """The settings as one JSON object, for :meth:`from_json` in another process."""
        return json.dumps(self.as_dict(), sort_keys=True)


def _pairs(value: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in value.items())


def _strings(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"gateway setting {name} must be a list of strings, not {value!r:.60}")
    return tuple(value)


def _mapping(name: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"gateway setting {name} must be a config object such as "
            f'{{"KIND": "..."}}, not {type(value).__name__}'
        )
    return dict(value)


_POSITIVE = ("max_body_bytes", "max_rows", "max_upstream_bytes")
_SECONDS = (
    "discover_interval",
    "reload_interval",
    "graceful_timeout",
    "cache_ttl",
    "rollout_interval",
)
_TIMEOUTS = ("body_timeout", "header_timeout")
_FLAGS = ("no_auth", "protect_ready", "protect_metrics", "access_log", "metrics", "cache_shared")


def _check(settings: GatewaySettings) -> None:
    """Check every value's type and range.

    Raises:
        ConfigError: naming the setting, what it holds and what it takes.
    """
    _check_numbers(settings)
    for name in _FLAGS:
        if not isinstance(getattr(settings, name), bool):
            raise ConfigError(f"gateway setting {name} must be true or false")
    for name in ("model_uris", "api_keys"):
        value = getattr(settings, name)
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"gateway setting {name} must be a list of strings")
    _check_references(settings)
    if settings.alias is not None:
        check_alias(settings.alias, ConfigError)
    _check_controls(settings)


def _check_controls(settings: GatewaySettings) -> None:
    state = settings.state
    if not isinstance(state, str) or not state.startswith(
        ("memory://", "redis://", "rediss://", "env:")
    ):
        raise ConfigError(
            "--state: use memory://, redis://HOST:PORT/DB, or env:NAME for a URL with a password"
        )
    if "@" in state.partition("://")[2].partition("/")[0]:
        # the settings go into workers' environments: a password only by reference
        raise ConfigError(
            "--state: a Redis URL with a password is a secret: put it in an environment "
            "variable and give --state env:NAME"
        )
    for name in ("prices", "key_limits", "key_budget"):
        if getattr(settings, name) is not None and not isinstance(getattr(settings, name), str):
            raise ConfigError(f"gateway setting {name} must be a string")
    from llmreg_gateway.controls.settings import parse_budget, parse_limits

    parse_limits(settings.key_limits)
    parse_budget(settings.key_budget)


def _check_numbers(settings: GatewaySettings) -> None:
    for name in _POSITIVE:
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"gateway setting {name} must be a positive integer, not {value!r}")
    for name in _SECONDS + _TIMEOUTS:
        value = getattr(settings, name)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < 0:
            raise ConfigError(f"gateway setting {name} must be seconds (0 or more), not {value!r}")
        if name in _TIMEOUTS and value == 0:
            raise ConfigError(f"gateway setting {name} must be more than 0 seconds")


def _check_references(settings: GatewaySettings) -> None:
    # a key itself must never sit here: the settings go into workers' environments
    named = [("--api-key", r) for r in settings.api_keys]
    for option, reference in [*named, ("--admin-key", settings.admin_key)]:
        if reference is None:
            continue
        if not isinstance(reference, str) or not reference.startswith("env:") or not reference[4:]:
            raise ConfigError(
                f"{option} takes a reference such as env:LLMREG_API_KEY, not the key itself: "
                "keys are never passed on the command line"
            )
    if settings.keys_file is not None and not isinstance(settings.keys_file, str):
        raise ConfigError("gateway setting keys_file must be a path")


__all__ = [
    "BODY_TIMEOUT_S",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_MAX_UPSTREAM_BYTES",
    "HEADER_TIMEOUT_S",
    "SETTINGS_ENV",
    "AppOptions",
    "GatewaySettings",
]
