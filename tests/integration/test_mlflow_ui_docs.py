"""Runs the console examples of docs/mlflow-ui.md as written, in order, in a fresh folder.

The page's ``mlflow server`` command starts a real tracking server on a sqlite store
in the folder (on a free port instead of 5000); its ``export`` lines set the
environment of every later command. The definition files are written from the
page's JSON blocks with ``base_url`` pointed at the fake OpenAI server, and the
page's Python blocks that the commands need (the prompt's registration, the trace
listing) run as written. What the page says a command prints or leaves behind is
checked through MLflow's client, which reads the server's REST API as the UI does.

Section 5 (evaluate before you promote) runs in order too: its dataset is the page's
JSON Lines block, its scorer module the page's ``docs_scorers.py``, MLflow's
``openai:/`` judges reach the fake OpenAI server through ``OPENAI_BASE_URL``, the
refused promotions exit 1 with the numbers shown, and the passing one lands in
``llmreg history``. A shown line with ``...`` stands for any text there.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from support.docs import page_blocks
from support.openai_server import FakeOpenAIServer
from support.serve_process import free_port

pytestmark = pytest.mark.integration

PAGE = Path(__file__).resolve().parents[2] / "docs" / "mlflow-ui.md"
BLOCK = re.compile(r"```(\w+)[^\n]*\n(.*?)```", re.S)


def blocks(lang: str) -> list[str]:
    """The bodies of the page's fenced blocks in ``lang``, in order."""
    return [b.body for b in page_blocks("docs/mlflow-ui.md") if b.lang == lang]


def commands(body: str) -> list[tuple[str, list[str]]]:
    """Each ``$ `` command of a console block (``\\`` continuations joined), with the
    output lines shown under it."""
    out: list[tuple[str, list[str]]] = []
    joining = False
    for line in body.splitlines():
        if joining:
            out[-1] = (out[-1][0] + " " + line.strip().removesuffix("\\").strip(), out[-1][1])
        elif line.startswith("$ "):
            out.append((line[2:].removesuffix("\\").strip(), []))
        elif out and line.strip():
            out[-1][1].append(line)
        joining = line.rstrip().endswith("\\")
    return out


class Session:
    """A shell session in ``folder``: ``export`` lines change its environment."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LLMREG_TR"))}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["OPENAI_API_KEY"] = "sk-docs-test"
        env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
        env.setdefault("LLMREG_DISABLE_PLUGINS", "llmreg-broken,llmreg-incompatible")
        self.env = env

    def run(self, command: str, shown: Sequence[str] = (), *, exit_code: int = 0) -> str:
        """Run one command as written (``export`` sets a variable); check it exits with
        ``exit_code`` and the lines shown under it are printed (on stderr when it
        fails); return its stdout."""
        if command.startswith("export "):  # as bash expands it: $(...) included
            name = command.removeprefix("export ").partition("=")[0]
            shell = f'{command}; printf %s "${name}"'
            self.env[name] = subprocess.run(
                ["bash", "-c", shell], env=self.env, capture_output=True, text=True, check=True
            ).stdout
            return ""
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == exit_code, f"{command}: {done.stdout}\n{done.stderr}"
        printed = (done.stdout if exit_code == 0 else done.stderr).splitlines()
        for line in shown:
            assert any(_shows(line, out) for out in printed), f"{command}: {line!r} in {printed}?"
        return done.stdout

    def python(self, code: str) -> str:
        """Run a Python block of the page as written, in this session; return its stdout."""
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def background(self, command: str) -> subprocess.Popen[str]:
        """Start a long-running command in its own process group."""
        return subprocess.Popen(
            ["bash", "-c", f"exec {command}" if "=" not in command.split()[0] else command],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=(self.folder / "background.log").open("a"),
            text=True,
            start_new_session=True,
        )


def _shows(shown: str, printed: str) -> bool:
    """Whether a printed line is the line the page shows (``...`` stands for any text)."""
    if "..." not in shown:
        return shown == printed
    pattern = ".*".join(re.escape(part) for part in shown.split("..."))
    return re.fullmatch(pattern, printed) is not None


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM the process group and wait (a server flushes its traces on the way out)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_ok(url: str, process: subprocess.Popen[str]) -> None:
    """Poll ``url`` until it answers 200 (the process must stay up)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args} exited"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


