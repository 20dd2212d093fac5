"""The playground: one prompt to two or more versions or aliases, answers side by
side with latency, tokens and a word diff; saved as evaluation runs on request."""

from __future__ import annotations

import asyncio
import difflib
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from llmreg.capabilities import EvaluationLogger, require
from llmreg.errors import ConfigError
from llmreg_gateway.console.context import Console, Ctx
from llmreg_gateway.console.page import esc, hidden_csrf, layout, message

#: A target: ``NAME/VERSION``, ``NAME@ALIAS`` or a ``models:/`` URI of either.
_TARGET = re.compile(r"^(?:models:/)?([^/@\s]+)(?:/(\d+)|@([A-Za-z0-9_\-]+))$")
#: The most targets and the longest prompt one comparison takes.
MAX_TARGETS = 6
MAX_PROMPT = 20_000
#: Comparisons kept per session (for "save as evaluation run").
KEEP = 20


@dataclass
class Answer:
    """One target's answer to the prompt."""

    uri: str
    text: str | None
    error: str | None
    latency_ms: float
    usage: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def target_uri(text: str) -> str:
    """The ``models:/`` URI of a target the user typed.

    Raises:
        ConfigError: not ``NAME/VERSION``, ``NAME@ALIAS`` or such a ``models:/`` URI.
    """
    found = _TARGET.match(text.strip())
    if not found:
        raise ConfigError(
            f"target {text[:80]!r}: give NAME/VERSION, NAME@ALIAS or models:/NAME/VERSION"
        )
    name, version, alias = found.groups()
    return f"models:/{name}/{version}" if version else f"models:/{name}@{alias}"


def targets_of(values: list[str]) -> list[str]:
    """The distinct target URIs of form values (one per value or per line), in order."""
    out: list[str] = []
    for value in values:
        for line in value.splitlines():
            if line.strip() and (uri := target_uri(line)) not in out:
                out.append(uri)
    return out


