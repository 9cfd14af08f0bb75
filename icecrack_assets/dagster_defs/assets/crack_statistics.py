"""crack_statistics: crack area, length and density per region and year, and their change."""

import dagster as dg

from icecrack_assets.dagster_defs import checks
from icecrack_assets.dagster_defs.assets.crack_maps import crack_maps
from icecrack_assets.dagster_defs.lineage import data_version_of
from icecrack_assets.dagster_defs.metadata import image_entries, table
from icecrack_assets.dagster_defs.partitions import year_region_of
from icecrack_assets.dagster_defs.resources import DataRoot, PreviewServer
from icecrack_assets.files import read_json
from icecrack_assets.ml.statistics import COLUMNS, UNITS, write_statistics

STATISTICS = "crack_statistics"
FIGURES = ("crack_area_km2", "crack_length_km", "density_km_per_km2", "valid_area_km2")
TEXT_COLUMNS = {
    "region": "region name (regions.py)",
    "mask_source": "where the ice mask came from",
    "change_basis": "why the density change was (not) computed",
}


@dg.asset(
    deps=[dg.AssetDep(crack_maps, partition_mapping=dg.AllPartitionMapping())],
    code_version="stats-3",
    group_name="products",
    kinds={"csv"},
    owners=["team:glaciology"],
    tags={"domain": "crevasses", "stage": "product"},
    check_specs=checks.specs(STATISTICS, checks.STATS_ROWS, checks.STATS_FINITE, checks.STATS_UNITS),
    automation_condition=dg.AutomationCondition.eager(),
    description="Crack area, length and density (per km² of ice) per region and year across all "
    "crack_maps partitions, with the year-over-year density change where the two seasons' maps are "
    "co-registered (change_basis says why not), as a CSV table and a plot.",
)
def crack_statistics(
    context: dg.AssetExecutionContext, data: DataRoot, previews: PreviewServer
) -> dg.MaterializeResult:
    records = []
    mapped = []
    for key in sorted(str(k) for k in context.instance.get_materialized_partitions(crack_maps.key)):
        year, region = year_region_of(key)
        stats_path = data.layout.map_summary(region, year)
        if stats_path.exists():
            records.append(read_json(stats_path))
            mapped.append((region, year))
    if not records:
        raise dg.Failure("no crack_maps partitions on disk: materialise crack_maps first")
    df, csv_path, png_path = write_statistics(records, data.layout.stats)
    rows = df.to_dict("records")
    schema = {
        c: (
            ("string", TEXT_COLUMNS.get(c, c))
            if c in TEXT_COLUMNS
            else ("int" if c in ("year", "previous_year") else "float", UNITS.get(c, ""))
        )
        for c in COLUMNS
    }
    years = sorted({int(y) for y in df["year"]})
    caption = (
        f"crack density per region, {len(df)} map(s), {years[0]}–{years[-1]}"
        if len(years) > 1
        else f"crack density per region, {len(df)} map(s), season {years[0]}"
    )
    return dg.MaterializeResult(
        metadata={
            **image_entries("plot", png_path, caption, data.layout.root, previews.base_url),
            "table": table(rows, schema),
            "rows": len(df),
            "path": dg.MetadataValue.path(str(csv_path)),
        },
        data_version=data_version_of(df.round(9).to_dict("list")),
        check_results=[
            checks.check_statistics_rows(df, mapped),
            checks.check_statistics_finite(df, FIGURES),
            checks.check_statistics_units(df, UNITS),
        ],
    )
