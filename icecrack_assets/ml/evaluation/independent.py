"""Suite e: crevasses drawn by a second generator that shares no code with the simulator.

Why: the model trains on the randomised simulator, so every suite drawn from it (a, c, groups,
radiometry) can flatter it with the simulator's own picture of a crevasse. Issue 13's first
finding came from an outside generator whose long, straight, high-contrast crevasses (a lit wall
with a radar shadow beside it) the demo's model missed. This module is such a generator, written
from a plain description of the physics and never imported by training (a test holds that), so
the model sees it first at scoring time.

A scene (40 m pixels, 4.4 or 10.7 looks, like IW and EW GRD products seen coarsely):
- ice: a dB level with broad undulation, a smooth texture and an incidence-angle ramp in range;
- crevasse fields: elliptical zones 0.5-2.5 dB brighter than the ice around them, crossed by
  sets of long, straight, parallel crevasses 4-24 px apart (never touching: at least 2 px of ice
  between neighbours), and a few isolated long crevasses.
  Most sets are a wall facing the radar (bright, far-range side) beside its shadow (dark,
  near-range side), 1-2.5 px each; a quarter are seen only dark (an open crevasse, no lit wall)
  and some only bright. 2.5-9 dB, weaker where the crevasse runs along the look direction,
  tapering at its tips;
- hard negatives, never labelled: a meandering supraglacial stream (dark, 1-2 px), a rock
  outcrop (bright, rough, its radar shadow behind it), icebergs (bright points) and sometimes an
  ice front with open water beyond it;
- speckle: independent gamma intensity noise of the scene's looks.

Truth is 1 where a wall or a shadow covers at least half the pixel, 0 elsewhere. Scenes are
written as GeoTIFFs (EPSG:3413, 40 m, a LOOKS tag) and predicted by ``predict_scene`` exactly as
``icecrack predict`` would. Scores: P / R / F1 ±1 px at each model's own operating point and the
best F1 ±1 over thresholds, per looks and pooled; recall ±1 per crevasse radiometry; the share
of stream pixels flagged; and the
Sato ridge beside them with its threshold tuned on validation scenes of this generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from icecrack_assets.ml.bundle import Bundle, load_bundle, read_bundle_json
from icecrack_assets.ml.metrics import TruthMasks, counts_by_level, metrics_from_counts, pool_counts

SEED0 = 90_000  # test scenes; never drawn by training (its seeds are small per-worker counters)
RIDGE_SEED0 = 91_000  # the ridge's validation scenes
PIXEL_M = 40.0
LOOKS = (4.4, 10.7)
# the same test scenes re-speckled at other looks: single-look, few-look and heavily multilooked
# products, outside the method's IW/EW pair; the scene content is fixed by the seed, only the
# speckle changes, so the sweep isolates what looks alone do to the model
SWEEP_LOOKS = (1.0, 2.0, 20.0)
LEVELS = tuple(round(0.05 * k, 2) for k in range(1, 20))
CRS = "EPSG:3413"


@dataclass(frozen=True)
class IndependentScene:
    """One scene: linear sigma0, crack truth (uint8 0/1), each crack pixel's radiometry, and the
    stream pixels (hard negatives)."""

    seed: int
    looks: float
    sigma0: np.ndarray
    truth: np.ndarray
    kind: np.ndarray  # per crack pixel, 1 + its radiometry's index in RADIOMETRY (0 = no crack)
    stream: np.ndarray


# ------------------------------------------------------------------------------------ drawing
def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise scaled to unit standard deviation."""
    n: np.ndarray = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return n / max(float(n.std()), 1e-9)


def _coverage(dist: np.ndarray, half_width: float) -> np.ndarray:
    """Share of a pixel covered by a band of ``2 * half_width`` px whose centre is ``dist`` away."""
    cov: np.ndarray = np.clip(half_width + 0.5 - np.abs(dist), 0.0, 1.0)
    return cov


