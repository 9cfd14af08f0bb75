"""The ``icecrack`` command: one subcommand per module in :mod:`icecrack_assets.commands`.

Each command module defines ``register(subparsers)`` and sets ``func`` on its parser. Errors the
user can fix (:class:`IceCrackError`) print as one line; nothing prints a traceback unless
``ICECRACK_DEBUG=1`` is set.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import pkgutil
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator

from icecrack_assets import __version__, commands
from icecrack_assets.commands._boundary import HOLD_NATIVE_STDERR, apply_number_rules
from icecrack_assets.commands._boundary import check as check_boundary
from icecrack_assets.errors import IceCrackError
from icecrack_assets.redaction import redact


class UsageError(IceCrackError):
    """A command line argparse refused; shown as one line, like every other error."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a refused argument is one line (``--looks must be ...``), not usage + error."""

    def error(self, message: str):
        m = re.fullmatch(r"argument ([^:/ ]+)(?:/[^:]+)?: (must be .*)", message, flags=re.S)
        raise UsageError(f"{self.prog}: error: {f'{m[1]} {m[2]}' if m else message} (see {self.prog} -h)")


NEGATIVE_LIST = re.compile(r"-\d[\d.]*(?:e-?\d+)?,[-\d.,e]*")  # e.g. -30,0: a value, never an option


def negative_lists_as_values(argv: list[str]) -> list[str]:
    """``--value-range -30,0`` as ``--value-range=-30,0``: argparse reads a token starting with a
    dash as an option unless it is one plain negative number, so the help's own example failed."""
    out: list[str] = []
    for arg in argv:
        prev = out[-1] if out else ""
        if NEGATIVE_LIST.fullmatch(arg) and prev.startswith("--") and "=" not in prev and prev != "--":
            out[-1] = f"{prev}={arg}"
        else:
            out.append(arg)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="icecrack",
        description="Crevasse maps of glaciers and ice shelves from Sentinel-1 SAR.",
    )
    parser.add_argument("--version", action="version", version=f"icecrack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    apply_number_rules(parser)
    return parser


def one_line(text: str) -> str:
    """Messages are one line: a newline in a file name must not forge a second log line."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


# Frames in which an exception is swallowed ("Exception ignored on calling ctypes callback"):
# numba's LLVM compiler calls back into Python; an interrupt raised there would be lost.
_SWALLOWING = ("llvmlite", "ctypes")


# set by a termination signal: an error surfacing after it (a DataLoader worker the same signal
# killed first) is the interruption, not an internal error
_SIGNALLED = threading.Event()


def _interrupt(signum, frame) -> None:
    """SIGTERM (``kill``, a scheduler's timeout) and SIGINT clean up alike: temp files go.

    Inside a C callback the KeyboardInterrupt would be swallowed and the command would finish
    as if nothing happened, so there it is re-tried 50 ms later until it lands in Python code.
    """
    _SIGNALLED.set()
    if frame is not None and any(part in frame.f_code.co_filename for part in _SWALLOWING):
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        return
    signal.setitimer(signal.ITIMER_REAL, 0)
    raise KeyboardInterrupt


_HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGALRM)


@contextlib.contextmanager
def interrupt_handlers() -> Iterator[None]:
    """Route SIGTERM/SIGINT to a KeyboardInterrupt for the command's duration, then restore."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in _HANDLED}
    for signum in _HANDLED:
        signal.signal(signum, _interrupt)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def native_stderr_held() -> Iterator[list[bytes]]:
    """Hold what C libraries write straight to file descriptor 2 (libtiff: "_tiffWriteProc: No
    space left on device.") until the command ends; Python's own stderr is untouched.

    The caller replays the held bytes unless it printed a one-line error that already says it.
    """
    held: list[bytes] = []
    try:
        stderr_is_fd2 = sys.stderr is not None and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        stderr_is_fd2 = False
    try:
        saved = os.dup(2)
    except OSError:
        yield held
        return
    sink = tempfile.TemporaryFile()
    old_stream = sys.stderr
    sys.stderr.flush()
    if stderr_is_fd2:
        sys.stderr = os.fdopen(
            os.dup(saved), "w", buffering=1, encoding=old_stream.encoding, errors="backslashreplace"
        )
    os.dup2(sink.fileno(), 2)
    try:
        yield held
    finally:
        if stderr_is_fd2:
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if stderr_is_fd2:
            sys.stderr.close()
            sys.stderr = old_stream
        sink.seek(0)
        held.append(sink.read())
        sink.close()


def _quiet_libraries() -> None:
    """GDAL/libtiff report write failures through rasterio's loggers; the one-line error says it."""
    logging.getLogger("rasterio").setLevel(logging.CRITICAL)


def _run(args: argparse.Namespace) -> tuple[int | None, object]:
    """Run one command; ``(exit code, None)`` after an error line, else ``(None, result)``."""
    _SIGNALLED.clear()
    try:
        check_boundary(args.command, args)
        return None, args.func(args)
    except IceCrackError as exc:
        print(f"icecrack {args.command}: error: {redact(one_line(str(exc)))}", file=sys.stderr)
        return 2, None
    except KeyboardInterrupt:
        print(f"icecrack {args.command}: interrupted", file=sys.stderr)
        return 130, None
    except Exception as exc:
        if _SIGNALLED.is_set():
            print(f"icecrack {args.command}: interrupted", file=sys.stderr)
            return 130, None
        if os.environ.get("ICECRACK_DEBUG"):
            raise
        first = redact(one_line(str(exc).splitlines()[0])) if str(exc) else ""
        print(
            f"icecrack {args.command}: internal error: {type(exc).__name__}: {first} "
            "(set ICECRACK_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1, None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(negative_lists_as_values(sys.argv[1:] if argv is None else list(argv)))
    except UsageError as exc:
        print(redact(one_line(str(exc))), file=sys.stderr)
        return 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _quiet_libraries()
    hold = args.command in HOLD_NATIVE_STDERR and not os.environ.get("ICECRACK_DEBUG")
    with interrupt_handlers(), native_stderr_held() if hold else contextlib.nullcontext([]) as held:
        code, result = _run(args)
    if code is None or code == 1 or os.environ.get("ICECRACK_DEBUG"):
        sys.stderr.write(b"".join(held).decode(errors="backslashreplace"))  # nothing clear was said
    if code is not None:
        return code
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
