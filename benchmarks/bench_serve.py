"""Serving throughput: ``llmreg serve`` against ``mlflow models serve`` and a bare pass-through.

Measured in one run: ``llmreg serve`` /predict (no keys), ``/v1/chat/completions`` with
keys, the access log and metrics on, the same with ``--workers 2``, a bare aiohttp
pass-through proxy (the floor for a Python proxy) and ``mlflow models serve``.

One saved model (CustomSaver, registered as ``chat@champion`` in a sqlite store
in a temp folder) answering through the OpenAI-compatible fake server with 0 ms
of latency, so that the serving layers themselves are what is measured. Both
servers run as one process each, on loopback; 32 concurrent clients send
one-row requests for a fixed time against each in turn, after a warm-up.

Prints requests/s for both and the ratio (goal: llmreg >= 2x), and where the
CPU went per request: the server's, the fake endpoint's, the load generator's.
The load generator is aiohttp (installed with mlflow): httpx's async client
spent 3.5 ms of CPU per request here, more than the server under test, and on
2 cores that capped both servers' figures. Needs llmreg[serve], llmreg-pyfunc,
llmreg-mlflow and llmreg-litellm. Run:

    python benchmarks/bench_serve.py [--seconds 10] [--clients 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(folder: Path) -> dict[str, str]:
    """The environment of every process: the store in ``folder``, the venv's bin on PATH."""
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT / "tests")
    env["BENCH_KEY"] = "sk-bench"
    env.setdefault("LLMREG_DISABLE_PLUGINS", "llmreg-broken,llmreg-incompatible")
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    return env


def start(cmd: list[str], folder: Path, log: str) -> subprocess.Popen[bytes]:
    """Start a server process in its own session, output to ``folder/log``."""
    with (folder / log).open("wb") as out:
        return subprocess.Popen(
            cmd,
            cwd=folder,
            env=environment(folder),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL it after 10 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 300.0) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def save_model(folder: Path, base_url: str) -> None:
    """Save and register the model as chat@champion through the CLI."""
    config = folder / "chat.json"
    definition = {
        "provider": "openai",
        "model": "bench",
        "base_url": base_url,
        "api_key": "env:BENCH_KEY",
    }
    config.write_text(json.dumps(definition))
    cmd = [str(BIN / "llmreg"), "save", str(config), "--register", "--name", "chat"]
    subprocess.run([*cmd, "--alias", "champion"], cwd=folder, env=environment(folder), check=True)


async def load(
    url: str,
    body: dict[str, object],
    clients: int,
    seconds: float,
    auth: str | None = None,
) -> tuple[int, int]:
    """``clients`` loops posting ``body`` for ``seconds``; return (ok, failed) counts.

    Each client reads every answer in full, so a request counts once it is answered.
    """
    ok = failed = 0
    data = json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if auth:
        headers["authorization"] = f"Bearer {auth}"
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        deadline = time.perf_counter() + seconds

        async def one_client() -> None:
            nonlocal ok, failed
            while time.perf_counter() < deadline:
                async with session.post(url, data=data, headers=headers) as answer:
                    await answer.read()
                    if answer.status == 200:
                        ok += 1
                    else:
                        failed += 1

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return ok, failed


def session_cpu_seconds(session: int) -> float:
    """CPU time (user + system) of every live process in ``session`` (a server and its children)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # field 6 of stat: the session id
            total += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return total / os.sysconf("SC_CLK_TCK")


#: name -> (requests/s, server CPU ms per request), for the ratios printed at the end.
RESULTS: dict[str, tuple[float, float]] = {}

#: The floor for a Python proxy: reads the body, forwards it, returns the answer.
FORWARDER_SCRIPT = """
import sys
from aiohttp import ClientSession, TCPConnector, web
upstream = sys.argv[2]
async def start(app):
    app["session"] = ClientSession(connector=TCPConnector(limit=0))
async def stop(app):
    await app["session"].close()
async def forward(request):
    body = await request.read()
    async with request.app["session"].post(upstream, data=body,
            headers={"content-type": "application/json"}) as answer:
        return web.Response(body=await answer.read(), status=answer.status,
                            content_type="application/json")
app = web.Application()
app.on_startup.append(start)
app.on_cleanup.append(stop)
app.router.add_post("/v1/chat/completions", forward)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def measure(
    name: str,
    url: str,
    body: dict[str, object],
    clients: int,
    seconds: float,
    process: subprocess.Popen[bytes],
    fake: subprocess.Popen[bytes],
    auth: str | None = None,
) -> float:
    """Warm up, then measure requests/s at ``clients`` concurrent clients.

    Also prints the CPU time per request of the server (which the shared parts
    and other load on the machine do not blur), of the fake endpoint ``fake``
    and of this process, the load generator.
    """
    asyncio.run(load(url, body, clients, min(3.0, seconds), auth))
    before = session_cpu_seconds(process.pid), session_cpu_seconds(fake.pid), time.process_time()
    ok, failed = asyncio.run(load(url, body, clients, seconds, auth))
    after = session_cpu_seconds(process.pid), session_cpu_seconds(fake.pid), time.process_time()
    per_request = [(b - a) * 1000 / max(ok, 1) for a, b in zip(before, after, strict=True)]
    server_ms, fake_ms, load_ms = per_request
    rate = ok / seconds
    RESULTS[name] = (rate, server_ms)
    print(
        f"{name:<34}: {rate:8.1f} requests/s ({ok} ok, {failed} failed, {clients} clients); "
        f"CPU ms/request: server {server_ms:.2f}, endpoint {fake_ms:.2f}, load {load_ms:.2f}"
    )
    if failed:
        raise RuntimeError(f"{name}: {failed} requests failed")
    return rate


