"""Training to a bundle, the bundle's round trip through ``icecrack predict``, products, CLI errors."""

from __future__ import annotations

import json
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import ndimage

from icecrack_assets.cli import main
from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.bundle import load_bundle
from icecrack_assets.ml.evaluation.synthetic import synthetic_scene
from icecrack_assets.ml.inference import predict_probability
from icecrack_assets.ml.products import write_crack_products
from icecrack_assets.ml.samples import SceneForSamples, build_samples
from icecrack_assets.ml.statistics import write_statistics
from icecrack_assets.ml.train import TrainConfig, scores_at, train_bundle, tune_postprocess


def _smooth(x):
    out = ndimage.uniform_filter(np.nan_to_num(x), 3).astype(np.float32)
    out[np.isnan(x)] = np.nan
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    scenes = []
    for s in range(4):
        sp, _, truth = synthetic_scene((256, 256), seed=s)
        scenes.append(
            SceneForSamples(f"syn{s}", "thwaites", 2020, None, truth, "simulator", image=_smooth(sp))
        )
    build_samples(scenes, root / "samples", patch=64, seed=0, max_per_scene=24, block_size=128, buffer=16)
    logs: list[str] = []
    cfg = TrainConfig(epochs=3, depth=2, width=8, batch_size=8, patience=5, max_minutes=2.0, device="cpu")
    res = train_bundle(
        [root / "samples"],
        root / "models",
        cfg,
        {"filter": "none"},
        {"partition": "thwaites|2020"},
        logs.append,
    )
    return res, logs, root


def test_training_writes_a_complete_bundle(trained):
    res, logs, root = trained
    meta = json.loads((res.bundle_dir / "bundle.json").read_text())
    assert meta["architecture"]["depth"] == 2 and meta["architecture"]["width"] == 8
    assert meta["normalisation"]["kind"] == "db" and meta["despeckle"] == {"filter": "none"}
    assert 0.0 < meta["threshold"] < 1.0 and meta["threshold"] == res.threshold
    lin = meta["lineage"]
    assert lin["partition"] == "thwaites|2020" and len(lin["sample_sha256"][0]) == 64 and lin["code_version"]
    for split in ("val", "test"):
        for kind in ("strict", "tol1"):
            assert set(meta["metrics"][split][kind]) >= {"precision", "recall", "f1", "iou", "oa"}
    assert meta["metrics"]["val"]["tol1"]["f1"] >= meta["metrics"]["val"]["strict"]["f1"]
    assert meta["weights_sha256"] == res.sha256
    # threshold and minimum component size were tuned together on validation and travel with the bundle
    assert meta["postprocess"]["min_component"] in TrainConfig().min_components
    assert meta["metrics"]["min_component"] == meta["postprocess"]["min_component"]
    assert load_bundle(res.bundle_dir).min_component == meta["postprocess"]["min_component"]
    assert any(line.startswith("epoch 1/3") for line in logs) and res.epochs_run >= 1
    assert not [p for p in res.bundle_dir.parent.iterdir() if p.name.startswith(".")]


