"""Bad input, as one table: each case must end in a typed error that names the problem,
and leave nothing behind in the store.

Every case runs one call, through the Python API (``api``), the serving app over
HTTP (``http``) or the ``llmreg`` command line (``cli``), against one real sqlite
store that holds a saved and registered model (``chat`` version 1, alias
``@champion``; version 2 deleted). Around each case the store is snapshotted:
registered models and versions, runs left RUNNING, files under the artifact
root, and the private temporary folder must be the same after as before.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from reliability import tally
from reliability.models import KEY_VAR, definition, load, register, run_cli, save
from reliability.plugin_dists import BROKEN, INCOMPATIBLE, on_path, write_plugins
from reliability.serving import serving
from reliability.stores import Store, cli_env, use_store

from llmreg import ModelDefinition
from llmreg.errors import (
    ConfigError,
    ConfigFileNotFoundError,
    DefinitionError,
    IncompatiblePluginError,
    InvalidModelURIError,
    LlmregError,
    ModelNotFoundError,
    PluginLoadError,
    RegistrationError,
    RegistrationInputError,
    SchemaError,
    SecretPersistError,
    SecretResolutionError,
    ServeError,
    StoreUnavailableError,
    UnknownKindError,
)
from llmreg.manager import create_plugin_manager, get_plugin_manager
from llmreg.schemas import MAX_ROW_CHARS
from support.openai_server import FakeOpenAIServer

#: Largest request body the served app of this module accepts (bytes).
BODY_LIMIT = 256 * 1024
UNSET_VAR = "LLMREG_RELIABILITY_UNSET_KEY"
#: A key variable the cases set to a value with a trailing newline, then unset.
NEWLINE_VAR = "LLMREG_RELIABILITY_NEWLINE_KEY"
NEWLINE_KEY = "sk-newline-key-0123456789abcdef"
#: The password of a base_url that carries credentials (it must appear nowhere).
URL_PASSWORD = "s3cr3t-url-password"
#: The system prompt of the ``prompted`` model: counted with each row.
PROMPT_CHARS = 150_000
#: Test plugins of the core suite, blocked wherever a case sets its own block list.
TEST_PLUGINS = "llmreg-broken,llmreg-incompatible"


@dataclass
class World:
    """What the cases run against."""

    store: Store
    base_url: str
    files: Path
    plugins: Path
    adapter: Any
    http: httpx.Client
    env: dict[str, str]
    saved_uri: str

    def file(self, name: str, content: str | bytes) -> str:
        """Write a file into the cases' folder and return its path."""
        path = self.files / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return str(path)

    def config(self, name: str, data: Any) -> str:
        """Write ``data`` as a JSON config file and return its path."""
        return self.file(name, json.dumps(data))

    def good(self, **fields: Any) -> dict[str, Any]:
        """A valid definition dict for the fake endpoint, with ``fields`` changed."""
        data: dict[str, Any] = {
            "provider": "openai",
            "model": "bad-input-model",
            "base_url": self.base_url,
            "api_key": f"env:{KEY_VAR}",
        }
        return {**data, **fields}

    def cli(self, *args: str) -> Any:
        """Run ``llmreg ARGS`` on the store."""
        return run_cli(list(args), self.env, self.files)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAIServer
) -> Iterator[World]:
    """A store with ``chat`` v1 (@champion), v2 deleted, ``nokey`` v1 (unset key); served."""
    from llmreg_gateway import create_app

    folder = tmp_path_factory.mktemp("bad-inputs")
    with pytest.MonkeyPatch.context() as patch, use_store(folder) as store:
        patch.setenv(KEY_VAR, "sk-bad-inputs-key")
        patch.delenv(UNSET_VAR, raising=False)
        base = fake_openai.base_url
        uri = save(definition(base, "chat-model"))
        assert register("chat", uri) == 1
        second = save(definition(base, "chat-model", system_prompt="second"))
        assert register("chat", second) == 2
        store.client().delete_model_version("chat", "2")
        alias = get_plugin_manager().register({"KIND": "MlflowRegister"})
        alias.promote("chat", 1, "champion")  # type: ignore[attr-defined]
        nokey = save(definition(base, "chat-model", api_key=f"env:{UNSET_VAR}"))
        assert register("nokey", nokey) == 1
        newline = save(definition(base, "chat-model", api_key=f"env:{NEWLINE_VAR}"))
        assert register("nlkey", newline) == 1
        prompted = save(definition(base, "chat-model", system_prompt="p" * PROMPT_CHARS))
        assert register("prompted", prompted) == 1
        adapter = load("models:/chat/1")
        files = folder / "cases"
        files.mkdir()
        plugins = write_plugins(folder / "plugins")
        app = create_app("models:/chat/1", reload_interval=0, max_body_bytes=BODY_LIMIT)
        env = cli_env(store, **{KEY_VAR: "sk-bad-inputs-key"})
        with serving(app) as url, httpx.Client(base_url=url, timeout=30) as http:
            yield World(store, base, files, plugins, adapter, http, env, uri)


