"""How a model finds cracks of each radiometry (wall + shadow either way, bright only, dark only).

Scenes are the randomised simulator's, with the geometry, contrast, width, spacing and looks held
to one band and only the crack radiometry forced, so a gap between radiometries is the model's,
not the scenes'. Dark-only cracks (an opening darker than the ice, no lit wall) were found at
half the recall of wall + shadow cracks (docs/model.md, "Dark-only cracks"); this check keeps
that weakness measured by a command. Scores: P / R ±1 px at the bundle's own operating point,
and the best F1 ±1 over thresholds (0.05 .. 0.95), which does not depend on that point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from icecrack_assets.ml.bundle import load_bundle
from icecrack_assets.ml.inference import predict_probability
from icecrack_assets.ml.metrics import TruthMasks, counts_by_level, metrics_from_counts, pool_counts
from icecrack_assets.ml.postprocess import crack_mask

RADIOMETRY_SEED0 = 70_000  # never drawn in training (seeds there are per worker from 0)
FAMILIES = ("transverse", "chevron", "longitudinal")
CONTRAST_DB = (3.0, 6.0)
WIDTH_PX = (1.0, 3.0)
LOOKS = (4.4, 10.7)  # the method's IW and EW products
PIXEL_M = 20.0
LEVELS = tuple(round(0.05 * k, 2) for k in range(1, 20))


def radiometry_scenes(radiometry: str, n: int, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` scenes (sigma0, truth) whose cracks all have ``radiometry``; everything else is drawn
    as the simulator draws it except contrast, width, snow bridges, spacing, looks and pixel size."""
    from icecrack_assets.simulator import randomised

    onehot = tuple(1.0 if r == radiometry else 0.0 for r in randomised.RADIOMETRY)
    out = []
    for i in range(n):
        rng = np.random.default_rng([RADIOMETRY_SEED0, i])
        style = randomised.sample_style(rng, families=FAMILIES, radiometry_p=onehot)
        cracks = tuple(
            replace(c, contrast_db=CONTRAST_DB, width_px=WIDTH_PX, bridged_fraction=0.0) for c in style.cracks
        )
        sensor = replace(style.sensor, pixel_size=PIXEL_M, looks=LOOKS[i % len(LOOKS)], composite=1)
        sc = randomised.render_scene(
            replace(style, cracks=cracks, sensor=sensor), (size, size), RADIOMETRY_SEED0 + i
        )
        out.append((sc.sigma0, sc.truth))
    return out


def radiometry_check(
    bundles: dict[str, Path], n: int = 6, size: int = 384, log: Callable[[str], None] = print
) -> dict:
    """Per bundle and radiometry: P / R ±1 at its operating point and the best F1 ±1 over thresholds."""
    from icecrack_assets.simulator.randomised import RADIOMETRY

    scenes = {r: radiometry_scenes(r, n, size) for r in RADIOMETRY}
    out: dict = {}
    for name, path in bundles.items():
        b = load_bundle(path, device="cpu")
        rows = {}
        for r, sc in scenes.items():
            at_point, by_level = [], []
            for x, y in sc:
                truth = TruthMasks.of(y, 1)  # dilated once for both scorings
                prob = predict_probability(b, x)
                pred = crack_mask(prob, b.threshold, b.min_component).astype(np.uint8)
                at_point += counts_by_level(pred, truth, [1])
                by_level.append(counts_by_level(np.nan_to_num(prob, nan=-np.inf), truth, LEVELS))
            best = max(
                (metrics_from_counts(pool_counts([c[k] for c in by_level]))["f1"], LEVELS[k])
                for k in range(len(LEVELS))
            )
            rows[r] = {
                "at_threshold": metrics_from_counts(pool_counts(at_point)),
                "best_f1": best[0],
                "best_at": best[1],
            }
        out[name] = {"radiometries": rows, "threshold": b.threshold, "bundle": str(path)}
        log(
            f"radiometry [{name}]: best F1 ±1 "
            + ", ".join(f"{r} {v['best_f1']:.2f}" for r, v in rows.items())
        )
    return out


def render_radiometry(res: dict) -> str:
    """Markdown table of :func:`radiometry_check`."""
    from icecrack_assets.simulator.randomised import RADIOMETRY

    out = [
        "\n## Crack radiometry (randomised simulator, only the radiometry forced)\n\n"
        f"{'/'.join(FAMILIES)} families, {CONTRAST_DB[0]:g}–{CONTRAST_DB[1]:g} dB, "
        f"{WIDTH_PX[0]:g}–{WIDTH_PX[1]:g} px, {PIXEL_M:g} m, {' and '.join(f'{v:g}' for v in LOOKS)} looks. "
        "P / R ±1 at each model's own threshold; best F1 ±1 over thresholds 0.05–0.95.\n\n"
        "| model (threshold) | "
        + " | ".join(f"{r}: P / R" for r in RADIOMETRY)
        + " | best F1: "
        + " / ".join(RADIOMETRY)
        + " |\n"
        + "|---" * (len(RADIOMETRY) + 2)
        + "|\n"
    ]
    for name, m in res.items():
        rows = m["radiometries"]
        cells = " | ".join(
            f"{rows[r]['at_threshold']['precision']:.2f} / {rows[r]['at_threshold']['recall']:.2f}"
            for r in RADIOMETRY
        )
        best = " / ".join(f"{rows[r]['best_f1']:.2f}" for r in RADIOMETRY)
        out.append(f"| {name} ({m['threshold']:.2f}) | {cells} | {best} |\n")
    return "".join(out)
