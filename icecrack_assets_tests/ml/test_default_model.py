"""The shipped default model and what makes it portable: robust normalisation, pixel spacing,
the multi-source mixing, and suite d's field-level metrics."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import rasterio
import torch

from icecrack_assets.cli import main
from icecrack_assets.errors import IceCrackError, InputError
from icecrack_assets.ml.bundle import load_bundle, save_bundle
from icecrack_assets.ml.evaluation.fields import BACKGROUND, FIELD, STREAM, field_counts, field_metrics
from icecrack_assets.ml.inference import predict_probability
from icecrack_assets.ml.multisource import IGNORE, MixConfig, MixedSampler, TrainTile, resample_tile
from icecrack_assets.ml.normalise import ROBUST_NORMALISATION, normalise, scene_stats
from icecrack_assets.ml.postprocess import PROBABILITY_STEP
from icecrack_assets.ml.scaled import predict_scene, target_spacing
from icecrack_assets.ml.shipped import default_model_path
from icecrack_assets.ml.unet import UNet, UNetConfig
from icecrack_assets_tests.helpers.pretraining import tiny_pretrain
from icecrack_assets_tests.helpers.rasters import gcp_points, write_gcp_only_raster, write_plain_raster

SPACING = {"nominal_m": 20.0, "min_m": 20.0, "max_m": 40.0}


def _speckled(shape=(96, 112), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = 0.05 * rng.gamma(4.0, 0.25, shape).astype(np.float32)
    x[20:24, :] *= 8.0  # a bright line
    x[:5, :7] = np.nan
    return x


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    torch.manual_seed(0)
    model = UNet(UNetConfig(depth=1, width=4, stem=2))
    path = save_bundle(
        tmp_path_factory.mktemp("models"),
        model.eval(),
        dict(ROBUST_NORMALISATION),
        {"filter": "none"},
        0.5,
        {"source": "test"},
        {},
        extra={"pixel_size": SPACING},
    )
    return load_bundle(path, device="cpu")


def test_robust_normalisation_ignores_a_calibration_offset_and_a_db_gain():
    x = _speckled()
    a = normalise(x, ROBUST_NORMALISATION)
    assert np.allclose(a, normalise(x * 10**0.3, ROBUST_NORMALISATION), atol=1e-5)  # +3 dB
    # an unknown dB gain (8-bit or rescaled dB products) changes the spread, not the input
    assert np.allclose(a, normalise(x**1.7, ROBUST_NORMALISATION), atol=1e-4)
    assert a[0, 0] == 0.0 and np.abs(a).max() <= 1.0  # nodata is the fill value
    s = scene_stats(x)
    assert s["spread_db"] >= ROBUST_NORMALISATION["min_spread_db"]


def test_predict_is_invariant_to_a_calibration_offset(tiny_bundle):
    x = _speckled()
    p0 = predict_probability(tiny_bundle, x)
    p3 = predict_probability(tiny_bundle, x * 10**0.3)
    assert np.allclose(p0, p3, atol=1e-5, equal_nan=True)


def test_spacing_rule():
    assert target_spacing(10.0, SPACING) == 20.0
    assert target_spacing(40.0, SPACING) is None
    assert target_spacing(30.0, SPACING) is None
    assert target_spacing(80.0, SPACING) == 40.0
    assert target_spacing(None, SPACING) is None and target_spacing(10.0, None) is None


@pytest.mark.parametrize("pixel", [10.0, 40.0])
def test_predict_writes_on_the_input_grid(tiny_bundle, tiny_raster, tmp_path, pixel):
    src = tiny_raster(_speckled(), name=f"in{pixel:.0f}.tif", pixel=pixel)
    res = predict_scene(tiny_bundle, src, tmp_path / "m.tif", tmp_path / "p.tif")
    assert res.predicted_at_m == (20.0 if pixel == 10.0 else 40.0)
    with (
        rasterio.open(src) as a,
        rasterio.open(tmp_path / "m.tif") as m,
        rasterio.open(tmp_path / "p.tif") as p,
    ):
        assert m.shape == p.shape == a.shape
        assert m.transform == p.transform == a.transform and m.crs == a.crs
        mask = m.read(1)
        assert (mask[:5, :7] == 255).all() and set(np.unique(mask)) <= {0, 1, 255}
        prob = p.read(1)
        assert np.isnan(prob[:5, :7]).all()
        # resampled back or not, the probability is published alike: a COG in steps of 1/4096
        assert p.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        steps = prob[np.isfinite(prob)] / PROBABILITY_STEP
        assert np.array_equal(steps, np.round(steps))
    assert sorted(f.name for f in tmp_path.iterdir() if f.name.startswith(".")) == []  # no scratch left


def test_predict_maps_a_gcp_only_raster_in_its_own_geometry_and_keeps_its_gcps(
    tiny_bundle, tmp_path, recwarn
):
    src = write_gcp_only_raster(tmp_path / "radar.tif", _speckled(), dlat=3.6e-4)
    res = predict_scene(tiny_bundle, src, tmp_path / "m.tif", tmp_path / "p.tif")
    # its spacing, fitted from the GCPs (about 40 x 40 m), lies in the model's range: predicted as it is
    assert res.pixel_size_m is not None and 39 < res.pixel_size_m < 41
    assert res.predicted_at_m == res.pixel_size_m
    with rasterio.open(src) as a:
        for out in ("m.tif", "p.tif"):
            with rasterio.open(tmp_path / out) as o:
                assert o.shape == a.shape and o.crs is None and o.gcps[1] == a.gcps[1]
                assert gcp_points(o) == gcp_points(a)
    with rasterio.open(tmp_path / "m.tif") as m:
        mask = m.read(1)
    assert (mask[:5, :7] == 255).all() and set(np.unique(mask)) <= {0, 1, 255}
    assert not [w for w in recwarn if "Georeferenced" in type(w.message).__name__]
    # resampling needs a map grid: refused in one line, nothing written
    with pytest.raises(InputError, match="radar.tif: at 5 m it needs resampling.*placed only by GCPs"):
        predict_scene(tiny_bundle, src, tmp_path / "m5.tif", pixel_size=5.0)
    assert not (tmp_path / "m5.tif").exists()


def test_gcp_only_raster_finer_than_the_model_is_refused_not_predicted_at_the_wrong_scale(
    tiny_bundle, tmp_path
):
    src = write_gcp_only_raster(tmp_path / "fine.tif", _speckled(), dlon=1.5e-4, dlat=6e-5)  # about 6 x 7 m
    with pytest.raises(
        InputError,
        match=r"fine.tif: at 6\.\d+ m it needs resampling to the model.s 20 m.*placed only by GCPs",
    ):
        predict_scene(tiny_bundle, src, tmp_path / "m.tif")
    assert not (tmp_path / "m.tif").exists()


def test_predict_cli_maps_a_real_gcp_only_ew_crop(shared_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "root"))
    src = shared_data / "s1-ew-grdm-seaice-nersc" / "S1A_EW_GRDM_1SDH_20161005T142446.tif"
    out = tmp_path / "mask.tif"
    assert main(["predict", str(src), str(out)]) == 0
    assert "crack pixels" in capsys.readouterr().out
    with rasterio.open(src) as a, rasterio.open(out) as m:
        assert (
            m.shape == a.shape
            and len(gcp_points(a)) > 0
            and gcp_points(m) == gcp_points(a)
            and m.gcps[1] == a.gcps[1]
        )


def test_predict_cli_maps_a_plain_image_on_its_pixel_grid_once_given_its_spacing(
    tiny_raster, tmp_path, capsys, monkeypatch, recwarn
):
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "root"))
    arr = _speckled((96, 112), seed=5)
    plain = write_plain_raster(tmp_path / "plain.tif", arr)
    out, prob = tmp_path / "m.tif", tmp_path / "p.tif"
    # without a spacing the model cannot know its scale: one line naming the file and the flag
    assert main(["predict", str(plain), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "plain.tif: has no CRS or GCPs" in err and "--pixel-size" in err and "\n" not in err
    assert not out.exists()
    # a spacing outside the model's range needs resampling, which needs a map grid: refused
    assert main(["predict", str(plain), str(out), "--pixel-size", "5"]) == 2
    assert "needs resampling" in capsys.readouterr().err and not out.exists()
    assert main(["predict", str(plain), str(out), "--pixel-size", "20", "--probabilities", str(prob)]) == 0
    assert "not georeferenced, like the input" in capsys.readouterr().out
    assert not [w for w in recwarn if "Georeferenced" in type(w.message).__name__]
    # the same pixels georeferenced at 20 m give the same map: only the placement is missing
    placed = tiny_raster(arr, name="placed.tif", pixel=20.0, nodata=float("nan"))
    assert main(["predict", str(placed), str(tmp_path / "pm.tif")]) == 0
    with rasterio.open(out) as m, rasterio.open(prob) as p, rasterio.open(tmp_path / "pm.tif") as ref:
        for o in (m, p):
            assert o.shape == arr.shape and o.crs is None and not o.gcps[0] and o.transform.is_identity
        np.testing.assert_array_equal(m.read(1), ref.read(1))
        assert (m.read(1)[:5, :7] == 255).all()


@pytest.mark.parametrize("pixel", [20.0, 5.0])  # on the input's grid, and resampled to the model's and back
def test_predict_cli_keeps_only_pixels_inside_an_ice_outline(
    pixel, tiny_raster, tmp_path, capsys, monkeypatch
):
    import geopandas as gpd
    from shapely.geometry import box

    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "root"))
    arr = _speckled((96, 112), seed=6)
    src = tiny_raster(arr, name="in.tif", pixel=pixel, nodata=float("nan"))
    with rasterio.open(src) as ds:
        left, bottom, right, top = ds.bounds
    split = left + 50 * pixel  # ice: the 50 columns on the left
    outline = tmp_path / "ice.gpkg"
    gpd.GeoDataFrame(geometry=[box(left - 100, bottom - 100, split, top + 100)], crs="EPSG:3413").to_crs(
        "EPSG:4326"
    ).to_file(outline)  # in another CRS: reprojected to the input's
    assert main(["predict", str(src), str(tmp_path / "all.tif")]) == 0
    capsys.readouterr()
    argv = ["predict", str(src), str(tmp_path / "ice.tif"), "--probabilities", str(tmp_path / "p.tif")]
    assert main([*argv, "--ice-outline", str(outline)]) == 0
    assert f"only inside {outline}" in capsys.readouterr().out
    with rasterio.open(tmp_path / "all.tif") as a, rasterio.open(tmp_path / "ice.tif") as m:
        full, iced = a.read(1), m.read(1)
    with rasterio.open(tmp_path / "p.tif") as p:
        prob = p.read(1)
    # a reprojected straight edge may bend by a fraction of a pixel: keep 2 columns clear of it
    assert (iced[:, 52:] == 255).all() and np.isnan(prob[:, 52:]).all()
    np.testing.assert_array_equal(iced[:, :48], full[:, :48])  # inside, the map is the map without it
    assert np.isfinite(prob[5:, :48]).all()


def test_predict_cli_ice_outline_errors_are_one_line(tiny_raster, tmp_path, capsys, monkeypatch):
    import geopandas as gpd
    from shapely.geometry import Point

    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "root"))
    src = tiny_raster(_speckled(), name="in.tif", nodata=float("nan"))
    points = tmp_path / "points.gpkg"
    gpd.GeoDataFrame(geometry=[Point(0, 0)], crs="EPSG:4326").to_file(points)
    elsewhere = tmp_path / "elsewhere.gpkg"  # Antarctica, for a Greenland input
    gpd.GeoDataFrame(geometry=[Point(0, -80).buffer(1)], crs="EPSG:4326").to_file(elsewhere)
    plain = write_plain_raster(tmp_path / "plain.tif", _speckled())
    cases = [
        ([str(src), "--ice-outline", str(tmp_path / "nope.gpkg")], "nope.gpkg: ice outline not found"),
        ([str(src), "--ice-outline", str(points)], "points.gpkg: ice outline holds no polygons"),
        ([str(plain), "--pixel-size", "20", "--ice-outline", str(points)], "needs an input on a map grid"),
        ([str(src), "--ice-outline", str(elsewhere)], "elsewhere.gpkg: ice outline does not overlap"),
    ]
    for args, needle in cases:
        out = tmp_path / "o.tif"
        assert main(["predict", args[0], str(out), *args[1:]]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err and not out.exists()


def test_windowed_prediction_equals_whole_scene_with_scene_statistics(tiny_bundle, tiny_raster, tmp_path):
    src = tiny_raster(_speckled((150, 170), seed=3), name="w.tif", pixel=20.0)
    predict_scene(tiny_bundle, src, tmp_path / "a.tif", tmp_path / "pa.tif", block=64, tile=48, overlap=8)
    predict_scene(tiny_bundle, src, tmp_path / "b.tif", tmp_path / "pb.tif", block=4096, tile=48, overlap=8)
    with rasterio.open(tmp_path / "pa.tif") as a, rasterio.open(tmp_path / "pb.tif") as b:
        # both stored in steps of PROBABILITY_STEP: a value on a rounding edge may differ by one step
        assert np.allclose(a.read(1), b.read(1), atol=PROBABILITY_STEP * 1.01, equal_nan=True)


def test_resampling_truth_marks_partial_pixels_unknown():
    s = np.ones((40, 40), np.float32)
    t = np.zeros((40, 40), np.uint8)
    t[:, 10:14] = 1  # 4 px wide: at zoom 0.5 two full pixels wide
    t[:, 30] = 1  # 1 px wide: at zoom 0.5 half a pixel, unknown rather than a guess
    t[35:, :5] = IGNORE
    s2, t2 = resample_tile(s, t, 0.5)
    assert s2.shape == t2.shape == (20, 20)
    assert (t2[:, 5:7] == 1).all()
    assert (t2[:17, 15] == IGNORE).all() and not (t2[:, 15] == 1).any()
    assert (t2[19, :2] == IGNORE).all()


class _Fixed:
    def __init__(self, name, value):
        self.name, self.value = name, value

    def draw(self, rng, size, looks=None):
        s = np.full((size, size), self.value, np.float32) * rng.gamma(4, 0.25, (size, size)).astype(
            np.float32
        )
        t = np.zeros((size, size), np.uint8)
        t[size // 2, :] = 1
        return TrainTile(s, t, self.name, self.name, 4.0)


def test_mixing_sampler_draws_sources_in_the_documented_proportions():
    cfg = MixConfig(weights={"simulator": 0.75, "lai": 0.25}, tile=48, patch=32, crops_per_tile=2)
    sampler = MixedSampler({"simulator": _Fixed("simulator", 0.1), "lai": _Fixed("lai", 0.01)}, cfg, seed=1)
    names = sampler.choose(4000)
    assert abs(names.count("lai") / 4000 - 0.25) < 0.03
    x, y = sampler.batch(10)
    assert x.shape == y.shape == (10, 1, 32, 32) and x.dtype == np.float32
    assert np.abs(x).max() <= 1.0 and set(np.unique(y)) <= {0, 1, IGNORE}
    assert sum(sampler.drawn.values()) == 5  # two crops per drawn tile
    with pytest.raises(Exception, match="no source"):
        MixedSampler({"simulator": _Fixed("simulator", 0.1)}, cfg)


def _crop_knob(knob: str, share: float) -> tuple:
    """400 crops drawn without and with a per-crop knob of ``MixConfig`` (same seed), after
    checking that the knob refuses values that are not probabilities."""
    cfg = MixConfig(weights={"simulator": 1.0}, tile=48, patch=32, crops_per_tile=2)
    src = {"simulator": _Fixed("simulator", 0.1)}
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(IceCrackError, match=knob):
            MixedSampler(src, dataclasses.replace(cfg, **{knob: bad}))
    plain = MixedSampler(src, cfg, seed=3).batch(400)
    return plain, MixedSampler(src, dataclasses.replace(cfg, **{knob: share}), seed=3).batch(400)


def test_polarity_flip_negates_about_that_share_of_crops_and_nothing_else():
    plain, flipped = _crop_knob("polarity_flip", 0.3)
    assert np.array_equal(plain[1], flipped[1])  # labels and the draws behind them unchanged
    neg = np.all(flipped[0] == -plain[0], axis=(1, 2, 3))
    same = np.all(flipped[0] == plain[0], axis=(1, 2, 3))
    assert (neg | same).all() and 0.22 < neg.mean() < 0.38


def test_random_conv_changes_about_that_share_of_crops_and_no_label_or_other_draw():
    plain, conv = _crop_knob("random_conv", 0.3)
    assert np.array_equal(plain[1], conv[1])  # labels and the draws behind them unchanged
    changed = ~np.all(conv[0] == plain[0], axis=(1, 2, 3))
    assert 0.22 < changed.mean() < 0.38 and np.isfinite(conv[0]).all()


def test_random_convolution_keeps_the_crops_level_spread_and_nodata():
    from icecrack_assets.ml.augment import random_convolution

    rng = np.random.default_rng(0)
    x = rng.normal(0.2, 0.3, (64, 64)).astype(np.float32)
    x[:, 30:32] += 1.5  # a bright line
    x[:8] = 0.0  # nodata rows
    valid = x != 0.0
    outs = [random_convolution(x, valid, np.random.default_rng(s)) for s in range(20)]
    for out in outs:
        assert out.dtype == x.dtype and out.shape == x.shape and (out[~valid] == 0).all()
        # a convex mix of two maps with the crop's mean and spread: same mean, spread no larger
        assert abs(out[valid].mean() - x[valid].mean()) < 1e-3
        assert out[valid].std() <= x[valid].std() * 1.001
    assert len({round(float(o[valid].std()), 4) for o in outs}) > 10  # random filters and mixes
    # the line is still where it was in most draws: its columns stand out from their neighbours
    stands_out = [abs(o[8:, 30:32].mean() - o[8:, 20:24].mean()) > 0.2 for o in outs]
    assert sum(stands_out) >= 14


def test_bright_zones_enter_that_share_of_simulated_scenes_and_change_no_other_draw():
    from icecrack_assets.ml.multisource import SimulatorSource
    from icecrack_assets.ml.pretrain import PretrainConfig, _sources
    from icecrack_assets.simulator import random_background as rb

    def draws(share: float) -> list:
        src = SimulatorSource(exclude=("legacy",), bright_zones=share)
        rng = np.random.default_rng(5)
        return [src.draw(rng, 64) for _ in range(40)]

    none, some = draws(0.0), draws(0.5)
    with_zones = [(a, b) for a, b in zip(none, some, strict=True) if not np.array_equal(a.sigma0, b.sigma0)]
    assert 8 <= len(with_zones) <= 32  # about half the scenes (the zone can miss a 64 px window)
    for a, b in zip(none, some, strict=True):
        assert a.family == b.family  # the styles and scene seeds drawn are the same
        assert not (b.truth[a.truth != b.truth] == 1).any()  # a zone only takes cracks away
    mix = MixConfig(weights={"simulator": 1.0}, bright_zones=0.4)
    assert _sources(PretrainConfig(mix=mix), "train")["simulator"].bright_zones == 0.4
    assert rb.CLASS_NAMES[rb.BRIGHT_ZONE]
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(IceCrackError, match="bright_zones"):
            MixedSampler({"simulator": _Fixed("simulator", 0.1)}, dataclasses.replace(mix, bright_zones=bad))


def test_the_training_mix_passes_its_radiometry_weights_to_the_simulator(monkeypatch):
    from icecrack_assets.ml.multisource import MixConfig
    from icecrack_assets.ml.pretrain import PretrainConfig, _sources
    from icecrack_assets.simulator import randomised

    drawn = []
    real = randomised.sample_style

    def recording(rng, **kw):
        st = real(rng, **kw)
        drawn.extend(c.radiometry for c in st.cracks)
        return st

    monkeypatch.setattr(randomised, "sample_style", recording)
    mix = MixConfig(weights={"simulator": 1.0}, radiometry=(0, 0, 0, 1), exclude=("legacy",))
    src = _sources(PretrainConfig(mix=mix), "train")["simulator"]
    rng = np.random.default_rng(0)
    for _ in range(4):
        src.draw(rng, 64)
    assert drawn and set(drawn) == {"dark"}
    assert (
        _sources(PretrainConfig(mix=MixConfig(weights={"simulator": 1.0})), "train")["simulator"].radiometry
        is None
    )


def test_field_metrics_on_a_tiny_example():
    classes = np.full((20, 20), BACKGROUND, np.uint8)
    classes[:10, :10] = FIELD  # field 1: 100 px
    classes[15:, 15:] = FIELD  # field 2: 25 px
    classes[12, :] = STREAM  # 20 px
    classes[0, 19] = 0  # nodata
    mask = np.zeros((20, 20), np.uint8)
    mask[:10, 0] = 1  # 10 % of field 1
    mask[12, :2] = 1  # 10 % of the stream
    mask[19, 0] = 1  # one background pixel
    c = field_counts(mask, classes)
    assert c["field"] == [10, 125] and c["stream"] == [2, 20]
    m = field_metrics([c])
    assert m["fields"] == 2 and m["fields_hit_count"] == 1 and m["fields_hit"] == 0.5
    assert m["inside"] == pytest.approx(0.08)
    assert m["inside_over_streams"] == pytest.approx(0.8)
    bg = 1 / (400 - 125 - 20 - 1)
    assert m["inside_over_background"] == pytest.approx(0.08 / bg)
    pooled = field_metrics([c, field_counts(np.zeros_like(mask), classes)])
    assert pooled["fields"] == 4 and pooled["inside"] == pytest.approx(0.04)


def test_the_package_ships_a_default_model_and_predict_uses_it(tiny_raster, tmp_path, monkeypatch):
    shipped = default_model_path()
    assert shipped is not None, "icecrack_assets/ml/default_model/ is missing from the package"
    meta = json.loads((shipped / "bundle.json").read_text())
    assert meta["pixel_size"]["nominal_m"] > 0 and meta["normalisation"]["kind"] == "robust-db"
    assert (shipped / "weights.pt").stat().st_size < 8 * 2**20
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "fresh"))  # no bundle under it
    src = tiny_raster(_speckled(), name="fresh.tif", pixel=10.0)
    assert main(["predict", str(src), str(tmp_path / "out.tif")]) == 0
    with rasterio.open(tmp_path / "out.tif") as ds, rasterio.open(src) as a:
        assert ds.shape == a.shape and ds.transform == a.transform


def test_predict_threshold_and_component_size_override_the_bundle(tiny_raster, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "fresh"))
    src = tiny_raster(_speckled(shape=(128, 128)), name="in.tif", pixel=20.0)
    flagged = {}
    for name, extra in (
        ("low", ["--threshold", "0.05"]),
        ("high", ["--threshold", "0.99", "--min-component", "4"]),
    ):
        assert main(["predict", str(src), str(tmp_path / f"{name}.tif"), *extra]) == 0
        assert f"threshold {float(extra[1]):.2f}" in capsys.readouterr().out
        with rasterio.open(tmp_path / f"{name}.tif") as ds:
            flagged[name] = int((ds.read(1) == 1).sum())
    assert flagged["low"] > flagged["high"]
    for bad in (["--threshold", "1.5"], ["--min-component", "-1"]):
        assert main(["predict", str(src), str(tmp_path / "bad.tif"), *bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and bad[0] in err[0] and not (tmp_path / "bad.tif").exists()


def test_pretraining_checkpoints_resumes_and_refuses_another_configuration(tmp_path):
    from icecrack_assets.ml.pretrain import CHECKPOINT, pretrain
    from icecrack_assets.simulator.randomised import RANDOM_SIMULATOR_VERSION

    cfg = tiny_pretrain(max_steps=3, mix_extra={"resample_prob": 0.5})
    logs: list[str] = []
    first = pretrain(cfg, tmp_path / "models", tmp_path / "ck", log=logs.append)
    ck = torch.load(tmp_path / "ck" / CHECKPOINT, weights_only=False)
    assert ck["state"]["step"] == 3
    meta = json.loads((first / "bundle.json").read_text())
    assert meta["pixel_size"] == {"nominal_m": 20.0, "min_m": 10.0, "max_m": 50.0}
    assert meta["normalisation"]["kind"] == "robust-db" and meta["lineage"]["steps"] == 3
    assert meta["lineage"]["simulator_version"] == RANDOM_SIMULATOR_VERSION
    # the threshold is the operating tiles' F1-optimal point (the rule is recorded), not break-even
    points = meta["metrics"]["operating_points"]
    assert meta["metrics"]["operating_point"] == "f1" == meta["lineage"]["pretrain_config"]["operating_point"]
    assert set(points) == {"break-even", "f1"}
    assert meta["threshold"] == points["f1"]["threshold"]
    assert meta["postprocess"]["min_component"] == points["f1"]["min_component"]
    assert meta["lineage"]["operating_tiles"].startswith("2 fixed tiles")
    # the same command again resumes (more steps allowed), it does not start over
    pretrain(dataclasses.replace(cfg, max_steps=5), tmp_path / "models", tmp_path / "ck", log=logs.append)
    assert any("resuming" in m and "step 3" in m for m in logs)
    assert torch.load(tmp_path / "ck" / CHECKPOINT, weights_only=False)["state"]["step"] == 5
    with pytest.raises(IceCrackError, match="different configuration"):
        pretrain(dataclasses.replace(cfg, width=8), tmp_path / "models", tmp_path / "ck", log=logs.append)
    with pytest.raises(IceCrackError, match="operating point"):
        pretrain(dataclasses.replace(cfg, operating_point="f2"), tmp_path / "m2", tmp_path / "ck2")
    with pytest.raises(IceCrackError, match="operating_tiles must be 1 or more, got 0"):
        pretrain(dataclasses.replace(cfg, operating_tiles=0), tmp_path / "m3", tmp_path / "ck3")
    assert not (tmp_path / "m3").exists()  # refused before anything is written
    with pytest.raises(IceCrackError, match="its U-Net is depth/width/stem") as err:
        pretrain(
            dataclasses.replace(cfg, init=str(first), width=cfg.width * 2), tmp_path / "m4", tmp_path / "ck4"
        )
    assert str(first) in str(err.value) and not (tmp_path / "ck4").exists()


def test_a_run_killed_and_resumed_learns_exactly_what_the_uninterrupted_run_learns(tmp_path, monkeypatch):
    from icecrack_assets.ml import pretrain as p

    # every sampler draw is exercised: resampling, polarity flips, random convolutions
    mix = {"resample_prob": 0.5, "polarity_flip": 0.5, "random_conv": 0.5}
    cfg = dataclasses.replace(tiny_pretrain(max_steps=6, mix_extra=mix), checkpoint_minutes=0.0)
    whole = p.pretrain(cfg, tmp_path / "m1", tmp_path / "ck1", log=lambda m: None)
    save = p._save_checkpoint

    def killed_after_step_3(path, state):
        save(path, state)
        if state["state"]["step"] == 3:
            raise KeyboardInterrupt  # the session ends here

    monkeypatch.setattr(p, "_save_checkpoint", killed_after_step_3)
    with pytest.raises(KeyboardInterrupt):
        p.pretrain(cfg, tmp_path / "m2", tmp_path / "ck2", log=lambda m: None)
    monkeypatch.setattr(p, "_save_checkpoint", save)
    logs: list[str] = []
    resumed = p.pretrain(cfg, tmp_path / "m2", tmp_path / "ck2", log=logs.append)
    assert any("resuming" in m and "step 3" in m for m in logs)
    a, b = (torch.load(d / p.CHECKPOINT, weights_only=False) for d in (tmp_path / "ck1", tmp_path / "ck2"))
    assert a["state"]["step"] == b["state"]["step"] == 6
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["state"]["families"] == b["state"]["families"]  # counted once each, across the resume
    assert sum(a["state"]["families"].values()) == 6 * int(np.ceil(cfg.batch_size / cfg.mix.crops_per_tile))
    m1, m2 = (json.loads((d / "bundle.json").read_text()) for d in (whole, resumed))
    assert m1["threshold"] == m2["threshold"]


def test_the_training_stream_is_the_same_with_any_number_of_workers_and_from_any_step():
    from icecrack_assets.ml.pretrain import _Stream

    cfg = dataclasses.replace(tiny_pretrain(max_steps=1, mix_extra={"polarity_flip": 0.5}), seed=3)

    def first(n: int, workers: int, start: int = 0) -> list:
        loader = torch.utils.data.DataLoader(_Stream(cfg, start=start), batch_size=None, num_workers=workers)
        return [x for (x, _, _), _ in zip(loader, range(n), strict=False)]

    serial, parallel, later = first(5, 0), first(5, 2), first(2, 0, start=3)
    assert all(torch.equal(a, b) for a, b in zip(serial, parallel, strict=True))
    assert torch.equal(later[0], serial[3]) and torch.equal(later[1], serial[4])
    assert not torch.equal(serial[0], serial[1])
    # each stage of a chain draws its own batches: stage 2 with stage 1's seed replays none of them
    other = dataclasses.replace(cfg, stage="stage 2")
    loader = torch.utils.data.DataLoader(_Stream(other), batch_size=None, num_workers=0)
    assert not torch.equal(next(iter(loader))[0], serial[0])


def test_every_stage_of_the_recipe_draws_a_stream_of_its_own():
    from icecrack_assets.ml import pretrain as p

    s1 = p.stage1_config()
    rounds = [p.stage1_continuation(s1, "init", r, round_=k) for k, r in enumerate(p.CONTINUE_ROUNDS)]
    s2 = p.field_finetune(rounds[-1], "init", "fields")
    keys = [tuple(p.stream_key(c.seed, c.stage)) for c in (s1, *rounds, s2)]
    assert len(set(keys)) == len(keys) == len(p.CONTINUE_ROUNDS) + 2


def test_step_interval_validation_runs_at_those_steps_whatever_the_clock(tmp_path):
    from icecrack_assets.ml.pretrain import pretrain

    cfg = dataclasses.replace(tiny_pretrain(max_steps=5), val_every_steps=2, val_every_minutes=0.0)
    logs: list[str] = []
    pretrain(cfg, tmp_path / "models", tmp_path / "ck", log=logs.append)
    # val_every_minutes 0 would validate after every step; the step interval overrides it
    assert [m.split(" (")[0] for m in logs if m.startswith("step ")] == ["step 2", "step 4"]


def test_the_recipe_budgets_are_steps_so_a_slower_machine_trains_as_much():
    from icecrack_assets.ml import pretrain as p

    assert p.STAGE1_STEPS > 0 and all(r.max_steps for r in p.CONTINUE_ROUNDS)
    assert p.FIELD_FINETUNE_STEPS > 0
    # no recipe stage stops on the clock before its steps on any plausible machine (a week)
    assert all(r.minutes >= p.NO_WALL_CLOCK_CAP for r in p.CONTINUE_ROUNDS)


def test_the_operating_point_is_tuned_on_the_operating_tiles_not_the_periodic_ones(tmp_path, monkeypatch):
    from icecrack_assets.ml import pretrain as pretrain_module

    seen: list[int] = []
    write = pretrain_module.write_default_bundle

    def spy(model, cfg, val, *args, **kwargs):
        seen.append(len(val))
        return write(model, cfg, val, *args, **kwargs)

    monkeypatch.setattr(pretrain_module, "write_default_bundle", spy)
    cfg = tiny_pretrain(max_steps=1, operating_tiles=3)
    pretrain_module.pretrain(cfg, tmp_path / "models", tmp_path / "ck", log=lambda m: None)
    assert seen == [3]


def test_the_shipped_models_use_their_recorded_validation_point():
    """Both shipped bundles sit at the point their recorded rule gave on their own validation
    tiles; the default model at the recipe's rule."""
    from icecrack_assets.ml.pretrain import PretrainConfig
    from icecrack_assets.ml.shipped import BASE_MODEL_DIR, DEFAULT_MODEL_DIR

    for d in (DEFAULT_MODEL_DIR, BASE_MODEL_DIR):
        meta = json.loads((d / "bundle.json").read_text())
        rule = meta["metrics"]["operating_point"]
        point = meta["metrics"]["operating_points"][rule]
        assert (meta["threshold"], meta["postprocess"]["min_component"]) == (
            point["threshold"],
            point["min_component"],
        )
        if d == DEFAULT_MODEL_DIR:  # tuned as the recipe tunes it now
            assert rule == PretrainConfig().operating_point
            assert meta["lineage"]["operating_tiles"].startswith(f"{PretrainConfig().operating_tiles} fixed")


