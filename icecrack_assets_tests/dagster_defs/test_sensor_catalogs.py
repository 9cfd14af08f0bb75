"""The sensor hears about new acquisitions from STAC and ASF (local servers on 127.0.0.1), and the
runs it requests download, ingest and record the scenes end to end."""

import datetime as dt

import dagster as dg
import pytest

from icecrack_assets.dagster_defs.resources import DataRoot, SceneCatalogResource
from icecrack_assets.regions import get_region
from icecrack_assets_tests.helpers.catalog_server import CatalogServer
from icecrack_assets_tests.helpers.safe_builder import EW_GRDM, build_tiny_safe

UTC = dt.timezone.utc
AMERY = get_region("amery")
LAST_SEASON = dt.datetime.now(UTC).year - 1  # always inside the sensor's look-back window


def footprint_of(region):
    from pyproj import Transformer

    to_ll = Transformer.from_crs(region.epsg, 4326, always_xy=True)
    x0, y0, x1, y1 = region.bounds
    return [to_ll.transform(x, y) for x, y in [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]]


@pytest.fixture
def server_with_amery_scene(shared_data, tmp_path):
    tiny = build_tiny_safe(
        shared_data / EW_GRDM,
        tmp_path / "built",
        AMERY,
        dt.datetime(LAST_SEASON, 1, 20, 3, tzinfo=UTC),
        lines=300,
        samples=400,
        pols=("HH",),
        zipped=True,
    )
    with CatalogServer() as srv:
        scene_id = tiny.path.name.split(".")[0]
        srv.add_scene(scene_id, footprint_of(AMERY), data=tiny.path.read_bytes())
        yield srv, scene_id


def sensor_tick(tmp_path, instance, catalog, cursor=None):
    from icecrack_assets.dagster_defs.sensors import new_acquisition_sensor

    ctx = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"data": DataRoot(root=str(tmp_path)), "scene_catalog": catalog},
    )
    return new_acquisition_sensor(ctx)


@pytest.mark.parametrize("kind", ["stac", "asf"])
def test_sensor_requests_the_new_scenes_partition_once(tmp_path, server_with_amery_scene, kind):
    srv, scene_id = server_with_amery_scene
    url = srv.stac_url if kind == "stac" else srv.url
    catalog = SceneCatalogResource(kind=kind, url=url)
    with dg.instance_for_test() as instance:
        first = sensor_tick(tmp_path, instance, catalog)
        assert [str(r.partition_key) for r in first.run_requests] == [f"amery|{LAST_SEASON}"]
        assert not sensor_tick(tmp_path, instance, catalog, cursor=first.cursor).run_requests


def test_a_catalogue_that_fails_is_logged_and_the_tick_survives(tmp_path):
    catalog = SceneCatalogResource(kind="stac", url="http://127.0.0.1:9/stac")  # nothing listens
    with dg.instance_for_test() as instance:
        result = sensor_tick(tmp_path, instance, catalog)
        assert not result.run_requests and "no new acquisitions" in result.skip_reason.skip_message


@pytest.mark.slow
def test_requested_run_downloads_and_ingests_from_stac(tmp_path, server_with_amery_scene):
    from icecrack_assets.definitions import build_defs

    srv, scene_id = server_with_amery_scene
    catalog = SceneCatalogResource(kind="stac", url=srv.stac_url)
    defs = build_defs(data_root=str(tmp_path), catalog=catalog, pixel_size=500.0)
    with dg.instance_for_test() as instance:
        request = sensor_tick(tmp_path, instance, catalog).run_requests[0]
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance,
            partition_key=request.partition_key,
            asset_selection=[dg.AssetKey("raw_scenes")],
        )
        assert result.success
        meta = instance.get_latest_materialization_event(
            dg.AssetKey("raw_scenes")
        ).asset_materialization.metadata
        assert meta["scene_ids"].value == [scene_id]
    assert (tmp_path / "landing" / f"{scene_id}.zip").exists()
    assert (tmp_path / "raw" / "amery" / str(LAST_SEASON) / f"{scene_id}.tif").exists()
