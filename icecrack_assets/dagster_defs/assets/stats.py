"""crack_statistics: crack area, length and density per region and year, and their change."""


import dagster as dg
import pandas as pd

from icecrack_assets.dagster_defs.assets.common import md_table
from icecrack_assets.dagster_defs.lineage import data_version_of, png_markdown, read_json
from icecrack_assets.dagster_defs.partitions import year_region_of
from icecrack_assets.dagster_defs.resources import DataRoot
from icecrack_assets.raster import atomic_path

COLUMNS = ["region", "year", "crack_area_km2", "crack_length_km", "density_km_per_km2",
           "valid_area_km2", "density_change"]


def statistics_table(records: list[dict]) -> pd.DataFrame:
    """One row per region and year, with the change in density since the region's previous year."""
    df = pd.DataFrame.from_records(records)
    for col in COLUMNS:
        if col not in df:
            df[col] = float("nan")
    df = df.sort_values(["region", "year"]).reset_index(drop=True)
    df["density_change"] = df.groupby("region")["density_km_per_km2"].diff()
    return df[COLUMNS]


def plot_statistics(df: pd.DataFrame, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    for region, part in df.groupby("region"):
        ax.plot(part["year"], part["density_km_per_km2"], marker="o", label=region)
    ax.set_xlabel("year")
    ax.set_ylabel("crack density (km / km²)")
    ax.set_title("Crevasse density per region and season")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


@dg.asset(
    deps=[dg.AssetDep("crack_maps", partition_mapping=dg.AllPartitionMapping())],
    code_version="stats-1",
    group_name="products",
    kinds={"pandas"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Crack area, length and density per region and year across all crack_maps "
                "partitions, with the year-over-year density change, as a CSV table and a plot.",
)
def crack_statistics(context: dg.AssetExecutionContext, data: DataRoot) -> dg.MaterializeResult:
    records = []
    for key in sorted(str(k) for k in context.instance.get_materialized_partitions(dg.AssetKey("crack_maps"))):
        year, region = year_region_of(key)
        stats_path = data.partition_dir("maps", region, year) / "stats.json"
        if stats_path.exists():
            records.append(read_json(stats_path))
    if not records:
        raise dg.Failure("no crack_maps partitions on disk: materialise crack_maps first")
    df = statistics_table(records)
    out = data.stats_dir()
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "crack_statistics.csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    plot_statistics(df, out / "crack_density.png")
    rows = df.to_dict("records")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out / "crack_statistics.csv")),
            "rows": len(df),
            "table": md_table(rows, COLUMNS),
            "plot": png_markdown(out / "crack_density.png", "crack density"),
        },
        data_version=data_version_of(df.round(9).to_dict("list")),
    )
