"""Training the shipped default model: a streaming multi-source run, checkpointed and resumable.

Unlike ``train.train_bundle`` (fixed sample files, epochs), batches here are drawn fresh from the
``MixedSampler`` (randomised simulator + speckled Lai train tiles), so the model never sees the
same patch twice. The learning rate follows warm-up + cosine over the step budget (the wall clock
when a run has none).

Every ``checkpoint_minutes`` the model, optimiser, step and elapsed time are written atomically to
``checkpoint.pt``; the same command run again resumes from it, so a killed or rebooted run loses
at most one interval. Batch k is drawn from (seed, stage, k) alone, so the resumed run is the
same run. Validation tiles are fixed (their own seed) and drawn from Lai's *valid* split, never
train; the best validation F1 snapshot is kept. At the end the threshold and minimum component are
tuned on the validation tiles predicted whole, as maps are, and the bundle is written.
"""

from __future__ import annotations

import itertools
import os
import pickle
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from icecrack_assets import __version__
from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.bundle import save_bundle
from icecrack_assets.ml.device import (
    adamw,
    autocast,
    resolve_device,
    set_threads,
    training_dtype,
    training_layout,
)
from icecrack_assets.ml.losses import bce_dice_loss
from icecrack_assets.ml.metrics import metrics_from_counts, pool_counts
from icecrack_assets.ml.multisource import (
    IGNORE,
    LaiSource,
    MixConfig,
    MixedSampler,
    SimulatorSource,
    TrainTile,
    fixed_tiles,
)
from icecrack_assets.ml.normalise import ROBUST_NORMALISATION
from icecrack_assets.ml.train import (
    MIN_COMPONENTS,
    OPERATING_POINTS,
    candidate_counts,
    lr_factor,
    pick_operating_point,
)
from icecrack_assets.ml.unet import UNet, UNetConfig
from icecrack_assets.ml.weak import WeakConfig, WeakFieldSampler, weak_loss

CHECKPOINT = "checkpoint.pt"
OPERATING_SEED0 = 20_000  # seeds of the operating tiles (the periodic validation tiles use 10 000)

# The shipped recipe's budgets are step counts, so the one command trains as much on any machine:
# a wall-clock budget trains less on a busier or slower one, and its learning-rate schedule follows
# the clock (until 2026-12-03 stage 1 and round 1 of stage 1b were minutes). ``minutes`` stays as
# an optional cap; the recipe sets none.
NO_WALL_CLOCK_CAP = 7 * 24 * 60.0  # minutes
STAGE1_STEPS = 17_000  # ~95 minutes on a quiet 2-vCPU Zen 3 (180 steps a minute, 2026-12-03)
STAGE1_VAL_EVERY_STEPS = 1000  # stage 1 keeps its best-validation snapshot among these


