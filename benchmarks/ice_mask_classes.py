"""How well the SAR ice/rock/water rule (masks/sar_classes.py) recovers the simulator's surfaces.

Simulates a season (6 scenes, 640 x 640 px, seeds 0-2) per region and prints, per surface class,
the fraction the rule puts in the right class, plus the fraction of crevasse pixels kept as ice.

    .venv/bin/python benchmarks/ice_mask_classes.py
"""

from __future__ import annotations

import time

import numpy as np

from icecrack_assets.masks import sar_classes as sc
from icecrack_assets.regions import get_region
from icecrack_assets.simulator.layout import CLIFF, GROUNDED, ICE, RIFT, ROCK, SEA_ICE, STREAM, WATER
from icecrack_assets.simulator.scenes import acquisition_times, simulate_scene


def main() -> None:
    print("region          seed rock? ice->ice crack->ice rock->rock water->water seaice->ice rift->ice  s")
    for name in ("jakobshavn", "kangerdlussuaq", "thwaites", "fimbul", "amery"):
        region = get_region(name)
        for seed in (0, 1, 2):
            scenes, last = [], None
            for when in acquisition_times(region, 2023, 6, seed):
                last = simulate_scene(region, when, seed, shape=(640, 640))
                scenes.append((last.intensity, last.passdir))
            t0 = time.perf_counter()
            result = sc.classify_surface(scenes)
            seconds = time.perf_counter() - t0
            got, truth = result.classes, last.classes
            ice = np.isin(truth, (ICE, GROUNDED, STREAM, CLIFF))

            def frac(m: np.ndarray, cls: int, got: np.ndarray = got) -> str:
                return f"{(got[m] == cls).mean():.2f}" if m.any() else "  - "

            print(
                f"{name:15s} {seed:4d} {int(result.rock_classified):5d} {frac(ice, sc.ICE):>8s} "
                f"{frac(last.truth == 1, sc.ICE):>10s} {frac(truth == ROCK, sc.ROCK):>10s} "
                f"{frac(truth == WATER, sc.WATER):>12s} {frac(truth == SEA_ICE, sc.ICE):>11s} "
                f"{frac(truth == RIFT, sc.ICE):>9s} {seconds:5.2f}"
            )


if __name__ == "__main__":
    main()
