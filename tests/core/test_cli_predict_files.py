"""``llmreg predict``: only regular files are read or written, and a full disk loses nothing.

A write target that exists and is not a regular file (a symbolic link, a FIFO, a
device, a socket, a folder) is refused before any row is sent, and stays what it
was. An input that is not a regular file is named as what it is. A disk that fills
up during ``--output`` gives the typed message that names the kept rows and
``--resume``, and the resume finishes the job.

Run in-process with a counting adapter: every row it answers is recorded, so a test
can tell what was (or was not) sent upstream.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from click.testing import CliRunner

from llmreg import Adapter, Inputs, Loader, Outputs, Result, hookimpl
from llmreg.cli import cli
from llmreg.definition import read_json_file
from llmreg.errors import ConfigError, ConfigFileNotFoundError
from llmreg.manager import set_plugin_manager
from llmreg.testing import isolated_manager

ASKED: list[str] = []
#: Prompts answered with status "error" (an upstream that failed on them, for now).
FAILING: set[str] = set()
#: Called before each batch is answered (to change the world while rows come).
ON_ASK: list[Callable[[], None]] = []


class CountingAdapter(Adapter):
    def predict(self, inputs: Any, params: dict[str, Any] | None = None) -> Outputs:
        for hook in ON_ASK:
            hook()
        texts = [r.input for r in Inputs.parse(inputs).rows]
        ASKED.extend(texts)
        failed = Result(prediction=None, metadata={"status": "error", "error": "upstream 503"})
        answers = [Result(prediction=f"echo: {t}", metadata={"status": "ok"}) for t in texts]
        chosen = zip(texts, answers, strict=True)
        return Outputs(rows=[failed if t in FAILING else a for t, a in chosen])


class CountingLoader(Loader):
    KIND: Literal["CountingLoader"] = "CountingLoader"

    def load(self, uri: str) -> CountingAdapter:
        return CountingAdapter()


class _Plugin:
    @hookimpl
    def llmreg_register_loaders(self, register):
        register(CountingLoader)


@pytest.fixture
def run(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ASKED.clear()
    ON_ASK.clear()
    FAILING.clear()
    set_plugin_manager(isolated_manager(_Plugin()))

    def invoke(*args: str):
        base = ["--loader", "CountingLoader", "predict", "m", "--concurrency", "1"]
        return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)

    yield invoke
    set_plugin_manager(None)


def _prompts(tmp_path: Path, count: int, size: int = 1) -> str:
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(f"r{i}" + "x" * (size - 1)) + "\n" for i in range(count)))
    return str(path)


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _device(path: Path) -> Path:
    """A character device node like /dev/null (needs root; skipped otherwise)."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root (CAP_MKNOD)")
    return path


@pytest.fixture
def unix_socket(tmp_path) -> Iterator[Callable[[Path], Path]]:
    sockets: list[socket.socket] = []

    def make(path: Path) -> Path:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        sockets.append(server)
        return path

    yield make
    for server in sockets:
        server.close()


def _symlink(path: Path) -> Path:
    (path.parent / "elsewhere.txt").write_text("keep me\n")
    path.symlink_to(path.parent / "elsewhere.txt")
    return path


def _kind(path: Path) -> tuple[int, str | None]:
    mode = os.lstat(path).st_mode
    return stat.S_IFMT(mode), os.readlink(path) if stat.S_ISLNK(mode) else None


