"""Asset checks, declared inline (``check_specs``) so they run per partition with the asset.

The check logic is plain functions over files, so tests can feed them good and bad rasters.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import numpy as np
import rasterio

from icecrack_assets.ml.method import METHOD_PRECISION, METHOD_RECALL
from icecrack_assets.regions import Region

GRID = "matches_region_grid"
NOT_EMPTY = "not_all_nodata"
MEAN_PRESERVED = "despeckling_preserves_mean"
LOOKS_MATCH_ENL = "looks_match_measured_enl"
METRICS_FLOOR = "metrics_above_method_floor"
MAPS_VALID = "crack_maps_valid"

# The AIR-CAS method's published figures: our model must at least match them.


def specs(asset: str, *names: str) -> list[dg.AssetCheckSpec]:
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
    }
    return [dg.AssetCheckSpec(n, asset=asset, description=descriptions[n]) for n in names]


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


def check_metrics_floor(metrics: dict[str, float]) -> dg.AssetCheckResult:
    p, r = metrics.get("precision", 0.0), metrics.get("recall", 0.0)
    return dg.AssetCheckResult(
        check_name=METRICS_FLOOR,
        passed=p >= METHOD_PRECISION and r >= METHOD_RECALL,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "precision": float(p),
            "recall": float(r),
            "floor_precision": METHOD_PRECISION,
            "floor_recall": METHOD_RECALL,
        },
    )


def check_maps_valid(prob_path: Path, mask_path: Path, threshold: float) -> dg.AssetCheckResult:
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
                if np.any((mask == 1) & ~(finite & (prob >= threshold))):
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
