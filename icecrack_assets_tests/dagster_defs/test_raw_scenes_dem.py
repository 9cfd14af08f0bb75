"""The raw_scenes asset's DEM setting: it reaches SAFE ingest and is kept away from GeoTIFF inputs."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from icecrack_assets.dagster_defs.assets.raw_scenes import RawScenesConfig
from icecrack_assets.definitions import build_defs
from icecrack_assets.layout import RawManifest, Stage
from icecrack_assets.regions import get_region
from icecrack_assets.sar.sentinel1.terrain import Dem
from icecrack_assets_tests.helpers import small_pipeline as sp


def test_dem_setting_resolves_to_a_dem_with_its_geoid_offset(tmp_path: Path) -> None:
    region = get_region("jakobshavn")
    assert RawScenesConfig().resolve(region, tmp_path) is None
    dem = RawScenesConfig(dem=str(tmp_path / "dem.tif"), dem_geoid_offset_m=30.0).resolve(region, tmp_path)
    assert dem == Dem(tmp_path / "dem.tif", 30.0)


def test_a_dem_does_not_stop_geotiff_scenes_from_being_ingested(tmp_path: Path) -> None:
    # simulated landing scenes are GeoTIFFs (already geocoded): ingest refuses a DEM with them,
    # so the asset passes the DEM to SAFE products only and the season still ingests
    sp.simulate(tmp_path, ["jakobshavn"])
    job = build_defs(data_root=str(tmp_path), pixel_size=sp.PIXEL).resolve_implicit_global_asset_job_def()
    cfg = sp.run_config(tmp_path, ops=())
    cfg["ops"] = {"raw_scenes": {"config": {"dem": str(tmp_path / "no-such-dem.tif")}}}
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance,
            partition_key=sp.key("jakobshavn"),
            asset_selection=[dg.AssetKey("raw_scenes")],
            run_config=cfg,
        )
    assert result.success
    manifest = RawManifest.read(tmp_path / Stage.RAW.value / "jakobshavn" / str(sp.YEAR))
    assert len(manifest.scenes) == 1
    meta = result.asset_materializations_for_node("raw_scenes")[0].metadata
    assert meta["terrain_correction"].value.startswith("DEM no-such-dem.tif")
