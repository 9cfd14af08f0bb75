"""Asset checks, declared inline (``check_specs``) so they run with the asset, per partition.

Checks of year x region assets carry the partitions definition, so Dagster records each result
against its partition: a failure for jakobshavn|2024 stays visible after thwaites|2024 passes.
The model's floor is blocking: a model below it fails its step and nothing downstream runs in
that run (and ``crack_maps`` only picks bundles whose check passed). The check logic is plain
functions over files and tables, so tests can feed them good and bad data.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import rasterio

from icecrack_assets.ml.method import METHOD_PRECISION, METHOD_RECALL
from icecrack_assets.ml.postprocess import stored_probability
from icecrack_assets.regions import Region

GRID = "matches_region_grid"
NOT_EMPTY = "not_all_nodata"
MEAN_PRESERVED = "despeckling_preserves_mean"
LOOKS_MATCH_ENL = "looks_match_measured_enl"
METRICS_FLOOR = "metrics_above_method_floor"
MAPS_VALID = "crack_maps_valid"
SPLIT_SIZES = "every_split_has_patches"
SPLIT_CRACKS = "every_split_has_cracks"
NO_LEAKAGE = "no_train_eval_overlap"
STATS_ROWS = "one_row_per_mapped_partition"
STATS_FINITE = "no_missing_figures"
STATS_UNITS = "figures_have_units"
BLOCKING = {METRICS_FLOOR}

# The AIR-CAS method's published figures: our model must at least match them.


def specs(
    asset: str, *names: str, partitions_def: dg.PartitionsDefinition | None = None
) -> list[dg.AssetCheckSpec]:
    """Check specs of ``asset``; give the asset's ``partitions_def`` to record results per partition."""
    descriptions = {
        GRID: "CRS, bounds and pixel size equal the region's AOI grid",
        NOT_EMPTY: "no output raster is entirely nodata",
        MEAN_PRESERVED: "mean of the ratio image (noisy / despeckled) is within 0.1 of 1",
        LOOKS_MATCH_ENL: "the number of looks PPB's parameters were chosen for is within a factor 2 of the "
        "ENL measured on homogeneous blocks of each input scene (warning: a wrong L mis-tunes the filter)",
        METRICS_FLOOR: f"held-out test precision >= {METHOD_PRECISION} and recall >= {METHOD_RECALL} "
        "(the method's figures; crack pixels within 1 px count as hits)",
        MAPS_VALID: "probabilities in [0, 1], mask in {0, 1, 255}, every crack pixel has probability >= "
        "threshold (post-processing may only remove pixels), nodata agrees",
        SPLIT_SIZES: "train, val and test each hold at least one patch",
        SPLIT_CRACKS: "crack pixels make up more than 0 of every split's labelled pixels (a split "
        "without cracks cannot score a crack detector)",
        NO_LEAKAGE: "no val/test patch overlaps a train patch, in any scene of the season (the spatial "
        "blocks keep held-out ground out of training)",
        STATS_ROWS: "one row per crack_maps partition on disk, and no other",
        STATS_FINITE: "area, length, density and valid area are finite in every row",
        STATS_UNITS: "every numeric column has a documented unit (statistics.UNITS)",
    }
    with warnings.catch_warnings():  # partitioned check specs are a preview API in 1.13
        warnings.simplefilter("ignore", category=dg.PreviewWarning)
        return [
            dg.AssetCheckSpec(
                n,
                asset=asset,
                description=descriptions[n],
                blocking=n in BLOCKING,
                partitions_def=partitions_def,
            )
            for n in names
        ]


def check_grid(paths: Sequence[Path], region: Region) -> dg.AssetCheckResult:
    bad = []
    for p in paths:
        with rasterio.open(p) as ds:
            ok = (
                ds.crs is not None
                and ds.crs.to_epsg() == region.epsg
                and np.allclose(tuple(ds.bounds), region.bounds, atol=region.pixel_size / 2)
                and abs(ds.res[0] - region.pixel_size) < 1e-6
            )
            if not ok:
                bad.append(f"{p.name}: {ds.crs} {tuple(round(b) for b in ds.bounds)} res {ds.res[0]}")
    return dg.AssetCheckResult(
        check_name=GRID,
        passed=not bad and bool(paths),
        metadata={
            "checked": len(paths),
            "mismatches": "; ".join(bad) or "none",
            "expected": f"{region.crs} {region.bounds} @ {region.pixel_size} m",
        },
    )


