"""The console in a real headless Chromium, against a live server and a real store.

Login (refused with a wrong key), the models and diff pages, comparing two
versions in the playground (and saving the comparison as evaluation runs), a
rollout started through ``llmreg_gateway.rollout.operations`` and aborted from
the page, and a key created and revoked from the page, then refused by the
controls' ``identify``. Each test takes screenshots for ``docs/console.md``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
from typing import Any

import httpx
import pytest

from llmreg_gateway.rollout import operations
from llmreg_gateway.rollout.spec import Guards
from llmreg_gateway.rollout.state import RolloutStore, SystemClock
from support.console_site import MODEL, Site, login, shoot

pytestmark = pytest.mark.timeout(240)


def test_a_wrong_key_is_refused_and_the_admin_key_logs_in(page: Any, site: Site) -> None:
    login(page, site, key="not-the-key")
    assert page.get_by_role("alert").inner_text().startswith("Error:")
    assert "not the admin key" in page.content()
    assert "not-the-key" not in page.content()
    assert not [c for c in page.context.cookies() if c["name"] == "llmreg_console"]
    shoot(page, "login-refused")

    # From the keyboard: the field has the focus after a Tab past the skip link and
    # the nav-less header, and Enter sends the form.
    page.get_by_label("Admin key").fill(site.admin_key)
    page.get_by_label("Admin key").press("Enter")
    page.wait_for_url("**/console/models")
    assert page.get_by_role("link", name=MODEL).is_visible()
    assert "@champion → v1" in page.content()
    assert site.admin_key not in page.content()
    cookie = next(c for c in page.context.cookies() if c["name"] == "llmreg_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert site.admin_key not in cookie["value"]
    shoot(page, "models")

    page.get_by_role("button", name="Log out").click()
    assert page.url.endswith("/console/login")
    page.goto(f"{site.url}/console/models")
    assert page.url.endswith("/console/login")


def test_a_post_without_its_csrf_token_is_refused(site: Site) -> None:
    with httpx.Client(base_url=site.url, follow_redirects=False) as http:
        page = http.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        no_token = http.post("/console/login", data={"key": site.admin_key, "csrf": "x"})
        assert no_token.status_code == 403 and "llmreg_console=" not in str(no_token.headers)
        ok = http.post("/console/login", data={"key": site.admin_key, "csrf": token[1]})
        assert ok.status_code == 303
        keys = http.post("/console/keys", data={"label": "forged", "csrf": "wrong"})
        assert keys.status_code == 403
        assert "forged" not in http.get("/console/keys").text
        # What the path says is escaped wherever a page repeats it.
        odd = http.get('/console/keys/"><b id=x>k/revoke')
        assert odd.status_code == 400 and "<b id=x>" not in odd.text
        assert "no managed key has the id" in odd.text


def _logged_in(site: Site) -> tuple[httpx.Client, str]:
    http = httpx.Client(base_url=site.url, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', http.get("/console/login").text)
    assert token is not None
    assert http.post("/console/login", data={"key": site.admin_key, "csrf": token[1]}).is_redirect
    csrf = re.search(r'name="csrf" value="([^"]+)"', http.get("/console/playground").text)
    assert csrf is not None
    return http, csrf[1]


def test_the_playground_without_script_and_its_stream(site: Site) -> None:
    http, csrf = _logged_in(site)
    try:
        form = {"csrf": csrf, "targets": f"{MODEL}/1\n{MODEL}@champion", "prompt": "hi you"}
        plain = http.post("/console/playground", data=form)
        assert plain.status_code == 200
        assert plain.text.count('class="answer">echo: hi you<') == 2  # v1, @champion (v1)
        assert "Word diff against the first" in plain.text
        with http.stream("POST", "/console/playground/stream", data=form) as streamed:
            assert streamed.headers["content-type"] == "application/x-ndjson"
            events = [json.loads(line) for line in streamed.iter_lines() if line]
        assert events[0] == {"targets": [f"models:/{MODEL}/1", f"models:/{MODEL}@champion"]}
        texts = {e["i"]: e["text"] for e in events if "text" in e}
        assert texts == {0: "echo: hi you", 1: "echo: hi you"}
        assert "Save as evaluation run" in events[-1]["html"]
        one = http.post("/console/playground", data={**form, "targets": f"{MODEL}/1"})
        assert one.status_code == 400 and "give 2 to 6 versions" in one.text
        bad = http.post("/console/playground", data={**form, "targets": "x/1\nnot a target"})
        assert bad.status_code == 400 and "give NAME/VERSION" in bad.text
    finally:
        http.close()


def test_the_definition_diff_of_two_versions(page: Any, site: Site) -> None:
    login(page, site)
    page.get_by_role("link", name=MODEL).click()
    assert page.get_by_role("table", name=f"History of {MODEL}@champion").is_visible()
    page.get_by_label("From version").select_option("1")
    page.get_by_label("to version").select_option("3")
    page.get_by_role("button", name="Show the diff").click()
    rows = page.get_by_role("table", name="Changed settings").inner_text()
    assert "temperature" in rows and "0.1" in rows and "0.7" in rows
    assert "provider" not in rows  # both are echo: only what differs is listed
    shoot(page, "diff")


def test_compare_two_versions_in_the_playground(page: Any, site: Site) -> None:
    login(page, site)
    page.goto(f"{site.url}/console/models/{MODEL}")
    page.get_by_label("v1", exact=True).check()
    page.get_by_label("v2", exact=True).check()
    page.get_by_role("button", name="Compare the checked versions in the playground").click()
    assert page.get_by_label("Versions or aliases").input_value().splitlines() == [
        f"models:/{MODEL}/1",
        f"models:/{MODEL}/2",
    ]
    page.get_by_label("Prompt").fill("hello there world")
    # The page's script streams the answers (NDJSON over fetch), then shows the
    # server's final HTML: the same columns as the plain form.
    with page.expect_response(lambda r: r.url.endswith("/console/playground/stream")) as sent:
        page.get_by_role("button", name="Compare").click()
    assert sent.value.status == 200
    page.get_by_role("button", name="Save as evaluation run").wait_for()
    first = page.get_by_role("region", name=f"Answer of models:/{MODEL}/1")
    second = page.get_by_role("region", name=f"Answer of models:/{MODEL}/2")
    assert "echo: hello there world" in first.inner_text()
    assert "HELLO THERE WORLD" in second.inner_text()
    assert re.search(r"Latency\s+[\d.]+ ms", first.inner_text())
    assert re.search(r"Tokens\s+7", first.inner_text())  # echo: 3 words in, 4 out
    assert re.search(r"Tokens\s+not reported", second.inner_text())  # shout reports none
    diff = page.locator(".diff")  # the second column against the first, word by word
    assert diff.count() == 1 and "Word diff" in diff.inner_text()
    assert diff.locator("del").count() >= 1 and diff.locator("ins").count() >= 1
    shoot(page, "playground")

    page.get_by_role("button", name="Save as evaluation run").click()
    assert "saved 2 evaluation runs" in page.get_by_role("status").inner_text()
    run_ids = [c.inner_text() for c in page.locator("main li code").all()]
    from mlflow import MlflowClient

    client = MlflowClient(site.tracking_uri)
    for run_id in run_ids:
        assert client.get_run(run_id).data.tags  # a real run in the store


def test_start_then_abort_a_rollout_from_the_page(page: Any, site: Site) -> None:
    store = RolloutStore(site.register)
    rollout = operations.start(
        store, SystemClock(), MODEL, to="2", alias="champion", steps=(10, 50, 100),
        interval_s=300.0, sticky_by="key", guards=Guards(),
    )  # fmt: skip
    for ms in (20.0, 30.0, 40.0):
        site.stats.record(rollout.id, 0, "stable", ok=True, latency_ms=ms, tokens=12)
    site.stats.record(rollout.id, 0, "canary", ok=False, latency_ms=90.0)
    login(page, site)
    page.get_by_role("link", name="Rollouts").click()
    section = page.get_by_role("region", name=re.compile(f"{MODEL}@champion"))
    assert "running" in section.inner_text()
    arms = section.get_by_role("table", name=re.compile("This step's numbers")).inner_text()
    assert re.search(r"stable\s+v1\s+3\s+0", arms) and re.search(r"canary\s+v2\s+1\s+1", arms)
    decisions = section.get_by_role("table", name=re.compile("Decisions")).inner_text()
    assert "rollout started" in decisions
    shoot(page, "rollouts")

    section.get_by_role("link", name=f"Abort {MODEL}@champion").click()
    assert page.get_by_role("heading", name="Confirm abort").is_visible()
    page.get_by_label("Reason").fill("canary errors in the console test")
    page.get_by_role("button", name="Confirm: abort").click()
    assert "rollout aborted" in page.get_by_role("status").inner_text()
    assert store.get(MODEL, "champion").status == "aborted"
    notes = [m.note or "" for m in site.register.history(MODEL, "champion")]
    assert any("canary errors in the console test" in n for n in notes)
    assert site.register.versions(MODEL)[0].aliases == ("champion",)  # stays on v1
    shoot(page, "rollout-aborted")


def test_create_then_revoke_a_key_which_is_then_refused(page: Any, site: Site) -> None:
    login(page, site)
    page.get_by_role("link", name="Keys and spend").click()
    page.get_by_label("Label").fill("support-team")
    page.get_by_label("Budget in USD").fill("5")
    page.get_by_role("button", name="Create the key").click()
    secret = page.locator("output#secret").inner_text()
    assert secret.startswith("sk-") or len(secret) > 30
    key_id = re.search(r"created (key-[0-9a-f]+)", page.content())[1]  # type: ignore[index]
    bearer = {"authorization": f"Bearer {secret}"}
    assert httpx.get(f"{site.url}/whoami", headers=bearer).json() == {"id": key_id}
    page.get_by_role("link", name="Keys and spend").click()
    assert secret not in page.content()  # shown once
    row = page.get_by_role("row", name=re.compile(key_id))
    assert "$0 of $5 monthly" in row.inner_text() and "active" in row.inner_text()

    row.get_by_role("link", name=f"Revoke {key_id}").click()
    page.get_by_role("button", name="Confirm: revoke").click()
    assert f"revoked {key_id}" in page.get_by_role("status").inner_text()
    assert "revoked" in page.get_by_role("row", name=re.compile(key_id)).inner_text()
    assert httpx.get(f"{site.url}/whoami", headers=bearer).status_code == 401
    shoot(page, "keys")


def test_a_wrong_key_is_logged_without_what_was_typed(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    typed = "typed-" + site.admin_key[::-1]
    with httpx.Client(base_url=site.url, follow_redirects=True) as http, caplog.at_level("DEBUG"):
        token = re.search(r'name="csrf" value="([^"]+)"', http.get("/console/login").text)
        assert token is not None
        refused = http.post("/console/login", data={"key": typed, "csrf": token[1]})
        assert refused.status_code == 401 and typed not in refused.text
        right = http.post("/console/login", data={"key": site.admin_key, "csrf": token[1]})
        assert right.status_code == 200 and site.admin_key not in right.text
    assert "a login with a wrong admin key was refused" in caplog.text
    assert typed not in caplog.text and site.admin_key not in caplog.text


def _in_process(app: Any, path: str, key: str | None = None) -> httpx.Response:
    """GET ``path`` from ``app`` in process, in a thread of its own (Playwright's sync
    API keeps an event loop running in this one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _asgi_get_after_login(app, path, key)).result()


