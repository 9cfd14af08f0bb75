"""Tiny synthetic crack scenes (thin bright/dark lines under gamma speckle) for fast tests.

Not the project's simulator (``icecrack_assets.simulator.scenes``): just enough structure to check
that sampling, training, tiling and metrics work, in a fraction of a second.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.draw import line


def synthetic_scene(
    shape: tuple[int, int] = (256, 256),
    seed: int = 0,
    looks: float = 4.0,
    n_lines: int = 12,
    nodata_corner: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(speckled intensity, clean intensity, truth)``; truth 1 crack / 0 / 255 nodata."""
    rng = np.random.default_rng(seed)
    h, w = shape
    base = ndimage.gaussian_filter(rng.normal(0, 1, shape), 12)
    base = 0.08 * 10 ** (0.3 * base / max(base.std(), 1e-6))  # about -11 dB with 3 dB texture
    truth = np.zeros(shape, np.uint8)
    clean = base.astype(np.float32).copy()
    for _ in range(n_lines):
        r0, c0 = rng.integers(0, h), rng.integers(0, w)
        ang = rng.uniform(0, np.pi)
        length = rng.uniform(0.2, 0.6) * min(h, w)
        r1 = int(np.clip(r0 + length * np.sin(ang), 0, h - 1))
        c1 = int(np.clip(c0 + length * np.cos(ang), 0, w - 1))
        rr, cc = line(int(r0), int(c0), r1, c1)
        m = np.zeros(shape, bool)
        m[rr, cc] = True
        if rng.random() < 0.5:
            m = ndimage.binary_dilation(m)
        truth[m] = 1
        clean[m] *= 6.0 if rng.random() < 0.7 else 0.15
    speckled = (clean * rng.gamma(looks, 1.0 / looks, shape)).astype(np.float32)
    if nodata_corner:
        speckled[: h // 8, : w // 8] = np.nan
        clean[: h // 8, : w // 8] = np.nan
        truth[: h // 8, : w // 8] = 255
    return speckled, clean.astype(np.float32), truth
