"""Asset checks pass on good data and fail on bad."""

import dataclasses

import numpy as np

from icecrack_assets.dagster_defs import checks
from icecrack_assets.regions import get_region
from icecrack_assets_tests.helpers.rasters import write_tiny_raster

JAK = dataclasses.replace(get_region("jakobshavn"), pixel_size=1000.0)  # 40 x 30 px grid


def on_grid(tmp_path, name, array, region=JAK, **kw):
    return write_tiny_raster(
        tmp_path / name,
        array,
        epsg=region.epsg,
        origin=(region.bounds[0], region.bounds[3]),
        pixel=region.pixel_size,
        **kw,
    )


def test_grid_check(tmp_path):
    good = on_grid(tmp_path, "good.tif", np.ones((30, 40), np.float32))
    assert checks.check_grid([good], JAK).passed
    shifted = write_tiny_raster(
        tmp_path / "shifted.tif",
        np.ones((30, 40), np.float32),
        epsg=3413,
        origin=(JAK.bounds[0] + 5000, JAK.bounds[3]),
        pixel=1000.0,
    )
    wrong_crs = write_tiny_raster(
        tmp_path / "crs.tif",
        np.ones((30, 40), np.float32),
        epsg=3031,
        origin=(JAK.bounds[0], JAK.bounds[3]),
        pixel=1000.0,
    )
    res = checks.check_grid([good, shifted, wrong_crs], JAK)
    assert not res.passed
    assert "shifted.tif" in res.metadata["mismatches"].value and "crs.tif" in res.metadata["mismatches"].value
    assert not checks.check_grid([], JAK).passed


def test_not_empty_check(tmp_path):
    half = np.ones((30, 40), np.float32)
    half[:15] = np.nan
    assert checks.check_not_empty([on_grid(tmp_path, "half.tif", half)]).passed
    empty = on_grid(tmp_path, "empty.tif", np.full((30, 40), np.nan, np.float32))
    res = checks.check_not_empty([on_grid(tmp_path, "ok.tif", half), empty])
    assert not res.passed and "empty.tif" in res.metadata["all_nodata"].value
    zero_nodata = on_grid(tmp_path, "z.tif", np.zeros((30, 40), np.float32), nodata=0.0)
    assert not checks.check_not_empty([zero_nodata]).passed


def test_mean_preserved_check():
    assert checks.check_mean_preserved({"a": 0.97, "b": 1.04}).passed
    res = checks.check_mean_preserved({"a": 0.97, "b": 0.8})
    assert not res.passed and res.metadata["worst_scene"].value == "b"


def test_looks_match_enl_check_warns_on_a_wrong_number_of_looks():
    good = [{"scene_id": "a", "looks": 4.4, "enl_input": 4.1, "enl_output": 60.0}]
    res = checks.check_looks_match_enl(good)
    assert res.passed and res.severity.value == "WARN"
    assert res.metadata["enl_measured"].value == {"a": 4.1}
    bad = good + [{"scene_id": "b", "looks": 10.7, "enl_input": 3.9, "enl_output": 40.0}]
    res = checks.check_looks_match_enl(bad)
    assert not res.passed and "b: looks 10.7" in res.metadata["mismatches"].value
    assert not checks.check_looks_match_enl([{"scene_id": "c", "looks": 1.0, "enl_input": None}]).passed


def test_metrics_floor_is_the_methods_published_figures():
    assert checks.check_metrics_floor({"precision": 0.95, "recall": 0.93}).passed
    assert not checks.check_metrics_floor({"precision": 0.78, "recall": 0.95}).passed
    assert not checks.check_metrics_floor({"precision": 0.95, "recall": 0.89}).passed


def test_maps_valid_check(tmp_path):
    prob = np.random.default_rng(0).random((30, 40)).astype(np.float32)
    prob[0, :5] = np.nan
    mask = np.where(np.isnan(prob), 255, prob >= 0.5).astype(np.uint8)
    p = on_grid(tmp_path, "p.tif", prob)
    m = on_grid(tmp_path, "m.tif", mask, nodata=255)
    assert checks.check_maps_valid(p, m, 0.5).passed
    bad = mask.copy()
    bad[10, 10] = 7
    assert not checks.check_maps_valid(p, on_grid(tmp_path, "bad.tif", bad, nodata=255), 0.5).passed
    cleaned = mask.copy()
    cleaned[(mask == 1) & (prob < 0.6)] = 0  # post-processing may remove crack pixels...
    assert checks.check_maps_valid(p, on_grid(tmp_path, "clean.tif", cleaned, nodata=255), 0.5).passed
    invented = mask.copy()
    invented[(mask == 0)] = 1  # ...but never add pixels below the threshold
    res = checks.check_maps_valid(p, on_grid(tmp_path, "inv.tif", invented, nodata=255), 0.5)
    assert not res.passed and "probability < threshold" in res.metadata["problems"].value
    holes = mask.copy()
    holes[20, 20] = 255
    res = checks.check_maps_valid(p, on_grid(tmp_path, "holes.tif", holes, nodata=255), 0.5)
    assert not res.passed and "nodata disagrees" in res.metadata["problems"].value
    out_of_range = prob.copy()
    out_of_range[3, 3] = 1.5
    assert not checks.check_maps_valid(on_grid(tmp_path, "p2.tif", out_of_range), m, 0.5).passed
