"""Terrain correction of GRD geocoding with a DEM: where a pixel at height h really sits in the image.

Without a DEM, output pixels are placed with the annotation's GCP grid, i.e. at the GCP heights. With
a DEM, every output pixel becomes a 3-D point (map x, y and the DEM height, WGS84 ellipsoidal) and
is mapped into the image by range-Doppler (``range_doppler.py``: zero-Doppler time from the
annotation orbit, slant range through ESA's slant-to-ground-range polynomials). A point 1000 m above
the GCP heights moves about 100-140 pixels of 10 m towards the sensor (foreshortening).

Layover and shadow become nodata, active and passive: along each azimuth line, targets ordered by
ground range must image at increasing range (else they fold over each other: layover, e.g. a fjord
wall facing the sensor and the ground in front of it) and at increasing look angle (else a nearer
target hides them: shadow, e.g. the fjord floor behind a wall facing away). Slopes are also checked
locally (rise per metre of ground range > tan(incidence) or fall > cot(incidence)), which catches
the steep slopes the azimuth binning could miss. Terrain outside the output grid is not seen, so a
ridge just outside the AOI can leave its shadow inside unflagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.warp import reproject

from icecrack_assets.errors import InputError
from icecrack_assets.sar.sentinel1.geocode import Gcps, interpolate_on_grid
from icecrack_assets.sar.sentinel1.range_doppler import RadarGeometry

ROW_BLOCK = 256  # output rows per range-Doppler block
DEM_HEIGHT_LIMITS = (-500.0, 9000.0)  # metres: anything outside is not a DEM in metres


@dataclass(frozen=True)
class Dem:
    """A DEM GeoTIFF (any CRS) and the geoid undulation N that makes its heights ellipsoidal.

    The GCP heights are WGS84-ellipsoidal. ArcticDEM and REMA are ellipsoidal (N = 0); Copernicus
    GLO-30 is EGM2008 orthometric, so pass the region's N (tens of metres in the polar regions).
    """

    path: Path
    geoid_undulation_m: float = 0.0

    @classmethod
    def of(cls, dem: Dem | str | Path | None) -> Dem | None:
        if dem is None or isinstance(dem, Dem):
            return dem
        return cls(Path(dem))


@dataclass(frozen=True)
class TerrainCoords:
    """Image (line, pixel) of every output pixel after terrain correction, and what was flagged."""

    lines: np.ndarray
    pixels: np.ndarray
    layover: np.ndarray  # bool
    shadow: np.ndarray  # bool
    no_dem: np.ndarray  # bool: no DEM height here, so no position either
    max_shift_px: float  # largest |pixel shift| applied

    def summary(self) -> str:
        n = self.lines.size or 1
        return (
            f"terrain-corrected with the DEM (max shift {self.max_shift_px:.1f} px); "
            f"layover {self.layover.sum() / n:.2%}, shadow {self.shadow.sum() / n:.2%}, "
            f"no DEM {self.no_dem.sum() / n:.2%} of the grid set to nodata"
        )


def dem_on_grid(dem: Dem, crs: str, transform: Affine, width: int, height: int) -> np.ndarray:
    """Ellipsoidal DEM heights (float32, NaN = none) resampled bilinearly onto a grid."""
    path = Path(dem.path)
    if not path.exists():
        raise InputError(path, "DEM file does not exist")
    try:
        with rasterio.open(path) as ds:
            if ds.crs is None:
                raise InputError(path, "DEM has no CRS; it must be a georeferenced GeoTIFF")
            src_nodata = ds.nodata
            out = np.full((height, width), np.nan, dtype=np.float32)
            reproject(
                rasterio.band(ds, 1),
                out,
                src_nodata=src_nodata,
                dst_transform=transform,
                dst_crs=crs,
                dst_nodata=np.nan,
                resampling=Resampling.bilinear,
            )
    except InputError:
        raise
    except (RasterioIOError, RasterioError) as exc:
        raise InputError(path, f"cannot read the DEM ({str(exc).splitlines()[0][:100]})") from None
    finite = np.isfinite(out)
    if not finite.any():
        raise InputError(path, "DEM does not cover the output grid")
    lo, hi = float(np.nanmin(out)), float(np.nanmax(out))
    if lo < DEM_HEIGHT_LIMITS[0] or hi > DEM_HEIGHT_LIMITS[1]:
        raise InputError(path, f"DEM heights {lo:.0f}..{hi:.0f} are not metres above the ellipsoid/geoid")
    return np.asarray(out + np.float32(dem.geoid_undulation_m), dtype=np.float32)


def orbit_gcp_gap(gcps: Gcps, geometry: RadarGeometry) -> tuple[float, float]:
    """Median |line| and |pixel| between range-Doppler and the annotation's own GCPs.

    Real products agree to under a pixel; a large gap means the orbit and the geolocation grid do
    not describe the same acquisition (an edited annotation), and terrain correction would misplace.
    """
    p = np.stack(
        Transformer.from_crs(4979, 4978, always_xy=True).transform(gcps.lon, gcps.lat, gcps.height), -1
    )
    lines, pixels = geometry.image_coords(p, gcps.line * geometry.line_interval)
    return float(np.median(np.abs(lines - gcps.line))), float(np.median(np.abs(pixels - gcps.pixel)))


def _grid_spacing_m(crs: str, transform: Affine, lat: float) -> tuple[float, float]:
    """Row and column spacing of a north-up grid in metres (degrees converted for geographic CRSs)."""
    from pyproj import CRS

    dy, dx = abs(transform.e), abs(transform.a)
    if CRS.from_user_input(crs).is_geographic:
        return dy * 110_574.0, dx * 111_320.0 * np.cos(np.radians(lat))
    return dy, dx


def _running_max_by_group(group_rank: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running maximum restarting at each group; arrays sorted by group (ascending rank)."""
    big = float(np.nanmax(values) - np.nanmin(values)) + 1.0
    shifted = values + group_rank * big
    return np.maximum.accumulate(shifted) - group_rank * big


