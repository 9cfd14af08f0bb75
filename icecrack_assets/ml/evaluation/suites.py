"""The evaluation: held-out simulated scenes (suite a) and speckled Lai (suite b), with baselines.

Every table reports crack-class precision, recall, F1 and IoU, strict and with a 1-pixel tolerance,
next to overall accuracy, pooled over pixels. Baselines in the same tables: the method's published
figures, a Sato ridge filter with a threshold tuned on validation, and the despeckling ablation
(PPB, Lee, none) of the model's F1. ``quick=True`` shrinks every size for CI.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.bundle import Bundle, int8_inference_active, load_bundle
from icecrack_assets.ml.calibrate import calibrate_bundle
from icecrack_assets.ml.evaluation.common import (
    LAI_PATCH,
    LAI_PER_TILE,
    LAI_POS_WEIGHT,
    LAI_TRAIN_REALISATIONS,
    apply_despeckle,
    despeckle_settings,
    mean_scores,
    pool_scores,
    ridge_scores,
    score_pair,
)
from icecrack_assets.ml.evaluation.ridge import ridge_response, tune_ridge
from icecrack_assets.ml.inference import predict_probability
from icecrack_assets.ml.method import METHOD
from icecrack_assets.ml.postprocess import crack_mask
from icecrack_assets.ml.samples import SceneForSamples, build_samples
from icecrack_assets.ml.train import TrainConfig, train_bundle
from icecrack_assets.raster import atomic_path

TARGETS_SIM = {"precision": 0.90, "recall": 0.92, "oa": 0.98}  # with 1-px tolerance
LAI_MARGIN = 0.15
LAI_EPOCHS = 20  # at most; 30 were no better (seed 0: 0.502 vs 0.468, within the seed spread)
TRAIN_SEEDS = range(0, 1000)  # simulator seeds reserved for training; held-out ones start at 10_000
HELDOUT_SEED0, RIDGE_VAL_SEED0 = 10_000, 20_000


@dataclass
class EvalConfig:
    work_dir: Path
    quick: bool = False
    seed: int = 0
    suites: tuple[str, ...] = ("a", "b")
    ablation: tuple[str, ...] = ("ppb", "lee", "none")
    despeckle_filter: str = "ppb"
    lai_root: Path | None = None
    lai_looks: float = 4.4
    lai_seeds: int | None = None  # suite b trains this many models (seeds seed, seed+1, ...) and reports
    # their mean; None = 3, or 1 when quick
    regions: tuple[str, ...] | None = None
    years: tuple[int, ...] = (2019, 2020)
    train: TrainConfig = field(default_factory=TrainConfig)
    # suites c, d and b (default model) live in generalisation.py; None = not configured
    generalisation: object | None = None  # a GeneralisationConfig
    default_model: Path | None = None


# ----------------------------------------------------------------------------------- helpers
def _f1_point(bundle: Bundle) -> tuple[float, int] | None:
    """The F1-optimal (threshold, min component) stored beside the bundle's operating point, if any."""
    p = bundle.metrics.get("operating_points", {}).get("f1")
    if not p or bundle.metrics.get("operating_point", "f1") == "f1":
        return None
    return float(p["threshold"]), int(p["min_component"])


def _model_scores(
    bundle: Bundle, images: list[np.ndarray], truths: list[np.ndarray], extra: tuple[float, int] | None = None
) -> list[dict]:
    """Scores at the bundle's operating point; with ``extra`` also at that (threshold, size) as "alt"."""
    out = []
    for img, truth in zip(images, truths):
        prob = predict_probability(bundle, img)
        pred = crack_mask(prob, bundle.threshold, bundle.min_component).astype(np.uint8)
        item = score_pair(pred, truth)
        if extra is not None:
            item["alt"] = score_pair(crack_mask(prob, *extra).astype(np.uint8), truth)
        out.append(item)
    return out


