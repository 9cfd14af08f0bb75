"""Shared fixtures: the real third-party data folder, and tiny georeferenced rasters."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ICECRACK_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: present in CI; a user's clone may not have it, so tests skip clearly."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide the shared data folder at {SHARED_DATA}")
        pytest.skip(f"real third-party data not found at {SHARED_DATA} (set ICECRACK_SHARED_DATA)")
    return SHARED_DATA


def write_tiny_raster(path: Path, array: np.ndarray, epsg: int = 3413,
                      origin: tuple[float, float] = (-200000.0, -2260000.0), pixel: float = 20.0,
                      nodata: float | None = None, tags: dict[str, str] | None = None) -> Path:
    """A small single-band GeoTIFF in a polar CRS, the torchgeo way: made by the test that needs it."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    profile = dict(driver="GTiff", height=array.shape[1], width=array.shape[2], count=array.shape[0],
                   dtype=str(array.dtype), crs=f"EPSG:{epsg}", nodata=nodata,
                   transform=Affine(pixel, 0, origin[0], 0, -pixel, origin[1]))
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(array)
        if tags:
            ds.update_tags(**tags)
    return path


@pytest.fixture
def tiny_raster(tmp_path: Path):
    """Factory: ``tiny_raster(array, name="x.tif", **kw)`` writes a GeoTIFF under tmp_path."""
    def make(array: np.ndarray, name: str = "x.tif", **kw) -> Path:
        return write_tiny_raster(tmp_path / name, array, **kw)
    return make
