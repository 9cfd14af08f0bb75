"""Tiny georeferenced rasters made by the test that needs them (the torchgeo way)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine


def write_tiny_raster(
    path: Path,
    array: np.ndarray,
    epsg: int = 3413,
    origin: tuple[float, float] = (-200000.0, -2260000.0),
    pixel: float = 20.0,
    nodata: float | None = None,
    tags: dict[str, str] | None = None,
) -> Path:
    """A small single-band GeoTIFF in a polar CRS, the torchgeo way: made by the test that needs it."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    profile = dict(
        driver="GTiff",
        height=array.shape[1],
        width=array.shape[2],
        count=array.shape[0],
        dtype=str(array.dtype),
        crs=f"EPSG:{epsg}",
        nodata=nodata,
        transform=Affine(pixel, 0, origin[0], 0, -pixel, origin[1]),
    )
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(array)
        if tags:
            ds.update_tags(**tags)
    return path
