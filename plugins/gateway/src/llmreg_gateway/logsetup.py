"""Where a served app's log lines go: ``llmreg serve`` and each of its workers call
:func:`serve_logging` once, so both write the same lines the same way."""

from __future__ import annotations

import logging
import sys

from llmreg.secrets import RedactingFilter


def serve_logging(access_log: bool) -> None:
    """Send the serving app's INFO lines (alias swaps, load failures) and the JSON
    access log to stderr, secrets masked (:class:`llmreg.secrets.RedactingFilter`)."""
    logging.getLogger("llmreg_gateway").setLevel(logging.INFO)
    access = logging.getLogger("llmreg_gateway.access")
    access.propagate = False
    for old in list(access.handlers):
        access.removeHandler(old)
    if access_log:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.addFilter(RedactingFilter())
        access.addHandler(handler)
        access.setLevel(logging.INFO)
    else:
        access.setLevel(logging.CRITICAL)


__all__ = ["serve_logging"]
