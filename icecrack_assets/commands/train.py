"""``icecrack train``: train a U-Net bundle from sample directories, or self-contained with --simulate."""

from __future__ import annotations

import argparse
from pathlib import Path

from icecrack_assets.errors import IceCrackError
from icecrack_assets.layout import DataLayout


def _defaults():
    from icecrack_assets.ml.train import TrainConfig

    return TrainConfig()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a U-Net crack model bundle (weights + settings + metrics)")
    p.add_argument("samples", nargs="*", type=Path, help="sample directories (samples.npz + index.csv)")
    p.add_argument(
        "--simulate",
        action="store_true",
        help="simulate, despeckle and sample training scenes first (self-contained run)",
    )
    p.add_argument("--quick", action="store_true", help="with --simulate: tiny scenes and model, for CI")
    p.add_argument("--out", type=Path, default=None, help="models directory (default DATA_ROOT/models)")
    p.add_argument(
        "--despeckle",
        default="ppb",
        choices=["ppb", "lee", "refined-lee", "frost", "boxcar", "none"],
        help="despeckling the samples went through / that predict will apply (default ppb)",
    )
    p.add_argument(
        "--looks",
        type=float,
        default=None,
        help="equivalent number of looks for the despeckling (default: each scene's LOOKS tag)",
    )
    d = _defaults()
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--depth", type=int, default=d.depth)
    p.add_argument("--width", type=int, default=d.width)
    p.add_argument("--stem", type=int, default=d.stem, help="space-to-depth factor (1 = plain U-Net)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--patience", type=int, default=d.patience)
    p.add_argument("--max-minutes", type=float, default=d.max_minutes)
    p.add_argument("--pos-weight", type=float, default=d.pos_weight, help="BCE weight of crack pixels")
    p.add_argument(
        "--crop",
        type=int,
        default=None,
        help="train on one random window of this size (px) per patch; 0 = whole patches "
        "(default: 64 when fine-tuning, whole patches from scratch)",
    )
    p.add_argument(
        "--operating-point",
        default=d.operating_point,
        choices=["break-even", "f1"],
        help="threshold rule on validation: precision = recall (unbiased crack area) or best F1",
    )
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        metavar="BUNDLE",
        help="fine-tune: start from this bundle's weights (same depth/width/stem), 'default' for the "
        "shipped default model (the default whenever the architecture matches it) or 'base' for its "
        "base (stage 1b, no real tiles); with --default-model --fields, the base to fine-tune",
    )
    p.add_argument("--from-scratch", action="store_true", help="do not start from the shipped default model")
    p.add_argument(
        "--freeze-encoder",
        action="store_true",
        help="fine-tuning: train only the decoder and head, keep the start model's encoder (faster; "
        "what the demo does)",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    g = p.add_argument_group("the shipped default model (multi-source, resumable; see docs/model.md)")
    g.add_argument(
        "--default-model",
        action="store_true",
        help="train the default model (randomised simulator + speckled Lai); run again to resume",
    )
    g.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps of --default-model's stage 1 (default: the recipe's, pretrain.STAGE1_STEPS)",
    )
    g.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="a wall-clock cap on --default-model's stage 1 (default none: its steps are the budget)",
    )
    g.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="checkpoints of --default-model (default DATA_ROOT/work/default-model)",
    )
    g.add_argument("--lai", type=Path, default=None, help="Lai et al. 2020 folder (read in place)")
    g.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "float32", "bfloat16"],
        help="--default-model's forward passes: auto = bfloat16 where the CPU (AMX, AVX-512 BF16) or "
        "GPU has it, else float32; weights stay float32",
    )
    g.add_argument(
        "--input-filter",
        default="none",
        choices=["none", "lee"],
        help="--default-model's input filter, applied to every streamed tile (PPB is too slow for that)",
    )
    g.add_argument(
        "--fields",
        type=Path,
        default=None,
        metavar="DIR",
        help="stage 2 of --default-model: fine-tune on these real tiles' field-level labels "
        "(the s1-gris-crevasse-fields-naureen folder); with --init BUNDLE, stage 1 is skipped",
    )
    g.add_argument(
        "--continue-minutes",
        type=float,
        nargs="+",
        default=None,
        metavar="M",
        help="stage 1b of --default-model: minutes of more stage-1 training from stage 1's kept "
        "snapshot, one value per warm restart (default: the shipped recipe's, "
        "pretrain.CONTINUE_ROUNDS, whose step caps and polarity flips apply only to them; 0 skips "
        "it; with --init BUNDLE the default is 0, and with "
        "--init BUNDLE and no --fields only this continuation runs, from BUNDLE)",
    )
    g.add_argument(
        "--field-steps",
        type=int,
        default=None,
        help="training steps of stage 2 (default: the recipe's, pretrain.FIELD_FINETUNE_STEPS)",
    )
    p.set_defaults(func=run)


