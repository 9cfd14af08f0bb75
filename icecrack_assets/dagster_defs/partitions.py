"""Year x region partitions. Keys are built with MultiPartitionKey, never by hand.

Dagster orders the dimensions of a multi-partition key alphabetically, so the string form is
``"<region>|<year>"`` (e.g. ``"jakobshavn|2024"``).
"""

from __future__ import annotations

import dagster as dg

from icecrack_assets.regions import FIRST_SENTINEL1_YEAR, REGIONS

YEAR = "year"
REGION = "region"

years_partitions = dg.TimeWindowPartitionsDefinition(
    start=str(FIRST_SENTINEL1_YEAR), fmt="%Y", cron_schedule="0 0 1 1 *", end_offset=1
)
regions_partitions = dg.StaticPartitionsDefinition(list(REGIONS))
year_region_partitions = dg.MultiPartitionsDefinition({YEAR: years_partitions, REGION: regions_partitions})


def partition_key(year: int | str, region: str) -> dg.MultiPartitionKey:
    """The partition key of one region's season."""
    return dg.MultiPartitionKey({YEAR: str(year), REGION: region})


def year_region_of(key: str | dg.MultiPartitionKey) -> tuple[int, str]:
    """(year, region) of a partition key in either its object or its string form."""
    if not isinstance(key, dg.MultiPartitionKey):
        key = year_region_partitions.get_partition_key_from_str(key)
    dims = key.keys_by_dimension
    return int(dims[YEAR]), dims[REGION]
