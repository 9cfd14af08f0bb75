"""Streaming training throughput of the default model's recipe (the long runs: the shipped model,
suite c's models): seconds per step for each precision, with the layout it chose.

Usage: python benchmarks/pretrain_speed.py [--steps 300] [--precision float32 auto]
Trains suite c's reference configuration (simulator only, batch 16 x 128 px) for ``--steps``
steps per precision and prints seconds a step (after a 20-step warm-up run is subtracted: the
validation and operating tiles and the bundle are drawn once per run), steps a minute, the CPU
and the 1-minute load average. ICECRACK_THREADS sets the cores it may use (default 2).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run(precision: str, steps: int, root: Path) -> float:
    from icecrack_assets.ml.multisource import MixConfig
    from icecrack_assets.ml.pretrain import PretrainConfig, pretrain

    cfg = PretrainConfig(
        minutes=600,
        max_steps=steps,
        val_tiles=4,
        operating_tiles=4,
        val_every_steps=10**9,
        checkpoint_minutes=600,
        precision=precision,
        mix=MixConfig(weights={"simulator": 1.0}),
    )
    t = time.perf_counter()
    pretrain(cfg, root / "models", root / "ck", log=lambda line: None)
    return time.perf_counter() - t


def layout(precision: str) -> str:
    """What pretrain chooses for ``precision`` here: arithmetic, threads, drawing workers."""
    from icecrack_assets.ml.device import resolve_device, training_dtype, training_layout

    device = resolve_device("auto")
    dtype = training_dtype(precision, device)
    threads, workers = training_layout(device, dtype)
    return (
        f"{str(dtype or 'float32').removeprefix('torch.')} on {device}, {threads} threads, {workers} drawing"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--precision", nargs="+", default=["float32", "auto"])
    args = ap.parse_args()
    print(f"{cpu_name()}, {os.cpu_count()} CPUs, ICECRACK_THREADS={os.environ.get('ICECRACK_THREADS', '2')}")
    for precision in args.precision:
        with tempfile.TemporaryDirectory() as tmp:
            warm = run(precision, 20, Path(tmp) / "warm")
            full = run(precision, args.steps, Path(tmp) / "full")
        per_step = (full - warm) / (args.steps - 20)
        print(
            f"{precision:>8}: {per_step:.3f} s a step, {60 / per_step:.0f} steps a minute "
            f"({layout(precision)}); load {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
