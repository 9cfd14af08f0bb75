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


def write_gcp_only_raster(
    path: Path,
    array: np.ndarray,
    lon0: float = -49.0,
    lat0: float = 69.2,
    dlon: float = 1e-3,
    dlat: float = 4e-4,
) -> Path:
    """``array`` placed only by four corner GCPs in EPSG:4326 (``dlon``, ``dlat`` degrees per column
    and row: about 40 and 44 m at the default place), no CRS or transform on the grid: how Nansat or
    ``gdal_translate`` of a SAFE write a calibrated GRD in radar geometry."""
    import warnings

    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS
    from rasterio.errors import NotGeoreferencedWarning

    h, w = np.asarray(array).shape
    profile = dict(driver="GTiff", width=w, height=h, count=1, dtype="float32", nodata=np.nan)
    with warnings.catch_warnings():  # rasterio warns while the grid has no GCPs yet
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(np.asarray(array, np.float32), 1)
            corners = [(0, 0), (0, w), (h, 0), (h, w)]
            points = [GroundControlPoint(r, c, lon0 + c * dlon, lat0 - r * dlat) for r, c in corners]
            ds.gcps = (points, CRS.from_epsg(4326))
    return path


def write_gcp_only_mirror(src: Path, dst: Path, step: int = 20) -> Path:
    """``src`` mirrored left-right (a radar image's range direction) and placed only by GCPs in
    lon/lat, as Nansat or gdal_translate of a SAFE write it: no CRS, no geotransform."""
    import warnings

    from pyproj import Transformer
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS
    from rasterio.errors import NotGeoreferencedWarning

    with rasterio.open(src) as ds:
        arr, t, crs, (h, w) = ds.read(1)[:, ::-1], ds.transform, ds.crs, ds.shape
        tags = ds.tags()
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    gcps = []
    for row in [*range(0, h, step), h]:  # a grid of GCPs, edges included
        for col in [*range(0, w, step), w]:
            lon, lat = to_ll.transform(*(t @ (w - col, row)))  # column col here is w - col there
            gcps.append(GroundControlPoint(row=row, col=col, x=lon, y=lat))
    profile = dict(driver="GTiff", height=h, width=w, count=1, dtype="float32", nodata=float("nan"))
    with warnings.catch_warnings():  # rasterio warns while the grid has no GCPs yet
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(dst, "w", **profile) as out:
            out.write(arr.astype(np.float32), 1)
            out.gcps = (gcps, CRS.from_epsg(4326))
            out.update_tags(**tags)
    return dst


def write_plain_raster(path: Path, array: np.ndarray) -> Path:
    """``array`` as a GeoTIFF with no georeferencing at all (no CRS, transform or GCPs): what an
    image library or a crop exported from a viewer writes."""
    import warnings

    from rasterio.errors import NotGeoreferencedWarning

    h, w = np.asarray(array).shape
    profile = dict(driver="GTiff", width=w, height=h, count=1, dtype="float32", nodata=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(np.asarray(array, np.float32), 1)
    return path


def gcp_points(ds: rasterio.io.DatasetReader) -> list[tuple[float, float, float, float]]:
    """``ds``'s GCPs as comparable tuples (GroundControlPoint has no equality)."""
    return [(g.row, g.col, g.x, g.y) for g in ds.gcps[0]]
