"""``icecrack despeckle IN.tif OUT.tif --looks L``: despeckle a linear sigma0 intensity GeoTIFF."""

from __future__ import annotations

import argparse
import json
import math
import sys

from icecrack_assets.errors import IceCrackError
from icecrack_assets.sar.despeckle.files import FILTERS, DespeckleSettings, despeckle_file


def register(sub: argparse._SubParsersAction) -> None:
    d = DespeckleSettings()
    p = sub.add_parser(
        "despeckle",
        help="despeckle a single-band linear intensity GeoTIFF (PPB by default)",
        description="Despeckle linear sigma0 intensity. CRS, transform and nodata are kept "
        "(nodata written as NaN); the output is written atomically.",
    )
    p.add_argument("src", metavar="IN.tif")
    p.add_argument("dst", metavar="OUT.tif")
    p.add_argument(
        "--looks",
        type=float,
        required=True,
        help="equivalent number of looks of the input intensity (e.g. from metadata)",
    )
    p.add_argument("--filter", choices=FILTERS, default=d.filter)
    p.add_argument(
        "--reference",
        action="store_true",
        help="PPB with Deledalle's single-look defaults (hW=10, hD=3, alpha=0.92, T=0.2, 4 iterations) "
        "instead of the parameters calibrated for --looks",
    )
    rule = "default: from the calibrated rule for --looks (sar/despeckle/settings.py)"
    p.add_argument("--iterations", type=int, default=None, help=rule)
    p.add_argument("--hw", type=int, default=None, help=f"search window half-width; {rule}")
    p.add_argument("--hd", type=int, default=None, help=f"patch half-width; {rule}")
    p.add_argument("--alpha", type=float, default=None, help=f"quantile that sets h; {rule}")
    p.add_argument("--T", type=float, default=None, help=f"refinement strength (inf: none); {rule}")
    p.add_argument(
        "--guard", type=float, default=None, help=f"residual guard after PPB, 0..1 (0: none); {rule}"
    )
    p.add_argument("--staged", action="store_true", help="growing-window schedule of the reference")
    p.add_argument("--window", type=int, default=d.window, help="window of the baseline filters")
    p.add_argument(
        "--calibration",
        choices=("white", "scene"),
        default=d.calibration,
        help="h from white speckle with --looks, or measured on the scene",
    )
    p.add_argument("--block", type=int, default=1024, help="processing block size (memory bound)")
    p.add_argument("--backend", choices=("numba", "torch", "auto"), default="numba")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.looks) and args.looks > 0):
        raise IceCrackError(f"--looks must be a positive number, got {args.looks}")
    if args.block < 16:
        raise IceCrackError(f"--block must be at least 16, got {args.block}")
    settings = DespeckleSettings(
        filter=args.filter,
        looks=args.looks,
        preset="reference" if args.reference else "looks",
        hw=args.hw,
        hd=args.hd,
        alpha=args.alpha,
        T=args.T,
        iterations=args.iterations,
        guard=args.guard,
        staged=args.staged,
        window=args.window,
        calibration=args.calibration,
    )
    tty = sys.stderr.isatty()
    show = not args.quiet
    last = [-1]

    def progress(f: float) -> None:
        """A live percentage on a terminal; a line per 10 % in logs."""
        if not show:
            return
        if tty:
            print(f"\rdespeckle {args.src}: {100 * f:5.1f}%", end="", file=sys.stderr, flush=True)
        elif int(10 * f) > last[0]:
            last[0] = int(10 * f)
            print(f"despeckle {args.src}: {100 * f:5.1f}%", file=sys.stderr, flush=True)

    stats = despeckle_file(
        args.src, args.dst, settings, block=args.block, progress=progress, backend=args.backend
    )
    if show and tty:
        print(file=sys.stderr)
    print(json.dumps(stats.as_dict(), sort_keys=True))
    return 0
