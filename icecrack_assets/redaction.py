"""One redaction for every message that may reach a log, an error or the run database.

Catalogue servers echo request headers in error bodies, URLs carry userinfo and signed query
parameters, and third-party clients log headers at DEBUG. Every log and error path that shows
text from outside goes through :func:`redact` (issue 15, defects 14-15).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
_SECRET_WORDS = r"token|key|sig|signature|secret|password|passwd|pwd|credential|auth|session"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization-like headers in any rendering: "Authorization: x", 'authorization': 'x', k=v
    (
        re.compile(
            r"(?i)((?:proxy-)?authorization|x-api-key|api-key|cookie|set-cookie|x-amz-security-token)"
            r"([\"']?\s*[:=]\s*[\"']?)([^\"'\r\n,}&]+)"
        ),
        rf"\1\2{MASK}",
    ),
    # bare schemes: "Bearer eyJ...", "Basic dXNlcjpwYXNz"
    (re.compile(r"(?i)\b(Bearer|Basic|Token|Digest)(\s+)(?!\*\*\*)[A-Za-z0-9._~+/=:-]{4,}"), rf"\1\2{MASK}"),
    # userinfo in any URL: scheme://user:pass@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@"), rf"\1{MASK}@"),
    # secret-looking query parameters: ?token=..., &X-Amz-Signature=..., ;sig=...
    (
        re.compile(rf"(?i)([?&;])([^=&\s#\"']*(?:{_SECRET_WORDS})[^=&\s#\"']*)=([^&\s#\"']*)"),
        rf"\1\2={MASK}",
    ),
    # secret-looking JSON fields: "access_token": "..."
    (
        re.compile(rf"(?i)(\"[^\"]*(?:{_SECRET_WORDS})[^\"]*\"\s*:\s*)\"[^\"]*\""),
        rf'\1"{MASK}"',
    ),
)


def redact(text: object) -> str:
    """``text`` with tokens, credentials, URL userinfo and secret query parameters masked."""
    out = str(text)
    for pattern, repl in _PATTERNS:
        out = pattern.sub(repl, out)
    return out


def redact_url(url: str) -> str:
    """A URL for display: no userinfo and no query string at all (signed URLs put tokens there)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:
        return redact(url)
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def first_line(text: object, limit: int = 200) -> str:
    """The first line of a message, redacted and cut: response bodies are never shown whole."""
    s = str(text)
    return redact(s.splitlines()[0] if s else "")[:limit]


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the rendered message of every record passing through."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: show it raw but redacted
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        return True


THIRD_PARTY_LOGGERS = ("pystac_client", "pystac", "urllib3", "requests")
_FILTER = RedactingFilter()


def guard_third_party_loggers() -> None:
    """Keep HTTP clients' loggers at INFO or above (they log headers at DEBUG) and redact the rest."""
    known = list(logging.root.manager.loggerDict)
    for name in THIRD_PARTY_LOGGERS:
        log = logging.getLogger(name)
        if log.getEffectiveLevel() < logging.INFO:
            log.setLevel(logging.INFO)
        # filters are not inherited: put one on every child logger that exists already
        for child in [name] + [k for k in known if k.startswith(name + ".")]:
            clog = logging.getLogger(child)
            if clog.level and clog.level < logging.INFO:
                clog.setLevel(logging.INFO)
            if _FILTER not in clog.filters:
                clog.addFilter(_FILTER)


def printable(text: object) -> str:
    """``text`` on one line: control characters escaped, so a file name cannot forge a log line."""
    return "".join(c if 32 <= ord(c) != 127 else repr(c)[1:-1] for c in str(text))


def safe_for_log(text: object) -> str:
    """What every log line built from outside text goes through: one line, secrets masked."""
    return printable(redact(text))