def _crevasse(
    db: np.ndarray,
    truth: np.ndarray,
    p0: tuple[float, float],
    angle: float,
    length: float,
    width: float,
    wall_db: float,
    shadow_db: float,
) -> None:
    """Add one straight crevasse to ``db`` and mark it in ``truth``, in place.

    The radar looks along +x (columns), so a wall facing it lies on the far-range side and its
    shadow on the near-range side; with ``wall_db`` or ``shadow_db`` zero the other is drawn alone,
    centred on the trace (an open crevasse seen only dark, or only a bright lip)."""
    h, w = db.shape
    ux, uy = math.cos(angle), math.sin(angle)  # along the crevasse (x = column, y = row)
    nx, ny = -uy, ux  # its normal
    if nx < 0:  # the normal points to far range
        nx, ny = -nx, -ny
    # across a crevasse running along range the walls do not face the radar: weaker contrast
    facing = max(0.35, abs(nx))
    x0, y0 = p0
    x1, y1 = x0 + ux * length, y0 + uy * length
    pad = 2 * width + 3
    c0, c1 = int(max(0, min(x0, x1) - pad)), int(min(w, max(x0, x1) + pad + 1))
    r0, r1 = int(max(0, min(y0, y1) - pad)), int(min(h, max(y0, y1) + pad + 1))
    if c0 >= c1 or r0 >= r1:
        return
    yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float64)
    t = (xx - x0) * ux + (yy - y0) * uy
    s = (xx - x0) * nx + (yy - y0) * ny
    taper = np.clip(np.minimum(t, length - t) / 8.0, 0.0, 1.0)
    half = width / 2.0
    both = wall_db > 0 and shadow_db > 0
    wall = _coverage(s - half if both else s, half) * taper
    shadow = _coverage(s + half if both else s, half) * taper
    db[r0:r1, c0:c1] += facing * (wall_db * wall - shadow_db * shadow)
    truth[r0:r1, c0:c1] |= (np.maximum(wall, shadow) >= 0.5) & (taper >= 0.25)


RADIOMETRY = {"wall + shadow": 0.6, "dark only": 0.25, "bright only": 0.15}


def _radiometry(rng: np.random.Generator) -> tuple[float, float]:
    """(wall dB, shadow dB) of a crevasse set: lit wall + shadow mostly, some seen only dark or
    only bright, each 2-9 dB."""
    kind = rng.choice(list(RADIOMETRY), p=list(RADIOMETRY.values()))
    wall, shadow = rng.uniform(2.5, 9), rng.uniform(2.5, 8)
    return (0.0 if kind == "dark only" else wall), (0.0 if kind == "bright only" else shadow)


def _kind_code(wall_db: float, shadow_db: float) -> int:
    """1 + the index of the crevasse's radiometry in :data:`RADIOMETRY`."""
    return 1 if wall_db > 0 and shadow_db > 0 else (2 if wall_db == 0 else 3)


def _add_crevasse(
    db: np.ndarray,
    truth: np.ndarray,
    kind: np.ndarray,
    keep: np.ndarray,
    p0: tuple[float, float],
    angle: float,
    length: float,
    width: float,
    wall_db: float,
    shadow_db: float,
) -> None:
    """:func:`_crevasse` where ``keep`` holds (a field's inside, the ice), its pixels labelled
    with their radiometry in ``kind``."""
    tmp, line = np.zeros_like(db), np.zeros_like(truth)
    _crevasse(tmp, line, p0, angle, length, width, wall_db, shadow_db)
    db += tmp * keep
    truth |= line & keep
    kind[line & keep] = _kind_code(wall_db, shadow_db)