# ----------------------------------------------------------------------------------- suite a
def _simulate(
    region: str,
    year: int,
    seed: int,
    shape,
    looks_factor: float = 1.0,
    width: tuple[float, float] | None = None,
):
    from icecrack_assets.regions import get_region
    from icecrack_assets.simulator.scenes import simulate_scene

    r = get_region(region)
    month = 1 if r.hemisphere == "south" else 7
    kwargs = {"shape": shape, "looks": r.looks * looks_factor}
    if width is not None:
        kwargs["crevasse_width"] = width
    return simulate_scene(r, dt.datetime(year, month, 15, tzinfo=dt.timezone.utc), seed, **kwargs)


def _sim_sizes(cfg: EvalConfig) -> dict:
    if cfg.quick:
        return {
            "shape": (320, 320),
            "train_seeds": 2,
            "test_seeds": 1,
            "patch": 96,
            "block": 160,
            "buffer": 32,
            "per_scene": 24,
        }
    return {
        "shape": (1024, 1024),
        "heldout_shape": (768, 768),
        "train_seeds": 2,
        "test_seeds": 1,
        "patch": 96,
        "block": 384,
        "buffer": 32,
        "per_scene": 64,
    }


def _regions(cfg: EvalConfig) -> tuple[str, ...]:
    from icecrack_assets.regions import REGIONS

    if cfg.regions:
        return cfg.regions
    return ("jakobshavn", "thwaites") if cfg.quick else tuple(REGIONS)


def train_on_simulated(cfg: EvalConfig, filter_name: str, out_models: Path, log: Callable[[str], None]):
    """Simulate training scenes (seeds < 1000), despeckle, sample, train: the default self-contained run."""
    from icecrack_assets.regions import get_region

    sz = _sim_sizes(cfg)
    scenes = []
    for region in _regions(cfg):
        looks = get_region(region).looks
        settings = despeckle_settings(filter_name, looks)
        for year in cfg.years:
            for k in range(sz["train_seeds"]):
                seed = cfg.seed * 100 + k * 10 + cfg.years.index(year)
                assert seed in TRAIN_SEEDS
                sc = _simulate(region, year, seed, sz["shape"])
                img = apply_despeckle(sc.intensity, settings)
                scenes.append(
                    SceneForSamples(sc.scene_id, region, year, None, sc.truth, "simulator", image=img)
                )
    log(f"suite a: {len(scenes)} simulated training scenes, despeckling {filter_name}")
    sample_dir = cfg.work_dir / f"samples-sim-{filter_name}"
    build_samples(
        scenes,
        sample_dir,
        patch=sz["patch"],
        seed=cfg.seed,
        max_per_scene=sz["per_scene"],
        block_size=sz["block"],
        buffer=sz["buffer"],
    )
    lineage = {
        "source": "simulator",
        "train_seeds": sorted({s.scene_id for s in scenes}),
        "despeckle_filter": filter_name,
    }
    res = train_bundle(
        [sample_dir], out_models, cfg.train, despeckle_settings(filter_name, None), lineage, log
    )
    return res


def _heldout(cfg: EvalConfig, variant: str, filter_settings: Callable[[float], dict], seed0: int):
    """Held-out scenes of one variant: list of (region, year, despeckled, truth)."""
    from icecrack_assets.regions import get_region

    sz = _sim_sizes(cfg)
    look_factor = {"looks x0.5": 0.5, "looks x2": 2.0}.get(variant, 1.0)
    width = {"narrow 0.5-1 px": (0.5, 1.0), "wide 3-5 px": (3.0, 5.0)}.get(variant)
    out = []
    for i, region in enumerate(_regions(cfg)):
        for j, year in enumerate(cfg.years):
            for k in range(sz["test_seeds"]):
                seed = seed0 + 100 * i + 10 * j + k
                sc = _simulate(region, year, seed, sz.get("heldout_shape", sz["shape"]), look_factor, width)
                settings = filter_settings(get_region(region).looks * look_factor)
                out.append((region, year, apply_despeckle(sc.intensity, settings), sc.truth))
    return out


def _bundle_settings(bundle: Bundle) -> Callable[[float], dict]:
    """The bundle's despeckling with the number of looks of the scene at hand."""

    def make(looks: float) -> dict:
        d = dict(bundle.despeckle)
        if "looks" in d:
            d["looks"] = looks
        return d

    return make


