"""Training throughput of the default U-Net (target: default training < 10 min on 2 CPU cores).

Usage: python benchmarks/training_speed.py [--patches 768] [--patch 96] [--epochs 2] [--threads 2]
       [--width 16] [--depth 4] [--stem 2] [--crop 64] [--init default [--freeze-encoder]]
Builds demo-sized samples from synthetic scenes (the demo's default: 2 regions x 2 scenes x 192
training patches of 96 px, plus whole-area val/test tiles), trains a few epochs with the default
TrainConfig, and prints seconds per epoch and the projected time of a 30-epoch run and of the
demo's fine-tune (``--init default --freeze-encoder --crop 64``: its epochs). Prints the
1-minute load average too: on a shared machine the figures are only comparable at equal load.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patches", type=int, default=768, help="training patches (demo default 768)")
    ap.add_argument("--patch", type=int, default=96)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--width", type=int, default=None)
    ap.add_argument("--depth", type=int, default=None)
    ap.add_argument("--stem", type=int, default=None)
    ap.add_argument(
        "--crop",
        type=int,
        default=None,
        help="training window in px (default: whole patches, as from scratch; 0 = whole)",
    )
    ap.add_argument("--init", default=None, help="fine-tune from this bundle ('default': the shipped one)")
    ap.add_argument(
        "--freeze-encoder", action="store_true", help="with --init: train only the decoder (the demo's)"
    )
    args = ap.parse_args()
    os.environ["ICECRACK_THREADS"] = str(args.threads)
    from icecrack_assets.commands.demo import DEMO_EPOCHS
    from icecrack_assets.ml.evaluation.synthetic import synthetic_scene
    from icecrack_assets.ml.samples import SceneForSamples, build_samples
    from icecrack_assets.ml.train import TrainConfig, train_bundle, training_window

    cfg = TrainConfig(epochs=args.epochs, patience=args.epochs + 1, max_minutes=60, device="cpu")
    for k in ("width", "depth", "stem", "crop", "init", "freeze_encoder"):
        if getattr(args, k) is not None:
            setattr(cfg, k, getattr(args, k))
    n_scenes = 4
    per_scene = int(np.ceil(args.patches / n_scenes))
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        scenes = []
        for s in range(n_scenes):
            _, clean, truth = synthetic_scene((1024, 1024), seed=s, nodata_corner=False)
            scenes.append(SceneForSamples(f"syn{s}", "bench", 2024, None, truth, "simulator", image=clean))
        idx = build_samples(
            scenes, Path(tmp) / "s", patch=args.patch, max_per_scene=per_scene, block_size=384, buffer=32
        )
        lines: list[str] = []
        t0 = time.perf_counter()
        res = train_bundle([Path(tmp) / "s"], Path(tmp) / "m", cfg, {"filter": "none"}, {}, lines.append)
        total = time.perf_counter() - t0
    stamps = [int(m.group(1)) for m in (re.search(r"\((\d+) s\)$", ln) for ln in lines) if m]
    per_epoch = (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1) if len(stamps) > 1 else total / args.epochs
    print(
        f"{idx.n_train} train / {idx.n_val} val patches of {args.patch} px; U-Net depth {cfg.depth} width "
        f"{cfg.width} stem {cfg.stem}; training window {training_window(cfg) or args.patch} px; {args.threads} threads"
        + (f"; fine-tuning {cfg.init}" + (", encoder kept" if cfg.freeze_encoder else "") if cfg.init else "")
    )
    print(
        f"{per_epoch:.1f} s per epoch (incl. validation) -> 30 epochs ~ {30 * per_epoch / 60:.1f} min, "
        f"{DEMO_EPOCHS} (the demo's) ~ {DEMO_EPOCHS * per_epoch / 60:.1f} min; "
        f"this run {res.epochs_run} epochs in {total:.0f} s; load average {load0:.1f} -> {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
