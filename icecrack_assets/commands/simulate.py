"""``icecrack simulate``: write simulated Sentinel-1 scenes and their crevasse truth to the landing zone."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from icecrack_assets.errors import IceCrackError
from icecrack_assets.layout import DataLayout
from icecrack_assets.regions import get_region


def _default_landing() -> Path:
    return DataLayout.at().landing


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate Sentinel-1 scenes with crevasse ground truth",
        description="Simulate a season of Sentinel-1 HH scenes (linear sigma0 GeoTIFFs on the "
        "region grid) with <scene>.truth.tif crevasse masks beside them.",
    )
    p.add_argument("--region", required=True, help="region name (see `icecrack regions`)")
    p.add_argument("--year", required=True, type=int, help="season year")
    p.add_argument("--count", type=int, default=3, help="number of scenes in the season (default 3)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed: new seeds give new glacier geometry (default 0)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="landing directory (default $ICECRACK_DATA_ROOT/landing, i.e. data/landing)",
    )
    p.add_argument(
        "--shape",
        default=None,
        metavar="HxW",
        help="simulate an HxW sub-window at the AOI's top-left (small test scenes)",
    )
    p.add_argument("--looks", type=float, default=None, help="override the mode's equivalent number of looks")
    p.add_argument("--correlated", action="store_true", help="spatially correlated speckle")
    p.set_defaults(func=run)


def parse_shape(text: str | None) -> tuple[int, int] | None:
    """``"256x512"`` -> (256, 512)."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise IceCrackError(f"--shape must look like HEIGHTxWIDTH (e.g. 256x256), got {text!r}")
    return int(m[1]), int(m[2])


def run(args: argparse.Namespace) -> int:
    from icecrack_assets.simulator.scenes import simulate_season

    region = get_region(args.region)
    if args.seed < 0:
        raise IceCrackError(f"--seed must be a non-negative integer, got {args.seed}")
    shape = parse_shape(args.shape)
    out = args.out if args.out is not None else _default_landing()
    if out.exists() and not out.is_dir():
        raise IceCrackError(f"{out}: --out exists and is not a directory")
    t0 = time.perf_counter()
    paths = simulate_season(
        region,
        args.year,
        args.count,
        args.seed,
        out,
        shape=shape,
        looks=args.looks,
        correlated=args.correlated,
    )
    for path in paths:
        print(path)
    print(
        f"simulated {len(paths)} {region.name} {args.year} scene(s) with truth masks into {out} "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return 0
