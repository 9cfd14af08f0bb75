"""Sensor effects of the randomised simulator: radiometric trends, speckle, thermal noise, nodata.

Applied to clean sigma0 in this order: calibration offset (±3 dB), incidence-angle gradient along
range, EW sub-swath seams (a level step at each seam), multiplicative speckle (L looks per
acquisition, optionally an average of N acquisitions: ENL = N * L; optionally spatially correlated),
residual thermal noise after noise removal (additive, scalloped per sub-swath, may be slightly
under- or over-subtracted) and a swath edge of nodata.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, special

from icecrack_assets.simulator.fields import smooth_noise
from icecrack_assets.simulator.random_cracks import frame

MIN_SIGMA0 = 1e-6  # floor after thermal-noise over-subtraction (-60 dB)


def range_coordinate(shape: tuple[int, int], look: tuple[float, float]) -> np.ndarray:
    """Pixel position along the range direction, 0..1 across the window (near range = 0)."""
    r = np.arange(shape[0], dtype=np.float32)[:, None]
    c = np.arange(shape[1], dtype=np.float32)[None, :]
    x = c * np.float32(look[0]) + r * np.float32(look[1])
    return (x - x.min()) / max(float(x.max() - x.min()), 1.0)


def radiometric_trends(db: np.ndarray, se, look: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Calibration offset, incidence-angle gradient and sub-swath seam steps (dB, added)."""
    x = range_coordinate(db.shape, look)
    out = db + np.float32(se.calibration_db) + np.float32(se.incidence_db) * (x - 0.5)
    for pos, step in zip(se.seams, se.seam_steps_db, strict=True):
        out = out + np.where(x > pos, np.float32(step), np.float32(0.0))
    return out.astype(np.float32)


def correlated_gamma(
    rng: np.random.Generator, shape: tuple[int, int], looks: float, sigma: float
) -> np.ndarray:
    """Unit-mean speckle with exact Gamma(looks, 1/looks) marginals and ~2*sigma px correlation.

    A few smoothed complex Gaussian looks give the spatial correlation; a rank-preserving map (through
    their own Gamma law) gives the marginal of ``looks`` looks, so the one-pixel statistics do not
    depend on how many fields were smoothed.
    """
    n = int(np.clip(round(looks), 1, 4))
    impulse = np.zeros((21, 21), np.float32)
    impulse[10, 10] = 1.0
    gain = float((ndimage.gaussian_filter(impulse, sigma) ** 2).sum())
    total = np.zeros(shape, np.float32)
    for _ in range(n):
        re = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
        im = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
        total += re * re + im * im
    unit = total / (2.0 * gain * n)
    grid = np.linspace(0.0, float(unit.max()) * 1.0001 + 1e-6, 4096)
    u = np.clip(special.gammainc(n, n * grid), 1e-12, 1.0 - 1e-12)
    table = special.gammaincinv(looks, u) / looks
    return np.interp(unit, grid, table).astype(np.float32)


def speckle(se, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Speckle of the product: ENL = looks * composite (averaging N independent acquisitions)."""
    enl = se.looks * se.composite
    if se.correlation_px > 0:
        return correlated_gamma(rng, shape, enl, se.correlation_px)
    return rng.gamma(enl, 1.0 / enl, size=shape).astype(np.float32)


def thermal_residual(
    se, look: tuple[float, float], shape: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """Additive noise left after noise subtraction (linear): scalloped along azimuth, stepping at seams."""
    if se.nesz_db is None:
        return np.zeros(shape, np.float32)
    x = range_coordinate(shape, look)
    edges = [0.0, *se.seams, 1.0]
    profile = np.zeros(shape, np.float32)
    sub = np.zeros(shape, np.int64)
    for pos in se.seams:
        sub += (x > pos).astype(np.int64)
    _, az = frame(shape, float(np.degrees(np.arctan2(look[1], look[0]))), (0.0, 0.0))
    for i in range(len(edges) - 1):
        lo, hi = edges[i], edges[i + 1]
        mid = (x - lo) / max(hi - lo, 1e-3) - 0.5
        period = rng.uniform(30.0, 120.0)
        scallop = 1.0 + rng.uniform(0.1, 0.4) * np.cos(2 * np.pi * az / period + rng.uniform(0, 6.3))
        p = (0.7 + 1.6 * mid * mid) * scallop  # noise rises towards the sub-swath edges
        profile = np.where(sub == i, p, profile)
    nesz = 10.0 ** (se.nesz_db / 10.0)
    noise = rng.gamma(se.looks, 1.0 / se.looks, size=shape).astype(np.float32)
    estimate = 1.0 + se.noise_error * (1.0 + 0.3 * smooth_noise(rng, shape, 50.0))
    return (nesz * profile * (noise - estimate)).astype(np.float32)


def swath_edge(se, look: tuple[float, float], shape: tuple[int, int]) -> np.ndarray:
    """Nodata beyond the swath edge (a line along azimuth), or nothing."""
    if se.nodata_edge is None:
        return np.zeros(shape, bool)
    x = range_coordinate(shape, look)
    return x > se.nodata_edge if se.nodata_far else x < 1.0 - se.nodata_edge
