"""Crack statistics across seasons: one table per region and year, and the density change.

One implementation for the ``crack_statistics`` asset and scripts: the year-over-year change is
taken against the region's previous year *with data* (a missed season does not break the series),
and written as a CSV table and a PNG plot, both atomically.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from icecrack_assets.raster import atomic_path

COLUMNS = [
    "region",
    "year",
    "crack_area_km2",
    "crack_length_km",
    "density_km_per_km2",
    "valid_area_km2",
    "previous_year",
    "density_change",
    "density_change_relative",
]


def statistics_table(records: list[dict]) -> pd.DataFrame:
    """One row per region and year from per-partition stats records, with the density change."""
    df = pd.DataFrame.from_records(records)
    for col in COLUMNS:
        if col not in df:
            df[col] = float("nan")
    df = df.sort_values(["region", "year"]).reset_index(drop=True)
    by_region = df.groupby("region")
    previous = by_region["density_km_per_km2"].shift()
    df["previous_year"] = by_region["year"].shift().astype("Int64")
    df["density_change"] = df["density_km_per_km2"] - previous
    df["density_change_relative"] = df["density_change"] / previous.where(previous != 0)
    return df[COLUMNS]


def plot_density(df: pd.DataFrame, path: Path) -> None:
    """Density per region over the years, one line per region."""
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
    if len(df):
        ax.legend(fontsize=8)
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write_statistics(records: list[dict], out_dir: Path) -> tuple[pd.DataFrame, Path, Path]:
    """Write ``crack_statistics.csv`` and ``crack_density.png`` under ``out_dir``; return (table, csv, png)."""
    df = statistics_table(records)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out_dir / "crack_statistics.csv", out_dir / "crack_density.png"
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    plot_density(df, png_path)
    return df, csv_path, png_path