# --- the cases ----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
        id: the test id.
        via: ``api`` (the call raises), ``http`` (it returns a response) or ``cli``.
        call: what to run against the world.
        error: the typed error expected (for ``http``, the one named by ``code``, if any).
        contains: a substring the error message must contain (case-insensitive).
        code: for ``http``, the ``error.code`` of the OpenAI-shaped body.
        status: for ``http``, the HTTP status.
        absent: text that must appear nowhere in the error (a credential), if any.
    """

    id: str
    via: str
    call: Callable[[World], Any]
    error: type[LlmregError] | None
    contains: str
    code: str | None = None
    status: int = 400
    absent: str | None = None


def api(
    id: str,
    call: Callable[[World], Any],
    error: type[LlmregError],
    contains: str,
    absent: str | None = None,
) -> Case:
    """A case through the Python API."""
    return Case(id, "api", call, error, contains, absent=absent)


def http(
    id: str, call: Callable[[World], Any], code: str, contains: str, status: int = 400
) -> Case:
    """A case through the serving app."""
    return Case(id, "http", call, None, contains, code=code, status=status)


def cli(
    id: str,
    call: Callable[[World], Any],
    error: type[LlmregError],
    contains: str,
    absent: str | None = None,
) -> Case:
    """A case through the command line."""
    return Case(id, "cli", call, error, contains, absent=absent)


def _load(uri: str) -> Callable[[World], Any]:
    return lambda w: load(uri)


def _config(data: Any) -> Callable[[World], Any]:
    return lambda w: ModelDefinition.from_file(w.config("config.json", data))


def _predict(payload: Any, params: dict[str, Any] | None = None) -> Callable[[World], Any]:
    return lambda w: w.adapter.predict(payload, params)


def _post(route: str, body: Any) -> Callable[[World], Any]:
    def call(w: World) -> Any:
        if isinstance(body, bytes):
            return w.http.post(route, content=body, headers={"content-type": "application/json"})
        return w.http.post(route, json=body)

    return call


def _frame(columns: dict[str, list[Any]]) -> Callable[[World], Any]:
    def call(w: World) -> Any:
        import pandas as pd

        return w.adapter.predict(pd.DataFrame(columns))

    return call


def _strict_plugins(allow: str) -> Callable[[World], Any]:
    def call(w: World) -> Any:
        with on_path(w.plugins):
            create_plugin_manager(load_plugins=allow, strict=True).load()

    return call


def _lenient_broken_plugin(w: World) -> Any:
    with on_path(w.plugins), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        manager = create_plugin_manager(load_plugins=f"{BROKEN},llmreg-pyfunc")
        manager.saver({"KIND": "ReliabilityBrokenSaver"})


def _save_literal_secret(w: World) -> Any:
    model = ModelDefinition(
        provider="openai", model="m", base_url=w.base_url, api_key="sk-literal-secret-value"
    )
    return save(model)


def _save_secret_in_prompt(w: World) -> Any:
    model = definition(w.base_url, "m", system_prompt="the key is sk-bad-inputs-key, keep it")
    return save(model)


def _promote(name: str, version: Any, alias: str = "champion") -> Callable[[World], Any]:
    def call(w: World) -> Any:
        return (
            get_plugin_manager()
            .register({"KIND": "MlflowRegister"})
            .promote(  # type: ignore[attr-defined]
                name, version, alias
            )
        )

    return call


def _register(name: str, uri: str) -> Callable[[World], Any]:
    return lambda w: register(name, uri)


def _cli_config(data: Any, *extra: str) -> Callable[[World], Any]:
    return lambda w: w.cli(*extra, "save", w.config("cli-config.json", data))


def _cli_file(name: str, content: str | bytes, *args: str) -> Callable[[World], Any]:
    return lambda w: w.cli(*[w.file(name, content) if a == "{file}" else a for a in args])


def _cli_save_register(*args: str) -> Callable[[World], Any]:
    """``llmreg save <good config> --register ARGS``: a bad name, alias or tag."""
    return lambda w: w.cli("save", w.config("reg.json", w.good()), "--register", *args)


def _cli_store(uri: Callable[[World], str], *args: str) -> Callable[[World], Any]:
    """``llmreg ARGS`` with MLFLOW_TRACKING_URI and MLFLOW_REGISTRY_URI set to ``uri``."""

    def call(w: World) -> Any:
        target = uri(w)
        env = {**w.env, "MLFLOW_TRACKING_URI": target, "MLFLOW_REGISTRY_URI": target}
        return run_cli(list(args), env, w.files)

    return call


def _corrupt_db(w: World) -> str:
    path = w.files / "corrupt.db"
    path.write_bytes(b"this is not a sqlite database" * 100)
    return f"sqlite:///{path}"


def _with_newline_key(call: Callable[[World], Any]) -> Callable[[World], Any]:
    """Run ``call`` with the ``nlkey`` model's key variable ending in a newline."""

    def run(w: World) -> Any:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(NEWLINE_VAR, NEWLINE_KEY + "\n")
            w.env[NEWLINE_VAR] = NEWLINE_KEY + "\n"
            try:
                return call(w)
            finally:
                w.env.pop(NEWLINE_VAR, None)

    return run


