"""Suites that test generalisation: c (out-of-style), d (real Sentinel-1 fields), and suite b for
the shipped default model (no fine-tuning, and fine-tuned on Lai train, mean of seeds).

Suite c protocol (affordable on 2 cores, documented in docs/model.md): the randomised
simulator's crevasse families are split into groups; for each group a short model (the default
architecture, ``minutes`` or ``max_steps`` of streaming training on the simulator alone) is
trained with that group excluded, its operating point chosen on its own validation tiles (which
exclude the group too), and it is scored on held-out scenes of that group only (seeds from
50 000, never drawn in training). A reference model trained on every family the same way is
scored on the same scenes: the gap is the price of never having seen the style. The reference
is also suite b's zero-shot model (simulator only, no Lai).

"groups" scores whole models (the default model, its base) on suite c's held-out scenes without
training anything: not out-of-style (they saw every family), but the same scenes and seeds, so
candidate models are compared on data no training or choice of theirs used.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.bundle import Bundle, load_bundle
from icecrack_assets.ml.inference import predict_probability
from icecrack_assets.ml.metrics import crack_counts, metrics_from_counts, pool_counts
from icecrack_assets.ml.multisource import MixConfig, despeckle_tile
from icecrack_assets.ml.postprocess import crack_mask
from icecrack_assets.simulator.random_background import STREAM

if TYPE_CHECKING:  # pretrain imports torch training code; only its config type is needed here
    from icecrack_assets.ml.pretrain import PretrainConfig

FAMILY_GROUPS = {
    "straight sets (transverse, longitudinal, crossing)": ("transverse", "longitudinal", "crossing"),
    "curved sets (chevron, splaying, en-echelon)": ("chevron", "splaying", "en-echelon"),
    "margins and rift tips": ("marginal", "rift-tip"),
    "dense fields": ("dense-field",),
    "legacy renderer": ("legacy",),
}
GROUP_KEYS = dict(zip(("straight", "curved", "margins", "dense", "legacy"), FAMILY_GROUPS, strict=True))
HELDOUT_SEED0 = 50_000
TARGETS_C = {"worst": 0.80, "mean": 0.88}


@dataclass
class GeneralisationConfig:
    work_dir: Path
    lai_root: Path | None = None
    fields_root: Path | None = None
    minutes: float = 6.0  # per suite-c model
    max_steps: int | None = None
    scenes_per_group: int = 6
    scene_size: int = 384
    despeckle: str = "none"
    groups: dict = field(default_factory=lambda: dict(FAMILY_GROUPS))
    seed: int = 0
    lai_seeds: int = 3  # suite b: fine-tuning runs of the default model (their mean is reported)
    finetune_minutes: float = 8.0  # suite b: budget of each fine-tuning run
    base_model: Path | None = None  # suite d: the default model's base, stages 1 + 1b (no real tile)
    field_steps: int = 0  # suite d: steps of each leave-one-tile-out fine-tune of base_model (0 = none)
    # suite e: scenes of the independent generator and their side (px)
    independent_scenes: int = 24  # 8 gave F1 0.82-0.91 across seed sets; 24 steadies it
    independent_size: int = 512
    independent_sweep: int = 12  # suite e's first scenes again at 1, 2 and 20 looks (0 = none)
    # validation tiles each trained model's operating point is tuned on (None = the recipe's,
    # PretrainConfig.operating_tiles; --quick takes fewer)
    operating_tiles: int | None = None


class HeldoutScene(NamedTuple):
    family: str
    x: np.ndarray  # sigma0 as the model sees it
    truth: np.ndarray
    classes: np.ndarray | None  # random_background class codes (None for the legacy renderer)


def heldout_scenes(
    families: tuple[str, ...], n: int, size: int, seed0: int, despeckle: str = "none"
) -> list[HeldoutScene]:
    """``n`` randomised-simulator scenes drawn only from ``families``."""
    from icecrack_assets.simulator import randomised

    out = []
    for i in range(n):
        rng = np.random.default_rng([seed0, i])
        style = randomised.sample_style(rng, families=families)
        sc = randomised.render_scene(style, (size, size), seed0 + i)
        x = sc.sigma0 if despeckle == "none" else despeckle_tile(sc.sigma0, despeckle, float(sc.looks))
        out.append(HeldoutScene(style.family, x, sc.truth, sc.classes))
    return out


def group_scenes(group: str, n: int, size: int, despeckle: str = "none") -> list[HeldoutScene]:
    """Suite c's held-out scenes of one family group: their seeds follow the group's place in
    FAMILY_GROUPS, so a run of some groups scores the same scenes as a run of all."""
    i = list(FAMILY_GROUPS).index(group)
    return heldout_scenes(FAMILY_GROUPS[group], n, size, HELDOUT_SEED0 + 1000 * i, despeckle)


def score_scenes(bundle: Bundle, scenes: list[HeldoutScene]) -> dict:
    """Pooled strict and 1-px scores of a bundle at its own operating point, and the share of
    simulated supraglacial-stream pixels (no crack there) it flags: thin meandering lines are the
    hard negative the models confuse most with cracks (docs/model.md, "Streams and polarity")."""
    counts: dict[str, list] = {"strict": [], "tol1": []}
    stream = [0, 0]  # flagged, all
    for sc in scenes:
        pred = crack_mask(predict_probability(bundle, sc.x), bundle.threshold, bundle.min_component)
        for k, tol in (("strict", 0), ("tol1", 1)):
            counts[k].append(crack_counts(pred.astype(np.uint8), sc.truth, tol))
        if sc.classes is not None:
            on = (sc.classes == STREAM) & (sc.truth == 0)
            stream[0] += int(pred[on].sum())
            stream[1] += int(on.sum())
    out: dict = {k: metrics_from_counts(pool_counts(v)) for k, v in counts.items()}
    out["streams"] = {"flagged": stream[0], "pixels": stream[1]}
    return out


def _operating_tiles(cfg: GeneralisationConfig) -> dict:
    """PretrainConfig's ``operating_tiles`` when the suite sets its own, else nothing (the recipe's)."""
    return {} if cfg.operating_tiles is None else {"operating_tiles": cfg.operating_tiles}


def _short_model(cfg: GeneralisationConfig, name: str, exclude: tuple[str, ...], log) -> Path:
    from icecrack_assets.ml.pretrain import PretrainConfig, pretrain

    pc = PretrainConfig(
        minutes=cfg.minutes,
        max_steps=cfg.max_steps,
        seed=cfg.seed,
        val_tiles=12,
        **_operating_tiles(cfg),
        val_every_minutes=max(1.0, cfg.minutes / 3),
        # at most 10 minutes of a model lost when a session ends (resuming is exact)
        checkpoint_minutes=min(10.0, max(1.0, cfg.minutes / 3)),
        despeckle=cfg.despeckle,
        mix=MixConfig(weights={"simulator": 1.0}, exclude=exclude),
    )
    d = cfg.work_dir / f"c-{cfg.despeckle}-{name}"
    done = sorted((d / "models").glob("unet-*"))
    if done:  # a finished run is reused: the suite can be resumed group by group
        return done[-1]
    return pretrain(pc, d / "models", d / "checkpoint", log=log)


def suite_c(cfg: GeneralisationConfig, log: Callable[[str], None] = print) -> dict:
    """Out-of-style: per family group, a model trained without it, tested on it; and a reference.

    The held-out models train before the reference and every finished model is reused, so a run
    of some groups (``cfg.groups``) and a later run of the rest share one reference."""
    t0 = time.time()
    held = {group: _short_model(cfg, "no-" + "-".join(fams), fams, log) for group, fams in cfg.groups.items()}
    ref = load_bundle(_short_model(cfg, "all", (), log), device="cpu")
    rows = {}
    for group, path in held.items():
        scenes = group_scenes(group, cfg.scenes_per_group, cfg.scene_size, cfg.despeckle)
        rows[group] = {
            "held_out": score_scenes(load_bundle(path, device="cpu"), scenes),
            "reference": score_scenes(ref, scenes),
        }
        log(
            f"suite c [{group}]: held-out F1 {rows[group]['held_out']['tol1']['f1']:.3f}, "
            f"reference {rows[group]['reference']['tol1']['f1']:.3f} (1 px)"
        )
    f1s = [r["held_out"]["tol1"]["f1"] for r in rows.values()]
    return {
        "groups": rows,
        "worst": min(f1s),
        "mean": float(np.mean(f1s)),
        "every_group": set(rows) == set(FAMILY_GROUPS),
        "minutes": cfg.minutes,
        "max_steps": cfg.max_steps,
        "despeckle": cfg.despeckle,
        "reference_bundle": str(ref.path),
        "seconds": time.time() - t0,
    }


def groups_in_style(
    bundles: dict[str, Path], cfg: GeneralisationConfig, log: Callable[[str], None] = print
) -> dict:
    """Each bundle at its own operating point on suite c's held-out scenes, per family group."""
    scenes = {group: group_scenes(group, cfg.scenes_per_group, cfg.scene_size) for group in cfg.groups}
    out: dict = {}
    for name, path in bundles.items():
        b = load_bundle(path, device="cpu")
        rows = {group: score_scenes(b, sc) for group, sc in scenes.items()}
        f1s = [r["tol1"]["f1"] for r in rows.values()]
        flagged, pixels = (sum(r["streams"][k] for r in rows.values()) for k in ("flagged", "pixels"))
        out[name] = {
            "groups": rows,
            "worst": min(f1s),
            "mean": float(np.mean(f1s)),
            "streams_flagged": flagged / pixels if pixels else None,
            "threshold": b.threshold,
            "bundle": str(path),
        }
        share = out[name]["streams_flagged"]
        log(
            f"suite groups [{name}]: worst F1 ±1 {min(f1s):.3f}, mean {np.mean(f1s):.3f}, "
            f"stream pixels flagged {'none drawn' if share is None else f'{share:.3f}'}"
        )
    return out


