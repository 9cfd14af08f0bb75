"""Inference throughput of tiled, blended U-Net prediction (target: >= 2 Mpix/s on 2 CPU cores).

Usage: python benchmarks/inference_speed.py [--size 2048] [--width 16] [--depth 4] [--stem 2] [--tile 512]
       [--overlap 32] [--threads 2] [--model BUNDLE] [--file] [--repeat 3] [--int8]
Times ``predict_probability`` on a synthetic despeckled scene (untrained weights run at the same
speed as trained ones), and with ``--file`` the windowed file-to-file path (``predict_file``), writing the mask only
(``icecrack predict``'s default) and the mask plus the probability COG (``--probabilities``).
Architecture defaults are the training defaults (``TrainConfig``). The best of ``--repeat`` runs
is reported with the load average: on a shared machine the slowest runs measure the neighbours.
``--int8`` runs the 8-bit quantised model (``predict --int8``); its one-off calibration is timed apart.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from icecrack_assets.ml.bundle import load_bundle, save_bundle
from icecrack_assets.ml.evaluation.synthetic import synthetic_scene
from icecrack_assets.ml.inference import OVERLAP, TILE, predict_file, predict_probability
from icecrack_assets.ml.normalise import DEFAULT_NORMALISATION
from icecrack_assets.ml.train import TrainConfig
from icecrack_assets.ml.unet import UNet, UNetConfig

_D = TrainConfig()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--width", type=int, default=_D.width)
    ap.add_argument("--depth", type=int, default=_D.depth)
    ap.add_argument("--stem", type=int, default=_D.stem)
    ap.add_argument("--tile", type=int, default=TILE)
    ap.add_argument("--overlap", type=int, default=OVERLAP)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--file", action="store_true")
    ap.add_argument("--int8", action="store_true", help="the 8-bit quantised model (predict --int8)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            bundle = load_bundle(args.model, "cpu")
        else:
            torch.manual_seed(0)
            model = UNet(UNetConfig(depth=args.depth, width=args.width, stem=args.stem))
            bundle = load_bundle(
                save_bundle(Path(tmp), model, DEFAULT_NORMALISATION, {"filter": "none"}, 0.5, {}, {}), "cpu"
            )
        if args.int8:
            bundle.int8 = True
            t0 = time.perf_counter()
            bundle.int8_model()
            print(f"int8: calibrated in {time.perf_counter() - t0:.1f} s (once per loaded bundle)")
        img, _, _ = synthetic_scene((args.size, args.size), seed=0, nodata_corner=False)
        predict_probability(bundle, img[: args.tile, : args.tile], args.tile, args.overlap)  # warm-up / trace
        load0 = os.getloadavg()[0]
        times = []
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            predict_probability(bundle, img, args.tile, args.overlap)
            times.append(time.perf_counter() - t0)
        dt = min(times)
        mpix = args.size * args.size / 1e6
        print(
            f"in-memory: {mpix:.2f} Mpix in {dt:.2f} s = {mpix / dt:.2f} Mpix/s best of {len(times)} "
            f"(median {mpix / sorted(times)[len(times) // 2]:.2f}) (U-Net depth {bundle.config['depth']} "
            f"width {bundle.config['width']} stem {bundle.config.get('stem', 1)}{', int8' if args.int8 else ''}, "
            f"tile {args.tile}, "
            f"overlap {args.overlap}, {torch.get_num_threads()} threads; load average {load0:.1f} -> "
            f"{os.getloadavg()[0]:.1f})"
        )
        if args.file:
            import rasterio
            from affine import Affine

            src = Path(tmp) / "scene.tif"
            prof = dict(
                driver="GTiff",
                height=args.size,
                width=args.size,
                count=1,
                dtype="float32",
                crs="EPSG:3031",
                transform=Affine(40, 0, 0, 0, -40, 0),
                nodata=float("nan"),
                tiled=True,
                blockxsize=256,
                blockysize=256,
            )
            with rasterio.open(src, "w", **prof) as ds:
                ds.write(img, 1)
            for label, prob in (
                ("mask only, icecrack predict's default", None),
                ("mask + probability COG", Path(tmp) / "prob.tif"),
            ):
                rates = [
                    predict_file(
                        bundle,
                        src,
                        Path(tmp) / "mask.tif",
                        prob,
                        despeckled=True,
                        tile=args.tile,
                        overlap=args.overlap,
                    ).mpix_per_s
                    for _ in range(max(1, args.repeat))
                ]
                size = f"; probability COG {prob.stat().st_size / 1e6:.1f} MB" if prob else ""
                print(
                    f"file-to-file ({label}): {max(rates):.2f} Mpix/s best of {len(rates)} "
                    f"(median {sorted(rates)[len(rates) // 2]:.2f}){size}"
                )


if __name__ == "__main__":
    main()
