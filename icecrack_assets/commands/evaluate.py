"""``icecrack evaluate``: suites a-e (simulated hold-out, speckled Lai, out-of-style families, real
Sentinel-1 fields, a second generator) with their baselines, as markdown tables."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from icecrack_assets.errors import IceCrackError
from icecrack_assets.layout import DataLayout

DEFAULT_LAI = (
    Path(os.environ.get("ICECRACK_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
    / "fracture-lai2020-moa"
)


DEFAULT_FIELDS = DEFAULT_LAI.parent / "s1-gris-crevasse-fields-naureen"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluation suites a-e: simulated hold-out, speckled Lai, out-of-style, real Sentinel-1, "
        "a second generator",
    )
    p.add_argument("--quick", action="store_true", help="CI-sized run (small scenes, tiny model)")
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help="bundle to evaluate on suite a (default: train one on simulated scenes)",
    )
    p.add_argument(
        "--suite",
        nargs="+",
        choices=["a", "b", "b-scratch", "c", "d", "e", "groups", "radiometry"],
        default=["a", "b", "c", "d", "e"],
        help="a: held-out simulated scenes; b: speckled Lai with the default model (b-scratch: trained "
        "from scratch); c: out-of-style families; d: real Sentinel-1 crevasse fields; e: crevasses of a second, "
        "independent generator (the default model, its base and the ridge); groups: the default model and "
        "its base on suite c's held-out scenes; radiometry: the same two on cracks of each radiometry "
        "(both without training)",
    )
    p.add_argument(
        "--default-model",
        type=Path,
        default=None,
        metavar="BUNDLE",
        help="the model of suites b and d (default: the shipped default model)",
    )
    p.add_argument(
        "--base-model",
        type=Path,
        default=None,
        metavar="BUNDLE",
        help="the default model's base (no real tiles): suite d's leave-one-tile-out runs start from "
        "it (default: the shipped base when --default-model is not given)",
    )
    p.add_argument(
        "--fields", type=Path, default=DEFAULT_FIELDS, help="suite d's real S1 tiles (read in place)"
    )
    p.add_argument(
        "--style-minutes", type=float, default=6.0, help="suite c: training minutes of each short model"
    )
    p.add_argument(
        "--style-steps",
        type=int,
        default=None,
        help="suite c: training steps of each short model (equal work)",
    )
    p.add_argument(
        "--style-groups",
        nargs="+",
        default=None,
        choices=["straight", "curved", "margins", "dense", "legacy"],
        metavar="GROUP",
        help="suite c: hold out only these family groups (straight, curved, margins, dense, legacy; "
        "default all); finished models in --work are reused, so a suite can be run in parts",
    )
    p.add_argument(
        "--no-ablation", action="store_true", help="skip the despeckling ablation (PPB, Lee, none)"
    )
    p.add_argument(
        "--despeckle", default="ppb", choices=["ppb", "lee", "none"], help="despeckling of the main model"
    )
    p.add_argument("--lai", type=Path, default=DEFAULT_LAI, help="Lai et al. 2020 folder (read in place)")
    p.add_argument(
        "--out", type=Path, default=None, help="markdown report (default DATA_ROOT/evaluation/evaluation.md)"
    )
    p.add_argument("--work", type=Path, default=None, help="scratch folder for samples and models")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--lai-seeds",
        type=int,
        default=None,
        metavar="N",
        help="suite b: train N models (seeds seed..seed+N-1) and report their mean (default 3; 1 with --quick)",
    )
    p.add_argument("--max-minutes", type=float, default=None, help="training time budget per model")
    p.add_argument(
        "--field-steps",
        type=int,
        default=None,
        help="suite d: steps of each leave-one-tile-out fine-tune of the default model's base "
        "(default: the shipped recipe's; 0 = skip; one run per tile, ~10 min each on 2 cores)",
    )
    p.add_argument(
        "--int8",
        action="store_true",
        help="score every model as predict --int8 runs it (8-bit integers on CPU; the report says so)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from icecrack_assets.ml.device import set_threads
    from icecrack_assets.ml.evaluation.suites import EvalConfig, run_evaluation
    from icecrack_assets.ml.train import TrainConfig

    data_root = DataLayout.at().root
    out = args.out or data_root / "evaluation" / ("evaluation-quick.md" if args.quick else "evaluation.md")
    if {"b", "b-scratch"} & set(args.suite) and not args.lai.is_dir():
        raise IceCrackError(f"{args.lai}: Lai et al. 2020 folder not found; pass --lai PATH or --suite a")
    train = TrainConfig(seed=args.seed)
    if args.quick:
        train = TrainConfig(seed=args.seed, epochs=4, depth=3, width=8, patience=3, max_minutes=1.5)
    if args.max_minutes is not None:
        train.max_minutes = args.max_minutes
    set_threads()
    cfg = EvalConfig(
        work_dir=args.work or data_root / "work" / ("evaluate-quick" if args.quick else "evaluate"),
        quick=args.quick,
        seed=args.seed,
        suites=tuple(args.suite),
        ablation=() if args.no_ablation else ("ppb", "lee", "none"),
        despeckle_filter=args.despeckle,
        lai_root=args.lai,
        train=train,
    )
    if args.lai_seeds is not None:
        if args.lai_seeds < 1:
            raise IceCrackError(f"--lai-seeds must be at least 1, got {args.lai_seeds}")
        cfg.lai_seeds = args.lai_seeds
    if {"b", "c", "d", "e", "groups", "radiometry"} & set(args.suite):
        from icecrack_assets.ml.evaluation.generalisation import (
            FAMILY_GROUPS,
            GROUP_KEYS,
            GeneralisationConfig,
        )
        from icecrack_assets.ml.pretrain import FIELD_FINETUNE_STEPS
        from icecrack_assets.ml.shipped import base_model_path, default_model_path

        if "d" in args.suite and not args.fields.is_dir():
            raise IceCrackError(
                f"{args.fields}: suite d's Sentinel-1 field tiles not found; pass --fields PATH"
            )
        from icecrack_assets.ml.bundle import read_bundle_json

        for given in (args.default_model, args.base_model):
            if given is not None:
                read_bundle_json(given)  # a one-line error now, not after an hour of suite runs
        cfg.default_model = args.default_model or default_model_path()
        if cfg.default_model is None and {"b", "d", "e", "groups", "radiometry"} & set(args.suite):
            raise IceCrackError("no default model in this install; pass --default-model BUNDLE")
        cfg.generalisation = GeneralisationConfig(
            work_dir=cfg.work_dir / "generalisation",
            lai_root=args.lai,
            fields_root=args.fields,
            minutes=min(args.style_minutes, 1.0) if args.quick else args.style_minutes,
            max_steps=args.style_steps,
            scenes_per_group=2 if args.quick else 6,
            scene_size=192 if args.quick else 384,
            operating_tiles=12 if args.quick else None,
            independent_scenes=2 if args.quick else 24,
            independent_size=256 if args.quick else 512,
            independent_sweep=1 if args.quick else 12,
            seed=args.seed,
            groups=dict(FAMILY_GROUPS)
            if args.style_groups is None
            else {GROUP_KEYS[k]: FAMILY_GROUPS[GROUP_KEYS[k]] for k in dict.fromkeys(args.style_groups)},
            lai_seeds=cfg.lai_seeds or (1 if args.quick else 3),
            finetune_minutes=args.max_minutes or (1.0 if args.quick else 8.0),
            base_model=args.base_model or (base_model_path() if args.default_model is None else None),
            field_steps=(
                args.field_steps
                if args.field_steps is not None
                else (20 if args.quick else FIELD_FINETUNE_STEPS)
            ),
        )
    g = cfg.generalisation
    if g is not None and "d" in args.suite and g.field_steps > 0 and not args.lai.is_dir():
        raise IceCrackError(
            f"{args.lai}: Lai et al. 2020 folder not found (suite d's leave-one-tile-out runs train "
            "on it); pass --lai PATH or --field-steps 0"
        )
    from icecrack_assets.ml.bundle import int8_inference

    with int8_inference(args.int8):
        run_evaluation(cfg, out, args.model, print)
    print(out.read_text())
    print(f"written: {out}")
    return 0
