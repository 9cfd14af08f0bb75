"""Terrain correction with a DEM: direction and size of the shift, layover/shadow, sarsen, real DEM."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from lxml import etree
from pyproj import Transformer

from icecrack_assets.cli import main
from icecrack_assets.errors import InputError
from icecrack_assets.regions import get_region
from icecrack_assets.sar.sentinel1.geocode import (
    covering_window,
    image_coords,
    interpolate_on_grid,
    parse_gcps,
)
from icecrack_assets.sar.sentinel1.ingest import ingest_to_region
from icecrack_assets.sar.sentinel1.range_doppler import parse_geometry
from icecrack_assets.sar.sentinel1.safe import SafeSource, read_info
from icecrack_assets.sar.sentinel1.terrain import Dem, dem_on_grid, orbit_gcp_gap, terrain_image_coords
from icecrack_assets_tests.helpers.relocated_safe import build_relocated_safe
from icecrack_assets_tests.helpers.safe_builder import EW_GRDM, IW_GRDH_NEW, build_tiny_safe

ARCTICDEM = "dem-arcticdem-store-glacier/store_arcticdem_mosaic_32m.tif"
UTM33 = "EPSG:32633"


@pytest.fixture(scope="module")
def rome(shared_data: Path):
    """The real Rome IW GRDH annotation: GCPs and range-Doppler geometry."""
    safe = shared_data / IW_GRDH_NEW
    ann = etree.parse(str(next((safe / "annotation").glob("*.xml")))).getroot()
    return safe, parse_gcps(ann), parse_geometry(ann)


def _utm_grid(lon: float, lat: float, size: int = 120, px: float = 30.0):
    x0, y0 = Transformer.from_crs(4326, UTM33, always_xy=True).transform(lon, lat)
    return Affine(px, 0, x0, 0, -px, y0), size, size


def test_height_moves_pixels_towards_the_sensor_by_h_over_tan_incidence(rome) -> None:
    _, gcps, geometry = rome
    transform, w, h = _utm_grid(12.6, 41.8)
    h0, theta = interpolate_on_grid(gcps, [gcps.height, gcps.incidence], UTM33, transform, w, h)
    base = terrain_image_coords(gcps, geometry, UTM33, transform, w, h, h0)
    up = terrain_image_coords(gcps, geometry, UTM33, transform, w, h, h0 + 1000.0)
    shift_m = (up.pixels - base.pixels) * geometry.range_spacing
    expected = -1000.0 / np.tan(np.radians(theta))  # flat-earth foreshortening, towards near range
    assert np.all(shift_m < -900)  # pixel index grows with range: up = nearer the sensor
    assert np.allclose(shift_m, expected, rtol=0.03)
    assert np.nanmax(np.abs(up.lines - base.lines)) < 0.5  # zero-Doppler: same line (0.18 measured)
    assert max(orbit_gcp_gap(gcps, geometry)) < 0.5  # median over the 210 real GCPs
    # at the GCP heights the range-Doppler positions agree with ESA's GCP grid to a pixel
    lines0, pixels0 = image_coords(gcps, UTM33, transform, w, h)
    assert np.nanmax(np.abs(base.pixels - pixels0)) < 1.5
    assert np.nanmax(np.abs(base.lines - lines0)) < 0.5


def test_layover_and_shadow_are_flagged_nodata(rome) -> None:
    _, gcps, geometry = rome
    transform, w, h = _utm_grid(12.6, 41.8, size=200, px=10.0)
    _, pixels0 = image_coords(gcps, UTM33, transform, w, h)
    p = pixels0 - np.nanmin(pixels0)  # ground range in 10 m pixels across the grid
    # terrain as a function of ground range: flat, a wall rising 2 m/m (steeper than tan 40 deg)
    # facing the sensor, a plateau, a cliff falling 3 m/m (steeper than cot 40 deg) away from it
    heights = np.interp(p, [0, 60, 70, 120, 130, 400], [0, 0, 200, 200, -100, -100]).astype(np.float32)
    tc = terrain_image_coords(gcps, geometry, UTM33, transform, w, h, heights)
    assert tc.layover[(p > 61) & (p < 69)].mean() > 0.9  # the wall itself (active)
    assert tc.shadow[(p > 121) & (p < 129)].mean() > 0.9  # the cliff itself (active)
    # passive (incidence ~43 deg here): the wall top images 200 m x cot(43) = 21 px nearer, so the
    # ground 11 px in front of the wall and the plateau's first ~10 px share its ranges; the cliff
    # top hides 300 m x tan(43) = 28 px behind it, i.e. 18 px of low ground beyond the cliff
    assert tc.layover[(p > 50) & (p < 58)].mean() > 0.9
    assert tc.layover[(p > 72) & (p < 78)].mean() > 0.9
    assert tc.shadow[(p > 132) & (p < 146)].mean() > 0.9
    clear = (p < 44) | ((p > 86) & (p < 114)) | (p > 154)
    assert not tc.layover[clear].any() and not tc.shadow[clear].any()
    assert np.isnan(tc.pixels[tc.layover | tc.shadow]).all()
    assert np.isfinite(tc.pixels[clear]).all()
    even = terrain_image_coords(gcps, geometry, UTM33, transform, w, h, np.full_like(heights, 500.0))
    assert not even.layover.any() and not even.shadow.any()


@pytest.mark.slow
def test_geolocation_agrees_with_sarsen(rome) -> None:
    """sarsen (range-Doppler on the same orbit) and we must place every DEM pixel within 1 pixel."""
    pytest.importorskip("sarsen")
    import rioxarray  # noqa: F401  (registers .rio)
    import xarray as xr
    from sarsen import apps, orbit, scene, sentinel1

    safe, gcps, geometry = rome
    transform, w, h = _utm_grid(12.6, 41.8, size=120, px=30.0)
    yy, xx = np.mgrid[0:h, 0:w]
    heights = (100 + 1500 * np.exp(-((xx - 60) ** 2 + (yy - 60) ** 2) / (2 * 20.0**2))).astype(np.float32)
    xs = transform.c + (np.arange(w) + 0.5) * transform.a
    ys = transform.f + (np.arange(h) + 0.5) * transform.e
    dem = xr.DataArray(heights[::-1], coords={"y": ys[::-1], "x": xs}, dims=("y", "x")).rio.write_crs(UTM33)

    product = sentinel1.Sentinel1SarProduct(str(safe), "IW/VV")
    attrs = product.measurement.attrs
    acq = apps.simulate_acquisition(
        scene.convert_to_dem_ecef(dem),
        orbit.OrbitPolyfitInterpolator.from_position(product.state_vectors()),
        include_variables={"slant_range_time", "azimuth_time"},
    )
    ground = product.slant_range_time_to_ground_range(acq.azimuth_time, acq.slant_range_time)
    first = np.datetime64(attrs["product_first_line_utc_time"])
    sarsen_line = ((acq.azimuth_time - first) / np.timedelta64(1, "ns")).values * 1e-9
    sarsen_line = (sarsen_line / attrs["azimuth_time_interval"])[::-1]
    sarsen_pixel = (ground.values / attrs["range_pixel_spacing"])[::-1]

    ours = terrain_image_coords(gcps, geometry, UTM33, transform, w, h, heights)
    ok = np.isfinite(ours.pixels)
    assert ok.mean() > 0.7  # the rest is layover and shadow around the 1.5 km hill
    err_m = np.hypot(
        (ours.pixels - sarsen_pixel)[ok] * attrs["range_pixel_spacing"],
        (ours.lines - sarsen_line)[ok] * attrs["azimuth_pixel_spacing"],
    )
    assert err_m.max() < 30.0  # within one output pixel (30 m grid); measured: < 1 m
    assert np.percentile(err_m, 99) < 5.0
    # and the GCP grid alone would be off by up to ~1.5 km on this 1.6 km hill
    lines0, pixels0 = image_coords(gcps, UTM33, transform, w, h)
    assert np.nanmax(np.abs(pixels0 - sarsen_pixel)) > 50


REAL_GRD = [
    IW_GRDH_NEW,
    "s1-grd-pyrosar/S1A_IW_GRDH_1SDV_20150203T043109_20150203T043134_004454_00574F_6D00.zip",
    "s1-grd-pyrosar/S1A_IW_GRDH_1SDV_20210119T031653_20210119T031718_036201_043ED0_8255.zip",
    "s1-safe-xarray-sentinel/S1B_IW_GRDH_1SDV_20210401T052623_20210401T052648_026269_032297_ECC8.SAFE",
    EW_GRDM,
]


@pytest.mark.parametrize("rel", REAL_GRD, ids=lambda r: r.split("/")[-1][:30])
def test_range_doppler_reproduces_esa_gcps_on_real_products(shared_data: Path, rel: str) -> None:
    """IPF 2.70 to 3.52, IW and EW: the annotation orbit puts ESA's own GCPs where ESA says."""
    src = SafeSource(shared_data / rel)
    try:
        ann = src.xml(read_info(src).images[0].annotation)
    finally:
        src.close()
    lines, pixels = orbit_gcp_gap(parse_gcps(ann), parse_geometry(ann))
    assert lines < 0.5 and pixels < 0.5  # measured 0.09-0.24 px