def test_the_shipped_models_were_trained_on_the_current_simulator():
    """A simulator change that alters what is drawn (1.1: dunes at their physical scale) leaves the
    shipped weights trained on the old picture; bump the version and re-train, or this says so."""
    from icecrack_assets.ml.shipped import BASE_MODEL_DIR, DEFAULT_MODEL_DIR
    from icecrack_assets.simulator.randomised import RANDOM_SIMULATOR_VERSION

    for d in (DEFAULT_MODEL_DIR, BASE_MODEL_DIR):
        lineage = json.loads((d / "bundle.json").read_text())["lineage"]
        assert lineage.get("simulator_version") == RANDOM_SIMULATOR_VERSION, d.name


def test_generalisation_tables_render_every_suite():
    from icecrack_assets.ml.evaluation.generalisation import render_generalisation

    m = {"precision": 0.5, "recall": 0.4, "f1": 0.444, "iou": 0.3, "oa": 0.9, "crack_fraction": 0.01}
    pair = {"strict": m, "tol1": m}
    fields = field_metrics(
        [{"field": [5, 100], "background": [1, 900], "stream": [0, 10], "field_fractions": [0.05]}]
    )
    res = {
        "c": {
            "none": {
                "groups": {"dense fields": {"held_out": pair, "reference": pair}},
                "worst": 0.444,
                "mean": 0.444,
                "minutes": 6,
                "max_steps": 250,
            },
            "ppb": {"skipped": "too slow"},
        },
        "d": {"models": {"default": fields}, "ridge": {**fields, "threshold": 0.1}},
        "b_default": {
            "looks": 4.4,
            "ridge": pair,
            "default": {"scores": pair},
            "fine_tuned": {"mean": pair, "runs": [{"seed": 0, "scores": pair}]},
        },
    }
    md = render_generalisation(res)
    assert "| dense fields | 0.500 | 0.400 | 0.444 |" in md and "250 steps per model" in md
    assert "Input filter ppb: not run (too slow)" in md
    assert "| default | 5.00 % | 0.11 % | 0.00 % | 45.000 | inf | 1/1 (1.00) |" in md
    assert "default fine-tuned, mean of 1 seeds | 0.500 | 0.400 | 0.444 | 0.444 | +0.000 |" in md


