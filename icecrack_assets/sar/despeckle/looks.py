"""Number of looks and PPB's similarity threshold h.

PPB thresholds the patch similarity at the alpha-quantile it takes under pure speckle. The
reference (``quantile_nakagami`` in ``ppb_nakagami.m``) simulates speckle with an unseeded
generator, so its h changes on every call; here h comes from a table (the values of the research
notes, 200 k patch pairs) or a *seeded* Monte-Carlo for any real L, so results are reproducible.

Sentinel-1 GRD speckle is spatially correlated (resampling, spectral windowing): the spread of
the patch statistic under pure speckle is then larger than for white speckle, and the white h
under-smooths. ``h_from_scene`` measures the same quantile on homogeneous areas of the scene itself.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# h = D^2 (q_alpha - mu) for white Gamma(L, 1/L) speckle; key (L, D, alpha). Research notes 1.3.
_H_TABLE: dict[tuple[float, int, float], float] = {}
for _L, _row in {
    1.0: (0.433, 0.625, 1.518, 1.921, 2.522, 3.112, 3.526, 4.318),
    2.0: (0.198, 0.289, 0.702, 0.890, 1.184, 1.464, 1.639, 2.011),
    3.0: (0.129, 0.187, 0.456, 0.578, 0.761, 0.942, 1.064, 1.302),
    4.0: (0.094, 0.137, 0.336, 0.426, 0.561, 0.695, 0.783, 0.959),
    4.4: (0.085, 0.124, 0.304, 0.387, 0.506, 0.625, 0.708, 0.869),
}.items():
    for _i, _D in enumerate((1, 3, 5, 7)):
        _H_TABLE[(_L, _D, 0.88)] = _row[2 * _i]
        _H_TABLE[(_L, _D, 0.92)] = _row[2 * _i + 1]


def _pair_statistic(a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """Per-pixel Nakagami GLR statistic log(a1/a2 + a2/a1) on amplitudes."""
    return np.log(a1 / a2 + a2 / a1)


def _h_from_pairs(g: np.ndarray, D: int, alpha: float) -> float:
    """h = D^2 (q_alpha(patch mean of g) - mean(g)); g has shape (n_pairs, D*D)."""
    v = g.mean(axis=1)
    return float(D * D * (np.quantile(v, alpha) - g.mean()))


@functools.lru_cache(maxsize=64)
def h_monte_carlo(looks: float, D: int, alpha: float, pairs: int = 200_000, seed: int = 0) -> float:
    """Seeded Monte-Carlo h for any real number of looks (Gamma(L, 1/L) intensity speckle)."""
    rng = np.random.default_rng(seed)
    chunks = []
    left = pairs
    while left > 0:  # bounded memory for large D
        n = min(left, max(1, 4_000_000 // (D * D)))
        s1 = rng.gamma(looks, 1.0 / looks, size=(n, D * D))
        s2 = rng.gamma(looks, 1.0 / looks, size=(n, D * D))
        chunks.append(_pair_statistic(np.sqrt(s1), np.sqrt(s2)))
        left -= n
    return _h_from_pairs(np.concatenate(chunks), D, alpha)


def h_white(looks: float, D: int, alpha: float) -> float:
    """h for white speckle: the table when it has (L, D, alpha), else the seeded Monte-Carlo."""
    if looks <= 0 or not math.isfinite(looks):
        raise ValueError(f"looks must be positive and finite, got {looks}")
    key = (round(float(looks), 6), int(D), round(float(alpha), 6))
    if key in _H_TABLE:
        return _H_TABLE[key]
    return h_monte_carlo(float(looks), int(D), float(alpha))


def homogeneous_blocks(
    intensity: np.ndarray,
    valid: np.ndarray | None = None,
    block: int = 32,
    fraction: float = 0.25,
    min_blocks: int = 4,
) -> list[tuple[int, int]]:
    """Top-left corners of the most homogeneous fully valid blocks.

    Homogeneity is judged on the spread of the four quadrant means (first-order flatness), not on
    the block's own variance, so the selection does not bias the ENL measured inside the block.
    """
    I = np.asarray(intensity, dtype=np.float64)
    if valid is None:
        valid = np.isfinite(I) & (I > 0)
    H, W = I.shape
    hb = block // 2
    cands: list[tuple[float, int, int]] = []
    for r in range(0, H - block + 1, block):
        for c in range(0, W - block + 1, block):
            if not valid[r : r + block, c : c + block].all():
                continue
            b = I[r : r + block, c : c + block]
            q = np.array([b[:hb, :hb].mean(), b[:hb, hb:].mean(), b[hb:, :hb].mean(), b[hb:, hb:].mean()])
            if q.mean() <= 0:
                continue
            cands.append((float(q.std() / q.mean()), r, c))
    cands.sort()
    n = max(min_blocks, int(round(fraction * len(cands))))
    return [(r, c) for _, r, c in cands[:n]]


def enl_at(intensity: np.ndarray, corners: list[tuple[int, int]], block: int = 32) -> float:
    """ENL (mean²/var of intensity) pooled over the given blocks, each divided by its own mean first,
    so slow radiometric trends do not count as speckle; NaN when no block has a finite positive mean."""
    I = np.asarray(intensity, dtype=np.float64)
    parts = []
    for r, c in corners:
        b = I[r : r + block, c : c + block]
        m = b.mean()
        if np.isfinite(m) and m > 0:
            parts.append((b / m).ravel())
    if not parts:
        return float("nan")
    return float(1.0 / np.concatenate(parts).var())


def estimate_enl(intensity: np.ndarray, valid: np.ndarray | None = None, block: int = 32) -> float:
    """Equivalent number of looks (mean²/var of intensity) pooled over homogeneous blocks.

    Raises ValueError when the image has no fully valid block.
    """
    corners = homogeneous_blocks(intensity, valid, block)
    if not corners:
        raise ValueError("no fully valid homogeneous block to estimate the number of looks")
    return enl_at(intensity, corners, block)


def h_from_scene(
    intensity: np.ndarray, D: int, alpha: float, valid: np.ndarray | None = None, block: int = 32
) -> float:
    """Empirical h: the reference's quantile construction measured on the scene's homogeneous areas.

    Within each homogeneous block (normalised by its mean), vertically adjacent non-overlapping
    D×D patch pairs give samples of the patch-mean statistic; spatially correlated speckle widens
    its distribution, which this captures and the white-speckle table does not.
    """
    if block < 2 * D:
        block = 2 * D * max(1, math.ceil(32 / (2 * D)))
    corners = homogeneous_blocks(intensity, valid, block)
    I = np.asarray(intensity, dtype=np.float64)
    rows = []
    for r, c in corners:
        b = np.sqrt(I[r : r + block, c : c + block] / I[r : r + block, c : c + block].mean())
        nb = block // (2 * D)
        nc = block // D
        for i in range(nb):
            for j in range(nc):
                p1 = b[2 * i * D : (2 * i + 1) * D, j * D : (j + 1) * D]
                p2 = b[(2 * i + 1) * D : (2 * i + 2) * D, j * D : (j + 1) * D]
                rows.append(_pair_statistic(p1, p2).ravel())
    if len(rows) < 50:
        raise ValueError(f"only {len(rows)} homogeneous patch pairs; need at least 50 to calibrate h")
    return _h_from_pairs(np.array(rows), D, alpha)
