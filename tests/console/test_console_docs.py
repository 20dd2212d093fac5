"""docs/console.md's mount (``<!-- run: console -->``), run as written in a host app.

The block is a fragment of a host's code: the names it uses are the host's (its
``app``, the register and loader it built, no controls or stats, its store), bound
here before the block runs. Then the mounted console answers as the page says: its
login page, and the models page after logging in with the admin key it reads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from typing import Any

import httpx
import pytest

from support.console_site import MODEL
from support.docs import marked

ADMIN = "sk-console-docs-admin-7c1d"


async def _visit(app: Any, key: str) -> tuple[httpx.Response, httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        form = await http.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None, form.text[:500]
        done = await http.post("/console/login", data={"key": key, "csrf": token[1]})
        assert done.status_code == 303, done.text[:500]
        return form, await http.get("/console/models")


def test_the_mount_runs_as_written(
    versions: Any, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi import FastAPI

    from llmreg.manager import get_plugin_manager

    [block] = marked("docs/console.md", "console")
    monkeypatch.setenv("LLMREG_ADMIN_KEY", ADMIN)
    host: dict[str, object] = {
        "app": FastAPI(),
        "register": versions,
        "loader": get_plugin_manager().loader({"KIND": "CustomLoader"}),
        "controls": None,
        "rollout_stats": None,
        "tracking_uri": store,
    }
    exec(compile(block.body, "docs/console.md", "exec"), host)  # noqa: S102 - the doc's code
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        form, models = pool.submit(asyncio.run, _visit(host["app"], ADMIN)).result()
    assert form.status_code == 200 and ADMIN not in form.text
    assert models.status_code == 200 and MODEL in models.text