def test_break_even_operating_point_balances_precision_and_recall():
    """The F1 optimum may buy precision with recall; the break-even point maximises the smaller one."""
    y = np.zeros((1, 1, 64, 64), np.uint8)
    prob = np.full(y.shape, 0.08, np.float32)  # background
    cracks = [(r, c) for c in range(4, 60, 8) for r in range(4, 60)][:100]
    levels = [0.9] * 70 + [0.6] * 15 + [0.02] * 15  # strong, medium, invisible cracks
    for (r, c), level in zip(cracks, levels):
        y[0, 0, r, c], prob[0, 0, r, c] = 1, level
    for k in range(24):  # false alarms between the strong and the medium cracks
        prob[0, 0, 2 + (k // 12) * 60, 2 + 5 * (k % 12)] = 0.75
    be = tune_postprocess(prob, y, (0,), 0, "break-even")
    f1 = tune_postprocess(prob, y, (0,), 0, "f1")
    s_be, s_f1 = scores_at(prob, y, be[0])["strict"], scores_at(prob, y, f1[0])["strict"]
    assert s_f1["precision"] == pytest.approx(1.0) and s_f1["recall"] == pytest.approx(0.70)
    assert s_be["recall"] == pytest.approx(0.85) and s_be["precision"] == pytest.approx(85 / 109, abs=1e-4)
    assert s_f1["f1"] > s_be["f1"]
    with pytest.raises(IceCrackError, match="operating point"):
        tune_postprocess(prob, y, (0,), 0, "f2")


def test_training_is_deterministic(trained, tmp_path):
    res, _, root = trained
    cfg = TrainConfig(epochs=3, depth=2, width=8, batch_size=8, patience=5, max_minutes=2.0, device="cpu")
    again = train_bundle(
        [root / "samples"], tmp_path, cfg, {"filter": "none"}, {"partition": "thwaites|2020"}, lambda s: None
    )
    assert again.sha256 == res.sha256


def test_fine_tuning_starts_from_the_bundles_weights(trained, tmp_path):
    res, _, root = trained
    src = load_bundle(res.bundle_dir, device="cpu")
    # a vanishing learning rate: the convolutions must stay the source bundle's, not a fresh init
    cfg = TrainConfig(
        epochs=1,
        depth=2,
        width=8,
        batch_size=8,
        max_minutes=2.0,
        device="cpu",
        lr=1e-12,
        init=str(res.bundle_dir),
        seed=5,
    )
    tuned = train_bundle([root / "samples"], tmp_path, cfg, {"filter": "none"}, {}, lambda s: None)
    new = load_bundle(tuned.bundle_dir, device="cpu")
    convs = [k for k, v in src.model.state_dict().items() if k.endswith("weight") and v.ndim == 4]
    assert convs
    for k in convs:
        assert np.allclose(new.model.state_dict()[k], src.model.state_dict()[k], atol=1e-6), k
    lin = json.loads((tuned.bundle_dir / "bundle.json").read_text())["lineage"]
    assert lin["init_bundle"] == str(res.bundle_dir) and lin["init_weights_sha256"] == res.sha256
    scratch = train_bundle(
        [root / "samples"],
        tmp_path / "scratch",
        replace(cfg, init=None),
        {"filter": "none"},
        {},
        lambda s: None,
    )
    k = convs[0]
    assert not np.allclose(
        load_bundle(scratch.bundle_dir, device="cpu").model.state_dict()[k],
        src.model.state_dict()[k],
        atol=1e-3,
    )


def test_fine_tuning_refuses_another_architecture(trained, tmp_path, capsys):
    res, _, root = trained
    cfg = TrainConfig(epochs=1, depth=3, width=8, device="cpu", init=str(res.bundle_dir))
    with pytest.raises(IceCrackError, match="architecture differs .*depth 2 vs 3"):
        train_bundle([root / "samples"], tmp_path, cfg, {"filter": "none"}, {}, lambda s: None)
    assert (
        main(["train", str(root / "samples"), "--init", str(tmp_path / "missing"), "--out", str(tmp_path)])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "missing" in err and "\n" not in err


def test_bundle_round_trip_through_predict_cli(trained, tiny_raster, tmp_path, capsys):
    res, _, _ = trained
    sp, _, truth = synthetic_scene((180, 210), seed=11)
    src = tiny_raster(_smooth(sp), name="scene.tif", epsg=3031, nodata=float("nan"))
    out, prob = tmp_path / "mask.tif", tmp_path / "prob.tif"
    rc = main(
        [
            "predict",
            str(src),
            str(out),
            "--model",
            str(res.bundle_dir),
            "--probabilities",
            str(prob),
            "--tile",
            "64",
            "--overlap",
            "16",
        ]
    )
    assert rc == 0
    assert "crack pixels" in capsys.readouterr().out
    bundle = load_bundle(res.bundle_dir)
    ref = predict_probability(bundle, _smooth(sp), tile=64, overlap=16)
    with rasterio.open(out) as ds:
        mask = ds.read(1)
        assert ds.crs.to_epsg() == 3031 and ds.nodata == 255
    with rasterio.open(prob) as ds:
        np.testing.assert_allclose(ds.read(1), ref, atol=1e-5)
    valid = np.isfinite(sp)
    np.testing.assert_array_equal(mask[valid], (ref[valid] >= bundle.threshold).astype(np.uint8))
    assert (mask[~valid] == 255).all()


def test_predict_uses_latest_bundle_from_data_root(trained, tiny_raster, tmp_path, monkeypatch):
    res, _, _ = trained
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(res.bundle_dir.parent.parent))
    src = tiny_raster(np.ones((40, 40), np.float32) * 0.1, name="flat.tif", epsg=3031)
    assert main(["predict", str(src), str(tmp_path / "m.tif")]) == 0
    assert (tmp_path / "m.tif").is_file()


@pytest.mark.parametrize("case", ["missing_input", "no_bundle", "bad_bundle", "same_file", "bad_tile"])
def test_predict_cli_errors_are_one_line(case, tiny_raster, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "empty_root"))
    src = tiny_raster(np.ones((20, 20), np.float32), name="in.tif", epsg=3031)
    args = {
        "missing_input": ["predict", str(tmp_path / "nope.tif"), str(tmp_path / "o.tif")],
        "no_bundle": ["predict", str(src), str(tmp_path / "o.tif")],
        "bad_bundle": ["predict", str(src), str(tmp_path / "o.tif"), "--model", str(tmp_path)],
        "same_file": ["predict", str(src), str(src)],
        "bad_tile": ["predict", str(src), str(tmp_path / "o.tif"), "--tile", "8"],
    }[case]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("icecrack predict: error:") and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "o.tif").exists()


