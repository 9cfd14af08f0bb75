"""Training augmentation: the eight flips/90-degree rotations, a residual-speckle re-draw and
random convolutions.

Crevasses have no preferred orientation across regions, so the dihedral group is label-preserving.
Patches are despeckled intensity; the speckle re-draw multiplies them by fresh unit-mean gamma
noise with a high number of looks, imitating the residual speckle a filter leaves, so the model
does not learn one particular noise realisation.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate


def dihedral(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Apply the ``k``-th (0..7) flip/rotation to the last two axes of both arrays."""
    if k & 4:
        x, y = x[..., ::-1], y[..., ::-1]
    r = k & 3
    if r:
        x, y = np.rot90(x, r, axes=(-2, -1)), np.rot90(y, r, axes=(-2, -1))
    return x, y


def speckle_redraw(intensity: np.ndarray, rng: np.random.Generator, looks: float) -> np.ndarray:
    """Multiply by unit-mean gamma noise of ``looks`` looks (NaN stays NaN)."""
    noise = rng.gamma(looks, 1.0 / looks, size=intensity.shape).astype(np.float32)
    return intensity * noise


def augment_batch(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    speckle_prob: float = 0.5,
    looks_range: tuple[float, float] = (20.0, 80.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Random dihedral transform per patch plus, with ``speckle_prob``, a residual-speckle re-draw."""
    xs, ys = [], []
    for xi, yi in zip(x, y):
        if rng.random() < speckle_prob:
            xi = speckle_redraw(xi, rng, float(rng.uniform(*looks_range)))
        xi, yi = dihedral(xi, yi, int(rng.integers(8)))
        xs.append(np.ascontiguousarray(xi))
        ys.append(np.ascontiguousarray(yi))
    return np.stack(xs), np.stack(ys)


def random_crops(
    x: np.ndarray, y: np.ndarray, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One random ``size`` x ``size`` window per patch (the patch itself when it is not larger)."""
    h, w = x.shape[-2:]
    if size >= h and size >= w:
        return x, y
    ch, cw = min(size, h), min(size, w)
    rows = rng.integers(0, h - ch + 1, size=len(x))
    cols = rng.integers(0, w - cw + 1, size=len(x))
    xs = np.stack([xi[..., r : r + ch, c : c + cw] for xi, r, c in zip(x, rows, cols)])
    ys = np.stack([yi[..., r : r + ch, c : c + cw] for yi, r, c in zip(y, rows, cols)])
    return xs, ys


RANDOM_CONV_KERNELS = (3, 5)  # 7 px and wider blur dense 1-px fields out of sight


def random_convolution(
    x: np.ndarray,
    valid: np.ndarray,
    rng: np.random.Generator,
    kernels: tuple[int, ...] = RANDOM_CONV_KERNELS,
) -> np.ndarray:
    """RandConv (Xu et al. 2021) on one normalised crop: a random ``k`` x ``k`` filter (normal
    weights, whose scale does not matter) whose output is rescaled to the crop's own mean and
    spread over ``valid`` pixels, then mixed with the crop by a uniform weight. Shapes stay where
    they were while the local look (wall/shadow order, edge profile, speckle texture) changes, so
    a model cannot lean on one renderer's picture of a crack. Labels are unchanged; invalid pixels stay 0."""
    k = int(rng.choice(kernels))
    w = rng.normal(0.0, 1.0, size=(k, k))
    out: np.ndarray = correlate(x.astype(np.float64), w, mode="reflect")
    if valid.any():
        mu, sd = float(x[valid].mean()), float(x[valid].std())
        omu, osd = float(out[valid].mean()), float(out[valid].std())
        out = (out - omu) / max(osd, 1e-6) * sd + mu
    alpha = float(rng.uniform(0.0, 1.0))
    mixed: np.ndarray = (alpha * x + (1.0 - alpha) * out).astype(x.dtype)
    mixed[~valid] = 0.0
    return mixed