async def _asgi_get_after_login(app: Any, path: str, key: str | None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        if key is not None:
            token = re.search(r'name="csrf" value="([^"]+)"', (await http.get("/login")).text)
            assert token is not None
            done = await http.post("/login", data={"key": key, "csrf": token[1]})
            assert done.status_code == 303
        return await http.get(path)


def test_the_session_cookie_is_secure_over_https(
    versions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmreg_gateway.console import create_console

    key = "tls-" + os.urandom(8).hex()
    monkeypatch.setenv("LLMREG_CONSOLE_TLS_KEY", key)
    app = create_console(admin_key="env:LLMREG_CONSOLE_TLS_KEY", register=versions)

    async def login() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://127.0.0.1") as http:
            token = re.search(r'name="csrf" value="([^"]+)"', (await http.get("/login")).text)
            assert token is not None
            return await http.post("/login", data={"key": key, "csrf": token[1]})

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        done = pool.submit(asyncio.run, login()).result()
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("llmreg_console="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert key not in cookie


def test_versions_link_to_the_mlflow_ui_of_an_http_store(
    versions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmreg_gateway.console import create_console

    key = "links-" + os.urandom(8).hex()
    monkeypatch.setenv("LLMREG_CONSOLE_LINKS_KEY", key)
    app = create_console(admin_key="env:LLMREG_CONSOLE_LINKS_KEY", register=versions,
                         tracking_uri="http://mlflow.internal:5000/")  # fmt: skip
    page = _in_process(app, f"/models/{MODEL}", key).text
    for version in (1, 2, 3):
        assert f'href="http://mlflow.internal:5000/#/models/{MODEL}/versions/{version}"' in page


def test_the_console_is_off_without_an_admin_key(versions: Any) -> None:
    from llmreg_gateway.console import create_console

    off = create_console(admin_key=None, register=versions)
    answer = _in_process(off, "/models")
    assert answer.status_code == 404 and "the console is off" in answer.text
