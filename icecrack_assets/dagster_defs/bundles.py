"""Which model bundle may map: the newest whose ``metrics_above_method_floor`` check passed.

The check records its bundle's path; Dagster's check history (newest first) says which passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from icecrack_assets.dagster_defs.checks import METRICS_FLOOR
from icecrack_assets.ml.bundle import latest_bundle

MODEL_KEY = dg.AssetKey("crack_model")


@dataclass(frozen=True)
class BundleChoice:
    """The bundle a crack map uses and why it may."""

    path: Path
    check: str  # "passed", or "not checked (model: newest)"


def checked_bundles(instance: dg.DagsterInstance, limit: int = 50) -> list[Path]:
    """Bundles whose floor check passed, newest evaluation first, that still exist on disk."""
    key = dg.AssetCheckKey(MODEL_KEY, METRICS_FLOOR)
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=limit)
    found: list[Path] = []
    for record in records:
        event = record.event
        evaluation = event.dagster_event.event_specific_data if event and event.dagster_event else None
        if evaluation is None or not getattr(evaluation, "passed", False):
            continue
        bundle = evaluation.metadata.get("bundle")
        path = Path(str(bundle.value)) if bundle is not None and bundle.value else None
        if path is not None and path.is_dir() and path not in found:
            found.append(path)
    return found


def choose_bundle(instance: dg.DagsterInstance, models_dir: Path, rule: str) -> BundleChoice:
    """``rule`` "checked": the newest bundle that passed its floor check (Failure if none);
    "newest": the newest bundle on disk whatever its checks, recorded as such."""
    if rule == "newest":
        return BundleChoice(latest_bundle(models_dir), "not checked (model: newest)")
    passed = checked_bundles(instance)
    if not passed:
        raise dg.Failure(
            f"no crack_model bundle has passed {METRICS_FLOOR} (held-out precision/recall below the "
            "method's floor, or no model yet): train a better model, or map with config "
            "model: newest to accept an unchecked one"
        )
    return BundleChoice(passed[0], "passed")
