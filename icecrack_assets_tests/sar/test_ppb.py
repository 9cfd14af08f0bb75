"""PPB: the fast numba kernels against a direct per-pixel implementation, and the h / looks tools.

``direct_ppb`` below is the reference semantics written the obvious way (float64, every patch of
every candidate compared pixel by pixel, O(N·W²·D²)); the fast path must match it to float32
rounding, borders and nodata included. The speed benchmark imports it for the speed-up ratio.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from icecrack_assets.sar.despeckle import looks as looks_mod
from icecrack_assets.sar.despeckle.ppb import halo_for, ppb, schedule
from icecrack_assets.sar.despeckle.ppb_kernels import exp_neg_vec, log_vec
from icecrack_assets_tests.helpers.ppb_reference import direct_ppb


def _scene(h: int, w: int, seed: int = 0, L: float = 1.0) -> np.ndarray:
    """A small piecewise-constant scene with an edge, a bright line and a ramp, under gamma speckle."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    clean = np.where(xx < w // 2, 1.0, 4.0) + 0.05 * yy
    clean[h // 3, :] = 20.0
    return (clean * rng.gamma(L, 1.0 / L, size=(h, w))).astype(np.float32)


def _close(fast: np.ndarray, ref: np.ndarray) -> None:
    assert np.array_equal(np.isnan(fast), np.isnan(ref))
    ok = ~np.isnan(ref)
    rel = np.abs(fast[ok] - ref[ok]) / np.abs(ref[ok])
    assert rel.max() < 2e-4, f"max relative difference {rel.max():.2e}"


def test_polynomial_exp_and_log_are_accurate() -> None:
    e = np.linspace(0.0, 80.0, 100_001).astype(np.float32)
    ref = np.exp(-e.astype(np.float64))
    assert np.max(np.abs(exp_neg_vec(e) / ref - 1.0)) < 3e-7
    q = np.geomspace(1.0, 1e12, 100_001).astype(np.float32)
    assert np.max(np.abs(log_vec(q) - np.log(q.astype(np.float64)))) < 2e-6


def test_accumulation_loop_vectorises_without_masked_stores() -> None:
    """M = max(M, w) written as a select became a conditional store that AVX2 vectorised as
    vmaskmovps (microcoded on AMD Zen 3: the weight-and-scatter loop ran 3x slower); the kernels'
    max must compile to plain packed max and unconditional stores."""
    from numba import njit

    from icecrack_assets.sar.despeckle import ppb_kernels as K

    @njit(fastmath=K.FASTMATH)  # the kernels' flags; not cached, so its assembly can be inspected
    def acc(w, Z, Y, M, I, n):
        K._acc(w, Z, Y, M, I, n)

    x = np.ones(64, np.float32)
    acc(x, x.copy(), x.copy(), x.copy(), x.copy(), 64)
    asm = "\n".join(acc.inspect_asm().values())
    assert "maskmov" not in asm
    assert "vmaxps" in asm or "maxps" in asm  # vectorised, not scalar maxss only
    M = np.array([0.5, 2.0, -1.0, 3.0], np.float32)
    acc(
        np.array([1.0, 1.0, 1.0, 1.0], np.float32),
        np.zeros(4, np.float32),
        np.zeros(4, np.float32),
        M,
        np.ones(4, np.float32),
        4,
    )
    np.testing.assert_array_equal(M, [1.0, 2.0, 1.0, 3.0])


def test_fast_matches_direct_two_iterations_with_borders() -> None:
    img = _scene(23, 31, seed=1)
    fast = ppb(img, 1.0, hw=3, hd=1, iterations=2)
    _close(fast, direct_ppb(img, 1.0, hw=3, hd=1, iterations=2))


def test_fast_matches_direct_at_default_windows() -> None:
    img = _scene(30, 26, seed=2, L=4.4)
    fast = ppb(img, 4.4, iterations=2)
    _close(fast, direct_ppb(img, 4.4, iterations=2))


def test_fast_matches_direct_across_column_tiles() -> None:
    img = _scene(20, 530, seed=3, L=2.0)  # wider than one 512-column tile
    _close(
        ppb(img, 2.0, hw=2, hd=2, T=0.4, iterations=2), direct_ppb(img, 2.0, hw=2, hd=2, T=0.4, iterations=2)
    )


def test_fast_matches_direct_with_small_ragged_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tile seams in both directions (ragged last tiles), with nodata straddling a seam."""
    import icecrack_assets.sar.despeckle.ppb as ppb_mod

    monkeypatch.setattr(ppb_mod, "_tiles", lambda H, W: (7, 20))
    img = _scene(23, 45, seed=10)
    img[6:9, 18:23] = np.nan
    _close(ppb(img, 1.0, hw=3, hd=1, iterations=2), direct_ppb(img, 1.0, hw=3, hd=1, iterations=2))


def test_fast_matches_direct_with_nodata() -> None:
    img = _scene(26, 29, seed=4)
    img[5:9, 3:12] = np.nan
    img[0:4, 20:] = 0.0  # zero = nodata when no mask is given
    img[18, 7] = -1.0
    fast = ppb(img, 1.0, hw=3, hd=1, iterations=2)
    ref = direct_ppb(img, 1.0, hw=3, hd=1, iterations=2)
    _close(fast, ref)
    assert np.isnan(fast[6, 5]) and np.isnan(fast[1, 25]) and np.isnan(fast[18, 7])


def test_explicit_valid_mask_and_isolated_pixel() -> None:
    img = _scene(21, 21, seed=5)
    valid = np.ones_like(img, bool)
    valid[:, 15:] = False
    valid[10, 10] = True
    valid[8:13, 8:13] = False
    valid[10, 10] = True  # a lone valid pixel: no valid candidate, keeps its own value
    fast = ppb(img, 1.0, hw=2, hd=1, iterations=2, valid=valid)
    _close(fast, direct_ppb(img, 1.0, hw=2, hd=1, iterations=2, valid=valid))
    assert np.isnan(fast[:, 15:]).all()


def test_staged_schedule_matches_direct() -> None:
    img = _scene(22, 24, seed=6)
    assert [(s.hw, s.hd, s.iterations) for s in schedule(4, 2, 2, staged=True)] == [
        (1, 0, 1),
        (3, 1, 2),
        (4, 2, 2),
    ]
    _close(
        ppb(img, 1.0, hw=4, hd=2, iterations=2, staged=True),
        direct_ppb(img, 1.0, hw=4, hd=2, iterations=2, staged=True),
    )


def test_non_iterative_ppb_with_infinite_T() -> None:
    img = _scene(20, 22, seed=7, L=3.0)
    _close(
        ppb(img, 3.0, hw=3, hd=1, alpha=0.88, T=math.inf, iterations=1),
        direct_ppb(img, 3.0, hw=3, hd=1, alpha=0.88, T=math.inf, iterations=1),
    )


def test_constant_image_is_preserved_and_speckle_is_reduced() -> None:
    const = np.full((40, 40), 0.03, np.float32)
    assert np.allclose(ppb(const, 1.0, hw=3, hd=1, iterations=2), 0.03, rtol=1e-5)
    rng = np.random.default_rng(8)
    noisy = (0.03 * rng.gamma(1.0, 1.0, size=(96, 96))).astype(np.float32)
    out = ppb(noisy, 1.0, hw=5, hd=2, iterations=3)
    assert out.var() < noisy.var() / 10  # strong smoothing of pure speckle
    assert abs(out.mean() / noisy.mean() - 1) < 0.1  # and the radiometry is kept


def test_halo_accounts_for_every_stage() -> None:
    assert halo_for(schedule(10, 3, 4)) == 52
    assert halo_for(schedule(10, 3, 4, staged=True)) == 1 * 1 + 2 * 4 + 3 * 7 + 4 * 13


def test_bad_parameters_raise() -> None:
    img = np.ones((8, 8), np.float32)
    for kw in (
        {"looks": 0.0},
        {"looks": 1.0, "alpha": 1.0},
        {"looks": 1.0, "T": 0.0},
        {"looks": 1.0, "iterations": 0},
    ):
        with pytest.raises(ValueError):
            ppb(img, **kw)


def test_h_monte_carlo_reproduces_the_table() -> None:
    for L, D in ((1.0, 3), (4.4, 5)):
        table = looks_mod.h_white(L, D, 0.92)
        mc = looks_mod.h_monte_carlo(L, D, 0.92, pairs=100_000)
        assert abs(mc / table - 1) < 0.03, (L, D, mc, table)
    # any real L: monotone in L, and deterministic (seeded)
    a = looks_mod.h_white(2.7, 3, 0.92)
    assert looks_mod.h_white(3.0, 3, 0.92) < a < looks_mod.h_white(2.0, 3, 0.92)
    assert looks_mod.h_monte_carlo.__wrapped__(2.7, 3, 0.92) == a


def test_enl_and_scene_h_on_white_and_correlated_speckle() -> None:
    rng = np.random.default_rng(9)
    L = 3.0
    white = rng.gamma(L, 1.0 / L, size=(512, 512)) * np.where(np.arange(512) < 256, 1.0, 5.0)
    assert abs(looks_mod.estimate_enl(white) / L - 1) < 0.1
    h_scene = looks_mod.h_from_scene(white, 7, 0.92)
    assert abs(h_scene / looks_mod.h_white(L, 7, 0.92) - 1) < 0.12
    # correlated speckle (2x2 box average of 1-look speckle): wider statistic, larger h
    s = rng.gamma(1.0, 1.0, size=(513, 513))
    corr = 0.25 * (s[:-1, :-1] + s[1:, :-1] + s[:-1, 1:] + s[1:, 1:])
    enl = looks_mod.estimate_enl(corr)
    assert 3.0 < enl < 5.0
    assert looks_mod.h_from_scene(corr, 7, 0.92) > 1.3 * looks_mod.h_white(enl, 7, 0.92)


_RUN_KERNELS = """
import sys
import numpy as np
from icecrack_assets.sar.despeckle.ppb import ppb
rng = np.random.default_rng(0)
img = (rng.gamma(10.7, 1 / 10.7, (160, 200)) * np.exp(rng.normal(0, 0.3, (160, 200)))).astype(np.float32)
valid = np.ones(img.shape, bool)
valid[:, :40] = False
valid[100:, 150:] = False
np.save(sys.argv[1], ppb(img, 10.7, hw=7, hd=1, alpha=0.97, T=0.5, iterations=2, valid=valid))
"""


@pytest.mark.slow
def test_freshly_compiled_and_cached_kernels_agree_bit_for_bit(tmp_path: Path) -> None:
    """A fresh install's first run (kernels JIT-compiled in the process) and every later run
    (kernels loaded from numba's on-disk cache) must give the same bits, nodata included: with
    fast-math reassociation they differed by ~1e-6 and moved the demo's model."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    outs = [tmp_path / "compiled.npy", tmp_path / "cached.npy"]
    for out in outs:
        subprocess.run([sys.executable, "-c", _RUN_KERNELS, str(out)], env=env, check=True, timeout=600)
    assert any((tmp_path / "numba-cache").rglob("*.nbc")), "the first run wrote no kernel cache"
    compiled, cached = (np.load(o) for o in outs)
    assert np.array_equal(compiled, cached, equal_nan=True)


_WARM_UP_FIRST = (
    "from icecrack_assets.sar.despeckle import ppb as ppb_module, ppb_kernels\n"
    "ppb_module.warm_up_in_background()\n" + _RUN_KERNELS + "stats = ppb_kernels._tile.stats\n"
    "print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))\n"
)


@pytest.mark.slow
def test_a_background_warm_up_compiles_so_the_first_despeckling_loads_instead(tmp_path: Path) -> None:
    """The demo starts the kernels' compile in another process while it simulates: the first
    despeckling must wait for it and load the cached code (a cache hit, no compile of its own),
    and give the same bits as a process that compiled for itself."""
    compiled = tmp_path / "compiled.npy"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache-a")}
    subprocess.run([sys.executable, "-c", _RUN_KERNELS, str(compiled)], env=env, check=True, timeout=600)
    warmed = tmp_path / "warmed.npy"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache-b")}
    run = subprocess.run(
        [sys.executable, "-c", _WARM_UP_FIRST, str(warmed)],
        env=env,
        check=True,
        timeout=600,
        capture_output=True,
        text=True,
    )
    hits, misses = map(int, run.stdout.split())
    assert (hits, misses) == (1, 0)
    assert np.array_equal(np.load(compiled), np.load(warmed), equal_nan=True)


def test_a_hung_warm_up_is_killed_and_the_first_call_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """A background compile that never finishes must not hang despeckling: past the timeout the
    child is killed and the process compiles (or loads) the kernels itself."""
    import time

    from icecrack_assets.sar.despeckle import ppb as ppb_module

    hung = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setattr(ppb_module, "_WARM_UP", hung)
    monkeypatch.setattr(ppb_module, "WARM_UP_TIMEOUT_S", 0.2)
    t0 = time.perf_counter()
    ppb_module._await_warm_up()
    assert time.perf_counter() - t0 < 10
    assert hung.wait(timeout=10) != 0 and ppb_module._WARM_UP is None