def suite_a(cfg: EvalConfig, bundle: Bundle, log: Callable[[str], None]) -> dict:
    variants = ["nominal", "looks x0.5", "looks x2", "narrow 0.5-1 px", "wide 3-5 px"]
    if cfg.quick:
        variants = ["nominal", "looks x0.5", "wide 3-5 px"]
    settings = _bundle_settings(bundle)
    result: dict = {"variants": {}, "per_region_year": {}}
    nominal = None
    for v in variants:
        t0 = time.time()
        scenes = _heldout(cfg, v, settings, HELDOUT_SEED0)
        f1_point = _f1_point(bundle) if v == "nominal" else None
        scores = _model_scores(bundle, [s[2] for s in scenes], [s[3] for s in scenes], f1_point)
        result["variants"][v] = pool_scores(scores)
        if f1_point is not None:
            result["f1_optimal"] = {
                "threshold": f1_point[0],
                "min_component": f1_point[1],
                **pool_scores([sc["alt"] for sc in scores]),
            }
        log(f"suite a [{v}]: F1 tol1 {result['variants'][v]['tol1']['f1']:.3f} ({time.time() - t0:.0f} s)")
        if v == "nominal":
            nominal = (scenes, scores)
    scenes, scores = nominal
    groups: dict[str, list] = {}
    for (region, year, *_), sc in zip(scenes, scores):
        groups.setdefault(f"{region} {year}", []).append(sc)
    result["per_region_year"] = {k: pool_scores(v) for k, v in sorted(groups.items())}
    # ridge baseline, threshold tuned on separate validation scenes
    val = _heldout(replace(cfg, years=cfg.years[:1]), "nominal", settings, RIDGE_VAL_SEED0)
    thr, _ = tune_ridge([ridge_response(s[2]) for s in val], [s[3] for s in val], 0)
    result["ridge"] = pool_scores(ridge_scores(thr, [s[2] for s in scenes], [s[3] for s in scenes]))
    result["ridge_threshold"] = thr
    log(f"suite a [ridge]: F1 tol1 {result['ridge']['tol1']['f1']:.3f}")
    return result


