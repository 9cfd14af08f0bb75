"""Does thermal-noise removal leave a flat image? A check on real noise and calibration vectors.

EW GRDM HV over ice is often within a few dB of the noise floor, and the floor differs between the
five sub-swaths, so an uncorrected image shows steps at the sub-swath seams. Here a uniform target of
known sigma0 is imaged through a product's real LUTs (``|DN|^2 = (sigma0 A^2 + N) x speckle``, with
gamma speckle of the product's looks), then calibrated with and without noise removal exactly as
ingest does. The range profiles (mean over lines) and the step at each seam say how flat it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from icecrack_assets.sar.sentinel1.calibration import LutVectors, calibrate, interpolate_lut
from icecrack_assets.sar.sentinel1.noise import NoiseModel, noise_power


@dataclass(frozen=True)
class Flatness:
    """Range profiles (dB, mean over the sampled lines) and seam steps of a simulated uniform target."""

    columns: np.ndarray
    truth_db: float
    before_db: np.ndarray  # calibrated, noise kept
    after_db: np.ndarray  # calibrated, noise removed
    nesz_db: np.ndarray  # noise-equivalent sigma0 (mean over lines)
    seams: tuple[int, ...]  # first sample of each sub-swath after the first
    steps_before_db: tuple[float, ...]
    steps_after_db: tuple[float, ...]
    swath_bias_after_db: tuple[float, ...]  # mean after removal minus truth, per sub-swath


def seams_of(noise: NoiseModel) -> tuple[int, ...]:
    """Sub-swath boundaries (first range sample) from the longest azimuth block of each swath."""
    best: dict[str, tuple[int, int]] = {}
    for b in noise.azimuth:
        span = b.last_line - b.first_line
        if b.swath not in best or span > best[b.swath][0]:
            best[b.swath] = (span, b.first_sample)
    starts = sorted(first for _, first in best.values())
    return tuple(s for s in starts if s > 0)


def _db(x: np.ndarray) -> np.ndarray:
    return np.asarray(10.0 * np.log10(np.maximum(x, 1e-12)), dtype=np.float64)


def simulate_flatness(
    sigma_lut: LutVectors,
    noise: NoiseModel,
    n_lines: int,
    n_samples: int,
    sigma0: float,
    looks: float,
    line_step: int = 25,
    sample_step: int = 1,
    seed: int = 0,
    margin: int = 12,
) -> Flatness:
    """Image a uniform ``sigma0`` through the LUTs and measure flatness before/after noise removal."""
    rng = np.random.default_rng(seed)
    rows = np.arange(0, n_lines, line_step)
    cols = np.arange(0, n_samples, sample_step)
    a = interpolate_lut(sigma_lut, rows, cols)
    n = noise_power(noise, rows, cols)
    speckle = rng.gamma(looks, 1.0 / looks, size=a.shape)
    power = (sigma0 * a * a + n) * speckle
    dn = np.sqrt(power)
    before = calibrate(dn, a).astype(np.float64).mean(axis=0)
    after = calibrate(dn, a, n).astype(np.float64).mean(axis=0)
    nesz = (n / (a * a)).mean(axis=0)
    seams = seams_of(noise)
    edges = (0, *seams, n_samples)

    def side(profile: np.ndarray, lo: int, hi: int) -> float:
        sel = (cols >= lo) & (cols < hi)
        return float(_db(profile[sel].mean()))

    steps_b, steps_a = [], []
    for s in seams:
        steps_b.append(side(before, s + margin, s + 5 * margin) - side(before, s - 5 * margin, s - margin))
        steps_a.append(side(after, s + margin, s + 5 * margin) - side(after, s - 5 * margin, s - margin))
    bias = tuple(
        side(after, lo + margin, hi - margin) - float(_db(np.array(sigma0)))
        for lo, hi in zip(edges[:-1], edges[1:])
    )
    return Flatness(
        columns=cols,
        truth_db=float(_db(np.array(sigma0))),
        before_db=_db(before),
        after_db=_db(after),
        nesz_db=_db(nesz),
        seams=seams,
        steps_before_db=tuple(steps_b),
        steps_after_db=tuple(steps_a),
        swath_bias_after_db=bias,
    )
