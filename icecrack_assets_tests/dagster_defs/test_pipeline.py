"""The whole chain materialises through Dagster on tiny partitions (coarse processing grid)."""

import json

import dagster as dg
import geopandas as gpd
import pytest
import rasterio

from icecrack_assets.dagster_defs.partitions import partition_key
from icecrack_assets.dagster_defs.resources import ProcessingGrid
from icecrack_assets.definitions import build_defs
from icecrack_assets.simulator.scenes import simulate_season

PIXEL = 200.0  # metres: Jakobshavn becomes 200 x 150 px, Thwaites 400 x 300 px
FAST = {
    "despeckled_scenes": {"config": {"iterations": 1, "hw": 5, "hd": 2}},
    "labelled_samples": {"config": {"patch": 64, "max_per_scene": 24, "block_size": 100, "buffer": 8}},
    "crack_model": {"config": {"epochs": 2, "max_minutes": 1.0, "width": 8, "depth": 3, "batch_size": 8}},
    # a 2-epoch model is below the method's floor: map with it explicitly (recorded as unchecked)
    "crack_maps": {"config": {"model": "newest"}},
}


def run(job, instance, assets, key=None, success=True, config=None):
    result = job.execute_in_process(
        instance=instance,
        partition_key=key,
        raise_on_error=False,
        asset_selection=[dg.AssetKey(a) for a in assets],
        run_config={"ops": {a: FAST[a] for a in assets if a in FAST} if config is None else config},
    )
    assert result.success is success
    return result


