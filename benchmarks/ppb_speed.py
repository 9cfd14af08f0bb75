"""PPB speed: Mpix/s per iteration at the defaults, the speed-up over the direct algorithm, and
(with --big) the peak RSS of a 16 000 x 16 000 scene processed from disk to disk.

    python benchmarks/ppb_speed.py            # ~1-2 min on 2 cores
    python benchmarks/ppb_speed.py --big      # + the 16k scene (minutes; needs ~2 GB of /tmp)

Timings are wall clock, best of --repeats; on a shared machine they are noisy, so every figure is
printed with the 1-minute load average next to it, and a single-thread figure measured in *thread
CPU time* (robust to other processes) is printed too: ns per pixel-offset per core, where a
pixel-offset is one evaluated (pixel, search offset) pair, 220 per pixel per iteration at hW=10.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from icecrack_assets.sar.despeckle.ppb import ppb  # noqa: E402
from icecrack_assets_tests.helpers.ppb_reference import direct_ppb  # noqa: E402


def speckled(n: int, L: float = 1.0, seed: int = 0) -> np.ndarray:
    """cameraman tiled to n x n under L-look gamma speckle (a realistic mix of flat areas and edges)."""
    import skimage.data

    cam = np.maximum(skimage.data.camera().astype(np.float64), 1.0) ** 2
    reps = -(-n // cam.shape[0])
    clean = np.tile(cam, (reps, reps))[:n, :n]
    rng = np.random.default_rng(seed)
    return (clean * rng.gamma(L, 1.0 / L, clean.shape)).astype(np.float32)


def best_time(fn, repeats: int, clock=time.perf_counter) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def load() -> str:
    return f"[load {os.getloadavg()[0]:.2f}]"


BIG_CHILD = r"""
import json, sys, time, resource
from icecrack_assets.sar.despeckle.files import DespeckleSettings, despeckle_file
src, dst, iters = sys.argv[1], sys.argv[2], int(sys.argv[3])
last = [-1]
def progress(f):
    if int(f * 20) > last[0]:
        last[0] = int(f * 20)
        print(f"  {100 * f:5.1f}%", file=sys.stderr, flush=True)
stats = despeckle_file(src, dst, DespeckleSettings(looks=1.0, preset="reference", iterations=iters), block=1024,
                       progress=progress).as_dict()