def main() -> None:
    """Run both servers on one saved model and print their throughput and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp)
        fake_port = free_port()
        fake = start(
            [sys.executable, "-m", "support.openai_server", "--port", str(fake_port)],
            folder,
            "fake.log",
        )
        processes = [fake]
        try:
            wait_for(f"http://127.0.0.1:{fake_port}/health", fake)
            save_model(folder, f"http://127.0.0.1:{fake_port}/v1")
            uri = "models:/chat@champion"
            ours, theirs = free_port(), free_port()
            llmreg = start(
                [str(BIN / "llmreg"), "serve", uri, "--port", str(ours), "--no-auth"],
                folder,
                "llmreg.log",
            )
            processes.append(llmreg)
            mlflow = start(
                [
                    str(BIN / "mlflow"),
                    "models",
                    "serve",
                    "-m",
                    uri,
                    "--env-manager",
                    "local",
                    "-p",
                    str(theirs),
                    "-h",
                    "127.0.0.1",
                ],
                folder,
                "mlflow.log",
            )
            processes.append(mlflow)
            keyed, proxy, two = free_port(), free_port(), free_port()
            # keys, the JSON access log and /metrics on (the default), as in production
            served_keyed = start(
                [str(BIN / "llmreg"), "serve", uri, "--port", str(keyed),
                 "--api-key", "env:BENCH_KEY"],
                folder, "llmreg-keyed.log",
            )  # fmt: skip
            processes.append(served_keyed)
            bare = start(
                [sys.executable, "-c", FORWARDER_SCRIPT, str(proxy),
                 f"http://127.0.0.1:{fake_port}/v1/chat/completions"],
                folder, "pass-through.log",
            )  # fmt: skip
            processes.append(bare)
            wait_for(f"http://127.0.0.1:{ours}/ready", llmreg)
            wait_for(f"http://127.0.0.1:{theirs}/ping", mlflow)
            wait_for(f"http://127.0.0.1:{keyed}/ready", served_keyed)
            time.sleep(1.0)  # the pass-through has no health route
            print(f"backend: fake OpenAI server, 0 ms latency; one-row requests; {uri}")
            chat = {"model": "chat", "messages": [{"role": "user", "content": "hello"}]}
            rate_ours = measure(
                "llmreg serve /predict",
                f"http://127.0.0.1:{ours}/predict",
                {"rows": [{"input": "hello"}]},
                args.clients,
                args.seconds,
                llmreg,
                fake,
            )
            measure(
                "llmreg serve chat (keys,log,metrics)",
                f"http://127.0.0.1:{keyed}/v1/chat/completions",
                chat,
                args.clients,
                args.seconds,
                served_keyed,
                fake,
                auth="sk-bench",
            )
            measure(
                "bare aiohttp pass-through",
                f"http://127.0.0.1:{proxy}/v1/chat/completions",
                {**chat, "model": "fake-model"},
                args.clients,
                args.seconds,
                bare,
                fake,
            )
            rate_theirs = measure(
                "mlflow models serve /invocations",
                f"http://127.0.0.1:{theirs}/invocations",
                {"dataframe_records": [{"input": "hello"}]},
                args.clients,
                args.seconds,
                mlflow,
                fake,
            )
            stop(served_keyed)
            processes.remove(served_keyed)
            workers = start(
                [str(BIN / "llmreg"), "serve", uri, "--port", str(two), "--workers", "2",
                 "--api-key", "env:BENCH_KEY"],
                folder, "llmreg-workers.log",
            )  # fmt: skip
            processes.append(workers)
            wait_for(f"http://127.0.0.1:{two}/ready", workers)
            time.sleep(2.0)  # both workers loaded
            measure(
                "llmreg serve chat --workers 2",
                f"http://127.0.0.1:{two}/v1/chat/completions",
                chat,
                args.clients,
                args.seconds,
                workers,
                fake,
                auth="sk-bench",
            )
            print(f"ratio llmreg/mlflow: {rate_ours / rate_theirs:.2f}x (goal >= 2x)")
            keyed_rate, keyed_cpu = RESULTS["llmreg serve chat (keys,log,metrics)"]
            bare_rate, bare_cpu = RESULTS["bare aiohttp pass-through"]
            two_rate = RESULTS["llmreg serve chat --workers 2"][0]
            print(
                f"llmreg chat server CPU / pass-through's: {keyed_cpu / max(bare_cpu, 1e-9):.1f}x "
                f"(goal <= 3x); throughput {keyed_rate / bare_rate:.2f}x the pass-through's; "
                f"--workers 2 / 1 worker: {two_rate / keyed_rate:.2f}x (goal >= 1.6x where "
                "the load generator is not the bottleneck)"
            )
            print("LiteLLM proxy: not measured here (litellm[proxy] is not installed)")
        finally:
            for process in reversed(processes):
                stop(process)


if __name__ == "__main__":
    main()
