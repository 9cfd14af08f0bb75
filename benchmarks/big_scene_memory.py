"""Peak memory of despeckling and inference on a scene too large for memory, window by window.

Writes a synthetic ``--size`` x ``--size`` float32 scene (default 16 000², ~1 GB; speckled
gamma intensity with a few bright linear features) block by block, then runs
``sar.despeckle.despeckle_file`` and ``ml.inference.predict_file`` on it, each in its own child
process, and reports each step's wall time and peak RSS (child ``ru_maxrss`` and a 0.1 s
psutil sampler). The target from issue 6 is peak RSS < 3 GB per step.

    python benchmarks/big_scene_memory.py                       # 16 000², PPB 1 iteration
    python benchmarks/big_scene_memory.py --size 4000 --filter lee   # quick look
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

GB = 1024**3


def write_scene(path: Path, size: int, looks: int = 4, block: int = 1024, seed: int = 0) -> None:
    """A speckled scene written window by window, never held in memory whole."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    profile = dict(
        driver="GTiff",
        width=size,
        height=size,
        count=1,
        dtype="float32",
        crs="EPSG:3413",
        transform=from_origin(-200000.0, -2000000.0, 20.0, 20.0),
        nodata=float("nan"),
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
        predictor=3,
        BIGTIFF="YES",
    )
    with rasterio.open(path, "w", **profile) as ds:
        ds.update_tags(LOOKS=str(looks), UNITS="linear")
        for r0 in range(0, size, block):
            for c0 in range(0, size, block):
                h, w = min(block, size - r0), min(block, size - c0)
                rr, cc = np.mgrid[r0 : r0 + h, c0 : c0 + w]
                clean = 0.05 + 0.2 * ((rr + 3 * cc) % 400 < 3)  # thin bright lines
                noisy = clean * rng.gamma(looks, 1.0 / looks, size=(h, w))
                ds.write(noisy.astype(np.float32), 1, window=Window(c0, r0, w, h))


def tiny_bundle(models: Path, despeckle: dict) -> Path:
    """An (untrained) bundle of the default architecture: speed and memory do not depend on the weights.

    The architecture comes from the training defaults (``TrainConfig``), like inference_speed.py's;
    until 2026-11-24 this built stem 1, a 4x slower trunk than any trained bundle.
    """
    import torch

    from icecrack_assets.ml.bundle import save_bundle
    from icecrack_assets.ml.normalise import DEFAULT_NORMALISATION
    from icecrack_assets.ml.train import TrainConfig
    from icecrack_assets.ml.unet import UNet, UNetConfig

    torch.manual_seed(0)
    d = TrainConfig()
    model = UNet(UNetConfig(depth=d.depth, width=d.width, stem=d.stem))
    return save_bundle(
        models, model, dict(DEFAULT_NORMALISATION), despeckle, 0.5, {"benchmark": "big_scene_memory"}, {}
    )


def _despeckle(src: str, dst: str, filt: str, iterations: int, block: int, out: dict) -> None:
    from icecrack_assets.sar.despeckle.files import DespeckleSettings, despeckle_file

    settings = DespeckleSettings(filter=filt, looks=4.0, iterations=iterations)
    out.update(despeckle_file(Path(src), Path(dst), settings, block=block).as_dict())


def _predict(bundle: str, src: str, mask: str, prob: str, block: int, out: dict) -> None:
    from icecrack_assets.ml.bundle import load_bundle
    from icecrack_assets.ml.inference import predict_file

    out.update(
        predict_file(
            load_bundle(Path(bundle), device="cpu"),
            Path(src),
            Path(mask),
            Path(prob),
            despeckled=True,
            block=block,
        ).as_dict()
    )


def _child(target, args, queue) -> None:
    out: dict = {}
    target(*args, out)
    out["ru_maxrss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put({k: v for k, v in out.items() if isinstance(v, (int, float, str))})


def measure(name: str, target, args) -> dict:
    """Run ``target`` in a fresh process; peak RSS from the kernel and from a sampler."""
    import psutil

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, args, queue))
    t0 = time.perf_counter()
    proc.start()
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        p = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], p.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = queue.get()
    proc.join()
    stop.set()
    seconds = time.perf_counter() - t0
    if proc.exitcode != 0:
        raise SystemExit(f"{name} failed with exit code {proc.exitcode}")
    peak_bytes = max(peak[0], result.get("ru_maxrss_bytes", 0))
    row = {"step": name, "seconds": round(seconds, 1), "peak_rss_gb": round(peak_bytes / GB, 3)}
    if "mpix_per_s" in result:
        row["mpix_per_s"] = round(result["mpix_per_s"], 2)
    rate = f"   {row['mpix_per_s']:.2f} Mpix/s" if "mpix_per_s" in row else ""
    print(f"  {name:<12} {row['seconds']:8.1f} s   peak RSS {row['peak_rss_gb']:.2f} GB{rate}", flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=16000)
    ap.add_argument("--filter", default="ppb")
    ap.add_argument("--iterations", type=int, default=1, help="PPB iterations (default 1)")
    ap.add_argument("--block", type=int, default=1024, help="despeckling window (default 1024)")
    ap.add_argument("--infer-block", type=int, default=2048, help="inference window (default 2048)")
    ap.add_argument("--workdir", default="", help="scratch folder (default: a temp dir; needs ~3 GB)")
    ap.add_argument("--limit-gb", type=float, default=3.0)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="icecrack-bigscene-"))
    work.mkdir(parents=True, exist_ok=True)
    src, desp = work / "scene.tif", work / "despeckled.tif"
    print(
        f"big scene: {args.size}x{args.size} float32 ({args.size**2 * 4 / GB:.2f} GB in memory), "
        f"filter {args.filter}, {os.cpu_count()} cores, workdir {work}",
        flush=True,
    )
    t0 = time.perf_counter()
    write_scene(src, args.size)
    print(f"  {'write scene':<12} {time.perf_counter() - t0:8.1f} s", flush=True)
    from icecrack_assets.sar.despeckle.files import DespeckleSettings

    bundle = tiny_bundle(
        work / "models",
        DespeckleSettings(filter=args.filter, looks=4.0, iterations=args.iterations).as_dict(),
    )
    rows = [
        measure("despeckle", _despeckle, (str(src), str(desp), args.filter, args.iterations, args.block)),
        measure(
            "inference",
            _predict,
            (str(bundle), str(desp), str(work / "mask.tif"), str(work / "prob.tif"), args.infer_block),
        ),
    ]
    ok = all(r["peak_rss_gb"] < args.limit_gb for r in rows)
    summary = {
        "size": args.size,
        "filter": args.filter,
        "iterations": args.iterations,
        "cores": os.cpu_count(),
        "steps": rows,
        "limit_gb": args.limit_gb,
        "within_limit": ok,
    }
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "big_scene_memory.json").write_text(json.dumps(summary, indent=2))
    print(
        f"big-scene: peak RSS {max(r['peak_rss_gb'] for r in rows):.2f} GB "
        f"({'under' if ok else 'OVER'} {args.limit_gb} GB)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
