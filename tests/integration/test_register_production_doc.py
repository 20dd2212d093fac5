"""The code of docs/production.md runs as written: copy a registry from sqlite to a server."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from llmreg.hashing import CONTENT_HASH_KEY, content_hash
from llmreg_mlflow import MlflowRegister
from support.docs import marked, page_blocks
from support.mlflow_server import MlflowServer, PostgresBackend, free_port, postgres_unavailable

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "production.md"
ECHO_MODEL = Path(__file__).parents[1] / "mlflow" / "echo_model.py"
DOC_OLD_URI = "sqlite:///mlflow.db"


def _python_blocks(text: str) -> list[str]:
    """The page's python blocks, every one marked ``<!-- run: production -->``."""
    page = str(DOC.relative_to(ROOT))
    blocks = [b.body for b in page_blocks(page) if b.lang == "python"]
    assert blocks == [b.body for b in marked(page, "production") if b.lang == "python"]
    return blocks


def _fill_old_store(name: str) -> None:
    """Three versions (two of the same content, forced) and two alias moves, on sqlite."""
    import mlflow

    register = MlflowRegister(tags={"team": "nlp"}, description="copied bot")
    for content, force in (("one", False), ("one", True), ("two", False)):
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(ECHO_MODEL),
                pip_requirements=["mlflow"],
                metadata={CONTENT_HASH_KEY: content_hash([content])},
            )
        register.register(name, info.model_uri, force=force)
    register.promote(name, 1)
    register.promote(name, 3)


def test_the_copy_function_moves_a_registry_to_a_server(tmp_path, monkeypatch) -> None:
    import mlflow

    name = f"bot-{uuid.uuid4().hex[:8]}"
    old_folder = tmp_path / "old"
    old_folder.mkdir()
    monkeypatch.chdir(old_folder)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", DOC_OLD_URI)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    _fill_old_store(name)

    blocks = _python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 2
    with MlflowServer(tmp_path / "server") as server:
        namespace: dict[str, object] = {"__name__": "docs_example", "new_server_uri": server.url}
        exec(compile(blocks[0], str(DOC), "exec"), namespace)  # noqa: S102
        exec(compile(blocks[1].replace("support-bot", name), str(DOC), "exec"), namespace)  # noqa: S102

        old = MlflowRegister(tracking_uri=DOC_OLD_URI)
        new = MlflowRegister(tracking_uri=server.url)
        keep = ("version", "aliases", "content_hash", "tags", "status")
        assert [{k: r.to_dict()[k] for k in keep} for r in new.versions(name)] == [
            {k: r.to_dict()[k] for k in keep} for r in old.versions(name)
        ]
        assert new.history(name) == old.history(name)
        assert int(new.rollback(name).version) == 1
        model = mlflow.MlflowClient(server.url, server.url).get_registered_model(name)
        assert model.description == "copied bot"
        loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        assert loaded.predict(["copied"]) == ["copied"]


#: This site's names for the page's (the DB host, the artifact bucket, the public URL).
SITE = {
    "--host 0.0.0.0": "--host 127.0.0.1",  # the suite's servers listen on loopback only
    "--workers 4": "--workers 1",
    "s3://acme-mlflow/artifacts": "{artifacts}",
    "mlflow.acme.internal:5000": "127.0.0.1:{port}",
    "mlflow.acme.internal,": "127.0.0.1,",
    "https://mlflow.acme.internal": "http://127.0.0.1:{port}",
    "db.internal:5432": "127.0.0.1:{db_port}",
    "--port 5000": "--port {port}",
}


def _setup_script(blocks: list[str], **names: object) -> str:
    script = "\n".join(blocks)
    for page, here in SITE.items():
        script = script.replace(page, here.format(**names))
    return script


@pytest.mark.timeout(900)
def test_the_server_setup_runs_with_this_sites_names(tmp_path) -> None:
    """Sections 1 to 3: the start, the server on PostgreSQL, the clients pointed at it.

    The page's ``pip install`` line is checked, not run (the env has what it names). The
    server's lines run in their own bash (in the background, as on the server host) on a
    throwaway PostgreSQL cluster; the start's and the clients' lines run in another, then
    a CLI save and listing through the server.
    """
    from importlib.metadata import version

    if why := postgres_unavailable():  # no initdb, or no psycopg2 (the driver the page installs)
        pytest.skip(why)
    start, server, clients = [b.body for b in marked("docs/production.md", "production:setup")]
    pip, _, server = server.partition("\n")
    assert pip.startswith('pip install "mlflow>=3.1" psycopg2-binary')
    assert tuple(int(p) for p in version("mlflow").split(".")[:2]) >= (3, 1)
    (tmp_path / "echo.json").write_text('{"provider": "echo", "model": "demo"}')
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["MLFLOW_DB_PASSWORD"] = "unused"  # the cluster trusts local connections
    env.setdefault("LLMREG_DISABLE_PLUGINS", "llmreg-broken,llmreg-incompatible")
    with PostgresBackend() as db, (tmp_path / "server.log").open("w") as log:
        _as_section_1(db.port, env["MLFLOW_DB_PASSWORD"])
        names = {"port": port, "db_port": db.port, "artifacts": tmp_path / "artifacts"}
        host = subprocess.Popen(
            ["bash", "-c", _setup_script([server], **names)], cwd=tmp_path, env=env,
            stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        try:
            _wait_healthy(f"http://127.0.0.1:{port}/health", host, tmp_path / "server.log")
            script = [
                "set -euo pipefail",
                _setup_script([start, clients], **names),
                "llmreg save echo.json --register --name support-bot --alias champion",
                "llmreg versions support-bot",
            ]
            done = subprocess.run(
                ["bash", "-c", "\n".join(script)], cwd=tmp_path, env=env, capture_output=True,
                text=True, timeout=600,
            )  # fmt: skip
        finally:
            os.killpg(host.pid, signal.SIGTERM)
            host.wait(60)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"store: http://127.0.0.1:{port}" in done.stderr
    assert re.search(r"^1\s+champion\b", done.stdout, re.M), done.stdout
    assert not (tmp_path / "mlflow.db").exists()  # the clients wrote to the server only


def _as_section_1(port: int, password: str) -> None:
    """What section 1's createuser and createdb --owner do: the role mlflow owns the database."""
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="mlflow")
    connection.autocommit = True
    with connection, connection.cursor() as cursor:
        cursor.execute("CREATE ROLE mlflow LOGIN PASSWORD %s", (password,))
        cursor.execute("ALTER DATABASE mlflow OWNER TO mlflow")
    connection.close()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited:\n{log.read_text()[-3000:]}"
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"{url} never answered:\n{log.read_text()[-3000:]}")
