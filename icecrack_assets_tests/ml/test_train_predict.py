"""Training to a bundle, the bundle's round trip through ``icecrack predict``, products, CLI errors."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import rasterio

from icecrack_assets.cli import main
from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.bundle import load_bundle
from icecrack_assets.ml.evaluation.synthetic import synthetic_scene
from icecrack_assets.ml.inference import predict_probability
from icecrack_assets.ml.postprocess import PROBABILITY_STEP
from icecrack_assets.ml.train import TrainConfig, scores_at, train_bundle, tune_postprocess
from icecrack_assets_tests.helpers.smoothing import smoothed


def test_training_writes_a_complete_bundle(trained):
    res, logs, root = trained
    meta = json.loads((res.bundle_dir / "bundle.json").read_text())
    assert meta["architecture"]["depth"] == 2 and meta["architecture"]["width"] == 8
    assert meta["normalisation"]["kind"] == "db" and meta["despeckle"] == {"filter": "none"}
    assert 0.0 < meta["threshold"] < 1.0 and meta["threshold"] == res.threshold
    lin = meta["lineage"]
    assert lin["partition"] == "thwaites|2020" and len(lin["sample_sha256"][0]) == 64 and lin["code_version"]
    assert lin["label_sources"] == ["simulator"]  # what the samples' index says their labels came from
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
    src = tiny_raster(smoothed(sp), name="scene.tif", epsg=3031, nodata=float("nan"))
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
    ref = predict_probability(bundle, smoothed(sp), tile=64, overlap=16)
    with rasterio.open(out) as ds:
        mask = ds.read(1)
        assert ds.crs.to_epsg() == 3031 and ds.nodata == 255
    with rasterio.open(prob) as ds:
        np.testing.assert_allclose(ds.read(1), ref, atol=PROBABILITY_STEP / 2 + 1e-7)  # stored rounded
    valid = np.isfinite(sp)
    np.testing.assert_array_equal(mask[valid], (ref[valid] >= bundle.threshold).astype(np.uint8))
    assert (mask[~valid] == 255).all()


def test_predict_uses_latest_bundle_from_data_root(trained, tiny_raster, tmp_path, monkeypatch):
    res, _, _ = trained
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(res.bundle_dir.parent.parent))
    src = tiny_raster(np.ones((40, 40), np.float32) * 0.1, name="flat.tif", epsg=3031)
    assert main(["predict", str(src), str(tmp_path / "m.tif")]) == 0
    assert (tmp_path / "m.tif").is_file()


# no bundle in the data root is not an error: predict uses the shipped default model
# (test_default_model.py::test_the_package_ships_a_default_model_and_predict_uses_it)
@pytest.mark.parametrize("case", ["missing_input", "bad_bundle", "same_file", "bad_tile"])
def test_predict_cli_errors_are_one_line(case, tiny_raster, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "empty_root"))
    src = tiny_raster(np.ones((20, 20), np.float32), name="in.tif", epsg=3031)
    args = {
        "missing_input": ["predict", str(tmp_path / "nope.tif"), str(tmp_path / "o.tif")],
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


def test_predict_applies_the_bundles_despeckling_with_the_scene_looks(trained, tiny_raster, tmp_path):
    from icecrack_assets.ml.bundle import save_bundle
    from icecrack_assets.ml.evaluation.common import despeckle_settings
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
        np.testing.assert_allclose(ds.read(1), ref, atol=PROBABILITY_STEP / 2 + 1e-7)  # stored rounded
    untagged = tiny_raster(sp, name="raw2.tif", epsg=3031, nodata=float("nan"))
    from icecrack_assets.errors import IceCrackError

    with pytest.raises(IceCrackError, match="--looks"):
        predict_file(bundle, untagged, tmp_path / "m2.tif")
    assert not (tmp_path / "m2.tif").exists()


def test_single_look_input_is_smoothed_for_a_bundle_that_reads_raw_sigma0(trained, tiny_raster, tmp_path):
    from icecrack_assets.ml.bundle import save_bundle
    from icecrack_assets.ml.inference import FEW_LOOKS_SIGMA, predict_file
    from icecrack_assets.sar.despeckle.filters import gaussian

    res, _, _ = trained
    base = load_bundle(res.bundle_dir)
    d = save_bundle(
        tmp_path / "models", base.model, base.normalisation, {"filter": "none"}, base.threshold, {}, {}
    )
    bundle = load_bundle(d)
    sp, _, _ = synthetic_scene((130, 150), seed=7)
    sp[40:44, 10:60] = np.nan  # nodata inside: the smoothing must not spread it or read it
    windowed = {"block": 64, "tile": 48, "overlap": 16}

    def stored(tags: dict[str, str] | None, looks: float | None = None) -> tuple[np.ndarray, bool]:
        name = f"in-{tags}-{looks}".replace(" ", "")
        src = tiny_raster(sp, name=f"{name}.tif", epsg=3031, nodata=float("nan"), tags=tags)
        r = predict_file(
            bundle, src, tmp_path / f"m-{name}.tif", tmp_path / f"p-{name}.tif", looks=looks, **windowed
        )
        with rasterio.open(r.probability) as ds:
            return ds.read(1), r.despeckled_here

    def expect(arr: np.ndarray) -> np.ndarray:
        return predict_probability(bundle, arr, tile=48, overlap=16)

    tol = PROBABILITY_STEP / 2 + 1e-7
    single, smoothed_here = stored({"LOOKS": "1"})
    assert smoothed_here
    # window by window with a halo, it is the Gaussian of the whole scene, then the model
    np.testing.assert_allclose(
        single, expect(gaussian(sp, FEW_LOOKS_SIGMA, valid=np.isfinite(sp))), atol=tol, equal_nan=True
    )
    assert np.isnan(single[40:44, 10:60]).all()
    flag_given, _ = stored(None, looks=1.0)  # --looks 1 on an untagged file does the same
    np.testing.assert_array_equal(flag_given, single)
    for tags in ({"LOOKS": "4.4"}, None):  # a GRD product, or looks not known: the input as it is
        raw, smoothed_here = stored(tags)
        assert not smoothed_here
        np.testing.assert_allclose(raw, expect(sp), atol=tol, equal_nan=True)


def test_anchoring_and_frozen_normalisation_keep_a_fine_tune_near_its_start(trained, tmp_path):
    """L2-SP pulls the weights towards the starting bundle's; freeze_norm keeps its BatchNorm statistics."""
    import torch

    res, _, root = trained
    start = load_bundle(res.bundle_dir).model.state_dict()
    base = replace(
        TrainConfig(epochs=2, depth=2, width=8, batch_size=8, max_minutes=2.0, device="cpu", lr=5e-3),
        init=str(res.bundle_dir),
        normalisation={},
    )

    def tuned(**kw) -> dict:
        r = train_bundle(
            [root / "samples"],
            tmp_path / str(kw),
            replace(base, **kw),
            {"filter": "none"},
            {},
            lambda m: None,
        )
        return load_bundle(r.bundle_dir).model.state_dict()

    def drift(state: dict) -> float:
        return sum(
            float(((state[k] - start[k]) ** 2).sum())
            for k in start
            if start[k].is_floating_point() and "running" not in k
        )

    free, anchored, frozen = tuned(), tuned(anchor=1000.0), tuned(freeze_norm=True)
    assert drift(anchored) < 0.8 * drift(free)  # Adam scales the pull: a partial, not a hard, tether
    stats = [k for k in start if "running_mean" in k or "running_var" in k]
    assert stats and all(torch.equal(frozen[k], start[k]) for k in stats)
    assert not all(torch.equal(free[k], start[k]) for k in stats)


