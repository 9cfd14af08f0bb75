"""Thermal noise of Sentinel-1 products, in both annotation formats.

* IPF before 2.9 (2014 - early 2018): one ``<noiseVectorList>`` of range vectors (``noiseLut``).
* IPF 2.9 and later: ``<noiseRangeVectorList>`` (``noiseRangeLut``) times
  ``<noiseAzimuthVectorList>``: per swath block (first/last line and sample), a 1-D azimuth profile.

The noise power at (line, pixel) is the range LUT interpolated like the calibration LUTs, times the
azimuth factor of the block containing the pixel (1 where no block applies, and in the old format).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lxml import etree

from icecrack_assets.sar.sentinel1.calibration import LutVectors, interpolate_lut, parse_vectors


class UnknownNoiseFormat(ValueError):
    """The noise XML has neither the old nor the new vector lists."""


@dataclass(frozen=True)
class AzimuthBlock:
    """One azimuth noise profile: applies to lines/samples in the inclusive ranges given."""

    swath: str
    first_line: int
    last_line: int
    first_sample: int
    last_sample: int
    lines: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class NoiseModel:
    format: str  # "range-only" (IPF < 2.9) | "range+azimuth"
    range: LutVectors
    azimuth: tuple[AzimuthBlock, ...] = ()


def parse_noise(root: etree._Element) -> NoiseModel:
    """Read either noise format; raises :class:`UnknownNoiseFormat` for anything else."""
    if root.find("noiseRangeVectorList") is not None:
        rng = parse_vectors(root, "noiseRangeVector", "noiseRangeLut")
        blocks = []
        for vec in root.iter("noiseAzimuthVector"):
            lines = np.array((vec.findtext("line") or "").split(), dtype=np.float64)
            values = np.array((vec.findtext("noiseAzimuthLut") or "").split(), dtype=np.float64)
            if lines.size == 0 or lines.size != values.size:
                raise UnknownNoiseFormat("noiseAzimuthVector line and LUT counts differ")
            blocks.append(
                AzimuthBlock(
                    swath=(vec.findtext("swath") or "").strip(),
                    first_line=int(vec.findtext("firstAzimuthLine")),
                    last_line=int(vec.findtext("lastAzimuthLine")),
                    first_sample=int(vec.findtext("firstRangeSample")),
                    last_sample=int(vec.findtext("lastRangeSample")),
                    lines=lines,
                    values=values,
                )
            )
        return NoiseModel("range+azimuth", rng, tuple(blocks))
    if root.find("noiseVectorList") is not None:
        return NoiseModel("range-only", parse_vectors(root, "noiseVector", "noiseLut"))
    raise UnknownNoiseFormat("noise XML has neither noiseVectorList nor noiseRangeVectorList")


def azimuth_factor(blocks: tuple[AzimuthBlock, ...], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The azimuth noise scaling on ``rows x cols`` (1 where no block covers a pixel)."""
    rows = np.asarray(rows, dtype=np.float64)
    cols = np.asarray(cols, dtype=np.float64)
    out = np.ones((rows.size, cols.size), dtype=np.float64)
    for b in blocks:
        rsel = (rows >= b.first_line) & (rows <= b.last_line)
        csel = (cols >= b.first_sample) & (cols <= b.last_sample)
        if not rsel.any() or not csel.any():
            continue
        profile = np.interp(rows[rsel], b.lines, b.values)
        out[np.ix_(rsel, csel)] = profile[:, None]
    return out


def noise_power(model: NoiseModel, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Thermal noise power (in |DN|^2 units) on the grid ``rows x cols``."""
    power = interpolate_lut(model.range, rows, cols)
    if model.azimuth:
        power *= azimuth_factor(model.azimuth, rows, cols)
    return power