stats["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(stats))
"""


def big_scene(n: int, iterations: int, workdir: Path) -> None:
    import json

    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    src = workdir / "big_in.tif"
    dst = workdir / "big_out.tif"
    print(f"writing a {n} x {n} float32 speckle scene to {src} ...", flush=True)
    profile = dict(
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="float32",
        crs="EPSG:3031",
        transform=Affine(40.0, 0, 0, 0, -40.0, 0),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        nodata=float("nan"),
        BIGTIFF="YES",
    )
    rng = np.random.default_rng(0)
    with rasterio.open(src, "w", **profile) as ds:
        for r in range(0, n, 1024):
            h = min(1024, n - r)
            ds.write(rng.gamma(1.0, 0.05, size=(h, n)).astype(np.float32), 1, window=Window(0, r, n, h))
    print(f"despeckling it from disk to disk, {iterations} iteration(s), block 1024 ...", flush=True)
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", BIG_CHILD, str(src), str(dst), str(iterations)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        check=True,
    )
    wall = time.perf_counter() - t
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"{n}x{n} scene: {wall:.0f} s wall {load()}, {stats['mpix_per_s'] * iterations:.2f} Mpix/s per iteration "
        f"(incl. I/O and halo), peak RSS {stats['peak_rss_mb']:.0f} MB (target < 1500 MB)"
    )


def per_looks(img: np.ndarray, repeats: int, scene_side: int = 16000) -> None:
    """Whole-run cost at the parameters the rule picks per number of looks (settings.py), and what
    that means for a scene of scene_side² pixels (compute only, no I/O), against the reference."""
    from icecrack_assets.sar.despeckle.settings import PPB_BY_LOOKS, REFERENCE

    npx = img.size
    print(f"whole PPB run at the L-dependent parameters, {img.shape[0]}x{img.shape[1]} (wall clock):")
    rows = [("reference", 1.0, REFERENCE)] + [(f"L={L:g}", L, p) for L, p in PPB_BY_LOOKS.items()]
    for label, L, p in rows:
        t = best_time(lambda L=L, p=p: ppb(img, L, p.hw, p.hd, p.alpha, p.T, p.iterations), repeats)
        print(
            f"  {label:9s} hW={p.hw:2d} hD={p.hd} {p.iterations} it: {t:.3f} s = {npx / t / 1e6:.2f} Mpix/s "
            f"per run ({p.iterations * npx / t / 1e6:.2f} per iteration); {scene_side}² scene ~ "
            f"{scene_side**2 / (npx / t) / 60:.1f} min compute {load()}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1024, help="side of the timed image (default 1024)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--direct-size", type=int, default=24, help="side of the direct-algorithm crop")
    ap.add_argument("--big", action="store_true", help="also run the 16 000 x 16 000 scene from disk")
    ap.add_argument("--big-size", type=int, default=16000)
    ap.add_argument("--big-iterations", type=int, default=4)
    args = ap.parse_args()

    import numba

    img = speckled(args.size)
    ppb(img[:64, :64], 1.0, iterations=2)  # compile / load the cache
    print(
        f"numba {numba.__version__}, threads {numba.get_num_threads()}, "
        f"threading layer {numba.threading_layer()}, cpus {os.cpu_count()} {load()}"
    )
    npx = img.size
    offsets = 220  # half of the 21x21 window: pixel-offset evaluations per pixel per iteration
    nthreads = numba.get_num_threads()
    print(f"fast PPB, {args.size}x{args.size}, hW=10 hD=3 L=1, {nthreads} threads (wall clock):")
    t1 = best_time(lambda: ppb(img, 1.0, iterations=1), args.repeats)
    print(f"  1 iteration : {t1:.3f} s  -> {npx / t1 / 1e6:.2f} Mpix/s per iteration {load()}")
    t4 = best_time(lambda: ppb(img, 1.0, iterations=4), args.repeats)
    print(
        f"  4 iterations: {t4:.3f} s  -> {4 * npx / t4 / 1e6:.2f} Mpix/s per iteration (target >= 3) {load()}"
    )
    print(
        f"  = {t4 / (4 * npx * offsets) * 1e9 * nthreads:.2f} ns per pixel-offset per core (wall x threads)"
    )
    numba.set_num_threads(1)
    c4 = best_time(lambda: ppb(img, 1.0, iterations=4), args.repeats, clock=time.thread_time)
    numba.set_num_threads(nthreads)
    print(
        f"one thread, thread CPU time (robust to load), 4 iterations: {c4:.3f} s -> "
        f"{c4 / (4 * npx * offsets) * 1e9:.2f} ns per pixel-offset, {4 * npx / c4 / 1e6:.2f} Mpix/s "
        f"per iteration per core {load()}"
    )

    crop = img[: args.direct_size, : args.direct_size]
    td = best_time(lambda: direct_ppb(crop, 1.0, iterations=1), 1)
    tf = best_time(lambda: ppb(crop, 1.0, iterations=1), args.repeats)
    per_px_direct = td / crop.size
    per_px_fast = t4 / (4 * npx)
    print(
        f"direct per-pixel PPB (numpy, float64), {crop.shape[0]}x{crop.shape[1]}, 1 iteration: "
        f"{td:.2f} s = {per_px_direct * 1e6:.0f} us/pixel {load()}"
    )
    print(
        f"  speed-up of the fast path: {per_px_direct / per_px_fast:.0f}x "
        f"(per pixel-iteration, fast measured on {args.size}^2; same crop: {td / tf:.0f}x) "
        f"(target >= 100x)"
    )
    per_looks(img, args.repeats)
    if args.big:
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as d:
            big_scene(args.big_size, args.big_iterations, Path(d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
