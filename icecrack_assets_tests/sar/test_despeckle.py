"""Despeckling front: settings, filters, block-wise files with halo, the CLI and the torch path."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import rasterio

from icecrack_assets.cli import main
from icecrack_assets.errors import IceCrackError, InputError
from icecrack_assets.sar.despeckle import filters
from icecrack_assets.sar.despeckle.files import FILTERS, DespeckleSettings, despeckle, despeckle_file
from icecrack_assets.sar.despeckle.ppb import ppb
from icecrack_assets_tests.helpers.rasters import gcp_points, write_gcp_only_raster


def _speckled(h: int, w: int, L: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    clean = np.where(xx < w // 2, 0.02, 0.2) * (1 + 0.3 * (yy > h // 2))
    return (clean * rng.gamma(L, 1.0 / L, size=(h, w))).astype(np.float32), clean


# --- settings -------------------------------------------------------------------------------


def test_settings_dict_and_fingerprint() -> None:
    s = DespeckleSettings(preset="reference")
    d = s.as_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["filter"] == "ppb" and d["hw"] == 10 and d["T"] == 0.2 and "window" not in d
    assert s.fingerprint() == DespeckleSettings(preset="reference").fingerprint()
    assert len(s.fingerprint()) == 12
    others = {
        DespeckleSettings(looks=4.4),
        DespeckleSettings(preset="reference", T=0.1),
        DespeckleSettings(preset="reference", staged=True),
        DespeckleSettings(filter="lee"),
        DespeckleSettings(filter="lee", window=5),
    }
    fps = {o.fingerprint() for o in others} | {s.fingerprint()}
    assert len(fps) == 6
    # parameters irrelevant to a baseline do not change its fingerprint
    assert (
        DespeckleSettings(filter="lee", hw=5).fingerprint() == DespeckleSettings(filter="lee").fingerprint()
    )
    assert json.dumps(DespeckleSettings(T=math.inf).as_dict())  # inf stays JSON-able


@pytest.mark.parametrize(
    "kw",
    [
        {"filter": "median"},
        {"looks": 0},
        {"looks": -1.0},
        {"hw": 0},
        {"alpha": 1.5},
        {"T": 0},
        {"window": 4},
        {"calibration": "x"},
    ],
)
def test_bad_settings_raise_user_errors(kw: dict) -> None:
    with pytest.raises(IceCrackError):
        DespeckleSettings(**kw)


# --- arrays ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILTERS)
def test_every_filter_keeps_nodata_and_reduces_speckle(name: str) -> None:
    img, clean = _speckled(48, 56)
    img[10:14, 5:20] = np.nan
    img[30, 30] = 0.0
    s = DespeckleSettings(filter=name, hw=4, hd=2, iterations=2)
    out = despeckle(img, s)
    assert out.dtype == np.float32 and out.shape == img.shape
    nodata = ~np.isfinite(img) | (np.nan_to_num(img) <= 0)
    assert np.isnan(out[nodata]).all() and np.isfinite(out[~nodata]).all()
    err_in = np.nanmean((img - clean) ** 2)
    err_out = np.nanmean((out - clean) ** 2)
    if name == "none":
        assert np.allclose(out[~nodata], img[~nodata])
    else:
        assert err_out < 0.5 * err_in, (name, err_out, err_in)


def test_explicit_valid_mask_overrides_values() -> None:
    img, _ = _speckled(32, 32)
    valid = np.ones(img.shape, bool)
    valid[:, :4] = False
    out = despeckle(img, DespeckleSettings(hw=3, hd=1, iterations=1), valid=valid)
    assert np.isnan(out[:, :4]).all() and np.isfinite(out[:, 4:]).all()


def test_gaussian_is_a_light_nodata_aware_smoothing_that_moves_no_edge() -> None:
    from scipy import ndimage

    img, clean = _speckled(48, 56)
    plain = filters.gaussian(img, 0.5)
    # away from the border and nodata it is the textbook Gaussian
    ref = ndimage.gaussian_filter(img.astype(np.float64), 0.5, mode="reflect")
    np.testing.assert_allclose(plain[4:-4, 4:-4], ref[4:-4, 4:-4], rtol=1e-5)
    assert np.nanmean((plain - clean) ** 2) < 0.7 * np.nanmean((img - clean) ** 2)
    holed = img.copy()
    holed[10:14, 5:20] = np.nan
    out = filters.gaussian(holed, 0.5)
    assert np.isnan(out[10:14, 5:20]).all() and np.isfinite(out[14:, :]).all()
    # a step stays where it was: symmetric weights put its half-way point on the same pixel edge
    step = np.where(np.arange(20) < 10, 1.0, 3.0)[None, :].repeat(8, 0)
    row = filters.gaussian(step, 0.5)[4]
    assert row[9] < 2.0 < row[10] and np.isclose(row[9] + row[10], 4.0)
    assert filters.gaussian_radius(0.5) == 2
    with pytest.raises(ValueError, match="sigma"):
        filters.gaussian(img, 0.0)


def test_refined_lee_keeps_an_edge_better_than_boxcar() -> None:
    img, clean = _speckled(64, 64, L=4.0, seed=3)
    edge = slice(28, 36)
    box = filters.boxcar(img, 7)
    rl = filters.refined_lee(img, 4.0, 7)
    err = lambda a: np.mean((a[:, edge] - clean[:, edge]) ** 2)  # noqa: E731
    assert err(rl) < err(box)


def test_scene_calibration_gives_larger_h_on_correlated_speckle() -> None:
    from icecrack_assets.sar.despeckle.files import scene_h
    from icecrack_assets.sar.despeckle.looks import h_white

    rng = np.random.default_rng(5)
    s = rng.gamma(1.0, 1.0, size=(257, 257))
    corr = (0.25 * (s[:-1, :-1] + s[1:, :-1] + s[:-1, 1:] + s[1:, 1:])).astype(np.float32)
    h = scene_h(corr, DespeckleSettings(looks=4.0, calibration="scene", preset="reference"))
    assert set(h) == {7} and h[7] > h_white(4.0, 7, 0.92)
    ref = dict(looks=4.0, preset="reference", hw=5, iterations=1)
    out_scene = despeckle(corr, DespeckleSettings(calibration="scene", **ref))
    out_white = despeckle(corr, DespeckleSettings(**ref))
    assert out_scene.var() < out_white.var()  # correlated speckle needs the wider h to be smoothed


def test_torch_path_matches_numba() -> None:
    pytest.importorskip("torch")
    img, _ = _speckled(30, 37, seed=4)
    img[3:6, 10:15] = np.nan
    kw = dict(hw=3, hd=1, iterations=2)
    a = despeckle(img, DespeckleSettings(**kw), backend="numba")
    b = despeckle(img, DespeckleSettings(**kw), backend="torch")
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = np.isfinite(a)
    assert np.max(np.abs(a[ok] - b[ok]) / a[ok]) < 1e-3


# --- files ----------------------------------------------------------------------------------


def test_blockwise_file_equals_whole_image(tiny_raster, tmp_path) -> None:
    img, _ = _speckled(70, 90, seed=6)
    img[0:5, 0:30] = np.nan  # nodata strip touching a border
    src = tiny_raster(img, name="in.tif", nodata=float("nan"))
    s = DespeckleSettings(preset="reference", hw=3, hd=1, iterations=2)  # halo 2 * (3 + 1) = 8
    stats = despeckle_file(src, tmp_path / "out.tif", s, block=24)
    assert stats.blocks == 12 and stats.halo == 8
    with rasterio.open(tmp_path / "out.tif") as ds:
        got = ds.read(1)
        assert ds.crs.to_epsg() == 3413 and ds.transform == rasterio.open(src).transform
        assert np.isnan(ds.nodata)
        assert json.loads(ds.tags()["despeckle"]) == s.as_dict()
    whole = despeckle(img, s)
    assert np.array_equal(np.isnan(got), np.isnan(whole))
    ok = np.isfinite(whole)
    assert np.max(np.abs(got[ok] - whole[ok]) / whole[ok]) < 1e-5
    assert 0.5 < stats.mean_ratio < 1.5 and stats.n_valid == int(ok.sum())


@pytest.mark.slow
def test_blockwise_equals_whole_at_default_settings(tiny_raster, tmp_path) -> None:
    img, _ = _speckled(150, 140, seed=7)
    src = tiny_raster(img, name="in.tif")
    # reference (halo 52) and the rule at 10.7 looks: equal up to float32 summation order, which
    # tiles of another size change; exp(-G/h) amplifies it as h shrinks with L (1/h ~ 20 at 10.7)
    for s, tol in ((DespeckleSettings(preset="reference"), 1e-5), (DespeckleSettings(looks=10.7), 1e-3)):
        despeckle_file(src, tmp_path / "out.tif", s, block=64)
        with rasterio.open(tmp_path / "out.tif") as ds:
            got = ds.read(1)
        whole = despeckle(img, s)
        assert np.max(np.abs(got - whole) / whole) < tol
    whole = ppb(img, 1.0)  # the reference preset is the plain call at the reference defaults
    np.testing.assert_array_equal(despeckle(img, DespeckleSettings(preset="reference")), whole)


def test_file_with_nodata_value_and_progress(tiny_raster, tmp_path) -> None:
    img, _ = _speckled(40, 40, seed=8)
    img[:5] = -9999.0
    src = tiny_raster(img, name="in.tif", nodata=-9999.0)
    seen: list[float] = []
    despeckle_file(src, tmp_path / "o.tif", DespeckleSettings(filter="lee"), block=16, progress=seen.append)
    with rasterio.open(tmp_path / "o.tif") as ds:
        out = ds.read(1)
    assert np.isnan(out[:5]).all() and np.isfinite(out[5:]).all()
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)


def test_bad_inputs_raise_input_errors(tiny_raster, tmp_path) -> None:
    s = DespeckleSettings(filter="boxcar")
    with pytest.raises(InputError, match="does not exist"):
        despeckle_file(tmp_path / "nope.tif", tmp_path / "o.tif", s)
    txt = tmp_path / "a.tif"
    txt.write_text("not a raster")
    with pytest.raises(InputError, match="not a readable raster"):
        despeckle_file(txt, tmp_path / "o.tif", s)
    two = tiny_raster(np.ones((2, 8, 8), np.float32), name="two.tif")
    with pytest.raises(InputError, match="2 bands"):
        despeckle_file(two, tmp_path / "o.tif", s)
    cplx = tiny_raster(np.ones((8, 8), np.complex64), name="c.tif")
    with pytest.raises(InputError, match="complex"):
        despeckle_file(cplx, tmp_path / "o.tif", s)
    db = tiny_raster(np.full((8, 8), -12.0, np.float32), name="db.tif")
    with pytest.raises(InputError, match="dB"):
        despeckle_file(db, tmp_path / "o.tif", s)
    assert not (tmp_path / "o.tif").exists()  # never a half-written output
    assert not list(tmp_path.glob(".o.tif*"))


# --- CLI ------------------------------------------------------------------------------------


def test_cli_despeckle_roundtrip_and_errors(tiny_raster, tmp_path, capsys) -> None:
    img, _ = _speckled(32, 32, seed=9)
    src = tiny_raster(img, name="in.tif")
    dst = tmp_path / "out.tif"
    rc = main(
        [
            "despeckle",
            str(src),
            str(dst),
            "--looks",
            "1",
            "--filter",
            "ppb",
            "--iterations",
            "1",
            "--hw",
            "3",
            "--hd",
            "1",
            "--quiet",
        ]
    )
    assert rc == 0 and dst.exists()
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert stats["settings"]["iterations"] == 1 and stats["filter"] == "ppb"
    for argv, needle in (
        ([str(tmp_path / "missing.tif"), str(dst), "--looks", "1"], "does not exist"),
        ([str(src), str(dst), "--looks", "0"], "--looks must be a positive"),
        ([str(src), str(dst), "--looks", "-2"], "--looks must be a positive"),
    ):
        rc = main(["despeckle", *argv, "--quiet"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and needle in err and len(err.splitlines()) == 1, err


def test_a_raster_placed_only_by_gcps_is_filtered_and_keeps_its_gcps(tmp_path, recwarn):
    """Despeckling is per pixel: a calibrated GRD in radar geometry needs no warp first."""
    rng = np.random.default_rng(0)
    speckled = 0.1 * rng.gamma(4.4, 1 / 4.4, (48, 64))
    src = write_gcp_only_raster(tmp_path / "radar.tif", speckled, lon0=60.0, lat0=-70.0)
    stats = despeckle_file(src, tmp_path / "out.tif", DespeckleSettings(filter="lee", looks=4.4), block=32)
    assert stats.enl_output > stats.enl_input
    with rasterio.open(src) as a, rasterio.open(tmp_path / "out.tif") as o:
        assert o.shape == a.shape and o.crs is None and o.gcps[1] == a.gcps[1]
        assert gcp_points(o) == gcp_points(a)
    assert not [w for w in recwarn if "Georeferenced" in type(w.message).__name__]