def test_predict_passes_over_bundles_that_learnt_from_simulated_scenes_only(
    tiny_raster, tmp_path, monkeypatch, capsys
):
    """After the demo, `icecrack predict` on a user's scene uses the general model, not the demo's
    simulator-only fine-tune, unless that is named; a bundle with real labels is used."""
    from icecrack_assets.ml.shipped import ModelChoice, resolve_model

    root = tmp_path / "root"
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(root))
    models = root / "models"

    def bundle(sources: list[str], created: str):
        torch.manual_seed(len(created) + len(sources))  # other weights: another bundle name
        d = save_bundle(
            models,
            UNet(UNetConfig(depth=1, width=4)),
            {"kind": "db", "db_min": -30.0, "db_max": 5.0, "fill": 0.0},
            {"filter": "none"},
            0.5,
            {"label_sources": sources},
            {"val": {}},
        )
        meta = json.loads((d / "bundle.json").read_text())
        meta["created"] = created
        (d / "bundle.json").write_text(json.dumps(meta))
        return d

    shipped = default_model_path()
    annotated = bundle(["annotation:labels.gpkg", "simulator"], "2026-01-01T00:00:00")
    simulated = bundle(["simulator"], "2026-06-01T00:00:00")  # newer, but simulator only
    for name, text in (("broken", "{not json"), ("listed", "[]")):  # not bundles: passed over
        (models / name).mkdir()
        (models / name / "bundle.json").write_text(text)
    assert resolve_model(None, models) == ModelChoice(annotated)
    assert resolve_model(simulated, models) == ModelChoice(simulated)  # named: used
    shutil.rmtree(annotated)
    choice = resolve_model(None, models)
    assert choice.path == shipped and simulated.name in choice.note and "simulated" in choice.note
    src = tiny_raster(_speckled(), name="in.tif", pixel=20.0)
    assert main(["predict", str(src), str(tmp_path / "out.tif")]) == 0
    out = capsys.readouterr().out
    assert "model default_model" in out and f"--model {simulated}" in out