# ----------------------------------------------------------------------------------- suite b
def suite_b(cfg: EvalConfig, filter_name: str, out_models: Path, log: Callable[[str], None]) -> dict:
    """Train on speckled Lai train tiles (threshold on its valid tiles), score on its test tiles."""
    from icecrack_assets.ml.evaluation import lai

    if cfg.lai_root is None:
        raise IceCrackError("suite b needs the Lai et al. 2020 folder (--lai PATH)")
    crop = 384 if cfg.quick else None
    settings = despeckle_settings(filter_name, cfg.lai_looks)

    def load(split: str, draws: int = 1):
        """``(scene id, despeckled image, truth, tile)`` per tile and speckle draw."""
        tiles = lai.lai_tiles(cfg.lai_root, split)
        if cfg.quick:
            tiles = tiles[: {"train": 8, "val": 3, "test": 3}[split]]
        out = []
        for t in tiles:
            clean, truth = lai.load_tile(t, crop)
            for r in range(draws):
                noisy = lai.speckle(clean, cfg.lai_looks, lai.tile_seed(t, cfg.seed + 1000 * r))
                out.append(
                    (
                        f"lai:{t.split}/{t.name}" + (f"#draw{r}" if r else ""),
                        apply_despeckle(noisy, settings),
                        truth,
                        t,
                    )
                )
        return out

    t0 = time.time()
    draws = 2 if cfg.quick else LAI_TRAIN_REALISATIONS
    train, val, test = load("train", draws), load("val"), load("test")
    log(
        f"suite b: {len(train)}/{len(val)}/{len(test)} speckled Lai tiles despeckled ({filter_name}; "
        f"{draws} speckle draws of each train tile) in {time.time() - t0:.0f} s"
    )
    # 192-px patches: a model trained on 96-px Lai patches scored val F1 0.43 when predicting 96-px
    # tiles but 0.16 on the 512-px tiles inference uses (MOA's large-scale shading is out of
    # distribution for it); at 192 px val F1 is the same (0.39-0.41) for 96, 192 and 512-px tiles
    patch = 96 if cfg.quick else LAI_PATCH
    dirs = []
    for name, items, split in (("train", train, "train"), ("val", val, "val")):
        d = cfg.work_dir / f"samples-lai-{filter_name}-{name}"
        scenes = [
            SceneForSamples(sid, "lai2020", 2009, None, y, f"annotation:{t.mask_path}", image=x)
            for sid, x, y, t in items
        ]
        # Lai comes split already: one block per tile (no buffer needed), so the whole tile is
        # candidate area; 250-px blocks with a buffer left ~5 patches per (partly nodata) tile
        block = max(max(x.shape) for _, x, _, _ in items)
        build_samples(
            scenes,
            d,
            patch=patch,
            seed=cfg.seed,
            max_per_scene=16 if cfg.quick else LAI_PER_TILE,
            block_size=max(block, patch),
            buffer=0,
            force_split=split,
        )
        dirs.append(d)
    lineage = {
        "source": "lai2020-speckled",
        "looks": cfg.lai_looks,
        "despeckle_filter": filter_name,
        "lai_root": str(cfg.lai_root),
    }
    thr, _ = tune_ridge([ridge_response(x) for _, x, _, _ in val], [y for _, _, y, _ in val], 0)
    ridge = pool_scores(ridge_scores(thr, [x for _, x, _, _ in test], [y for _, _, y, _ in test]))
    # Lai's train split has ~6 tiles with much ice: one training run's test F1 depends on its seed
    # by +-0.03 (measured 0.468 and 0.512 for seeds 0 and 1), so one run is a lottery ticket; the
    # mean over seeds is the figure a user training their own model can expect
    runs = []
    n_seeds = cfg.lai_seeds or (1 if cfg.quick else 3)
    for i in range(n_seeds):
        # an F1 comparison: the model's threshold is chosen for F1 on valid, like the ridge's
        train_cfg = replace(
            cfg.train,
            operating_point="f1",
            pos_weight=LAI_POS_WEIGHT,
            seed=cfg.train.seed + i,
            epochs=min(cfg.train.epochs, LAI_EPOCHS),
        )
        res = train_bundle(dirs, out_models, train_cfg, settings, lineage, log)
        bundle = load_bundle(res.bundle_dir)
        # the ridge's threshold is tuned on the whole validation tiles; the model's too, not on
        # validation patches predicted one by one (see ml/calibrate.py)
        cal = calibrate_bundle(
            bundle,
            [x for _, x, _, _ in val],
            [y for _, _, y, _ in val],
            "lai2020 valid split, whole tiles",
            tolerance=0,
            operating_point="f1",
        )
        log(
            f"suite b [seed {train_cfg.seed}]: threshold {cal['previous']['threshold']:.2f} -> {cal['threshold']:.2f}, "
            f"min component {cal['min_component']} px on whole validation tiles (val F1 {cal['val']['f1']:.3f})"
        )
        scores = pool_scores(_model_scores(bundle, [x for _, x, _, _ in test], [y for _, _, y, _ in test]))
        runs.append(
            {
                "seed": train_cfg.seed,
                "scores": scores,
                "bundle": str(res.bundle_dir),
                "threshold": bundle.threshold,
                "min_component": bundle.min_component,
                "patch_threshold": res.threshold,
                "epochs": res.epochs_run,
                "train_seconds": res.seconds,
            }
        )
        log(
            f"suite b [seed {train_cfg.seed}]: model F1 {scores['strict']['f1']:.3f} vs ridge {ridge['strict']['f1']:.3f}"
        )
    out = {
        "model": mean_scores([r["scores"] for r in runs]),
        "runs": runs,
        "train_draws": draws,
        "ridge": ridge,
        "ridge_threshold": thr,
        "bundle": runs[0]["bundle"],
        "threshold": runs[0]["threshold"],
        "train_seconds": sum(r["train_seconds"] for r in runs),
    }
    log(
        f"suite b: mean model F1 {out['model']['strict']['f1']:.3f} over {len(runs)} seeds vs ridge "
        f"{ridge['strict']['f1']:.3f}"
    )
    return out


