"""Meandering curves (streams, rifts) and the exact distance of nearby pixels to them.

A curve is a dense list of points (0.5 px apart); distances are exact to the sampled curve, so thin
features are rendered with sub-pixel (anti-aliased) coverage like the crevasse traces.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

STEP = 0.5  # px between curve points


def meander(
    rng: np.random.Generator,
    start: tuple[float, float],
    heading_deg: float,
    length: float,
    sinuosity: float,
    wavelength: float,
) -> np.ndarray:
    """(n, 2) float (row, col) points of a curve whose heading wanders smoothly.

    ``sinuosity`` is the heading's standard deviation (radians) over ``wavelength`` px; 0 is straight.
    """
    n = max(2, int(length / STEP))
    white = rng.standard_normal(n + 64)
    sigma = max(wavelength / STEP / 4.0, 1.0)
    wander = ndimage.gaussian_filter1d(white, sigma, mode="wrap")[:n]
    wander *= sinuosity / (wander.std() + 1e-9)
    heading = np.radians(heading_deg) + wander
    steps = np.stack([np.sin(heading), np.cos(heading)], axis=1) * STEP
    return np.asarray(start, float)[None, :] + np.cumsum(steps, axis=0)


def distance_to(points: np.ndarray, shape: tuple[int, int], radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Distance (px) of every pixel within ``radius`` of the curve (inf farther away) and the index of
    the nearest curve point (-1 farther away)."""
    h, w = shape
    dist = np.full(shape, np.inf, np.float32)
    nearest = np.full(shape, -1, np.int64)
    rr = np.round(points[:, 0]).astype(np.int64)
    cc = np.round(points[:, 1]).astype(np.int64)
    inside = (rr >= -radius) & (rr < h + radius) & (cc >= -radius) & (cc < w + radius)
    if not inside.any():
        return dist, nearest
    pad = int(np.ceil(radius)) + 2
    mask = np.ones((h + 2 * pad, w + 2 * pad), bool)
    ok = inside & (rr + pad >= 0) & (rr + pad < h + 2 * pad) & (cc + pad >= 0) & (cc + pad < w + 2 * pad)
    mask[rr[ok] + pad, cc[ok] + pad] = False
    approx = ndimage.distance_transform_edt(mask)[pad : pad + h, pad : pad + w]
    near_r, near_c = np.nonzero(approx <= radius + 1.0)
    if near_r.size == 0:
        return dist, nearest
    d, i = cKDTree(points).query(np.stack([near_r, near_c], axis=1).astype(float))
    dist[near_r, near_c] = d
    nearest[near_r, near_c] = i
    return dist, nearest