def suite_d(bundles: dict[str, Path], cfg: GeneralisationConfig, log: Callable[[str], None] = print) -> dict:
    """Real S1 fields: each bundle predicted as ``icecrack predict`` does, and the Sato ridge."""
    from icecrack_assets.ml.evaluation.fields import field_tiles, model_on_fields, ridge_on_fields
    from icecrack_assets.ml.evaluation.ridge import ridge_response, tune_ridge

    tiles = field_tiles(cfg.fields_root)
    out: dict = {"models": {}}
    for name, path in bundles.items():
        b = load_bundle(path, device="cpu")
        # "native" rows are predicted on the 10 m grid whatever spacing range their bundle records
        spacing = 20.0 if "native" in name else None
        work = cfg.work_dir / "d" / "".join(ch if ch.isalnum() else "_" for ch in name)
        out["models"][name] = model_on_fields(b, tiles, work, pixel_size=spacing)
        m = out["models"][name]
        log(
            f"suite d [{name}]: fields hit {m['fields_hit_count']}/{m['fields']}, inside/background "
            f"{m['inside_over_background']:.2f}, inside/streams {m['inside_over_streams']:.2f}"
        )
    val = heldout_scenes(all_families(), 8, 384, 60_000)
    thr, _ = tune_ridge([ridge_response(sc.x) for sc in val], [sc.truth for sc in val], 1)
    out["ridge"] = {**ridge_on_fields(thr, tiles), "threshold": thr}
    log(f"suite d [ridge]: fields hit {out['ridge']['fields_hit_count']}/{out['ridge']['fields']}")
    return out


