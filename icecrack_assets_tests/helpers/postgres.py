"""Throwaway servers for the production tests: a real PostgreSQL on 127.0.0.1, and the CI rule.

The PostgreSQL is Debian's package (``.ci/system-deps.sh`` installs it). ``initdb`` goes into a
fresh temporary folder, the server listens on a free port of 127.0.0.1 only, with a random
password (SCRAM) and its socket inside that folder, and is stopped and deleted at teardown.
PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system user.

In CI (``CI`` set) a missing tool is a failure, never a skip: every marker must really run there.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip with ``reason`` on a developer machine; fail loudly in CI, where nothing may skip."""
    if in_ci():
        pytest.fail(f"CI must provide this: {reason} (run .ci/system-deps.sh)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_pg_bin() -> Path | None:
    """Debian's newest ``/usr/lib/postgresql/<major>/bin`` (initdb is not on PATH there), or PATH."""
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        majors = sorted(
            (p for p in root.iterdir() if (p / "bin" / "initdb").exists()),
            key=lambda p: int(p.name) if p.name.isdigit() else 0,
        )
        if majors:
            return majors[-1] / "bin"
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def find_chromium() -> str | None:
    env = os.environ.get("ICECRACK_CHROMIUM")
    for candidate in ((env,) if env else ()) + CHROMIUM_CANDIDATES:
        if candidate and Path(candidate).exists():
            return candidate
    return None


@dataclass(frozen=True)
class PostgresServer:
    """Where a running throwaway server is, and the libpq variables that reach it."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    datadir: Path

    def env(self) -> dict[str, str]:
        """``PGHOST``... as read by ``deploy/dagster.yaml`` (and psql, psycopg2)."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": self.dbname,
        }

    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root without runuser: cannot start PostgreSQL as a non-root user")
    return [runuser, "-u", "postgres", "--", *cmd]


@contextlib.contextmanager
def postgres_server(dbname: str = "dagster", user: str = "icecrack") -> Iterator[PostgresServer]:
    """Start a private PostgreSQL on 127.0.0.1:<free port>; stop and delete it afterwards."""
    bindir = find_pg_bin()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found")
    base = Path(tempfile.mkdtemp(prefix="icecrack-pg-"))
    datadir, pwfile, logfile = base / "data", base / "pwfile", base / "server.log"
    password = secrets.token_urlsafe(18)
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    os.chmod(pwfile, 0o600)
    port = free_port()
    pg_ctl = str(bindir / "pg_ctl")
    started = False
    try:
        subprocess.run(
            _as_server_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(datadir),
                    "-U",
                    user,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            text=True,
        )
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} "
            "-c fsync=off -c max_connections=100 -c shared_buffers=32MB"
        )
        subprocess.run(
            _as_server_user(
                [pg_ctl, "-D", str(datadir), "-l", str(logfile), "-o", opts, "-w", "-t", "60", "start"]
            ),
            check=True,
            capture_output=True,
            text=True,
        )
        started = True
        env = {**os.environ, "PGPASSWORD": password}
        deadline = time.monotonic() + 30
        while True:
            probe = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                capture_output=True,
                text=True,
            )
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not become ready: {logfile.read_text()[-2000:]}")
            time.sleep(0.2)
        subprocess.run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, dbname],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        yield PostgresServer("127.0.0.1", port, user, password, dbname, datadir)
    except subprocess.CalledProcessError as exc:
        log = logfile.read_text()[-2000:] if logfile.exists() else ""
        raise RuntimeError(f"{exc.cmd[0]} failed: {exc.stderr or exc.stdout}\n{log}") from None
    finally:
        if started:
            subprocess.run(
                _as_server_user([pg_ctl, "-D", str(datadir), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                text=True,
            )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL for one test module (skips outside CI when PostgreSQL is not installed)."""
    if find_pg_bin() is None:
        unavailable("PostgreSQL server binaries not installed (Debian package 'postgresql')")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        unavailable("running as root without runuser; PostgreSQL refuses to run as root")
    with postgres_server() as server:
        yield server