@pytest.mark.timeout(1200)
def test_the_mlflow_ui_page_runs_as_written(tmp_path: Path) -> None:
    runnable = [b for b in page_blocks("docs/mlflow-ui.md") if b.runnable]
    assert {b.label for b in runnable} == {"mlflow-ui"}, "every block here is this test's"
    consoles = [commands(body) for body in blocks("console")]
    definitions = [json.loads(body) for body in blocks("json") if body.lstrip().startswith("{\n")]
    pythons = blocks("python")
    session = Session(tmp_path)
    port = free_port()
    server_line, export_line = (command for command, _ in consoles[0])
    assert server_line.endswith("&") and "--port 5000" in server_line
    server = session.background(server_line.removesuffix("&").replace("5000", str(port)))
    try:
        session.run(export_line.replace("5000", str(port)))
        assert session.env["MLFLOW_TRACKING_URI"] == f"http://127.0.0.1:{port}"
        wait_ok(f"http://127.0.0.1:{port}/health", server)
        mlflow.set_tracking_uri(session.env["MLFLOW_TRACKING_URI"])
        client = MlflowClient(session.env["MLFLOW_TRACKING_URI"])
        with FakeOpenAIServer() as endpoint:
            _section_2(session, consoles[1], definitions[0], pythons, endpoint.base_url, client)
            _section_3(session, consoles[2], definitions[1], pythons, endpoint, client)
            _section_4(session, consoles[3], pythons, endpoint)
            _section_5(session, consoles[4:], definitions[2], pythons, endpoint, client)
    finally:
        mlflow.set_tracking_uri(None)
        stop(server)


def _section_2(
    session: Session,
    console: list[tuple[str, list[str]]],
    definition: dict[str, object],
    pythons: list[str],
    base_url: str,
    client: MlflowClient,
) -> None:
    """Save and register: the run, its params, the logged model and the version."""
    assert definition["description"] == "Answers support questions in one paragraph."
    written = {**definition, "base_url": base_url}
    (session.folder / "support.json").write_text(json.dumps(written))
    [(save, shown)] = console
    assert save == "llmreg save support.json --register --name support-bot --alias champion"
    session.run(save, shown)
    experiment = client.get_experiment_by_name("support-bot")
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    assert re.fullmatch(r"support-bot-[0-9a-f]+", run.info.run_name)
    params = run.data.params
    assert {k: params[k] for k in ("provider", "model", "temperature", "max_tokens", "top_p")} == {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "temperature": "0.2",
        "max_tokens": "256",
        "top_p": "0.9",
    }
    assert params["base_url_host"] == base_url.split("/")[2]  # host:port, not the path
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", params["content_hash"])
    version = client.get_model_version("support-bot", "1")
    assert version.description == "Answers support questions in one paragraph."
    assert version.source.startswith("models:/m-")
    assert version.run_id == run.info.run_id
    # the version's link to its logged model is the source (mlflow.register_model's
    # versions read back with model_id None from this store too)
    logged = client.get_logged_model(version.source.removeprefix("models:/"))
    assert logged.source_run_id == run.info.run_id
    assert logged.name == "support-bot"
    assert {k: logged.params.get(k) for k in ("provider", "model", "temperature")} == {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "temperature": "0.2",
    }
    assert "Answers support questions" in logged.tags.get("mlflow.note.content", "")
    assert "mlflow.modelVersions" in logged.tags
    assert client.get_model_version_by_alias("support-bot", "champion").version == "1"
    # "Saving the same content again changes nothing"
    session.run(save)
    assert len(client.search_runs([experiment.experiment_id])) == 1
    assert [v.version for v in client.search_model_versions("name='support-bot'")] == ["1"]
    # "Inside a run of your own, the model is logged into that run"
    own = next(code for code in pythons if "try-a-lower-temperature" in code)
    session.python(own)
    [mine] = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        "attributes.run_name = 'try-a-lower-temperature'",
    )
    assert mine.data.params["ticket"] == "SUP-42"


def _section_3(
    session: Session,
    console: list[tuple[str, list[str]]],
    definition: dict[str, object],
    pythons: list[str],
    endpoint: FakeOpenAIServer,
    client: MlflowClient,
) -> None:
    """The prompt from the Prompt Registry: pinned on save, shown, filled per row."""
    register = next(code for code in pythons if "register_prompt" in code)
    session.python(register)
    assert definition["prompt"] == "prompts:/support@champion"
    (session.folder / "support.json").write_text(
        json.dumps({**definition, "base_url": endpoint.base_url})
    )
    row = re.search(r"with rows such as `(\{.*?\})`", PAGE.read_text())
    assert row is not None
    (session.folder / "rows.jsonl").write_text(row.group(1) + "\n")
    (save, _), (show, shown), (predict, _) = console
    session.run(save)
    version = client.get_model_version("support-bot", "2")
    run = client.get_run(version.run_id)
    assert run.data.params["prompt_ref"].startswith("prompts:/support")
    assert run.data.params["prompt_version"] == "1"
    session.run(show, shown)
    before = endpoint.count()
    answers = session.run(predict)
    assert "echo: Question: Where is my parcel?" in answers
    [sent] = [r.body for r in endpoint.chat_requests()[before:]]
    assert sent is not None
    assert sent["messages"] == [
        {"role": "system", "content": "You help Ann with bikes."},
        {"role": "user", "content": "Question: Where is my parcel?"},
    ]
    framed = next(code for code in pythons if "pd.DataFrame(" in code)
    assert "echo: Question: Where is my parcel?" in session.python(framed)
    system = endpoint.chat_requests()[-1].body["messages"][0]  # filled from the columns
    assert system == {"role": "system", "content": "You help Ann with bikes."}


