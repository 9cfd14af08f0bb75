"""Asset checks pass on good data and fail on bad."""

import dataclasses
import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from icecrack_assets.dagster_defs import checks
from icecrack_assets.dagster_defs.bundles import checked_bundles, choose_bundle
from icecrack_assets.dagster_defs.partitions import partition_key, year_region_partitions
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


def test_maps_valid_check_accepts_a_crack_whose_stored_probability_rounded_below_the_threshold(tmp_path):
    from icecrack_assets.ml.postprocess import PROBABILITY_STEP, stored_probability

    threshold = 0.7  # not a multiple of the storage step: 0.70001 is stored as 2867/4096 = 0.69995
    raw = np.full((8, 8), 0.3, np.float64)
    raw[2, :] = 0.70001
    raw[5, :] = 0.7 - PROBABILITY_STEP  # stored one step below: a crack here would be invented
    mask = (raw >= threshold).astype(np.uint8)
    p = on_grid(tmp_path, "p.tif", stored_probability(raw))
    assert checks.check_maps_valid(p, on_grid(tmp_path, "m.tif", mask, nodata=255), threshold).passed
    invented = mask.copy()
    invented[5, 0] = 1
    res = checks.check_maps_valid(p, on_grid(tmp_path, "i.tif", invented, nodata=255), threshold)
    assert not res.passed and "probability < threshold" in res.metadata["problems"].value


# --- partition-aware and blocking checks ---------------------------------------------------------


def test_a_failed_partition_stays_failed_after_another_partition_passes():
    specs = checks.specs("toy", checks.NOT_EMPTY, partitions_def=year_region_partitions)

    @dg.asset(name="toy", partitions_def=year_region_partitions, check_specs=specs)
    def toy(context):
        good = "thwaites" in str(context.partition_key)
        return dg.MaterializeResult(
            check_results=[dg.AssetCheckResult(check_name=checks.NOT_EMPTY, passed=good)]
        )

    with dg.instance_for_test() as instance:
        for region in ("jakobshavn", "thwaites"):  # the failure first, a pass after it
            dg.materialize([toy], partition_key=partition_key(2024, region), instance=instance)
        key = dg.AssetCheckKey(dg.AssetKey("toy"), checks.NOT_EMPTY)
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
        by_partition = {r.partition: r.status.value for r in history}
    assert by_partition == {"jakobshavn|2024": "FAILED", "thwaites|2024": "SUCCEEDED"}


def _model_with_bundles(tmp_path, outcomes, label_sources=None):
    """A stand-in crack_model whose floor check passes or fails per bundle (in this order);
    ``label_sources`` (bundle name -> list) writes a bundle.json with that lineage."""
    spec = dg.AssetCheckSpec(checks.METRICS_FLOOR, asset="crack_model")
    state = iter(outcomes)

    @dg.asset(name="crack_model", check_specs=[spec])
    def model():
        name, passed = next(state)
        bundle = tmp_path / name
        if name != "deleted":
            bundle.mkdir()
        if label_sources and name in label_sources:
            lineage = {"label_sources": label_sources[name]}
            (bundle / "bundle.json").write_text(json.dumps({"lineage": lineage}))
        metrics = {"precision": 0.95, "recall": 0.95} if passed else {"precision": 0.5, "recall": 0.5}
        return dg.MaterializeResult(check_results=[checks.check_metrics_floor(metrics, str(bundle))])

    return model


def test_maps_use_the_newest_bundle_whose_floor_check_passed(tmp_path):
    model = _model_with_bundles(tmp_path, [("a", True), ("b", False), ("deleted", True)])
    with dg.instance_for_test() as instance:
        for _ in range(3):
            dg.materialize([model], instance=instance)
        assert checked_bundles(instance) == [tmp_path / "a"]  # b failed, the newest is gone
        choice = choose_bundle(instance, tmp_path, "checked")
        assert choice.path == tmp_path / "a" and choice.check == "passed"


