"""Small dB quick-looks of sigma0 scenes for the UI: read decimated, so any scene size is cheap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.enums import Resampling

from icecrack_assets.raster import atomic_path


def read_decimated_db(path: str | Path, max_size: int = 512) -> np.ndarray:
    """The scene in dB at most ``max_size`` pixels on its long side (NaN where nodata)."""
    with rasterio.open(path) as ds:
        step = max(1, int(np.ceil(max(ds.height, ds.width) / max_size)))
        shape = (max(1, ds.height // step), max(1, ds.width // step))
        arr = ds.read(1, out_shape=shape, resampling=Resampling.average, masked=True).astype(np.float32)
    arr = arr.filled(np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(arr > 0, 10 * np.log10(arr), np.nan)


def to_grey(db: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Stretch dB to 8-bit grey between the 2nd and 98th percentiles (or given limits)."""
    finite = db[np.isfinite(db)]
    if finite.size == 0:
        return np.zeros(db.shape, np.uint8)
    lo = np.percentile(finite, 2) if lo is None else lo
    hi = np.percentile(finite, 98) if hi is None else hi
    grey = np.clip((db - lo) / max(hi - lo, 1e-6), 0, 1) * 255
    return np.where(np.isfinite(db), grey, 0).astype(np.uint8)


def write_quicklook(paths: list[str | Path], png: str | Path, max_size: int = 512) -> Path:
    """Side-by-side dB quick-looks of one or more scenes, sharing the first scene's stretch."""
    images = [read_decimated_db(p, max_size) for p in paths]
    finite = images[0][np.isfinite(images[0])]
    lo, hi = (np.percentile(finite, 2), np.percentile(finite, 98)) if finite.size else (None, None)
    greys = [to_grey(im, lo, hi) for im in images]
    height = max(g.shape[0] for g in greys)
    gap = np.full((height, 4), 255, np.uint8)
    row = []
    for g in greys:
        padded = np.zeros((height, g.shape[1]), np.uint8)
        padded[: g.shape[0]] = g
        row += [padded, gap]
    with atomic_path(png) as tmp:
        Image.fromarray(np.hstack(row[:-1])).save(tmp, format="PNG", optimize=True)
    return Path(png)
