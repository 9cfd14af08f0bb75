"""numba kernels for one PPB iteration (Deledalle, Denis & Tupin 2009), box-filter + symmetry form.

Why this shape: the direct algorithm compares (2hW+1)²-1 patches of D² pixels per pixel. For a fixed
offset δ the patch sum is a D×D box filter of one per-pixel image, so each offset costs O(1) per
pixel whatever D is (vertical running sum; the short horizontal sum is a handful of vector adds).
w(s, s+δ) = w(s+δ, s), so only half the offsets are evaluated and each weight is scattered to both
pixels. Work is split into cache-sized tiles (private accumulators, no races) run in parallel.
numba here has no SVML, so ``math.exp``/``math.log`` would be scalar libm calls that block
vectorisation; ``_exp_neg`` and ``_log`` are branch-free Cephes-style polynomials with the exponent
handled by bit casts, which LLVM vectorises.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

EXP_CLAMP = np.float32(80.0)  # exponent clamp: exp(-80) stays a normal float32, so no weight is 0


@intrinsic
def _bits_to_f32(typingctx, x):  # noqa: ANN001 - numba intrinsic signature
    """Reinterpret int32 bits as float32 (vectorisable, unlike a memory view)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):  # noqa: ANN001
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def _f32_to_bits(typingctx, x):  # noqa: ANN001
    """Reinterpret float32 as int32 bits."""
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):  # noqa: ANN001
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


@njit(inline="always", fastmath=True, cache=True)
def _exp_neg(e: np.float32) -> np.float32:
    """exp(-e) for 0 <= e <= 80 (Cephes expf polynomial; relative error ~1e-7)."""
    n = np.int32(e * np.float32(1.4426950408889634) + np.float32(0.5))
    fn = np.float32(n)
    x = fn * np.float32(0.693359375) - e
    x = x + fn * np.float32(-2.12194440e-4)
    z = x * x
    y = (((((np.float32(1.9875691500e-4) * x + np.float32(1.3981999507e-3)) * x
            + np.float32(8.3334519073e-3)) * x + np.float32(4.1665795894e-2)) * x
          + np.float32(1.6666665459e-1)) * x + np.float32(5.0000001201e-1)) * z + x + np.float32(1.0)
    return y * _bits_to_f32(np.int32((np.int32(127) - n) << np.int32(23)))


@njit(inline="always", fastmath=True, cache=True)
def _log(q: np.float32) -> np.float32:
    """Natural log of a positive normal float32 (Cephes logf polynomial; abs error ~1e-7)."""
    b = _f32_to_bits(q)
    ex = np.float32((b >> np.int32(23)) - np.int32(127))
    m = _bits_to_f32((b & np.int32(0x007FFFFF)) | np.int32(0x3F800000))  # mantissa in [1, 2)
    big = m > np.float32(1.41421356)
    m = m * np.float32(0.5) if big else m
    ex = ex + np.float32(1.0) if big else ex
    x = m - np.float32(1.0)
    z = x * x
    y = ((((((((np.float32(7.0376836292e-2) * x - np.float32(1.1514610310e-1)) * x
               + np.float32(1.1676998740e-1)) * x - np.float32(1.2420140846e-1)) * x
             + np.float32(1.4249322787e-1)) * x - np.float32(1.6668057665e-1)) * x
           + np.float32(2.0000714765e-1)) * x - np.float32(2.4999993993e-1)) * x
         + np.float32(3.3333331174e-1)) * x * z
    y = y + ex * np.float32(-2.12194440e-4) - np.float32(0.5) * z
    return x + y + ex * np.float32(0.693359375)


@njit(fastmath=True, cache=True)
def exp_neg_vec(e: np.ndarray) -> np.ndarray:
    """Vector form of the kernel's exp(-e), exposed so tests can check its accuracy."""
    out = np.empty_like(e)
    for i in range(e.size):
        out[i] = _exp_neg(min(e[i], EXP_CLAMP))
    return out


@njit(fastmath=True, cache=True)
def log_vec(q: np.ndarray) -> np.ndarray:
    """Vector form of the kernel's log, for tests."""
    out = np.empty_like(q)
    for i in range(q.size):
        out[i] = _log(q[i])
    return out