def test_inspect_says_whether_terrain_correction_is_possible(rome, capsys) -> None:
    safe, _, _ = rome
    assert main(["inspect", str(safe)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("terrain:"))
    assert "ready for --dem (16 orbit vectors, 28 range polynomials" in line


def test_dem_errors_are_one_line(tmp_path: Path, shared_data: Path) -> None:
    region = get_region("jakobshavn")
    with pytest.raises(InputError, match="does not exist"):
        dem_on_grid(Dem(tmp_path / "none.tif"), region.crs, region.transform, 10, 10)
    nocrs = tmp_path / "nocrs.tif"
    with rasterio.open(nocrs, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32") as ds:
        ds.write(np.zeros((1, 4, 4), np.float32))
    with pytest.raises(InputError, match="no CRS"):
        dem_on_grid(Dem(nocrs), region.crs, region.transform, 10, 10)
    with pytest.raises(InputError, match="does not cover"):  # Store Glacier DEM vs Jakobshavn grid
        dem_on_grid(Dem(shared_data / ARCTICDEM), region.crs, region.transform, region.width, region.height)


def test_cli_dem_errors_are_one_line(tmp_path: Path, shared_data: Path, capsys) -> None:
    jak = get_region("jakobshavn")
    when = dt.datetime(2021, 7, 15, 10, 0, tzinfo=dt.timezone.utc)
    tiny = build_tiny_safe(shared_data / IW_GRDH_NEW, tmp_path, jak, when, lines=300, samples=400)
    out = tmp_path / "out.tif"
    args = ["ingest", str(tiny.path), str(out), "--region", "jakobshavn", "--pol", "VV", "--dem"]
    assert main([*args, str(tmp_path / "missing.tif")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing.tif" in err and "does not exist" in err
    # a toy product whose GCPs were moved but whose orbit was not: refused, not mis-placed
    dem = tmp_path / "flat.tif"
    profile = dict(driver="GTiff", width=jak.width, height=jak.height, count=1, dtype="float32")
    with rasterio.open(dem, "w", crs=jak.crs, transform=jak.transform, **profile) as ds:
        ds.write(np.full((1, jak.height, jak.width), 100.0, np.float32))
    assert main([*args, str(dem)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "orbit and geolocation grid disagree" in err
    assert not out.exists()


def _blob_offsets(path: Path, rows: np.ndarray, cols: np.ndarray, half: int = 40) -> np.ndarray:
    """Distance (output pixels) from each target pixel to the centroid of the bright blob near it."""
    with rasterio.open(path) as ds:
        img = np.nan_to_num(ds.read(1))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    out = []
    for r in rows:
        for c in cols:
            sub = img[r - half : r + half + 1, c - half : c + half + 1]
            w = np.clip(sub - 3 * sub.mean(), 0, None)
            out.append(np.hypot((w * yy).sum() / w.sum(), (w * xx).sum() / w.sum()) if w.sum() else np.inf)
    return np.array(out)


@pytest.mark.slow
def test_ingest_with_the_real_arcticdem_puts_targets_where_sarsen_images_them(
    tmp_path: Path, shared_data: Path
) -> None:
    """End to end: a real IW GRDH moved over Store Glacier, ingested with the real ArcticDEM crop.

    36 bright targets on the ice sheet (460-1130 m) are written into the image where sarsen, an
    independent range-Doppler implementation, says they are seen; after ingest with the DEM each must
    sit on its own output pixel. Without the DEM they land ~50 pixels away.
    """
    pytest.importorskip("sarsen")
    import rioxarray  # noqa: F401
    import xarray as xr
    from sarsen import apps, orbit, scene, sentinel1

    dem_path = shared_data / ARCTICDEM
    with rasterio.open(dem_path) as ds:
        b = ds.bounds
    cx, cy = (b.left + b.right) / 2, (b.bottom + b.top) / 2
    region = dataclasses.replace(
        get_region("jakobshavn"), name="store", bounds=(cx - 10000, cy - 6000, cx + 10000, cy + 6000)
    )
    lon, lat = Transformer.from_crs(3413, 4326, always_xy=True).transform(cx, cy)
    when = dt.datetime(2021, 7, 15, 10, 0, tzinfo=dt.timezone.utc)
    probe = build_relocated_safe(shared_data / IW_GRDH_NEW, tmp_path / "probe", (lon, lat), when)
    ann = etree.parse(str(next((probe / "annotation").glob("*.xml")))).getroot()
    rows, cols = image_coords(parse_gcps(ann), region.crs, region.transform, region.width, region.height)
    window = covering_window(rows, cols, 16705, 26102, margin=300)

    t_rows = np.linspace(100, region.height - 100, 6).astype(int)
    t_cols = np.linspace(100, region.width - 100, 6).astype(int)
    heights = dem_on_grid(Dem(dem_path), region.crs, region.transform, region.width, region.height)
    xs = region.transform.c + (t_cols + 0.5) * region.pixel_size
    ys = region.transform.f - (t_rows + 0.5) * region.pixel_size
    targets = heights[np.ix_(t_rows, t_cols)]
    dem = xr.DataArray(targets[::-1], coords={"y": ys[::-1], "x": xs}, dims=("y", "x")).rio.write_crs(
        region.crs
    )
    product = sentinel1.Sentinel1SarProduct(str(probe), "IW/VV")
    attrs = product.measurement.attrs
    acq = apps.simulate_acquisition(
        scene.convert_to_dem_ecef(dem),
        orbit.OrbitPolyfitInterpolator.from_position(product.state_vectors()),
        include_variables={"slant_range_time", "azimuth_time"},
    )
    ground = product.slant_range_time_to_ground_range(acq.azimuth_time, acq.slant_range_time).values
    seconds = (
        (acq.azimuth_time - np.datetime64(attrs["product_first_line_utc_time"])) / np.timedelta64(1, "ns")
    ).values
    dn = np.full((int(window.height), int(window.width)), 150, np.uint16)
    for line, pixel in zip(
        (seconds * 1e-9 / attrs["azimuth_time_interval"]).ravel(), (ground / 10.0).ravel()
    ):
        r, c = int(round(line)) - int(window.row_off), int(round(pixel)) - int(window.col_off)
        dn[r - 1 : r + 2, c - 1 : c + 2] = 3000  # a 30 m bright target
    safe = build_relocated_safe(shared_data / IW_GRDH_NEW, tmp_path, (lon, lat), when, window=window, dn=dn)

    terrain = ingest_to_region(safe, region, tmp_path / "dem.tif", polarisation="VV", dem=dem_path)
    flat = ingest_to_region(safe, region, tmp_path / "flat.tif", polarisation="VV")
    assert terrain.valid_fraction > 0.9
    assert any("terrain-corrected with the DEM" in step for step in terrain.history)
    assert not any("terrain" in step for step in flat.history)
    assert targets.min() > 400  # on the ice sheet, well above the GCP heights (0 m)
    assert _blob_offsets(tmp_path / "dem.tif", t_rows, t_cols).max() < 1.0  # measured 0.1-0.4 px
    assert np.median(_blob_offsets(tmp_path / "flat.tif", t_rows, t_cols)) > 20