def _serve_on_taken_port(w: World) -> Any:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        return w.cli("serve", "models:/chat/1", "--port", str(taken.getsockname()[1]))


def _deep(depth: int) -> str:
    return '{"model": ' + "[" * depth + "]" * depth + "}"


def _two_messages(size: int) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "m" * size}] * 2}


OVERSIZED = "x" * (MAX_ROW_CHARS + 1)
NO_ROLE = {"messages": [{"content": "hi"}]}
CHAT_HI = [{"role": "user", "content": "hi"}]
USERINFO_URL = f"http://user:{URL_PASSWORD}@127.0.0.1:9/v1"

CASES: list[Case] = [
    # model URIs
    api("uri-empty", _load(""), InvalidModelURIError, "empty"),
    api("uri-models-no-name", _load("models:/"), InvalidModelURIError, "name is empty"),
    api("uri-models-no-version", _load("models:/chat"), InvalidModelURIError, "version"),
    api("uri-runs-no-path", _load("runs:/"), InvalidModelURIError, "run id"),
    api("uri-unknown-scheme", _load("ftp://host/model"), InvalidModelURIError, "'ftp'"),
    api("uri-unknown-scheme-s3x", _load("s3x://bucket/m"), InvalidModelURIError, "'s3x'"),
    api("uri-version-0", _load("models:/chat/0"), InvalidModelURIError, "start at 1"),
    api("uri-version-negative", _load("models:/chat/-1"), InvalidModelURIError, "'-1'"),
    api("uri-version-text", _load("models:/chat/one"), InvalidModelURIError, "'one'"),
    api("uri-alias-missing", _load("models:/chat@nosuch"), ModelNotFoundError, "@nosuch"),
    api("uri-name-missing", _load("models:/nosuch-model/1"), ModelNotFoundError, "nosuch-model"),
    api("uri-version-deleted", _load("models:/chat/2"), ModelNotFoundError, "version 2"),
    api("uri-version-unknown", _load("models:/chat/99"), ModelNotFoundError, "version 99"),
    api("uri-run-missing", _load("runs:/0123456789abcdef/model"), ModelNotFoundError, "run"),
    api("uri-logged-model-missing", _load("models:/m-0123abcd"), ModelNotFoundError, "m-0123abcd"),
    api("uri-local-missing", _load("/nonexistent/llmreg/model"), ModelNotFoundError, "nonexistent"),
    # config files
    api(
        "config-missing",
        lambda w: ModelDefinition.from_file(w.files / "nope.json"),
        ConfigFileNotFoundError,
        "does not exist",
    ),
    api("config-no-path", lambda w: ModelDefinition.from_file(""), ConfigError, "no config file"),
    api(
        "config-empty",
        lambda w: ModelDefinition.from_file(w.file("empty.json", "  \n")),
        ConfigError,
        "empty",
    ),
    api(
        "config-not-json",
        lambda w: ModelDefinition.from_file(w.file("bad.json", "{model:")),
        ConfigError,
        "not valid JSON",
    ),
    api(
        "config-not-utf8",
        lambda w: ModelDefinition.from_file(w.file("latin.json", b"\xff\xfe{")),
        ConfigError,
        "UTF-8",
    ),
    api("config-json-list", _config(["model"]), ConfigError, "JSON object"),
    api("config-json-string", _config("gpt"), ConfigError, "JSON object"),
    api(
        "config-wrong-type-temperature",
        _config({"model": "m", "temperature": "hot"}),
        ConfigError,
        "temperature",
    ),
    api("config-wrong-type-model", _config({"model": 123}), ConfigError, "model"),
    api("config-unknown-field", _config({"model": "m", "modle": "x"}), ConfigError, "modle"),
    api(
        "config-negative-max-tokens",
        _config({"model": "m", "max_tokens": -5}),
        ConfigError,
        "max_tokens",
    ),
    api(
        "config-temperature-out-of-range",
        _config({"model": "m", "temperature": 3.5}),
        ConfigError,
        "temperature",
    ),
    api(
        "config-bad-base-url",
        _config({"model": "m", "base_url": "ftp://x"}),
        ConfigError,
        "base_url",
    ),
    api(
        "config-malformed-key-reference",
        _config({"model": "m", "api_key": "env:1BAD"}),
        ConfigError,
        "env:1BAD",
    ),
    api("config-literal-secret-persisted", _save_literal_secret, SecretPersistError, "literal"),
    api(
        "config-secret-value-in-prompt",
        _save_secret_in_prompt,
        SecretPersistError,
        "would be written",
    ),
    api(
        "config-unresolved-key-reference",
        _load("models:/nokey/1"),
        SecretResolutionError,
        UNSET_VAR,
    ),
    # KINDs and plugins
    api(
        "kind-unknown-saver",
        lambda w: get_plugin_manager().saver({"KIND": "NoSuchSaver"}),
        UnknownKindError,
        "NoSuchSaver",
    ),
    api(
        "kind-unknown-loader",
        lambda w: get_plugin_manager().loader({"KIND": "NoSuchLoader"}),
        UnknownKindError,
        "NoSuchLoader",
    ),
    api(
        "kind-unknown-register",
        lambda w: get_plugin_manager().register({"KIND": "Nope"}),
        UnknownKindError,
        "Nope",
    ),
    api(
        "kind-unknown-provider",
        lambda w: get_plugin_manager().client(ModelDefinition(provider="nosuch", model="m")),
        UnknownKindError,
        "nosuch",
    ),
    api(
        "kind-missing",
        lambda w: get_plugin_manager().saver({"path": "model"}),
        ConfigError,
        "needs a KIND",
    ),
    api(
        "kind-bad-field",
        lambda w: get_plugin_manager().saver({"KIND": "CustomSaver", "path": "a/b"}),
        ConfigError,
        "path",
    ),
    api(
        "kind-plugin-blocked",
        lambda w: create_plugin_manager(disable_plugins=f"llmreg-pyfunc,{TEST_PLUGINS}").saver(
            {"KIND": "CustomSaver"}
        ),
        UnknownKindError,
        "blocked",
    ),
    api(
        "kind-plugin-not-allowed",
        lambda w: create_plugin_manager(load_plugins="llmreg-example").loader(
            {"KIND": "CustomLoader"}
        ),
        UnknownKindError,
        "not listed",
    ),
    api(
        "kind-provider-plugin-blocked",
        lambda w: create_plugin_manager(disable_plugins=f"llmreg-litellm,{TEST_PLUGINS}").client(
            definition(w.base_url)
        ),
        UnknownKindError,
        "llmreg-litellm",
    ),
    api(
        "plugin-fails-on-import-strict", _strict_plugins(BROKEN), PluginLoadError, "fails on import"
    ),
    api("plugin-fails-on-import-lenient", _lenient_broken_plugin, UnknownKindError, BROKEN),
    api(
        "plugin-incompatible-version",
        _strict_plugins(INCOMPATIBLE),
        IncompatiblePluginError,
        "llmreg>=99",
    ),
    # registry operations
    api(
        "register-missing-model",
        _register("chat", "models:/m-0123abcd"),
        RegistrationError,
        "m-0123abcd",
    ),
    api("register-bad-name", _register("", "models:/chat/1"), RegistrationError, "name"),
    api("promote-missing-version", _promote("chat", 42), ModelNotFoundError, "42"),
    api("promote-version-0", _promote("chat", 0), InvalidModelURIError, "0"),
    api("promote-missing-model", _promote("nosuch-model", 1), ModelNotFoundError, "nosuch-model"),
    # prediction input, through the loaded model
    api("predict-empty-list", _predict([]), SchemaError, "rows"),
    api("predict-empty-rows", _predict({"rows": []}), SchemaError, "rows"),
    api("predict-wrong-columns", _predict([{"text": "hi"}]), SchemaError, "text"),
    api("predict-wrong-frame-columns", _frame({"text": ["hi"]}), SchemaError, "'input'"),
    api("predict-message-without-role", _predict([NO_ROLE]), SchemaError, "role"),
    api(
        "predict-message-bad-role",
        _predict([{"messages": [{"role": "wizard", "content": "x"}]}]),
        SchemaError,
        "role",
    ),
    api(
        "predict-input-and-messages",
        _predict([{"input": "a", "messages": [{"role": "user", "content": "b"}]}]),
        SchemaError,
        "exactly one",
    ),
    api("predict-oversized", _predict([OVERSIZED]), SchemaError, "input"),
    api("predict-non-utf8-bytes", _predict([{"input": b"\xff\xfe\xfa"}]), SchemaError, "input"),
    api("predict-bytes-payload", _predict(b"\xff\xfe"), SchemaError, "prediction input"),
    api("predict-bad-param", _predict(["hi"], {"temperature": 9}), SchemaError, "temperature"),
    api("predict-unknown-param", _predict(["hi"], {"nope": 1}), SchemaError, "nope"),
    # prediction input, through the serving app
    http("serve-predict-empty-body", _post("/predict", b""), "empty_body", "empty"),
    http("serve-predict-empty-rows", _post("/predict", {"rows": []}), "SchemaError", "rows"),
    http(
        "serve-predict-wrong-columns",
        _post("/predict", {"rows": [{"text": "x"}]}),
        "SchemaError",
        "text",
    ),
    http("serve-predict-no-role", _post("/predict", {"rows": [NO_ROLE]}), "SchemaError", "role"),
    http(
        "serve-predict-oversized-row",
        _post("/predict", {"rows": [{"input": "y" * BODY_LIMIT}]}),
        "too_large",
        "larger than",
        status=413,
    ),
    http(
        "serve-predict-non-utf8",
        _post("/predict", b'{"input": "\xff\xfe"}'),
        "invalid_encoding",
        "UTF-8",
    ),
    http("serve-predict-not-json", _post("/predict", b"{rows:"), "invalid_json", "not valid JSON"),
    http(
        "serve-chat-no-messages",
        _post("/v1/chat/completions", {"model": "chat"}),
        "invalid_request",
        "messages",
    ),
    http(
        "serve-chat-no-role",
        _post("/v1/chat/completions", {"model": "chat", "messages": [{"content": "hi"}]}),
        "invalid_request",
        "role",
    ),
    http(
        "serve-chat-non-utf8",
        _post("/v1/chat/completions", b'{"model": "\xff"}'),
        "invalid_encoding",
        "UTF-8",
    ),
    http("serve-chat-empty-body", _post("/v1/chat/completions", b"   "), "empty_body", "empty"),
    http(
        "serve-chat-unknown-model",
        _post(
            "/v1/chat/completions",
            {"model": "other", "messages": [{"role": "user", "content": "hi"}]},
        ),
        "model_not_found",
        "'other'",
        status=404,
    ),
    # the command line
    cli(
        "cli-config-missing",
        lambda w: w.cli("save", str(w.files / "nope.json")),
        ConfigFileNotFoundError,
        "does not exist",
    ),
    cli(
        "cli-config-empty", _cli_file("cli-empty.json", "", "save", "{file}"), ConfigError, "empty"
    ),
    cli("cli-config-list", _cli_config([1, 2]), ConfigError, "JSON object"),
    cli(
        "cli-config-negative-max-tokens",
        _cli_config({"model": "m", "max_tokens": -1}),
        ConfigError,
        "max_tokens",
    ),
    cli(
        "cli-config-literal-secret",
        lambda w: w.cli("save", w.config("lit.json", w.good(api_key="sk-literal-cli-secret"))),
        SecretPersistError,
        "literal",
    ),
    cli(
        "cli-unknown-saver-kind",
        lambda w: w.cli("--saver", "NoSuchSaver", "save", w.config("ok.json", w.good())),
        UnknownKindError,
        "NoSuchSaver",
    ),
    cli(
        "cli-uri-version-0",
        lambda w: w.cli("show", "models:/chat/0"),
        InvalidModelURIError,
        "start at 1",
    ),
    cli(
        "cli-uri-unknown-scheme",
        lambda w: w.cli("show", "ftp://host/m"),
        InvalidModelURIError,
        "'ftp'",
    ),
    cli(
        "cli-uri-alias-missing",
        lambda w: w.cli("show", "models:/chat@nosuch"),
        ModelNotFoundError,
        "@nosuch",
    ),
    cli(
        "cli-predict-no-role",
        _cli_file(
            "no-role.jsonl",
            json.dumps(NO_ROLE) + "\n",
            "predict",
            "models:/chat/1",
            "--file",
            "{file}",
        ),
        SchemaError,
        "role",
    ),
    cli(
        "cli-predict-non-utf8",
        _cli_file("latin.jsonl", b'"caf\xe9"\n', "predict", "models:/chat/1", "--file", "{file}"),
        SchemaError,
        "UTF-8",
    ),
    cli(
        "cli-predict-empty-file",
        _cli_file("empty.jsonl", "\n\n", "predict", "models:/chat/1", "--file", "{file}"),
        SchemaError,
        "no rows",
    ),
    cli(
        "cli-promote-missing-version",
        lambda w: w.cli("promote", "chat", "42"),
        ModelNotFoundError,
        "42",
    ),
    # --- the classes of issue 12 ------------------------------------------------------
    # untyped errors and loose types, through the Python API
    api("uri-version-superscript", _load("models:/chat/\u00b2"), InvalidModelURIError, "ASCII"),
    api("uri-version-full-width", _load("models:/chat/\uff11"), InvalidModelURIError, "ASCII"),
    api(
        "uri-alias-trailing-newline",
        _load("models:/chat@champion\n"),
        InvalidModelURIError,
        "alias",
    ),
    api("definition-model-none", lambda w: ModelDefinition(model=None), DefinitionError, "model"),
    api("config-path-not-a-path", lambda w: ModelDefinition.from_file(123), ConfigError, "int"),
    api(
        "config-path-a-folder", lambda w: ModelDefinition.from_file(w.files), ConfigError, "folder"
    ),
    api(
        "config-deep-json",
        lambda w: ModelDefinition.from_file(w.file("deep.json", _deep(50_000))),
        ConfigError,
        "nested",
    ),
    api(
        "config-timeout-infinity",
        lambda w: ModelDefinition.from_file(
            w.file("inf.json", '{"model": "m", "timeout": Infinity}')
        ),
        ConfigError,
        "Infinity",
    ),
    api(
        "config-max-tokens-true",
        _config({"model": "m", "max_tokens": True}),
        ConfigError,
        "max_tokens",
    ),
    api(
        "config-temperature-true",
        _config({"model": "m", "temperature": True}),
        ConfigError,
        "temperature",
    ),
    api(
        "config-concurrency-true",
        _config({"model": "m", "concurrency": True}),
        ConfigError,
        "concurrency",
    ),
    api(
        "config-base-url-credentials",
        _config({"model": "m", "base_url": USERINFO_URL}),
        ConfigError,
        "credentials",
        absent=URL_PASSWORD,
    ),
    api(
        "config-base-url-crlf",
        _config({"model": "m", "base_url": "http://h/v1\r\nX-A: b"}),
        ConfigError,
        "control characters",
    ),
    api(
        "config-base-url-port-99999",
        _config({"model": "m", "base_url": "http://h:99999/v1"}),
        ConfigError,
        "invalid port",
    ),
    api(
        "config-empty-api-key",
        _config({"model": "m", "api_key": ""}),
        ConfigError,
        "api_key is empty",
    ),
    api(
        "config-system-prompt-30mb",
        _config({"model": "m", "system_prompt": "s" * 30_000_000}),
        ConfigError,
        "system_prompt",
    ),
    api(
        "config-header-crlf",
        _config({"model": "m", "extra_headers": {"X-T": "a\r\nb"}}),
        ConfigError,
        "control",
    ),
    api(
        "key-with-newline",
        _with_newline_key(_load("models:/nlkey/1")),
        SecretResolutionError,
        "control character",
        absent=NEWLINE_KEY,
    ),
    api("predict-two-600k-messages", _predict([_two_messages(600_000)]), SchemaError, "1,200,000"),
    api("predict-params-a-string", _predict(["hi"], "x"), SchemaError, "params must be an object"),
    api(
        "predict-param-temperature-true",
        _predict(["hi"], {"temperature": True}),
        SchemaError,
        "temperature",
    ),
    api(
        "predict-system-prompt-counted",
        lambda w: load("models:/prompted/1").predict(["r" * (MAX_ROW_CHARS - PROMPT_CHARS + 1)]),
        SchemaError,
        "system prompt",
    ),
    api("register-name-dotdot", _register("..", "models:/chat/1"), RegistrationInputError, "'..'"),
    api(
        "register-name-control",
        _register("a\x01b", "models:/chat/1"),
        RegistrationInputError,
        "name",
    ),
    api(
        "register-name-non-ascii",
        _register("caf\u00e9", "models:/chat/1"),
        RegistrationInputError,
        "name",
    ),
    api(
        "register-name-257", _register("n" * 257, "models:/chat/1"), RegistrationInputError, "name"
    ),
    api(
        "register-tag-over-100000",
        lambda w: (
            get_plugin_manager()
            .register({"KIND": "MlflowRegister", "tags": {"k": "v" * 100_001}})
            .register("chat", w.saved_uri)
        ),
        RegistrationInputError,
        "100,001",
    ),
    # the serving app
    http(
        "serve-predict-deep-json",
        _post("/predict", b'{"rows": ' + b"[" * 100_000 + b"}"),
        "invalid_json",
        "deep",
    ),
    http(
        "serve-chat-deep-json", _post("/v1/chat/completions", b"[" * 10_000), "invalid_json", "deep"
    ),
    http(
        "serve-predict-nan",
        _post("/predict", b'{"rows": [{"input": "a", "params": {"temperature": NaN}}]}'),
        "invalid_json",
        "NaN",
    ),
    http(
        "serve-chat-n-true",
        _post("/v1/chat/completions", {"model": "chat", "messages": CHAT_HI, "n": True}),
        "invalid_request",
        "'n' must be 1",
    ),
    http(
        "serve-chat-temperature-true",
        _post("/v1/chat/completions", {"model": "chat", "messages": CHAT_HI, "temperature": True}),
        "invalid_request",
        "temperature",
    ),
    http(
        "serve-chat-stream-string",
        _post("/v1/chat/completions", {"model": "chat", "messages": CHAT_HI, "stream": "false"}),
        "invalid_request",
        "'stream' must be true or false",
    ),
    http(
        "serve-chat-model-1mb",
        _post("/v1/chat/completions", {"model": "m" * 200_000, "messages": CHAT_HI}),
        "model_not_found",
        "200000 characters",
        status=404,
    ),
    http(
        "serve-chat-upstream-400",
        _post(
            "/v1/chat/completions",
            {"model": "chat", "messages": [{"role": "user", "content": "[fault 400] x"}]},
        ),
        "upstream_bad_request",
        "HTTP 400",
    ),
    # the command line: nothing is written before the name, alias and tags are checked
    cli(
        "cli-save-name-slash", _cli_save_register("--name", "a/b"), RegistrationInputError, "'a/b'"
    ),
    cli("cli-save-name-dotdot", _cli_save_register("--name", ".."), RegistrationInputError, "'..'"),
    cli("cli-save-name-at", _cli_save_register("--name", "a@b"), RegistrationInputError, "'a@b'"),
    cli(
        "cli-save-name-control",
        _cli_save_register("--name", "a\x01b"),
        RegistrationInputError,
        "name",
    ),
    cli(
        "cli-save-name-non-ascii",
        _cli_save_register("--name", "caf\u00e9"),
        RegistrationInputError,
        "name",
    ),
    cli(
        "cli-save-name-257",
        _cli_save_register("--name", "n" * 257),
        RegistrationInputError,
        "257 characters",
    ),
    cli(
        "cli-save-alias-digits",
        _cli_save_register("--name", "chat", "--alias", "1"),
        RegistrationInputError,
        "alias '1'",
    ),
    cli(
        "cli-save-tag-over-100000",
        _cli_save_register("--name", "chat", "--tag", "k=" + "v" * 100_001),
        RegistrationInputError,
        "100,001",
    ),
    cli(
        "cli-config-deep-json",
        _cli_file("deep.json", _deep(50_000), "save", "{file}"),
        ConfigError,
        "nested",
    ),
    cli(
        "cli-config-base-url-credentials",
        lambda w: w.cli("save", w.config("cred.json", w.good(base_url=USERINFO_URL))),
        ConfigError,
        "credentials",
        absent=URL_PASSWORD,
    ),
    cli(
        "cli-config-base-url-port",
        lambda w: w.cli("save", w.config("port.json", w.good(base_url="http://h:99999/v1"))),
        ConfigError,
        "invalid port",
    ),
    cli(
        "cli-config-system-prompt-30mb",
        lambda w: w.cli("save", w.config("big.json", w.good(system_prompt="s" * 30_000_000))),
        ConfigError,
        "system_prompt",
    ),
    cli(
        "cli-uri-version-superscript",
        lambda w: w.cli("show", "models:/chat/\u00b2"),
        InvalidModelURIError,
        "ASCII",
    ),
    cli(
        "cli-predict-output-folder",
        _cli_file(
            "rows.jsonl", '"a"\n', "predict", "models:/chat/1", "--file", "{file}", "--output", "."
        ),
        ConfigError,
        "is a folder",
    ),
    cli(
        "cli-predict-bad-line-named",
        _cli_file(
            "line3.jsonl",
            '"a"\n\n{"messages": [{"content": "x"}]}\n',
            "predict",
            "models:/chat/1",
            "--file",
            "{file}",
        ),
        SchemaError,
        "line 3: messages.0.role",
    ),
    cli(
        "cli-predict-key-with-newline",
        _with_newline_key(lambda w: w.cli("predict", "models:/nlkey/1", "hi")),
        SecretResolutionError,
        "control character",
        absent=NEWLINE_KEY,
    ),
    cli(
        "cli-store-corrupt-sqlite",
        _cli_store(_corrupt_db, "versions", "chat"),
        StoreUnavailableError,
        "corrupt.db",
    ),
    cli(
        "cli-store-mistyped-sqlite",
        _cli_store(lambda w: f"sqlite:///{w.files / 'mistyped.db'}", "show", "models:/chat/1"),
        ModelNotFoundError,
        "new, empty store",
    ),
    cli(
        "cli-store-unreachable-http",
        _cli_store(lambda w: "http://127.0.0.1:9", "versions", "chat"),
        StoreUnavailableError,
        "127.0.0.1:9",
    ),
    cli("cli-serve-port-in-use", _serve_on_taken_port, ServeError, "already in use"),
]


