"""Time to first token: the fake upstream directly against ``llmreg serve`` in front of it.

The fake OpenAI server (tests/support/openai_server.py, its own process) streams N
content chunks after a fixed delay before the first (the model name ``slow-<ms>-...``
holds the delay; ``[gap <ms>]`` spaces the chunks after it). One model is saved and
registered as ``chat@champion`` (CustomSaver, sqlite store in a temp folder) and served
by ``llmreg serve`` with a key, the JSON access log and ``/metrics`` on. ``--clients``
concurrent clients (aiohttp) stream for ``--seconds`` each against:

- the upstream directly, and ``llmreg serve`` (text chat: ``Client.astream``);
- the same with ``tools`` (the pass-through: ``Client.achat_stream``), first token = the
  first tool-call delta (the upstream streams a call as a head and three argument
  fragments, whatever ``--chunks``).

The clients' first requests are spread over one text stream's duration (``--spread-ms``;
0 sends them all at once), as independent users' requests would be, then each client
streams again as soon as its stream ends.

The time to first token (TTFT) is measured from sending the request to reading the
first event that carries content (or a tool call). Prints the median and p90 of each,
and llmreg's median minus the upstream's (goal: <= 5 ms at 32 clients). Needs
llmreg-gateway, llmreg-pyfunc, llmreg-mlflow and llmreg-litellm (the integration env).
Run:

    python benchmarks/bench_stream.py [--seconds 10] [--clients 32] [--delay-ms 50]
        [--chunks 20] [--gap-ms 20] [--spread-ms MS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import (
    BIN,
    environment,
    free_port,
    session_cpu_seconds,
    start,
    stop,
    wait_for,
)

KEY = "sk-bench"  # bench_serve's environment sets BENCH_KEY to it
TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}


def _first_token(event: dict[str, Any]) -> bool:
    """Whether a chunk carries content text or a tool call (a role-only chunk does not)."""
    for choice in event.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls"):
            return True
    return False


async def load(
    url: str,
    body: dict[str, Any],
    clients: int,
    seconds: float,
    auth: str | None,
    spread: float = 0.0,
) -> tuple[list[float], list[float], int]:
    """``clients`` loops streaming ``body`` for ``seconds``.

    Client ``i`` starts ``i * spread / clients`` seconds late (``spread``: about one
    stream's duration), so that the clients do not all ask at the same instant, as
    independent users would not. Returns the TTFTs and whole-stream times (seconds)
    of the streams that ended with ``[DONE]`` after a first token, and how many did not.
    """
    data = json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if auth:
        headers["authorization"] = f"Bearer {auth}"
    ttfts: list[float] = []
    totals: list[float] = []
    failed = 0
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        deadline = time.perf_counter() + seconds

        async def one_client(index: int) -> None:
            nonlocal failed
            await asyncio.sleep(index * spread / clients)
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                first = None
                done = False
                async with session.post(url, data=data, headers=headers) as answer:
                    if answer.status != 200:
                        await answer.read()
                        failed += 1
                        continue
                    async for raw in answer.content:
                        line = raw.strip()
                        if not line.startswith(b"data: "):
                            continue
                        if line == b"data: [DONE]":
                            done = True
                            continue
                        if first is None and _first_token(json.loads(line[6:])):
                            first = time.perf_counter() - sent
                if first is None or not done:
                    failed += 1
                else:
                    ttfts.append(first)
                    totals.append(time.perf_counter() - sent)

        await asyncio.gather(*(one_client(i) for i in range(clients)))
    return ttfts, totals, failed


def measure(
    name: str,
    url: str,
    body: dict[str, Any],
    args: argparse.Namespace,
    auth: str | None = None,
    process: subprocess.Popen[bytes] | None = None,
) -> float:
    """Warm up, measure, print one line; return the median TTFT in ms.

    With ``process`` (llmreg serve), also its CPU time per stream.
    """
    spread = args.spread_ms / 1000
    asyncio.run(load(url, body, args.clients, min(2.0, args.seconds), auth, spread))
    cpu = session_cpu_seconds(process.pid) if process is not None else 0.0
    ttfts, totals, failed = asyncio.run(load(url, body, args.clients, args.seconds, auth, spread))
    if process is not None:
        cpu = session_cpu_seconds(process.pid) - cpu
    if not ttfts:
        raise RuntimeError(f"{name}: no stream finished ({failed} failed)")
    ms = sorted(t * 1000 for t in ttfts)
    median = statistics.median(ms)
    p90 = ms[int(len(ms) * 0.9) - 1] if len(ms) >= 10 else ms[-1]
    whole = statistics.median(totals) * 1000
    print(
        f"{name:<30}: TTFT median {median:7.2f} ms, p90 {p90:7.2f} ms; whole stream "
        f"{whole:7.1f} ms; {len(ms) / args.seconds:6.1f} streams/s ({len(ms)} ok, "
        f"{failed} failed, {args.clients} clients)"
        + (f"; llmreg CPU {cpu * 1000 / len(ms):.2f} ms/stream" if process is not None else "")
    )
    if failed:
        raise RuntimeError(f"{name}: {failed} streams failed")
    return median


def save_model(folder: Path, base_url: str, model: str) -> None:
    """Save and register ``model`` at ``base_url`` as chat@champion through the CLI."""
    config = folder / "chat.json"
    definition = {"provider": "openai", "model": model, "base_url": base_url,
                  "api_key": "env:BENCH_KEY"}  # fmt: skip
    config.write_text(json.dumps(definition))
    cmd = [str(BIN / "llmreg"), "save", str(config), "--register", "--name", "chat"]
    subprocess.run([*cmd, "--alias", "champion"], cwd=folder, env=environment(folder), check=True)


def main() -> None:
    """Start the upstream and llmreg serve, measure TTFT both ways, print the differences."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--delay-ms", type=int, default=50, help="upstream delay before the first chunk"
    )
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    parser.add_argument("--gap-ms", type=int, default=20, help="upstream gap between chunks")
    parser.add_argument(
        "--spread-ms",
        type=float,
        default=None,
        help="the clients' start times spread over this (default: one stream's duration; "
        "0: all at once)",
    )
    args = parser.parse_args()
    if args.spread_ms is None:
        args.spread_ms = args.delay_ms + args.gap_ms * (args.chunks - 1)
    model = f"slow-{args.delay_ms}-bench-stream"
    # "echo: [gap G] w3 ... wN": the upstream answers with N words, one chunk each
    words = " ".join(f"w{i}" for i in range(3, args.chunks + 1))
    messages = [{"role": "user", "content": f"[gap {args.gap_ms}] {words}"}]
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
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
            save_model(folder, f"http://127.0.0.1:{fake_port}/v1", model)
            port = free_port()
            served = start(
                [str(BIN / "llmreg"), "serve", "models:/chat@champion", "--port", str(port),
                 "--api-key", "env:BENCH_KEY"],
                folder, "llmreg.log",
            )  # fmt: skip
            processes.append(served)
            wait_for(f"http://127.0.0.1:{port}/ready", served)
            upstream = f"http://127.0.0.1:{fake_port}/v1/chat/completions"
            ours = f"http://127.0.0.1:{port}/v1/chat/completions"
            print(
                f"upstream: fake OpenAI server, {args.delay_ms} ms before the first chunk, "
                f"{args.chunks} content chunks {args.gap_ms} ms apart; {args.clients} clients, "
                f"{args.seconds:g} s each; llmreg serve with a key, access log and metrics on"
            )
            direct = {"model": model, "messages": messages, "stream": True}
            through = {**direct, "model": "chat"}
            results = {}
            for label, extra in (("text", {}), ("tools", {"tools": [TOOL]})):
                results[label] = (
                    measure(f"upstream directly ({label})", upstream, {**direct, **extra}, args),
                    measure(
                        f"through llmreg serve ({label})",
                        ours,
                        {**through, **extra},
                        args,
                        auth=KEY,
                        process=served,
                    ),
                )
            for label, (theirs, mine) in results.items():
                print(
                    f"TTFT through llmreg - upstream ({label}): {mine - theirs:+.2f} ms "
                    f"(median {mine:.2f} vs {theirs:.2f}; goal <= +5 ms)"
                )
        finally:
            for process in reversed(processes):
                stop(process)


if __name__ == "__main__":
    main()
