"""The new-acquisition sensor, evaluated against real files in a temporary landing zone."""

import datetime as dt
import json

import dagster as dg
import numpy as np
import pytest

from icecrack_assets.dagster_defs.resources import DataRoot, SceneCatalogResource
from icecrack_assets.dagster_defs.sensors import new_acquisition_sensor
from icecrack_assets.regions import get_region
from icecrack_assets.sar.sentinel1.naming import build_name
from icecrack_assets_tests.helpers.rasters import write_tiny_raster


def scene_name(region: str, when: dt.datetime, uid: str = "ABCD") -> str:
    r = get_region(region)
    return build_name(
        "S1A", r.mode, r.product, ("HH",), when, when + dt.timedelta(seconds=25), 54321, "06A1B2", uid
    )


def drop_scene(landing, region: str, when: dt.datetime, uid: str = "ABCD"):
    r = get_region(region)
    origin = (r.bounds[0] + 1000, r.bounds[3] - 1000)
    path = landing / f"{scene_name(region, when, uid)}.tif"
    return write_tiny_raster(
        path, np.full((16, 16), 0.1, np.float32), epsg=r.epsg, origin=origin, pixel=r.pixel_size
    )


@pytest.fixture
def landing(tmp_path):
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


def tick(tmp_path, instance, cursor=None):
    ctx = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"data": DataRoot(root=str(tmp_path)), "scene_catalog": SceneCatalogResource()},
    )
    return new_acquisition_sensor(ctx)


def test_new_scenes_become_runs_of_their_partitions_once(tmp_path, landing):
    from icecrack_assets.catalog.landing import truth_path_for

    drop_scene(landing, "jakobshavn", dt.datetime(2024, 7, 10, 10, tzinfo=dt.timezone.utc), "AAAA")
    drop_scene(landing, "jakobshavn", dt.datetime(2024, 8, 2, 10, tzinfo=dt.timezone.utc), "BBBB")
    simulated = drop_scene(landing, "thwaites", dt.datetime(2023, 2, 3, 10, tzinfo=dt.timezone.utc), "CCCC")
    truth_path_for(simulated).write_bytes(simulated.read_bytes())  # a simulator scene has its truth beside it
    with dg.instance_for_test() as instance:
        result = tick(tmp_path, instance)
        keys = sorted(str(r.partition_key) for r in result.run_requests)
        assert keys == ["jakobshavn|2024", "thwaites|2023"]
        # no model trained yet: real scenes are mapped (by the shipped default model), simulated
        # ones are ingested, despeckled and sampled but not mapped
        maps = {
            str(r.partition_key): dg.AssetKey("crack_maps") in r.asset_selection for r in result.run_requests
        }
        assert maps == {"jakobshavn|2024": True, "thwaites|2023": False}
        again = tick(tmp_path, instance, cursor=result.cursor)
        assert not again.run_requests
        assert "no new acquisitions" in again.skip_reason.skip_message


def test_malformed_partial_and_out_of_season_files_are_skipped_and_the_tick_goes_on(
    tmp_path, landing, caplog
):
    (landing / f"{scene_name('jakobshavn', dt.datetime(2024, 7, 1, tzinfo=dt.timezone.utc))}.tif").write_text(
        "garbage"
    )
    (landing / "S1A_IW_GRDH_copying.tif.part").write_bytes(b"\0" * 10)
    (landing / "holiday-photo.tif").write_bytes(b"\0" * 10)
    drop_scene(landing, "jakobshavn", dt.datetime(2024, 12, 1, tzinfo=dt.timezone.utc), "DDDD")  # winter
    good = drop_scene(landing, "kangerdlussuaq", dt.datetime(2022, 7, 20, tzinfo=dt.timezone.utc), "EEEE")
    with dg.instance_for_test() as instance:
        result = tick(tmp_path, instance)
        assert [str(r.partition_key) for r in result.run_requests] == ["kangerdlussuaq|2022"]
        seen = json.loads(result.cursor)
        assert good.stem in seen
        assert not any("garbage" in k for k in seen)


def test_a_replaced_file_triggers_again_and_run_keys_are_stable(tmp_path, landing):
    when = dt.datetime(2021, 1, 20, tzinfo=dt.timezone.utc)
    path = drop_scene(landing, "amery", when, "FFFF")
    with dg.instance_for_test() as instance:
        first = tick(tmp_path, instance)
        path.unlink()
        r = get_region("amery")
        write_tiny_raster(
            path,
            np.full((32, 32), 0.2, np.float32),
            epsg=r.epsg,
            origin=(r.bounds[0] + 1000, r.bounds[3] - 1000),
            pixel=r.pixel_size,
        )
        second = tick(tmp_path, instance, cursor=first.cursor)
        assert [str(q.partition_key) for q in second.run_requests] == ["amery|2021"]
        # a new key: Dagster launches one run per run key, so reusing it would drop the new content
        assert first.run_requests[0].run_key != second.run_requests[0].run_key
        third = tick(tmp_path, instance, cursor=second.cursor)
        assert not third.run_requests  # nothing changed since: nothing requested


def test_sensor_evaluates_through_dagster_with_definitions(tmp_path, landing):
    from icecrack_assets.definitions import build_defs

    drop_scene(landing, "fimbul", dt.datetime(2020, 1, 5, tzinfo=dt.timezone.utc), "1234")
    defs = build_defs(data_root=str(tmp_path))
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(
            instance_ref=instance.get_ref(),
            definitions=defs,
            resources={"data": DataRoot(root=str(tmp_path)), "scene_catalog": SceneCatalogResource()},
        )
        data = defs.resolve_sensor_def("new_acquisition_sensor").evaluate_tick(ctx)
        assert [str(r.partition_key) for r in data.run_requests] == ["fimbul|2020"]
