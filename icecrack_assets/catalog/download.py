"""Downloads into the landing zone that survive interruptions and never leave a half file in view.

Bytes go to a hidden ``.<name>.part`` beside the target (the landing zone ignores hidden and
``.part`` files); an interrupted download resumes with an HTTP ``Range`` request; the size and the
catalogue's checksum are verified before the atomic rename onto the final name. Credentials come
from the environment and never appear in messages: URLs are redacted (no user info, no query).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import requests

from icecrack_assets.errors import IceCrackError
from icecrack_assets.redaction import redact as redact_text
from icecrack_assets.redaction import redact_url

CHUNK = 1 << 16  # small, so an interrupted transfer keeps almost everything it received


class DownloadError(IceCrackError):
    """A download failed; the message names the (redacted) URL and the reason."""


redact = redact_url  # kept for callers: a URL for display, without user info and query string


def session_from_env(prefix: str) -> requests.Session:
    """A session with credentials from ``<PREFIX>_TOKEN`` (bearer) or ``<PREFIX>_USERNAME/_PASSWORD``."""
    s = requests.Session()
    token = os.environ.get(f"{prefix}_TOKEN")
    user, password = os.environ.get(f"{prefix}_USERNAME"), os.environ.get(f"{prefix}_PASSWORD")
    if token:
        s.headers["Authorization"] = f"Bearer {token}"
    elif user and password:
        s.auth = (user, password)
    s.headers.setdefault("User-Agent", "icecrack (+https://github.com/)")
    return s


def parse_checksum(text: str | None) -> tuple[str, str] | None:
    """``"md5:<hex>"``, ``"sha256:<hex>"`` or a STAC multihash (``1220...`` sha256, ``d50110...`` md5)."""
    if not text:
        return None
    if ":" in text:
        algo, hexd = text.split(":", 1)
        return algo.lower(), hexd.lower()
    t = text.lower()
    if t.startswith("1220") and len(t) == 68:
        return "sha256", t[4:]
    if t.startswith("d50110") and len(t) == 38:
        return "md5", t[6:]
    if len(t) == 32:
        return "md5", t
    if len(t) == 64:
        return "sha256", t
    return None


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def part_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.part")


def download(
    url: str,
    dest: Path,
    checksum: str | None = None,
    size: int | None = None,
    session: requests.Session | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``url`` to ``dest`` (resuming a previous partial download); verify; rename atomically."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    session = session or requests.Session()
    part = part_path(dest)
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    shown = redact(url)
    try:
        with session.get(url, headers=headers, stream=True, timeout=timeout) as resp:
            if resp.status_code == 416 and have:  # nothing left to fetch
                pass
            elif resp.status_code in (200, 206):
                mode = "ab" if resp.status_code == 206 and have else "wb"
                with open(part, mode) as fh:
                    for chunk in resp.iter_content(CHUNK):
                        fh.write(chunk)
            else:
                # the status only: bodies of error responses may echo credentials (never shown)
                raise DownloadError(f"{shown}: HTTP {resp.status_code} {redact_text(str(resp.reason))[:80]}")
    except requests.RequestException as exc:
        raise DownloadError(
            f"{shown}: download interrupted ({type(exc).__name__}); it resumes on the next attempt"
        ) from None
    got = part.stat().st_size
    if size is not None and got != size:
        if got > size:
            part.unlink()
        raise DownloadError(
            f"{shown}: got {got} bytes, expected {size}"
            + ("; it resumes on the next attempt" if got < size else "")
        )
    expected = parse_checksum(checksum)
    if expected is not None:
        algo, hexd = expected
        actual = _digest(part, algo)
        if actual != hexd:
            part.unlink()
            raise DownloadError(
                f"{shown}: {algo} checksum mismatch (got {actual[:12]}..., "
                f"expected {hexd[:12]}...); the partial file was removed"
            )
    os.replace(part, dest)
    return dest