def test_train_cli_without_samples_is_one_line_error(capsys):
    assert main(["train"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no sample directories" in err and "\n" not in err


def test_products_are_written_with_crs_and_consistent_stats(tmp_path):
    _, _, truth = synthetic_scene((300, 300), seed=1)
    prob = np.where(truth == 255, np.nan, truth * 0.9).astype(np.float32)
    prof = {
        "crs": "EPSG:3031",
        "transform": Affine(40, 0, -1600000, 0, -40, -440000),
        "width": 300,
        "height": 300,
    }
    r = write_crack_products(prob, prof, 0.5, tmp_path, "thwaites_2020", 40.0)
    for key in ("probability", "mask", "vectors", "density", "orientation", "preview"):
        assert (tmp_path / getattr(r.paths, key)).is_file()
    with rasterio.open(r.paths.probability) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and ds.crs.to_epsg() == 3031
    with rasterio.open(r.paths.density) as ds:
        dens = ds.read(1)
        assert ds.transform.a == 1000.0  # 1 km cells (25 px of 40 m)
    poly = gpd.read_file(r.paths.vectors, layer="polygons")
    lines = gpd.read_file(r.paths.vectors, layer="centrelines")
    assert poly.crs.to_epsg() == 3031 and len(poly) > 0 and len(lines) > 0
    assert poly.geometry.area.sum() / 1e6 == pytest.approx(r.stats.crack_area_km2, rel=1e-6)
    assert lines.geometry.length.sum() / 1000 == pytest.approx(r.stats.crack_length_km, rel=0.1)
    assert r.stats.density_km_per_km2 == pytest.approx(r.stats.crack_length_km / r.stats.valid_area_km2)
    assert np.nanmax(dens) > 0
    with rasterio.open(r["orientation"]) as ds:
        o = ds.read(1)
        assert np.nanmin(o) >= 0 and np.nanmax(o) < 180


def test_orientation_of_a_straight_line():
    from icecrack_assets.ml.density import density_orientation

    m = np.zeros((50, 50), bool)
    for i in range(50):
        m[49 - i, i] = True  # a line rising to the north-east: 45 degrees
    dens, orient, length = density_orientation(m, np.ones_like(m), 10.0, 50)
    assert orient[0, 0] == pytest.approx(45.0, abs=1.0)
    assert length == pytest.approx(49 * np.sqrt(2) * 10 / 1000, rel=1e-6)
    assert dens[0, 0] == pytest.approx(length / 0.25)


def test_density_change_is_against_the_previous_year_with_data(tmp_path, tiny_raster):
    rng = np.random.default_rng(0)
    db = (-9 + 3 * rng.normal(size=(64, 64))).astype(np.float32)  # season backscatter, dB
    same = {"coregistered": True, "backscatter": str(tiny_raster(db, name="bs.tif", epsg=3031))}
    recs = [
        {"region": "amery", "year": 2021, "density_km_per_km2": 0.5, **same},
        {"region": "amery", "year": 2019, "density_km_per_km2": 0.4, **same},
        {"region": "fimbul", "year": 2020, "density_km_per_km2": 0.2, **same},
    ]
    df, csv_path, png_path = write_statistics(recs, tmp_path)
    amery = df[df["region"] == "amery"].to_dict("records")
    assert [r["year"] for r in amery] == [2019, 2021]
    assert amery[1]["previous_year"] == 2019
    assert amery[1]["density_change"] == pytest.approx(0.1)
    assert amery[1]["density_change_relative"] == pytest.approx(0.25)
    assert np.isnan(amery[0]["density_change"])
    assert np.isnan(df[df["region"] == "fimbul"]["density_change"].iloc[0])
    assert csv_path.read_text().count("\n") == 4
    assert png_path.stat().st_size > 1000


def test_predict_applies_the_bundles_despeckling_with_the_scene_looks(trained, tiny_raster, tmp_path):
    from icecrack_assets.ml.bundle import save_bundle
    from icecrack_assets.ml.evaluation.suites import despeckle_settings
    from icecrack_assets.ml.inference import predict_file, settings_from_dict
    from icecrack_assets.sar.despeckle.files import despeckle

    res, _, _ = trained
    base = load_bundle(res.bundle_dir)
    settings = despeckle_settings("lee", None)
    assert settings["looks"] == "scene"
    d = save_bundle(tmp_path / "models", base.model, base.normalisation, settings, base.threshold, {}, {})
    bundle = load_bundle(d)
    sp, _, _ = synthetic_scene((130, 150), seed=7)
    src = tiny_raster(sp, name="raw.tif", epsg=3031, nodata=float("nan"), tags={"LOOKS": "4.4"})
    predict_file(bundle, src, tmp_path / "m.tif", tmp_path / "p.tif", block=64, tile=48, overlap=16)
    ref = predict_probability(bundle, despeckle(sp, settings_from_dict(settings, 4.4)), tile=48, overlap=16)
    with rasterio.open(tmp_path / "p.tif") as ds:
        np.testing.assert_allclose(ds.read(1), ref, atol=1e-5)
    untagged = tiny_raster(sp, name="raw2.tif", epsg=3031, nodata=float("nan"))
    from icecrack_assets.errors import IceCrackError

    with pytest.raises(IceCrackError, match="--looks"):
        predict_file(bundle, untagged, tmp_path / "m2.tif")
    assert not (tmp_path / "m2.tif").exists()


def test_products_drop_small_components_only(tmp_path):
    _, _, truth = synthetic_scene((200, 200), seed=2)
    prob = np.where(truth == 255, np.nan, truth * 0.9).astype(np.float32)
    far = ndimage.binary_dilation(truth != 0, iterations=3)
    (r1, c1), (r2, c2) = np.argwhere(~far)[[0, -1]]
    prob[r1, c1] = prob[r2, c2] = 0.95  # isolated specks
    prof = {
        "crs": "EPSG:3031",
        "transform": Affine(40, 0, -1600000, 0, -40, -440000),
        "width": 200,
        "height": 200,
    }
    a = write_crack_products(prob, prof, 0.5, tmp_path / "a", "s", 40.0)
    b = write_crack_products(prob, prof, 0.5, tmp_path / "b", "s", 40.0, min_component=4)
    with rasterio.open(a.paths.mask) as ma, rasterio.open(b.paths.mask) as mb:
        ka, kb = ma.read(1), mb.read(1)
        assert mb.tags()["min_component"] == "4"
    assert ka[r1, c1] == 1 and ka[r2, c2] == 1 and kb[r1, c1] == 0 and kb[r2, c2] == 0
    assert ((kb == 1) <= (ka == 1)).all() and ((kb == 255) == np.isnan(prob)).all()
    assert b.stats.crack_area_km2 < a.stats.crack_area_km2 and b.stats.min_component == 4


def test_calibration_on_whole_scenes_picks_the_best_point_and_rewrites_only_the_metadata(trained, tmp_path):
    import shutil

    from icecrack_assets.ml.calibrate import calibrate_bundle, scene_candidates
    from icecrack_assets.ml.metrics import crack_counts, metrics_from_counts, pool_counts
    from icecrack_assets.ml.postprocess import crack_mask

    res, _, _ = trained
    path = shutil.copytree(res.bundle_dir, tmp_path / "b")
    bundle = load_bundle(path)
    before = bundle.threshold
    scenes = [synthetic_scene((160, 200), seed=s) for s in (40, 41)]
    images, truths = [_smooth(sp) for sp, _, _ in scenes], [t for _, _, t in scenes]
    rec = calibrate_bundle(bundle, images, truths, "two synthetic scenes", tolerance=0)
    probs = [predict_probability(bundle, x) for x in images]

    def pooled_f1(thr, size):
        counts = [
            crack_counts(crack_mask(p, thr, size).astype(np.uint8), t, 0) for p, t in zip(probs, truths)
        ]
        return metrics_from_counts(pool_counts(counts))["f1"]

    # the candidates agree with the masks inference draws, and the chosen one is the best of them
    cands = scene_candidates(probs, truths, 0)
    for thr, size, m in cands[::17]:
        assert m["f1"] == pytest.approx(pooled_f1(thr, size))
    assert rec["val"]["f1"] == pytest.approx(pooled_f1(rec["threshold"], rec["min_component"]), abs=1e-5)
    assert rec["val"]["f1"] >= max(m["f1"] for _, _, m in cands) - 1e-5
    assert rec["previous"]["threshold"] == before and rec["n_scenes"] == 2
    # written through to bundle.json; the weights (and their checksum) are untouched
    again = load_bundle(path)
    assert (again.threshold, again.min_component) == (rec["threshold"], rec["min_component"])
    assert json.loads((path / "bundle.json").read_text())["calibration"]["source"] == "two synthetic scenes"
    assert not [p for p in path.iterdir() if p.name.startswith(".")]
    with pytest.raises(IceCrackError, match="one or more"):
        scene_candidates([], [], 0)


def test_calibrate_cli_writes_a_calibrated_copy_from_annotated_scenes(trained, tmp_path, capsys):
    from rasterio.features import shapes
    from shapely.geometry import box, shape

    from icecrack_assets.ml.calibrate import scenes_from_files
    from icecrack_assets_tests.helpers.rasters import write_tiny_raster

    res, _, _ = trained
    original = (res.bundle_dir / "bundle.json").read_bytes()
    sp, _, truth = synthetic_scene((160, 200), seed=50)
    img = write_tiny_raster(tmp_path / "val.tif", _smooth(sp).astype(np.float32), nodata=float("nan"))
    with rasterio.open(img) as ds:
        transform, crs = ds.transform, ds.crs
    polys = [shape(g) for g, v in shapes((truth == 1).astype(np.uint8), transform=transform) if v == 1]
    gpkg = tmp_path / "cracks.gpkg"
    gpd.GeoDataFrame({"kind": ["crack"] * len(polys)}, geometry=polys, crs=crs).to_file(gpkg)
    out = tmp_path / "calibrated"
    args = [
        "calibrate",
        str(res.bundle_dir),
        "--image",
        str(img),
        "--labels",
        str(gpkg),
        "--despeckled",
        "--out",
        str(out),
    ]
    for _ in range(2):  # re-running replaces the copy
        assert main(args) == 0
    said = capsys.readouterr().out
    meta = json.loads((out / "bundle.json").read_text())
    rec = meta["calibration"]
    assert f"-> {rec['threshold']:.2f}" in said and rec["source"] == str(img) and rec["n_scenes"] == 1
    assert load_bundle(out).threshold == rec["threshold"]
    assert (res.bundle_dir / "bundle.json").read_bytes() == original  # the original is never touched
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    # the annotations were burnt onto the scene grid: every labelled crack pixel is a crack
    _, ys = scenes_from_files(load_bundle(out), [img], [gpkg], despeckled=True)
    assert ys[0][truth == 1].min() == 1 and (ys[0] == 1).sum() < 3 * (truth == 1).sum()
    # annotations elsewhere, or an --out that is the bundle itself: one-line errors, nothing written
    far = tmp_path / "far.gpkg"
    gpd.GeoDataFrame({"kind": ["crack"]}, geometry=[box(0, 0, 100, 100)], crs=crs).to_file(far)
    for bad, expect in (
        ([str(far)], "no annotation overlaps"),
        ([str(tmp_path / "none.gpkg")], "does not exist"),
    ):
        argv = [
            "calibrate",
            str(res.bundle_dir),
            "--image",
            str(img),
            "--despeckled",
            "--out",
            str(tmp_path / "x"),
        ]
        assert main(argv + ["--labels", bad[0]]) == 2
        err = capsys.readouterr().err.strip()
        assert expect in err and "\n" not in err and not (tmp_path / "x").exists()
    assert (
        main(
            [
                "calibrate",
                str(res.bundle_dir),
                "--image",
                str(img),
                "--labels",
                str(gpkg),
                "--out",
                str(res.bundle_dir),
            ]
        )
        == 2
    )
    assert "overwrite the original" in capsys.readouterr().err


def test_calibration_scenes_get_the_bundles_despeckling_and_need_their_looks(trained, tmp_path):
    import shutil

    from shapely.geometry import box

    from icecrack_assets.ml.calibrate import scenes_from_files
    from icecrack_assets.ml.evaluation.suites import despeckle_settings
    from icecrack_assets.sar.despeckle.files import DespeckleSettings, despeckle
    from icecrack_assets_tests.helpers.rasters import write_tiny_raster

    res, _, _ = trained
    path = shutil.copytree(res.bundle_dir, tmp_path / "lee")
    meta = json.loads((path / "bundle.json").read_text())
    meta["despeckle"] = despeckle_settings("lee", None)  # looks from each scene, as PPB bundles do
    (path / "bundle.json").write_text(json.dumps(meta))
    sp, _, truth = synthetic_scene((96, 120), seed=60)
    gpkg = tmp_path / "crack.gpkg"
    tagged = write_tiny_raster(
        tmp_path / "raw.tif", sp.astype(np.float32), nodata=float("nan"), tags={"LOOKS": "4"}
    )
    untagged = write_tiny_raster(tmp_path / "raw2.tif", sp.astype(np.float32), nodata=float("nan"))
    with rasterio.open(tagged) as ds:
        gpd.GeoDataFrame(
            {"kind": ["crack"]}, geometry=[box(*ds.bounds).centroid.buffer(50)], crs=ds.crs
        ).to_file(gpkg)
    bundle = load_bundle(path)
    xs, ys = scenes_from_files(bundle, [tagged], [gpkg])
    want = despeckle(
        sp.astype(np.float32), DespeckleSettings(filter="lee", looks=4.0, window=7), valid=np.isfinite(sp)
    )
    np.testing.assert_allclose(xs[0], want, rtol=1e-5)
    assert (ys[0] == 1).any() and (ys[0][~np.isfinite(xs[0])] == 255).all()
    with pytest.raises(IceCrackError, match="--looks"):
        scenes_from_files(bundle, [untagged], [gpkg])
    xs2, _ = scenes_from_files(bundle, [untagged], [gpkg], looks=4.0)
    np.testing.assert_allclose(xs2[0], want, rtol=1e-5)
