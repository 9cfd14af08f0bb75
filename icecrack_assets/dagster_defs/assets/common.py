"""Small helpers every partitioned asset uses."""

from __future__ import annotations

import dagster as dg

from icecrack_assets.dagster_defs.partitions import year_region_of
from icecrack_assets.dagster_defs.resources import ProcessingGrid
from icecrack_assets.regions import Region


def partition_of(context: dg.AssetExecutionContext, grid: ProcessingGrid) -> tuple[int, Region]:
    """(year, region on the processing grid) of the running partition."""
    year, region = year_region_of(context.partition_key)
    return year, grid.region(region)
