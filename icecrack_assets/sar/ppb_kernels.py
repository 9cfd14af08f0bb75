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


@njit(inline="always", fastmath=True, cache=True)
def _e_glr(Ia, Ib, iAa, iAb, inv_h, tmp, n):
    """tmp = log(a/b + b/a) - log 2 scaled by 1/h, on amplitudes a, b (from intensities)."""
    half = np.float32(0.5)
    for j in range(n):
        tmp[j] = inv_h * _log(half * (Ia[j] + Ib[j]) * iAa[j] * iAb[j])


@njit(inline="always", fastmath=True, cache=True)
def _e_add_kl(Ra, Rb, iRa, iRb, c_kl, tmp, n):
    """tmp += c (R_a/R_b + R_b/R_a - 2): symmetric KL between the previous estimates."""
    two_c = np.float32(2.0) * c_kl
    for j in range(n):
        tmp[j] += c_kl * (Ra[j] * iRb[j] + Rb[j] * iRa[j]) - two_c


@njit(inline="always", fastmath=True, cache=True)
def _e_mask(ma, mb, tmp, cring, Vc, n):
    """Drop pairs with a nodata pixel and keep a running count of the valid pairs."""
    for j in range(n):
        mm = ma[j] * mb[j]
        tmp[j] *= mm
        Vc[j] += mm - cring[j]
        cring[j] = mm


@njit(inline="always", fastmath=True, cache=True)
def _roll_in(tmp, ring, V, n):
    """Vertical running box sum: V += new row - row leaving the window (kept in the ring)."""
    for j in range(n):
        v = tmp[j]
        V[j] += v - ring[j]
        ring[j] = v


@njit(inline="always", fastmath=True, cache=True)
def _hsum(V, E, D, n):
    """E[j] = sum of V[j .. j+D-1]: one pass, terms summed in registers.

    Loops with a compile-time number of terms vectorise; a running sum along the row would be a
    serial dependency chain. Patch widths up to 9 are unrolled; wider ones use pairwise passes.
    """
    if D == 7:
        for j in range(n):
            E[j] = ((V[j] + V[j + 1]) + (V[j + 2] + V[j + 3])) + ((V[j + 4] + V[j + 5]) + V[j + 6])
    elif D == 5:
        for j in range(n):
            E[j] = ((V[j] + V[j + 1]) + (V[j + 2] + V[j + 3])) + V[j + 4]
    elif D == 3:
        for j in range(n):
            E[j] = (V[j] + V[j + 1]) + V[j + 2]
    elif D == 1:
        for j in range(n):
            E[j] = V[j]
    elif D == 9:
        for j in range(n):
            E[j] = (((V[j] + V[j + 1]) + (V[j + 2] + V[j + 3]))
                    + ((V[j + 4] + V[j + 5]) + (V[j + 6] + V[j + 7]))) + V[j + 8]
    else:
        for j in range(n):
            E[j] = V[j]
        for k in range(1, D):
            for j in range(n):
                E[j] += V[j + k]


@njit(inline="always", fastmath=True, cache=True)
def _weights(E, n):
    for j in range(n):
        E[j] = _exp_neg(min(E[j], EXP_CLAMP))


@njit(inline="always", fastmath=True, cache=True)
def _weights_masked(E, Cn, ms, mt, D2, n):
    """Rescale the patch sum to D² pairs; no weight without a valid pair or for nodata centres."""
    for j in range(n):
        cnt = Cn[j]
        ok = np.float32(cnt > np.float32(0.5)) * ms[j] * mt[j]
        ee = min(E[j] * D2 / max(cnt, np.float32(1.0)), EXP_CLAMP)
        E[j] = _exp_neg(ee) * ok


@njit(inline="always", fastmath=True, cache=True)
def _acc(w, Zr, Yr, Mr, Ir, n):
    """Z += w, Y += w·I, M = max(M, w); one array written per loop so LLVM's alias checks stay
    within its budget and every loop vectorises."""
    for j in range(n):
        Zr[j] += w[j]
    for j in range(n):
        Yr[j] += w[j] * Ir[j]
    for j in range(n):
        Mr[j] = max(Mr[j], w[j])


