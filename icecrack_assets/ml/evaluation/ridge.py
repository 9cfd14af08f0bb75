"""Ridge-filter baseline: Sato line response (bright and dark lines) with a threshold tuned on validation.

The honest point of comparison for a U-Net on thin structures: no learning, one tuned number.
"""

from __future__ import annotations

import numpy as np
from skimage.filters import sato

from icecrack_assets.ml.metrics import best_threshold
from icecrack_assets.ml.normalise import normalise
from icecrack_assets.raster import MASK_NODATA as NODATA


def ridge_response(intensity: np.ndarray, sigmas: tuple[float, ...] = (1.0, 2.0)) -> np.ndarray:
    """Max of bright- and dark-ridge Sato responses on the dB-normalised image; NaN at nodata."""
    x = normalise(intensity)
    bright = sato(x, sigmas=sigmas, black_ridges=False, mode="reflect")
    dark = sato(x, sigmas=sigmas, black_ridges=True, mode="reflect")
    r = np.maximum(bright, dark).astype(np.float32)
    r[~np.isfinite(intensity)] = np.nan
    return r


def mosaic(maps: list[np.ndarray], fill) -> np.ndarray:
    """Side-by-side mosaic with a 1-px gutter of ``fill`` so tolerance never crosses tiles."""
    h = max(m.shape[0] for m in maps)
    w = sum(m.shape[1] + 1 for m in maps)
    out = np.full((h, w), fill, dtype=maps[0].dtype)
    c = 0
    for m in maps:
        out[: m.shape[0], c : c + m.shape[1]] = m
        c += m.shape[1] + 1
    return out


def tune_ridge(
    responses: list[np.ndarray], truths: list[np.ndarray], tolerance: int = 0
) -> tuple[float, float]:
    """Threshold on the ridge response maximising validation F1; candidates are response quantiles."""
    r = mosaic(responses, np.nan)
    t = mosaic(
        [np.where(np.isfinite(x), y, NODATA).astype(np.uint8) for x, y in zip(responses, truths)], NODATA
    )
    vals = r[np.isfinite(r) & (t != NODATA)]
    if vals.size == 0:
        return float("inf"), 0.0
    qs = np.unique(np.quantile(vals, np.concatenate([np.linspace(0.80, 0.99, 20), [0.993, 0.996, 0.998]])))
    return best_threshold(r, t, tolerance, candidates=qs)
