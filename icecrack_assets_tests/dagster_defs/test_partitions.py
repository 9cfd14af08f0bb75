import datetime as dt

import dagster as dg

from icecrack_assets.dagster_defs.partitions import (
    partition_key,
    regions_partitions,
    year_region_of,
    year_region_partitions,
    years_partitions,
)
from icecrack_assets.regions import REGIONS


def test_years_start_with_the_first_sentinel1_summers_and_include_this_year():
    keys = years_partitions.get_partition_keys()
    assert keys[0] == "2015"
    assert str(dt.date.today().year) in keys
    assert regions_partitions.get_partition_keys() == list(REGIONS)


def test_multi_key_string_form_is_region_then_year():
    key = partition_key(2024, "jakobshavn")
    assert isinstance(key, dg.MultiPartitionKey)
    assert str(key) == "jakobshavn|2024"
    assert key in year_region_partitions.get_partition_keys()
    assert year_region_of("thwaites|2016") == (2016, "thwaites")
    assert year_region_of(key) == (2024, "jakobshavn")