def valid_fraction(path: Path) -> float:
    """Fraction of pixels that are not nodata, read block by block."""
    valid = total = 0
    with rasterio.open(path) as ds:
        for _, window in ds.block_windows(1):
            mask = ds.read_masks(1, window=window)
            arr = ds.read(1, window=window)
            ok = mask > 0
            if np.issubdtype(arr.dtype, np.floating):
                ok &= np.isfinite(arr)
            valid += int(ok.sum())
            total += ok.size
    return valid / total if total else 0.0


def check_not_empty(paths: Sequence[Path]) -> dg.AssetCheckResult:
    fractions = {p.name: round(valid_fraction(p), 4) for p in paths}
    empty = [n for n, f in fractions.items() if f == 0.0]
    return dg.AssetCheckResult(
        check_name=NOT_EMPTY,
        passed=bool(paths) and not empty,
        metadata={
            "valid_fraction_min": min(fractions.values(), default=0.0),
            "all_nodata": ", ".join(empty) or "none",
        },
    )


def check_mean_preserved(ratios: dict[str, float], tolerance: float = 0.1) -> dg.AssetCheckResult:
    worst = max(ratios.items(), key=lambda kv: abs(kv[1] - 1.0), default=("none", float("nan")))
    passed = bool(ratios) and all(abs(r - 1.0) <= tolerance for r in ratios.values())
    return dg.AssetCheckResult(
        check_name=MEAN_PRESERVED,
        passed=passed,
        metadata={"worst_scene": worst[0], "worst_mean_ratio": float(worst[1])},
    )


def check_looks_match_enl(scenes: Sequence[dict], factor: float = 2.0) -> dg.AssetCheckResult:
    """``scenes``: dicts with scene_id, looks, enl_input (None when no homogeneous block was found)."""
    measured = [s for s in scenes if s.get("enl_input")]
    off = [
        f"{s['scene_id']}: looks {s['looks']:g}, ENL {s['enl_input']:.2f}"
        for s in measured
        if not 1 / factor <= s["enl_input"] / s["looks"] <= factor
    ]
    return dg.AssetCheckResult(
        check_name=LOOKS_MATCH_ENL,
        passed=bool(measured) and not off,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "scenes_measured": len(measured),
            "looks_used": dg.MetadataValue.json(sorted({float(s["looks"]) for s in scenes})),
            "enl_measured": dg.MetadataValue.json({s["scene_id"]: s["enl_input"] for s in measured}),
            "enl_despeckled": dg.MetadataValue.json({s["scene_id"]: s.get("enl_output") for s in measured}),
            "mismatches": "; ".join(off) or ("none" if measured else "no homogeneous block in any scene"),
        },
    )


def check_metrics_floor(metrics: dict[str, float], bundle: str = "") -> dg.AssetCheckResult:
    """Held-out test precision/recall (1-px tolerance) against the method's; ``bundle`` is recorded
    so ``crack_maps`` can tell which bundles passed."""
    p, r = metrics.get("precision", 0.0), metrics.get("recall", 0.0)
    return dg.AssetCheckResult(
        check_name=METRICS_FLOOR,
        passed=p >= METHOD_PRECISION and r >= METHOD_RECALL,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "precision": round(float(p), 3),
            "recall": round(float(r), 3),
            "floor_precision": METHOD_PRECISION,
            "floor_recall": METHOD_RECALL,
            "bundle": bundle,
        },
    )


def not_applicable(name: str, reason: str) -> dg.AssetCheckResult:
    """A check with nothing to check (e.g. the split checks of a partition with no labels): passed, and
    says why, so the partition's check list is not red for data that was never meant to be there."""
    return dg.AssetCheckResult(check_name=name, passed=True, metadata={"not_applicable": reason})


def check_maps_valid(prob_path: Path, mask_path: Path, threshold: float) -> dg.AssetCheckResult:
    # the mask is thresholded before the probability is stored in steps of PROBABILITY_STEP, so a
    # crack pixel's stored probability is at least the threshold rounded the same way
    floor = stored_probability(np.array([threshold], np.float64))[0]
    problems = []
    with rasterio.open(prob_path) as pds, rasterio.open(mask_path) as mds:
        if pds.shape != mds.shape:
            problems.append("probability and mask shapes differ")
        else:
            for _, window in pds.block_windows(1):
                prob = pds.read(1, window=window)
                mask = mds.read(1, window=window)
                finite = np.isfinite(prob)
                if np.any((prob[finite] < 0) | (prob[finite] > 1)):
                    problems.append("probability outside [0, 1]")
                if not np.isin(mask, (0, 1, 255)).all():
                    problems.append("mask values outside {0, 1, 255}")
                if np.any((mask == 1) & ~(finite & (prob >= floor))):
                    problems.append("mask marks cracks where probability < threshold")
                if np.any((mask == 255) != ~finite):
                    problems.append("mask nodata disagrees with probability nodata")
                if problems:
                    break
    return dg.AssetCheckResult(
        check_name=MAPS_VALID,
        passed=not problems,
        metadata={"problems": "; ".join(sorted(set(problems))) or "none", "threshold": float(threshold)},
    )


