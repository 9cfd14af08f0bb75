"""Which model bundle may map a partition.

Simulated partitions: the newest bundle whose ``metrics_above_method_floor`` check passed (the
check records its bundle's path; Dagster's check history, newest first, says which passed). Real
partitions: a checked bundle only if it learnt from more than simulated truth, else the shipped
default model, as ``icecrack predict`` chooses: a bundle fine-tuned on simulated scenes passes its
floor check on simulated truth and forgot what the default model learnt from real Sentinel-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from icecrack_assets.dagster_defs.checks import METRICS_FLOOR
from icecrack_assets.ml.bundle import latest_bundle, learnt_from_real_labels
from icecrack_assets.ml.shipped import default_model_path

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


def _shipped(why: str) -> BundleChoice:
    shipped = default_model_path()
    if shipped is None:
        raise dg.Failure(
            "this install has no shipped default model: map with config model: checked or newest"
        )
    return BundleChoice(shipped, why)


def choose_bundle(
    instance: dg.DagsterInstance, models_dir: Path, rule: str, simulated: bool = True
) -> BundleChoice:
    """``rule`` "auto": "checked" for a ``simulated`` partition, else the newest checked bundle that
    learnt from real labels, else the shipped default model; "checked": the newest bundle that
    passed its floor check (Failure if none); "newest": the newest bundle on disk whatever its
    checks; "default": the shipped default model. Each choice is recorded as what it is."""
    if rule == "newest":
        return BundleChoice(latest_bundle(models_dir), "not checked (model: newest)")
    if rule == "default":
        return _shipped("not checked (model: default, the shipped default model)")
    if rule == "auto" and not simulated:
        real = next((p for p in checked_bundles(instance) if learnt_from_real_labels(p)), None)
        if real is not None:
            return BundleChoice(real, "passed (learnt from real labels; real scenes)")
        return _shipped(
            "not checked: the shipped default model for real scenes (no checked bundle learnt from real labels)"
        )
    passed = checked_bundles(instance)
    if not passed:
        raise dg.Failure(
            f"no crack_model bundle has passed {METRICS_FLOOR} (held-out precision/recall below the "
            "method's floor, or no model yet): train a better model, or map with config "
            "model: newest to accept an unchecked one"
        )
    return BundleChoice(passed[0], "passed")
