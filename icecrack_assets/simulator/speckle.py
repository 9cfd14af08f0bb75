"""Multiplicative speckle for detected, multilooked SAR intensity: unit-mean Gamma(L, 1/L).

``correlated=True`` mimics the oversampled GRD grid: round(L) complex Gaussian fields are smoothed
before detection (so neighbouring pixels share scatterers), averaged, rescaled to unit mean, and then
mapped pixel by pixel onto the Gamma(L, 1/L) distribution, so the one-pixel statistics stay exactly
those of an L-look product while neighbours become correlated.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, special

CORRELATION_SIGMA_PX = 0.8  # Gaussian smoothing of the complex field: ~2 px correlation length


def gamma_speckle(
    rng: np.random.Generator, shape: tuple[int, int], looks: float, correlated: bool = False
) -> np.ndarray:
    """Speckle factor with mean 1 and variance 1/looks (float32)."""
    if looks <= 0:
        raise ValueError(f"looks must be positive, got {looks}")
    if not correlated:
        return rng.gamma(looks, 1.0 / looks, size=shape).astype(np.float32)
    n_looks = max(1, int(round(looks)))
    impulse = np.zeros((15, 15), np.float32)
    impulse[7, 7] = 1.0
    gain = float((ndimage.gaussian_filter(impulse, CORRELATION_SIGMA_PX) ** 2).sum())
    total = np.zeros(shape, np.float32)
    for _ in range(n_looks):
        re = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), CORRELATION_SIGMA_PX)
        im = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), CORRELATION_SIGMA_PX)
        total += re * re + im * im
    # each filtered component has variance `gain`; |z|^2 is exponential with mean 2*gain
    unit = total / (2.0 * gain * n_looks)  # Gamma(n_looks, 1/n_looks), spatially correlated
    if abs(n_looks - looks) < 1e-6:
        return unit.astype(np.float32)
    # probability integral transform (same ranks, exact Gamma(looks, 1/looks) marginal), tabulated on
    # a fine grid because the map is smooth and monotonic and gammaincinv per pixel is slow
    grid = np.linspace(0.0, float(unit.max()) * 1.0001 + 1e-6, 8192)
    u = np.clip(special.gammainc(n_looks, n_looks * grid), 1e-12, 1.0 - 1e-12)
    table = special.gammaincinv(looks, u) / looks
    return np.interp(unit, grid, table).astype(np.float32)