def fields_leave_one_out(
    base: Path,
    cfg: GeneralisationConfig,
    log: Callable[[str], None] = print,
    train: PretrainConfig | None = None,
) -> dict:
    """Suite d without flattery for a model trained on the real tiles' field labels: every tile is
    scored by a fine-tune of ``base`` (the shipped model's own stage-2 recipe and budget) on the
    *other* tiles only, and the per-tile counts are pooled."""
    from icecrack_assets.ml.evaluation.fields import field_metrics, field_tiles, model_on_fields
    from icecrack_assets.ml.pretrain import PretrainConfig, field_finetune, pretrain

    if cfg.fields_root is None or (train is None and cfg.lai_root is None):
        raise ValueError("the leave-one-tile-out runs need fields_root and lai_root")
    tiles = field_tiles(cfg.fields_root)
    counts: list[dict] = []
    per_tile: dict = {}
    t0 = time.time()
    for t in tiles:
        others = tuple(o.name for o in tiles if o.name != t.name)
        pc = field_finetune(
            train or PretrainConfig(lai_root=str(cfg.lai_root), seed=cfg.seed, **_operating_tiles(cfg)),
            str(base),
            str(cfg.fields_root),
            others,
            steps=cfg.field_steps,
        )
        work = cfg.work_dir / "d-leave-one-out" / t.name
        shutil.rmtree(work, ignore_errors=True)  # a fresh measurement, never a resumed one
        bundle = pretrain(
            pc, work / "models", work / "checkpoint", name=f"without-{t.name}", log=lambda m: None
        )
        r = model_on_fields(load_bundle(bundle, device="cpu"), [t], work / "predicted")
        counts += r["counts"]
        per_tile[t.name] = {**r["per_tile"][t.name], "trained_on": list(others)}
        log(
            f"suite d [leave {t.name} out]: fields hit {r['fields_hit_count']}/{r['fields']}, "
            f"inside {100 * r['inside']:.2f} %, streams {100 * r['streams']:.2f} %"
        )
    return {
        **field_metrics(counts),
        "per_tile": per_tile,
        "counts": counts,
        "steps_each": cfg.field_steps,
        "base": str(base),
        "seconds": round(time.time() - t0),
    }


