"""HTML for the console: escaping, the page layout, and small building blocks.

Pages are plain strings built here (no template engine: nothing to install, and
every value goes through :func:`esc`). The layout is the same on every page: a
skip link, a navigation landmark, one ``<h1>``, and the page's ``<main>``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from urllib.parse import quote

from starlette.responses import HTMLResponse

#: The pages in the navigation bar: (path, label).
NAV = (
    ("/models", "Models"),
    ("/playground", "Playground"),
    ("/rollouts", "Rollouts"),
    ("/keys", "Keys and spend"),
)

#: Headers on every console page: no framing, no sniffing, no caching of pages that
#: may hold a key shown once, and only the console's own scripts and styles.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def esc(value: object) -> str:
    """The text of ``value``, escaped for HTML text and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def part(value: object) -> str:
    """``value`` quoted for one path segment of a URL."""
    return quote(str(value), safe="")


def table(caption: str, head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table with a caption and column headers; cells are HTML already escaped."""
    th = "".join(f'<th scope="col">{esc(h)}</th>' for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(head)}">none</td></tr>'
    return (
        f"<table><caption>{esc(caption)}</caption><thead><tr>{th}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def hidden_csrf(token: str) -> str:
    """The hidden CSRF field every console form carries."""
    return f'<input type="hidden" name="csrf" value="{esc(token)}">'


def message(text: str | None, kind: str = "error") -> str:
    """A notice: ``role=alert`` for errors; the word says which, not only the colour."""
    if not text:
        return ""
    role = "alert" if kind == "error" else "status"
    word = "Error" if kind == "error" else "Done"
    return f'<p class="notice {kind}" role="{role}"><strong>{word}:</strong> {esc(text)}</p>'


def layout(
    root: str,
    title: str,
    body: str,
    *,
    csrf: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The whole page around ``body``; ``csrf`` set means logged in (nav and log out)."""
    nav = ""
    if csrf is not None:
        links = "".join(f'<li><a href="{root}{path}">{esc(label)}</a></li>' for path, label in NAV)
        nav = (
            f'<nav aria-label="Console"><ul>{links}</ul>'
            f'<form method="post" action="{root}/logout">{hidden_csrf(csrf)}'
            '<button type="submit">Log out</button></form></nav>'
        )
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · llmreg console</title>"
        f'<link rel="stylesheet" href="{root}/static/console.css">'
        f'<script src="{root}/static/console.js" defer></script></head><body>'
        '<a class="skip" href="#main">Skip to content</a>'
        f'<header><p class="brand">llmreg console</p>{nav}</header>'
        f'<main id="main"><h1>{esc(title)}</h1>{body}</main></body></html>'
    )
    return HTMLResponse(text, status_code=status_code, headers=SECURITY_HEADERS)


__all__ = ["NAV", "SECURITY_HEADERS", "esc", "hidden_csrf", "layout", "message", "part", "table"]
