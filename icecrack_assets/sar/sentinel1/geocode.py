"""Geocoding a GRD image onto a region grid from the annotation's geolocation grid (GCPs).

The annotation gives (line, pixel) <-> (lat, lon, height) on a coarse regular grid (about 10 x 21
points). We project the points into the region's polar stereographic CRS, triangulate them there, and
interpolate (line, pixel) linearly inside each triangle for every output pixel centre; outside the
triangulation (the footprint) the result is NaN. Projecting first keeps the poles and the antimeridian
harmless. Without a DEM, positions are those of the GCP heights: over ice shelves and glacier tongues
(near sea level, gentle slopes) the error is well under a 20-40 m pixel; with a DEM, ``terrain.py``
moves each pixel for its height above them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine
from lxml import etree
from pyproj import Transformer
from rasterio.windows import Window
from scipy.interpolate import LinearNDInterpolator
from scipy.ndimage import map_coordinates


@dataclass(frozen=True)
class Gcps:
    line: np.ndarray
    pixel: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    height: np.ndarray
    incidence: np.ndarray | None = None  # ellipsoid incidence angle, degrees (for terrain correction)
    slant_range_time: np.ndarray | None = None  # two-way, seconds


def parse_gcps(annotation: etree._Element) -> Gcps:
    """The geolocation grid points of an annotation XML."""
    pts = annotation.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    if len(pts) < 3:
        raise ValueError(f"annotation has {len(pts)} geolocation grid points; need at least 3")

    def col(tag: str) -> np.ndarray:
        return np.array([float(p.findtext(tag)) for p in pts], dtype=np.float64)

    def optional(tag: str) -> np.ndarray | None:
        return col(tag) if all(p.findtext(tag) is not None for p in pts) else None

    return Gcps(
        col("line"),
        col("pixel"),
        col("latitude"),
        col("longitude"),
        col("height"),
        optional("incidenceAngle"),
        optional("slantRangeTime"),
    )


def image_coords(
    gcps: Gcps, crs: str, transform: Affine, width: int, height: int, step: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """(line, pixel) of every output pixel centre of a grid; NaN outside the footprint."""
    lines, pixels = interpolate_on_grid(gcps, [gcps.line, gcps.pixel], crs, transform, width, height, step)
    return lines, pixels


def interpolate_on_grid(
    gcps: Gcps,
    values: list[np.ndarray],
    crs: str,
    transform: Affine,
    width: int,
    height: int,
    step: int = 4,
) -> list[np.ndarray]:
    """GCP ``values`` interpolated linearly (triangulated in ``crs``) at every output pixel centre.

    The mapping is evaluated every ``step`` output pixels and filled in bilinearly: the GCP
    triangulation is piecewise linear at kilometre scale, so this changes nothing but the run time.
    NaN outside the footprint.
    """
    to_map = Transformer.from_crs(4326, crs, always_xy=True)
    x, y = to_map.transform(gcps.lon, gcps.lat)
    interp = LinearNDInterpolator(np.column_stack([x, y]), np.column_stack(values))
    rows_c = np.unique(np.append(np.arange(0, height, step), height - 1))
    cols_c = np.unique(np.append(np.arange(0, width, step), width - 1))
    cc, rr = np.meshgrid(cols_c + 0.5, rows_c + 0.5)
    xs = transform.c + transform.a * cc + transform.b * rr
    ys = transform.f + transform.d * cc + transform.e * rr
    coarse = interp(xs, ys)  # (len(rows_c), len(cols_c), len(values))
    if step == 1:
        return [coarse[..., k] for k in range(len(values))]
    # fill in: fractional coarse index of every full-resolution row/column
    fr = np.interp(np.arange(height), rows_c, np.arange(rows_c.size))
    fc = np.interp(np.arange(width), cols_c, np.arange(cols_c.size))
    grid_r, grid_c = np.meshgrid(fr, fc, indexing="ij")
    valid = np.isfinite(coarse[..., 0]).astype(np.float64)
    weight = map_coordinates(valid, [grid_r, grid_c], order=1, mode="nearest")
    inside = weight > 0.999
    out = []
    for k in range(len(values)):
        plane = coarse[..., k]
        filled = map_coordinates(np.nan_to_num(plane), [grid_r, grid_c], order=1, mode="nearest")
        out.append(np.where(inside, filled, np.nan))
    return out


def covering_window(
    lines: np.ndarray, pixels: np.ndarray, n_lines: int, n_samples: int, margin: int = 2
) -> Window | None:
    """The smallest image window holding every finite (line, pixel), or None if none is inside."""
    ok = np.isfinite(lines) & np.isfinite(pixels)
    ok &= (lines > -1) & (lines < n_lines) & (pixels > -1) & (pixels < n_samples)
    if not ok.any():
        return None
    r0 = max(int(np.floor(lines[ok].min())) - margin, 0)
    r1 = min(int(np.ceil(lines[ok].max())) + margin + 1, n_lines)
    c0 = max(int(np.floor(pixels[ok].min())) - margin, 0)
    c1 = min(int(np.ceil(pixels[ok].max())) + margin + 1, n_samples)
    return Window(c0, r0, c1 - c0, r1 - r0)


def sample_bilinear(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` (NaN = nodata) at fractional pixel-centre coordinates.

    A sample is NaN if any of its four neighbours is NaN or it falls outside the image, so no
    output pixel mixes data with nodata (border noise stays out).
    """
    h, w = image.shape
    ok = (
        np.isfinite(rows)
        & np.isfinite(cols)
        & (rows >= -0.5)
        & (rows <= h - 0.5)
        & (cols >= -0.5)
        & (cols <= w - 0.5)
    )
    r = np.clip(np.where(ok, rows, 0.0), 0, h - 1)
    c = np.clip(np.where(ok, cols, 0.0), 0, w - 1)
    values = map_coordinates(np.nan_to_num(image, nan=0.0), [r, c], order=1, mode="nearest")
    invalid = map_coordinates((~np.isfinite(image)).astype(np.float32), [r, c], order=1, mode="nearest")
    out = np.where(ok & (invalid < 1e-6), values, np.nan)
    return out.astype(np.float32)