def saw_field_tiles(bundle: Path) -> bool:
    """Whether a bundle was trained on the real tiles' field labels (then suite d is in-sample)."""
    from icecrack_assets.ml.bundle import read_bundle_json

    return bool(read_bundle_json(bundle).get("lineage", {}).get("pretrain_config", {}).get("fields_root"))


def all_families() -> tuple[str, ...]:
    from icecrack_assets.simulator.randomised import FAMILIES

    return tuple(FAMILIES)


def suite_b_default(
    default: Path,
    lai_root: Path,
    work: Path,
    seeds: int = 3,
    epochs: int = 6,
    max_minutes: float = 8.0,
    zero_shot: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Speckled Lai (4.4 looks, raw: the default model's input filter is none) for the default model.

    Rows: the ridge; ``zero_shot`` (a simulator-only model: no Lai at all); the default model as
    shipped (its training mix includes Lai *train* tiles, never valid/test); and the default model
    fine-tuned on Lai train, mean of ``seeds`` seeds. Every model's threshold is re-tuned on the whole
    valid tiles for strict F1, as the ridge's.
    """
    from icecrack_assets.ml.calibrate import calibrate_bundle
    from icecrack_assets.ml.evaluation import lai
    from icecrack_assets.ml.evaluation.common import (
        LAI_PATCH,
        LAI_PER_TILE,
        LAI_POS_WEIGHT,
        LAI_TRAIN_REALISATIONS,
        despeckle_settings,
        mean_scores,
        pool_scores,
        ridge_scores,
    )
    from icecrack_assets.ml.evaluation.ridge import ridge_response, tune_ridge
    from icecrack_assets.ml.samples import SceneForSamples, build_samples
    from icecrack_assets.ml.train import TrainConfig, train_bundle

    looks = 4.4

    def load(split: str, draws: int = 1):
        out = []
        for t in lai.lai_tiles(lai_root, split):
            clean, truth = lai.load_tile(t)
            for r in range(draws):
                out.append(
                    (
                        f"lai:{t.split}/{t.name}#{r}",
                        lai.speckle(clean, looks, lai.tile_seed(t, 1000 * r)),
                        truth,
                    )
                )
        return out

    train, val, test = load("train", LAI_TRAIN_REALISATIONS), load("val"), load("test")
    vx, vy = [x for _, x, _ in val], [y for _, _, y in val]
    tx, ty = [x for _, x, _ in test], [y for _, _, y in test]
    thr, _ = tune_ridge([ridge_response(x) for x in vx], vy, 0)
    res: dict = {"ridge": pool_scores(ridge_scores(thr, tx, ty)), "looks": looks}

    def calibrated(path: Path, name: str) -> dict:
        copy = work / "b-copies" / name
        if copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(path, copy)  # calibration rewrites bundle.json: never the shipped one
        b = load_bundle(copy, device="cpu")
        calibrate_bundle(b, vx, vy, "lai2020 valid split, whole tiles", tolerance=0, operating_point="f1")
        return {"scores": pool_scores([_score(b, x, y) for x, y in zip(tx, ty)]), "threshold": b.threshold}

    def _score(b, x, y):
        pred = crack_mask(predict_probability(b, x), b.threshold, b.min_component).astype(np.uint8)
        return {"strict": crack_counts(pred, y, 0), "tol1": crack_counts(pred, y, 1)}

    if zero_shot is not None:
        res["zero_shot"] = calibrated(zero_shot, "zero-shot")
        log(f"suite b [zero-shot]: F1 {res['zero_shot']['scores']['strict']['f1']:.3f}")
    res["default"] = calibrated(default, "default")
    log(f"suite b [default, no fine-tuning]: F1 {res['default']['scores']['strict']['f1']:.3f}")
    dirs = []
    for name, items, split in (("train", train, "train"), ("val", val, "val")):
        d = work / f"samples-lai-raw-{name}"
        scenes = [
            SceneForSamples(sid, "lai2020", 2009, None, y, "annotation:lai", image=x) for sid, x, y in items
        ]
        if not (d / "samples.npz").is_file():
            build_samples(
                scenes,
                d,
                patch=LAI_PATCH,
                seed=0,
                max_per_scene=LAI_PER_TILE,
                block_size=1000,
                buffer=0,
                force_split=split,
            )
        dirs.append(d)
    src = load_bundle(default, device="cpu")
    runs = []
    for seed in range(seeds):
        tc = TrainConfig(
            epochs=epochs,
            max_minutes=max_minutes,
            seed=seed,
            depth=src.config["depth"],
            width=src.config["width"],
            stem=src.config["stem"],
            normalisation=dict(src.normalisation),
            pos_weight=LAI_POS_WEIGHT,
            operating_point="f1",
            lr=5e-4,
            init=str(default),
            crop=0,  # whole 192-px patches: 128-px windows lost 0.04 F1 here (docs/model.md)
        )
        r = train_bundle(
            dirs, work / "b-models", tc, despeckle_settings("none", looks), {"source": "lai-finetune"}, log
        )
        runs.append({"seed": seed, **calibrated(r.bundle_dir, f"finetuned-{seed}"), "epochs": r.epochs_run})
        log(f"suite b [fine-tuned seed {seed}]: F1 {runs[-1]['scores']['strict']['f1']:.3f}")
    if runs:
        res["fine_tuned"] = {
            "mean": mean_scores([r["scores"] for r in runs]),
            "runs": runs,
            "epochs": epochs,
        }
    return res


def run_generalisation(
    cfg: GeneralisationConfig,
    suites: tuple[str, ...],
    default: Path | None,
    ablation: tuple[str, ...] = (),
    log: Callable[[str], None] = print,
) -> dict:
    """Suites c, d and b (default model) as selected; ``ablation`` adds input filters to c and d."""
    from dataclasses import replace

    res: dict = {}
    filters = [cfg.despeckle] + [f for f in ablation if f != cfg.despeckle]
    refs: dict[str, Path] = {}
    if "c" in suites:
        res["c"] = {}
        for f in filters:
            if f == "ppb":
                res["c"][f] = {
                    "skipped": "PPB is too slow to despeckle every streamed training tile on 2 cores"
                }
                continue
            res["c"][f] = suite_c(replace(cfg, despeckle=f), log)
            refs[f] = Path(res["c"][f]["reference_bundle"])
    for f in filters:  # suite c's finished reference models serve b (zero-shot) and d without re-running c
        found = sorted((cfg.work_dir / f"c-{f}-all" / "models").glob("unet-*"))
        if f not in refs and found:
            refs[f] = found[-1]
    scored = {} if default is None else {"default model": default}
    if cfg.base_model is not None:
        scored["its base (no real tiles)"] = cfg.base_model
    if {"groups", "radiometry"} & set(suites):
        from icecrack_assets.ml.bundle import read_bundle_json

        for path in scored.values():  # both draw raw sigma0 scenes, as the default models read them
            wants = read_bundle_json(path).get("despeckle", {}).get("filter", "none")
            if wants != "none":
                raise IceCrackError(
                    f"{path}: suites groups and radiometry score raw-input models; this one expects {wants}"
                )
    if "groups" in suites:
        res["groups"] = groups_in_style(scored, cfg, log)
    if "radiometry" in suites:
        from icecrack_assets.ml.evaluation.radiometry import radiometry_check

        res["radiometry"] = radiometry_check(scored, cfg.scenes_per_group, cfg.scene_size, log)
    if "e" in suites:  # any input filter: the scenes go through predict_scene as files
        from icecrack_assets.ml.evaluation.independent import independent_check

        res["e"] = independent_check(
            scored,
            cfg.work_dir / "independent",
            n=cfg.independent_scenes,
            size=cfg.independent_size,
            ridge_scenes=max(1, cfg.independent_scenes // 2),
            sweep_scenes=cfg.independent_sweep,
            log=log,
        )
    if "d" in suites:
        bundles = {}
        if default is not None:
            label = "default model (as icecrack predict)"
            if saw_field_tiles(default):
                label += ", in-sample: trained on these tiles' field labels"
            bundles[label] = default
        if cfg.base_model is not None:
            bundles["its base, stages 1 + 1b (simulator + Lai, no real tiles)"] = cfg.base_model
        for f, p in refs.items():
            bundles[f"suite-c reference, input filter {f} (native 10 m)"] = p
        res["d"] = suite_d(bundles, cfg, log)
        if cfg.base_model is not None and cfg.field_steps > 0:
            loo = fields_leave_one_out(cfg.base_model, cfg, log)
            name = (
                f"default recipe, leave one tile out: the base + {cfg.field_steps} steps on the other "
                "3 tiles' field labels, scored on the unseen tile"
            )
            res["d"]["models"] = {name: loo, **res["d"]["models"]}
    if "b" in suites and default is not None and cfg.lai_root is not None:
        res["b_default"] = suite_b_default(
            default,
            cfg.lai_root,
            cfg.work_dir,
            seeds=cfg.lai_seeds,
            max_minutes=cfg.finetune_minutes,
            zero_shot=refs.get(cfg.despeckle),
            log=log,
        )
    return res


def _f(x: float) -> str:
    return "inf" if x == float("inf") else f"{x:.3f}"


def render_generalisation(res: dict) -> str:
    """Markdown tables of suites c, d and b (default model)."""
    out = []
    if "c" in res:
        out.append(
            "\n## Suite c: out-of-style (randomised simulator families held out)\n\n"
            "Per family group, a model trained without it (simulator only, short streaming run) is "
            "tested on held-out scenes of that group only; the reference model saw every family. "
            f"Targets: worst F1 >= {TARGETS_C['worst']}, mean >= {TARGETS_C['mean']} (1 px).\n"
        )
        for f, c in res["c"].items():
            if "skipped" in c:
                out.append(f"\nInput filter {f}: not run ({c['skipped']}).\n")
                continue
            budget = f"{c['max_steps']} steps" if c.get("max_steps") else f"{c['minutes']} min"
            scope = (
                ""
                if c.get("every_group", True)
                else f" of the {len(c['groups'])} groups run, not the whole suite"
            )
            out.append(
                f"\nInput filter **{f}**, {budget} per model. Worst held-out F1 ±1{scope} {c['worst']:.3f}, "
                f"mean {c['mean']:.3f}.\n\n| held-out group | P ±1 | R ±1 | F1 ±1 | F1 strict | reference F1 ±1 |\n"
                "|---|---|---|---|---|---|\n"
            )
            for g, r in c["groups"].items():
                h = r["held_out"]
                out.append(
                    f"| {g} | {h['tol1']['precision']:.3f} | {h['tol1']['recall']:.3f} | {h['tol1']['f1']:.3f} | "
                    f"{h['strict']['f1']:.3f} | {r['reference']['tol1']['f1']:.3f} |\n"
                )
    if "groups" in res:
        names = list(FAMILY_GROUPS)
        out.append(
            "\n## Suite c's held-out scenes, whole models (in-style: they saw every family)\n\n"
            "Each model at its own operating point; F1 ±1 per family group. Not out-of-style, so not "
            "suite c's target; the same scenes compare candidate models on data none of them used. "
            "Streams flagged: share of the scenes' simulated supraglacial-stream pixels (no crack "
            "there) the model flags, a hard negative.\n\n"
            + "| model (threshold) | "
            + " | ".join(names)
            + " | worst | mean | streams flagged |\n"
            + "|---" * (len(names) + 4)
            + "|\n"
        )
        for name, g in res["groups"].items():
            cells = " | ".join(
                f"{g['groups'][n]['tol1']['f1']:.3f}" if n in g["groups"] else "–" for n in names
            )
            sf = "–" if g["streams_flagged"] is None else f"{g['streams_flagged']:.3f}"
            out.append(
                f"| {name} ({g['threshold']:.2f}) | {cells} | {g['worst']:.3f} | {g['mean']:.3f} | {sf} |\n"
            )
    if "e" in res:
        from icecrack_assets.ml.evaluation.independent import render_independent

        out.append(render_independent(res["e"]))
    if "radiometry" in res:
        from icecrack_assets.ml.evaluation.radiometry import render_radiometry

        out.append(render_radiometry(res["radiometry"]))
    if "d" in res:
        d = res["d"]
        out.append(
            "\n## Suite d: real Sentinel-1 crevasse fields (4 IW crops, West Greenland)\n\n"
            "Flagged fraction inside hand-drawn crevasse fields, on background and on streams/lakes; "
            "fields hit = fields with >= 1 % of their pixels flagged (fields = 8-connected components of "
            "the field label). Targets: fields hit >= 0.6, inside/background >= 2.5, inside/streams >= 1.5. "
            "A model trained on these tiles' field labels is in-sample here; the leave-one-tile-out row "
            "scores each tile with a model that never saw it.\n\n"
            "| model | inside | background | streams | inside/background | inside/streams | fields hit |\n"
            "|---|---|---|---|---|---|---|\n"
        )
        rows = list(d["models"].items()) + [
            (f"Sato ridge (threshold {d['ridge']['threshold']:.3g}, tuned on simulated scenes)", d["ridge"])
        ]
        for name, m in rows:
            out.append(
                f"| {name} | {100 * m['inside']:.2f} % | {100 * m['background']:.2f} % | {100 * m['streams']:.2f} % | "
                f"{_f(m['inside_over_background'])} | {_f(m['inside_over_streams'])} | "
                f"{m['fields_hit_count']}/{m['fields']} ({m['fields_hit']:.2f}) |\n"
            )
    if "b_default" in res:
        b = res["b_default"]
        out.append(
            f"\n## Suite b: speckled Lai (raw, {b['looks']} looks), the default model\n\n"
            "Every threshold re-tuned for strict F1 on the whole valid tiles. Target: fine-tuned mean >= ridge + 0.15.\n\n"
            "| model | P | R | F1 | F1 ±1 | F1 − ridge |\n|---|---|---|---|---|---|\n"
        )
        ridge = b["ridge"]["strict"]["f1"]

        def row(name: str, m: dict) -> str:
            s = m["strict"]
            return (
                f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {m['tol1']['f1']:.3f} | "
                f"{s['f1'] - ridge:+.3f} |\n"
            )

        out.append(row("Sato ridge", b["ridge"]))
        if "zero_shot" in b:
            out.append(row("zero-shot: simulator-only model (suite c reference)", b["zero_shot"]["scores"]))
        out.append(row("default model, no fine-tuning (its mix has Lai train tiles)", b["default"]["scores"]))
        if "fine_tuned" in b:
            ft = b["fine_tuned"]
            for r in ft["runs"]:
                out.append(row(f"default fine-tuned on Lai train, seed {r['seed']}", r["scores"]))
            out.append(row(f"default fine-tuned, mean of {len(ft['runs'])} seeds", ft["mean"]))
    return "".join(out)
