"""Sample images and timings of the Sentinel-1 simulator.

Writes ``docs/img/simulated_<region>.png``: a native-resolution 300 x 300 crop of a full simulated
scene (speckled sigma0 in dB, -25..0 dB, left) beside its crevasse truth (white = crevasse, grey =
nodata, right), cropped where the truth is densest next to some hard negatives. Prints the time to simulate each full AOI scene
(first scene of a season, which builds the geometry, and a second scene reusing it).

    python benchmarks/simulator_samples.py [--regions jakobshavn amery] [--out docs/img]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from icecrack_assets.regions import get_region
from icecrack_assets.simulator import scenes as sim
from icecrack_assets.simulator.layout import HARD_NEGATIVES, WATER

CROP = 300


def _densest_crop(truth: np.ndarray, classes: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` window with the most crevasse pixels, no nodata, and (where
    possible) some hard negatives (rock, rifts, icebergs, cliffs, streams, water) for contrast."""
    crack = (truth == 1).astype(np.float32)
    density = ndimage.uniform_filter(crack, size, mode="constant")
    other = ndimage.uniform_filter(
        np.isin(classes, HARD_NEGATIVES + (WATER,)).astype(np.float32), size, mode="constant"
    )
    if (other > 0.08).any():
        density[other <= 0.08] = 0.0
    bad = ndimage.maximum_filter((truth == 255).astype(np.uint8), size) > 0
    density[bad] = -1
    half = size // 2
    density[:half] = density[-half:] = -1
    density[:, :half] = density[:, -half:] = -1
    r, c = np.unravel_index(int(np.argmax(density)), density.shape)
    return int(r - half), int(c - half)


def sample_png(scene: sim.SimulatedScene, path: Path, size: int = CROP) -> Path:
    r, c = _densest_crop(scene.truth, scene.classes, size)
    win = (slice(r, r + size), slice(c, c + size))
    db = 10.0 * np.log10(np.where(np.isfinite(scene.intensity[win]), scene.intensity[win], 1e-3))
    left = np.clip((db + 25.0) / 25.0 * 255.0, 0, 255).astype(np.uint8)
    truth = scene.truth[win]
    right = np.where(truth == 1, 255, np.where(truth == 255, 128, 0)).astype(np.uint8)
    gap = np.full((size, 6), 255, np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.hstack([left, gap, right]), mode="L").save(path, optimize=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", nargs="+", default=["jakobshavn", "amery"])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "img")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for name in args.regions:
        region = get_region(name)
        start, _ = region.season(2020)
        first, second = start + dt.timedelta(days=20, hours=10), start + dt.timedelta(days=32, hours=10)
        sim._season_geometry.cache_clear()
        t0 = time.perf_counter()
        scene = sim.simulate_scene(region, first, args.seed)
        t1 = time.perf_counter()
        sim.simulate_scene(region, second, args.seed)
        t2 = time.perf_counter()
        sim.simulate_scene(region, second, args.seed, correlated=True)
        t3 = time.perf_counter()
        ice = np.isin(scene.classes, (1, 2))
        png = sample_png(scene, args.out / f"simulated_{name}.png")
        h, w = scene.intensity.shape
        print(
            f"{name:14s} {h}x{w}: first scene {t1 - t0:5.2f} s, same season {t2 - t1:5.2f} s, "
            f"correlated speckle {t3 - t2:5.2f} s; crevasse share of ice "
            f"{(scene.truth[ice] == 1).mean() * 100:.1f} %; {png} ({png.stat().st_size // 1024} KB)"
        )


if __name__ == "__main__":
    main()
