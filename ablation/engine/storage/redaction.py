"""Credentials never shown: storage URLs with their passwords masked, and any text scrubbed of
the passwords this process has seen.

``shown_url`` is the one way a URL reaches a message, log, report or record. ``scrub`` is the
safety net for text ablate did not compose itself (a driver's error, a trial's failure reason):
every password a storage URL carried in this process is replaced by ``***``.
"""

from __future__ import annotations

import re
import urllib.parse

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MASK = "***"
# Query parameters that carry a credential (libpq's password/sslpassword, drivers' aliases).
SECRET_KEYS = frozenset({"password", "passwd", "pwd", "sslpassword", "secret", "token",
                         "api_key", "apikey", "access_key", "secret_key", "auth_token"})
_MIN_SCRUB = 4  # shorter secrets would garble every message they occur in by chance
_SECRETS: set[str] = set()
_USERINFO = re.compile(r"(://[^:/@\s]*):[^@\s]*@")
_QUERY = re.compile(r"(?i)([?&;](?:" + "|".join(sorted(SECRET_KEYS)) + r")=)[^&;\s]*")


def remember(url: sa.URL) -> None:
    """Note the secrets of ``url`` so that :func:`scrub` removes them from any text."""
    values = [url.password] if url.password else []
    values += [v for k, v in url.query.items() if k.lower() in SECRET_KEYS
               for v in ([v] if isinstance(v, str) else v)]
    for value in map(str, values):
        if len(value) >= _MIN_SCRUB:
            _SECRETS.update({value, urllib.parse.quote(value, safe=""),
                             urllib.parse.quote_plus(value)})


def forget() -> None:
    """Start over with no secrets (each command remembers those of its own URLs)."""
    _SECRETS.clear()


def redact(url: sa.URL) -> str:
    """A parsed URL as text, its password and credential query parameters masked."""
    return _QUERY.sub(rf"\1{MASK}", url.render_as_string(hide_password=True))


def shown_url(url: str) -> str:
    """``url`` as it may be shown (messages, logs, reports): credentials masked."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return scrub(_QUERY.sub(rf"\1{MASK}", _USERINFO.sub(rf"\1:{MASK}@", url)))
    remember(parsed)
    return redact(parsed)


def scrub(text: str) -> str:
    """``text`` with every password seen in a storage URL of this process masked."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
