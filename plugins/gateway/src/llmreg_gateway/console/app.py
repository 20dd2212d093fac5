"""The console's ASGI app: routes, the login, and the guard around every view."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from llmreg.errors import LlmregError
from llmreg_gateway.console import keys, models, playground, rollouts, stream
from llmreg_gateway.console.context import Console, Ctx
from llmreg_gateway.console.page import esc, layout, message
from llmreg_gateway.console.session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    csrf_ok,
    set_cookie,
)
from llmreg_gateway.errors import ApiError

logger = logging.getLogger(__name__)

#: The largest form body read, in bytes.
MAX_FORM = 256 * 1024
STATIC = Path(__file__).parent / "static"

View = Callable[[Console, Ctx], Awaitable[Response]]


def _root(request: Request) -> str:
    return str(request.scope.get("root_path") or "")


async def _form(request: Request) -> dict[str, list[str]] | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def _login_page(console: Console, request: Request, error: str = "", code: int = 200) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    root = _root(request)
    body = (
        message(error) + f'<form method="post" action="{root}/login">'
        f'<input type="hidden" name="csrf" value="{esc(console.sessions.login_token(nonce))}">'
        '<label for="key">Admin key</label>'
        '<input id="key" name="key" type="password" autocomplete="current-password" required>'
        '<button type="submit">Log in</button></form>'
    )
    response = layout(root, "Log in", body, status_code=code)
    set_cookie(response, request, LOGIN_COOKIE, nonce)
    return response


def _login_routes(console: Console) -> list[Route]:
    sessions = console.sessions

    async def login_get(request: Request) -> Response:
        if sessions.find(request) is not None:
            return RedirectResponse(f"{_root(request)}/models", 303)
        return _login_page(console, request)

    async def login_post(request: Request) -> Response:
        form = await _form(request) or {}
        token, key = (form.get(k, [""])[0] for k in ("csrf", "key"))
        if not sessions.login_token_ok(request, token):
            return _login_page(console, request, "the form expired: log in again", 403)
        if not sessions.key_matches(key):
            # Nothing of what was typed is logged or shown back.
            logger.warning("console: a login with a wrong admin key was refused")
            return _login_page(console, request, "that is not the admin key", 401)
        sid, _ = sessions.open()
        response = RedirectResponse(f"{_root(request)}/models", 303)
        set_cookie(response, request, SESSION_COOKIE, sid)
        clear_cookie(response, request, LOGIN_COOKIE)
        return response

    async def home(request: Request) -> Response:
        return RedirectResponse(f"{_root(request)}/models", 303)

    return [
        Route("/", home),
        Route("/login", login_get, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
    ]


def _guarded(console: Console, view: View) -> Callable[[Request], Awaitable[Response]]:
    """``view`` behind the session check and, for a POST, the CSRF check."""

    async def endpoint(request: Request) -> Response:
        root = _root(request)
        session = console.sessions.find(request)
        if session is None:
            return RedirectResponse(f"{root}/login", 303)
        form: dict[str, list[str]] = {}
        if request.method == "POST":
            read = await _form(request)
            if read is None:
                return PlainTextResponse("the form is too large", 413)
            form = read
            if not csrf_ok(session, form.get("csrf", [""])[0]):
                body = message("the form's CSRF token is wrong: reload the page and retry")
                return layout(root, "Refused", body, csrf=session.csrf, status_code=403)
        try:
            return await view(console, Ctx(request, root, session, form))
        except (LlmregError, ApiError) as exc:  # ApiError: the controls' state is down
            body = message(str(exc)) + f'<p><a href="{esc(request.url.path)}">Back</a></p>'
            return layout(root, "Not done", body, csrf=session.csrf, status_code=400)

    return endpoint


async def logout(console: Console, ctx: Ctx) -> Response:
    """``POST /logout``: end the session and forget its cookie."""
    console.sessions.close(ctx.request)
    response = RedirectResponse(f"{ctx.root}/login", 303)
    clear_cookie(response, ctx.request, SESSION_COOKIE)
    return response


#: The logged-in pages: (path, methods, view).
PAGES: tuple[tuple[str, tuple[str, ...], View], ...] = (
    ("/logout", ("POST",), logout),
    ("/models", ("GET",), models.index),
    ("/models/{name}", ("GET",), models.detail),
    ("/models/{name}/diff", ("GET",), models.diff),
    ("/playground", ("GET",), playground.show),
    ("/playground", ("POST",), playground.compare),
    ("/playground/stream", ("POST",), stream.stream),
    ("/playground/save", ("POST",), playground.save),
    ("/rollouts", ("GET",), rollouts.index),
    ("/rollouts/{name}/{alias}/{action}", ("GET",), rollouts.confirm),
    ("/rollouts/{name}/{alias}/{action}", ("POST",), rollouts.act),
    ("/keys", ("GET",), keys.index),
    ("/keys", ("POST",), keys.create),
    ("/keys/{key_id}/revoke", ("GET",), keys.confirm),
    ("/keys/{key_id}/revoke", ("POST",), keys.revoke),
)


def console_app(console: Console) -> Starlette:
    """The Starlette app serving ``console``."""
    routes: list[Route | Mount] = [*_login_routes(console)]
    routes += [Route(p, _guarded(console, v), methods=list(m)) for p, m, v in PAGES]
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    return Starlette(routes=routes)


def off_app() -> Starlette:
    """What ``/console`` answers when no admin key is configured: 404, saying how to turn it on."""

    async def off(request: Request) -> Response:
        return PlainTextResponse(
            "the console is off: configure an admin key (a reference such as "
            "env:LLMREG_ADMIN_KEY) to turn it on",
            404,
        )

    return Starlette(routes=[Route("/{path:path}", off)])


__all__ = ["console_app", "off_app"]
