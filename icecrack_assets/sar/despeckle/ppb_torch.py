"""PPB in PyTorch: same semantics as the numba kernels, for machines with a CUDA GPU.

The loop runs over the search offsets (the full window, no symmetric scatter: on a GPU the
scatter's extra memory traffic costs more than the halved arithmetic); per offset, the per-pixel
dissimilarity is box-filtered with an average pool, so each offset costs O(1) per pixel. Float32
throughout; results agree with the numba path to float32 rounding (tested on CPU).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from icecrack_assets.sar.despeckle.looks import h_white
from icecrack_assets.sar.despeckle.ppb import prepare, schedule


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency, but keep the numba path usable
        return False
    return bool(torch.cuda.is_available())


def ppb_torch(
    intensity: np.ndarray,
    looks: float,
    hw: int = 10,
    hd: int = 3,
    alpha: float = 0.92,
    T: float = 0.2,
    iterations: int = 4,
    staged: bool = False,
    valid: np.ndarray | None = None,
    h_of: Callable[[int], float] | None = None,
    device: str | None = None,
) -> np.ndarray:
    """Despeckle intensity with PPB on ``device`` (default: CUDA if available, else CPU)."""
    import torch
    import torch.nn.functional as F

    if not (looks > 0 and math.isfinite(looks)):
        raise ValueError(f"looks must be positive, got {looks}")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    I_np, v = prepare(intensity, valid)
    H, W = I_np.shape
    out = np.full((H, W), np.nan, np.float32)
    if not v.any():
        return out
    I = torch.from_numpy(I_np).to(dev)
    m = torch.from_numpy(v.astype(np.float32)).to(dev)
    R = torch.ones_like(I)
    first = True
    with torch.no_grad():
        for st in schedule(hw, hd, iterations, staged):
            P, D = st.hw + st.hd, 2 * st.hd + 1
            h = float(h_of(D)) if h_of is not None else h_white(looks, D, alpha)
            c = 0.0 if math.isinf(T) else looks / (T * D * D)

            def pad(x: torch.Tensor, P: int = P) -> torch.Tensor:
                return _pad_symmetric(x, P)

            Ip, mp = pad(I), pad(m)
            iAp = torch.rsqrt(Ip)
            for _ in range(st.iterations):
                Rp = pad(R)
                iRp = 1.0 / Rp
                Z = torch.zeros_like(I)
                Y = torch.zeros_like(I)
                M = torch.zeros_like(I)
                Hs, Ws = H + 2 * st.hd, W + 2 * st.hd  # s region incl. patch margin
                o = st.hw  # padded offset of the s region
                Is, iAs, Rs, iRs, ms = (x[o : o + Hs, o : o + Ws] for x in (Ip, iAp, Rp, iRp, mp))
                for dy in range(-st.hw, st.hw + 1):
                    for dx in range(-st.hw, st.hw + 1):
                        if dy == 0 and dx == 0:
                            continue
                        sl = (slice(o + dy, o + dy + Hs), slice(o + dx, o + dx + Ws))
                        It, iAt, mt = Ip[sl], iAp[sl], mp[sl]
                        e = torch.log(0.5 * (Is + It) * iAs * iAt) / h
                        if not first and c > 0:
                            e = e + c * (Rs * iRp[sl] + Rp[sl] * iRs - 2.0)
                        mm = ms * mt
                        E = F.avg_pool2d((e * mm)[None, None], D, stride=1)[0, 0] * (D * D)
                        cnt = F.avg_pool2d(mm[None, None], D, stride=1)[0, 0] * (D * D)
                        E = E * (D * D) / cnt.clamp(min=1.0)
                        w = torch.exp(-E.clamp(max=80.0))
                        w = w * (cnt > 0.5) * mp[P + dy : P + dy + H, P + dx : P + dx + W]
                        Z += w
                        Y += w * Ip[P + dy : P + dy + H, P + dx : P + dx + W]
                        M = torch.maximum(M, w)
                M = torch.where(M > 0, M, torch.ones_like(M))
                R = (Y + M * I) / (Z + M)
                R = torch.where(m > 0, R, torch.ones_like(R))
                first = False
    res = R.cpu().numpy().astype(np.float32)
    out[v] = res[v]
    return out


def _pad_symmetric(x, P: int):
    """numpy's 'symmetric' padding (edge pixel repeated; torch's 'reflect' is not), any size."""
    import torch

    H, W = x.shape
    rows = torch.from_numpy(np.pad(np.arange(H), P, mode="symmetric")).to(x.device)
    cols = torch.from_numpy(np.pad(np.arange(W), P, mode="symmetric")).to(x.device)
    return x.index_select(0, rows).index_select(1, cols)
