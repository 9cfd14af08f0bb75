"""Inputs made by other tools: GCP-only georeferencing, 8/16-bit scaled values, dB, one-line errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.control import GroundControlPoint

from icecrack_assets.cli import main
from icecrack_assets.errors import InputError
from icecrack_assets.regions import get_region
from icecrack_assets.sar.sentinel1.ingest import ingest_to_region

JAK = get_region("jakobshavn")
NERSC = "s1-ew-grdm-seaice-nersc/S1B_EW_GRDM_1SDH_20200123T120618.tif"


def _on_grid(path: Path, arr: np.ndarray, dtype: str, **tags) -> Path:
    profile = dict(
        driver="GTiff",
        width=JAK.width,
        height=JAK.height,
        count=1,
        dtype=dtype,
        crs=JAK.crs,
        transform=JAK.transform,
        compress="deflate",
    )
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.broadcast_to(arr, (JAK.height, JAK.width)).astype(dtype), 1)
        if tags:
            ds.update_tags(**tags)
    return path


def _gcp_only(
    path: Path, arr: np.ndarray, origin: tuple[float, float], spacing: float, angle_deg: float
) -> Path:
    """A raster with GCPs (EPSG:4326) and no transform: image axes rotated by ``angle_deg`` on the map."""
    to_ll = Transformer.from_crs(JAK.epsg, 4326, always_xy=True)
    a = np.radians(angle_deg)
    gcps = []
    for r in np.linspace(0, arr.shape[0], 6):
        for c in np.linspace(0, arr.shape[1], 6):
            x = origin[0] + spacing * (c * np.cos(a) + r * np.sin(a))
            y = origin[1] + spacing * (c * np.sin(a) - r * np.cos(a))
            lon, lat = to_ll.transform(x, y)
            gcps.append(GroundControlPoint(row=r, col=c, x=lon, y=lat, z=0.0))
    with rasterio.open(
        path, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1, dtype="float32"
    ) as ds:
        ds.write(arr.astype(np.float32), 1)
        ds.gcps = (gcps, rasterio.crs.CRS.from_epsg(4326))
    return path


def test_gcp_only_raster_is_warped_to_the_right_place(tmp_path: Path) -> None:
    arr = np.full((200, 240), 0.05, dtype=np.float32)
    arr[98:103, 148:153] = 5.0  # a bright target at image row 100.5, col 150.5
    origin = (JAK.bounds[0] + 8000.0, JAK.bounds[3] - 6000.0)
    spacing, angle = 40.0, 25.0
    src = _gcp_only(tmp_path / "crop.tif", arr, origin, spacing, angle)
    info = ingest_to_region(src, JAK, tmp_path / "out.tif")
    assert "warped through 36 GCPs" in info.history[-2]
    with rasterio.open(tmp_path / "out.tif") as ds:
        out = ds.read(1)
    a = np.radians(angle)
    x = origin[0] + spacing * (150.5 * np.cos(a) + 100.5 * np.sin(a))
    y = origin[1] + spacing * (150.5 * np.sin(a) - 100.5 * np.cos(a))
    col, row = ~JAK.transform * (x, y)
    bright = np.argwhere(np.nan_to_num(out) > 1.0) + 0.5  # the 200 m target, ~10 x 10 px here
    centre_row, centre_col = bright.mean(axis=0)
    assert abs(centre_row - row) <= 1.0 and abs(centre_col - col) <= 1.0
    assert np.nanmedian(out) == pytest.approx(0.05, rel=1e-3)  # linear values preserved
    assert 0.05 < info.valid_fraction < 0.5


@pytest.mark.parametrize(
    ("n_gcps", "problem"),
    [(0, "not georeferenced"), (2, "only 2 GCPs")],
)
def test_missing_georeferencing_is_one_line(tmp_path: Path, n_gcps: int, problem: str) -> None:
    src = tmp_path / "crop.tif"
    with rasterio.open(src, "w", driver="GTiff", width=20, height=20, count=1, dtype="float32") as ds:
        ds.write(np.full((1, 20, 20), 0.1, np.float32))
        if n_gcps:
            gcps = [GroundControlPoint(row=i, col=i, x=-49.0 + i / 100, y=69.1, z=0.0) for i in range(n_gcps)]
            ds.gcps = (gcps, rasterio.crs.CRS.from_epsg(4326))
    with pytest.raises(InputError, match=problem) as err:
        ingest_to_region(src, JAK, tmp_path / "out.tif")
    assert "\n" not in str(err.value) and str(src) in str(err.value)


def test_real_gcp_only_ew_crop_is_warped(tmp_path: Path, shared_data: Path) -> None:
    """NERSC's real EW GRDM sigma0 crop (104 GCPs in a custom polar stereographic CRS)."""
    src = shared_data / NERSC
    with rasterio.open(src) as ds:
        gcps, gcp_crs = ds.gcps
        raw = ds.read(1)
    x, y = Transformer.from_crs(gcp_crs, JAK.epsg, always_xy=True).transform(
        np.mean([g.x for g in gcps]), np.mean([g.y for g in gcps])
    )
    region = dataclasses.replace(
        JAK, name="nersc", bounds=(x - 15000, y - 15000, x + 15000, y + 15000), pixel_size=50.0
    )
    info = ingest_to_region(src, region, tmp_path / "out.tif", polarisation="HV")
    with rasterio.open(tmp_path / "out.tif") as ds:
        out = ds.read(1)
    assert info.valid_fraction > 0.95  # the 30 km box lies inside the ~50 km crop
    finite = raw[np.isfinite(raw) & (raw > 0)]
    assert np.nanmedian(out) == pytest.approx(np.median(finite), rel=0.15)