def test_real_partitions_are_mapped_by_a_checked_bundle_only_if_it_learnt_from_real_labels(tmp_path):
    from icecrack_assets.ml.shipped import default_model_path

    sources = {"real": ["annotation", "simulator"], "sim": ["simulator"]}
    model = _model_with_bundles(tmp_path, [("real", True), ("sim", True)], sources)
    with dg.instance_for_test() as instance:
        dg.materialize([model], instance=instance)  # "real" passes its floor check
        choice = choose_bundle(instance, tmp_path, "auto", simulated=False)
        assert (
            choice.path == tmp_path / "real"
            and choice.check == "passed (learnt from real labels; real scenes)"
        )
        dg.materialize([model], instance=instance)  # then a newer, simulator-only "sim" passes
        assert choose_bundle(instance, tmp_path, "auto", simulated=True).path == tmp_path / "sim"
        assert choose_bundle(instance, tmp_path, "auto", simulated=False).path == tmp_path / "real"
        shipped = choose_bundle(instance, tmp_path, "default")
        assert shipped.path == default_model_path() and "shipped default model" in shipped.check


def test_real_partitions_without_a_real_label_bundle_get_the_shipped_default_model(tmp_path):
    from icecrack_assets.ml.shipped import default_model_path

    model = _model_with_bundles(tmp_path, [("sim", True)], {"sim": ["simulator"]})
    with dg.instance_for_test() as instance:
        dg.materialize([model], instance=instance)
        choice = choose_bundle(instance, tmp_path, "auto", simulated=False)
    assert choice.path == default_model_path()
    assert (
        choice.check
        == "not checked: the shipped default model for real scenes (no checked bundle learnt from real labels)"
    )


def test_maps_refuse_when_no_bundle_passed(tmp_path):
    model = _model_with_bundles(tmp_path, [("b", False)])
    with dg.instance_for_test() as instance:
        dg.materialize([model], instance=instance)
        with pytest.raises(dg.Failure, match="no crack_model bundle has passed"):
            choose_bundle(instance, tmp_path, "checked")


def test_the_model_floor_blocks_downstream_and_partitioned_assets_check_per_partition():
    from icecrack_assets.definitions import build_defs

    graph = build_defs().resolve_asset_graph()
    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key)
        node = graph.get(key.asset_key)
        assert spec.partitions_def == node.partitions_def, f"{key.to_user_string()} is not per partition"
        assert spec.blocking == (key.name == checks.METRICS_FLOOR), key.to_user_string()
    names = {k.name for k in graph.asset_check_keys}
    assert {checks.SPLIT_SIZES, checks.SPLIT_CRACKS, checks.NO_LEAKAGE, checks.STATS_ROWS} <= names


def test_sample_checks_see_empty_splits_splits_without_cracks_and_leakage():
    index = pd.DataFrame(
        {
            "split": ["train", "train", "val", "test"],
            "row": [0, 100, 300, 40],
            "col": [0, 100, 300, 40],
            "size": [64, 64, 64, 64],
        }
    )
    assert checks.check_split_sizes(index).passed
    assert not checks.check_split_sizes(index[index["split"] != "val"]).passed
    leak = checks.check_no_leakage(index)  # the test patch at (40, 40) overlaps the train patch at (0, 0)
    assert not leak.passed and leak.metadata["overlapping_train"].value == 1
    assert checks.check_no_leakage(index.drop(index=3)).passed
    labelled = {"train": 100, "val": 100, "test": 100}
    assert checks.check_split_cracks({"train": 5, "val": 3, "test": 1}, labelled).passed
    res = checks.check_split_cracks({"train": 5, "val": 3, "test": 0}, labelled)
    assert not res.passed and res.metadata["without_cracks"].value == "test"


def test_statistics_checks_rows_nan_and_units():
    from icecrack_assets.ml.statistics import UNITS

    table = pd.DataFrame(
        {"region": ["a", "b"], "year": [2024, 2024], "crack_area_km2": [1.0, float("nan")], "x": [1, 2]}
    )
    assert checks.check_statistics_rows(table, [("a", 2024), ("b", 2024)]).passed
    res = checks.check_statistics_rows(table, [("a", 2024), ("c", 2024)])
    assert not res.passed and res.metadata["missing"].value == "c|2024"
    assert not checks.check_statistics_finite(table, ["crack_area_km2"]).passed
    assert checks.check_statistics_finite(table.dropna(), ["crack_area_km2"]).passed
    res = checks.check_statistics_units(table, UNITS)
    assert not res.passed and res.metadata["without_unit"].value == "x"
    assert checks.check_statistics_units(table.drop(columns="x"), UNITS).passed