def word_diff(left: str, right: str) -> str:
    """``right`` against ``left`` word by word: removed words in ``<del>``, added in ``<ins>``."""
    a, b = left.split(), right.split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(esc(" ".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(f"<del>{esc(' '.join(a[i1:i2]))}</del>")
        if j2 > j1:
            out.append(f"<ins>{esc(' '.join(b[j1:j2]))}</ins>")
    return " ".join(out)


def ask(console: Console, uri: str, prompt: str) -> Answer:
    """Load ``uri``, answer ``prompt`` with ``predict``, close; a failure is the answer's."""
    if console.loader is None:
        raise ConfigError("the console was started without a loader: the playground needs one")
    try:
        adapter = console.loader.load(uri)
    except Exception as exc:  # shown on the page, in the column of the target that failed
        return Answer(uri, None, f"{type(exc).__name__}: {exc}", 0.0)
    try:
        # The latency of the answer alone (the same clock for every target), not the load.
        start = time.perf_counter()
        result = adapter.predict({"input": prompt}).rows[0]
        latency = (time.perf_counter() - start) * 1000
        meta = result.metadata
        return Answer(
            uri,
            result.prediction,
            None if result.ok else str(meta.get("error") or "the row failed"),
            latency,
            {k: v for k, v in (meta.get("usage") or {}).items() if v is not None},
            dict(adapter.info),
        )
    finally:
        adapter.close()


def _order(uri: str) -> tuple[str, int, str]:
    name, _, version = uri.rpartition("/")
    return (name, int(version), "") if version.isdigit() else (uri, 0, uri)


def _form(ctx: Ctx, targets: list[str], prompt: str) -> str:
    return (
        f'<form method="post" action="{ctx.root}/playground" data-busy="Asking…" '
        f'data-stream="{ctx.root}/playground/stream">'
        f"{hidden_csrf(ctx.session.csrf)}"
        '<label for="targets">Versions or aliases, one a line (NAME/VERSION or NAME@ALIAS)</label>'
        f'<textarea id="targets" name="targets" rows="4" required>{esc(chr(10).join(targets))}'
        '</textarea><label for="prompt">Prompt</label>'
        f'<textarea id="prompt" name="prompt" rows="5" required>{esc(prompt)}</textarea>'
        '<button type="submit">Compare</button></form>'
    )


def _columns(answers: list[Answer]) -> str:
    cols = []
    first = answers[0].text or ""
    for index, answer in enumerate(answers):
        tokens = answer.usage.get("total_tokens", "not reported")
        body = (
            f'<p class="answer">{esc(answer.text)}</p>'
            if answer.error is None
            else message(answer.error)
        )
        if index and answer.error is None:
            body += f'<p class="diff"><strong>Word diff against the first:</strong> ' \
                    f"{word_diff(first, answer.text or '')}</p>"  # fmt: skip
        cols.append(
            f'<section class="column" aria-label="Answer of {esc(answer.uri)}">'
            f"<h3>{esc(answer.uri)}</h3>{body}<dl><dt>Latency</dt>"
            f"<dd>{answer.latency_ms:.1f} ms</dd><dt>Tokens</dt><dd>{esc(tokens)}</dd></dl>"
            "</section>"
        )
    return f'<div class="columns">{"".join(cols)}</div>'


async def show(console: Console, ctx: Ctx) -> Response:
    """``GET /playground``: the form, pre-filled with ``?target=`` values."""
    # Checked on a model's page, newest first: asked oldest first.
    targets = sorted(targets_of(ctx.request.query_params.getlist("target")), key=_order)
    body = _form(ctx, targets, "") + '<div id="answers" aria-live="polite"></div>'
    return layout(ctx.root, "Playground", body, csrf=ctx.session.csrf)


def validated(ctx: Ctx) -> tuple[list[str], str]:
    """The targets and prompt of a compare form.

    Raises:
        ConfigError: fewer than 2 or more than :data:`MAX_TARGETS` targets, a target
            that is not one, or an empty or over-long prompt.
    """
    targets = targets_of(ctx.form.get("targets", []) + ctx.form.get("target", []))
    prompt = ctx.field("prompt")
    if not 2 <= len(targets) <= MAX_TARGETS:
        raise ConfigError(f"targets: give 2 to {MAX_TARGETS} versions or aliases to compare")
    if not prompt or len(prompt) > MAX_PROMPT:
        raise ConfigError(f"prompt: type a prompt of 1 to {MAX_PROMPT} characters")
    return targets, prompt


def results(console: Console, ctx: Ctx, prompt: str, answers: list[Answer]) -> str:
    """Keep the comparison in the session; return the answers' HTML (and save button)."""
    cid = secrets.token_urlsafe(8)
    kept = ctx.session.comparisons
    kept[cid] = (prompt, answers)
    while len(kept) > KEEP:
        kept.pop(next(iter(kept)))
    save = ""
    if isinstance(console.loader, EvaluationLogger):
        save = (
            f'<form method="post" action="{ctx.root}/playground/save">'
            f'{hidden_csrf(ctx.session.csrf)}<input type="hidden" name="id" value="{cid}">'
            '<button type="submit">Save as evaluation run</button></form>'
        )
    return _columns(answers) + save


async def compare(console: Console, ctx: Ctx) -> Response:
    """``POST /playground``: ask every target at once; answers side by side."""
    targets, prompt = validated(ctx)
    answers = list(
        await asyncio.gather(*(run_in_threadpool(ask, console, t, prompt) for t in targets))
    )
    body = (
        _form(ctx, targets, prompt)
        + '<div id="answers" aria-live="polite"><h2>Answers</h2>'
        + f"{results(console, ctx, prompt, answers)}</div>"
    )
    return layout(ctx.root, "Playground", body, csrf=ctx.session.csrf)


async def save(console: Console, ctx: Ctx) -> Response:
    """``POST /playground/save``: one evaluation run per answered target."""
    logger = require(console.loader, EvaluationLogger, "loader")
    kept = ctx.session.comparisons.get(ctx.field("id"))
    if kept is None:
        raise ConfigError("this comparison is no longer kept: compare again, then save")
    prompt, answers = kept

    def log() -> list[str]:
        runs = []
        for a in answers:
            if a.error is not None:
                continue
            metrics = {"latency_ms": a.latency_ms}
            for k, v in a.usage.items():
                if isinstance(v, int | float):
                    metrics[k] = float(v)
            row = {"input": prompt, "prediction": a.text, "model": a.uri}
            runs.append(logger.log_evaluation(a.uri, a.info, metrics, 1, results=[row]))
        return runs

    runs = await run_in_threadpool(log)
    items = "".join(f"<li>evaluation run <code>{esc(r)}</code></li>" for r in runs)
    body = message(f"saved {len(runs)} evaluation runs", "ok") + f"<ul>{items}</ul>"
    return layout(ctx.root, "Playground", body, csrf=ctx.session.csrf)


__all__ = [
    "Answer",
    "compare",
    "results",
    "save",
    "show",
    "target_uri",
    "targets_of",
    "validated",
    "word_diff",
]