# --- the checks ---------------------------------------------------------------------


def _check_api(case: Case, world: World) -> list[str]:
    try:
        result = case.call(world)
    except Exception as exc:  # the check below names anything untyped
        return _check_exception(case, exc)
    return [f"nothing was raised; the call returned {result!r:.200}"]


def _check_exception(case: Case, exc: BaseException) -> list[str]:
    problems = []
    assert case.error is not None
    if not isinstance(exc, LlmregError) or not isinstance(exc, case.error):
        problems.append(
            f"raised {type(exc).__module__}.{type(exc).__name__}, not {case.error.__name__}: {exc}"
        )
    if case.contains.lower() not in str(exc).lower():
        problems.append(f"message does not name {case.contains!r}: {str(exc)[:500]}")
    if case.absent and (case.absent in str(exc) or case.absent in repr(exc)):
        problems.append("the message shows what must not be shown")
    if len(str(exc)) > 5000:
        problems.append(f"the message is {len(str(exc))} characters long")
    return problems


def _check_http(case: Case, world: World) -> list[str]:
    response = case.call(world)
    problems = []
    if response.status_code != case.status:
        problems.append(f"HTTP {response.status_code}, not {case.status}: {response.text[:300]}")
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return [*problems, f"the body is not OpenAI's error shape: {response.text[:300]}"]
    if set(error) != {"message", "type", "param", "code"}:
        problems.append(f"error fields are {sorted(error)}")
    if error.get("code") != case.code:
        problems.append(f"error code {error.get('code')!r}, not {case.code!r}")
    if case.contains.lower() not in str(error.get("message", "")).lower():
        problems.append(f"message does not name {case.contains!r}: {error.get('message')}")
    if len(response.text) > 5000:
        problems.append(f"the body is {len(response.text)} characters long")
    return problems


