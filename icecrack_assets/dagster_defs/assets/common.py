"""Small helpers every partitioned asset uses."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from icecrack_assets.dagster_defs.partitions import year_region_of
from icecrack_assets.dagster_defs.resources import ProcessingGrid
from icecrack_assets.regions import Region


def partition_of(context: dg.AssetExecutionContext, grid: ProcessingGrid) -> tuple[int, Region]:
    """(year, region on the processing grid) of the running partition."""
    year, region = year_region_of(context.partition_key)
    return year, grid.region(region)


def md_table(rows: list[dict], columns: list[str]) -> dg.MetadataValue:
    """A markdown table for the UI's metadata panel."""
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join("| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |\n" for r in rows)
    return dg.MetadataValue.md(head + body)


def _fmt(v: object) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return "–"
    return f"{v:.4g}" if isinstance(v, float) else str(v)