SPLITS = ("train", "val", "test")


def check_split_sizes(index: pd.DataFrame) -> dg.AssetCheckResult:
    """``index``: the samples' index.csv (one row per patch, column ``split``)."""
    counts = {s: int((index["split"] == s).sum()) for s in SPLITS}
    empty = [s for s, n in counts.items() if n == 0]
    return dg.AssetCheckResult(
        check_name=SPLIT_SIZES,
        passed=not empty,
        metadata={**{f"{s}_patches": n for s, n in counts.items()}, "empty": ", ".join(empty) or "none"},
    )


def check_split_cracks(crack_pixels: dict[str, int], labelled_pixels: dict[str, int]) -> dg.AssetCheckResult:
    """Crack fraction per split from the label arrays (crack and labelled pixel counts per split)."""
    fractions = {
        s: crack_pixels.get(s, 0) / labelled_pixels[s] if labelled_pixels.get(s) else 0.0 for s in SPLITS
    }
    none = [s for s, f in fractions.items() if f <= 0]
    return dg.AssetCheckResult(
        check_name=SPLIT_CRACKS,
        passed=not none,
        metadata={
            **{f"{s}_crack_fraction": round(f, 4) for s, f in fractions.items()},
            "without_cracks": ", ".join(none) or "none",
        },
    )


def train_eval_overlaps(index: pd.DataFrame) -> int:
    """How many val/test patches overlap a train patch (rows/cols are on the region grid)."""
    train = index[index["split"] == "train"]
    held = index[index["split"] != "train"]
    if train.empty or held.empty:
        return 0
    r0, c0 = train["row"].to_numpy(), train["col"].to_numpy()
    r1, c1 = r0 + train["size"].to_numpy(), c0 + train["size"].to_numpy()
    n = 0
    for row, col, size in held[["row", "col", "size"]].itertuples(index=False):
        n += bool(np.any((r0 < row + size) & (row < r1) & (c0 < col + size) & (col < c1)))
    return n


def check_no_leakage(index: pd.DataFrame) -> dg.AssetCheckResult:
    overlaps = train_eval_overlaps(index)
    return dg.AssetCheckResult(
        check_name=NO_LEAKAGE,
        passed=overlaps == 0,
        metadata={
            "held_out_patches": int((index["split"] != "train").sum()),
            "overlapping_train": overlaps,
        },
    )


def check_statistics_rows(table: pd.DataFrame, mapped: Sequence[tuple[str, int]]) -> dg.AssetCheckResult:
    """The statistics table has exactly one row per mapped (region, year)."""
    rows = [(str(r), int(y)) for r, y in zip(table["region"], table["year"])]
    missing = sorted(set(mapped) - set(rows))
    extra = sorted(set(rows) - set(mapped))
    duplicated = len(rows) - len(set(rows))
    return dg.AssetCheckResult(
        check_name=STATS_ROWS,
        passed=not missing and not extra and not duplicated,
        metadata={
            "rows": len(rows),
            "mapped_partitions": len(set(mapped)),
            "missing": ", ".join(f"{r}|{y}" for r, y in missing) or "none",
            "unexpected": ", ".join(f"{r}|{y}" for r, y in extra) or "none",
            "duplicated": duplicated,
        },
    )


def check_statistics_finite(table: pd.DataFrame, columns: Sequence[str]) -> dg.AssetCheckResult:
    bad = {
        c: int((~np.isfinite(pd.to_numeric(table[c], errors="coerce").to_numpy(float))).sum())
        for c in columns
        if c in table
    }
    missing_cols = [c for c in columns if c not in table]
    return dg.AssetCheckResult(
        check_name=STATS_FINITE,
        passed=not missing_cols and not any(bad.values()),
        metadata={
            "missing_values": ", ".join(f"{c}: {n}" for c, n in bad.items() if n) or "none",
            "missing_columns": ", ".join(missing_cols) or "none",
        },
    )


def check_statistics_units(table: pd.DataFrame, units: dict[str, str]) -> dg.AssetCheckResult:
    """Every numeric column has a documented unit (``units``: column -> unit, "year" for years)."""
    numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
    unitless = [c for c in numeric if not units.get(c)]
    return dg.AssetCheckResult(
        check_name=STATS_UNITS,
        passed=not unitless,
        metadata={
            "units": dg.MetadataValue.json({c: units.get(c) for c in numeric}),
            "without_unit": ", ".join(unitless) or "none",
        },
    )
