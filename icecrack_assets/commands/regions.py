"""``icecrack regions``: list the seven regions with AOI, CRS, mode and season."""

from __future__ import annotations

import argparse

from icecrack_assets.regions import REGIONS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("regions", help="list the study regions (AOI, CRS, mode, season)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(f"{'region':15} {'crs':10} {'mode':5} {'looks':>5} {'px m':>5} {'size':>11}  season")
    for r in REGIONS.values():
        s0, s1 = r.season_start, r.season_end
        season = f"{s0[1]:02d}-{s0[0]:02d} .. {'end' if s1 == (2, 29) else f'{s1[1]:02d}'}-{s1[0]:02d}"
        print(
            f"{r.name:15} {r.crs:10} {r.mode:5} {r.looks:5.1f} {r.pixel_size:5.0f} "
            f"{r.width:>5}x{r.height:<5}  {season}"
        )
    return 0
