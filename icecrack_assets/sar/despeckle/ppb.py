"""Iterative PPB despeckling (Deledalle, Denis & Tupin, IEEE TIP 18(12), 2009) on intensity arrays.

Semantics follow the reference ``ppb_nakagami.m`` (research notes, docs/despeckling.md):
Nakagami-Rayleigh GLR patch similarity on amplitude with h from the alpha-quantile under pure
speckle, symmetric-KL refinement on the previous estimate scaled as c = L / (T D²) ("H2"), centre
weight = max of the others, weighted ML (mean of intensities), iterations from a constant initial
estimate, borders by symmetric padding of hW+hD, optional growing-window stage schedule.
Nodata pixels take no part in any weight: their pairs drop out of the patch sum, which is
rescaled to D² pairs, and they are never candidates.
"""

from __future__ import annotations

import atexit
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from icecrack_assets.sar.despeckle.looks import h_white
from icecrack_assets.sar.despeckle.ppb_kernels import pad_input, ppb_iteration


@dataclass(frozen=True)
class Stage:
    """One stage of the schedule: ``iterations`` runs with search half-width hw, patch half-width hd."""

    hw: int
    hd: int
    iterations: int


def schedule(hw: int = 10, hd: int = 3, iterations: int = 4, staged: bool = False) -> list[Stage]:
    """The reference's iterative PPB (one stage) or its growing-window schedule.

    ``ppb_nakagami.m``'s example runs hW=[1 3 5 10], hD=[0 1 2 3], nbit=[1 2 3 4]; staged=True
    keeps the early stages that are smaller than the requested (hw, hd) and ends with it.
    """
    if hw < 1 or hd < 0 or iterations < 1:
        raise ValueError(f"need hw >= 1, hd >= 0, iterations >= 1 (got {hw}, {hd}, {iterations})")
    stages = []
    if staged:
        stages = [Stage(w, d, n) for w, d, n in ((1, 0, 1), (3, 1, 2), (5, 2, 3)) if w < hw and d <= hd]
    stages.append(Stage(hw, hd, iterations))
    return stages


def halo_for(stages: list[Stage]) -> int:
    """Context each output pixel depends on: every iteration reaches hw + hd further out."""
    return sum(s.iterations * (s.hw + s.hd) for s in stages)


def _tiles(H: int, W: int) -> tuple[int, int]:
    """Tile shape: 128x512 measured fastest on one core (1.60 ns per pixel-offset against 1.97 for
    64x256; accumulators + offset ring buffers ~1.3 MB, within a 2 MiB L2), shrunk (down to 32 rows)
    until there are at least four tiles so both cores stay busy."""
    tw = min(512, W)
    th = min(128, H)
    while (math.ceil(H / th) * math.ceil(W / tw)) < 4 and th > 32:
        th = max(32, th // 2)  # thinner tiles cost more in row overheads than the idle core
    return th, tw


def prepare(intensity: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Float32 intensity with nodata set to 1 (finite filler) and the validity mask.

    Valid but non-positive pixels get the minimum positive value, as the reference does.
    """
    I = np.asarray(intensity, dtype=np.float32)
    if valid is None:
        valid = np.isfinite(I) & (I > 0)
    else:
        valid = np.asarray(valid, dtype=bool) & np.isfinite(I)
    I = np.where(valid, I, np.float32(1.0)).astype(np.float32)
    pos = I[valid & (I > 0)]
    floor = pos.min() if pos.size else np.float32(1.0)
    I[valid & (I <= 0)] = floor
    return I, valid


def ppb(
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
    progress: Callable[[float], None] | None = None,
    on_iteration: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray:
    """Despeckle a linear intensity image; returns the reflectivity estimate R̂ (float32, NaN at nodata).

    ``h_of(D)`` overrides the white-speckle h (e.g. a scene calibration from looks.h_from_scene).
    ``T = inf`` disables the refinement term (non-iterative PPB when iterations == 1).
    ``on_iteration(i, R̂)`` sees every intermediate estimate (1-based i, NaN at nodata), so a
    calibration gets all iteration counts from one run.
    """
    if not (looks > 0 and math.isfinite(looks)):
        raise ValueError(f"looks must be positive, got {looks}")
    if alpha <= 0 or alpha >= 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if T <= 0:
        raise ValueError(f"T must be positive (inf disables the refinement), got {T}")
    I, valid = prepare(intensity, valid)
    _await_warm_up()
    H, W = I.shape
    out = np.full((H, W), np.nan, np.float32)
    if not valid.any():
        return out
    masked = not bool(valid.all())
    stages = schedule(hw, hd, iterations, staged)
    total = sum(s.iterations for s in stages)
    done = 0
    R = np.ones((H, W), np.float32)
    th, tw = _tiles(H, W)
    m = valid.astype(np.float32)
    for st in stages:
        P = st.hw + st.hd
        D = 2 * st.hd + 1
        h = float(h_of(D)) if h_of is not None else h_white(looks, D, alpha)
        inv_h = np.float32(1.0 / h)
        c_kl = np.float32(0.0 if math.isinf(T) else looks / (T * D * D))
        Ip = pad_input(I, P)
        iAp = (1.0 / np.sqrt(Ip)).astype(np.float32)
        mp = pad_input(m, P)
        for _ in range(st.iterations):
            use_kl = done > 0 and c_kl > 0  # R̂ starts constant, so the KL term is exactly 0 at first
            Rp = pad_input(R, P)
            iRp = (1.0 / Rp).astype(np.float32)
            R = ppb_iteration(Ip, iAp, Rp, iRp, mp, H, W, st.hw, st.hd, inv_h, c_kl, use_kl, masked, th, tw)
            R[~valid] = 1.0
            done += 1
            if on_iteration is not None:
                on_iteration(done, np.where(valid, R, np.float32(np.nan)))
            if progress is not None:
                progress(done / total)
    out[valid] = R[valid]
    return out


WARM_UP_TIMEOUT_S = 300.0  # a compile takes ~20-60 s; past this the first call compiles itself
_WARM_UP: subprocess.Popen[bytes] | None = None  # the background compile, until this process waits for it


def warm_up() -> None:
    """Compile the kernels (or load them from numba's on-disk cache) on a tiny image with nodata."""
    image = np.ones((8, 8), np.float32)
    valid = np.ones(image.shape, bool)
    valid[0, 0] = False
    ppb(image, looks=1.0, hw=1, hd=1, iterations=1, valid=valid)


def warm_up_in_background() -> None:
    """Compile the kernels into numba's on-disk cache in another process, on the other core.

    A fresh install's first despeckling spends ~20 s compiling; a command that has other work
    first (the demo simulates and ingests) starts this, and this process's first ``ppb`` call
    waits for it and then loads the compiled code instead of compiling it again. Once the cache
    is warm the child only loads it (~2 s). Cache files are written atomically, so a concurrent
    compile elsewhere is harmless."""
    global _WARM_UP
    if _WARM_UP is not None:
        return
    code = "from icecrack_assets.sar.despeckle.ppb import warm_up; warm_up()"
    _WARM_UP = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    atexit.register(_WARM_UP.kill)  # an interrupted command leaves no compiler running


def _await_warm_up() -> None:
    global _WARM_UP
    if _WARM_UP is not None:
        try:  # whatever it returns: if it failed or hangs, the first call compiles here
            _WARM_UP.wait(timeout=WARM_UP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _WARM_UP.kill()
        _WARM_UP = None
