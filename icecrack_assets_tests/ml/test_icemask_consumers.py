"""The ice mask and co-registration where they are used: the sampler and the year-over-year change."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from icecrack_assets.ml.evaluation.synthetic import synthetic_scene
from icecrack_assets.ml.samples import SceneForSamples, build_samples, load_samples
from icecrack_assets.ml.statistics import statistics_table
from icecrack_assets.sar.coregister import season_backscatter
from icecrack_assets_tests.helpers.rasters import write_tiny_raster


def test_sampler_keeps_patches_on_the_ice(tmp_path):
    scenes = []
    for s in range(2):
        _, clean, truth = synthetic_scene((320, 320), seed=s)
        ice = np.zeros(truth.shape, bool)
        ice[:, :160] = True  # the right half is rock/ocean
        scenes.append(
            SceneForSamples(f"syn{s}", "thwaites", 2020, None, truth, "simulator", image=clean, ice=ice)
        )
    idx = build_samples(scenes, tmp_path / "s", patch=48, seed=1, max_per_scene=20, block_size=96, buffer=16)
    data = load_samples(tmp_path / "s")
    rows = list(csv.DictReader(open(idx.index_path)))
    labels = {s.scene_id: s.label for s in scenes}
    assert idx.count > 0 and {r["kind"] for r in rows} > {"tile"}
    for r, y in zip(rows, data["y"][:, 0]):
        c0 = int(r["col"])
        on_ice = np.arange(c0, c0 + 48) < 160
        assert on_ice.any()  # every patch and tile touches the ice
        if r["kind"] != "tile":
            assert on_ice.mean() >= 0.5  # training patches are at least half on the ice
            # labels are kept off the ice too: rock and water are true negatives
            label = labels[r["scene_id"]][int(r["row"]) : int(r["row"]) + 48, c0 : c0 + 48]
            assert np.array_equal(y, label)
    plain = build_samples(
        [
            SceneForSamples(s.scene_id, s.region, s.year, None, s.label, s.label_source, image=s.image)
            for s in scenes
        ],
        tmp_path / "p",
        patch=48,
        seed=1,
        max_per_scene=20,
        block_size=96,
        buffer=16,
    )
    assert idx.count < plain.count  # without the mask, patches off the ice are taken too
    with pytest.raises(Exception, match="ice mask shape"):
        bad = SceneForSamples(
            "b",
            "thwaites",
            2020,
            None,
            scenes[0].label,
            "simulator",
            image=scenes[0].image,
            ice=np.ones((3, 3), bool),
        )
        build_samples([bad], tmp_path / "t", patch=48, block_size=96, buffer=16)


def _backscatter(tmp_path, name: str, shift_px: int = 0) -> str:
    rng = np.random.default_rng(0)
    from scipy import ndimage

    lin = 10 ** ((-9 + 4 * ndimage.gaussian_filter(rng.normal(size=(128, 128)), 2) * 3) / 10)
    db = season_backscatter([np.roll(lin, shift_px, axis=1).astype(np.float32)])
    return str(write_tiny_raster(tmp_path / name, db, epsg=3031, nodata=float("nan")))


def _rec(year, density, **kw):
    return {"region": "amery", "year": year, "density_km_per_km2": density, "ice_km2": 100.0, **kw}


def test_change_only_between_co_registered_maps(tmp_path):
    a = _backscatter(tmp_path, "a.tif")
    b = _backscatter(tmp_path, "b.tif")
    far = _backscatter(tmp_path, "far.tif", shift_px=3)
    recs = [
        _rec(2019, 0.4, coregistered=True, backscatter={"ascending": a, "descending": b}),
        _rec(2020, 0.5, coregistered=True, backscatter={"descending": b}, pass_counts={"descending": 3}),
        _rec(2021, 0.7, coregistered=True, backscatter={"descending": far}),  # 3 px off 2020: refused
        _rec(2022, 0.9, coregistered=False, backscatter={"descending": far}),  # not co-registered: refused
        _rec(2023, 1.0),  # no registration recorded (an old map): refused
        _rec(2024, 1.1, coregistered=True, backscatter={"ascending": a}),
        _rec(2025, 1.2, coregistered=True, backscatter={"descending": b}),  # no common pass: refused
    ]
    df = statistics_table(recs).set_index("year")
    assert df.loc[2019, "change_basis"] == "first season" and np.isnan(df.loc[2019, "density_change"])
    assert df.loc[2020, "change_basis"].startswith("co-registered")
    assert df.loc[2020, "year_offset_px"] < 0.1
    assert df.loc[2020, "density_change"] == pytest.approx(0.1)
    assert df.loc[2020, "density_change_relative"] == pytest.approx(0.25)
    assert df.loc[2021, "year_offset_px"] == pytest.approx(3.0, abs=0.1)
    assert "no change computed" in df.loc[2021, "change_basis"] and np.isnan(df.loc[2021, "density_change"])
    assert "not co-registered" in df.loc[2022, "change_basis"] and np.isnan(df.loc[2022, "density_change"])
    assert "not co-registered" in df.loc[2023, "change_basis"] and np.isnan(df.loc[2023, "density_change"])
    assert df.loc[2020, "ice_km2"] == 100.0
    assert "common pass direction" in df.loc[2025, "change_basis"] and np.isnan(
        df.loc[2025, "density_change"]
    )


def test_no_change_between_maps_made_by_different_models(tmp_path):
    a = _backscatter(tmp_path, "a.tif")

    def season(year, density, **model):
        return _rec(year, density, coregistered=True, backscatter={"ascending": a}, **model)

    recs = [
        season(2019, 0.4, bundle="/m/unet-A"),
        season(2020, 0.5, bundle="/m/unet-A"),
        season(2021, 0.9, bundle="/m/default_model"),
    ]
    df = statistics_table(recs).set_index("year")
    assert df.loc[2020, "change_basis"].startswith("co-registered")
    assert df.loc[2020, "density_change"] == pytest.approx(0.1)
    why = df.loc[2021, "change_basis"]
    assert why == "mapped by different models (unet-A and default_model); re-map both seasons with one model"
    assert np.isnan(df.loc[2021, "density_change"])
    # the same weights re-installed elsewhere are the same model; a re-calibrated threshold is not
    recs = [
        season(2019, 0.4, bundle="/venv1/m", model_id="ab@0.7000/9"),
        season(2020, 0.5, bundle="/venv2/m", model_id="ab@0.7000/9"),
        season(2021, 0.6, bundle="/venv2/m", model_id="ab@0.6000/9"),
    ]
    df = statistics_table(recs).set_index("year")
    assert df.loc[2020, "density_change"] == pytest.approx(0.1)
    assert df.loc[2021, "change_basis"].startswith("mapped by different models")


def test_preview_draws_the_ice_outline(tmp_path):
    import matplotlib.image as mpimg

    from icecrack_assets.ml.preview import write_preview

    prob = np.full((60, 80), 0.2, np.float32)
    mask = np.zeros(prob.shape, np.uint8)
    ice = np.zeros(prob.shape, bool)
    ice[10:50, 10:70] = True
    png = mpimg.imread(write_preview(prob, mask, tmp_path / "p.png", ice=ice))
    cyan = (png[..., 0] < 0.1) & (png[..., 1] > 0.8) & (png[..., 2] > 0.9)
    assert cyan[10, 10:70].all() and cyan[10:50, 10].all() and not cyan[30, 40]
    plain = mpimg.imread(write_preview(prob, mask, tmp_path / "q.png"))
    assert not ((plain[..., 0] < 0.1) & (plain[..., 2] > 0.9)).any()


def test_crack_products_are_per_km2_of_ice(tmp_path):
    import rasterio
    from affine import Affine

    from icecrack_assets.ml.products import write_crack_products

    prob = np.zeros((100, 100), np.float32)
    prob[::10, :] = 0.9  # horizontal cracks everywhere, 40 m pixels
    prof = {"crs": "EPSG:3031", "transform": Affine(40, 0, 0, 0, -40, 0), "width": 100, "height": 100}
    ice = np.zeros(prob.shape, bool)
    ice[:, :25] = True  # a quarter of the map is ice
    full = write_crack_products(prob, prof, 0.5, tmp_path / "full", "s", 40.0)
    masked = write_crack_products(prob, prof, 0.5, tmp_path / "ice", "s", 40.0, ice=ice)
    assert masked.stats.valid_area_km2 == pytest.approx(full.stats.valid_area_km2 / 4)
    assert masked.stats.crack_length_km == pytest.approx(full.stats.crack_length_km / 4, rel=0.1)
    assert masked.stats.density_km_per_km2 == pytest.approx(full.stats.density_km_per_km2, rel=0.1)
    with rasterio.open(masked.paths.mask) as ds:
        m = ds.read(1)
    assert (m[:, 25:] == 255).all() and (m[::10, :24] == 1).all()
    with pytest.raises(ValueError, match="ice mask shape"):
        write_crack_products(prob, prof, 0.5, tmp_path / "bad", "s", 40.0, ice=ice[:10])


def test_season_composite_leaves_out_scenes_the_registrar_rejects(tmp_path, monkeypatch):
    from icecrack_assets.ml import composite as comp

    paths = []
    for i in range(3):
        paths.append(write_tiny_raster(tmp_path / f"s{i}.tif", np.full((8, 8), float(i + 1), np.float32)))

    class Stub:  # a model stand-in: probability = intensity / 10
        pass

    seen = []
    monkeypatch.setattr(comp, "predict_probability", lambda bundle, x: (x / 10).astype(np.float32))
    out = comp.season_composite(
        Stub(), paths, register=lambda p, img: seen.append(p.name) or (None if p.name == "s2.tif" else img)
    )
    assert seen == ["s0.tif", "s1.tif", "s2.tif"]
    assert np.allclose(out.probability, 0.15) and (out.count == 2).all()