@njit(inline="always", fastmath=True, cache=True)
def _scatter(w, Zs, Ys, Ms, Zt, Yt, Mt, Is, It, n):
    """Symmetric accumulation: w(s,t) serves s (with I_t) and t (with I_s)."""
    _acc(w, Zs, Ys, Ms, It, n)
    _acc(w, Zt, Yt, Mt, Is, n)


@njit(fastmath=True, cache=True, nogil=True)
def _tile(Ip, iAp, Rp, iRp, mp, P, r0, r1, c0, c1, hw, hd, inv_h, c_kl, use_kl, masked, out):
    """Run one PPB iteration for output rows [r0, r1) x cols [c0, c1) (image coordinates).

    Inputs are padded by P = hw + hd. Accumulators cover the tile plus a ring of hw so that
    weights computed for partner pixels outside the tile can be scattered without branches.
    All inner loops run on contiguous 1-D row views so that LLVM vectorises them.
    """
    th = r1 - r0
    tw = c1 - c0
    D = 2 * hd + 1
    ah = th + 2 * hw
    aw = tw + 2 * hw
    Z = np.zeros((ah, aw), np.float32)
    Y = np.zeros((ah, aw), np.float32)
    M = np.zeros((ah, aw), np.float32)
    ncmax = tw + 2 * hw + 2 * hd
    ring = np.zeros((D, ncmax), np.float32)
    cring = np.zeros((D, ncmax), np.float32)
    V = np.zeros(ncmax, np.float32)
    Vc = np.zeros(ncmax, np.float32)
    E = np.zeros(ncmax, np.float32)
    Cn = np.zeros(ncmax, np.float32)
    tmp = np.zeros(ncmax, np.float32)
    D2 = np.float32(D * D)
    for dy in range(0, hw + 1):
        for dx in range(-hw, hw + 1):
            if dy == 0 and dx <= 0:
                continue
            pdx = max(dx, 0)
            ndx = max(-dx, 0)
            nr = th + dy
            nc = tw + pdx + ndx
            nce = nc + 2 * hd
            sr0 = P + r0 - dy          # padded row/col of the first s
            sc0 = P + c0 - pdx
            er0 = sr0 - hd             # padded row/col of its first patch pixel
            ec0 = sc0 - hd
            ar0 = hw - dy              # accumulator row/col of the first s
            ac0 = hw - pdx
            ring[:, :] = 0.0
            V[:] = 0.0
            if masked:
                cring[:, :] = 0.0
                Vc[:] = 0.0
            for k in range(nr + 2 * hd):
                slot = k % D
                pr = er0 + k
                a0 = ec0
                b0 = ec0 + dx
                _e_glr(Ip[pr, a0:a0 + nce], Ip[pr + dy, b0:b0 + nce], iAp[pr, a0:a0 + nce],
                       iAp[pr + dy, b0:b0 + nce], inv_h, tmp, nce)
                if use_kl:
                    _e_add_kl(Rp[pr, a0:a0 + nce], Rp[pr + dy, b0:b0 + nce], iRp[pr, a0:a0 + nce],
                              iRp[pr + dy, b0:b0 + nce], c_kl, tmp, nce)
                if masked:
                    _e_mask(mp[pr, a0:a0 + nce], mp[pr + dy, b0:b0 + nce], tmp, cring[slot], Vc, nce)
                _roll_in(tmp, ring[slot], V, nce)
                if k < D - 1:
                    continue
                i = k - (D - 1)  # s-row index now complete in V
                prs = sr0 + i
                _hsum(V, E, D, nc)
                ars = ar0 + i
                art = ars + dy
                act0 = ac0 + dx
                if masked:
                    _hsum(Vc, Cn, D, nc)
                    _weights_masked(E, Cn, mp[prs, sc0:sc0 + nc], mp[prs + dy, sc0 + dx:sc0 + dx + nc],
                                    D2, nc)
                else:
                    _weights(E, nc)
                _scatter(E, Z[ars, ac0:ac0 + nc], Y[ars, ac0:ac0 + nc], M[ars, ac0:ac0 + nc],
                         Z[art, act0:act0 + nc], Y[art, act0:act0 + nc], M[art, act0:act0 + nc],
                         Ip[prs, sc0:sc0 + nc], Ip[prs + dy, sc0 + dx:sc0 + dx + nc], nc)
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
