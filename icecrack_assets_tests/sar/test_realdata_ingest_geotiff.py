"""GeoTIFF ingest: linear or dB in, linear sigma0 COG on the region grid out, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from icecrack_assets.errors import InputError
from icecrack_assets.regions import get_region
from icecrack_assets.sar.sentinel1.ingest import ingest_mask_to_region, ingest_to_region

JAK = get_region("jakobshavn")


def _region_array(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.gamma(4.4, 0.05 / 4.4, size=(JAK.height, JAK.width)).astype(np.float32)


def _write_on_grid(
    tiny_raster, arr, name="S1A_IW_GRDH_1SSH_20200715T100000_20200715T100025_033000_03D2A1_ABCD.tif", **kw
):
    return tiny_raster(
        arr, name=name, epsg=3413, origin=(JAK.bounds[0], JAK.bounds[3]), pixel=JAK.pixel_size, **kw
    )


def test_on_grid_linear_is_copied_losslessly_with_tags(tiny_raster, tmp_path: Path) -> None:
    arr = _region_array()
    arr[:10, :10] = np.nan
    src = _write_on_grid(
        tiny_raster,
        arr,
        tags={"LOOKS": "3.5", "POLARISATION": "HH", "ICECRACK_HISTORY": json.dumps(["simulated"])},
    )
    out = tmp_path / "out.tif"
    info = ingest_to_region(src, JAK, out)
    with rasterio.open(out) as ds:
        got = ds.read(1)
        tags = ds.tags()
        assert ds.crs.to_epsg() == 3413 and ds.transform == JAK.transform
        assert ds.overviews(1), "a COG carries overviews"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(arr))
    np.testing.assert_array_equal(got[np.isfinite(got)], arr[np.isfinite(arr)])
    assert tags["SCENE_ID"] == src.stem
    assert tags["POLARISATION"] == "HH" and float(tags["LOOKS"]) == 3.5 and tags["UNITS"] == "linear"
    hist = json.loads(tags["ICECRACK_HISTORY"])
    assert hist[0] == "simulated" and "copied" in hist[1]
    assert info.looks == 3.5 and info.valid_fraction == pytest.approx(np.isfinite(arr).mean())


def test_db_declared_by_tag_or_option_is_converted(tiny_raster, tmp_path: Path) -> None:
    lin = _region_array(1)
    db = (10 * np.log10(lin)).astype(np.float32)
    tagged = _write_on_grid(tiny_raster, db, name="tagged.tif", tags={"UNITS": "dB"})
    plain = _write_on_grid(tiny_raster, db, name="plain.tif")
    ingest_to_region(tagged, JAK, tmp_path / "a.tif")
    ingest_to_region(plain, JAK, tmp_path / "b.tif", units="db")
    for name in ("a.tif", "b.tif"):
        with rasterio.open(tmp_path / name) as ds:
            np.testing.assert_allclose(ds.read(1), lin, rtol=1e-5)
    assert ingest_to_region(plain, JAK, tmp_path / "b.tif", units="db").units_in == "db"


def test_undeclared_db_is_refused_not_misread(tiny_raster, tmp_path: Path) -> None:
    db = (10 * np.log10(_region_array(2))).astype(np.float32)
    src = _write_on_grid(tiny_raster, db, name="db.tif")
    with pytest.raises(InputError, match="negative.*--units db"):
        ingest_to_region(src, JAK, tmp_path / "out.tif")
    assert not (tmp_path / "out.tif").exists()


def test_reprojection_from_utm_keeps_constant_field_and_masks_outside(tiny_raster, tmp_path: Path) -> None:
    # A 10 m UTM 22N scene covering only the western half of the Jakobshavn AOI.
    from pyproj import Transformer

    to_utm = Transformer.from_crs(3413, 32622, always_xy=True)
    x0, y0 = to_utm.transform(JAK.bounds[0] - 2000, JAK.bounds[3] + 2000)
    x1, _ = to_utm.transform((JAK.bounds[0] + JAK.bounds[2]) / 2, JAK.bounds[3])
    w = int((x1 - x0) / 40)
    h = int(40000 / 40)
    src = tiny_raster(
        np.full((h, w), 0.25, np.float32),
        name="utm.tif",
        epsg=32622,
        origin=(x0, y0 + 2000),
        pixel=40.0,
        nodata=-1.0,
    )
    info = ingest_to_region(src, JAK, tmp_path / "out.tif", polarisation="hv")
    with rasterio.open(tmp_path / "out.tif") as ds:
        got = ds.read(1)
        assert ds.tags()["POLARISATION"] == "HV"
    finite = got[np.isfinite(got)]
    np.testing.assert_allclose(finite, 0.25, rtol=1e-6)
    assert 0.2 < info.valid_fraction < 0.8
    assert np.isnan(got[:, -5:]).all(), "the eastern edge is outside the footprint"
    assert "reprojected" in info.history[0]


def test_scene_outside_aoi_is_refused(tiny_raster, tmp_path: Path) -> None:
    src = tiny_raster(np.ones((20, 20), np.float32), name="far.tif", epsg=3413, origin=(0.0, 0.0))
    with pytest.raises(InputError, match="does not overlap the jakobshavn AOI"):
        ingest_to_region(src, JAK, tmp_path / "out.tif")
    assert not (tmp_path / "out.tif").exists()


def test_mask_nearest_uint8(tiny_raster, tmp_path: Path) -> None:
    mask = (np.random.default_rng(3).random((JAK.height, JAK.width)) < 0.1).astype(np.uint8)
    src = _write_on_grid(tiny_raster, mask, name="m.truth.tif")
    info = ingest_mask_to_region(src, JAK, tmp_path / "m.tif")
    with rasterio.open(tmp_path / "m.tif") as ds:
        assert ds.dtypes[0] == "uint8" and ds.nodata == 255
        np.testing.assert_array_equal(ds.read(1), mask)
    assert info.positive_fraction == pytest.approx(mask.mean())


def test_real_pyrosar_db_crop_is_refused_outside_polar_regions(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "s1-grd-pyrosar" / "S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif"
    with pytest.raises(InputError, match="does not overlap"):
        ingest_to_region(src, JAK, tmp_path / "out.tif", units="db")
