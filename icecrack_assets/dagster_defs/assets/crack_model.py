"""crack_model: one U-Net trained on every labelled partition, saved as a self-describing bundle."""

import dataclasses
import datetime as dt
from typing import Literal

import dagster as dg

from icecrack_assets.dagster_defs import checks
from icecrack_assets.dagster_defs.assets.labelled_samples import labelled_samples
from icecrack_assets.dagster_defs.partitions import year_region_of
from icecrack_assets.dagster_defs.resources import ComputeResource, DataRoot
from icecrack_assets.layout import DespeckledManifest, Stage
from icecrack_assets.ml.train import TrainConfig, train_bundle

MODEL = "crack_model"


_DEFAULT = TrainConfig()


class ModelConfig(dg.Config):
    """U-Net and training knobs; defaults come from the core's TrainConfig so they cannot drift."""

    epochs: int = _DEFAULT.epochs
    batch_size: int = _DEFAULT.batch_size
    lr: float = _DEFAULT.lr
    depth: int = _DEFAULT.depth
    width: int = _DEFAULT.width
    seed: int = _DEFAULT.seed
    patience: int = _DEFAULT.patience
    max_minutes: float = _DEFAULT.max_minutes
    stem: int = _DEFAULT.stem
    pos_weight: float = _DEFAULT.pos_weight
    operating_point: Literal["break-even", "f1"] = _DEFAULT.operating_point  # type: ignore[assignment]
    init: str | None = None  # a bundle directory to fine-tune from (same architecture and normalisation)

    def train_config(self, device: str) -> TrainConfig:
        return dataclasses.replace(_DEFAULT, device=device, **self.model_dump())


def flatten_metrics(metrics: dict, prefix: str = "") -> dict[str, float]:
    """``{"test": {"tol1": {"f1": .9}}}`` -> ``{"test_tol1_f1": .9}`` for the UI's metadata panel."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_metrics(value, f"{name}_"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


@dg.asset(
    deps=[dg.AssetDep(labelled_samples, partition_mapping=dg.AllPartitionMapping())],
    code_version="unet-3",
    group_name="ml",
    kinds={"pytorch"},
    pool="training",
    check_specs=checks.specs(MODEL, checks.METRICS_FLOOR),
    description="U-Net trained on all materialised labelled_samples partitions; bundle = weights, "
    "architecture, normalisation, despeckling settings, threshold, lineage and metrics.",
)
def crack_model(
    context: dg.AssetExecutionContext, config: ModelConfig, data: DataRoot, compute: ComputeResource
) -> dg.MaterializeResult:
    materialized = context.instance.get_materialized_partitions(labelled_samples.key)
    keys = sorted(str(k) for k in materialized)
    sample_dirs, used = [], []
    for key in keys:
        year, region = year_region_of(key)
        folder = data.layout.partition_dir(Stage.SAMPLES, region, year)
        if (folder / "samples.npz").exists():
            sample_dirs.append(folder)
            used.append(key)
    if not sample_dirs:
        raise dg.Failure("no labelled_samples partitions on disk: materialise labelled_samples first")
    year, region = year_region_of(used[0])
    despeckle = DespeckledManifest.read(data.layout.partition_dir(Stage.DESPECKLED, region, year)).settings
    lineage = {
        "partition_keys": used,
        "code_version": context.assets_def.code_versions_by_key[context.asset_key],
        "run_id": context.run.run_id,
        "trained_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    }
    train_cfg = config.train_config(compute.device)
    result = train_bundle(
        sample_dirs, data.layout.models, train_cfg, despeckle, lineage, log=context.log.info
    )
    flat = flatten_metrics({k: v for k, v in result.metrics.items() if k != "operating_points"})
    f1_point = result.metrics["operating_points"]["f1"]
    test = result.metrics.get("test", {}).get("tol1", {})
    return dg.MaterializeResult(
        metadata={
            "bundle": dg.MetadataValue.path(str(result.bundle_dir)),
            "partition_keys": dg.MetadataValue.json(used),
            "threshold": float(result.threshold),
            "operating_point": str(result.metrics["operating_point"]),
            "f1_optimal_threshold": float(f1_point["threshold"]),
            **flatten_metrics({k: v for k, v in f1_point.items() if k in ("val", "test")}, "f1_optimal_"),
            "epochs_run": int(result.epochs_run),
            "seconds": round(float(result.seconds), 1),
            **flat,
        },
        data_version=dg.DataVersion(result.sha256[:24]),
        check_results=[checks.check_metrics_floor(test)],
    )