SPECIAL = {
    "symbolic link": _symlink,
    "FIFO (named pipe)": _fifo,
    "character device": _device,
    "folder": lambda p: (p.mkdir(), p)[1],
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("at", ["PATH", "PATH.partial"])
@pytest.mark.parametrize("kind", [*SPECIAL, "socket"])
def test_a_special_file_at_the_output_is_refused_and_kept(run, tmp_path, unix_socket, kind, at):
    out = tmp_path / "out.jsonl"
    where = out if at == "PATH" else tmp_path / "out.jsonl.partial"
    (unix_socket if kind == "socket" else SPECIAL[kind])(where)
    before = _kind(where)
    # --resume makes the run read and continue PATH.partial; it must not touch it either
    resume = ["--resume"] if at == "PATH.partial" else []
    done = run("--file", _prompts(tmp_path, 3), "--output", str(out), *resume)
    assert done.exit_code == 1
    assert done.stderr.startswith(f"error: ConfigError: cannot write {where}: it is a {kind}")
    assert ASKED == []  # refused before any row was sent (or paid for)
    assert _kind(where) == before
    if kind == "symbolic link":
        assert (tmp_path / "elsewhere.txt").read_text() == "keep me\n"


def test_a_link_put_at_the_output_while_rows_come_is_not_replaced(run, tmp_path):
    out = tmp_path / "out.jsonl"
    ON_ASK.append(lambda: out.exists() or _symlink(out))
    done = run("--file", _prompts(tmp_path, 6), "--output", str(out))
    assert done.exit_code == 1
    assert done.stderr.startswith(f"error: PredictionInterruptedError: stopped: writing {out}")
    assert "it is a symbolic link" in done.stderr and "--resume" in done.stderr
    assert out.is_symlink() and (tmp_path / "elsewhere.txt").read_text() == "keep me\n"
    kept = (tmp_path / "out.jsonl.partial").read_text().splitlines()
    assert [json.loads(line)["prediction"] for line in kept] == [f"echo: r{i}" for i in range(6)]


@pytest.mark.timeout(30)
def test_opening_a_fifo_for_writing_is_refused_without_waiting(tmp_path):
    from llmreg.files import open_for_write  # after the other imports: new in this change

    fifo = _fifo(tmp_path / "f")
    with pytest.raises(ConfigError, match="it is a FIFO"):
        open_for_write(fifo, append=True)


# --- inputs ------------------------------------------------------------------------------


def _input(kind: str, tmp_path: Path, make_socket: Callable[[Path], Path]) -> Path:
    if kind == "/dev/zero":
        return Path("/dev/zero")
    if kind == "socket":
        return make_socket(tmp_path / "in.sock")
    return _fifo(tmp_path / "in.fifo")


INPUTS = {"/dev/zero": "a character device", "FIFO": "a FIFO (named pipe)", "socket": "a socket"}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", INPUTS)
def test_a_prompts_file_that_is_not_a_regular_file_is_named(run, tmp_path, unix_socket, kind):
    source = _input(kind, tmp_path, unix_socket)
    done = run("--file", str(source))
    assert done.exit_code == 1
    assert done.stderr.startswith(
        f"error: ConfigError: prompts file {source} is {INPUTS[kind]}, not a regular file: "
        "give a JSON Lines file"
    )
    assert "does not exist" not in done.stderr and ASKED == []


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", INPUTS)
def test_every_input_file_says_what_it_is(tmp_path, unix_socket, kind):
    source = _input(kind, tmp_path, unix_socket)
    says = re.escape(f"config file {source} is {INPUTS[kind]}")
    with pytest.raises(ConfigError, match=says) as raised:
        read_json_file(source)
    assert not isinstance(raised.value, ConfigFileNotFoundError)


def test_a_link_to_nothing_says_so(run, tmp_path):
    (tmp_path / "p.jsonl").symlink_to(tmp_path / "gone.jsonl")
    done = run("--file", str(tmp_path / "p.jsonl"))
    assert done.exit_code == 1
    assert "ConfigFileNotFoundError: prompts file" in done.stderr
    assert "does not exist (a symbolic link to nothing)" in done.stderr


# --- a full disk -------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 64 KiB tmpfs (needs root and mount rights; skipped otherwise)."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_keeps_the_answered_rows_and_resume_finishes(run, tmp_path, small_disk):
    prompts = _prompts(tmp_path, 60, size=2000)  # about 120 KiB of answers for 64 KiB
    out = small_disk / "out.jsonl"
    partial = small_disk / "out.jsonl.partial"
    done = run("--file", prompts, "--output", str(out))
    assert done.exit_code == 1
    first = done.stderr.splitlines()[0]
    assert first.startswith(
        f"error: PredictionInterruptedError: stopped: writing {partial} failed "
        "(No space left on device): "
    )
    kept = int(first.split("): ")[1].split(" of 60 rows answered")[0])
    assert 0 < kept < 60 and len(done.stderr.splitlines()) == 1
    assert f"the {kept} rows answered are kept in {partial}" in first and "--resume" in first
    assert not out.exists()

    subprocess.run(["mount", "-o", "remount,size=1m", str(small_disk)], check=True)
    ASKED.clear()
    resumed = run("--file", prompts, "--output", str(out), "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert len(ASKED) <= 60 - kept  # the kept rows were not asked again
    answers = [json.loads(line) for line in out.read_text().splitlines()]
    asked = [json.loads(line) for line in Path(prompts).read_text().splitlines()]
    assert [a["prediction"] for a in answers] == [f"echo: {text}" for text in asked]
    assert [a["row"] for a in answers] == list(range(1, 61))
    assert not partial.exists()


def _fill(folder: Path) -> Path:
    """Fill the disk of ``folder`` to the last byte; return the filler (delete it to free)."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 512)
    return filler


def test_a_full_disk_while_the_output_is_put_in_order_keeps_every_answer(run, tmp_path, small_disk):
    prompts = tmp_path / "p.jsonl"
    rows = ["a" * 2000, "b" * 2000, "c" * 2000, "d" * 2000, "e" * 2000, "short"]
    prompts.write_text("".join(json.dumps(text) + "\n" for text in rows))
    out = small_disk / "out.jsonl"
    partial = small_disk / "out.jsonl.partial"
    FAILING.add("short")
    assert run("--file", str(prompts), "--output", str(out)).exit_code == 1  # "short" failed
    FAILING.clear()
    filler = _fill(small_disk)
    # the retried row fits in the last page of the file; the copy in input order does not
    done = run("--file", str(prompts), "--output", str(out), "--resume")
    assert done.exit_code == 1
    assert done.stderr.startswith(
        f"error: PredictionInterruptedError: stopped: writing {out} failed (No space left on "
        f"device): 6 of 6 rows answered; the 6 rows answered are kept in {partial}; run the "
        "same command with --resume"
    )
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "out.jsonl.partial"]
    filler.unlink()
    ASKED.clear()
    again = run("--file", str(prompts), "--output", str(out), "--resume")
    assert again.exit_code == 0, again.stderr
    assert ASKED == []  # every row was kept
    assert [json.loads(x)["prediction"] for x in out.read_text().splitlines()] == [
        f"echo: {text}" for text in rows
    ]
    assert not partial.exists()


def test_as_a_user_runs_it_a_fifo_output_is_refused_and_kept(tmp_path):
    """The command in a subprocess, answering through the echo provider."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model_definition.json").write_text(json.dumps({"provider": "echo", "model": "m"}))
    out = _fifo(tmp_path / "out.jsonl")
    env = {
        **os.environ,
        "LLMREG_LOAD_PLUGINS": "llmreg-example",
        "LLMREG_LOADER": "FolderLoader",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    runner = (
        "import sys\n"
        "from llmreg.manager import get_plugin_manager\n"
        "from llmreg.testing import echo_plugin\n"
        "get_plugin_manager().register_plugin(echo_plugin)\n"
        "from llmreg.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    args = ["predict", f"folder:{folder}", "--file", _prompts(tmp_path, 2), "--output", str(out)]
    done = subprocess.run(
        [sys.executable, "-c", runner, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == (
        f"error: ConfigError: cannot write {out}: it is a FIFO (named pipe), and llmreg writes "
        "only regular files (it never replaces or writes through anything else): give the "
        "path of a regular file, or of a new one\n"
    )
    assert stat.S_ISFIFO(os.lstat(out).st_mode)


def test_a_spark_output_that_is_a_link_is_refused_before_the_job(run, tmp_path, monkeypatch):
    """The Spark output is a new folder the loader's job writes; a link there is refused."""
    jobs: list[str] = []

    def spark_predict(self, uri, file, output, master=None, concurrency=None):
        jobs.append(output)
        raise AssertionError("the job must not start")

    monkeypatch.setattr(CountingLoader, "spark_predict", spark_predict, raising=False)
    out = tmp_path / "answers"
    out.symlink_to(tmp_path / "nowhere")  # a link to nothing: exists() says False
    done = run("--file", _prompts(tmp_path, 2), "--output", str(out), "--spark")
    assert done.exit_code == 1
    assert done.stderr.startswith(f"error: ConfigError: cannot write {out}: it is a symbolic link")
    assert jobs == [] and out.is_symlink()