def _default_init(cfg) -> str | None:
    """``"default"`` when the shipped default model exists and has this architecture, else None."""
    from icecrack_assets.ml.bundle import architecture_diff, read_bundle_json
    from icecrack_assets.ml.shipped import default_model_path

    shipped = default_model_path()
    if shipped is None:
        return None
    mine = {"depth": cfg.depth, "width": cfg.width, "stem": cfg.stem, "dropout": cfg.dropout}
    if architecture_diff(read_bundle_json(shipped)["architecture"], mine):
        return None
    print(f"starting from the shipped default model {shipped} (--from-scratch to not)")
    return "default"


def run_default_model(args: argparse.Namespace, data_root: Path) -> int:
    from icecrack_assets.commands.evaluate import DEFAULT_LAI
    from icecrack_assets.ml.pretrain import (
        CONTINUE_ROUNDS,
        FIELD_FINETUNE_STEPS,
        STAGE1_STEPS,
        ContinueRound,
        field_finetune,
        pretrain,
        stage1_config,
        stage1_continuation,
    )
    from icecrack_assets.ml.shipped import BASE_MODEL_DIR, DEFAULT_MODEL_DIR, resolve_init

    if args.freeze_encoder:
        raise IceCrackError(
            "--freeze-encoder fine-tunes on sample directories; the default model's recipe trains every layer"
        )
    lai = args.lai or DEFAULT_LAI
    if not lai.is_dir():
        raise IceCrackError(f"{lai}: Lai et al. 2020 folder not found; pass --lai PATH")
    cfg = stage1_config(
        steps=STAGE1_STEPS if args.steps is None else args.steps,
        minutes=args.minutes,
        seed=args.seed,
        depth=args.depth,  # the shared defaults are the shipped models' U-Net (4 / 16 / 2)
        width=args.width,
        stem=args.stem,
        lai_root=str(lai.resolve()),
        despeckle=args.input_filter,
        device=args.device,
        precision=args.precision,
    )
    # the package's names in --out too: the base and the model are told apart, and a re-run gives
    # each stage the same init path (a timestamped name made stage 2's checkpoint refuse to resume)
    out = args.out or DEFAULT_MODEL_DIR.parent
    name = DEFAULT_MODEL_DIR.name
    ck = args.checkpoint_dir or data_root / "work" / "default-model"
    log = lambda m: print(m, flush=True)  # noqa: E731

    # stage 1b is part of the recipe after a stage 1 trained here; a given --init is the base as is.
    # Given minutes are plain rounds (no step cap, no polarity flip); the recipe's are its own.
    if args.continue_minutes is None:
        rounds = () if args.init is not None else CONTINUE_ROUNDS
    else:
        if any(m < 0 for m in args.continue_minutes):
            raise IceCrackError(f"--continue-minutes must be 0 or more, got {min(args.continue_minutes):g}")
        rounds = tuple(ContinueRound(m) for m in args.continue_minutes if m > 0)
    if args.init is not None and args.fields is None and not rounds:
        raise IceCrackError(
            "--init with --default-model and no --fields continues stage 1: give --continue-minutes > 0"
        )
    if args.fields is not None:
        from icecrack_assets.ml.evaluation.fields import field_tiles

        field_tiles(args.fields)  # a one-line error before any training when the folder is wrong
    # one chain: stage 1 (or the given bundle) -> stage 1b's rounds if asked -> stage 2 with
    # --fields; the last stage run is the default model, the one before stage 2 its base
    # (before_stage2 names it); earlier stages get fixed names beside the checkpoints, so a re-run
    # resumes each from the same init
    base_name = BASE_MODEL_DIR.name
    before_stage2 = name if args.fields is None else base_name
    kept = Path(ck) / "stage1-models"
    if args.init is not None:
        stage1 = resolve_init(args.init)
        print(f"stage 1: {stage1} (given)")
    elif rounds:
        stage1 = pretrain(cfg, kept, ck, name="stage1", log=log)
        print(f"stage 1: {stage1}")
    else:
        stage1 = pretrain(cfg, out, ck, name=before_stage2, log=log)
        print(f"stage 1: {stage1}")
    for k, spec in enumerate(rounds):
        last = k == len(rounds) - 1
        cont = stage1_continuation(cfg, str(stage1), spec, round_=k)
        where = Path(ck) / ("continue" if k == 0 else f"continue-{k + 1}")
        if last:
            stage1 = pretrain(cont, out, where, name=before_stage2, log=log)
        else:
            stage1 = pretrain(cont, kept, where, name=f"stage1b-{k + 1}", log=log)
        print(f"stage 1b, round {k + 1} of {len(rounds)}: {stage1}")
    if args.fields is None:
        print(f"bundle: {stage1}")
        return 0
    steps = args.field_steps if args.field_steps is not None else FIELD_FINETUNE_STEPS
    stage2 = field_finetune(cfg, str(stage1), str(args.fields.resolve()), steps=steps)
    bundle = pretrain(stage2, out, Path(ck) / "fields", name=name, log=log)
    print(f"bundle: {bundle}")
    return 0


