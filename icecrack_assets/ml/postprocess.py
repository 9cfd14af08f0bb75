"""Mask clean-up that only ever *removes* crack pixels: dropping connected components below a size.

Residual speckle and wet-snow texture give isolated specks of a few pixels above the threshold;
a crevasse is a line tens of pixels long. The minimum size is tuned on validation together with
the threshold and stored in the bundle, so maps, evaluation and training scores agree.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

EIGHT = np.ones((3, 3), bool)
# probability maps are stored in steps of 1/4096: full float32 mantissas are noise that DEFLATE
# cannot pack (a 4-Mpix map's COG was larger than the raw array); masks come from the unrounded
# values, so only a reader re-thresholding the stored map within 1/8192 of a threshold differs
PROBABILITY_STEP = 2.0**-12


def stored_probability(prob: np.ndarray) -> np.ndarray:
    """``prob`` rounded to ``PROBABILITY_STEP`` as float32 for writing (NaN stays NaN)."""
    stored: np.ndarray = (np.round(prob / PROBABILITY_STEP) * PROBABILITY_STEP).astype(np.float32)
    return stored


def remove_small_components(mask: np.ndarray, min_size: int, keep_edge: bool = False) -> np.ndarray:
    """``mask`` without 8-connected components of fewer than ``min_size`` pixels.

    ``keep_edge`` keeps components touching the array border: a window of a larger map cannot
    know their full size, so keeping them is the conservative choice (it never removes a piece
    of a long crack that happens to be cut by the window).
    """
    mask = np.asarray(mask, bool)
    if min_size <= 1 or not mask.any():
        unchanged: np.ndarray = mask.copy()
        return unchanged
    lab, n = ndimage.label(mask, structure=EIGHT)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    small = sizes < min_size
    small[0] = False
    if keep_edge:
        edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
        small[edge] = False
    kept: np.ndarray = mask & ~small[lab]
    return kept


def crack_mask(prob: np.ndarray, threshold: float, min_size: int = 0, keep_edge: bool = False) -> np.ndarray:
    """Boolean crack mask: ``prob >= threshold`` (NaN is never crack) minus components below ``min_size``."""
    mask = np.isfinite(prob) & (np.nan_to_num(prob, nan=0.0) >= threshold)
    return remove_small_components(mask, min_size, keep_edge)