def _field(
    rng: np.random.Generator, db: np.ndarray, truth: np.ndarray, kind: np.ndarray, ice: np.ndarray
) -> None:
    """A crevasse field: a brighter ellipse crossed by parallel crevasses."""
    h, w = db.shape
    cy, cx = rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w
    a, b = rng.uniform(60, 200), rng.uniform(40, 140)  # semi-axes, px
    rot = rng.uniform(0, math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    u = ((xx - cx) * math.cos(rot) + (yy - cy) * math.sin(rot)) / a
    v = (-(xx - cx) * math.sin(rot) + (yy - cy) * math.cos(rot)) / b
    inside = np.clip((1.0 - np.hypot(u, v)) / 0.2, 0.0, 1.0)  # soft edge
    db += rng.uniform(0.5, 2.5) * inside * ice
    angle = rng.uniform(0, math.pi)
    spacing = rng.uniform(4, 24)
    ux, uy = math.cos(angle), math.sin(angle)
    nx, ny = -uy, ux
    reach = max(a, b)
    wall_db, shadow_db = _radiometry(rng)
    # neighbours never touch: a crevasse's footprint (wall + shadow, or its one band) leaves at
    # least 2 px of ice to the next, and in dense sets the trace drifts less than half a spacing
    widest = (spacing - 2.0) / (2 if wall_db > 0 and shadow_db > 0 else 1)
    keep = (inside > 0.3) & ice  # crevasses stop at the field's edge and at the ice front
    for off in np.arange(-reach, reach, spacing):
        if rng.random() < 0.15:  # a gap in the set
            continue
        along = rng.uniform(-reach, -0.2 * reach)
        length = rng.uniform(0.6, 1.8) * reach
        jitter = rng.normal(0, min(math.radians(2), math.atan(spacing / 4 / length)))
        lateral = min(1.0, spacing / 8)
        px = cx + nx * (off + rng.normal(0, lateral)) + ux * along
        py = cy + ny * (off + rng.normal(0, lateral)) + uy * along
        width = min(rng.uniform(1.0, 2.5), widest)
        wall, shadow = wall_db * rng.uniform(0.8, 1.2), shadow_db * rng.uniform(0.8, 1.2)
        _add_crevasse(db, truth, kind, keep, (px, py), angle + jitter, length, width, wall, shadow)


def _stream(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A meandering thin channel: a random walk with a slowly turning heading, as a float coverage."""
    h, w = shape
    n = int(rng.uniform(300, 800))
    heading = rng.uniform(0, 2 * math.pi) + np.cumsum(ndimage.gaussian_filter1d(rng.normal(0, 0.25, n), 6))
    y = rng.uniform(0.1, 0.9) * h + np.cumsum(np.sin(heading))
    x = rng.uniform(0.1, 0.9) * w + np.cumsum(np.cos(heading))
    path = np.zeros(shape, bool)
    ok = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    path[y[ok].astype(int), x[ok].astype(int)] = True
    if not path.any():
        return np.zeros(shape)
    dist = ndimage.distance_transform_edt(~path)
    return _coverage(dist, rng.uniform(0.5, 1.0))


def draw_scene(seed: int, size: int = 512, looks: float | None = None) -> IndependentScene:
    """One scene of this generator; the seed fixes everything, and its looks unless ``looks`` is given
    (then only the speckle differs: it is drawn last)."""
    rng = np.random.default_rng([seed, 7])
    shape = (size, size)
    looks = LOOKS[seed % len(LOOKS)] if looks is None else looks
    db = rng.uniform(-14, -6) + 0.8 * _smooth_noise(rng, shape, rng.uniform(20, 60))
    db += 0.4 * _smooth_noise(rng, shape, rng.uniform(2, 6))  # fine texture (firn, sastrugi)
    db += np.linspace(1.5, -1.5, size)[None, :] * rng.uniform(0.3, 1.0)  # incidence-angle ramp
    ice = np.ones(shape, bool)
    if rng.random() < 0.3:  # an ice front, open water beyond it
        yy, xx = np.mgrid[0:size, 0:size]
        edge = rng.uniform(0.7, 0.9) * size + 10 * _smooth_noise(rng, (1, size), 15)[0][None, :]
        ice = yy < edge if rng.random() < 0.5 else xx < edge.T
        db = np.where(ice, db, -21 + 1.5 * _smooth_noise(rng, shape, 3))
    truth = np.zeros(shape, bool)
    kind = np.zeros(shape, np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        _field(rng, db, truth, kind, ice)
    for _ in range(int(rng.integers(0, 4))):  # isolated long crevasses
        radiometry = _radiometry(rng)
        p0 = (rng.uniform(0, size), rng.uniform(0, size))
        angle, length, width = rng.uniform(0, 2 * math.pi), rng.uniform(150, 450), rng.uniform(1.0, 2.5)
        _add_crevasse(db, truth, kind, ice, p0, angle, length, width, *radiometry)
    stream = np.zeros(shape, bool)
    if rng.random() < 0.75:
        cov = _stream(rng, shape) * ice
        db -= rng.uniform(3, 6) * cov
        stream = (cov >= 0.5) & ~ndimage.binary_dilation(truth, iterations=2)
    if rng.random() < 0.5:  # a rock outcrop: bright, rough, its radar shadow on the far-range side
        yy, xx = np.mgrid[0:size, 0:size]
        cy, cx, rad = rng.uniform(0.1, 0.9) * size, rng.uniform(0.1, 0.9) * size, rng.uniform(30, 90)
        near = np.hypot(yy - cy, xx - cx) / rad
        blob = _smooth_noise(rng, shape, 8) > 3.0 * near - 1.5  # one ragged outcrop
        rough = rng.uniform(3, 8) + 2.0 * _smooth_noise(rng, shape, 1.5)
        shade = ndimage.shift(blob.astype(float), (0, 3), order=0) > blob  # behind it in range
        db = np.where(blob, db + rough, db) - 4.0 * shade
        truth &= ~blob
        kind[blob] = 0
    for _ in range(int(rng.poisson(3))):  # icebergs or point targets
        r, c = rng.integers(2, size - 2, 2)
        db[r - 1 : r + 2, c - 1 : c + 2] += rng.uniform(6, 12)
    sigma0 = 10 ** (db / 10) * rng.gamma(looks, 1.0 / looks, shape)
    return IndependentScene(
        seed, looks, sigma0.astype(np.float32), truth.astype(np.uint8), kind * truth, stream & ~truth
    )


# ------------------------------------------------------------------------------------ scoring
def write_scene(scene: IndependentScene, path: Path) -> Path:
    """The scene as a GeoTIFF a user would hand to ``icecrack predict`` (40 m, a LOOKS tag)."""
    from affine import Affine

    from icecrack_assets.raster import float_profile, write_raster_atomic

    transform = Affine(PIXEL_M, 0, -200_000.0, 0, -PIXEL_M, -2_100_000.0)
    profile = float_profile({"crs": CRS, "transform": transform})
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_raster_atomic(path, scene.sigma0, profile, tags={"LOOKS": str(scene.looks)})


def _predict(bundle: Bundle, src: Path, work: Path) -> tuple[np.ndarray, np.ndarray]:
    """(probability, mask) of ``predict_scene`` on one written scene, as ``icecrack predict`` makes them."""
    from icecrack_assets.ml.scaled import predict_scene
    from icecrack_assets.raster import read_single_band

    mask_path, prob_path = work / f"mask-{src.stem}.tif", work / f"prob-{src.stem}.tif"
    predict_scene(bundle, src, mask_path, prob_path)
    return read_single_band(prob_path)[0], read_single_band(mask_path)[0]


@dataclass
class Tally:
    """What one method's predictions on several scenes add up to (pooled over pixels)."""

    at_point: list[dict[str, int]] = field(default_factory=list)  # counts of the mask, per scene
    # per scene, counts per probability level (None: a method with no probability, the ridge)
    by_level: list[list[dict[str, int]] | None] = field(default_factory=list)
    looks: list[float] = field(default_factory=list)
    found: dict[str, list[int]] = field(default_factory=lambda: {r: [0, 0] for r in RADIOMETRY})
    stream: list[int] = field(default_factory=lambda: [0, 0])  # flagged, all

    def add(self, scene: IndependentScene, mask: np.ndarray, prob: np.ndarray | None = None) -> None:
        """Score one scene's crack mask (1 = crack) and, if given, its probability map."""
        tm = TruthMasks.of(scene.truth, 1)
        flagged = np.asarray(mask) == 1
        self.at_point += counts_by_level(flagged.view(np.uint8), tm, [1])
        self.by_level.append(
            None if prob is None else counts_by_level(np.nan_to_num(prob, nan=-np.inf), tm, LEVELS)
        )
        self.looks.append(scene.looks)
        near = ndimage.maximum_filter(flagged, size=3)  # a crack pixel within 1 px of a flagged one
        for code, r in enumerate(RADIOMETRY, start=1):
            self.found[r][0] += int(np.count_nonzero(near & (scene.kind == code)))
            self.found[r][1] += int(np.count_nonzero(scene.kind == code))
        self.stream[0] += int(np.count_nonzero(flagged & scene.stream))
        self.stream[1] += int(scene.stream.sum())

    def summary(self) -> dict[str, Any]:
        """Pooled and per-looks scores, recall per radiometry, stream pixels flagged."""

        def pooled(keep: list[bool]) -> dict[str, Any]:
            row: dict[str, Any] = {
                "at_threshold": metrics_from_counts(
                    pool_counts([c for c, k in zip(self.at_point, keep) if k])
                )
            }
            levels = [c for c, k in zip(self.by_level, keep) if k and c is not None]
            if levels and len(levels) == sum(keep):
                row["best_f1"], row["best_at"] = max(
                    (metrics_from_counts(pool_counts([c[i] for c in levels]))["f1"], LEVELS[i])
                    for i in range(len(LEVELS))
                )
            return row

        return {
            "pooled": pooled([True] * len(self.looks)),
            "by_looks": {str(lk): pooled([v == lk for v in self.looks]) for lk in LOOKS},
            "recall_by_radiometry": {r: (a / b if b else float("nan")) for r, (a, b) in self.found.items()},
            "streams_flagged": self.stream[0] / self.stream[1] if self.stream[1] else float("nan"),
        }


def independent_check(
    bundles: dict[str, Path],
    work: Path,
    n: int = 24,
    size: int = 512,
    ridge_scenes: int = 4,
    sweep_scenes: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Suite e: each bundle and the tuned Sato ridge on ``n`` scenes of this generator; with
    ``sweep_scenes``, the first that many again at each of ``SWEEP_LOOKS``."""
    scenes = [draw_scene(SEED0 + i, size) for i in range(n)]
    val = [draw_scene(RIDGE_SEED0 + i, size) for i in range(ridge_scenes)]
    out: dict[str, Any] = {"scenes": n, "size": size, "pixel_m": PIXEL_M, "looks": list(LOOKS)}
    out.update(models=_scored(bundles, scenes, work, log), ridge=_ridge(scenes, val), sweep={})
    log(f"suite e [Sato ridge]: F1 ±1 {out['ridge']['pooled']['at_threshold']['f1']:.3f}")
    for looks in SWEEP_LOOKS if sweep_scenes > 0 else ():
        scenes = [draw_scene(SEED0 + i, size, looks) for i in range(sweep_scenes)]
        # the ridge gets its own threshold at these looks, as it would from a user tuning it there
        val = [draw_scene(RIDGE_SEED0 + i, size, looks) for i in range(ridge_scenes)]
        models = _scored(bundles, scenes, work / f"looks-{looks:g}", lambda _: None)
        ridge = _ridge(scenes, val)
        out["sweep"][f"{looks:g}"] = {"scenes": sweep_scenes, "models": models, "ridge": ridge}
        f1 = {k: f"{m['pooled']['at_threshold']['f1']:.3f}" for k, m in models.items()}
        log(f"suite e at {looks:g} looks: F1 ±1 {f1}, ridge {ridge['pooled']['at_threshold']['f1']:.3f}")
    return out


def _scored(
    bundles: dict[str, Path],
    scenes: list[IndependentScene],
    work: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Each bundle's tally on ``scenes`` (written once, predicted as ``icecrack predict`` does)."""
    out: dict[str, Any] = {}
    files = [write_scene(s, work / "scenes" / f"scene-{s.seed}.tif") for s in scenes]
    for name, path in bundles.items():
        tally = Tally()
        bundle = load_bundle(path, device="cpu")
        for s, f in zip(scenes, files):
            prob, mask = _predict(bundle, f, work / "predictions" / name.replace(" ", "-"))
            tally.add(s, mask, prob)
        row = tally.summary()
        row.update(threshold=float(read_bundle_json(path).get("threshold", float("nan"))), bundle=str(path))
        out[name] = row
        p = row["pooled"]
        log(
            f"suite e [{name}]: P / R / F1 ±1 {p['at_threshold']['precision']:.3f} / "
            f"{p['at_threshold']['recall']:.3f} / {p['at_threshold']['f1']:.3f}, best F1 {p['best_f1']:.3f}"
        )
    return out


def _ridge(scenes: list[IndependentScene], val: list[IndependentScene]) -> dict[str, Any]:
    """The Sato ridge's tally on ``scenes`` with its threshold tuned for F1 ±1 on ``val``."""
    from icecrack_assets.ml.evaluation.ridge import ridge_response, tune_ridge

    thr, _ = tune_ridge([ridge_response(s.sigma0) for s in val], [s.truth for s in val], tolerance=1)
    ridge = Tally()
    for s in scenes:
        ridge.add(s, (np.nan_to_num(ridge_response(s.sigma0), nan=-np.inf) >= thr).astype(np.uint8))
    return {"threshold": float(thr), **ridge.summary()}


def render_independent(res: dict[str, Any]) -> str:
    """Markdown table of :func:`independent_check`."""
    looks = " and ".join(f"{v:g}" for v in res["looks"])
    out = [
        "\n## Suite e: a second, independent crevasse generator\n\n"
        f"{res['scenes']} scenes of {res['size']}², {res['pixel_m']:g} m, {looks} looks, drawn by code that "
        "shares nothing with the training simulator (`ml/evaluation/independent.py`): long straight "
        "crevasses (lit wall + shadow, or seen only dark or only bright) in brighter fields, streams, "
        "rock, icebergs, ice fronts. Each scene written as a GeoTIFF and predicted as `icecrack "
        "predict` does. P / R / F1 ±1 at each model's own threshold; best F1 ±1 over thresholds "
        "0.05–0.95; recall ±1 per radiometry; streams flagged: share of stream pixels flagged.\n\n"
        "| model (threshold) | P / R / F1 ±1 | best F1 ±1 | "
        + " | ".join(f"F1 ±1, {v:g} looks" for v in res["looks"])
        + " | recall: "
        + " / ".join(RADIOMETRY)
        + " | streams flagged |\n"
        + "|---" * (5 + len(res["looks"]))
        + "|\n"
    ]

    def row(label: str, m: dict[str, Any]) -> str:
        p = m["pooled"]["at_threshold"]
        best = f"{m['pooled']['best_f1']:.3f}" if "best_f1" in m["pooled"] else "–"
        cells = " | ".join(f"{m['by_looks'][str(v)]['at_threshold']['f1']:.3f}" for v in res["looks"])
        recall = " / ".join(f"{v:.2f}" for v in m["recall_by_radiometry"].values())
        return (
            f"| {label} | {p['precision']:.3f} / {p['recall']:.3f} / {p['f1']:.3f} | {best} | {cells} | "
            f"{recall} | {m['streams_flagged']:.3f} |\n"
        )

    out += [row(f"{name} ({m['threshold']:.2f})", m) for name, m in res["models"].items()]
    out.append(row("Sato ridge (threshold tuned on this generator's validation scenes)", res["ridge"]))
    if res.get("sweep"):
        out.append(_render_sweep(res["sweep"]))
    return "".join(out)


def _render_sweep(sweep: dict[str, Any]) -> str:
    """The looks sweep: F1 ±1 and recall per radiometry of each method at each number of looks."""
    levels = list(sweep)
    first = sweep[levels[0]]
    out = [
        "\n**At other looks.** The first test scenes again, re-speckled at "
        + ", ".join(levels)
        + f" looks ({first['scenes']} scenes each): only the speckle differs. F1 ±1 at each "
        "model's own threshold (recall ±1: " + " / ".join(RADIOMETRY) + "); the ridge re-tuned at "
        "each looks on validation scenes.\n\n| method | "
        + " | ".join(f"{v} look{'' if v == '1' else 's'}" for v in levels)
        + " |\n"
        + "|---" * (1 + len(levels))
        + "|\n"
    ]

    def cell(m: dict[str, Any]) -> str:
        recall = " / ".join(f"{v:.2f}" for v in m["recall_by_radiometry"].values())
        return f"{m['pooled']['at_threshold']['f1']:.3f} ({recall})"

    for name in first["models"]:
        out.append(f"| {name} | " + " | ".join(cell(sweep[v]["models"][name]) for v in levels) + " |\n")
    out.append("| Sato ridge | " + " | ".join(cell(sweep[v]["ridge"]) for v in levels) + " |\n")
    return "".join(out)
