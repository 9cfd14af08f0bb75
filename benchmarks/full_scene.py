"""A full-size IW GRDH product through the chain: SAFE -> ingest (with DEM) -> despeckle -> crack map.

The product is the real S1B IW GRDH annotation, calibration and noise from ../shared/data/s1-safe-sarsen
(26 102 x 16 705 px, 10 m, IPF 3.40), moved over the region with a self-consistent orbit and GCPs
(icecrack_assets_tests/helpers/relocated_safe.py). The measurement TIFF has the full size; the window
that covers the region holds simulated DN (the simulator's clean sigma0 for the region, with gamma
speckle of 4.4 looks, through the real LUTs: ``DN^2 = (sigma0 A^2 + N) x speckle``); tiles outside it
are sparse (DN 0, nodata). The region is Jakobshavn's grid (2000 x 1500 px, 20 m) moved onto the real
ArcticDEM crop of Store Glacier (../shared/data/dem-arcticdem-store-glacier), so terrain correction
runs on real fjord relief. Each stage runs in its own process; wall time and peak RSS are printed.
The simulated content is placed without terrain (it is a timing and memory benchmark, not a
geometry test: see icecrack_assets_tests/sar/test_terrain.py for that).

    nice -n 10 .venv/bin/python benchmarks/full_scene.py [--workdir DIR] [--iterations N]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

from big_scene_memory import _predict, measure, tiny_bundle  # noqa: E402

SHARED = Path(os.environ.get("ICECRACK_SHARED_DATA", REPO.parent / "shared" / "data"))
SOURCE = SHARED / "s1-safe-sarsen/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"
DEM = SHARED / "dem-arcticdem-store-glacier/store_arcticdem_mosaic_32m.tif"
WHEN = dt.datetime(2021, 7, 20, 10, 0, tzinfo=dt.timezone.utc)
GRDH_LOOKS = 4.4


def benchmark_region():
    """Jakobshavn's grid and facts, centred on the Store Glacier DEM (the only real DEM we have)."""
    import rasterio

    from icecrack_assets.regions import get_region

    jak = get_region("jakobshavn")
    with rasterio.open(DEM) as ds:
        b = ds.bounds
    cx, cy = (b.left + b.right) / 2, (b.bottom + b.top) / 2
    half_w, half_h = jak.width * jak.pixel_size / 2, jak.height * jak.pixel_size / 2
    cx, cy = round(cx / 1000) * 1000, round(cy / 1000) * 1000
    return dataclasses.replace(jak, bounds=(cx - half_w, cy - half_h, cx + half_w, cy + half_h))


def build_product(work: Path, region, seed: int = 0) -> tuple[Path, dict]:
    """The full-size SAFE with simulated DN over the region window; returns its path and facts."""
    import rasterio
    from lxml import etree
    from pyproj import Transformer
    from rasterio.windows import Window
    from scipy.interpolate import RegularGridInterpolator
    from scipy.ndimage import map_coordinates

    from icecrack_assets.sar.sentinel1.calibration import interpolate_lut, parse_calibration
    from icecrack_assets.sar.sentinel1.geocode import covering_window, image_coords, parse_gcps
    from icecrack_assets.sar.sentinel1.noise import noise_power, parse_noise
    from icecrack_assets.simulator.scenes import simulate_scene
    from icecrack_assets_tests.helpers.relocated_safe import build_relocated_safe

    lon, lat = Transformer.from_crs(region.epsg, 4326, always_xy=True).transform(
        (region.bounds[0] + region.bounds[2]) / 2, (region.bounds[1] + region.bounds[3]) / 2
    )
    safe = build_relocated_safe(SOURCE, work, (lon, lat), WHEN)
    ann_path = next((safe / "annotation").glob("*.xml"))
    ann = etree.parse(str(ann_path)).getroot()
    gcps = parse_gcps(ann)
    n_lines = int(ann.findtext("imageAnnotation/imageInformation/numberOfLines"))
    n_samples = int(ann.findtext("imageAnnotation/imageInformation/numberOfSamples"))
    rows, cols = image_coords(gcps, region.crs, region.transform, region.width, region.height)
    win = covering_window(rows, cols, n_lines, n_samples, margin=400)  # room for the terrain shift
    cal = parse_calibration(
        etree.parse(str(safe / "annotation/calibration" / f"calibration-{ann_path.name}")).getroot()
    )
    noise = parse_noise(
        etree.parse(str(safe / "annotation/calibration" / f"noise-{ann_path.name}")).getroot()
    )

    scene = simulate_scene(region, WHEN, seed=seed)
    clean = np.nan_to_num(scene.clean, nan=0.05).astype(np.float32)
    # image (line, pixel) -> map position at the GCP heights, from the regular GCP grid
    g_lines, g_pixels = np.unique(gcps.line), np.unique(gcps.pixel)
    to_map = Transformer.from_crs(4326, region.crs, always_xy=True)
    gx, gy = to_map.transform(gcps.lon, gcps.lat)
    order = np.lexsort((gcps.pixel, gcps.line))
    shape = (g_lines.size, g_pixels.size)
    fx = RegularGridInterpolator((g_lines, g_pixels), np.asarray(gx)[order].reshape(shape))
    fy = RegularGridInterpolator((g_lines, g_pixels), np.asarray(gy)[order].reshape(shape))
    inv = ~region.transform
    rng = np.random.default_rng(seed)

    meas = next((safe / "measurement").glob("*.tiff"))
    c0, r0, w, h = int(win.col_off), int(win.row_off), int(win.width), int(win.height)
    cidx = np.arange(c0, c0 + w)
    with rasterio.open(meas, "r+") as ds:
        for b0 in range(r0, r0 + h, 512):
            ridx = np.arange(b0, min(b0 + 512, r0 + h))
            ll, pp = np.meshgrid(ridx, cidx, indexing="ij")
            pts = np.column_stack([ll.ravel(), pp.ravel()])
            x, y = fx(pts), fy(pts)
            col_f, row_f = inv * (x, y)
            sigma0 = map_coordinates(clean, [row_f - 0.5, col_f - 0.5], order=1, mode="nearest")
            sigma0 = sigma0.reshape(ll.shape)
            a = interpolate_lut(cal, ridx, cidx)
            n = noise_power(noise, ridx, cidx)
            power = (sigma0 * a * a + n) * rng.gamma(GRDH_LOOKS, 1.0 / GRDH_LOOKS, size=a.shape)
            dn = np.clip(np.sqrt(power), 1, 65535).astype(np.uint16)
            ds.write(dn, 1, window=Window(c0, int(b0), w, ridx.size))
    facts = dict(
        product=f"{n_samples}x{n_lines} uint16 (IW GRDH, real annotation/calibration/noise XML)",
        window=f"{w}x{h} px simulated at lines {r0}-{r0 + h}, pixels {c0}-{c0 + w}",
        measurement_mb=round(meas.stat().st_size / 1e6, 1),
    )
    return safe, facts


