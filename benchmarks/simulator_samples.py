"""Sample images and timings of the Sentinel-1 simulator (region scenes, or the randomised simulator).

Region scenes (default) write ``docs/img/simulated_<region>.png``: a native-resolution 300 x 300 crop of a full simulated
scene (speckled sigma0 in dB, -25..0 dB, left) beside its crevasse truth (white = crevasse, grey =
nodata, right), cropped where the truth is densest next to some hard negatives. Prints the time to simulate each full AOI scene
(first scene of a season, which builds the geometry, and a second scene reusing it).

    python benchmarks/simulator_samples.py [--regions jakobshavn amery] [--out docs/img]

``--random`` times the randomised simulator instead (``--count`` scenes of ``--size``² per family on
one core: median / 95th percentile / max render time, crack and unknown truth fractions) and writes
``docs/img/simulator_gallery.png``: one 256² scene per family (first seed with >= 1 % crack pixels)
plus radiometry variants, sigma0 in dB (1st-99.5th percentile stretch) beside the same image with the
truth on top (red = crack, blue = unknown / nodata).

    python benchmarks/simulator_samples.py --random [--count 40] [--size 256] [--out docs/img]
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


def _panel(sc, title: str, size: int):
    from PIL import ImageDraw, ImageFont

    db = 10.0 * np.log10(np.where(np.isfinite(sc.sigma0), sc.sigma0, np.nan))
    lo, hi = np.nanpercentile(db, [1.0, 99.5])
    grey = np.nan_to_num(np.clip((db - lo) / (hi - lo) * 255.0, 0, 255), nan=0.0).astype(np.uint8)
    rgb = np.dstack([grey] * 3)
    over = rgb.copy()
    over[sc.truth == 255] = (70, 130, 255)
    over[sc.truth == 1] = (255, 40, 40)
    pair = np.hstack([rgb, np.full((size, 4, 3), 255, np.uint8), over])
    img = Image.new("RGB", (pair.shape[1], size + 34), "white")
    img.paste(Image.fromarray(pair), (0, 34))
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 13)
    except OSError:
        font = ImageFont.load_default()
    lines = title.split("\n")
    for i, line in enumerate(lines[:2]):
        draw.text((3, 2 + 16 * i), line, fill="black", font=font)
    return np.asarray(img)


def _caption(sc) -> str:
    st, se = sc.style, sc.style.sensor
    if st.legacy is not None:
        head = f"legacy ({st.legacy.region} renderer)"
    else:
        c = st.cracks[0]
        head = f"{c.family}: {c.radiometry}, {c.contrast_db[0]:.1f}-{c.contrast_db[1]:.1f} dB, spacing {c.spacing_px:.0f} px"
    negs = ", ".join(st.background.hard_negatives) if st.background else ""
    return f"{head}\n{se.pixel_size:.0f} m, ENL {sc.looks:.1f}" + (f"; {negs}" if negs else "")


def gallery(path: Path, size: int = 256) -> Path:
    """One scene per family and radiometry variants, each the first seed with >= 1 % crack pixels."""
    import dataclasses

    from icecrack_assets.simulator import randomised as rnd

    wanted = [(f, None) for f in rnd.FAMILIES] + [("transverse", "bright"), ("longitudinal", "dark")]
    panels = []
    for i, (fam, radiometry) in enumerate(wanted):
        for seed in range(100 * i, 100 * i + 100):
            style = rnd.sample_style(np.random.default_rng(seed), families=[fam])
            if radiometry is not None:
                cracks = tuple(dataclasses.replace(c, radiometry=radiometry) for c in style.cracks)
                style = dataclasses.replace(style, cracks=cracks)
            sc = rnd.render_scene(style, (size, size), seed)
            if (sc.truth == 1).mean() >= 0.01:
                break
        panels.append(_panel(sc, _caption(sc), size))
    cols = 3
    blank = np.full_like(panels[0], 255)
    rows = []
    for r in range(0, len(panels), cols):
        row = [panels[i] if i < len(panels) else blank for i in range(r, r + cols)]
        rows.append(np.hstack([np.hstack([p, np.full((p.shape[0], 12, 3), 255, np.uint8)]) for p in row]))
    path.parent.mkdir(parents=True, exist_ok=True)
    _save_paletted(np.vstack(rows), path)
    return path


def _save_paletted(rgb: np.ndarray, path: Path, levels: int = 30) -> None:
    """A small PNG: ``levels`` greys plus the two truth colours (speckle compresses badly in RGB)."""
    grey = rgb.mean(axis=2)
    idx = np.round(grey / 255.0 * (levels - 1)).astype(np.uint8)
    idx[(rgb == (255, 40, 40)).all(axis=2)] = levels
    idx[(rgb == (70, 130, 255)).all(axis=2)] = levels + 1
    palette = [int(round(v * 255 / (levels - 1))) for v in range(levels) for _ in range(3)]
    palette += [255, 40, 40, 70, 130, 255]
    img = Image.fromarray(idx, mode="P")
    img.putpalette(palette)
    img.save(path, optimize=True)


def random_benchmark(count: int, size: int) -> None:
    """Render time (wall and CPU) and truth statistics of the randomised simulator, per family."""
    from icecrack_assets.simulator import randomised as rnd

    rnd.render_scene(rnd.sample_style(np.random.default_rng(0)), (size, size), 0)  # imports, caches
    every, every_cpu = [], []
    print(f"randomised simulator, {count} scenes of {size}x{size} per family")
    print(
        f"{'family':13s} {'median ms':>9s} {'p95 ms':>7s} {'max ms':>7s} {'CPU ms':>7s} "
        f"{'crack %':>8s} {'unknown %':>9s} {'no crack':>8s}"
    )
    for fam in rnd.FAMILIES:
        rng = np.random.default_rng(1000)
        times, cpu, crack, unknown = [], [], [], []
        for seed in range(count):
            style = rnd.sample_style(rng, families=[fam])
            t0, c0 = time.perf_counter(), time.process_time()
            sc = rnd.render_scene(style, (size, size), seed)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            crack.append((sc.truth == 1).mean())
            unknown.append((sc.truth == 255).mean())
        every += times
        every_cpu += cpu
        t = np.array(times) * 1000
        print(
            f"{fam:13s} {np.median(t):9.0f} {np.percentile(t, 95):7.0f} {t.max():7.0f} {np.median(cpu) * 1000:7.0f} "
            f"{np.median(crack) * 100:8.2f} {np.median(unknown) * 100:9.2f} {np.mean(np.array(crack) == 0) * 100:7.0f}%"
        )
    t = np.array(every) * 1000
    print(
        f"{'all':13s} {np.median(t):9.0f} {np.percentile(t, 95):7.0f} {t.max():7.0f} "
        f"{np.median(every_cpu) * 1000:7.0f}  ({1000 / t.mean():.1f} scenes/s wall)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", nargs="+", default=["jakobshavn", "amery"])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "img")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--random", action="store_true", help="benchmark the randomised simulator and draw its gallery"
    )
    ap.add_argument("--count", type=int, default=40, help="--random: scenes per family")
    ap.add_argument("--size", type=int, default=256, help="--random: scene side (px)")
    args = ap.parse_args()
    if args.random:
        png = gallery(args.out / "simulator_gallery.png")
        print(f"{png} ({png.stat().st_size // 1024} KB)")
        random_benchmark(args.count, args.size)
        return
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