def fold_and_hide(
    azimuth: np.ndarray, ground: np.ndarray, image_range: np.ndarray, look: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Layover and shadow along each azimuth line, including the passive parts.

    Targets of one azimuth bin are ordered by ground range (near to far). A target is in layover when
    a target on the other side of it images at the same or a crossed range (the image range is not
    increasing), and in shadow when a nearer target has a larger look angle (it hides this one).
    Returns two boolean arrays in the input order.
    """
    n = azimuth.size
    if n == 0:
        return np.zeros(0, bool), np.zeros(0, bool)
    order = np.lexsort((ground, azimuth))
    az = azimuth[order]
    rank = np.concatenate([[0], np.cumsum(np.diff(az) != 0)]).astype(np.float64)
    rng = image_range[order]
    near_max = _running_max_by_group(rank, rng)  # furthest image range of any nearer target
    far_min = -_running_max_by_group((rank.max() - rank)[::-1], -rng[::-1])[::-1]  # nearest of any farther
    tol = 0.1  # image pixels: targets of one bin differ slightly in azimuth, hence in range
    folded = (rng < near_max - tol) | (rng > far_min + tol)
    hidden = look[order] < _running_max_by_group(rank, look[order]) - 1e-6  # ~0.1 px of look angle
    layover, shadow = np.empty(n, bool), np.empty(n, bool)
    layover[order], shadow[order] = folded, hidden
    return layover, shadow


def terrain_image_coords(
    gcps: Gcps,
    geometry: RadarGeometry,
    crs: str,
    transform: Affine,
    width: int,
    height: int,
    heights: np.ndarray,
) -> TerrainCoords:
    """(line, pixel) of every output pixel centre for targets at ``heights`` (ellipsoidal metres)."""
    if gcps.incidence is None or gcps.slant_range_time is None:
        raise ValueError("terrain correction needs the GCPs' incidenceAngle and slantRangeTime")
    lines0, pixels0, theta = interpolate_on_grid(
        gcps, [gcps.line, gcps.pixel, gcps.incidence], crs, transform, width, height
    )
    inside = np.isfinite(lines0)
    lines = np.full((height, width), np.nan)
    pixels = np.full((height, width), np.nan)
    look = np.full((height, width), np.nan)
    lat_sum, lat_n = 0.0, 0
    to_ll = Transformer.from_crs(crs, 4326, always_xy=True)
    to_ecef = Transformer.from_crs(4979, 4978, always_xy=True)
    for r0 in range(0, height, ROW_BLOCK):  # in row blocks: bounded memory on big grids
        r1 = min(r0 + ROW_BLOCK, height)
        rows, cols = np.mgrid[r0:r1, 0:width]
        xs = transform.c + transform.a * (cols + 0.5) + transform.b * (rows + 0.5)
        ys = transform.f + transform.d * (cols + 0.5) + transform.e * (rows + 0.5)
        lon, lat = to_ll.transform(xs, ys)
        h = np.where(np.isfinite(heights[r0:r1]), heights[r0:r1], 0.0).astype(np.float64)
        ecef = np.stack(to_ecef.transform(lon, lat, h), axis=-1)
        guess = np.where(inside[r0:r1], lines0[r0:r1], 0.0) * geometry.line_interval
        lines[r0:r1], pixels[r0:r1], look[r0:r1] = geometry.locate(ecef, guess)
        lat_sum, lat_n = lat_sum + float(np.sum(lat)), lat_n + lat.size
    shift = np.where(inside, pixels - pixels0, np.nan)

    spacing = _grid_spacing_m(crs, transform, lat_sum / max(lat_n, 1))
    direction = 1.0 if np.nanmean(np.diff(gcps.slant_range_time[np.argsort(gcps.pixel)])) >= 0 else -1.0
    # ground-range direction on the map: the gradient of the GCP-grid pixel coordinate
    gy, gx = np.gradient(pixels0, *spacing)
    norm = np.hypot(gx, gy)
    cy, cx = np.gradient(pixels, *spacing)
    with np.errstate(invalid="ignore", divide="ignore"):
        along = (cx * gx + cy * gy) / norm  # d(pixel)/d(ground range): <= 0 is layover
        hy, hx = np.gradient(heights.astype(np.float64), *spacing)
        slope = (hx * gx + hy * gy) / norm * direction  # rise per metre away from the sensor
        layover = along <= 0
        shadow = slope <= -1.0 / np.tan(np.radians(theta))
        lines_per_m = np.nanmedian(np.hypot(*np.gradient(lines0, *spacing)))
    del gy, gx, norm, cy, cx, along, hy, hx, slope, theta
    bin_lines = max(float(lines_per_m) * max(spacing), 1.0)  # one output pixel along azimuth
    scanned = inside & np.isfinite(heights)
    passive_layover, passive_shadow = fold_and_hide(
        np.floor(lines0[scanned] / bin_lines),
        pixels0[scanned] * direction,
        pixels[scanned] * direction,
        look[scanned],
    )
    layover[scanned] |= passive_layover
    shadow[scanned] |= passive_shadow
    no_dem = ~np.isfinite(heights) & inside
    bad = layover | shadow | no_dem | ~inside
    lines = np.where(bad, np.nan, lines)
    pixels = np.where(bad, np.nan, pixels)
    finite_shift = shift[np.isfinite(shift)]
    return TerrainCoords(
        lines=lines,
        pixels=pixels,
        layover=layover & ~no_dem,
        shadow=shadow & ~no_dem & ~layover,
        no_dem=no_dem,
        max_shift_px=float(np.abs(finite_shift).max()) if finite_shift.size else 0.0,
    )
