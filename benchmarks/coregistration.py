"""What phase correlation measures on perfectly registered simulated seasons, and how well it recovers
a known (bilinear) shift: the figures behind sar/coregister.py's rule (one reference per pass direction).

Simulates 6 scenes (640 x 640 px) per region and seed, smooths them with a 5 x 5 boxcar (a fast
stand-in for despeckling), and measures every scene against the season's first scene.

    .venv/bin/python benchmarks/coregistration.py
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from icecrack_assets.regions import get_region
from icecrack_assets.sar import coregister as co
from icecrack_assets.simulator.scenes import acquisition_times, simulate_scene


def main() -> None:
    print(
        "region          seed  same-pass |offset| px (max)  opposite-pass |offset| px  known-shift error px (max)"
    )
    for name in ("jakobshavn", "kangerdlussuaq", "thwaites", "fimbul"):
        region = get_region(name)
        for seed in (0, 1):
            scenes = []
            for when in acquisition_times(region, 2023, 6, seed):
                s = simulate_scene(region, when, seed, shape=(640, 640))
                smooth = ndimage.uniform_filter(np.nan_to_num(s.intensity, nan=0.0), 5)
                scenes.append((np.where(np.isfinite(s.intensity), smooth, np.nan), s.passdir))
            ref, ref_pass = co.to_db(scenes[0][0]), scenes[0][1]
            same, opposite, errors = [], [], []
            for img, passdir in scenes[1:]:
                row, col, _, _ = co.measure_offset(ref, co.to_db(img))
                (same if passdir == ref_pass else opposite).append(float(np.hypot(row, col)))
                if passdir == ref_pass:
                    for dr, dc in ((0.5, 0.5), (1.5, -1.0)):
                        r2, c2, _, _ = co.measure_offset(ref, co.to_db(co.shift_image(img, dr, dc)))
                        errors.append(float(np.hypot(r2 + dr, c2 + dc)))
            fmt = lambda v: f"{max(v):.2f}" if v else "  - "  # noqa: E731
            opp = ", ".join(f"{v:.2f}" for v in opposite) or "-"
            print(f"{name:15s} {seed:4d}  {fmt(same):>26s}  {opp:>24s}  {fmt(errors):>26s}")


if __name__ == "__main__":
    main()
