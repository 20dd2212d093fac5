"""llmreg.secrets: every form of a secret is masked, in text and in log records."""

from __future__ import annotations

import io
import json
import logging
import urllib.parse

import pytest

from llmreg.secrets import MASK, RedactingFilter, mask_userinfo, redact, secret_forms

KEY = "sk-test-0123456789abcdef"


@pytest.mark.parametrize(
    "shown",
    [
        KEY,
        repr(KEY + "\n"),  # an exception quoting the value with repr
        repr(f"Bearer {KEY}\n".encode()),  # h11/httpx: Illegal header value b'Bearer sk-…\n'
        json.dumps(KEY + "\n"),
        urllib.parse.quote(KEY + "\n", safe=""),
        urllib.parse.quote_plus(KEY + " x\n"),
        (KEY + "\n").encode("unicode_escape").decode(),
    ],
    ids=["raw", "repr", "bytes-repr", "json", "url", "url-plus", "unicode-escape"],
)
def test_every_form_of_a_key_with_a_newline_is_masked(shown: str) -> None:
    secret = KEY + " x\n" if "+x" in shown else KEY + "\n"
    text = f"error: Illegal header value {shown} (sent to the endpoint)"
    masked = redact(text, [secret])
    assert KEY not in masked
    assert MASK in masked
    assert masked.startswith("error: Illegal header value ")


def test_a_key_split_over_lines_is_masked_once_collapsed() -> None:
    secret = "sk-abc\tdef\n"
    one_line = " ".join(f"the key {secret} was refused".split())
    assert "sk-abc def" in one_line
    assert redact(one_line, [secret]) == f"the key {MASK} was refused"


def test_forms_of_a_plain_key_include_the_raw_value_and_skip_short_ones() -> None:
    forms = secret_forms("abcd")
    assert "abcd" in forms
    assert secret_forms("") == set()
    assert secret_forms("ab") == set()
    assert redact("ab is short", ["ab"]) == "ab is short"


def test_the_longest_form_is_masked_first() -> None:
    secret = "sk-a/b c"
    encoded = urllib.parse.quote(secret, safe="")
    assert redact(f"url {encoded} and raw {secret}", [secret]) == f"url {MASK} and raw {MASK}"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("http://user:pass@host/v1", "http://***@host/v1"),
        (
            "POST https://u:p%40ss@api.example.com:8443/v1/x",
            "POST https://***@api.example.com:8443/v1/x",
        ),
        ("no url here: a@b", "no url here: a@b"),
        ("http://host/v1?email=a@b", "http://host/v1?email=a@b"),
        ("'http://token@host'", "'http://***@host'"),
    ],
)
def test_userinfo_of_urls_is_masked(text: str, expected: str) -> None:
    assert mask_userinfo(text) == expected
    assert redact(text) == expected


def test_the_filter_masks_message_args_and_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter([KEY + "\n"]))
    logger = logging.getLogger("llmreg.test_secrets")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("sending %r to %s", KEY + "\n", "http://u:p@h/v1")
        try:
            raise ValueError(f"bad header b'Bearer {KEY}\\n'")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert KEY not in out
    assert "http://***@h/v1" in out
    assert "ValueError: bad header b'Bearer ***'" in out
    assert out.count(MASK) >= 3


def test_the_filter_asks_a_callable_for_secrets_learnt_later() -> None:
    known: list[str] = []
    flt = RedactingFilter(lambda: known)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key %s", (KEY,), None)
    known.append(KEY)
    assert flt.filter(record) is True
    assert record.getMessage() == f"key {MASK}"
    flt.add(["another-secret"])
    assert "another-secret" in flt.secrets()


def test_redact_deep_masks_every_string_at_any_depth_and_keeps_the_rest() -> None:
    from llmreg.secrets import redact_deep

    key = "sk-deep-canary-3b9e71c2"
    value = {
        "messages": [{"role": "user", "content": f"my key: {key}"}],
        "pair": (key, 3),
        "n": 1.5,
        "none": None,
        "url": "https://user:pw@example.test/x",
    }
    masked = redact_deep(value, [key])
    assert key not in repr(masked)
    assert masked["messages"][0]["content"] == "my key: ***"
    assert masked["pair"] == ["***", 3]
    assert masked["n"] == 1.5 and masked["none"] is None
    assert "pw" not in masked["url"]
    assert value["messages"][0]["content"].endswith(key)  # the input is not changed
