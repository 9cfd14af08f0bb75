"""crack_model: one U-Net trained on every labelled partition, saved as a self-describing bundle."""

import dataclasses
import datetime as dt
import re
from typing import Literal

import dagster as dg
from pydantic import Field

from icecrack_assets.dagster_defs import checks
from icecrack_assets.dagster_defs.assets.labelled_samples import labelled_samples
from icecrack_assets.dagster_defs.metadata import figures, image_entries, table
from icecrack_assets.dagster_defs.partitions import year_region_of
from icecrack_assets.dagster_defs.resources import ComputeResource, DataRoot, PreviewServer
from icecrack_assets.layout import MODEL_CARD, TRAINING_CURVE, DespeckledManifest, Stage
from icecrack_assets.ml.bundle import read_bundle_json
from icecrack_assets.ml.method import METHOD_PRECISION, METHOD_RECALL
from icecrack_assets.ml.preview import write_training_curve
from icecrack_assets.ml.train import TrainConfig, train_bundle

MODEL = "crack_model"


_DEFAULT = TrainConfig()


class ModelConfig(dg.Config):
    """U-Net and training knobs; defaults come from the core's TrainConfig so they cannot drift."""

    epochs: int = Field(_DEFAULT.epochs, description="maximum training epochs")
    batch_size: int = Field(_DEFAULT.batch_size, description="patches per optimiser step")
    lr: float = Field(_DEFAULT.lr, description="peak learning rate (AdamW, warm-up then cosine decay)")
    depth: int = Field(_DEFAULT.depth, description="U-Net levels (down-sampling steps)")
    width: int = Field(_DEFAULT.width, description="channels of the first level (doubling per level)")
    seed: int = Field(_DEFAULT.seed, description="random seed (weights, batches, augmentation)")
    patience: int = Field(
        _DEFAULT.patience, description="epochs without a validation F1 gain before stopping"
    )
    max_minutes: float = Field(_DEFAULT.max_minutes, description="wall-clock training budget, minutes")
    stem: int = Field(_DEFAULT.stem, description="space-to-depth factor of the input stem (1 = none)")
    pos_weight: float = Field(_DEFAULT.pos_weight, description="weight of crack pixels in the BCE loss")
    crop: int | None = Field(
        _DEFAULT.crop,
        description="train on one random window of this size (px) per patch; 0 = whole patches; "
        "unset = 64 when fine-tuning (init), whole patches from scratch",
    )
    operating_point: Literal["break-even", "f1"] = Field(
        _DEFAULT.operating_point,  # type: ignore[arg-type]
        description="threshold rule on validation: break-even (precision = recall) or best F1",
    )
    init: str | None = Field(
        None, description="bundle directory to fine-tune from (same architecture and normalisation)"
    )
    freeze_encoder: bool = Field(
        _DEFAULT.freeze_encoder,
        description="with init: train only the decoder and head, keep init's encoder (a quarter less "
        "time per step on 2 cores, and the demo's test F1 in 20 epochs instead of 30; the demo turns it on)",
    )

    def train_config(self, device: str) -> TrainConfig:
        return dataclasses.replace(_DEFAULT, device=device, **self.model_dump())


EPOCH_LINE = re.compile(r"^epoch (\d+)/\d+ loss ([\d.na]+) val F1 ([\d.na]+)")
SCORE_COLUMNS = {
    "split": ("string", "val: validation blocks (threshold chosen here); test: held-out blocks"),
    "tolerance": ("string", "strict: pixel exact; 1-px: a crack pixel within 1 px counts as a hit"),
    "precision": ("float", "fraction of predicted crack pixels that are cracks"),
    "recall": ("float", "fraction of crack pixels found"),
    "f1": ("float", "harmonic mean of precision and recall"),
    "iou": ("float", "intersection over union of the crack class"),
}


class EpochRecorder:
    """Collects loss and validation F1 per epoch from the trainer's log lines (and forwards them)."""

    def __init__(self, log) -> None:
        self.log = log
        self.epochs: list[int] = []
        self.losses: list[float] = []
        self.val_f1: list[float] = []

    def __call__(self, line: str) -> None:
        self.log(line)
        m = EPOCH_LINE.match(line)
        if m:
            self.epochs.append(int(m[1]))
            self.losses.append(float(m[2]))
            self.val_f1.append(float(m[3]))


def score_rows(metrics: dict) -> list[dict]:
    """val/test x strict/1-px rows of precision, recall, F1 and IoU for the compact table."""
    rows = []
    for split in ("test", "val"):
        for tol, label in (("tol1", "1-px"), ("strict", "strict")):
            scores = metrics.get(split, {}).get(tol)
            if scores:
                rows.append({"split": split, "tolerance": label, **scores})
    return rows


