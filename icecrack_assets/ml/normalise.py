"""Input normalisation: linear sigma0 to dB, then to the network's input range.

Two kinds, recorded in every bundle:

- ``db`` (older bundles): dB clipped to a fixed range and scaled to [-1, 1]. A pixel's input is
  the same whichever tile it is read from, but a calibration offset shifts every input.
- ``robust-db`` (the default model): dB minus the *scene's* median, divided by the scene's
  robust spread (1.4826 x MAD, floored), clipped and scaled. A calibration offset, an unknown dB
  gain (8-bit or dB-rescaled products converted back to linear) and the absolute level of a
  region cancel out. The statistics are taken once per scene (``scene_stats``) and passed to every
  tile, so tiled and windowed predictions still agree pixel for pixel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_NORMALISATION: dict[str, Any] = {"kind": "db", "db_min": -30.0, "db_max": 5.0, "fill": 0.0}
ROBUST_NORMALISATION: dict[str, Any] = {"kind": "robust-db", "clip": 6.0, "min_spread_db": 1.0, "fill": 0.0}
STATS_SAMPLE = 1 << 20  # pixels used for the scene statistics (a regular subsample beyond this)


def to_db(intensity: np.ndarray) -> np.ndarray:
    """10 log10 of positive finite values, NaN elsewhere (float32)."""
    x = np.asarray(intensity, dtype=np.float32)
    ok = np.isfinite(x) & (x > 0)
    db = np.full(x.shape, np.nan, dtype=np.float32)
    np.log10(x, out=db, where=ok)
    db[ok] *= 10.0
    return db


def scene_stats(intensity: np.ndarray, norm: dict[str, Any] | None = None) -> dict[str, float]:
    """``{"median_db", "spread_db"}`` of a scene (robust: median and 1.4826 x MAD of its dB values)."""
    n = {**ROBUST_NORMALISATION, **(norm or {})}
    x = np.asarray(intensity)
    step = max(1, int(np.sqrt(x.size / STATS_SAMPLE)))
    sub = x[..., ::step, ::step] if x.ndim >= 2 else x
    db = to_db(sub)
    db = db[np.isfinite(db)]
    if db.size == 0:
        return {"median_db": 0.0, "spread_db": float(n["min_spread_db"])}
    med = float(np.median(db))
    mad = float(np.median(np.abs(db - med))) * 1.4826
    return {"median_db": med, "spread_db": max(mad, float(n["min_spread_db"]))}


def normalise(
    intensity: np.ndarray, norm: dict[str, Any] | None = None, stats: dict[str, float] | None = None
) -> np.ndarray:
    """Map linear intensity (NaN = nodata) to float32 in [-1, 1]; nodata and non-positive get ``fill``.

    For ``robust-db``, ``stats`` are the scene's (``scene_stats``); without them the statistics of
    ``intensity`` itself are used (per patch along the first axis when it is a batch [B, 1, h, w]),
    unless ``norm`` carries them (``median_db``, ``spread_db``: a bundle bound to one scene).
    """
    norm = norm or DEFAULT_NORMALISATION
    if norm.get("kind", "db") == "robust-db":
        return _robust(intensity, {**ROBUST_NORMALISATION, **norm}, stats)
    n = {**DEFAULT_NORMALISATION, **norm}
    x = np.asarray(intensity, dtype=np.float32)
    ok = np.isfinite(x) & (x > 0)
    db = np.full(x.shape, n["db_min"], dtype=np.float32)
    np.log10(x, out=db, where=ok)
    db = np.where(ok, 10.0 * db, n["db_min"])
    lo, hi = float(n["db_min"]), float(n["db_max"])
    out = (np.clip(db, lo, hi) - lo) / (hi - lo) * 2.0 - 1.0
    out[~np.isfinite(x)] = n["fill"]
    return out.astype(np.float32, copy=False)


def patch_stats(patches: np.ndarray, norm: dict[str, Any] | None) -> list[dict[str, float]] | None:
    """Each patch's own statistics for ``robust-db`` (None for other kinds), taken once per run.

    Training normalises every batch; taking each patch's median and spread once, before any
    augmentation (a flip does not change them, a residual-speckle re-draw barely does), spares
    two partial sorts per patch and step.
    """
    n = norm or DEFAULT_NORMALISATION
    if n.get("kind", "db") != "robust-db" or ("median_db" in n and "spread_db" in n):
        return None
    n = {**ROBUST_NORMALISATION, **n}
    return [scene_stats(p, n) for p in patches]


def normalise_patches(
    patches: np.ndarray, norm: dict[str, Any] | None, stats: list[dict[str, float]] | None
) -> np.ndarray:
    """``normalise`` of a batch [B, 1, h, w] with each patch's ``patch_stats`` (None: as normalise)."""
    if stats is None:
        return normalise(patches, norm)
    n = {**ROBUST_NORMALISATION, **(norm or {})}
    return np.stack([_robust(p, n, s) for p, s in zip(patches, stats, strict=True)])


def _robust(intensity: np.ndarray, n: dict[str, Any], stats: dict[str, float] | None) -> np.ndarray:
    x = np.asarray(intensity, dtype=np.float32)
    if stats is None and "median_db" in n and "spread_db" in n:
        stats = {"median_db": n["median_db"], "spread_db": n["spread_db"]}
    if stats is None and x.ndim == 4:
        return np.stack([_robust(xi, n, scene_stats(xi, n)) for xi in x])
    s = stats or scene_stats(x, n)
    db = to_db(x)
    clip = float(n["clip"])
    z = (db - float(s["median_db"])) / (float(s["spread_db"]) * clip)
    low = np.isfinite(x) & ~np.isfinite(db)  # zero or negative: the darkest possible input
    z = np.where(low, -1.0, np.clip(z, -1.0, 1.0))
    z[~np.isfinite(x)] = n["fill"]
    return z.astype(np.float32, copy=False)