@dataclass(frozen=True)
class PretrainConfig:
    minutes: float = 70.0  # wall-clock training budget (resumed runs count time already spent)
    batch_size: int = 16
    lr: float = 2e-3
    warmup: float = 0.03
    depth: int = 4
    width: int = 16
    stem: int = 2
    pos_weight: float = 5.0
    seed: int = 0
    checkpoint_minutes: float = 4.0
    val_every_minutes: float = 6.0
    # validate every this many steps instead (None: every val_every_minutes). Stage 1 keeps its
    # best-validation snapshot, so a step interval keeps that choice off the machine's speed
    val_every_steps: int | None = None
    val_tiles: int = 24
    pixel_size: float = 20.0  # nominal training spacing (m): the simulator's IW grid
    # inputs outside are resampled into it. The randomised simulator spans 10-50 m; suite d chose
    # 10 m over 20 m for 10 m IW crops (interim model: inside/streams 1.42 native vs 0.53 at 20 m)
    pixel_size_range: tuple[float, float] = (10.0, 50.0)
    despeckle: str = "none"  # the model's input filter (see docs/model.md, the ablation)
    mix: MixConfig = field(default_factory=MixConfig)
    lai_root: str | None = None
    init: str | None = None  # a bundle whose weights start this run
    # data-drawing processes beside training (0 = draw in the training process; None = from the
    # cores and the precision, ml/device.training_layout); the stream is the same with any number
    workers: int | None = None
    # weak field-level supervision from real S1 tiles (ml/weak.py): their folder and which tiles
    # (empty = all); None = none. Leave-one-tile-out runs of suite d leave one name out here.
    fields_root: str | None = None
    fields_tiles: tuple[str, ...] = ()
    weak: WeakConfig = field(default_factory=WeakConfig)
    max_steps: int | None = None  # stop after this many steps (equal-work comparisons, e.g. filters)
    keep_best: bool = True  # keep the best-validation snapshot; False: the final weights (the
    # field fine-tune: its validation tiles are simulated and Lai, blind to what the real tiles teach)
    weights_dtype: str = "float32"  # of the written bundle ("float16" for the shipped models)
    # the operating tiles' rule for the threshold: "f1" (the general model is judged on F1; on
    # unseen real tiles and an outside-style probe it beat "break-even", docs/model.md)
    operating_point: str = "f1"
    # fixed tiles of the validation split (seed 20 000 + seed) the final operating point is tuned
    # on; the periodic checks keep val_tiles. On 24 tiles the F1 peak of one model moved from 0.30
    # to 0.90 with the seed, on 144 it did not (docs/model.md, "Operating point on 144 tiles")
    operating_tiles: int = 144
    device: str = "auto"  # CUDA when present, else CPU (ml/device.py); not part of what is learnt
    # the forward pass's arithmetic: "auto" = bfloat16 where the hardware has it (AMX, AVX-512 BF16,
    # CUDA), else float32 (ml/device.py); weights and optimiser state stay float32
    precision: str = "auto"
    # names the training stream with the seed: each stage of a chain draws batches of its own
    # (with one seed, stage 1b and stage 2 would replay stage 1's first batches)
    stage: str = "stage 1"


def _sources(cfg: PretrainConfig, split: str) -> dict:
    out: dict = {
        "simulator": SimulatorSource(
            cfg.mix.families, cfg.mix.exclude, cfg.mix.radiometry, cfg.mix.bright_zones
        )
    }
    if cfg.mix.weights.get("simulator", 0) <= 0:
        out.pop("simulator")
    if cfg.mix.weights.get("lai", 0) > 0:
        if not cfg.lai_root:
            raise IceCrackError("the training mix has Lai tiles but no lai_root was given")
        out["lai"] = LaiSource(Path(cfg.lai_root), split)
    return out


def stream_key(seed: int, stage: str) -> list[int]:
    """The seed of a stage's training stream: its seed and its stage's name (batch k adds k)."""
    return [seed, zlib.crc32(stage.encode())]


class _Stream(torch.utils.data.IterableDataset):
    """Endless batches from a MixedSampler; batch ``k`` is drawn from ``(seed, stage, k)`` alone.

    Worker ``w`` of ``n`` draws batches ``start + w``, ``start + w + n``, ... and the loader
    returns them in order, so the stream is the same with any number of workers and a run resumed
    at step ``start`` sees the batches the uninterrupted run would have. Each item carries the
    batch's own family counts (the run adds them up)."""

    def __init__(self, cfg: PretrainConfig, start: int = 0) -> None:
        self.cfg, self.key, self.start = cfg, stream_key(cfg.seed, cfg.stage), start

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, n = (info.id, info.num_workers) if info else (0, 1)
        torch.set_num_threads(1)
        mix = replace(self.cfg.mix, despeckle=self.cfg.despeckle)
        s = MixedSampler(_sources(self.cfg, "train"), mix, seed=self.key[0])
        for k in itertools.count(self.start + wid, n):
            s.reseed([*self.key, k])
            s.families = {}
            x, y = s.batch(self.cfg.batch_size)
            yield torch.from_numpy(x), torch.from_numpy(y), dict(s.families)