def model_card(metrics: dict, lineage: dict, partitions: list[str], sources: str) -> str:
    """A short model card (markdown, shown inline): data, split, operating point, limits."""
    test = metrics.get("test", {}).get("tol1", {})
    return (
        f"**Data**: {len(partitions)} partition(s) ({', '.join(partitions)}); labels: {sources}.  \n"
        f"**Split**: spatial blocks with a buffer: {lineage.get('n_train', '?')} train / "
        f"{lineage.get('n_val', '?')} val / {lineage.get('n_test', '?')} test patches.  \n"
        f"**Operating point**: {metrics.get('operating_point')} on val, threshold "
        f"{metrics.get('threshold', float('nan')):.2f}, components >= {metrics.get('min_component', 0)} px.  \n"
        f"**Held-out test (1-px)**: P {test.get('precision', float('nan')):.3f}, "
        f"R {test.get('recall', float('nan')):.3f}, F1 {test.get('f1', float('nan')):.3f} "
        f"(method floor P {METHOD_PRECISION}, R {METHOD_RECALL}).  \n"
        "**Limits**: scores are on patches of the training seasons' held-out blocks, not on unseen "
        "regions or years; simulator labels are not field truth."
    )


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
    owners=["team:ml"],
    tags={"domain": "crevasses", "stage": "train"},
    pool="training",
    check_specs=checks.specs(MODEL, checks.METRICS_FLOOR),
    description="U-Net trained on all materialised labelled_samples partitions; bundle = weights, "
    "architecture, normalisation, despeckling settings, threshold, lineage and metrics.",
)
def crack_model(
    context: dg.AssetExecutionContext,
    config: ModelConfig,
    data: DataRoot,
    compute: ComputeResource,
    previews: PreviewServer,
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
    recorder = EpochRecorder(context.log.info)
    result = train_bundle(sample_dirs, data.layout.models, train_cfg, despeckle, lineage, log=recorder)
    metrics = result.metrics
    bundle_lineage = read_bundle_json(result.bundle_dir).get("lineage", {})
    sources = _label_sources(sample_dirs)
    curve = write_training_curve(
        recorder.epochs,
        recorder.losses,
        recorder.val_f1,
        int(metrics.get("best_epoch", 0)),
        result.bundle_dir / TRAINING_CURVE,
    )
    card = model_card(metrics, bundle_lineage, used, sources)
    (result.bundle_dir / MODEL_CARD).write_text(card.replace("  \n", "\n") + "\n")
    f1_point = metrics["operating_points"]["f1"]
    test = metrics.get("test", {}).get("tol1", {})
    return dg.MaterializeResult(
        metadata={
            "scores": table(score_rows(metrics), SCORE_COLUMNS),
            "model_card": dg.MetadataValue.md(card),
            **image_entries(
                "training_curve",
                curve,
                f"training curve, {result.epochs_run} epochs",
                data.layout.root,
                previews.base_url,
            ),
            "bundle": dg.MetadataValue.path(str(result.bundle_dir)),
            "operating_point": str(metrics["operating_point"]),
            **figures(
                {
                    "threshold": result.threshold,
                    "min_component_px": int(metrics.get("min_component", 0)),
                    "best_epoch": int(metrics.get("best_epoch", 0)),
                    "epochs_run": int(result.epochs_run),
                    "training_s": result.seconds,
                }
            ),
            "f1_operating_point": table(
                [
                    {"split": s, "tolerance": lbl, "threshold": f1_point["threshold"], **sc}
                    for s in ("test", "val")
                    for tol, lbl in (("tol1", "1-px"), ("strict", "strict"))
                    if (sc := f1_point.get(s, {}).get(tol))
                ],
                {"threshold": ("float", "threshold maximising validation F1"), **SCORE_COLUMNS},
            ),
            "partition_keys": dg.MetadataValue.json(used),
            "all_metrics": dg.MetadataValue.json(
                flatten_metrics({k: v for k, v in metrics.items() if k != "operating_points"})
            ),
        },
        data_version=dg.DataVersion(result.sha256[:24]),
        check_results=[checks.check_metrics_floor(test, str(result.bundle_dir))],
    )


def _label_sources(sample_dirs: list) -> str:
    """Where the training labels came from (annotation, simulator), from the samples' index.csv."""
    import pandas as pd

    sources: set[str] = set()
    for folder in sample_dirs:
        index = folder / "index.csv"
        if index.is_file():
            sources |= set(pd.read_csv(index, usecols=["label_source"])["label_source"].astype(str))
    return ", ".join(sorted(sources)) or "unknown"
