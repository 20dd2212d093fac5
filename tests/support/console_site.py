"""The console suite's shared pieces: the live site, logging in, screenshots.

::

    from support.console_site import MODEL, Site, login, shoot
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Debian's chromium, which Playwright launches (its own browser download is not used).
CHROMIUM = os.environ.get("LLMREG_CHROMIUM", "/usr/bin/chromium")
#: Where the tests' screenshots go, for docs/console.md.
SHOTS = Path(__file__).parents[2] / "docs" / "console"
#: The registered model the suite's store holds.
MODEL = "support-bot"


@dataclass
class Site:
    """The console on a live server, and what the tests check behind it."""

    url: str
    admin_key: str
    register: Any
    loader: Any
    controls: Any
    stats: Any
    tracking_uri: str


def login(page: Any, site: Site, key: str | None = None) -> None:
    """Log in through the login form (with the admin key unless ``key``)."""
    page.goto(f"{site.url}/console/")
    page.get_by_label("Admin key").fill(site.admin_key if key is None else key)
    page.get_by_role("button", name="Log in").click()


def shoot(page: Any, name: str) -> None:
    """Save a full-page screenshot as ``docs/console/<name>.png``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


__all__ = ["CHROMIUM", "MODEL", "SHOTS", "Site", "login", "shoot"]