def stage1_config(steps: int = STAGE1_STEPS, minutes: float | None = None, **settings: Any) -> PretrainConfig:
    """Stage 1 of the default model: the mix from ``init`` or scratch for ``steps`` steps,
    validated every ``STAGE1_VAL_EVERY_STEPS`` for its kept best snapshot, written at float16 like
    the shipped bundles. ``minutes`` only caps the wall clock (the recipe sets none). The other
    stages derive from it (``stage1_continuation``, ``field_finetune``), so the recipe lives here."""
    return PretrainConfig(
        minutes=NO_WALL_CLOCK_CAP if minutes is None else minutes,
        max_steps=steps,
        val_every_steps=STAGE1_VAL_EVERY_STEPS,
        weights_dtype="float16",
        **settings,
    )


@dataclass(frozen=True)
class ContinueRound:
    """One round of stage 1b: a wall-clock cap, a step budget (the learning-rate schedule then
    runs over the steps), and the share of crops shown with their polarity flipped
    (``MixConfig.polarity_flip``) or passed through a random convolution (``random_conv``)."""

    minutes: float
    max_steps: int | None = None
    polarity_flip: float = 0.0
    random_conv: float = 0.0


# stage 1b of the shipped recipe: rounds of more stage 1 from its kept snapshot, each a warm
# restart of the learning-rate schedule. Round 2 (from round 1, the base shipped until
# 2026-12-02) flips 30 % of the crops' polarity: it lifted the held-out groups and dark cracks,
# and after a 1000-step stage 2 the unseen real tiles too (docs/model.md, "Polarity flip shipped").
# Its 6213 steps are those a 70-minute round reached on 2026-12-02 00:00 UTC (a loaded hour); round
# 1 was 60 minutes and stage 1 95 until 2026-12-03, now the steps those reach on a quiet machine.
CONTINUE_ROUNDS: tuple[ContinueRound, ...] = (
    ContinueRound(NO_WALL_CLOCK_CAP, max_steps=10_700),  # ~60 minutes at that pace
    ContinueRound(NO_WALL_CLOCK_CAP, max_steps=6213, polarity_flip=0.3),
)
CONTINUE_MINUTES: tuple[float, ...] = tuple(r.minutes for r in CONTINUE_ROUNDS)
CONTINUE_LR = 1e-3


def stage1_continuation(
    base: PretrainConfig, init: str, round_spec: ContinueRound = CONTINUE_ROUNDS[0], round_: int = 0
) -> PretrainConfig:
    """Stage 1b (``--continue-minutes``): the same mix from ``init`` (stage 1's kept snapshot, or
    the previous round) for ``round_spec``'s budget, a fresh warm-up and cosine from half stage 1's
    learning rate (a warm restart), keeping the final weights. Round ``k`` draws its training
    stream with seed ``base.seed + k``, so a second round sees scenes the first did not. Stage 1's
    loss was still falling when its best-validation snapshot was taken; 60 more minutes raised the
    held-out family groups' mean F1 from 0.48 to 0.60 and the real tiles' fields hit from 9 to 11
    of 22 (docs/model.md, "Stage 1b")."""
    return replace(
        base,
        minutes=round_spec.minutes,
        max_steps=round_spec.max_steps,
        lr=CONTINUE_LR,
        warmup=0.02,
        init=init,
        keep_best=False,
        checkpoint_minutes=4.0,
        val_every_minutes=10.0,  # a log line only: a round keeps its final weights
        val_every_steps=None,
        seed=base.seed + round_,
        stage=f"stage 1b, round {round_ + 1}",
        mix=replace(base.mix, polarity_flip=round_spec.polarity_flip, random_conv=round_spec.random_conv),
    )


