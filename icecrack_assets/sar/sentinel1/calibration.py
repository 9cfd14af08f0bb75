"""Radiometric calibration of GRD pixels with the product's calibration LUTs.

ESA annotates the calibration constant A (sigmaNought, betaNought, gamma) on a sparse grid: one
vector every few hundred lines, each with its own list of pixel columns. The value at (line, pixel)
is bilinear between the vectors: first along each vector's pixel axis, then linearly in line between
the two vectors that bracket the line (held constant beyond the first and last vector). Calibrated
intensity is ``sigma0 = |DN|^2 / A^2`` (thermal noise, when removed, is subtracted from |DN|^2 first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lxml import etree

LUT_NAMES = ("sigmaNought", "betaNought", "gamma", "dn")


@dataclass(frozen=True)
class LutVectors:
    """Sparse LUT: ``values[i]`` sampled at columns ``pixels[i]`` on image line ``lines[i]``."""

    lines: np.ndarray
    pixels: tuple[np.ndarray, ...]
    values: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if len(self.lines) == 0:
            raise ValueError("LUT has no vectors")
        if np.any(np.diff(self.lines) <= 0):
            raise ValueError("LUT vector lines are not increasing")
        for px, val in zip(self.pixels, self.values):
            if px.shape != val.shape or px.size == 0:
                raise ValueError("LUT vector pixel and value counts differ")


def _floats(text: str | None) -> np.ndarray:
    return np.array((text or "").split(), dtype=np.float64)


def parse_vectors(root: etree._Element, vector_tag: str, value_tag: str) -> LutVectors:
    """Collect ``<vector_tag>`` elements (with ``line``, ``pixel`` and ``value_tag`` children)."""
    lines, pixels, values = [], [], []
    for vec in root.iter(vector_tag):
        lines.append(int(vec.findtext("line")))
        pixels.append(_floats(vec.findtext("pixel")))
        values.append(_floats(vec.findtext(value_tag)))
    return LutVectors(np.array(lines, dtype=np.int64), tuple(pixels), tuple(values))


def parse_calibration(root: etree._Element, lut: str = "sigmaNought") -> LutVectors:
    """The named calibration LUT (sigmaNought by default) from a calibration XML."""
    if lut not in LUT_NAMES:
        raise ValueError(f"unknown calibration LUT {lut!r}")
    return parse_vectors(root, "calibrationVector", lut)


def interpolate_lut(lut: LutVectors, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """LUT values on the grid ``rows x cols`` (image line and pixel indices), float64."""
    rows = np.asarray(rows, dtype=np.float64)
    cols = np.asarray(cols, dtype=np.float64)
    n = len(lut.lines)
    j = np.clip(np.searchsorted(lut.lines, rows, side="right") - 1, 0, max(n - 2, 0))
    if n == 1:
        along = np.interp(cols, lut.pixels[0], lut.values[0])
        return np.broadcast_to(along, (rows.size, cols.size)).copy()
    l0 = lut.lines[j].astype(np.float64)
    l1 = lut.lines[j + 1].astype(np.float64)
    t = np.clip((rows - l0) / (l1 - l0), 0.0, 1.0)
    needed = np.unique(np.concatenate([j, j + 1]))
    per_vector = {k: np.interp(cols, lut.pixels[k], lut.values[k]) for k in needed}
    out = np.empty((rows.size, cols.size), dtype=np.float64)
    for k in np.unique(j):
        sel = j == k
        tt = t[sel][:, None]
        out[sel] = (1.0 - tt) * per_vector[k][None, :] + tt * per_vector[k + 1][None, :]
    return out


def calibrate(dn: np.ndarray, a: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
    """``(|DN|^2 - noise) / A^2`` as float32; negative results (noise-dominated) clip to 0."""
    power = np.abs(dn.astype(np.float64)) ** 2
    if noise is not None:
        power = np.maximum(power - noise, 0.0)
    return (power / (a * a)).astype(np.float32)
