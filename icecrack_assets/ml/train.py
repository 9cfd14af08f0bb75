"""Training: seeded, logged, early-stopped on validation F1, time-boxed, ending in a bundle.

The learning rate follows a warm-up + cosine schedule over *training progress*, the larger of the
epoch fraction and the fraction of the wall-clock budget, so a run cut short by ``max_minutes``
still ends annealed instead of at full learning rate.

The decision threshold and the minimum crack-component size are chosen together on the validation
tiles (never on test), and val/test scores are computed with both, strict and with a 1-pixel
tolerance, and stored in the bundle.

The default operating point is the precision-recall *break-even* on validation (the threshold
maximising the smaller of the two): when precision equals recall the map has as many crack pixels
as the truth, so the crack area, length and density products are unbiased. The F1 optimum lies
on a wide plateau (F1 moves < 0.01 between thresholds 0.03 and 0.3 on the suite-a models) and
drifts to high precision at the expense of recall; it is kept in the bundle for comparison.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from icecrack_assets import __version__
from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.augment import augment_batch, random_crops
from icecrack_assets.ml.bundle import architecture_diff, load_bundle, read_bundle_json, save_bundle
from icecrack_assets.ml.device import adamw, resolve_device, set_threads
from icecrack_assets.ml.losses import bce_dice_loss
from icecrack_assets.ml.metrics import (
    TruthMasks,
    best_threshold,
    counts_by_level,
    crack_metrics,
    metrics_from_counts,
)
from icecrack_assets.ml.normalise import DEFAULT_NORMALISATION, normalise_patches, patch_stats
from icecrack_assets.ml.postprocess import crack_mask
from icecrack_assets.ml.samples import label_sources, load_samples
from icecrack_assets.ml.unet import UNet, UNetConfig
from icecrack_assets.raster import MASK_NODATA as NODATA

FINE_TUNE_CROP = 64  # px: the training window of a fine-tune when ``TrainConfig.crop`` is None
# np.r_ is untyped (Any), which would pick np.round's scalar overload
THRESHOLDS = np.round(cast("np.ndarray", np.r_[0.01, 0.02, 0.03, np.arange(0.05, 0.951, 0.05)]), 2)
OPERATING_POINTS = ("break-even", "f1")
MIN_COMPONENTS = (0, 4, 8, 12, 16, 24, 32, 48)  # candidate minimum crack component sizes (px)


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 16
    lr: float = 2e-3
    depth: int = 4
    width: int = 16
    seed: int = 0
    # epochs without a validation F1 gain before stopping early. The cosine schedule gains most as
    # it anneals: with 64-px windows validation F1 stalls mid-run (best epoch 9, then 8 flat epochs)
    # and rises again (best epoch 20, test recall 0.895 vs 0.878 when stopped at 8): so, by default,
    # a 30-epoch run is never cut short
    patience: int = 30
    max_minutes: float = 8.0
    device: str = "auto"
    dropout: float = 0.0
    threshold_tolerance: int = 1  # tolerance (px) of the F1 maximised when choosing the threshold
    speckle_prob: float = 0.5
    normalisation: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_NORMALISATION))
    stem: int = 2  # space-to-depth factor of the U-Net (see unet.py): 4x less trunk work
    warmup: float = 0.05  # fraction of training progress with a linear learning-rate warm-up
    min_components: tuple[int, ...] = MIN_COMPONENTS  # candidate sizes tuned on val
    pos_weight: float = 8.0  # BCE weight of crack pixels (3 gave ~0.005 less recall at equal precision)
    operating_point: str = "break-even"  # or "f1": how the threshold is chosen on validation
    init: str | None = None  # a bundle whose weights start training (fine-tuning), see _initial_weights
    # L2-SP: weight of the squared distance of the weights from ``init``'s (relative to their squared
    # norm), so that a fine-tune on a few simulated scenes keeps what the general model learnt
    # elsewhere (0 = off). At 10 it did not keep the default model's real-tile skill (docs/model.md)
    anchor: float = 0.0
    # keep ``init``'s BatchNorm statistics (normalisation layers in eval mode while fine-tuning)
    freeze_norm: bool = False
    # fine-tuning only: train the decoder and head, keep ``init``'s encoder weights (down blocks and
    # bottleneck; their BatchNorm statistics still follow the new scenes unless ``freeze_norm``).
    # Backward then stops at the decoder. The demo's fine-tune (docs/model.md, "Suite e and a frozen encoder"):
    # test F1 ±1 0.907 in 99 s at 20 epochs, against 0.907 in 185 s at 30 epochs with every layer
    freeze_encoder: bool = False
    # each step trains on one random window of this size (px) per patch, 0 = whole patches, None =
    # FINE_TUNE_CROP when fine-tuning (``init``) and whole patches from scratch. Validation and
    # test always score whole patches. Measured in docs/model.md: a fine-tune of the demo on 64-px
    # windows of its 96-px patches reaches validation F1 0.883 vs 0.892 in 45 % less time; from
    # scratch (suite a) windows cost recall (0.899 vs 0.931), so there they are off by default
    crop: int | None = None


@dataclass
class TrainResult:
    bundle_dir: Path
    metrics: dict[str, Any]
    threshold: float
    epochs_run: int
    seconds: float
    sha256: str


def _load(sample_dirs: list[Path]) -> tuple[dict[str, np.ndarray], list[str]]:
    if not sample_dirs:
        raise IceCrackError("no sample directories given")
    parts = [load_samples(Path(d)) for d in sample_dirs]
    sizes = {p["x"].shape[-1] for p in parts}
    if len(sizes) > 1:
        raise IceCrackError(f"sample directories use different patch sizes {sorted(sizes)}")
    hashes = []
    for d in sample_dirs:
        h = hashlib.sha256((Path(d) / "samples.npz").read_bytes()).hexdigest()
        hashes.append(h)
    data = {k: np.concatenate([p[k] for p in parts]) for k in ("x", "y", "split")}
    return data, hashes


def _predict_patches(
    model: UNet,
    x: np.ndarray,
    norm: dict[str, Any],
    device: torch.device,
    bs: int = 32,
    stats: list[dict[str, float]] | None = None,
) -> np.ndarray:
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), bs):
            part = stats[i : i + bs] if stats is not None else None
            xb = torch.from_numpy(normalise_patches(x[i : i + bs], norm, part)).to(device)
            out.append(torch.sigmoid(model(xb)).cpu().numpy())
    prob = np.concatenate(out) if out else np.zeros((0,) + x.shape[1:], np.float32)
    prob[~np.isfinite(x)] = np.nan
    return prob


def _as_map(arrays: np.ndarray) -> np.ndarray:
    """Lay patches side by side with a 1-px nodata gutter so tolerance never crosses patches."""
    if len(arrays) == 0:
        return np.zeros((1, 1), arrays.dtype)
    n, _, p, _ = arrays.shape
    fill = np.nan if arrays.dtype.kind == "f" else NODATA
    out = np.full((p + 1, n * (p + 1)), fill, dtype=arrays.dtype)
    for i in range(n):
        out[:p, i * (p + 1) : i * (p + 1) + p] = arrays[i, 0]
    return out


def scores_at(
    prob: np.ndarray, y: np.ndarray, threshold: float, min_component: int = 0
) -> dict[str, dict[str, float]]:
    """Strict and 1-px-tolerance crack metrics of patch predictions at a threshold (and component size)."""
    pm, ym = _as_map(prob), _as_map(y)
    valid = np.isfinite(pm) & (ym != NODATA)
    pred = crack_mask(pm, threshold, min_component).astype(np.uint8)
    truth = np.where(valid, ym, NODATA)
    keep = ("precision", "recall", "f1", "iou", "oa", "crack_fraction")
    return {
        name: {k: round(float(v), 5) for k, v in crack_metrics(pred, truth, tol).items() if k in keep}
        for name, tol in (("strict", 0), ("tol1", 1))
    }


def check_operating_point(operating_point: str) -> None:
    if operating_point not in OPERATING_POINTS:
        raise IceCrackError(f"operating point must be one of {OPERATING_POINTS}, got {operating_point!r}")


def _objective(m: dict[str, float], operating_point: str) -> float:
    return min(m["precision"], m["recall"]) if operating_point == "break-even" else m["f1"]


def candidate_counts(
    prob: np.ndarray, truth: np.ndarray, sizes: tuple[int, ...], tolerance: int = 1
) -> dict[tuple[float, int], dict[str, int]]:
    """Crack counts of one probability map at every (threshold, minimum component size) pair.

    Labelling the components once per threshold and scoring every size from the map of
    component sizes makes the sizes nearly free; counts (not scores) come back so that several
    maps can be pooled.
    """
    from scipy import ndimage

    from icecrack_assets.ml.postprocess import EIGHT

    out: dict[tuple[float, int], dict[str, int]] = {}
    levels = [max(int(size), 1) for size in sizes]  # a component of >= size px; 0 keeps every one
    masks = TruthMasks.of(truth, tolerance)  # the truth's part of the scoring, once for every threshold
    for thr in THRESHOLDS:
        lab, n = ndimage.label(crack_mask(prob, thr, 0), structure=EIGHT)
        comp = np.bincount(lab.ravel(), minlength=n + 1)
        comp[0] = 0
        sizes_px = comp[lab]  # each pixel's component size, 0 off the mask
        for size, c in zip(sizes, counts_by_level(sizes_px, masks, levels), strict=True):
            out[(float(thr), int(size))] = c
    return out


def postprocess_candidates(
    prob: np.ndarray, y: np.ndarray, sizes: tuple[int, ...], tolerance: int = 1
) -> list[tuple[float, int, dict[str, float]]]:
    """Validation metrics of every (threshold, minimum component size) pair, computed once."""
    pm, ym = _as_map(prob), _as_map(y)
    truth = np.where(np.isfinite(pm) & (ym != NODATA), ym, NODATA)
    return [
        (thr, size, {**metrics_from_counts(c), **c})
        for (thr, size), c in candidate_counts(pm, truth, sizes, tolerance).items()
    ]


def pick_operating_point(
    candidates: list[tuple[float, int, dict[str, float]]], operating_point: str
) -> tuple[float, int, float]:
    """``(threshold, size, objective)`` of the first candidate with the best objective."""
    check_operating_point(operating_point)
    best = (0.5, 0, -1.0)
    for thr, size, m in candidates:
        score = _objective(m, operating_point)
        if score > best[2] + 1e-9:
            best = (thr, size, float(score))
    return best


def tune_postprocess(
    prob: np.ndarray,
    y: np.ndarray,
    sizes: tuple[int, ...],
    tolerance: int = 1,
    operating_point: str = "break-even",
) -> tuple[float, int, float]:
    """Threshold and minimum component size chosen on validation: ``(threshold, size, objective)``.

    ``break-even`` maximises min(precision, recall); ``f1`` maximises F1 (both at ``tolerance``).
    """
    check_operating_point(operating_point)
    return pick_operating_point(postprocess_candidates(prob, y, sizes, tolerance), operating_point)


def training_window(config: TrainConfig) -> int:
    """The training window in px (0 = whole patches): ``crop``, or by default windows only when fine-tuning."""
    if config.crop is not None:
        return int(config.crop)
    return FINE_TUNE_CROP if config.init else 0


def lr_factor(progress: float, warmup: float) -> float:
    if progress < warmup:
        return max(progress / warmup, 0.02)
    p = min(1.0, (progress - warmup) / max(1e-9, 1 - warmup))
    factor: float = 0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * p))
    return factor


def _initial_weights(model: UNet, config: TrainConfig, norm: dict[str, Any]) -> dict[str, Any]:
    """Load ``config.init``'s weights into ``model``: fine-tune a trained model on new labels.

    The architecture must match the bundle's, and the new model adopts the bundle's input
    normalisation (``norm`` is updated in place): the weights only mean something for inputs
    normalised as in their training. ``init="default"`` is the model shipped with the package.
    Returns lineage about the starting point.
    """
    from icecrack_assets.ml.shipped import resolve_init

    # only called when ``config.init`` is set (train_bundle checks it)
    src = load_bundle(resolve_init(cast(str, config.init)), device="cpu")
    mine = UNetConfig(
        depth=config.depth, width=config.width, dropout=config.dropout, stem=config.stem
    ).as_dict()
    differs = architecture_diff(src.config, mine)
    if differs:
        diff = ", ".join(f"{k} {theirs} vs {wanted}" for k, (theirs, wanted) in differs.items())
        raise IceCrackError(
            f"{config.init}: cannot fine-tune from this bundle, its architecture differs ({diff})"
        )
    norm.clear()
    norm.update(src.normalisation)
    model.load_state_dict(src.model.state_dict())
    return {
        "init_bundle": str(src.path),
        "init_weights_sha256": read_bundle_json(src.path).get("weights_sha256"),
    }


def train_bundle(
    sample_dirs: list[Path],
    out_dir: Path,
    config: TrainConfig,
    despeckle: dict[str, Any],
    lineage: dict[str, Any],
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train the U-Net on sample directories and write a bundle under ``out_dir``."""
    t0 = time.time()
    check_operating_point(config.operating_point)  # fail before training, not after
    if config.epochs < 1:
        raise IceCrackError(f"epochs must be at least 1, got {config.epochs}")
    crop = training_window(config)
    if crop < 0:
        raise IceCrackError(f"crop must be 0 (whole patches) or a window size in px, got {crop}")
    set_threads()
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    data, hashes = _load([Path(d) for d in sample_dirs])
    split = data["split"]
    tr = np.flatnonzero(split == "train")
    va = np.flatnonzero(split == "val")
    te = np.flatnonzero(split == "test")
    if len(tr) == 0:
        raise IceCrackError("the samples contain no training patches")
    if len(va) == 0:
        log("warning: no validation patches; choosing the threshold on training patches")
        va = tr
    norm = dict(config.normalisation)
    model = UNet(
        UNetConfig(depth=config.depth, width=config.width, dropout=config.dropout, stem=config.stem)
    ).to(device)
    init_lineage = _initial_weights(model, config, norm) if config.init else {}
    if config.freeze_encoder:
        if not config.init:
            raise IceCrackError(
                "freeze_encoder needs init: a model trained from scratch has no encoder to keep"
            )
        for weight in model.encoder_parameters():
            weight.requires_grad_(False)
    stats = patch_stats(data["x"], norm)  # once, not per step (robust-db normalisation)

    def stats_of(ids: np.ndarray) -> list[dict[str, float]] | None:
        return None if stats is None else [stats[i] for i in ids]

    anchor = (
        [(p, p.detach().clone()) for p in model.parameters()] if config.init and config.anchor > 0 else []
    )
    anchor_norm = float(sum((p0**2).sum() for _, p0 in anchor)) if anchor else 1.0
    opt = adamw([p for p in model.parameters() if p.requires_grad], config.lr, device)
    steps_per_epoch = max(1, len(tr) // config.batch_size)
    total_steps = steps_per_epoch * max(1, config.epochs)
    step = 0
    log(
        f"training U-Net depth={config.depth} width={config.width} stem={config.stem} on {device}: "
        f"{len(tr)} train / {len(va)} val / {len(te)} test patches of {data['x'].shape[-1]} px"
    )
    # (val F1, weights, threshold, epoch) of the best epoch so far; no weights until an epoch ran
    best: tuple[float, dict[str, torch.Tensor] | None, float, int] = (-1.0, None, 0.5, 0)
    epochs_run = 0
    deadline = t0 + config.max_minutes * 60
    stale = 0
    t_first: float | None = None
    for epoch in range(1, config.epochs + 1):
        model.train()
        if config.freeze_norm and config.init:
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eval()
        order = rng.permutation(tr)
        losses = []
        for i in range(0, len(order), config.batch_size):
            idx = order[i : i + config.batch_size]
            if len(idx) < 2:
                continue  # BatchNorm needs more than one sample
            if t_first is None:
                t_first = time.time()  # the clock starts at the first step, not at data loading
            progress = max(step / total_steps, (time.time() - t_first) / (config.max_minutes * 60))
            for g in opt.param_groups:
                g["lr"] = config.lr * lr_factor(progress, config.warmup)
            step += 1
            xb, yb = augment_batch(data["x"][idx], data["y"][idx], rng, config.speckle_prob)
            if crop:
                xb, yb = random_crops(xb, yb, crop, rng)
            xt = torch.from_numpy(normalise_patches(xb, norm, stats_of(idx))).to(device)
            yt = torch.from_numpy(yb.astype(np.int64)).to(device)
            valid = (yt != NODATA) & torch.from_numpy(np.isfinite(xb)).to(device)
            loss = bce_dice_loss(model(xt), (yt == 1), valid, pos_weight=config.pos_weight)
            if anchor:
                drift = sum(((p - p0) ** 2).sum() for p, p0 in anchor)
                loss = loss + config.anchor * drift / anchor_norm
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            losses.append(loss.item())
            if time.time() > deadline:
                break
        epochs_run = epoch
        prob = _predict_patches(model, data["x"][va], norm, device, stats=stats_of(va))
        thr, f1 = best_threshold(
            _as_map(prob), _as_map(data["y"][va]), config.threshold_tolerance, THRESHOLDS
        )
        improved = f1 > best[0] + 1e-4
        if improved:
            best = (f1, {k: v.detach().clone() for k, v in model.state_dict().items()}, thr, epoch)
            stale = 0
        else:
            stale += 1
        log(
            f"epoch {epoch}/{config.epochs} loss {np.mean(losses) if losses else float('nan'):.4f} "
            f"val F1 {f1:.4f} @ {thr:.2f}{' *' if improved else ''} ({time.time() - t0:.0f} s)"
        )
        if stale >= config.patience:
            log(f"early stop: no validation F1 gain for {config.patience} epochs")
            break
        if time.time() > deadline:
            log(f"time budget of {config.max_minutes} min reached")
            break
    _, state, thr, best_epoch = best
    if state is None:
        raise IceCrackError("no epoch gave a validation score (are the validation patches all nodata?)")
    model.load_state_dict(state)
    val_prob = _predict_patches(model, data["x"][va], norm, device, stats=stats_of(va))
    points: dict[str, dict[str, Any]] = {}
    candidates = postprocess_candidates(
        val_prob, data["y"][va], tuple(config.min_components), config.threshold_tolerance
    )
    for rule in dict.fromkeys((config.operating_point, "f1")):
        t, c, _ = pick_operating_point(candidates, rule)
        points[rule] = {"threshold": t, "min_component": c, "val": scores_at(val_prob, data["y"][va], t, c)}
    thr, min_comp = (
        points[config.operating_point]["threshold"],
        points[config.operating_point]["min_component"],
    )
    test_prob = _predict_patches(model, data["x"][te], norm, device, stats=stats_of(te)) if len(te) else None
    for p in points.values():
        if test_prob is not None:
            p["test"] = scores_at(test_prob, data["y"][te], p["threshold"], p["min_component"])
    metrics: dict[str, Any] = {
        "best_epoch": best_epoch,
        "threshold": thr,
        "min_component": min_comp,
        "operating_point": config.operating_point,
        **{k: v for k, v in points[config.operating_point].items() if k in ("val", "test")},
        "operating_points": points,
    }
    full_lineage: dict[str, Any] = {
        **lineage,
        **init_lineage,
        "sample_dirs": [str(d) for d in sample_dirs],
        "sample_sha256": hashes,
        "label_sources": sorted({src for d in sample_dirs for src in label_sources(Path(d))}),
        "code_version": __version__,
        "train_config": asdict(config),
        "n_train": int(len(tr)),
        "n_val": int(len(va)),
        "n_test": int(len(te)),
    }
    bundle_dir = save_bundle(
        Path(out_dir),
        model.cpu(),
        norm,
        despeckle,
        thr,
        full_lineage,
        metrics,
        extra={"postprocess": {"min_component": int(min_comp)}},
    )
    digest = read_bundle_json(bundle_dir)["weights_sha256"]
    seconds = time.time() - t0
    log(
        f"bundle {bundle_dir.name}: threshold {thr:.2f}, min component {min_comp} px, "
        f"val F1 {metrics['val']['strict']['f1']:.3f} "
        f"(tol1 {metrics['val']['tol1']['f1']:.3f}) after {epochs_run} epochs, {seconds:.0f} s"
    )
    return TrainResult(
        bundle_dir=bundle_dir,
        metrics=metrics,
        threshold=thr,
        epochs_run=epochs_run,
        seconds=seconds,
        sha256=digest,
    )