FIELD_FINETUNE_STEPS = 1000  # stage 2 of the shipped model, and each leave-one-tile-out run
# (steps, not minutes: a wall-clock budget would train less on a busier machine; ~10 min on 2
# cores). 500 until 2026-12-02: from the two-round base, 1000 found tile a1's faint fields again.


def field_finetune(
    base: PretrainConfig,
    init: str,
    fields_root: str,
    tiles: tuple[str, ...] = (),
    steps: int = FIELD_FINETUNE_STEPS,
) -> PretrainConfig:
    """Stage 2 of the default model: from ``init``, the same mix plus the field-level labels of
    ``tiles`` (all when empty) at a lower learning rate for ``steps`` steps, keeping the final
    weights. One recipe for the shipped model and for suite d's leave-one-tile-out runs, so the
    check measures what ships."""
    return replace(
        base,
        minutes=NO_WALL_CLOCK_CAP,  # the step count is the budget
        max_steps=steps,
        lr=5e-4,
        warmup=0.05,
        init=init,
        fields_root=fields_root,
        fields_tiles=tuple(tiles),
        keep_best=False,
        val_every_minutes=min(base.val_every_minutes, 3.0),  # a log line only (final weights)
        val_every_steps=None,
        stage="stage 2",
    )


def weak_sampler(cfg: PretrainConfig, seed: int) -> WeakFieldSampler | None:
    """The real tiles' field-level labels this run trains on, or None."""
    if not cfg.fields_root:
        return None
    from icecrack_assets.ml.evaluation.fields import field_tiles

    tiles = field_tiles(Path(cfg.fields_root))
    if cfg.fields_tiles:
        unknown = sorted(set(cfg.fields_tiles) - {t.name for t in tiles})
        if unknown:
            raise IceCrackError(f"{cfg.fields_root}: no field tiles named {unknown}")
        tiles = [t for t in tiles if t.name in cfg.fields_tiles]
    return WeakFieldSampler(tiles, cfg.weak, seed=seed)


def _check_init_architecture(cfg: PretrainConfig) -> None:
    """One clear error, not a state-dict traceback, when ``cfg.init`` is another U-Net shape."""
    from icecrack_assets.ml.bundle import architecture_diff, read_bundle_json

    arch = read_bundle_json(Path(str(cfg.init))).get("architecture", {})
    want = {"depth": cfg.depth, "width": cfg.width, "stem": cfg.stem}
    if architecture_diff(arch, want):
        have = {k: arch.get(k) for k in want}
        raise IceCrackError(
            f"{cfg.init}: its U-Net is depth/width/stem {have['depth']}/{have['width']}/{have['stem']}, "
            f"this run's is {want['depth']}/{want['width']}/{want['stem']}; start from a bundle of the same shape"
        )


def _model(cfg: PretrainConfig) -> UNet:
    return UNet(UNetConfig(depth=cfg.depth, width=cfg.width, stem=cfg.stem))


def predict_tile(model: UNet, x: np.ndarray) -> np.ndarray:
    """Probability of one normalised tile (whole, no tiling: validation tiles are small)."""
    model.eval()
    device = next(model.parameters()).device
    with torch.inference_mode():
        return torch.sigmoid(model(torch.from_numpy(x[None, None]).to(device))).cpu().numpy()[0, 0]


