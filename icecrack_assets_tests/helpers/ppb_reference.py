"""A direct, loop-for-loop PPB (Deledalle 2009) to check the fast kernels against."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from icecrack_assets.sar.despeckle import looks as looks_mod
from icecrack_assets.sar.despeckle.ppb import schedule


def direct_ppb(
    intensity: np.ndarray,
    looks: float,
    hw: int = 10,
    hd: int = 3,
    alpha: float = 0.92,
    T: float = 0.2,
    iterations: int = 4,
    staged: bool = False,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Direct per-pixel PPB (float64): for every pixel, every candidate, every patch pixel."""
    I = np.asarray(intensity, dtype=np.float64)
    valid = (np.isfinite(I) & (I > 0)) if valid is None else (np.asarray(valid, bool) & np.isfinite(I))
    I = np.where(valid, I, 1.0)
    if (valid & (I <= 0)).any():
        I[valid & (I <= 0)] = I[valid & (I > 0)].min()
    H, W = I.shape
    R = np.ones((H, W))
    first = True
    for st in schedule(hw, hd, iterations, staged):
        P, D = st.hw + st.hd, 2 * st.hd + 1
        h = looks_mod.h_white(looks, D, alpha)
        c = 0.0 if math.isinf(T) else looks / (T * D * D)
        Ap = np.sqrt(np.pad(I, P, mode="symmetric"))
        Ip = Ap**2
        mp = np.pad(valid.astype(float), P, mode="symmetric")
        Aw, mw = sliding_window_view(Ap, (D, D)), sliding_window_view(mp, (D, D))
        for _ in range(st.iterations):
            Rp = np.pad(R, P, mode="symmetric")
            Rw = sliding_window_view(Rp, (D, D))
            new = np.ones((H, W))
            for r in range(H):
                for col in range(W):
                    if not valid[r, col]:
                        continue
                    y, x = r + P - st.hd, col + P - st.hd  # patch-window index of s
                    sl = (slice(y - st.hw, y + st.hw + 1), slice(x - st.hw, x + st.hw + 1))
                    a_s, a_t = Aw[y, x], Aw[sl]
                    m_pair = mw[y, x] * mw[sl]
                    g = np.log(a_s / a_t + a_t / a_s) - np.log(2.0)
                    kl = Rw[y, x] / Rw[sl] + Rw[sl] / Rw[y, x] - 2.0
                    e = g / h + (c * kl if not first else 0.0)
                    cnt = m_pair.sum(axis=(2, 3))
                    E = (m_pair * e).sum(axis=(2, 3)) * D * D / np.maximum(cnt, 1.0)
                    w = np.exp(-np.minimum(E, 80.0))
                    w *= (cnt > 0) * mp[
                        r + P - st.hw : r + P + st.hw + 1, col + P - st.hw : col + P + st.hw + 1
                    ]
                    w[st.hw, st.hw] = 0.0
                    wc = w.max() if w.max() > 0 else 1.0
                    It = Ip[r + P - st.hw : r + P + st.hw + 1, col + P - st.hw : col + P + st.hw + 1]
                    new[r, col] = ((w * It).sum() + wc * I[r, col]) / (w.sum() + wc)
            R = new
            first = False
    return np.where(valid, R, np.nan)