def _ingest(safe: str, dst: str, out: dict) -> None:
    from icecrack_assets.sar.sentinel1.ingest import ingest_to_region

    t0 = time.perf_counter()
    info = ingest_to_region(Path(safe), benchmark_region(), Path(dst), polarisation="VV", dem=DEM)
    out.update(
        valid_fraction=info.valid_fraction,
        terrain=info.history[-3][:120],
        seconds_inner=time.perf_counter() - t0,
    )


def _despeckle(src: str, dst: str, iterations: int | None, block: int, out: dict) -> None:
    from icecrack_assets.sar.despeckle.files import DespeckleSettings, despeckle_file

    settings = DespeckleSettings(filter="ppb", looks=GRDH_LOOKS, iterations=iterations)
    out.update(despeckle_file(Path(src), Path(dst), settings, block=block).as_dict())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default="", help="scratch folder (default: a temp dir; needs ~0.2 GB)")
    ap.add_argument("--iterations", type=int, default=None, help="PPB iterations (default: the looks preset)")
    ap.add_argument("--limit-gb", type=float, default=3.0)
    ap.add_argument("--limit-s", type=float, default=600.0)
    args = ap.parse_args()
    if not SOURCE.is_dir() or not DEM.is_file():
        raise SystemExit(f"needs the shared real data at {SHARED} (set ICECRACK_SHARED_DATA)")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="icecrack-fullscene-"))
    work.mkdir(parents=True, exist_ok=True)
    region = benchmark_region()
    print(
        f"full scene: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start, "
        f"region grid {region.width}x{region.height} px {region.pixel_size:g} m, workdir {work}",
        flush=True,
    )
    t0 = time.perf_counter()
    safe, facts = build_product(work, region)
    print(
        f"  {'build SAFE':<12} {time.perf_counter() - t0:8.1f} s   (not part of the chain) {facts}",
        flush=True,
    )

    from icecrack_assets.sar.despeckle.files import DespeckleSettings

    settings = DespeckleSettings(filter="ppb", looks=GRDH_LOOKS, iterations=args.iterations)
    bundle = tiny_bundle(work / "models", settings.as_dict())
    raw, desp = work / "raw.tif", work / "despeckled.tif"
    rows = [
        measure("ingest+DEM", _ingest, (str(safe), str(raw))),
        measure("despeckle", _despeckle, (str(raw), str(desp), args.iterations, 1024)),
        measure(
            "crack map",
            _predict,
            (str(bundle), str(desp), str(work / "mask.tif"), str(work / "prob.tif"), 2048),
        ),
    ]
    total = sum(r["seconds"] for r in rows)
    peak = max(r["peak_rss_gb"] for r in rows)
    ok = total <= args.limit_s and peak <= args.limit_gb
    print(
        f"  {'total':<12} {total:8.1f} s   peak RSS {peak:.2f} GB   target <= {args.limit_s:g} s and "
        f"<= {args.limit_gb:g} GB: {'met' if ok else 'NOT met'}; load average {os.getloadavg()[0]:.2f} at end",
        flush=True,
    )
    import rasterio

    with rasterio.open(raw) as ds:
        history = json.loads(ds.tags()["ICECRACK_HISTORY"])
        valid = float(np.isfinite(ds.read(1)).mean())
    terrain = next((s for s in history if s.startswith("terrain-corrected")), "no terrain step")
    print(f"  ingest: {valid:.1%} of the region grid valid; {terrain}", flush=True)
    summary = {
        "facts": facts,
        "terrain": terrain,
        "steps": rows,
        "total_s": total,
        "peak_gb": peak,
        "within_target": ok,
    }
    (work / "full_scene.json").write_text(json.dumps(summary, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
