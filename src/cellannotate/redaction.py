"""Secrets this process holds, and their removal from any text that leaves it.

A secret can reach a message by ways no code of ours controls (a server that echoes the
request it got), so every log record and error message goes through :func:`redact`, which
knows every secret :func:`remember` was told about, plain and URL-encoded.
"""

from __future__ import annotations

from urllib.parse import quote, quote_plus

REDACTED = "<redacted>"
_SECRETS: set[str] = set()


def remember(*values: str) -> None:
    """Add secrets for :func:`redact` to find."""
    _SECRETS.update(v for v in values if v)


def redact(text: str) -> str:
    """``text`` with every remembered secret (plain or URL-encoded) replaced by :data:`REDACTED`."""
    for value in _SECRETS:
        for form in {value, quote(value, safe=""), quote_plus(value)}:
            text = text.replace(form, REDACTED)
    return text
