"""Crack statistics across seasons: one table per region and year, and the density change.

One implementation for the ``crack_statistics`` asset and scripts: the year-over-year change is
taken against the region's previous year *with data* (a missed season does not break the series),
and written as a CSV table and a PNG plot, both atomically.

Densities are per km² of mapped ice (the region's ice mask, ``masks/icemask.py``). A change is only
computed between co-registered maps: both seasons' scenes were co-registered before compositing
(``coregistered`` in the record) and the two seasons' mean backscatter images (``backscatter``)
are within ``MAX_CORRECT_PX`` of each other by phase correlation. Otherwise the change is left empty
and ``change_basis`` says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from icecrack_assets.raster import atomic_path

COLUMNS = [
    "region",
    "year",
    "crack_area_km2",
    "crack_length_km",
    "density_km_per_km2",
    "valid_area_km2",
    "ice_km2",
    "mask_source",
    "previous_year",
    "year_offset_px",
    "change_basis",
    "density_change",
    "density_change_relative",
]


def _backscatters(rec: dict[str, Any]) -> dict[str, str]:
    """Pass direction -> season backscatter file of a record (a bare path means direction unknown)."""
    value = rec.get("backscatter")
    if isinstance(value, str):
        return {"unknown": value}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items() if isinstance(v, str) and Path(v).is_file()}
    return {}


def year_offset(previous: dict[str, Any], current: dict[str, Any]) -> tuple[float, str]:
    """Offset (px) between two seasons' maps and whether a change may be computed between them.

    Measured between the two seasons' mean backscatter of one pass direction (the one both seasons
    have most scenes of): across passes the lighting, not the registration, moves the peak.
    """
    from icecrack_assets.sar.coregister import MAX_CORRECT_PX, map_offset

    for rec in (previous, current):
        if rec.get("coregistered") not in (True, 1):  # missing keys come back from pandas as NaN
            return float("nan"), f"{rec.get('year')}: scenes not co-registered; no change computed"
    prev, cur = _backscatters(previous), _backscatters(current)
    common = sorted(set(prev) & set(cur))
    if not common:
        return float("nan"), "no season backscatter of a common pass direction; no change computed"

    def scenes(rec: dict[str, Any], key: str) -> int:
        counts = rec.get("pass_counts")
        return int(counts.get(key, 0)) if isinstance(counts, dict) else 0

    key = max(common, key=lambda k: min(scenes(previous, k), scenes(current, k)))
    offset = map_offset(Path(prev[key]), Path(cur[key]))
    if not offset <= MAX_CORRECT_PX:
        return offset, f"maps {offset:.2f} px apart ({key}; > {MAX_CORRECT_PX:g} px); no change computed"
    return offset, f"co-registered ({offset:.2f} px, {key})"


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
    offsets, basis = [], []
    rows = df.to_dict("records")
    for i, row in enumerate(rows):
        if i == 0 or rows[i - 1]["region"] != row["region"]:
            offsets.append(float("nan"))
            basis.append("first season")
            continue
        off, why = year_offset(rows[i - 1], row)
        offsets.append(off)
        basis.append(why)
    df["year_offset_px"] = offsets
    df["change_basis"] = basis
    ok = df["change_basis"].str.startswith("co-registered")
    df["density_change"] = (df["density_km_per_km2"] - previous).where(ok)
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
