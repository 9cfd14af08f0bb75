"""Classic local-statistics speckle filters on linear intensity: baselines for PPB ablations.

All statistics are nodata-aware (normalised convolution over valid pixels only) and borders are
mirrored like PPB's, so the comparison is about the filter, not its edge handling. Every filter
returns float32 with NaN at nodata.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _prep(intensity: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    I = np.asarray(intensity, dtype=np.float64)
    if valid is None:
        valid = np.isfinite(I) & (I > 0)
    else:
        valid = np.asarray(valid, bool) & np.isfinite(I)
    return np.where(valid, I, 0.0), valid.astype(np.float64)


def _masked_moments(I: np.ndarray, m: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, ...]:
    """Local mean and variance over the valid pixels under ``kernel`` (a 0/1 footprint)."""
    n = ndimage.correlate(m, kernel, mode="reflect")
    s1 = ndimage.correlate(I, kernel, mode="reflect")
    s2 = ndimage.correlate(I * I, kernel, mode="reflect")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = np.maximum(s2 / n - mean * mean, 0.0)
    return mean, var, n


def _finish(out: np.ndarray, I: np.ndarray, m: np.ndarray) -> np.ndarray:
    out = np.where(np.isfinite(out), out, I)  # no valid neighbour: keep the pixel
    return np.where(m > 0, out, np.nan).astype(np.float32)


def _check_window(window: int) -> None:
    if window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd integer >= 3, got {window}")


def boxcar(intensity: np.ndarray, window: int = 7, valid: np.ndarray | None = None) -> np.ndarray:
    """Moving average of intensity (the multilook estimator; blurs edges)."""
    _check_window(window)
    I, m = _prep(intensity, valid)
    mean, _, _ = _masked_moments(I, m, np.ones((window, window)))
    return _finish(mean, I, m)


def gaussian(intensity: np.ndarray, sigma: float, valid: np.ndarray | None = None) -> np.ndarray:
    """Gaussian-weighted average of intensity over valid pixels (kernel radius ceil(3 sigma)).

    Why: the lightest smoothing there is, symmetric so it moves no edge; a model trained on
    multilooked products reads single-look input better after it (docs/model.md, "Single-look
    input")."""
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number, got {sigma}")
    r = gaussian_radius(sigma)
    x = np.arange(-r, r + 1, dtype=np.float64)
    k1 = np.exp(-(x * x) / (2.0 * sigma * sigma))
    I, m = _prep(intensity, valid)

    def blur(a: np.ndarray) -> np.ndarray:  # separable: two 1-D passes instead of one 2-D kernel
        out: np.ndarray = ndimage.correlate1d(
            ndimage.correlate1d(a, k1, 0, mode="reflect"), k1, 1, mode="reflect"
        )
        return out

    with np.errstate(invalid="ignore", divide="ignore"):
        mean = blur(I) / blur(m)
    return _finish(mean, I, m)


def gaussian_radius(sigma: float) -> int:
    """Pixels :func:`gaussian` reads on each side: the halo a windowed caller must add."""
    return max(1, int(np.ceil(3.0 * sigma)))


def _lee_combine(I: np.ndarray, mean: np.ndarray, var: np.ndarray, looks: float) -> np.ndarray:
    """Lee's MMSE estimate for multiplicative noise with Cu² = 1/L."""
    cu2 = 1.0 / looks
    with np.errstate(invalid="ignore", divide="ignore"):
        var_x = np.maximum((var - mean * mean * cu2) / (1.0 + cu2), 0.0)
        k = np.where(var > 0, var_x / var, 0.0)
    return mean + k * (I - mean)


def lee(intensity: np.ndarray, looks: float, window: int = 7, valid: np.ndarray | None = None) -> np.ndarray:
    """Lee (1980) filter: local MMSE between the pixel and the window mean."""
    _check_window(window)
    I, m = _prep(intensity, valid)
    mean, var, _ = _masked_moments(I, m, np.ones((window, window)))
    return _finish(_lee_combine(I, mean, var, looks), I, m)


def _direction_masks(window: int) -> list[np.ndarray]:
    """The eight edge-aligned half windows of the refined Lee filter (top, bottom, left, right and
    the four triangles that include the diagonal)."""
    k = window
    i, j = np.mgrid[0:k, 0:k]
    c = k // 2
    return [
        (i <= c),
        (i >= c),
        (j <= c),
        (j >= c),
        (i >= j),
        (i <= j),
        (i + j <= k - 1),
        (i + j >= k - 1),
    ]


def refined_lee(
    intensity: np.ndarray, looks: float, window: int = 7, valid: np.ndarray | None = None
) -> np.ndarray:
    """Refined Lee (Lee 1981): Lee statistics taken in the half window on the homogeneous side of
    the strongest of four edge directions, found from 3×3 sub-window means."""
    _check_window(window)
    I, m = _prep(intensity, valid)
    half = window // 2
    sb = max(1, half // 3)
    off = half - sb
    sub_mean, _, _ = _masked_moments(I, m, np.ones((2 * sb + 1, 2 * sb + 1)))
    sub_mean = np.where(np.isfinite(sub_mean), sub_mean, 0.0)
    pad = np.pad(sub_mean, off, mode="symmetric")
    H, W = I.shape

    def s(a: int, b: int) -> np.ndarray:  # sub-window mean at grid position (a, b) in {0,1,2}²
        return pad[a * off : a * off + H, b * off : b * off + W]

    s4 = s(1, 1)
    grads = np.stack(
        [
            np.abs(s(0, 1) - s(2, 1)),
            np.abs(s(1, 0) - s(1, 2)),
            np.abs(s(2, 0) - s(0, 2)),
            np.abs(s(0, 0) - s(2, 2)),
        ]
    )
    direction = np.argmax(grads, axis=0)
    # choose the side of the edge the centre resembles: masks indexed as in _direction_masks
    side = np.stack(
        [
            np.where(np.abs(s(0, 1) - s4) <= np.abs(s(2, 1) - s4), 0, 1),  # top / bottom
            np.where(np.abs(s(1, 0) - s4) <= np.abs(s(1, 2) - s4), 2, 3),  # left / right
            np.where(np.abs(s(2, 0) - s4) <= np.abs(s(0, 2) - s4), 4, 5),  # lower-left / upper-right
            np.where(np.abs(s(0, 0) - s4) <= np.abs(s(2, 2) - s4), 6, 7),  # upper-left / lower-right
        ]
    )
    choice = np.take_along_axis(side, direction[None], axis=0)[0]
    out = np.empty_like(I)
    for idx, mask in enumerate(_direction_masks(window)):
        sel = choice == idx
        if not sel.any():
            continue
        mean, var, _ = _masked_moments(I, m, mask.astype(np.float64))
        out[sel] = _lee_combine(I, mean, var, looks)[sel]
    return _finish(out, I, m)


def frost(
    intensity: np.ndarray,
    looks: float,
    window: int = 7,
    valid: np.ndarray | None = None,
    damping: float = 2.0,
) -> np.ndarray:
    """Frost (1982) filter: exponential kernel whose decay grows with the local variation Ci²,
    normalised by the speckle's Cu² = 1/L so a homogeneous area gets a nearly flat kernel."""
    _check_window(window)
    I, m = _prep(intensity, valid)
    mean, var, _ = _masked_moments(I, m, np.ones((window, window)))
    with np.errstate(invalid="ignore", divide="ignore"):
        ci2 = np.where(mean > 0, var / (mean * mean), 0.0)
    b = damping * np.maximum(ci2 - 1.0 / looks, 0.0) * looks  # 0 in pure speckle
    half = window // 2
    Ip = np.pad(I, half, mode="symmetric")
    mp = np.pad(m, half, mode="symmetric")
    H, W = I.shape
    num = np.zeros_like(I)
    den = np.zeros_like(I)
    rings: dict[float, list[tuple[int, int]]] = {}  # offsets by distance: one exp per distance
    for dy in range(-half, half + 1):
        for dx in range(-half, half + 1):
            rings.setdefault(float(np.hypot(dy, dx)), []).append((dy, dx))
    for r, offsets in rings.items():
        decay = np.exp(-b * r)
        for dy, dx in offsets:
            w = decay * mp[half + dy : half + dy + H, half + dx : half + dx + W]
            num += w * Ip[half + dy : half + dy + H, half + dx : half + dx + W]
            den += w
    with np.errstate(invalid="ignore", divide="ignore"):
        return _finish(num / den, I, m)


def residual_guard(
    intensity: np.ndarray,
    estimate: np.ndarray,
    looks: float,
    strength: float,
    window: int = 7,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Lee's MMSE step with a despeckled estimate as the prior mean: R̂ + strength·k·(I − R̂).

    k = var_R / E[(I − R̂)²] over the window, var_R = (E[(I − R̂)²] − R̂²/L) / (1 + 1/L) ≥ 0. Where
    the estimate kept the structure, the residual is speckle alone and k ≈ 0; where it flattened a
    texture, the residual carries it and part of it comes back, as a Lee filter would keep it.
    Used after PPB at high L, where the iterations flatten fine texture (settings.py).
    """
    _check_window(window)
    I, m = _prep(intensity, valid)
    R = np.where(m > 0, np.asarray(estimate, dtype=np.float64), 0.0)
    R = np.where(np.isfinite(R), R, 0.0)
    energy, _, _ = _masked_moments((I - R) ** 2, m, np.ones((window, window)))
    with np.errstate(invalid="ignore", divide="ignore"):
        var_r = np.maximum((energy - R * R / looks) / (1.0 + 1.0 / looks), 0.0)
        k = np.where(energy > 0, var_r / energy, 0.0)
    return _finish(R + strength * k * (I - R), I, m)