def _section_4(
    session: Session,
    console: list[tuple[str, list[str]]],
    pythons: list[str],
    endpoint: FakeOpenAIServer,
) -> None:
    """Traces: ``llmreg predict`` in an experiment and ``llmreg serve --trace``."""
    (export, _), (key, _), (predict, _), (serve, _) = console
    session.run(export)
    assert session.env["MLFLOW_EXPERIMENT_NAME"] == "support-bot"
    session.run(key)
    assert len(session.env["LLMREG_API_KEY"]) >= 32  # made by the page's python3 -c
    assert "echo: Where is my parcel?" in session.run(predict)
    port = free_port()
    server = session.background(f"{serve} --port {port}")
    try:
        wait_ok(f"http://127.0.0.1:{port}/ready", server)
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "support-bot", "messages": [{"role": "user", "content": "served"}]},
            headers={"Authorization": f"Bearer {session.env['LLMREG_API_KEY']}"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == "echo: served"
    finally:
        stop(server)
    listing = next(code for code in pythons if "search_traces" in code)
    printed = session.python(listing).splitlines()
    requests = [line for line in printed if line.startswith("llmreg.request ")]
    roots = [line for line in printed if line.startswith("llmreg.predict ")]
    assert len(roots) == 2, printed
    assert len(requests) == 2, printed
    assert all(" gpt-4o-mini " in line for line in requests), printed
    assert any("echo: served" in line for line in requests), printed
    assert any("echo: Where is my parcel?" in line for line in requests), printed


def _section_5(
    session: Session,
    consoles: list[list[tuple[str, list[str]]]],
    definition: dict[str, object],
    pythons: list[str],
    endpoint: FakeOpenAIServer,
    client: MlflowClient,
) -> None:
    """Evaluate the champion and version 2, read the rows' assessments, judge, refuse
    version 2 with the numbers, then save, evaluate and promote version 3."""
    text = PAGE.read_text()
    section = text[text.index("## 5. Evaluate before you promote") :]
    [dataset] = [body for lang, body in BLOCK.findall(section) if lang == "json"][:1]
    (session.folder / "eval.jsonl").write_text(dataset)
    evaluations, judged, refusals, passing = consoles
    for command, shown in evaluations:
        session.run(command, shown)
    champion = client.get_model_version("support-bot", "1").tags
    assert champion["llmreg.eval.exact_match"] == "1.0"
    assert client.get_model_version("support-bot", "2").tags["llmreg.eval.contains"] == "0.0"

    # the rows' scores are the assessments of the evaluation run's traces
    reading = next(code for code in pythons if "run_id=run.info.run_id" in code)
    printed = session.python(reading).splitlines()
    [listing] = [b for lang, b in BLOCK.findall(section) if lang == "text" and "expected_" in b]
    assert sorted(printed) == sorted(listing.strip().splitlines())

    # the judges and the page's scorer module, as written
    scorers = next(code for code in pythons if code.startswith("# file: tests/pyfunc/docs_scorers"))
    (session.folder / "docs_scorers.py").write_text(scorers)
    session.env["OPENAI_BASE_URL"] = endpoint.base_url
    [(judge, _)] = judged
    before = endpoint.count(model="gpt-4o-mini")
    out = session.run(judge)
    assert "short            1" in out.splitlines(), out
    # two judges on two rows; the test server's echo is no verdict: counted as errors
    assert endpoint.count(model="gpt-4o-mini") - before >= 4 + 2
    assert "correctness_errors 2" in out.splitlines(), out

    for command, shown in refusals:
        session.run(command, shown, exit_code=1)
    assert client.get_model_version_by_alias("support-bot", "champion").version == "1"

    save, evaluate, promote, history = passing
    file = save[0].split()[2]
    assert file == "support-v3.json"
    written = {**definition, "base_url": endpoint.base_url}
    (session.folder / file).write_text(json.dumps(written))
    session.run(*save)
    assert client.get_model_version("support-bot", "3").tags.get("llmreg.eval.exact_match") is None
    session.run(*evaluate)
    session.run(*promote)
    assert client.get_model_version_by_alias("support-bot", "champion").version == "3"
    moves = json.loads(session.run(*history))["moves"]
    decision = promote[1][1].removeprefix("checked: ")
    assert moves[-1]["version"] == 3 and moves[-1]["previous"] == 1
    assert moves[-1]["action"] == "promote" and moves[-1]["note"] == decision
    checked = client.get_model_version("support-bot", "3").tags["llmreg.promotion_check"]
    assert checked == decision
