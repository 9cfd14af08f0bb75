"""The code location ``icecrack``: ``defs`` is what ``dagster dev -w workspace.yaml`` and ``dg`` load."""

from __future__ import annotations

import dagster as dg

from icecrack_assets import layout
from icecrack_assets.dagster_defs.assets.crack_maps import crack_maps
from icecrack_assets.dagster_defs.assets.crack_model import crack_model
from icecrack_assets.dagster_defs.assets.crack_statistics import crack_statistics
from icecrack_assets.dagster_defs.assets.despeckled_scenes import despeckled_scenes
from icecrack_assets.dagster_defs.assets.labelled_samples import labelled_samples
from icecrack_assets.dagster_defs.assets.raw_scenes import raw_scenes
from icecrack_assets.dagster_defs.executors import distributed_season_job
from icecrack_assets.dagster_defs.jobs import season_job, statistics_job, train_job
from icecrack_assets.dagster_defs.resources import (
    ComputeResource,
    DataRoot,
    PreviewServer,
    ProcessingGrid,
    SceneCatalogResource,
)
from icecrack_assets.dagster_defs.schedules import SEASON_SCHEDULES
from icecrack_assets.dagster_defs.sensors import new_acquisition_sensor

ALL_ASSETS = [raw_scenes, despeckled_scenes, labelled_samples, crack_model, crack_maps, crack_statistics]


def build_defs(
    data_root: str | None = None,
    catalog: SceneCatalogResource | None = None,
    pixel_size: float = 0.0,
    preview_url: str | None = None,
) -> dg.Definitions:
    """Definitions with a given data root (tests and the demo point it at their own folder)."""
    return dg.Definitions(
        assets=ALL_ASSETS,
        jobs=[season_job, train_job, statistics_job, distributed_season_job],
        schedules=list(SEASON_SCHEDULES.values()),
        sensors=[
            new_acquisition_sensor,
            dg.AutomationConditionSensorDefinition(
                "statistics_automation",
                target=dg.AssetSelection.assets("crack_statistics"),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=300,
                description="Declarative automation of crack_statistics (eager): recomputes the "
                "cross-season table and plot after any crack_maps partition is (re)materialised.",
            ),
        ],
        resources={
            "data": DataRoot(root=str(layout.data_root(data_root))),
            "scene_catalog": catalog or SceneCatalogResource(),
            "compute": ComputeResource(),
            "grid": ProcessingGrid(pixel_size=pixel_size),
            "previews": PreviewServer() if preview_url is None else PreviewServer(base_url=preview_url),
        },
        executor=dg.multiprocess_executor.configured({"max_concurrent": 2}),
    )


defs = build_defs()