# ----------------------------------------------------------------------------------- report
HEAD = (
    "| {first} | P | R | F1 | IoU | OA | P±1 | R±1 | F1±1 | IoU±1 | OA±1 |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def _row(name: str, m: dict) -> str:
    s, t = m["strict"], m["tol1"]
    f = "{:.3f}".format
    return (
        f"| {name} | {f(s['precision'])} | {f(s['recall'])} | {f(s['f1'])} | {f(s['iou'])} | {f(s['oa'])} "
        f"| {f(t['precision'])} | {f(t['recall'])} | {f(t['f1'])} | {f(t['iou'])} | {f(t['oa'])} |\n"
    )


def _method_row() -> str:
    m = METHOD
    return (
        f"| AIR-CAS method (published; definitions inferred) | {m['precision']:.3f} | {m['recall']:.3f} | "
        f"{m['f1']:.3f} | – | {m['oa']:.3f} | – | – | – | – | – |\n"
    )


def render_markdown(res: dict) -> str:
    out = [
        f"# IceCrack evaluation\n\nGenerated {res['generated']} ({'quick' if res['quick'] else 'full'} run, "
        f"seed {res['seed']}). Scores pooled over pixels; ±1 = with 1-pixel tolerance.\n"
    ]
    if "a" in res:
        a = res["a"]
        out.append(
            f"\n## Suite a: held-out simulated scenes\n\nModel bundle: `{a['bundle']}` "
            f"(threshold {a['threshold']:.2f}, minimum crack component {a.get('min_component', 0)} px, "
            f"chosen on validation at the {a.get('operating_point', 'f1')} operating point). "
            "Held-out scenes use seeds and parameters never seen in training.\n\n"
            + HEAD.format(first="variant")
        )
        out.append(_method_row())
        for v, m in a["variants"].items():
            out.append(_row(f"U-Net, {v}", m))
        if "f1_optimal" in a:
            f1o = a["f1_optimal"]
            out.append(_row(f"U-Net, nominal, F1-optimal threshold {f1o['threshold']:.2f} instead", f1o))
        out.append(_row("Sato ridge (threshold tuned on validation), nominal", a["ridge"]))
        out.append("\n### Per region and year (nominal)\n\n" + HEAD.format(first="region year"))
        for k, m in a["per_region_year"].items():
            out.append(_row(k, m))
        tol = a["variants"]["nominal"]["tol1"]
        checks = [
            f"{k} ≥ {v}: {'met' if tol[k] >= v else 'NOT met'} ({tol[k]:.3f})" for k, v in TARGETS_SIM.items()
        ]
        beats = all(
            a["variants"]["nominal"]["strict"][k] > METHOD[k] for k in ("precision", "recall", "f1", "oa")
        )
        out.append(
            "\nTargets (nominal, ±1 px): "
            + "; ".join(checks)
            + f". Beats the method's published P/R/F1/OA strictly: {'yes' if beats else 'no'}.\n"
        )
    if "ablation" in res:
        n = res.get("train_epochs")
        epochs = f", each model trained at most {n} epochs, same early stopping" if n else ""
        out.append(
            f"\n### Despeckling ablation (suite a, nominal held-out scenes{epochs})\n\n"
            + HEAD.format(first="despeckling")
        )
        for k, m in res["ablation"].items():
            out.append(_row(k, m))
    if "b" in res:
        b = res["b"]
        out.append(
            f"\n## Suite b (from scratch): speckled Lai et al. 2020 (test split)\n\nSpeckle looks {b['looks']}, "
            f"despeckling {b['filter']}; trained on its train split"
            + (f" (each tile speckled {b['train_draws']} times)" if b.get("train_draws", 1) > 1 else "")
            + ", threshold (and minimum crack component) for best strict F1 on its whole valid tiles, "
            "as the ridge's.\n\n" + HEAD.format(first="method")
        )
        runs = b.get("runs", [])
        for r in runs if len(runs) > 1 else []:
            out.append(_row(f"U-Net, training seed {r['seed']}", r["scores"]))
        out.append(
            _row(f"U-Net, mean of {len(runs)} training seeds" if len(runs) > 1 else "U-Net", b["model"])
        )
        out.append(_row("Sato ridge (threshold tuned on valid)", b["ridge"]))
        gain = b["model"]["strict"]["f1"] - b["ridge"]["strict"]["f1"]
        gain1 = b["model"]["tol1"]["f1"] - b["ridge"]["tol1"]["f1"]
        out.append(
            f"\nU-Net{' mean' if len(runs) > 1 else ''} F1 minus ridge F1: {gain:+.3f} strict, {gain1:+.3f} with 1-px tolerance "
            f"(target ≥ +{LAI_MARGIN}): {'met' if min(gain, gain1) >= LAI_MARGIN else 'NOT met'}.\n"
        )
    from icecrack_assets.ml.evaluation.generalisation import render_generalisation

    out.append(render_generalisation(res))
    load = res.get("load_average")
    out.append(
        f"\nTotal time {res['seconds']:.0f} s"
        + (
            f"; 1-min load average at start/end {load[0]:.1f}/{load[1]:.1f} on "
            f"{res.get('cpus', '?')} CPUs, torch threads {res.get('threads', '?')}"
            if load
            else ""
        )
        + ".\n"
    )
    if res.get("int8"):
        out.append(
            "\n**Int8 inference**: every model above was run as `icecrack predict --int8` runs it "
            "(8-bit integers on CPU); the models were trained and chosen in float.\n"
        )
    return "".join(out)


def run_evaluation(
    cfg: EvalConfig, out_md: Path, bundle_path: Path | None = None, log: Callable[[str], None] = print
) -> dict:
    """Run the selected suites, write the markdown report (and a JSON twin) atomically, return the results."""
    t0 = time.time()
    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    models = cfg.work_dir / "models"
    import os

    import torch

    load0 = os.getloadavg()[0]
    res: dict = {
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": cfg.quick,
        "seed": cfg.seed,
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
    }
    if "a" in cfg.suites:
        ablation_cfg = cfg
        if bundle_path is None:
            main = train_on_simulated(cfg, cfg.despeckle_filter, models, log)
            bundle_path = main.bundle_dir
            # a fair ablation: the same number of epochs as the evaluated model, never cut by the clock
            ablation_cfg = replace(
                cfg,
                train=replace(
                    cfg.train, epochs=main.epochs_run, max_minutes=max(60.0, 4 * cfg.train.max_minutes)
                ),
            )
            res["train_epochs"] = main.epochs_run
        bundle = load_bundle(bundle_path)
        a = suite_a(cfg, bundle, log)
        a.update(
            bundle=str(bundle_path),
            threshold=bundle.threshold,
            min_component=bundle.min_component,
            operating_point=bundle.metrics.get("operating_point", "f1"),
        )
        res["a"] = a
        if cfg.ablation:
            res["ablation"] = {}
            main_filter = bundle.despeckle.get("filter", "none")
            for f in cfg.ablation:
                if f == main_filter:
                    res["ablation"][f"{f} (evaluated model)"] = a["variants"]["nominal"]
                    continue
                b = load_bundle(train_on_simulated(ablation_cfg, f, models, log).bundle_dir)
                scenes = _heldout(cfg, "nominal", _bundle_settings(b), HELDOUT_SEED0)
                res["ablation"][f] = pool_scores(
                    _model_scores(b, [s[2] for s in scenes], [s[3] for s in scenes])
                )
                log(f"ablation [{f}]: F1 {res['ablation'][f]['strict']['f1']:.3f}")
    if (
        any(x in cfg.suites for x in ("b", "c", "d", "e", "groups", "radiometry"))
        and cfg.generalisation is not None
    ):
        from icecrack_assets.ml.evaluation.generalisation import run_generalisation

        res.update(run_generalisation(cfg.generalisation, cfg.suites, cfg.default_model, cfg.ablation, log))
    if "b-scratch" in cfg.suites:
        b = suite_b(cfg, cfg.despeckle_filter, models, log)
        b.update(looks=cfg.lai_looks, filter=cfg.despeckle_filter)
        res["b"] = b
    res["seconds"] = time.time() - t0
    res["load_average"] = [load0, os.getloadavg()[0]]
    res["int8"] = int8_inference_active()
    md = render_markdown(res)
    out_md = Path(out_md)
    with atomic_path(out_md) as tmp:
        tmp.write_text(md)
    with atomic_path(out_md.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(res, indent=2, default=str))
    return res
