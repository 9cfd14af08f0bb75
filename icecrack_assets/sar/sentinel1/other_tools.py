"""Rasters made by other tools: GCP-only georeferencing, and 8/16-bit or dB values with a declared range.

* Tools such as NERSC's Nansat or GDAL's ``gdal_translate`` of a SAFE write Sentinel-1 crops with GCPs
  and no geotransform. They are warped to the region grid through the GCPs with a thin-plate spline
  (GDAL ``GCP_TPS``), which honours every GCP, on linear intensity.
* Scaled integer products (8-bit quick-looks, 16-bit exports) only mean something with the range they
  were scaled from: DN 0 is nodata and DN d maps to ``lo + d / dmax * (hi - lo)`` in the declared units
  (dB or linear), dmax being 255 or 65535. Without a declared range they are refused, never guessed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.warp import reproject

from icecrack_assets.errors import InputError
from icecrack_assets.regions import Region

INTEGER_MAX = {"uint8": 255, "uint16": 65535}


def parse_value_range(text: str | None, path: Path) -> tuple[float, float] | None:
    """``"-30,0"`` (tag or option) as (lo, hi); None when not declared."""
    if text is None or str(text).strip() == "":
        return None
    try:
        lo, hi = (float(v) for v in str(text).replace(" ", ",").strip(",").split(",") if v != "")
    except ValueError:
        raise InputError(path, f"value range {text!r} is not 'LO,HI'") from None
    if not hi > lo:
        raise InputError(path, f"value range {text!r}: HI must be greater than LO")
    return lo, hi


def descale(arr: np.ndarray, dtype: str, value_range: tuple[float, float] | None, path: Path) -> np.ndarray:
    """Scaled integers to physical values (float32, DN 0 -> NaN); floats pass through unchanged."""
    kind = np.dtype(dtype).kind
    if kind == "f":
        return arr.astype(np.float32)
    if dtype not in INTEGER_MAX:
        raise InputError(
            path, f"{dtype} pixels are not a known scaled product; expected float, uint8 or uint16"
        )
    if value_range is None:
        raise InputError(
            path,
            f"{dtype} pixels are scaled values; declare the range they were scaled from "
            "(--value-range LO,HI with --units, or a VALUE_RANGE tag)",
        )
    lo, hi = value_range
    out = lo + arr.astype(np.float64) / INTEGER_MAX[dtype] * (hi - lo)
    out[arr == 0] = np.nan
    return out.astype(np.float32)


def has_gcps_only(ds: rasterio.io.DatasetReader) -> bool:
    """No CRS/geotransform, but GCPs with a CRS: georeferenced the way SAFE measurement TIFFs are."""
    gcps, gcp_crs = ds.gcps
    return ds.crs is None and len(gcps) >= 3 and gcp_crs is not None


def is_gcp_only(path: Path) -> bool:
    """A raster file georeferenced by GCPs only (False for anything unreadable: others report that)."""
    try:
        with warnings.catch_warnings(), rasterio.open(path) as ds:
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return has_gcps_only(ds)
    except (RasterioIOError, RasterioError):
        return False


def georeferencing_problem(path: Path) -> str | None:
    """Why a raster without a CRS cannot be placed (None if it has a CRS, usable GCPs, or is unreadable)."""
    try:
        with warnings.catch_warnings(), rasterio.open(path) as ds:
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            if ds.crs is not None:
                return None
            gcps, gcp_crs = ds.gcps
    except (RasterioIOError, RasterioError):
        return None
    if not gcps:
        return "has no CRS, geotransform or GCPs: it is not georeferenced"
    if gcp_crs is None:
        return f"has {len(gcps)} GCPs but no CRS for them"
    if len(gcps) < 3:
        return f"has only {len(gcps)} GCPs; at least 3 are needed to warp it"
    return None


def warp_gcps_to_region(ds: rasterio.io.DatasetReader, linear: np.ndarray, region: Region) -> np.ndarray:
    """Warp a GCP-georeferenced image (linear intensity, NaN = nodata) onto the region grid."""
    gcps, gcp_crs = ds.gcps
    out = np.full((region.height, region.width), np.nan, dtype=np.float32)
    try:
        reproject(
            linear.astype(np.float32),
            out,
            gcps=gcps,
            src_crs=gcp_crs,
            src_nodata=np.nan,
            dst_transform=region.transform,
            dst_crs=region.crs,
            dst_nodata=np.nan,
            resampling=Resampling.bilinear,
            SRC_METHOD="GCP_TPS",
        )
    except (RasterioError, RasterioIOError, ValueError) as exc:
        raise InputError(
            ds.name, f"cannot warp through its GCPs ({str(exc).splitlines()[0][:100]})"
        ) from None
    return out
