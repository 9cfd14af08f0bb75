"""numba kernels for one PPB iteration (Deledalle, Denis & Tupin 2009), box-filter + symmetry form.

Why this shape: the direct algorithm compares (2hW+1)²-1 patches of D² pixels per pixel. For a fixed
offset δ the patch sum is a D×D box filter of one per-pixel image, so each offset costs O(1) per
pixel whatever D is (vertical running sum; the short horizontal sum is a handful of vector adds).
w(s, s+δ) = w(s+δ, s), so only half the offsets are evaluated and each weight is scattered to both
pixels. Work is split into cache-sized tiles (private accumulators, no races) run in parallel.
numba here has no SVML, so ``math.exp``/``math.log`` would be scalar libm calls that block
vectorisation; ``_exp_neg`` and ``_log`` are branch-free Cephes-style polynomials with the exponent
handled by bit casts, which LLVM vectorises. Per offset and row there are two fused loops (the
dissimilarity into the running patch sum; the weight and its six accumulations). What it takes
for LLVM to actually vectorise them (select-based min/max, a raised alias-check budget, whole
vectors per row, scalar-only per-element helpers) is written next to each piece and in
docs/despeckling.md.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# LLVM fast-math flags of every kernel: all of fastmath=True except "reassoc". With reassociation
# the code JIT-compiled in a process and the same kernel loaded from numba's on-disk cache gave
# results ~1e-6 apart on inputs with nodata (so a fresh install's first run differed from every
# later run); without it both are bit-identical. The kernels vectorise across columns, not by
# reassociating reductions, so it costs no speed (docs/despeckling.md).
FASTMATH = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}
EXP_CLAMP = np.float32(80.0)  # exponent clamp: exp(-80) stays a normal float32, so no weight is 0
LANES = 16  # row lengths are rounded up to this (one AVX-512 vector of float32)
EXTRA_COLS = 2 * LANES  # padded inputs carry this many extra finite columns on the right


def _allow_alias_checks() -> None:
    """Let LLVM's loop vectoriser emit more runtime alias checks (default budget: 8 pointer pairs).

    numba cannot mark arrays as non-aliasing, so a fused loop that reads ten rows and writes two
    (or six) needs more checks than the default allows and would silently stay scalar. The checks
    run once per row (hundreds of elements), so their cost is negligible. Process-wide LLVM
    option; it only makes the vectoriser more willing, never changes results.
    """
    import llvmlite.binding as llvm

    llvm.set_option("", "-runtime-memory-check-threshold=256")


_allow_alias_checks()


@intrinsic
def _bits_to_f32(typingctx, x):
    """Reinterpret int32 bits as float32 (vectorisable, unlike a memory view)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def _f32_to_bits(typingctx, x):
    """Reinterpret float32 as int32 bits."""
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _fmin(a, b):
    """min of two floats as a select. numba's builtin ``min``/``max`` on float32 compile to an
    out-of-line call here, which keeps the whole loop scalar (found with a perf profile)."""
    return a if a < b else b


