"""crack_statistics: crack area, length and density per region and year, and their change."""

import dagster as dg

from icecrack_assets.dagster_defs.assets.common import md_table
from icecrack_assets.dagster_defs.assets.crack_maps import crack_maps
from icecrack_assets.dagster_defs.lineage import data_version_of, png_markdown
from icecrack_assets.dagster_defs.partitions import year_region_of
from icecrack_assets.dagster_defs.resources import DataRoot
from icecrack_assets.files import read_json
from icecrack_assets.ml.statistics import COLUMNS, write_statistics


@dg.asset(
    deps=[dg.AssetDep(crack_maps, partition_mapping=dg.AllPartitionMapping())],
    code_version="stats-3",
    group_name="products",
    kinds={"pandas"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Crack area, length and density (per km² of ice) per region and year across all "
    "crack_maps partitions, with the year-over-year density change where the two seasons' maps are "
    "co-registered (change_basis says why not), as a CSV table and a plot.",
)
def crack_statistics(context: dg.AssetExecutionContext, data: DataRoot) -> dg.MaterializeResult:
    records = []
    for key in sorted(str(k) for k in context.instance.get_materialized_partitions(crack_maps.key)):
        year, region = year_region_of(key)
        stats_path = data.layout.map_summary(region, year)
        if stats_path.exists():
            records.append(read_json(stats_path))
    if not records:
        raise dg.Failure("no crack_maps partitions on disk: materialise crack_maps first")
    df, csv_path, png_path = write_statistics(records, data.layout.stats)
    rows = df.to_dict("records")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(csv_path)),
            "rows": len(df),
            "table": md_table(rows, COLUMNS),
            "plot": png_markdown(png_path, "crack density"),
        },
        data_version=data_version_of(df.round(9).to_dict("list")),
    )
