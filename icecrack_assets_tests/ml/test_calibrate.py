"""icecrack calibrate: re-tuning a bundle's operating point on annotated whole scenes."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio

from icecrack_assets.cli import main
from icecrack_assets.commands.calibrate import POOR_F1
from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.bundle import load_bundle
from icecrack_assets.ml.evaluation.synthetic import synthetic_scene
from icecrack_assets.ml.inference import predict_probability
from icecrack_assets_tests.helpers.smoothing import smoothed


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
    images, truths = [smoothed(sp) for sp, _, _ in scenes], [t for _, _, t in scenes]
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
    img = write_tiny_raster(tmp_path / "val.tif", smoothed(sp).astype(np.float32), nodata=float("nan"))
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
    said, warned = capsys.readouterr()
    meta = json.loads((out / "bundle.json").read_text())
    rec = meta["calibration"]
    assert ("warning: F1" in warned) == (rec["val"]["f1"] < POOR_F1)  # this tiny model is poor
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
    assert "would overwrite the input" in capsys.readouterr().err  # the shared CLI guard


def test_calibration_scenes_get_the_bundles_despeckling_and_need_their_looks(trained, tmp_path):
    import shutil

    from shapely.geometry import box

    from icecrack_assets.ml.calibrate import scenes_from_files
    from icecrack_assets.ml.evaluation.common import despeckle_settings
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


def test_calibrate_burns_annotations_through_the_gcps_of_a_radar_geometry_image(trained, tmp_path, capsys):
    """An image placed only by GCPs (radar geometry) is calibrated against map-drawn annotations:
    the labels land on the pixels they cover, as on the same image warped to a map grid."""
    from shapely.geometry import LineString, box

    from icecrack_assets.ml.calibrate import scenes_from_files
    from icecrack_assets.raster import placed_by_gcps_only
    from icecrack_assets_tests.helpers.rasters import write_gcp_only_mirror, write_tiny_raster

    res, _, _ = trained
    sp, _, _ = synthetic_scene((120, 150), seed=51)
    img = write_tiny_raster(
        tmp_path / "map.tif", smoothed(sp).astype(np.float32), nodata=float("nan"), pixel=40.0
    )
    with rasterio.open(img) as ds:
        x0, y0, crs = ds.bounds.left, ds.bounds.top, ds.crs
    lines = [
        LineString([(x0 + 400, y0 - 300), (x0 + 5000, y0 - 3800)]),
        LineString([(x0 + 900, y0 - 4200), (x0 + 5600, y0 - 900)]),
    ]
    gdf = gpd.GeoDataFrame(
        {"kind": ["crack", "crack", "background", "extent"]},
        geometry=[*lines, box(x0 + 200, y0 - 4600, x0 + 1400, y0 - 3900), box(x0, y0 - 4700, x0 + 5800, y0)],
        crs=crs,
    )
    gpkg = tmp_path / "labels.gpkg"
    gdf.to_file(gpkg)
    radar = write_gcp_only_mirror(img, tmp_path / "radar.tif")
    with rasterio.open(radar) as ds:
        assert placed_by_gcps_only(ds)
    bundle = load_bundle(res.bundle_dir)
    _, (on_map,) = scenes_from_files(bundle, [img], [gpkg], despeckled=True)
    _, (on_gcps,) = scenes_from_files(bundle, [radar], [gpkg], despeckled=True)
    mirrored = on_gcps[:, ::-1]
    cracks_map, cracks_gcp = on_map == 1, mirrored == 1
    assert cracks_map.sum() > 300
    iou = (cracks_map & cracks_gcp).sum() / (cracks_map | cracks_gcp).sum()
    assert iou > 0.95, iou  # the same pixels, up to the spline's sub-pixel error
    assert ((on_map == 255) == (mirrored == 255)).mean() > 0.99  # outside the extent: unlabelled
    assert (on_gcps[:, 0] == 255).all() and (on_gcps[:, -1] != 255).any()  # mirrored, not as drawn
    out = tmp_path / "calibrated"
    argv = ["calibrate", str(res.bundle_dir), "--image", str(radar), "--labels", str(gpkg), "--despeckled"]
    assert main([*argv, "--out", str(out)]) == 0
    assert json.loads((out / "bundle.json").read_text())["calibration"]["source"] == str(radar)
    said, warned = capsys.readouterr()
    f1 = json.loads((out / "bundle.json").read_text())["calibration"]["val"]["f1"]
    # two lines drawn across a scene of other cracks: a calibration no one should trust unwarned
    assert f1 < POOR_F1 and warned.startswith(f"warning: F1 {f1:.3f}") and str(out) in warned
    with rasterio.open(radar, "r+") as ds:  # GCPs all on one line: no ground spacing, one line
        ds.gcps = ([g for g in ds.gcps[0] if g.row == 0], ds.gcps[1])
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "radar.tif" in err and "GCPs" in err and "\n" not in err and not (tmp_path / "x").exists()
