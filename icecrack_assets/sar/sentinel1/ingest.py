"""Bring any scene onto a region's grid: the one entry point for simulator, GeoTIFF and SAFE input.

Everything downstream (despeckling, crack detection) sees the same thing: a float32 linear sigma0
COG on the region's polar stereographic grid, NaN where there is no data, tagged with the scene id,
polarisation, equivalent number of looks and processing history. Resampling happens on intensity
(never on dB), because averaging dB values biases the mean low.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window, from_bounds

from icecrack_assets.errors import InputError
from icecrack_assets.raster import MASK_NODATA, open_single_band, read_window_nan, write_raster_atomic
from icecrack_assets.regions import Region
from icecrack_assets.sar.sentinel1.other_tools import (
    INTEGER_MAX,
    descale,
    georeferencing_problem,
    is_gcp_only,
    parse_value_range,
    warp_gcps_to_region,
)
from icecrack_assets.sar.sentinel1.safe_ingest import ingest_safe
from icecrack_assets.sar.sentinel1.scene_file import IngestResult, history_of, region_profile, write_scene
from icecrack_assets.sar.sentinel1.terrain import Dem

DB_UNITS = {"db", "decibel", "decibels", "db_sigma0", "sigma0_db"}
LINEAR_UNITS = {"linear", "lin", "power", "intensity", "sigma0", "linear_sigma0", "sigma0_linear"}


def is_safe_product(src: Path) -> bool:
    """A SAFE product: a ``.SAFE`` folder, a folder holding ``manifest.safe``, or a ``.zip``."""
    return src.is_dir() or src.suffix.lower() == ".zip"


def normalise_units(units: str | None, path: Path) -> str | None:
    """``"linear"`` or ``"db"`` from a user's or a tag's spelling; None when not declared."""
    if units is None or str(units).strip() == "":
        return None
    u = str(units).strip().lower()
    if u in DB_UNITS:
        return "db"
    if u in LINEAR_UNITS:
        return "linear"
    raise InputError(path, f"unknown units {units!r}; use 'linear' or 'db'")


def _on_region_grid(ds: rasterio.io.DatasetReader, region: Region) -> bool:
    return (
        ds.crs is not None
        and ds.crs == rasterio.crs.CRS.from_user_input(region.crs)
        and ds.width == region.width
        and ds.height == region.height
        and ds.transform.almost_equals(region.transform, precision=1e-6)
    )


def _source_window(ds: rasterio.io.DatasetReader, region: Region, margin: int = 2) -> Window | None:
    """The part of the source that covers the region AOI (plus a margin for bilinear), or None."""
    try:
        left, bottom, right, top = transform_bounds(region.crs, ds.crs, *region.bounds, densify_pts=51)
    except Exception:
        return None
    b = ds.bounds
    if right <= b.left or left >= b.right or top <= b.bottom or bottom >= b.top:
        return None
    win = from_bounds(left, bottom, right, top, transform=ds.transform)
    col0 = max(int(np.floor(win.col_off)) - margin, 0)
    row0 = max(int(np.floor(win.row_off)) - margin, 0)
    col1 = min(int(np.ceil(win.col_off + win.width)) + margin, ds.width)
    row1 = min(int(np.ceil(win.row_off + win.height)) + margin, ds.height)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def _to_linear(arr: np.ndarray, units: str | None, path: Path) -> np.ndarray:
    if units == "db":
        with np.errstate(over="ignore"):
            return (10.0 ** (arr / 10.0)).astype(np.float32)
    finite = arr[np.isfinite(arr)]
    if finite.size and (finite < 0).mean() > 0.01:
        raise InputError(
            path,
            f"{(finite < 0).mean():.0%} of pixels are negative, so this is not linear "
            "sigma0; if it is in dB, say so (--units db or a UNITS=dB tag)",
        )
    return arr


def ingest_to_region(
    src: str | Path,
    region: Region,
    dst: str | Path,
    polarisation: str | None = None,
    units: str | None = None,
    dem: Dem | str | Path | None = None,
    value_range: str | tuple[float, float] | None = None,
) -> IngestResult:
    """Write ``src`` (GeoTIFF or SAFE product) as a linear sigma0 COG on ``region``'s grid at ``dst``.

    ``dem`` (a GeoTIFF in any CRS, or a :class:`Dem` with its geoid offset) terrain-corrects SAFE
    input; GeoTIFFs from other tools are already geocoded, so a DEM with one is refused.
    ``value_range`` ("LO,HI" in ``units``) declares what the DNs of an 8/16-bit product were scaled from.
    Raises :class:`InputError` (and writes nothing) on any bad input.
    """
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise InputError(src, "file does not exist")
    if is_safe_product(src):
        return ingest_safe(src, region, dst, polarisation=polarisation, dem=Dem.of(dem))
    if dem is not None:
        raise InputError(
            src, "a DEM applies to SAFE products only; a GeoTIFF is already geocoded by its tool"
        )
    if isinstance(value_range, tuple):
        value_range = f"{value_range[0]},{value_range[1]}"
    return _ingest_geotiff(src, region, dst, polarisation, units, value_range)


def _ingest_geotiff(
    src: Path,
    region: Region,
    dst: Path,
    polarisation: str | None,
    units: str | None,
    value_range: str | None = None,
) -> IngestResult:
    if src.is_file() and is_gcp_only(src):
        return _ingest_gcp_geotiff(src, region, dst, polarisation, units, value_range)
    problem = georeferencing_problem(src) if src.is_file() else None
    if problem:
        raise InputError(src, problem)
    with open_single_band(src) as ds:
        tags = ds.tags()
        declared = normalise_units(units, src) or normalise_units(tags.get("UNITS"), src)
        scale = parse_value_range(value_range or tags.get("VALUE_RANGE"), src)
        dtype = ds.dtypes[0]
        if _on_region_grid(ds, region):
            raw = descale(read_window_nan(ds, Window(0, 0, ds.width, ds.height), src), dtype, scale, src)
            out = _to_linear(raw, declared, src)
            step = "ingest: already on the region grid, copied"
        else:
            window = _source_window(ds, region)
            if window is None:
                raise InputError(src, f"does not overlap the {region.name} AOI")
            arr = _to_linear(descale(read_window_nan(ds, window, src), dtype, scale, src), declared, src)
            out = np.full((region.height, region.width), np.nan, dtype=np.float32)
            reproject(
                arr,
                out,
                src_transform=ds.window_transform(window),
                src_crs=ds.crs,
                src_nodata=np.nan,
                dst_transform=region.transform,
                dst_crs=region.crs,
                dst_nodata=np.nan,
                resampling=Resampling.bilinear,
            )
            res = abs(ds.transform.a)
            step = (
                f"ingest: reprojected {ds.crs.to_string()} {res:g} m -> {region.crs} "
                f"{region.pixel_size:g} m (bilinear on intensity)"
            )
    if scale is not None:
        step += f"; {dtype} DN 1..{INTEGER_MAX[dtype]} descaled to {scale[0]:g}..{scale[1]:g}"
    if declared == "db":
        step += "; converted dB to linear"
    return write_scene(src, region, dst, out, tags, polarisation, step, declared or "linear")


def _ingest_gcp_geotiff(
    src: Path,
    region: Region,
    dst: Path,
    polarisation: str | None,
    units: str | None,
    value_range: str | None,
) -> IngestResult:
    """A raster georeferenced by GCPs only (no geotransform), warped through them to the region grid."""
    with warnings.catch_warnings(), rasterio.open(src) as ds:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        if ds.count != 1:
            raise InputError(src, f"has {ds.count} bands; expected a single band")
        tags = ds.tags()
        declared = normalise_units(units, src) or normalise_units(tags.get("UNITS"), src)
        scale = parse_value_range(value_range or tags.get("VALUE_RANGE"), src)
        dtype = ds.dtypes[0]
        raw = descale(read_window_nan(ds, Window(0, 0, ds.width, ds.height), src), dtype, scale, src)
        linear = _to_linear(raw, declared, src)
        out = warp_gcps_to_region(ds, linear, region)
        step = (
            f"ingest: warped through {len(ds.gcps[0])} GCPs ({ds.gcps[1].to_string()}, thin-plate spline) "
            f"-> {region.crs} {region.pixel_size:g} m (bilinear on intensity)"
        )
    if not np.isfinite(out).any():
        raise InputError(src, f"its GCPs place it outside the {region.name} AOI")
    if scale is not None:
        step += f"; {dtype} DN 1..{INTEGER_MAX[dtype]} descaled to {scale[0]:g}..{scale[1]:g}"
    if declared == "db":
        step += "; converted dB to linear"
    return write_scene(src, region, dst, out, tags, polarisation, step, declared or "linear")


@dataclass(frozen=True)
class MaskIngestResult:
    """What a truth-mask ingest wrote: the mask file and its valid and positive fractions."""

    path: str
    valid_fraction: float
    positive_fraction: float
    region: str
    history: list[str]


def ingest_mask_to_region(src: str | Path, region: Region, dst: str | Path) -> MaskIngestResult:
    """Put a simulator truth mask on the region grid: nearest resampling, uint8, 255 = nodata."""
    src, dst = Path(src), Path(dst)
    with open_single_band(src) as ds:
        tags = ds.tags()
        if _on_region_grid(ds, region):
            window = Window(0, 0, ds.width, ds.height)
        else:
            window = _source_window(ds, region, margin=1)
            if window is None:
                raise InputError(src, f"does not overlap the {region.name} AOI")
        try:
            arr = ds.read(1, window=window)
        except (RasterioIOError, RasterioError) as exc:
            raise InputError(src, f"truncated or corrupt pixels ({str(exc).splitlines()[0][:100]})") from None
        nodata = ds.nodata
        invalid = ~np.isfinite(arr) if arr.dtype.kind == "f" else np.zeros(arr.shape, bool)
        if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
            invalid |= arr == nodata
        mask = np.where(invalid, MASK_NODATA, np.clip(np.nan_to_num(arr), 0, 254)).astype(np.uint8)
        if _on_region_grid(ds, region):
            out = mask
        else:
            out = np.full((region.height, region.width), MASK_NODATA, dtype=np.uint8)
            reproject(
                mask,
                out,
                src_transform=ds.window_transform(window),
                src_crs=ds.crs,
                src_nodata=MASK_NODATA,
                dst_transform=region.transform,
                dst_crs=region.crs,
                dst_nodata=MASK_NODATA,
                resampling=Resampling.nearest,
            )
    history = history_of(tags) + [f"ingest mask: nearest resampling to {region.name} grid"]
    out_tags = {k: v for k, v in tags.items() if k.startswith("ICECRACK_") and k != "ICECRACK_HISTORY"}
    out_tags.update(REGION=region.name, ICECRACK_HISTORY=json.dumps(history))
    if tags.get("SCENE_ID"):
        out_tags["SCENE_ID"] = tags["SCENE_ID"]
    profile = region_profile(region, dtype="uint8", nodata=MASK_NODATA)
    write_raster_atomic(dst, out, profile, tags=out_tags, cog=True)
    valid = out != MASK_NODATA
    return MaskIngestResult(
        path=str(dst),
        valid_fraction=float(valid.mean()),
        positive_fraction=float((out[valid] > 0).mean()) if valid.any() else 0.0,
        region=region.name,
        history=history,
    )