def test_stage1_continuation_trains_on_from_the_given_bundle_and_keeps_its_final_weights(tmp_path):
    from icecrack_assets.ml.bundle import read_bundle_json
    from icecrack_assets.ml.pretrain import (
        CONTINUE_LR,
        ContinueRound,
        pretrain,
        stage1_continuation,
    )

    cfg = tiny_pretrain(max_steps=2)
    first = pretrain(cfg, tmp_path / "models", tmp_path / "ck", name="stage1", log=lambda m: None)
    flipped = stage1_continuation(cfg, str(first), ContinueRound(5.0, max_steps=7, polarity_flip=0.3), 1)
    assert (flipped.max_steps, flipped.mix.polarity_flip, flipped.seed) == (7, 0.3, cfg.seed + 1)
    assert dataclasses.replace(flipped.mix, polarity_flip=0.0) == cfg.mix  # nothing else of the mix
    cont = stage1_continuation(cfg, str(first), ContinueRound(5.0, max_steps=2))
    assert (cont.lr, cont.keep_best, cont.mix) == (CONTINUE_LR, False, cfg.mix)
    logs: list[str] = []
    out = pretrain(cont, tmp_path / "models", tmp_path / "ck" / "continue", log=logs.append)
    assert any(f"starting from {first}" in m for m in logs)
    meta, start = read_bundle_json(out), read_bundle_json(first)
    assert meta["lineage"]["init"]["weights_sha256"] == start["weights_sha256"] != meta["weights_sha256"]
    assert meta["lineage"]["pretrain_config"]["keep_best"] is False