def _val_inputs(tiles: list[TrainTile], norm: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    from icecrack_assets.ml.normalise import normalise, scene_stats

    out = []
    for t in tiles:
        x = normalise(t.sigma0, norm, scene_stats(t.sigma0, norm))
        y = np.where(np.isfinite(t.sigma0), t.truth, IGNORE).astype(np.uint8)
        out.append((x, y))
    return out


def _val_candidates(model: UNet, val: list, sizes: tuple[int, ...]) -> dict:
    counts = [candidate_counts(predict_tile(model, x), y, sizes, 1) for x, y in val]
    return {k: pool_counts([c[k] for c in counts]) for k in counts[0]}


def _val_f1(model: UNet, val: list) -> tuple[float, float]:
    pooled = _val_candidates(model, val, (0,))
    best = max(pooled.items(), key=lambda kv: metrics_from_counts(kv[1])["f1"])
    return metrics_from_counts(best[1])["f1"], best[0][0]


# may change when resuming: budgets, intervals, and the spacing metadata (it does not affect training)
VOLATILE = (
    "minutes",
    "max_steps",
    "checkpoint_minutes",
    "val_every_minutes",
    "val_every_steps",
    "pixel_size",
    "pixel_size_range",
    "weights_dtype",
    "operating_point",
    "operating_tiles",
    "device",
    "precision",
    "workers",
)


def _differences(saved: dict, now: dict, prefix: str = "") -> list[str]:
    """Settings a resumed run must share; keys a checkpoint predates (newer options) are skipped."""
    out = []
    for k, v in saved.items():
        if k in VOLATILE or k not in now:
            continue
        if isinstance(v, dict) and isinstance(now[k], dict):
            out += _differences(v, now[k], f"{prefix}{k}.")
        elif v != now[k] and not (isinstance(v, (list, tuple)) and list(v) == list(now[k])):
            out.append(f"{prefix}{k} {v!r} vs {now[k]!r}")
    return out


def _validation_due(cfg: PretrainConfig, step: int, since_last: float) -> bool:
    """Every ``val_every_steps`` steps when set, else every ``val_every_minutes`` of wall clock."""
    if cfg.val_every_steps:
        return step % cfg.val_every_steps == 0
    return since_last >= cfg.val_every_minutes * 60


def _save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def pretrain(
    cfg: PretrainConfig,
    models_dir: Path,
    checkpoint_dir: Path,
    name: str | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Train (or resume) the default model and write its bundle under ``models_dir``."""
    threads = torch.get_num_threads()  # training takes a share of the cores; what follows gets them back
    try:
        return _pretrain(cfg, models_dir, checkpoint_dir, name, log)
    finally:
        torch.set_num_threads(threads)


def _pretrain(
    cfg: PretrainConfig, models_dir: Path, checkpoint_dir: Path, name: str | None, log: Callable[[str], None]
) -> Path:
    from icecrack_assets.ml.train import check_operating_point

    check_operating_point(cfg.operating_point)  # fail before training, not after
    if cfg.operating_tiles < 1:
        raise IceCrackError(f"operating_tiles must be 1 or more, got {cfg.operating_tiles}")
    if cfg.init:
        _check_init_architecture(cfg)
    device = resolve_device(cfg.device)  # an unavailable device, too
    amp = training_dtype(cfg.precision, device)  # an unknown precision, too
    threads, auto_workers = training_layout(device, amp)
    workers = auto_workers if cfg.workers is None else cfg.workers
    set_threads(threads=threads)
    checkpoint_dir = Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    ck_path = checkpoint_dir / CHECKPOINT
    torch.manual_seed(cfg.seed)
    # channels-last: what oneDNN's convolutions run fastest (a step 146 -> 130 ms on the Intel VM)
    model = _model(cfg).to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = adamw(model.parameters(), cfg.lr, device)
    norm = dict(ROBUST_NORMALISATION)
    state = {"elapsed": 0.0, "step": 0, "best": (-1.0, None, 0.5), "families": {}, "resumes": 0, "log": []}
    if ck_path.is_file():
        ck = torch.load(ck_path, map_location="cpu", weights_only=False)
        diff = _differences(ck["config"], asdict(cfg))
        if diff:
            raise IceCrackError(
                f"{ck_path}: checkpoint of a different configuration ({', '.join(diff[:3])}); "
                "delete it or use another --checkpoint-dir"
            )
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])  # moved to the parameters' device by the optimiser
        state = ck["state"]
        state["resumes"] += 1
        log(f"resuming from {ck_path}: step {state['step']}, {state['elapsed'] / 60:.1f} min done")
    elif cfg.init:
        from icecrack_assets.ml.bundle import load_bundle

        src = load_bundle(Path(cfg.init), device="cpu")
        model.load_state_dict(src.model.state_dict())
        log(f"starting from {cfg.init}")
    val_mix = replace(cfg.mix, resample_prob=0.3, despeckle=cfg.despeckle)
    val_sampler = MixedSampler(_sources(cfg, "val"), val_mix, seed=cfg.seed)
    val = _val_inputs(fixed_tiles(val_sampler, cfg.val_tiles, 10_000 + cfg.seed), norm)
    stream = _Stream(cfg, start=state["step"])
    loader = torch.utils.data.DataLoader(
        stream,
        batch_size=None,
        num_workers=workers,
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
    )
    weak_key = stream_key(cfg.seed + 104_729, cfg.stage)
    weak = weak_sampler(cfg, weak_key[0])
    weak_losses: list[float] = []
    budget = cfg.minutes * 60
    t_start = time.time() - state["elapsed"]
    t_ck = t_val = time.time()
    losses: list[float] = []
    state["precision"] = str(amp or torch.float32).removeprefix("torch.")
    log(
        f"streaming training: U-Net depth={cfg.depth} width={cfg.width} stem={cfg.stem}, "
        f"batch {cfg.batch_size} x {cfg.mix.patch}px, mix {cfg.mix.weights}, budget {cfg.minutes} min, "
        f"{state['precision']} on {device} ({torch.get_num_threads()} threads, {workers} drawing)"
    )
    for xb, yb, fams in loader:
        elapsed = time.time() - t_start
        if elapsed >= budget or (cfg.max_steps is not None and state["step"] >= cfg.max_steps):
            break
        model.train()
        progress = state["step"] / cfg.max_steps if cfg.max_steps else elapsed / budget
        for g in opt.param_groups:
            g["lr"] = cfg.lr * lr_factor(progress, cfg.warmup)
        xb, yb = xb.to(device, memory_format=torch.channels_last), yb.to(device)
        valid = yb != IGNORE
        with autocast(device, amp):
            logits = model(xb)
        loss = bce_dice_loss(logits.float(), yb == 1, valid, pos_weight=cfg.pos_weight)
        if weak is not None:
            weak.reseed([*weak_key, state["step"]])  # like the stream: step k's crops from k alone
            xw, cw = weak.batch()
            with autocast(device, amp):
                weak_logits = model(torch.from_numpy(xw).to(device, memory_format=torch.channels_last))
            lw = weak_loss(weak_logits.float(), torch.from_numpy(cw).to(device), cfg.weak)
            weak_losses.append(float(lw.item()))
            loss = loss + cfg.weak.weight * lw
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
        state["step"] += 1
        for fam, count in fams.items():
            state["families"][fam] = state["families"].get(fam, 0) + count
        now = time.time()
        if _validation_due(cfg, state["step"], now - t_val):
            f1, thr = _val_f1(model, val)
            if f1 > state["best"][0]:
                state["best"] = (f1, {k: v.detach().clone() for k, v in model.state_dict().items()}, thr)
            line = (
                f"step {state['step']} ({(now - t_start) / 60:.1f} min) loss {np.mean(losses):.4f} "
                f"val F1 {f1:.3f} @ {thr:.2f}{' *' if state['best'][0] == f1 else ''}"
                + (f" weak loss {np.mean(weak_losses):.4f}" if weak_losses else "")
            )
            weak_losses = []
            log(line)
            state["log"].append(line)
            losses = []
            t_val = time.time()
        if now - t_ck >= cfg.checkpoint_minutes * 60:
            state["elapsed"] = time.time() - t_start
            _save_checkpoint(
                ck_path,
                {"config": asdict(cfg), "model": model.state_dict(), "opt": opt.state_dict(), "state": state},
            )
            t_ck = time.time()
    state["elapsed"] = time.time() - t_start
    _save_checkpoint(
        ck_path, {"config": asdict(cfg), "model": model.state_dict(), "opt": opt.state_dict(), "state": state}
    )
    f1, thr = _val_f1(model, val)
    log(f"final: step {state['step']} val F1 {f1:.3f} @ {thr:.2f}")
    if cfg.keep_best and f1 < state["best"][0]:
        model.load_state_dict(state["best"][1])
        log(f"keeping the best snapshot (val F1 {state['best'][0]:.3f})")
    tiles = fixed_tiles(val_sampler, cfg.operating_tiles, OPERATING_SEED0 + cfg.seed)
    return write_default_bundle(model, cfg, _val_inputs(tiles, norm), state, models_dir, name, log)


def write_default_bundle(
    model: UNet, cfg: PretrainConfig, val: list, state: dict, models_dir: Path, name: str | None, log
) -> Path:
    """Tune the operating point on the operating tiles ``val`` and write the bundle."""
    from icecrack_assets.ml.evaluation.common import despeckle_settings

    pooled = _val_candidates(model, val, MIN_COMPONENTS)
    cands = [(t, s, {**metrics_from_counts(c), **c}) for (t, s), c in pooled.items()]
    points = {}
    for point in OPERATING_POINTS:
        t, s, _ = pick_operating_point(cands, point)
        m = metrics_from_counts(pooled[(t, s)])
        points[point] = {
            "threshold": t,
            "min_component": s,
            "val": {"tol1": {k: round(float(v), 4) for k, v in m.items()}},
        }
    rule = cfg.operating_point
    thr, size = points[rule]["threshold"], points[rule]["min_component"]
    metrics = {
        "threshold": thr,
        "min_component": size,
        "operating_point": rule,
        **points[rule],
        "operating_points": points,
    }
    simulator = SimulatorSource().module
    lineage = {
        "source": "default-model",
        "command": "icecrack train --default-model",
        "code_version": __version__,
        "pretrain_config": asdict(cfg),
        "steps": state["step"],
        "minutes": round(state["elapsed"] / 60, 1),
        "resumes": state["resumes"],
        "precision": state.get("precision", "float32"),  # of the last (re)start's forward passes
        "families_drawn": state["families"],
        "simulator": "randomised" if simulator is not None else "legacy",
        # what the simulator drew changes between versions (1.1: dunes at their physical scale);
        # bundles from before this field was recorded were trained on 1.0
        "simulator_version": getattr(simulator, "RANDOM_SIMULATOR_VERSION", None),
        "validation": f"{cfg.val_tiles} fixed tiles (simulator + Lai valid split), seed {10_000 + cfg.seed}",
        "operating_tiles": f"{cfg.operating_tiles} fixed tiles (the same split), seed {OPERATING_SEED0 + cfg.seed}",
        "progress": state["log"],
    }
    if cfg.init:
        from icecrack_assets.ml.bundle import read_bundle_json

        start = read_bundle_json(Path(cfg.init))
        lineage["init"] = {
            "bundle": Path(cfg.init).name,
            "weights_sha256": start.get("weights_sha256"),
            "lineage": start.get("lineage", {}),
        }
    out = save_bundle(
        Path(models_dir),
        model.cpu().to(memory_format=torch.contiguous_format),  # type: ignore[call-overload]
        dict(ROBUST_NORMALISATION),
        despeckle_settings(cfg.despeckle, None),
        thr,
        lineage,
        metrics,
        name=name,
        weights_dtype=cfg.weights_dtype,
        extra={
            "postprocess": {"min_component": int(size)},
            "pixel_size": {
                "nominal_m": cfg.pixel_size,
                "min_m": cfg.pixel_size_range[0],
                "max_m": cfg.pixel_size_range[1],
            },
        },
    )
    log(f"bundle {out}: threshold {thr:.2f}, min component {size} px, val {points[rule]['val']['tol1']}")
    return out
