"""A real IW GRDH product moved over a study region, with a geometry that stays self-consistent.

``build_tiny_safe`` rewrites GCPs with an affine toy geometry, which the orbit in the annotation does not
match, so range-Doppler (terrain correction) cannot be tested on it. Here the whole acquisition is
rotated about the Earth's centre so that the real product's centre lands on the region: orbit state
vectors are rotated, and every GCP is re-solved on the WGS84 ellipsoid (height 0) so that it keeps its
real zero-Doppler time and slant range. Line/pixel size, calibration, noise and slant-to-ground-range
polynomials stay the real ones. The measurement TIFF is full size but sparse: only ``window`` is written.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import rasterio
from lxml import etree
from pyproj import Transformer
from rasterio.windows import Window

from icecrack_assets.sar.sentinel1.range_doppler import SPEED_OF_LIGHT, parse_geometry

TO_ECEF = Transformer.from_crs(4979, 4978, always_xy=True)
FROM_ECEF = Transformer.from_crs(4978, 4979, always_xy=True)


def _rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation taking direction a to direction b (Rodrigues)."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(np.dot(a, b))
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1.0 + c)


def _solve_ground(geometry, t: np.ndarray, slant: np.ndarray, lon: np.ndarray, lat: np.ndarray):
    """lon/lat on the ellipsoid (h = 0) seen at zero-Doppler time t and slant range ``slant``."""
    fits = geometry._orbit_fit()
    vel = tuple(f.deriv() for f in fits)
    s = np.stack([f(t) for f in fits], axis=-1)
    v = np.stack([d(t) for d in vel], axis=-1)

    def resid(lo, la):
        p = np.stack(TO_ECEF.transform(lo, la, np.zeros_like(lo)), axis=-1)
        d = p - s
        return np.stack(
            [(d * v).sum(-1) / np.linalg.norm(v, axis=-1), np.linalg.norm(d, axis=-1) - slant], -1
        )

    for _ in range(8):
        f0 = resid(lon, lat)
        eps = 1e-5
        j_lon = (resid(lon + eps, lat) - f0) / eps
        j_lat = (resid(lon, lat + eps) - f0) / eps
        jac = np.stack([j_lon, j_lat], axis=-1)  # (..., 2 eq, 2 unknowns)
        step = np.linalg.solve(jac, -f0[..., None])[..., 0]
        lon, lat = lon + step[..., 0], lat + step[..., 1]
    return lon, lat


def build_relocated_safe(
    source: Path,
    out_dir: Path,
    centre_lonlat: tuple[float, float],
    when: dt.datetime,
    window: Window | None = None,
    dn: np.ndarray | int = 300,
) -> Path:
    """Copy the SAFE ``source`` into ``out_dir``, moved so its centre is at ``centre_lonlat``."""
    old = source.name.split(".")[0]
    parts = old.split("_")
    stop = when + dt.timedelta(seconds=25)
    name = "_".join(parts[:4] + [when.strftime("%Y%m%dT%H%M%S"), stop.strftime("%Y%m%dT%H%M%S")] + parts[6:])
    dst = out_dir / f"{name}.SAFE"
    shutil.copytree(source, dst, ignore=shutil.ignore_patterns("*.tiff", "*.pdf", "*.png", "*.html"))
    for path in [dst, *dst.rglob("*")]:  # the shared originals are read-only
        path.chmod(path.stat().st_mode | 0o200)
    ann_path = next((dst / "annotation").glob("*.xml"))
    tree = etree.parse(str(ann_path))
    root = tree.getroot()
    pts = root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    col = {
        tag: np.array([float(p.findtext(tag)) for p in pts])
        for tag in ("line", "pixel", "latitude", "longitude", "slantRangeTime")
    }
    old_ecef = np.stack(TO_ECEF.transform(col["longitude"], col["latitude"], np.zeros(len(pts))), -1)
    centre = np.stack(TO_ECEF.transform(*centre_lonlat, 0.0))
    rot = _rotation(old_ecef.mean(axis=0), centre)
    for orbit in root.findall("generalAnnotation/orbitList/orbit"):
        for what in ("position", "velocity"):
            vec = np.array([float(orbit.findtext(f"{what}/{c}")) for c in "xyz"])
            for c, value in zip("xyz", rot @ vec):
                orbit.find(f"{what}/{c}").text = repr(float(value))
    geometry = parse_geometry(root)
    moved = old_ecef @ rot.T
    lon0, lat0, _ = FROM_ECEF.transform(moved[:, 0], moved[:, 1], moved[:, 2])
    t = col["line"] * geometry.line_interval
    lon, lat = _solve_ground(geometry, t, col["slantRangeTime"] * SPEED_OF_LIGHT / 2, lon0, lat0)
    for p, lo, la in zip(pts, lon, lat):
        p.find("longitude").text = repr(float(lo))
        p.find("latitude").text = repr(float(la))
        p.find("height").text = "0.0"
    tree.write(str(ann_path), xml_declaration=True, encoding="UTF-8")

    lines = int(root.findtext("imageAnnotation/imageInformation/numberOfLines"))
    samples = int(root.findtext("imageAnnotation/imageInformation/numberOfSamples"))
    mpath = dst / "manifest.safe"
    manifest = etree.parse(str(mpath))
    anyx = "//*[local-name()='{}']"
    manifest.xpath(anyx.format("startTime"))[0].text = when.strftime("%Y-%m-%dT%H:%M:%S.%f")
    manifest.xpath(anyx.format("stopTime"))[0].text = stop.strftime("%Y-%m-%dT%H:%M:%S.%f")
    corners = []
    for li, pi in ((0, 0), (0, samples - 1), (lines - 1, samples - 1), (lines - 1, 0)):
        k = np.argmin(np.hypot(col["line"] - li, col["pixel"] - pi))
        corners.append((lat[k], lon[k]))
    manifest.xpath(anyx.format("coordinates"))[0].text = " ".join(f"{a:.6f},{b:.6f}" for a, b in corners)
    manifest.write(str(mpath), xml_declaration=True, encoding="UTF-8")

    meas = dst / "measurement" / (ann_path.stem + ".tiff")
    meas.parent.mkdir(exist_ok=True)
    profile = dict(
        driver="GTiff",
        width=samples,
        height=lines,
        count=1,
        dtype="uint16",
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        sparse_ok=True,
    )
    with rasterio.open(meas, "w", **profile) as ds:
        if window is not None:
            w = window.intersection(Window(0, 0, samples, lines))
            arr = (
                np.full((int(w.height), int(w.width)), dn, dtype=np.uint16)
                if np.isscalar(dn)
                else np.asarray(dn, dtype=np.uint16)
            )
            ds.write(arr, 1, window=w)
    return dst