@pytest.mark.parametrize(
    ("change", "message"), [({"epochs": 0}, "epochs must be"), ({"crop": -1}, "crop must be")]
)
def test_training_refuses_impossible_settings_before_any_work(trained, tmp_path, change, message):
    from icecrack_assets.errors import IceCrackError

    _, _, root = trained
    cfg = replace(TrainConfig(epochs=1, depth=2, width=8, batch_size=8, device="cpu"), **change)
    with pytest.raises(IceCrackError, match=message):
        train_bundle([root / "samples"], tmp_path / "m", cfg, {"filter": "none"}, {}, lambda m: None)
    assert not (tmp_path / "m").exists()


def test_training_window_defaults_to_windows_for_fine_tunes_only():
    from icecrack_assets.ml.train import FINE_TUNE_CROP, training_window

    assert training_window(TrainConfig()) == 0  # from scratch: whole patches
    assert training_window(TrainConfig(init="default")) == FINE_TUNE_CROP
    assert training_window(TrainConfig(init="default", crop=0)) == 0
    assert training_window(TrainConfig(crop=48)) == 48


def test_a_frozen_encoder_fine_tune_trains_only_the_decoder(trained, tmp_path, capsys):
    """freeze_encoder keeps the start bundle's down blocks and bottleneck bit for bit and trains the rest."""
    res, _, root = trained
    start = load_bundle(res.bundle_dir).model.state_dict()
    cfg = TrainConfig(
        epochs=2,
        depth=2,
        width=8,
        batch_size=8,
        max_minutes=2.0,
        device="cpu",
        lr=5e-3,
        init=str(res.bundle_dir),
        freeze_encoder=True,
    )
    r = train_bundle([root / "samples"], tmp_path / "frozen", cfg, {"filter": "none"}, {}, lambda m: None)
    tuned = load_bundle(r.bundle_dir).model.state_dict()
    weights = [k for k in start if k.endswith(("weight", "bias")) and "running" not in k]
    encoder = [k for k in weights if k.startswith(("down.", "bottleneck."))]
    decoder = [k for k in weights if k.startswith(("up.", "dec.", "head."))]
    assert encoder and decoder
    assert all(np.array_equal(tuned[k], start[k]) for k in encoder)
    assert sum(not np.array_equal(tuned[k], start[k]) for k in decoder) == len(decoder)
    lineage = json.loads((r.bundle_dir / "bundle.json").read_text())["lineage"]
    assert lineage["train_config"]["freeze_encoder"] is True
    with pytest.raises(IceCrackError, match="freeze_encoder needs init"):
        train_bundle(
            [root / "samples"], tmp_path / "x", replace(cfg, init=None), {"filter": "none"}, {}, print
        )
    # the default model's recipe trains every layer: asking it to freeze is an error, not ignored
    assert main(["train", "--default-model", "--freeze-encoder", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--freeze-encoder" in err and "\n" not in err and not (tmp_path / "d").exists()
