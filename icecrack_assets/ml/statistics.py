"""Crack statistics across seasons: one table per region and year, and the density change.

One implementation for the ``crack_statistics`` asset and scripts: the year-over-year change is
taken against the region's previous year *with data* (a missed season does not break the series),
and written as a CSV table and a PNG plot, both atomically.

Densities are per km² of mapped ice (the region's ice mask, ``masks/icemask.py``). A change is only
computed between co-registered maps: both seasons' scenes were co-registered before compositing
(``coregistered`` in the record) and the two seasons' mean backscatter images (``backscatter``)
are within ``MAX_CORRECT_PX`` of each other by phase correlation, and both maps were made by the
same model (``model_id`` in the record: weights, threshold, component floor; else ``bundle``). A
new model moves the density by itself, so a change between two models' maps would measure the
models, not the ice. Otherwise the change is left empty and ``change_basis`` says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from icecrack_assets.raster import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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

# unit of every numeric column (the UI's table schema and the units check read it)
UNITS = {
    "year": "year (season)",
    "crack_area_km2": "km²",
    "crack_length_km": "km",
    "density_km_per_km2": "km of crack per km² of ice",
    "valid_area_km2": "km²",
    "ice_km2": "km²",
    "previous_year": "year",
    "year_offset_px": "pixels",
    "density_change": "km/km², this season minus the previous one",
    "density_change_relative": "fraction of the previous season's density",
}


def _backscatters(rec: dict[str, Any]) -> dict[str, str]:
    """Pass direction -> season backscatter file of a record (a bare path means direction unknown)."""
    value = rec.get("backscatter")
    if isinstance(value, str):
        return {"unknown": value}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items() if isinstance(v, str) and Path(v).is_file()}
    return {}


def _model_of(rec: dict[str, Any]) -> str:
    """The model a map was made with: its ``model_id`` (weights, threshold, component floor), else its
    bundle path (maps from before model ids); "" when unknown."""
    for key in ("model_id", "bundle"):
        value = rec.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def year_offset(previous: dict[str, Any], current: dict[str, Any]) -> tuple[float, str]:
    """Offset (px) between two seasons' maps and whether a change may be computed between them.

    Measured between the two seasons' mean backscatter of one pass direction (the one both seasons
    have most scenes of): across passes the lighting, not the registration, moves the peak.
    """
    from icecrack_assets.sar.coregister import MAX_CORRECT_PX, map_offset

    for rec in (previous, current):
        if rec.get("coregistered") not in (True, 1):  # missing keys come back from pandas as NaN
            return float("nan"), f"{rec.get('year')}: scenes not co-registered; no change computed"
    if _model_of(previous) and _model_of(current) and _model_of(previous) != _model_of(current):
        names = " and ".join(Path(str(rec.get("bundle") or "?")).name for rec in (previous, current))
        return float("nan"), f"mapped by different models ({names}); re-map both seasons with one model"
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


def statistics_table(records: list[dict[str, Any]]) -> pd.DataFrame:
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


def year_ticks(years: list[int]) -> tuple[list[int], tuple[float, float]]:
    """Integer year ticks and limits half a year beyond the data: one season is one tick, not a
    century of autoscaled axis."""
    lo, hi = (min(years), max(years)) if years else (2017, 2017)
    step = max(1, int(np.ceil((hi - lo + 1) / 12)))
    return list(range(lo, hi + 1, step)), (lo - 0.5, hi + 0.5)


def plot_density(df: pd.DataFrame, path: Path) -> None:
    """Write ``density_figure`` as a PNG, atomically."""
    import matplotlib.pyplot as plt

    fig = density_figure(df)
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def density_figure(df: pd.DataFrame) -> Figure:
    """Crack density over the seasons, one small panel per region (shared integer year axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regions = sorted(df["region"].unique()) if len(df) else []
    n = max(1, len(regions))
    fig, axes = plt.subplots(
        n, 1, figsize=(6.4, 1.2 + 1.6 * n), dpi=100, sharex=True, squeeze=False, layout="constrained"
    )
    ticks, limits = year_ticks([int(y) for y in df["year"]] if len(df) else [])
    for ax, region in zip(axes[:, 0], regions):
        part = df[df["region"] == region].sort_values("year")
        ax.plot(part["year"].astype(int), part["density_km_per_km2"], marker="o", color="tab:blue")
        for year, value in zip(part["year"].astype(int), part["density_km_per_km2"]):
            if np.isfinite(value):
                ax.annotate(
                    f"{value:.2f}",
                    (year, value),
                    textcoords="offset points",
                    xytext=(0, 5),
                    ha="center",
                    fontsize=7,
                )
        ax.set_title(region, fontsize=8, loc="left")
        ax.set_ylabel("km / km²", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        top = np.nanmax(part["density_km_per_km2"].to_numpy(float)) if len(part) else 1.0
        ax.set_ylim(0, (top if np.isfinite(top) and top > 0 else 1.0) * 1.3)
    axes[-1, 0].set_xticks(ticks)
    axes[-1, 0].set_xticklabels([str(t) for t in ticks])
    axes[-1, 0].set_xlim(*limits)
    axes[-1, 0].set_xlabel("season (year)", fontsize=8)
    fig.suptitle("Crevasse density per region (km of crack per km² of ice)", fontsize=9)
    return fig


def write_statistics(records: list[dict[str, Any]], out_dir: Path) -> tuple[pd.DataFrame, Path, Path]:
    """Write ``crack_statistics.csv`` and ``crack_density.png`` under ``out_dir``; return (table, csv, png)."""
    df = statistics_table(records)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out_dir / "crack_statistics.csv", out_dir / "crack_density.png"
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    plot_density(df, png_path)
    return df, csv_path, png_path