def test_training_uses_the_fused_optimiser_and_refuses_an_absent_gpu_before_writing(tmp_path):
    from icecrack_assets.errors import IceCrackError
    from icecrack_assets.ml.device import adamw
    from icecrack_assets.ml.pretrain import PretrainConfig, pretrain

    opt = adamw(torch.nn.Linear(2, 2).parameters(), 1e-3, torch.device("cpu"))
    assert opt.defaults["fused"] is True and opt.defaults["weight_decay"] == 1e-4
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: an absent GPU cannot be requested")
    with pytest.raises(IceCrackError, match="CUDA is not available"):
        pretrain(PretrainConfig(device="cuda", workers=0), tmp_path / "models", tmp_path / "ck")
    assert not (tmp_path / "ck").exists() and not (tmp_path / "models").exists()


def test_suite_groups_scores_the_default_model_and_a_given_base_on_suite_c_scenes(
    tiny_bundle, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path))
    out = tmp_path / "e.md"
    argv = [
        "evaluate",
        "--quick",
        "--suite",
        "groups",
        "--base-model",
        str(tiny_bundle.path),
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    res = json.loads(out.with_suffix(".json").read_text())["groups"]
    shipped, tiny = res["default model"], res["its base (no real tiles)"]
    assert shipped["bundle"] == str(default_model_path()) and tiny["bundle"] == str(tiny_bundle.path)
    for r in (shipped, tiny):
        f1s = [g["tol1"]["f1"] for g in r["groups"].values()]
        assert len(f1s) == 5 and r["worst"] == min(f1s) and r["mean"] == pytest.approx(np.mean(f1s))
    # the trained model finds simulated cracks; an untrained one at threshold 0.5 does not
    assert shipped["mean"] > tiny["mean"] + 0.2
    md = out.read_text()
    assert "| default model (" in md and md.count("| worst | mean | streams flagged |") == 1
    assert "|---|---|---|---|---|---|---|---|---|\n" in md


def test_groups_count_flagged_stream_pixels_outside_cracks_only(monkeypatch):
    from types import SimpleNamespace

    from icecrack_assets.ml.evaluation import generalisation as g
    from icecrack_assets.simulator.random_background import BACKGROUND, STREAM

    prob = np.zeros((32, 32), np.float32)
    prob[10:14, :] = 0.9  # a flagged band: 4 rows
    truth = np.zeros((32, 32), np.uint8)
    truth[12, :] = 1  # a crack inside the band: not a stream false alarm
    classes = np.full((32, 32), BACKGROUND, np.uint8)
    classes[8:13, :] = STREAM  # rows 8-12: 10 and 11 flagged, 12 is the crack, 8-9 not flagged
    monkeypatch.setattr(g, "predict_probability", lambda bundle, x: x)
    bundle = SimpleNamespace(threshold=0.5, min_component=1)
    scenes = [
        g.HeldoutScene("dense-field", prob, truth, classes),
        g.HeldoutScene("legacy", prob, truth, None),
    ]
    res = g.score_scenes(bundle, scenes)
    assert res["streams"] == {"flagged": 2 * 32, "pixels": 4 * 32}
    assert res["tol1"]["recall"] == 1.0


def test_evaluate_refuses_a_missing_base_model_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path))
    argv = [
        "evaluate",
        "--suite",
        "groups",
        "--base-model",
        str(tmp_path / "nope"),
        "--out",
        str(tmp_path / "e.md"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "nope" in err and "\n" not in err and not (tmp_path / "e.md").exists()


def test_radiometry_scenes_force_the_crack_radiometry_and_nothing_else():
    from scipy import ndimage

    from icecrack_assets.ml.evaluation.radiometry import radiometry_scenes

    def contrast(r):  # mean dB of crack pixels minus that of the ice 2-4 px beside them
        out = []
        for x, y in radiometry_scenes(r, 2, 128):
            db = 10 * np.log10(np.clip(x, 1e-6, None))
            crack = (y == 1) & np.isfinite(x)
            near = ndimage.binary_dilation(y == 1, iterations=4) & ~ndimage.binary_dilation(
                y == 1, iterations=1
            )
            out.append(db[crack].mean() - db[near & (y == 0) & np.isfinite(x)].mean())
        return float(np.mean(out))

    assert contrast("dark") < -1.0 < 1.0 < contrast("bright")
    a, b = radiometry_scenes("dark", 2, 64), radiometry_scenes("dark", 2, 64)
    assert all(np.array_equal(p[0], q[0], equal_nan=True) for p, q in zip(a, b))  # seeded


def test_suite_radiometry_reports_each_radiometry_and_a_best_f1_no_worse_than_its_own_point(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path))
    out = tmp_path / "r.md"
    assert main(["evaluate", "--quick", "--suite", "radiometry", "--out", str(out)]) == 0
    res = json.loads(out.with_suffix(".json").read_text())["radiometry"]["default model"]
    assert set(res["radiometries"]) == {"lit-far", "lit-near", "bright", "dark"}
    # the shipped threshold is one of the levels searched and keeps every component
    from icecrack_assets.ml.evaluation.radiometry import LEVELS

    assert res["threshold"] in LEVELS and load_bundle(default_model_path(), "cpu").min_component == 0
    for r in res["radiometries"].values():
        assert r["best_f1"] >= r["at_threshold"]["f1"] - 1e-9
    assert f"| default model ({res['threshold']:.2f}) |" in out.read_text()


def test_shipped_model_flags_almost_nothing_on_a_scene_of_pure_speckle_smaller_than_a_tile():
    """A 300-px scene is padded to the U-Net's multiple of 32: replicated edges drew stripes that
    the model flagged (1.95 % of the pixels, most in the last 30 rows and columns)."""
    from icecrack_assets.ml.postprocess import crack_mask

    bundle = load_bundle(default_model_path(), "cpu")
    x = np.random.default_rng(0).gamma(4.4, 1 / 4.4, (300, 300)).astype(np.float32)
    flagged = crack_mask(predict_probability(bundle, x), bundle.threshold, bundle.min_component) == 1
    assert flagged.mean() < 0.002
    assert flagged[-30:].mean() < 0.005 and flagged[:, -30:].mean() < 0.005


def test_predict_cli_refuses_a_scene_too_small_to_map(tiny_raster, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "root"))
    small = tiny_raster(_speckled((20, 112)), name="small.tif", pixel=20.0, nodata=float("nan"))
    out = tmp_path / "m.tif"
    assert main(["predict", str(small), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "small.tif: is 112 x 20 pixels; too small to map cracks" in err and "\n" not in err
    assert not out.exists()


@pytest.mark.parametrize("pixel", [20.0, 5.0])  # predicted as it is, and resampled to the model's and back
def test_predict_reads_dn_zero_of_an_integer_raster_as_nodata(
    pixel, tiny_raster, tmp_path, monkeypatch, capsys
):
    """An 8-bit quick-look's rotated-footprint corners (DN 0, no nodata declared) were valid, crack-free
    pixels in the mask and in the crack fraction."""
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "root"))
    dn = np.random.default_rng(3).integers(120, 200, (96, 112), dtype=np.uint8)
    dn[:30, :40] = 0
    src = tiny_raster(dn, name="dn.tif", pixel=pixel)
    out = tmp_path / "m.tif"
    assert main(["predict", str(src), str(out)]) == 0
    assert f"of {96 * 112 - 30 * 40} valid" in capsys.readouterr().out
    with rasterio.open(out) as m:
        mask = m.read(1)
    assert (mask[:28, :38] == 255).all() and (mask[40:, 50:] != 255).all()


