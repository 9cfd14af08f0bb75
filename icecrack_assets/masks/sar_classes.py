"""Ice / rock / open water from a season of despeckled Sentinel-1 scenes, when no outline exists.

The rule works on 4 x 4-pixel cells (80 m on the 20 m Greenland grid), so speckle and single
crevasses do not decide it:

* **open water**: the season's median backscatter, smoothed over 3 x 3 cells, is below -15 dB.
  Calm and wind-roughened water (-28..-18 dB) is darker than dry or bare ice (-12..-5 dB) on most
  days; the median keeps one windy or one wet day from deciding.
* **rock**: slopes face the radar on one pass and away from it on the other, so their backscatter
  flips between ascending and descending looks. The RMS of the high-passed difference
  (median ascending - median descending) over 11 x 11 cells above 1.5 dB is rock, shrunk back by
  the 5 cells the window spreads it. Ice is nearly isotropic at this scale (0.3-0.6 dB on
  simulated seasons; crevasse fields 0.5-0.8 dB, their wall lighting averages out in a cell); rock
  is 1.5-2.2 dB. Needs both pass directions: with one, rock is not classified and the result says so.
* components of a class smaller than ``MIN_CELLS`` cells (0.4 km² at 20 m) are absorbed by their
  surroundings, so nunataks smaller than that stay ice.

Limits, measured on simulated seasons (docs/real-data.md "Ice mask"): sea ice and mélange are not
separated from glacier ice; a season that is wet on every acquisition (Greenland late July) can
drop wet snow below -15 dB and be called water; brightness alone does not separate rock from
crevasse fields, which is why the look-direction flip is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

CELL = 4  # pixels per cell side
WATER_DB = -15.0
ROCK_FLIP_DB = 1.5
MIN_CELLS = 64
FLIP_WINDOW = 11  # cells
ERODE_CELLS = 5

ICE, ROCK, WATER, UNKNOWN = 1, 2, 3, 0


@dataclass(frozen=True, eq=False)
class SurfaceClasses:
    """Per-pixel class on the scenes' grid (``ICE``, ``ROCK``, ``WATER``, ``UNKNOWN`` = no data) and the rule used."""

    classes: np.ndarray  # uint8, full grid
    rock_classified: bool
    rule: str

    @property
    def ice(self) -> np.ndarray:
        ice: np.ndarray = self.classes == ICE
        return ice


def cells_db(intensity: np.ndarray) -> np.ndarray:
    """Mean linear intensity over CELL x CELL blocks (edge blocks partial), in dB; NaN where no data."""
    h, w = intensity.shape
    gh, gw = -(-h // CELL), -(-w // CELL)
    pad = np.full((gh * CELL, gw * CELL), np.nan, np.float64)
    pad[:h, :w] = np.where(np.asarray(intensity) > 0, intensity, np.nan)
    blocks = pad.reshape(gh, CELL, gw, CELL)
    ok = np.isfinite(blocks)
    count = ok.sum(axis=(1, 3))
    total = np.where(ok, blocks, 0.0).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, 10.0 * np.log10(total / np.maximum(count, 1)), np.nan)


def _nan_mean_filter(a: np.ndarray, size: int) -> np.ndarray:
    ok = np.isfinite(a)
    num = ndimage.uniform_filter(np.where(ok, a, 0.0), size, mode="nearest")
    den = ndimage.uniform_filter(ok.astype(np.float64), size, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-9, num / den, np.nan)


def _nan_median(stack: list[np.ndarray]) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells stay NaN
        median: np.ndarray = np.nanmedian(np.stack(stack), axis=0)
        return median


def _absorb_small(classes: np.ndarray, min_cells: int) -> np.ndarray:
    """Relabel connected components smaller than ``min_cells`` with the majority class around them."""
    out: np.ndarray = classes.copy()
    h, w = out.shape
    for cls in (ROCK, WATER, ICE):
        labels, n = ndimage.label(out == cls)
        if n == 0:
            continue
        sizes = np.bincount(labels.ravel())
        for lab, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is None or sizes[lab] >= min_cells:
                continue
            rs = slice(max(box[0].start - 1, 0), min(box[0].stop + 1, h))
            cs = slice(max(box[1].start - 1, 0), min(box[1].stop + 1, w))
            comp = labels[rs, cs] == lab
            ring = ndimage.binary_dilation(comp) & ~comp
            around = out[rs, cs][ring]
            around = around[(around != cls) & (around != UNKNOWN)]
            if around.size:
                out[rs, cs][comp] = np.bincount(around).argmax()
    return out


def classify_surface(scenes: list[tuple[np.ndarray, str]]) -> SurfaceClasses:
    """Classify a season: ``scenes`` are (despeckled linear intensity, pass direction) on one grid.

    Pass direction is ``"ascending"`` / ``"descending"`` (anything else counts for the median only).
    """
    if not scenes:
        raise ValueError("classify_surface needs at least one scene")
    return classify_cells([(cells_db(img), p) for img, p in scenes], scenes[0][0].shape)


def classify_cells(season: list[tuple[np.ndarray, str]], shape: tuple[int, int]) -> SurfaceClasses:
    """:func:`classify_surface` on scenes already reduced by :func:`cells_db`, so a season of full-size
    scenes never has to be in memory at once; ``shape`` is the full grid's."""
    if not season:
        raise ValueError("classify_surface needs at least one scene")
    cells = [(c, str(p).lower()) for c, p in season]
    median = _nan_median([c for c, _ in cells])
    water = _nan_mean_filter(median, 3) < WATER_DB
    classes = np.where(np.isfinite(median), ICE, UNKNOWN).astype(np.uint8)
    asc = [c for c, p in cells if p.startswith("asc")]
    desc = [c for c, p in cells if p.startswith("desc")]
    rock_classified = bool(asc and desc)
    if rock_classified:
        diff = _nan_median(asc) - _nan_median(desc)
        high = diff - _nan_mean_filter(diff, 9)
        flip = np.sqrt(_nan_mean_filter(high**2, FLIP_WINDOW))
        rock = flip > ROCK_FLIP_DB
        # the RMS window spreads a rock edge outwards by half its width: shrink it back
        rock = ndimage.binary_erosion(rock, np.ones((3, 3), bool), iterations=ERODE_CELLS, border_value=1)
        classes[rock & (classes == ICE)] = ROCK
    classes[water & (classes != UNKNOWN)] = WATER
    classes = _absorb_small(classes, MIN_CELLS)
    full = np.repeat(np.repeat(classes, CELL, axis=0), CELL, axis=1)[: shape[0], : shape[1]]
    rule = (
        f"SAR season rule on {CELL}x{CELL}-px cells of {len(cells)} scene(s): water = 3x3-cell mean of "
        f"median dB < {WATER_DB:g} dB; "
        + (
            f"rock = {FLIP_WINDOW}x{FLIP_WINDOW}-cell RMS of high-passed (ascending - descending) dB > "
            f"{ROCK_FLIP_DB:g} dB, eroded {ERODE_CELLS} cells"
            if rock_classified
            else "rock not classified (needs ascending and descending scenes)"
        )
    )
    return SurfaceClasses(full, rock_classified, rule)