@njit(fastmath=True, cache=True, nogil=True)
def _tile(Ip, iAp, Rp, iRp, mp, P, r0, r1, c0, c1, hw, hd, inv_h, c_kl, use_kl, masked, out):
    """Run one PPB iteration for output rows [r0, r1) x cols [c0, c1) (image coordinates).

    Inputs are padded by P = hw + hd. Accumulators cover the tile plus a ring of hw so that
    weights computed for partner pixels outside the tile can be scattered without branches.
    """
    th = r1 - r0
    tw = c1 - c0
    D = 2 * hd + 1
    ah = th + 2 * hw
    aw = tw + 2 * hw
    Z = np.zeros((ah, aw), np.float32)
    Y = np.zeros((ah, aw), np.float32)
    M = np.zeros((ah, aw), np.float32)
    ncmax = tw + hw + 2 * hd
    ring = np.zeros((D, ncmax), np.float32)
    V = np.zeros(ncmax, np.float32)
    cring = np.zeros((D, ncmax), np.float32)
    Vc = np.zeros(ncmax, np.float32)
    E = np.zeros(ncmax, np.float32)
    Cn = np.zeros(ncmax, np.float32)
    D2 = np.float32(D * D)
    two_c = np.float32(2.0) * c_kl
    half = np.float32(0.5)
    for dy in range(0, hw + 1):
        for dx in range(-hw, hw + 1):
            if dy == 0 and dx <= 0:
                continue
            pdx = max(dx, 0)
            ndx = max(-dx, 0)
            nr = th + dy
            nc = tw + pdx + ndx
            nce = nc + 2 * hd
            # padded coordinates of the first s (row, col) and of its first e-pixel
            sr0 = P + r0 - dy
            sc0 = P + c0 - pdx
            er0 = sr0 - hd
            ec0 = sc0 - hd
            # accumulator coordinates of the first s
            ar0 = hw - dy
            ac0 = hw - pdx
            ring[:, :nce] = 0.0
            V[:nce] = 0.0
            if masked:
                cring[:, :nce] = 0.0
                Vc[:nce] = 0.0
            for k in range(nr + 2 * hd):
                slot = k % D
                pr = er0 + k
                for j in range(nce):
                    pc = ec0 + j
                    a = Ip[pr, pc]
                    b = Ip[pr + dy, pc + dx]
                    q = half * (a + b) * iAp[pr, pc] * iAp[pr + dy, pc + dx]
                    ev = inv_h * _log(q)
                    if use_kl:
                        ev += c_kl * (Rp[pr, pc] * iRp[pr + dy, pc + dx]
                                      + Rp[pr + dy, pc + dx] * iRp[pr, pc]) - two_c
                    if masked:
                        mm = mp[pr, pc] * mp[pr + dy, pc + dx]
                        ev *= mm
                        Vc[j] += mm - cring[slot, j]
                        cring[slot, j] = mm
                    V[j] += ev - ring[slot, j]
                    ring[slot, j] = ev
                if k < D - 1:
                    continue
                i = k - (D - 1)  # s-row index now complete in V
                E[:nc] = V[:nc]
                for kk in range(1, D):
                    for j in range(nc):
                        E[j] += V[j + kk]
                if masked:
                    Cn[:nc] = Vc[:nc]
                    for kk in range(1, D):
                        for j in range(nc):
                            Cn[j] += Vc[j + kk]
                prs = sr0 + i
                ars = ar0 + i
                art = ars + dy
                for j in range(nc):
                    pcs = sc0 + j
                    if masked:
                        cnt = Cn[j]
                        ok = (cnt > np.float32(0.5)) * mp[prs, pcs] * mp[prs + dy, pcs + dx]
                        ee = min(E[j] * D2 / max(cnt, np.float32(1.0)), EXP_CLAMP)
                        w = _exp_neg(ee) * ok
                    else:
                        w = _exp_neg(min(E[j], EXP_CLAMP))
                    acs = ac0 + j
                    act = acs + dx
                    Z[ars, acs] += w
                    Y[ars, acs] += w * Ip[prs + dy, pcs + dx]
                    M[ars, acs] = max(M[ars, acs], w)
                    Z[art, act] += w
                    Y[art, act] += w * Ip[prs, pcs]
                    M[art, act] = max(M[art, act], w)
    for i in range(th):
        for j in range(tw):
            ai = hw + i
            aj = hw + j
            m = M[ai, aj]
            if m <= 0.0:
                m = np.float32(1.0)  # isolated valid pixel: keep its own value
            val = Ip[P + r0 + i, P + c0 + j]
            out[r0 + i, c0 + j] = (Y[ai, aj] + m * val) / (Z[ai, aj] + m)


@njit(parallel=True, fastmath=True, cache=True)
def ppb_iteration(Ip, iAp, Rp, iRp, mp, H, W, hw, hd, inv_h, c_kl, use_kl, masked, tile_h, tile_w):
    """One PPB iteration over an H×W image given inputs padded by hw+hd; returns the new R̂."""
    P = hw + hd
    out = np.empty((H, W), np.float32)
    ntr = (H + tile_h - 1) // tile_h
    ntc = (W + tile_w - 1) // tile_w
    for t in prange(ntr * ntc):
        tr = t // ntc
        tc = t % ntc
        r0 = tr * tile_h
        c0 = tc * tile_w
        _tile(Ip, iAp, Rp, iRp, mp, P, r0, min(r0 + tile_h, H), c0, min(c0 + tile_w, W),
              hw, hd, inv_h, c_kl, use_kl, masked, out)
    return out
