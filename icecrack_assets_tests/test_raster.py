import numpy as np
import pytest

from icecrack_assets.errors import InputError
from icecrack_assets.raster import (
    atomic_path,
    cog_options,
    gcp_spacing,
    iter_blocks,
    read_single_band,
    write_raster_atomic,
)
from icecrack_assets_tests.helpers.rasters import write_gcp_only_raster, write_plain_raster


def test_atomic_path_leaves_previous_file_when_writer_fails(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("good")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize("cog", [False, True])
def test_write_and_read_back_keeps_grid_and_nodata(tiny_raster, tmp_path, cog):
    src = tiny_raster(np.ones((40, 50), np.float32))
    arr = np.arange(2000, dtype=np.float32).reshape(40, 50)
    arr[0, 0] = np.nan
    _, profile = read_single_band(src)
    out = write_raster_atomic(tmp_path / "o.tif", arr, profile, tags={"A": "1"}, cog=cog)
    back, prof = read_single_band(out)
    assert np.isnan(back[0, 0]) and np.array_equal(back[1:], arr[1:])
    assert prof["crs"] == profile["crs"] and prof["transform"] == profile["transform"]


@pytest.mark.parametrize("dtype,predictor", [("float32", "3"), ("uint8", "2")])
def test_cogs_carry_the_shared_compression_and_the_dtypes_predictor(tiny_raster, tmp_path, dtype, predictor):
    import rasterio

    _, profile = read_single_band(tiny_raster(np.ones((40, 50), np.float32)))
    out = write_raster_atomic(tmp_path / "o.tif", np.ones((40, 50), dtype), profile, cog=True)
    with rasterio.open(out) as ds:
        structure = ds.tags(ns="IMAGE_STRUCTURE")
    assert structure["LAYOUT"] == "COG" and structure["COMPRESSION"] == "DEFLATE"
    assert structure["PREDICTOR"] == predictor == str(cog_options(dtype)["PREDICTOR"])


def test_bad_inputs_name_the_file_and_the_problem(tmp_path, tiny_raster):
    with pytest.raises(InputError, match="missing.tif: file does not exist"):
        read_single_band(tmp_path / "missing.tif")
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(InputError, match="empty.tif: file is empty"):
        read_single_band(tmp_path / "empty.tif")
    (tmp_path / "text.tif").write_text("not a tiff at all")
    with pytest.raises(InputError, match="text.tif: not a readable raster"):
        read_single_band(tmp_path / "text.tif")
    with pytest.raises(InputError, match="has 2 bands"):
        read_single_band(tiny_raster(np.ones((2, 8, 8), np.float32), name="two.tif"))
    with pytest.raises(InputError, match="is complex"):
        read_single_band(tiny_raster(np.ones((8, 8), np.complex64), name="c.tif"))


@pytest.mark.parametrize("h,w,block,halo", [(100, 70, 32, 5), (10, 10, 64, 3), (65, 64, 64, 0)])
def test_blocks_tile_the_image_exactly_once(h, w, block, halo):
    cover = np.zeros((h, w), int)
    for b in iter_blocks(h, w, block, halo):
        r, c = b.write.row_off, b.write.col_off
        cover[r : r + b.write.height, c : c + b.write.width] += 1
        inner_h = b.inner[0].stop - b.inner[0].start
        assert inner_h == b.write.height
        assert b.read.row_off + b.inner[0].start == r
        assert b.read.row_off >= 0 and b.read.row_off + b.read.height <= h
    assert (cover == 1).all()


def test_gcp_only_and_ungeoreferenced_rasters_get_one_line_errors_that_say_what_to_do(tmp_path, recwarn):
    import subprocess
    import sys
    from pathlib import Path

    gcp = write_gcp_only_raster(tmp_path / "gcp.tif", np.full((50, 60), 0.1, np.float32))
    with pytest.raises(InputError, match="gcp.tif: is georeferenced by GCPs only; warp it") as err:
        read_single_band(gcp)
    assert "\n" not in str(err.value)
    plain = write_plain_raster(tmp_path / "plain.tif", np.ones((8, 8), np.float32))
    recwarn.clear()
    with pytest.raises(InputError, match="plain.tif: has no CRS"):
        read_single_band(plain)
    assert not [w for w in recwarn if "Georeferenced" in type(w.message).__name__]  # no warning noise
    # the advice works: rio (installed with rasterio) warps it onto a map grid that reads
    rio = Path(sys.executable).parent / "rio"
    out = tmp_path / "warped.tif"
    cmd = [str(rio), "warp", str(gcp), str(out), "--dst-crs", "EPSG:3413"]
    subprocess.run(cmd + ["--src-nodata", "0", "--dst-nodata", "nan"], check=True, capture_output=True)
    arr, prof = read_single_band(out)
    assert prof["crs"].to_epsg() == 3413 and np.nanmax(arr) == pytest.approx(0.1)


def test_db_input_is_refused_with_a_conversion_that_works(tiny_raster, tmp_path, capsys, monkeypatch):
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    from icecrack_assets.cli import main
    from icecrack_assets.raster import DB_TO_LINEAR_ADVICE

    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "root"))
    rng = np.random.default_rng(2)
    linear = (0.05 * rng.gamma(4.0, 0.25, (64, 72))).astype(np.float32)
    db = tiny_raster(10 * np.log10(linear), name="db.tif", nodata=float("nan"))
    assert main(["despeckle", str(db), str(tmp_path / "d.tif"), "--looks", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "db.tif: 100% of pixels are negative: looks like dB" in err and DB_TO_LINEAR_ADVICE in err
    assert "\n" not in err and not (tmp_path / "d.tif").exists()
    # the advice, run as printed (IN and OUT filled in), gives linear sigma0 that the commands take
    out = tmp_path / "linear.tif"
    argv = shlex.split(
        DB_TO_LINEAR_ADVICE.split(": ", 1)[1].replace("IN.tif", str(db)).replace("OUT.tif", str(out))
    )
    assert argv[0] == "rio"
    subprocess.run([str(Path(sys.executable).parent / "rio"), *argv[1:]], check=True, capture_output=True)
    arr, _ = read_single_band(out)
    np.testing.assert_allclose(arr, linear, rtol=1e-5)
    assert main(["despeckle", str(out), str(tmp_path / "d.tif"), "--looks", "4"]) == 0


def test_gcp_spacing_is_the_ground_distance_between_neighbouring_pixels(tmp_path):
    import rasterio
    from pyproj import Geod

    path = write_gcp_only_raster(tmp_path / "gcp.tif", np.ones((50, 60), np.float32), dlon=1e-3, dlat=4e-4)
    geod = Geod(ellps="WGS84")
    across = geod.inv(-49.0, 69.2 - 25 * 4e-4, -49.0 + 60e-3, 69.2 - 25 * 4e-4)[2] / 60
    along = geod.inv(-49.0 + 30e-3, 69.2, -49.0 + 30e-3, 69.2 - 50 * 4e-4)[2] / 50
    with rasterio.open(path) as ds:
        assert gcp_spacing(ds) == pytest.approx(np.sqrt(across * along), rel=0.01)
    with rasterio.open(write_plain_raster(tmp_path / "plain.tif", np.ones((8, 8), np.float32))) as ds:
        assert gcp_spacing(ds) is None  # nothing to fit


def test_gcp_spacing_of_real_ew_grdm_crops_is_their_40_m(shared_data):
    import rasterio

    folder = shared_data / "s1-ew-grdm-seaice-nersc"
    for name in ("S1A_EW_GRDM_1SDH_20161005T142446.tif", "S1B_EW_GRDM_1SDH_20200123T120618.tif"):
        with rasterio.open(folder / name) as ds:  # GCPs in EPSG:4326 and in a polar stereographic CRS
            assert gcp_spacing(ds) == pytest.approx(40.0, abs=1.0)