def run(args: argparse.Namespace) -> int:
    from icecrack_assets.ml.evaluation.suites import EvalConfig, despeckle_settings, train_on_simulated
    from icecrack_assets.ml.train import TrainConfig, train_bundle

    data_root = DataLayout.at().root
    if args.default_model:
        return run_default_model(args, data_root)
    out = args.out or data_root / "models"
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        depth=args.depth,
        width=args.width,
        stem=args.stem,
        seed=args.seed,
        patience=args.patience,
        max_minutes=args.max_minutes,
        device=args.device,
        pos_weight=args.pos_weight,
        crop=args.crop,
        operating_point=args.operating_point,
        init=str(args.init) if args.init else None,
        freeze_encoder=args.freeze_encoder,
    )
    if args.init is None and not args.from_scratch and not args.quick:
        cfg.init = _default_init(cfg)
    if args.quick:
        cfg.epochs, cfg.depth, cfg.width, cfg.max_minutes = (
            min(cfg.epochs, 3),
            2,
            8,
            min(cfg.max_minutes, 2.0),
        )
    if args.simulate:
        if args.samples:
            raise IceCrackError("give either sample directories or --simulate, not both")
        ecfg = EvalConfig(
            work_dir=data_root / "work" / "train-simulated", quick=args.quick, seed=args.seed, train=cfg
        )
        res = train_on_simulated(ecfg, args.despeckle, out, print)
    else:
        if not args.samples:
            raise IceCrackError("no sample directories given; pass SAMPLE_DIR ... or use --simulate")
        settings = despeckle_settings(args.despeckle, args.looks)
        res = train_bundle(args.samples, out, cfg, settings, {"source": "samples"}, print)
    m = res.metrics.get("test", res.metrics["val"])
    print(f"bundle: {res.bundle_dir}")
    print(
        f"threshold {res.threshold:.2f}; {'test' if 'test' in res.metrics else 'val'} "
        f"P {m['tol1']['precision']:.3f} R {m['tol1']['recall']:.3f} F1 {m['tol1']['f1']:.3f} "
        f"(1-px tolerance), strict F1 {m['strict']['f1']:.3f}; {res.epochs_run} epochs in {res.seconds:.0f} s"
    )
    return 0