def _check_cli(case: Case, world: World) -> list[str]:
    done = case.call(world)
    assert case.error is not None
    problems = []
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if done.returncode != 1:
        problems.append(f"exit code {done.returncode}, not 1")
    if len(lines) != 1:
        problems.append(f"stderr has {len(lines)} lines, not one: {done.stderr[-1500:]}")
    if "Traceback" in done.stderr:
        problems.append("a traceback was printed without --debug")
    if not any(line.startswith(f"error: {case.error.__name__}:") for line in lines):
        problems.append(f"no 'error: {case.error.__name__}:' line: {done.stderr[-600:]}")
    if case.contains.lower() not in done.stderr.lower():
        problems.append(f"stderr does not name {case.contains!r}: {done.stderr[-600:]}")
    if case.absent and case.absent in done.stderr + done.stdout:
        problems.append("the output shows what must not be shown")
    if len(done.stderr) > 5000:
        problems.append(f"stderr is {len(done.stderr)} characters long")
    return problems


CHECKS = {"api": _check_api, "http": _check_http, "cli": _check_cli}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_typed_named_and_leaves_nothing(case: Case, world: World) -> None:
    """The call fails with the expected typed error naming the problem; the store is unchanged."""
    before = world.store.snapshot()
    problems = CHECKS[case.via](case, world)
    left = world.store.snapshot().left_behind(before)
    tally.note("bad-inputs", tried=1, typed=int(not problems), left_behind=int(bool(left)))
    assert not problems, "; ".join(problems)
    assert not left, f"left behind: {left}"


def test_the_table_is_large_and_covers_every_way_in() -> None:
    """At least 40 cases, through the API, the serving app and the command line."""
    assert len(CASES) >= 40
    assert {c.via for c in CASES} == {"api", "http", "cli"}
    assert len({c.id for c in CASES}) == len(CASES)


def test_cli_shows_the_traceback_only_with_debug(world: World) -> None:
    """The same bad input prints a traceback with ``--debug``, and one line without."""
    config = world.config("debug.json", {"model": "m", "max_tokens": -1})
    plain = world.cli("save", config)
    debug = world.cli("--debug", "save", config)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr and "ConfigError" in debug.stderr


def test_a_successful_load_leaves_no_temporary_folder(world: World) -> None:
    """Loading a model (here by its logged-model URI, not cached yet) keeps no downloaded copy."""
    before = world.store.snapshot()
    adapter = load(world.saved_uri)
    assert adapter.definition.model == "chat-model"
    assert world.store.snapshot().left_behind(before) == []
