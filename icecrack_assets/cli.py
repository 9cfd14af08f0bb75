"""The ``icecrack`` command: one subcommand per module in :mod:`icecrack_assets.commands`.

Each command module defines ``register(subparsers)`` and sets ``func`` on its parser. Errors the
user can fix (:class:`IceCrackError`) print as one line; nothing prints a traceback unless
``ICECRACK_DEBUG=1`` is set.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from icecrack_assets import __version__, commands
from icecrack_assets.errors import IceCrackError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except IceCrackError as exc:
        print(f"icecrack {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"icecrack {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("ICECRACK_DEBUG"):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(
            f"icecrack {args.command}: internal error: {type(exc).__name__}: {first} "
            "(set ICECRACK_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