def checks_of(result):
    return {
        (e.asset_check_evaluation_data.asset_check_key.name): e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


@pytest.mark.slow
def test_whole_chain_on_two_tiny_partitions(tmp_path):
    grid = ProcessingGrid(pixel_size=PIXEL)
    simulate_season(grid.region("jakobshavn"), 2024, 2, 0, tmp_path / "landing")
    simulate_season(grid.region("thwaites"), 2024, 1, 7, tmp_path / "landing")
    defs = build_defs(data_root=str(tmp_path), pixel_size=PIXEL)
    job = defs.resolve_implicit_global_asset_job_def()
    keys = [partition_key(2024, "jakobshavn"), partition_key(2024, "thwaites")]
    with dg.instance_for_test() as instance:
        for key in keys:
            raw = run(job, instance, ["raw_scenes"], key)
            assert checks_of(raw) == {"matches_region_grid": True, "not_all_nodata": True}
            desp = run(job, instance, ["despeckled_scenes"], key)
            assert checks_of(desp)["despeckling_preserves_mean"] is True
            run(job, instance, ["labelled_samples"], key)
        # the tiny model fails its blocking floor check: the step fails, the bundle is written
        model_run = run(job, instance, ["crack_model"], success=False)
        assert checks_of(model_run)["metrics_above_method_floor"] is False
        refused = run(job, instance, ["crack_maps"], keys[0], success=False, config={})
        failure = next(e for e in refused.all_events if e.is_step_failure)
        assert "no crack_model bundle has passed" in failure.step_failure_data.user_failure_data.description
        for key in keys:
            maps = run(job, instance, ["crack_maps"], key)
            assert checks_of(maps)["crack_maps_valid"] is True
            assert checks_of(maps)["matches_region_grid"] is True
        run(job, instance, ["crack_statistics"])

        # lineage: the crack map records the model's and the despeckled scenes' data versions
        event = instance.get_latest_materialization_event(dg.AssetKey("crack_maps"))
        tags = event.asset_materialization.tags
        model = instance.get_latest_materialization_event(dg.AssetKey("crack_model"))
        assert (
            tags["dagster/input_data_version/crack_model"]
            == model.asset_materialization.tags["dagster/data_version"]
        )
        assert "dagster/input_data_version/despeckled_scenes" in tags
        assert tags["dagster/code_version"] == "maps-4"
        meta = model.asset_materialization.metadata
        assert sorted(meta["partition_keys"].value) == ["jakobshavn|2024", "thwaites|2024"]
        scores = meta["scores"].value  # the compact val/test x strict/1-px table comes first
        assert list(meta)[0] == "scores"
        assert {(r.data["split"], r.data["tolerance"]) for r in scores.records} == {
            (s, t) for s in ("val", "test") for t in ("strict", "1-px")
        }
        map_meta = event.asset_materialization.metadata
        assert map_meta["bundle_check"].value.startswith("not checked")
        assert not any(k.startswith("truth_") for k in map_meta)
        assert any(k.startswith("consistency_with_simulator_") for k in map_meta)
        products = {r.data["product"] for r in map_meta["products"].value.records}
        assert {
            "probability",
            "mask",
            "vectors",
            "density",
            "orientation",
            "quicklook",
            "stac_item",
        } <= products
        caption = map_meta["quicklook"].value
        assert len(caption) < 1000 and "base64" not in caption  # the caption, shown inline
        region = str(event.asset_materialization.partition).split("|")[0]
        assert caption.startswith(f"**{region} 2024 season (")
        thumbnail = map_meta["quicklook_thumbnail"].value  # the map itself, no image server needed
        assert thumbnail.startswith(f"![{region} 2024 season (") and "](data:image/webp;base64," in thumbnail
        assert len(thumbnail) < 43_500  # THUMBNAIL_BYTES as base64, plus the caption

    maps = tmp_path / "maps" / "jakobshavn" / "2024"
    with rasterio.open(maps / "jakobshavn_2024_probability.tif") as ds:
        assert ds.crs.to_epsg() == 3413 and ds.shape == (150, 200)
    with rasterio.open(tmp_path / "maps" / "thwaites" / "2024" / "thwaites_2024_mask.tif") as ds:
        assert ds.crs.to_epsg() == 3031 and ds.dtypes[0] == "uint8"
    polygons = gpd.read_file(maps / "jakobshavn_2024_cracks.gpkg", layer="polygons")
    assert polygons.crs.to_epsg() == 3413
    stats = (tmp_path / "stats" / "crack_statistics.csv").read_text().splitlines()
    assert len(stats) == 3 and stats[0].startswith("region,year")
    # simulated scenes: the ice mask comes from the SAR rule; offsets of every scene are recorded
    summary = json.loads((maps / "stats.json").read_text())
    assert summary["mask_source"] == "sar" and summary["coregistered"] is True
    assert 0 < summary["ice_km2"] <= 40 * 30
    assert summary["valid_area_km2"] <= summary["ice_km2"] + 1e-6  # densities are per km2 of ice
    offsets = summary["registration"]["offsets"]
    assert [o["scene_id"] for o in offsets] == [s["scene_id"] for s in manifest_of(tmp_path, "jakobshavn")]
    assert offsets[0]["status"] == "reference"
    with (
        rasterio.open(maps / "jakobshavn_2024_icemask.tif") as ice,
        rasterio.open(maps / "jakobshavn_2024_mask.tif") as crack,
    ):
        off_ice = ice.read(1) == 0
        assert (crack.read(1)[off_ice] == 255).all()  # no crack mapped off the ice
    manifest = json.loads((tmp_path / "raw" / "jakobshavn" / "2024" / "manifest.json").read_text())
    assert len(manifest["scenes"]) == 2 and all(s["scene_id"].startswith("S1") for s in manifest["scenes"])


@pytest.mark.slow
def test_a_real_partition_is_mapped_by_the_shipped_default_model_from_its_raw_scenes(tmp_path):
    from pathlib import Path

    from icecrack_assets.ml.shipped import default_model_path

    grid = ProcessingGrid(pixel_size=40.0)  # Jakobshavn 1000 x 750 px, inside the model's 10-50 m
    landing = tmp_path / "landing"
    simulate_season(grid.region("jakobshavn"), 2024, 2, 0, landing)
    for truth in landing.glob("*.truth.tif"):
        truth.unlink()  # as a real acquisition: no truth and no annotations, so nothing to sample
    defs = build_defs(data_root=str(tmp_path), pixel_size=40.0)
    job = defs.resolve_implicit_global_asset_job_def()
    key = partition_key(2024, "jakobshavn")
    with dg.instance_for_test() as instance:
        # the season job's assets in one run, as the sensor requests them: nothing to sample (no
        # labels) is not a failure, and crack_maps (model: auto) needs no crack_model at all
        ops = {a: FAST[a] for a in ("despeckled_scenes", "labelled_samples")}
        season = ["raw_scenes", "despeckled_scenes", "labelled_samples", "crack_maps"]
        result = run(job, instance, season, key, config=ops)
        assert checks_of(result)["crack_maps_valid"] is True
        assert checks_of(result)["every_split_has_patches"] is True  # not applicable, and says so
        samples = instance.get_latest_materialization_event(dg.AssetKey("labelled_samples"))
        assert samples.asset_materialization.metadata["patches"].value == 0
        assert (
            "no labelled scenes for jakobshavn 2024" in samples.asset_materialization.metadata["note"].value
        )
        stale = tmp_path / "samples" / "jakobshavn" / "2024" / "samples.npz"
        assert not stale.exists()
        stale.parent.mkdir(parents=True, exist_ok=True)  # samples of annotations since withdrawn
        stale.write_bytes(b"an earlier run's samples")
        run(job, instance, ["labelled_samples"], key, config=ops)
        assert not stale.exists()  # crack_model must not learn labels that are gone
        meta = instance.get_latest_materialization_event(
            dg.AssetKey("crack_maps")
        ).asset_materialization.metadata
    check = (
        "not checked: the shipped default model for real scenes (no checked bundle learnt from real labels)"
    )
    assert meta["bundle_check"].value == check
    out = tmp_path / "maps" / "jakobshavn" / "2024"
    summary = json.loads((out / "stats.json").read_text())
    assert Path(summary["bundle"]) == default_model_path() and summary["bundle_check"] == check
    shipped = json.loads((default_model_path() / "bundle.json").read_text())
    assert summary["model_id"].startswith(
        shipped["weights_sha256"][:16] + "@0.7000/"
    )  # compared across years
    # the default model learnt from raw sigma0, so it is given the raw scenes, not PPB's output
    item = json.loads((out / "item.json").read_text())
    scenes = [link["href"] for link in item["links"] if link["title"].startswith("scene ")]
    assert len(scenes) == 2 and all("/raw/jakobshavn/2024/" in href for href in scenes)
    # registered on the despeckled scenes, as ever: neither raw scene is rejected for its speckle
    statuses = [o["status"] for o in summary["registration"]["offsets"]]
    assert len(statuses) == 2 and "rejected" not in statuses
    assert not any(k.startswith("consistency_with_simulator_") for k in meta)
    # the same season in int8: valid maps, recorded as another model, close to the float ones
    with rasterio.open(out / "jakobshavn_2024_mask.tif") as m:
        float_mask = m.read(1)
    with dg.instance_for_test() as instance:
        int8 = {"crack_maps": {"config": {"int8": True}}}
        assert checks_of(run(job, instance, ["crack_maps"], key, config=int8))["crack_maps_valid"] is True
    summary8 = json.loads((out / "stats.json").read_text())
    assert summary8["model_id"] == summary["model_id"] + "+int8"
    with rasterio.open(out / "jakobshavn_2024_mask.tif") as m:
        assert (m.read(1) == float_mask).mean() > 0.99


def manifest_of(root, region):
    return json.loads((root / "despeckled" / region / "2024" / "manifest.json").read_text())["scenes"]


@pytest.mark.slow
def test_rematerialising_a_partition_is_idempotent(tmp_path):
    grid = ProcessingGrid(pixel_size=500.0)
    landing = tmp_path / "landing"
    simulate_season(grid.region("kangerdlussuaq"), 2019, 2, 3, landing)
    defs = build_defs(data_root=str(tmp_path), pixel_size=500.0)
    job = defs.resolve_implicit_global_asset_job_def()
    key = partition_key(2019, "kangerdlussuaq")
    folder = tmp_path / "raw" / "kangerdlussuaq" / "2019"
    with dg.instance_for_test() as instance:
        run(job, instance, ["raw_scenes", "despeckled_scenes"], key)
        first = {p.name: p.read_bytes() for p in folder.iterdir()}
        v1 = instance.get_latest_materialization_event(
            dg.AssetKey("despeckled_scenes")
        ).asset_materialization.tags
        # a scene withdrawn from the landing zone disappears from the partition on re-run
        withdrawn = sorted(landing.glob("*.tif"))[0]
        run(job, instance, ["raw_scenes", "despeckled_scenes"], key)
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == first
        v2 = instance.get_latest_materialization_event(
            dg.AssetKey("despeckled_scenes")
        ).asset_materialization.tags
        assert v1["dagster/data_version"] == v2["dagster/data_version"]
        withdrawn.unlink()
        run(job, instance, ["raw_scenes"], key)
        assert not any(withdrawn.stem in p.name for p in folder.iterdir())
        assert not any(p.name.endswith(".part") for p in tmp_path.rglob("*"))