def test_inspect_describes_gcp_only_and_scaled_rasters(tmp_path: Path, shared_data: Path, capsys) -> None:
    assert main(["inspect", str(shared_data / NERSC)]) == 0
    out = capsys.readouterr().out
    assert "GCPs only (104 in custom stere), about 40 m (fitted to the GCPs)" in out  # EW GRDM: 40 m
    assert "values:        float32" in out
    named = _on_grid(tmp_path / "S1A_IW_GRDH_1SDH_20200715T100000_x_db.tif", np.full(1, 9), "uint8")
    assert main(["inspect", str(named)]) == 0
    assert "range not declared: pass --value-range LO,HI" in capsys.readouterr().out


def test_8bit_needs_a_declared_range_and_is_descaled(tmp_path: Path) -> None:
    arr = np.zeros((JAK.height, JAK.width), dtype=np.uint8)
    arr[:, : JAK.width // 2] = 255
    arr[:, JAK.width // 2 :] = 128
    arr[:10] = 0  # nodata
    src = _on_grid(tmp_path / "q.tif", arr, "uint8")
    with pytest.raises(InputError, match="declare the range") as err:
        ingest_to_region(src, JAK, tmp_path / "out.tif")
    assert "\n" not in str(err.value) and str(src) in str(err.value)
    assert not (tmp_path / "out.tif").exists()
    info = ingest_to_region(src, JAK, tmp_path / "out.tif", units="db", value_range=(-30.0, 0.0))
    with rasterio.open(tmp_path / "out.tif") as ds:
        out = ds.read(1)
    assert np.isnan(out[:10]).all()
    assert out[20, 0] == pytest.approx(1.0, rel=1e-5)  # 255 -> 0 dB
    assert out[20, -1] == pytest.approx(10 ** ((-30 + 128 / 255 * 30) / 10), rel=1e-5)
    assert "uint8 DN 1..255 descaled to -30..0" in info.history[-2]


def test_16bit_linear_range_from_a_tag(tmp_path: Path) -> None:
    src = _on_grid(tmp_path / "u16.tif", np.full(1, 32768), "uint16", VALUE_RANGE="0,0.5", UNITS="linear")
    ingest_to_region(src, JAK, tmp_path / "out.tif")
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert np.nanmedian(ds.read(1)) == pytest.approx(32768 / 65535 * 0.5, rel=1e-5)


def test_bad_range_and_int16_are_one_line_errors(tmp_path: Path) -> None:
    src = _on_grid(tmp_path / "q.tif", np.full(1, 7), "uint8")
    with pytest.raises(InputError, match="HI must be greater"):
        ingest_to_region(src, JAK, tmp_path / "out.tif", units="db", value_range="0,-30")
    with pytest.raises(InputError, match="not 'LO,HI'"):
        ingest_to_region(src, JAK, tmp_path / "out.tif", units="db", value_range="low,high")
    with pytest.raises(InputError, match="DEM applies to SAFE products only"):
        ingest_to_region(src, JAK, tmp_path / "out.tif", units="db", value_range="-30,0", dem=src)
    signed = _on_grid(tmp_path / "s.tif", np.full(1, 7), "int16")
    with pytest.raises(InputError, match="not a known scaled product"):
        ingest_to_region(signed, JAK, tmp_path / "out.tif")


def test_cli_value_range(tmp_path: Path, capsys) -> None:
    src = _on_grid(tmp_path / "q.tif", np.full(1, 200), "uint8")
    out = tmp_path / "out.tif"
    assert main(["ingest", str(src), str(out), "--region", "jakobshavn"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "declare the range" in err
    assert (
        main(["ingest", str(src), str(out), "--region", "jakobshavn", "--units", "db", "--value-range=-25,5"])
        == 0
    )
    with rasterio.open(out) as ds:
        assert np.nanmedian(ds.read(1)) == pytest.approx(10 ** ((-25 + 200 / 255 * 30) / 10), rel=1e-5)


def test_cli_value_range_takes_a_negative_range_as_its_own_argument(tmp_path: Path) -> None:
    """The help's example (``--value-range -30,0``) is a value, not an unknown option."""
    src = _on_grid(tmp_path / "q.tif", np.full(1, 200), "uint8")
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    assert (
        main(
            ["ingest", str(src), str(a), "--region", "jakobshavn", "--units", "db", "--value-range", "-25,5"]
        )
        == 0
    )
    assert (
        main(["ingest", str(src), str(b), "--region", "jakobshavn", "--units", "db", "--value-range=-25,5"])
        == 0
    )
    with rasterio.open(a) as x, rasterio.open(b) as y:
        np.testing.assert_array_equal(x.read(1), y.read(1))


def test_negative_lists_become_option_values_and_nothing_else_moves() -> None:
    from icecrack_assets.cli import negative_lists_as_values

    assert negative_lists_as_values(["ingest", "--value-range", "-30,0", "x"]) == [
        "ingest",
        "--value-range=-30,0",
        "x",
    ]
    assert negative_lists_as_values(["--looks", "-3"]) == ["--looks", "-3"]  # argparse reads these itself
    assert negative_lists_as_values(["--a=1", "-30,0"]) == ["--a=1", "-30,0"]
    assert negative_lists_as_values(["--", "-30,0"]) == ["--", "-30,0"]
