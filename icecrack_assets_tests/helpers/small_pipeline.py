"""Cheap real partitions for the production tests: simulated scenes on a coarse processing grid.

At ``PIXEL`` metres a region is ~100 x 100 pixels, so a whole season (ingest, PPB, samples, a tiny
U-Net, inference, products) takes seconds while every code path is the production one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from icecrack_assets.dagster_defs.partitions import partition_key
from icecrack_assets.dagster_defs.resources import ProcessingGrid

PIXEL = 250.0
YEAR = 2024

SAMPLES_CONFIG = {"patch": 32, "max_per_scene": 24, "block_size": 48, "buffer": 8, "seed": 0}
MODEL_CONFIG = {"epochs": 2, "batch_size": 8, "depth": 2, "width": 4, "patience": 2, "max_minutes": 1.0}
DESPECKLE_CONFIG = {"iterations": 1, "hw": 5, "hd": 1, "block": 256}
# a tiny model is below the method's floor (its blocking check fails): map with it explicitly
MAPS_CONFIG = {"model": "newest"}


def simulate(
    data_root: Path, regions: list[str], count: int = 1, year: int = YEAR, pixel: float = PIXEL
) -> list[Path]:
    """Simulated scenes of ``regions`` for one season in ``<data_root>/landing``."""
    from icecrack_assets.simulator.scenes import simulate_season

    grid = ProcessingGrid(pixel_size=pixel)
    paths: list[Path] = []
    for i, name in enumerate(regions):
        paths += simulate_season(grid.region(name), year, count, 1000 * i + 7, Path(data_root) / "landing")
    return paths


def run_config(
    data_root: Path | None = None,
    pixel: float = PIXEL,
    ops: tuple[str, ...] = ("despeckled_scenes", "labelled_samples", "crack_model"),
) -> dict[str, Any]:
    """Run config for cheap partitions: small PPB, small patches, a tiny U-Net."""
    by_op = {
        "despeckled_scenes": DESPECKLE_CONFIG,
        "labelled_samples": SAMPLES_CONFIG,
        "crack_model": MODEL_CONFIG,
        "crack_maps": MAPS_CONFIG,
    }
    cfg: dict[str, Any] = {"ops": {op: {"config": by_op[op]} for op in ops}}
    resources: dict[str, Any] = {"grid": {"config": {"pixel_size": pixel}}}
    if data_root is not None:
        resources["data"] = {"config": {"root": str(data_root)}}
    cfg["resources"] = resources
    return cfg


def key(region: str, year: int = YEAR) -> dg.MultiPartitionKey:
    return partition_key(year, region)


def partition_tags(region: str, year: int = YEAR) -> dict[str, str]:
    """The run tags Dagster gives a run of one year x region partition."""
    return {
        "dagster/partition": str(key(region, year)),
        "dagster/partition/region": region,
        "dagster/partition/year": str(year),
    }


def season_job_def() -> dg.JobDefinition:
    """``season_job`` from the code location; a module-level target for ``dg.reconstructable``."""
    from icecrack_assets.definitions import defs

    return defs.resolve_job_def("season_job")


INGEST = [dg.AssetKey(a) for a in ("raw_scenes", "despeckled_scenes", "labelled_samples")]


def distributed_season_job_def() -> dg.JobDefinition:
    """The job as the code location resolves it; a module-level target for ``dg.reconstructable``."""
    from icecrack_assets.dagster_defs.executors import DISTRIBUTED_JOB
    from icecrack_assets.definitions import defs

    return defs.resolve_job_def(DISTRIBUTED_JOB)


def launch_distributed_run(
    region: str, scheduler: str, dagster_home: str, data_root: str, assets: list[str]
) -> tuple[str, bool]:
    """One run of ``distributed_season_job`` for one partition, as a run worker process would.

    Module level so a ``spawn`` process pool can call it (one process per concurrent run, like
    the daemon's run launcher).
    """
    ops = tuple(a for a in ("despeckled_scenes", "labelled_samples", "crack_maps") if a in assets)
    cfg = run_config(Path(data_root), ops=ops)
    cfg["execution"] = {"config": {"cluster": {"existing": {"address": scheduler}}}}
    with dg.DagsterInstance.from_config(dagster_home) as instance:
        result = dg.execute_job(
            dg.reconstructable(distributed_season_job_def),
            instance=instance,
            asset_selection=[dg.AssetKey(a) for a in assets],
            tags=partition_tags(region),
            run_config=cfg,
        )
        return result.run_id, result.success