@intrinsic
def _maxnum_f32(typingctx, a, b):
    """llvm.maxnum on float32: a plain vmaxps once vectorised."""
    sig = types.float32(types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f32 = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.maxnum", [f32], ir.FunctionType(f32, [f32, f32]))
        return builder.call(fn, args)

    return sig, codegen


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _fmax(a, b):
    """max of two float32 as llvm.maxnum. A select (``a if a > b else b``) on ``M[j] = max(M[j], w)``
    lets LLVM turn the update into a conditional store, which AVX2 (no AVX-512 mask registers)
    vectorises as ``vmaskmovps``, a microcoded masked store on AMD Zen 3; the intrinsic keeps the
    store unconditional. Same result for the non-NaN values the kernels see."""
    return _maxnum_f32(a, b)


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _exp_neg(e: np.float32) -> np.float32:
    """exp(-e) for 0 <= e <= 80 (Cephes expf polynomial; relative error ~1e-7)."""
    n = np.int32(e * np.float32(1.4426950408889634) + np.float32(0.5))
    fn = np.float32(n)
    x = fn * np.float32(0.693359375) - e
    x = x + fn * np.float32(-2.12194440e-4)
    z = x * x
    y = (
        (
            (
                (
                    (
                        (np.float32(1.9875691500e-4) * x + np.float32(1.3981999507e-3)) * x
                        + np.float32(8.3334519073e-3)
                    )
                    * x
                    + np.float32(4.1665795894e-2)
                )
                * x
                + np.float32(1.6666665459e-1)
            )
            * x
            + np.float32(5.0000001201e-1)
        )
        * z
        + x
        + np.float32(1.0)
    )
    return y * _bits_to_f32(np.int32((np.int32(127) - n) << np.int32(23)))


@njit(inline="always", fastmath=FASTMATH, cache=True)
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
    y = (
        (
            (
                (
                    (
                        (
                            (
                                (
                                    (np.float32(7.0376836292e-2) * x - np.float32(1.1514610310e-1)) * x
                                    + np.float32(1.1676998740e-1)
                                )
                                * x
                                - np.float32(1.2420140846e-1)
                            )
                            * x
                            + np.float32(1.4249322787e-1)
                        )
                        * x
                        - np.float32(1.6668057665e-1)
                    )
                    * x
                    + np.float32(2.0000714765e-1)
                )
                * x
                - np.float32(2.4999993993e-1)
            )
            * x
            + np.float32(3.3333331174e-1)
        )
        * x
        * z
    )
    y = y + ex * np.float32(-2.12194440e-4) - np.float32(0.5) * z
    return x + y + ex * np.float32(0.693359375)


def pad_input(a: np.ndarray, P: int) -> np.ndarray:
    """Symmetric padding by P (the reference's border rule) plus EXTRA_COLS columns of ones on
    the right, which the whole-vector row loops may read (their results are discarded)."""
    p = np.pad(np.asarray(a, np.float32), P, mode="symmetric")
    return np.pad(p, ((0, 0), (0, EXTRA_COLS)), constant_values=1.0)


@njit(fastmath=FASTMATH, cache=True)
def exp_neg_vec(e: np.ndarray) -> np.ndarray:
    """Vector form of the kernel's exp(-e), exposed so tests can check its accuracy."""
    out = np.empty_like(e)
    for i in range(e.size):
        out[i] = _exp_neg(_fmin(e[i], EXP_CLAMP))
    return out


@njit(fastmath=FASTMATH, cache=True)
def log_vec(q: np.ndarray) -> np.ndarray:
    """Vector form of the kernel's log, for tests."""
    out = np.empty_like(q)
    for i in range(q.size):
        out[i] = _log(q[i])
    return out


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _e_val(ia, ib, iaa, iab, ra, rb, ira, irb, inv_h, c_kl, use_kl):
    """Per-pixel dissimilarity of one pair: GLR log(a/b + b/a) - log 2 on amplitudes (a single
    log of a product of intensities) over h, plus the refinement c (R_a/R_b + R_b/R_a - 2).

    Scalars only: an inlined helper that takes arrays would carry reference-count calls into the
    loop and stop vectorisation."""
    e = inv_h * _log(np.float32(0.5) * (ia + ib) * iaa * iab)
    if use_kl:
        e += c_kl * (ra * irb + rb * ira) - np.float32(2.0) * c_kl
    return e


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _roll_e(Ia, Ib, iAa, iAb, Ra, Rb, iRa, iRb, inv_h, c_kl, kl, ring, V, n, k, D):
    """Roll one row of e into the vertical running patch sum V (the row leaving is in ``ring``).

    One fused loop per case, two arrays written each: this vectorises once LLVM's runtime
    alias-check budget is raised (see ``_allow_alias_checks``).
    """
    if k == 0:
        for j in range(n):
            e = _e_val(Ia[j], Ib[j], iAa[j], iAb[j], Ra[j], Rb[j], iRa[j], iRb[j], inv_h, c_kl, kl)
            V[j] = e
            ring[j] = e
    elif k < D:
        for j in range(n):
            e = _e_val(Ia[j], Ib[j], iAa[j], iAb[j], Ra[j], Rb[j], iRa[j], iRb[j], inv_h, c_kl, kl)
            V[j] += e
            ring[j] = e
    else:
        for j in range(n):
            e = _e_val(Ia[j], Ib[j], iAa[j], iAb[j], Ra[j], Rb[j], iRa[j], iRb[j], inv_h, c_kl, kl)
            V[j] += e - ring[j]
            ring[j] = e


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _row_e(Ia, Ib, iAa, iAb, Ra, Rb, iRa, iRb, inv_h, c_kl, use_kl, ring, V, n, k, D):
    """``_roll_e`` with the KL switch taken outside the loops (a literal flag after inlining), so
    the first iteration neither loads R̂ nor computes the refinement."""
    if use_kl:
        _roll_e(Ia, Ib, iAa, iAb, Ra, Rb, iRa, iRb, inv_h, c_kl, True, ring, V, n, k, D)
    else:
        _roll_e(Ia, Ib, iAa, iAb, Ra, Rb, iRa, iRb, inv_h, c_kl, False, ring, V, n, k, D)


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _row_e_masked(
    Ia, Ib, iAa, iAb, Ra, Rb, iRa, iRb, ma, mb, inv_h, c_kl, use_kl, ring, V, cring, Vc, n, k, D
):
    """As ``_row_e`` for tiles touching nodata: pairs with a nodata pixel drop out, and a running
    count of the valid pairs is kept alongside."""
    if k == 0:
        for j in range(n):
            mm = ma[j] * mb[j]
            e = _e_val(Ia[j], Ib[j], iAa[j], iAb[j], Ra[j], Rb[j], iRa[j], iRb[j], inv_h, c_kl, use_kl) * mm
            V[j] = e
            ring[j] = e
            Vc[j] = mm
            cring[j] = mm
    elif k < D:
        for j in range(n):
            mm = ma[j] * mb[j]
            e = _e_val(Ia[j], Ib[j], iAa[j], iAb[j], Ra[j], Rb[j], iRa[j], iRb[j], inv_h, c_kl, use_kl) * mm
            V[j] += e
            ring[j] = e
            Vc[j] += mm
            cring[j] = mm
    else:
        for j in range(n):
            mm = ma[j] * mb[j]
            e = _e_val(Ia[j], Ib[j], iAa[j], iAb[j], Ra[j], Rb[j], iRa[j], iRb[j], inv_h, c_kl, use_kl) * mm
            V[j] += e - ring[j]
            ring[j] = e
            Vc[j] += mm - cring[j]
            cring[j] = mm


@njit(inline="always", fastmath=FASTMATH, cache=True)
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
            E[j] = (
                ((V[j] + V[j + 1]) + (V[j + 2] + V[j + 3])) + ((V[j + 4] + V[j + 5]) + (V[j + 6] + V[j + 7]))
            ) + V[j + 8]
    else:
        for j in range(n):
            E[j] = V[j]
        for q in range(1, D):
            for j in range(n):
                E[j] += V[j + q]


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _row_scatter(E, Is, It, Zs, Ys, Ms, Zt, Yt, Mt, n, same_row):
    """w = exp(-patch sum), then the symmetric accumulation: w(s,t) serves s (with I_t) and t
    (with I_s); Z = Σw, Y = Σw·I, M = max w. Fused in one loop, except when s and t lie on the
    same accumulator row (dy = 0): the two ranges then overlap, LLVM's runtime alias check would
    send the fused loop down its scalar path, so the t side gets its own loop."""
    if same_row:
        for j in range(n):
            w = _exp_neg(_fmin(E[j], EXP_CLAMP))
            E[j] = w
            Zs[j] += w
            Ys[j] += w * It[j]
            Ms[j] = _fmax(Ms[j], w)
        _acc(E, Zt, Yt, Mt, Is, n)
    else:
        for j in range(n):
            w = _exp_neg(_fmin(E[j], EXP_CLAMP))
            Zs[j] += w
            Ys[j] += w * It[j]
            Ms[j] = _fmax(Ms[j], w)
            Zt[j] += w
            Yt[j] += w * Is[j]
            Mt[j] = _fmax(Mt[j], w)


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _acc(w, Z, Y, M, I, n):
    """Z += w, Y += w·I, M = max(M, w) for weights already computed."""
    for j in range(n):
        x = w[j]
        Z[j] += x
        Y[j] += x * I[j]
        M[j] = _fmax(M[j], x)


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _row_scatter_masked(E, Cn, ms, mt, D2, Is, It, Zs, Ys, Ms, Zt, Yt, Mt, n, same_row):
    """As ``_row_scatter``, with the patch sum rescaled to D² valid pairs; no weight without a
    valid pair or for a nodata centre or candidate."""
    for j in range(n):
        cnt = Cn[j]
        ok = np.float32(cnt > np.float32(0.5)) * ms[j] * mt[j]
        E[j] = _exp_neg(_fmin(E[j] * D2 / _fmax(cnt, np.float32(1.0)), EXP_CLAMP)) * ok
    _acc(E, Zs, Ys, Ms, It, n)
    _acc(E, Zt, Yt, Mt, Is, n)


@njit(inline="always", cache=True)
def _up(n, m):
    """n rounded up to a multiple of m."""
    return (n + m - 1) // m * m


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _all_valid(mp, r0, r1, c0, c1):
    for i in range(r0, r1):
        for j in range(c0, c1):
            if mp[i, j] < np.float32(0.5):
                return False
    return True


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _tile(Ip, iAp, Rp, iRp, mp, P, r0, r1, c0, c1, hw, hd, inv_h, c_kl, use_kl, masked, out):
    """Run one PPB iteration for output rows [r0, r1) x cols [c0, c1) (image coordinates).

    Inputs are padded by P = hw + hd. Accumulators cover the tile plus a ring of hw so that
    weights computed for partner pixels outside the tile can be scattered without branches.
    Row lengths are rounded up to whole vectors so that no loop has a scalar remainder; the
    extra columns read the inputs' finite right margin (EXTRA_COLS) and land in the right part
    of the accumulators' ring, which is discarded. Loop order dy, row, dx: for one row pair the input
    rows and the accumulator rows stay in L1
    across all dx, and only each offset's running patch sum (V and its ring of D rows) lives in
    L2. Per offset and row there are two fused loops on contiguous 1-D row views (e into the
    running sum; weight and scatter), which LLVM vectorises. Tiles whose padded footprint holds
    no nodata take the unmasked path even when the image has nodata elsewhere.
    """
    th = r1 - r0
    tw = c1 - c0
    D = 2 * hd + 1
    ah = th + 2 * hw
    aw = tw + 2 * hw
    if masked:
        masked = not _all_valid(mp, r0, r1 + 2 * P, c0, c1 + 2 * P)
    Z = np.zeros((ah, aw + LANES), np.float32)
    Y = np.zeros((ah, aw + LANES), np.float32)
    M = np.zeros((ah, aw + LANES), np.float32)
    ncmax = _up(tw + 2 * hw, LANES) + _up(2 * hd, LANES) + LANES
    nq = 2 * hw + 1
    rings = np.zeros((nq, D, ncmax), np.float32)
    Vs = np.zeros((nq, ncmax), np.float32)
    nqm = nq if masked else 1
    crings = np.zeros((nqm, D, ncmax), np.float32)
    Vcs = np.zeros((nqm, ncmax), np.float32)
    E = np.zeros(ncmax, np.float32)
    Cn = np.zeros(ncmax, np.float32)
    D2 = np.float32(D * D)
    for dy in range(0, hw + 1):
        nr = th + dy
        sr0 = P + r0 - dy  # padded row of the first s
        er0 = sr0 - hd  # padded row of its first patch pixel
        ar0 = hw - dy  # accumulator row of the first s
        for k in range(nr + 2 * hd):
            slot = k % D
            pr = er0 + k
            i = k - (D - 1)  # s-row index complete in V after this row (if >= 0)
            prs = sr0 + i
            ars = ar0 + i
            art = ars + dy
            for dx in range(-hw, hw + 1):
                if dy == 0 and dx <= 0:
                    continue
                q = dx + hw
                pdx = max(dx, 0)
                nc = _up(tw + abs(dx), LANES)
                nce = _up(nc + 2 * hd, LANES)
                sc0 = P + c0 - pdx  # padded col of the first s
                a0 = sc0 - hd  # padded col of its first patch pixel
                b0 = a0 + dx
                ac0 = hw - pdx  # accumulator col of the first s
                act0 = ac0 + dx
                V = Vs[q]
                if masked:
                    Vc = Vcs[q]
                    _row_e_masked(
                        Ip[pr, a0 : a0 + nce],
                        Ip[pr + dy, b0 : b0 + nce],
                        iAp[pr, a0 : a0 + nce],
                        iAp[pr + dy, b0 : b0 + nce],
                        Rp[pr, a0 : a0 + nce],
                        Rp[pr + dy, b0 : b0 + nce],
                        iRp[pr, a0 : a0 + nce],
                        iRp[pr + dy, b0 : b0 + nce],
                        mp[pr, a0 : a0 + nce],
                        mp[pr + dy, b0 : b0 + nce],
                        inv_h,
                        c_kl,
                        use_kl,
                        rings[q, slot],
                        V,
                        crings[q, slot],
                        Vc,
                        nce,
                        k,
                        D,
                    )
                else:
                    _row_e(
                        Ip[pr, a0 : a0 + nce],
                        Ip[pr + dy, b0 : b0 + nce],
                        iAp[pr, a0 : a0 + nce],
                        iAp[pr + dy, b0 : b0 + nce],
                        Rp[pr, a0 : a0 + nce],
                        Rp[pr + dy, b0 : b0 + nce],
                        iRp[pr, a0 : a0 + nce],
                        iRp[pr + dy, b0 : b0 + nce],
                        inv_h,
                        c_kl,
                        use_kl,
                        rings[q, slot],
                        V,
                        nce,
                        k,
                        D,
                    )
                if i < 0:
                    continue
                _hsum(V, E, D, nc)
                if masked:
                    _hsum(Vcs[q], Cn, D, nc)
                    _row_scatter_masked(
                        E,
                        Cn,
                        mp[prs, sc0 : sc0 + nc],
                        mp[prs + dy, sc0 + dx : sc0 + dx + nc],
                        D2,
                        Ip[prs, sc0 : sc0 + nc],
                        Ip[prs + dy, sc0 + dx : sc0 + dx + nc],
                        Z[ars, ac0 : ac0 + nc],
                        Y[ars, ac0 : ac0 + nc],
                        M[ars, ac0 : ac0 + nc],
                        Z[art, act0 : act0 + nc],
                        Y[art, act0 : act0 + nc],
                        M[art, act0 : act0 + nc],
                        nc,
                        dy == 0,
                    )
                else:
                    _row_scatter(
                        E,
                        Ip[prs, sc0 : sc0 + nc],
                        Ip[prs + dy, sc0 + dx : sc0 + dx + nc],
                        Z[ars, ac0 : ac0 + nc],
                        Y[ars, ac0 : ac0 + nc],
                        M[ars, ac0 : ac0 + nc],
                        Z[art, act0 : act0 + nc],
                        Y[art, act0 : act0 + nc],
                        M[art, act0 : act0 + nc],
                        nc,
                        dy == 0,
                    )
    for i in range(th):
        for j in range(tw):
            ai = hw + i
            aj = hw + j
            m = M[ai, aj]
            if m <= 0.0:
                m = np.float32(1.0)  # isolated valid pixel: keep its own value
            val = Ip[P + r0 + i, P + c0 + j]
            out[r0 + i, c0 + j] = (Y[ai, aj] + m * val) / (Z[ai, aj] + m)


def ppb_iteration(Ip, iAp, Rp, iRp, mp, H, W, hw, hd, inv_h, c_kl, use_kl, masked, tile_h, tile_w):
    """One PPB iteration over an H×W image; returns the new R̂.

    Inputs are padded by hw+hd on every side plus EXTRA_COLS finite columns on the right
    (``pad_input``). Tiles run on ``numba.get_num_threads()`` Python threads: ``_tile`` releases
    the GIL, and each tile writes only its own part of ``out``. A ``prange`` loop did the same but
    its parallel wrapper took as long to compile as the kernel itself, which a fresh install's
    first despeckling paid (docs/despeckling.md)."""
    P = hw + hd
    out = np.empty((H, W), np.float32)
    starts = [(r0, c0) for r0 in range(0, H, tile_h) for c0 in range(0, W, tile_w)]

    def one(start: tuple[int, int]) -> None:
        r0, c0 = start
        r1, c1 = min(r0 + tile_h, H), min(c0 + tile_w, W)
        _tile(Ip, iAp, Rp, iRp, mp, P, r0, r1, c0, c1, hw, hd, inv_h, c_kl, use_kl, masked, out)

    workers = min(numba.get_num_threads(), len(starts))
    if workers <= 1:
        for start in starts:
            one(start)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, starts))  # list(): re-raise a tile's exception here
    return out
