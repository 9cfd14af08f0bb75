"""Smooth random fields and soft masks, the building blocks of the scene simulator.

Large-scale fields are drawn on a coarse grid and upsampled bilinearly, so a 3-megapixel field costs
a few tens of milliseconds instead of a wide Gaussian filter over the full grid.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field with correlation length ~``scale`` pixels."""
    h, w = shape
    scale = max(float(scale), 1.0)
    step = max(1, int(scale / 3.0))
    lo = (h // step + 3, w // step + 3)
    white = rng.standard_normal(lo, dtype=np.float32)
    field = ndimage.gaussian_filter(white, sigma=scale / step / 2.0, mode="wrap")
    off_r, off_c = rng.uniform(0.0, 1.0, 2)
    if step > 1:
        field = _upsample(field, step, (h, w), (off_r, off_c))
    else:
        field = field[:h, :w]
    std = float(field.std()) or 1.0
    return ((field - field.mean()) / std).astype(np.float32)


def _upsample(lo: np.ndarray, step: int, shape: tuple[int, int], offset: tuple[float, float]) -> np.ndarray:
    """Separable bilinear upsampling by ``step`` (much faster than ndimage.zoom on large outputs)."""
    out = lo
    for axis, n in enumerate(shape):
        pos = offset[axis] + np.arange(n, dtype=np.float32) / step
        i0 = np.minimum(pos.astype(np.int64), lo.shape[axis] - 2)
        frac = (pos - i0).astype(np.float32)
        a = np.take(out, i0, axis=axis)
        b = np.take(out, i0 + 1, axis=axis)
        frac = frac[:, None] if axis == 0 else frac[None, :]
        out = a + (b - a) * frac
    return out


def fractal_noise(
    rng: np.random.Generator, shape: tuple[int, int], scales: tuple[float, ...], decay: float = 0.6
) -> np.ndarray:
    """Sum of smooth fields whose amplitude falls by ``decay`` per octave (coarse first); unit std."""
    total = np.zeros(shape, np.float32)
    amp = 1.0
    for scale in scales:
        total += amp * smooth_noise(rng, shape, scale)
        amp *= decay
    std = float(total.std()) or 1.0
    return total / std


def smoothstep(edge0: float | np.ndarray, edge1: float | np.ndarray, x: np.ndarray) -> np.ndarray:
    """0 below edge0, 1 above edge1, a smooth ramp between (edges may be reversed)."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def band(x: np.ndarray, lo: float, hi: float, soft: float) -> np.ndarray:
    """Soft indicator of ``lo <= x <= hi`` with ramps ``soft`` wide."""
    return smoothstep(lo - soft, lo + soft, x) * (1.0 - smoothstep(hi - soft, hi + soft, x))


def wrapped(x: np.ndarray) -> np.ndarray:
    """Distance of ``x`` to the nearest integer, signed, in [-0.5, 0.5)."""
    return x - np.floor(x + 0.5)
