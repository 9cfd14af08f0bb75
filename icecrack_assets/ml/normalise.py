"""Input normalisation: linear sigma0 to dB, clipped to a fixed range and scaled to [-1, 1].

A fixed range (not per-scene statistics) keeps a pixel's input identical whichever tile, window
or scene it is read from, which tiled inference and seam-free blending rely on.
"""

from __future__ import annotations

import numpy as np

DEFAULT_NORMALISATION = {"kind": "db", "db_min": -30.0, "db_max": 5.0, "fill": 0.0}


def normalise(intensity: np.ndarray, norm: dict | None = None) -> np.ndarray:
    """Map linear intensity (NaN = nodata) to float32 in [-1, 1]; nodata and non-positive get ``fill``."""
    n = {**DEFAULT_NORMALISATION, **(norm or {})}
    x = np.asarray(intensity, dtype=np.float32)
    ok = np.isfinite(x) & (x > 0)
    db = np.full(x.shape, n["db_min"], dtype=np.float32)
    np.log10(x, out=db, where=ok)
    db = np.where(ok, 10.0 * db, n["db_min"])
    lo, hi = float(n["db_min"]), float(n["db_max"])
    out = (np.clip(db, lo, hi) - lo) / (hi - lo) * 2.0 - 1.0
    out[~np.isfinite(x)] = n["fill"]
    return out.astype(np.float32, copy=False)