def test_suite_c_runs_in_parts_on_the_same_scenes_and_one_reference(tiny_bundle, tmp_path, monkeypatch):
    """`--style-groups dense` trains the dense-held-out model and the reference only, scores the
    scenes a whole run scores for that group, and a later part reuses the reference."""
    from icecrack_assets.ml.evaluation import generalisation as g

    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path))
    trained: list[str] = []

    def short_model(cfg, name, exclude, log):  # a trained run's folder, without the training
        d = cfg.work_dir / f"c-{cfg.despeckle}-{name}" / "models"
        if not d.is_dir():
            trained.append(name)
            shutil.copytree(tiny_bundle.path, d / "unet-0")
        return d / "unet-0"

    scored: list[tuple[str, int]] = []
    real_scenes = g.group_scenes
    monkeypatch.setattr(g, "_short_model", short_model)
    monkeypatch.setattr(
        g,
        "group_scenes",
        lambda group, *a, **k: (
            scored.append((group, float(np.nansum(real_scenes(group, *a, **k)[0].x)))) or []
        ),
    )
    m = {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    monkeypatch.setattr(g, "score_scenes", lambda b, s: {"tol1": m, "strict": m})
    work = tmp_path / "work"
    argv = [
        "evaluate",
        "--quick",
        "--suite",
        "c",
        "--no-ablation",
        "--despeckle",
        "none",
        "--work",
        str(work),
    ]
    assert main([*argv, "--style-groups", "dense", "--out", str(tmp_path / "a.md")]) == 0
    assert trained == ["no-dense-field", "all"]
    assert "of the 1 groups run, not the whole suite" in (tmp_path / "a.md").read_text()
    dense_alone = scored[-1]
    assert main([*argv, "--style-groups", "margins", "dense", "--out", str(tmp_path / "b.md")]) == 0
    assert trained == ["no-dense-field", "all", "no-marginal-rift-tip"]  # the reference is reused
    scored.clear()
    assert main([*argv, "--out", str(tmp_path / "c.md")]) == 0  # every group
    assert [s[0] for s in scored] == list(g.FAMILY_GROUPS)
    assert dense_alone in scored  # same group, same scenes as in the whole run
    assert "not the whole suite" not in (tmp_path / "c.md").read_text()
    assert main([*argv, "--style-groups", "wide", "--out", str(tmp_path / "d.md")]) == 2
    # the CLI lists the groups without importing the suite (torch); both name the same ones
    from icecrack_assets.cli import build_parser

    evaluate = build_parser()._subparsers._group_actions[0].choices["evaluate"]
    (action,) = [a for a in evaluate._actions if a.dest == "style_groups"]
    assert list(action.choices) == list(g.GROUP_KEYS)


def test_the_model_card_describes_the_shipped_weights():
    """docs/model-card.md names the weights and threshold it describes: re-shipping a model without
    rewriting the card fails here."""
    from pathlib import Path

    from icecrack_assets.ml.shipped import DEFAULT_MODEL_DIR

    meta = json.loads((DEFAULT_MODEL_DIR / "bundle.json").read_text())
    card = (Path(__file__).resolve().parents[2] / "docs" / "model-card.md").read_text()
    assert meta["weights_sha256"] in card
    assert f"probability ≥ **{meta['threshold']:.2f}**" in card
    size = meta["pixel_size"]
    assert f"Pixel spacing {size['min_m']:.0f}–{size['max_m']:.0f} m" in card


def test_predict_cli_takes_an_ice_outline_through_the_gcps_of_a_radar_geometry_input(
    tiny_raster, tmp_path, capsys, monkeypatch
):
    """A GCP-only input (radar geometry, here mirrored as a descending pass is) is masked by a
    map-drawn ice outline where the outline lies on the ground, not where it would lie unmirrored."""
    import geopandas as gpd
    from shapely.geometry import box

    from icecrack_assets_tests.helpers.rasters import write_gcp_only_mirror

    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "root"))
    on_map = tiny_raster(_speckled((96, 112), seed=6), name="map.tif", pixel=20.0, nodata=float("nan"))
    with rasterio.open(on_map) as ds:
        left, bottom, right, top = ds.bounds
    outline = tmp_path / "ice.gpkg"  # ice: the map's 50 columns on the left
    gpd.GeoDataFrame(
        geometry=[box(left - 100, bottom - 100, left + 50 * 20, top + 100)], crs="EPSG:3413"
    ).to_file(outline)
    radar = write_gcp_only_mirror(on_map, tmp_path / "radar.tif")
    assert main(["predict", str(radar), str(tmp_path / "all.tif")]) == 0
    assert main(["predict", str(radar), str(tmp_path / "ice.tif"), "--ice-outline", str(outline)]) == 0
    assert f"only inside {outline}" in capsys.readouterr().out
    with rasterio.open(tmp_path / "all.tif") as a, rasterio.open(tmp_path / "ice.tif") as m:
        full, iced = a.read(1), m.read(1)
        assert m.gcps[0] and m.crs is None  # still in the input's geometry
    w = full.shape[1]
    assert (iced[:, : w - 52] == 255).all()  # mirrored: the ice is on the right here
    np.testing.assert_array_equal(iced[:, w - 48 :], full[:, w - 48 :])
