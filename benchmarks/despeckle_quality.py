"""Despeckling quality: PPB against boxcar, Lee, refined Lee and Frost in one table.

Simulated: scikit-image test images as clean amplitude (clipped >= 1), intensity speckle
Gamma(L, 1/L) with L = 1 and 4.4, one seeded realisation; PSNR and SSIM on amplitude (peak 255),
edge correlation beta (Laplacians of clean vs. estimate, 1 = perfect) and ENL on a flat sky patch.
Real: the single-look crops in ../shared/data/despeckle-real-singlelook (see its README): ENL on a
homogeneous area, mean and variance of the ratio image I/Î (ideal 1 and 1/L), EPD-ROA (edge
preservation from ratios of neighbours, horizontal/vertical; 1 = unchanged edges).

    python benchmarks/despeckle_quality.py [--images camera,moon] [--quick]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from icecrack_assets.sar.despeckle.files import DespeckleSettings, despeckle  # noqa: E402
from icecrack_assets.sar.despeckle.looks import homogeneous_blocks  # noqa: E402

DATA = (
    Path(os.environ.get("ICECRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))
    / "despeckle-real-singlelook"
)

METHODS: dict[str, dict] = {
    "boxcar 7x7": dict(filter="boxcar"),
    "Lee 7x7": dict(filter="lee"),
    "refined Lee 7x7": dict(filter="refined-lee"),
    "Frost 7x7": dict(filter="frost"),
    "PPB non-it (a.88, T=inf, 1 it)": dict(filter="ppb", alpha=0.88, T=math.inf, iterations=1),
    "PPB it (defaults, 4 it)": dict(filter="ppb"),
    "PPB staged": dict(filter="ppb", staged=True),
}


def clean_image(name: str) -> np.ndarray:
    import skimage.color
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 3:
        img = skimage.color.rgb2gray(img[..., :3]) * 255.0
    return np.maximum(img.astype(np.float64), 1.0)


def psnr(a: np.ndarray, ref: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a - ref) ** 2)))


def ssim(a: np.ndarray, ref: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, ref, data_range=255.0))


def edge_beta(a: np.ndarray, ref: np.ndarray) -> float:
    """Sattar et al.'s edge-correlation beta between Laplacians (1 = edges kept exactly)."""
    from scipy import ndimage

    la, lr = ndimage.laplace(a), ndimage.laplace(ref)
    la, lr = la - la.mean(), lr - lr.mean()
    return float((la * lr).sum() / math.sqrt((la * la).sum() * (lr * lr).sum()))


def enl(I: np.ndarray) -> float:
    """mean²/var of intensity over the valid pixels."""
    I = I[np.isfinite(I)]
    return float(I.mean() ** 2 / I.var())


def epd_roa(est: np.ndarray, noisy: np.ndarray, axis: int) -> float:
    """EPD-ROA on amplitude: sum Â(p)/Â(p+1) / sum A(p)/A(p+1) along an axis (Feng et al. 2011);
    1 = neighbour contrasts unchanged, lower = smoothed (it mixes edges and speckle: read with ENL)."""
    a, e = np.sqrt(noisy.astype(np.float64)), np.sqrt(est.astype(np.float64))
    n = a.shape[axis] - 1
    a0, a1 = np.take(a, range(n), axis), np.take(a, range(1, n + 1), axis)
    e0, e1 = np.take(e, range(n), axis), np.take(e, range(1, n + 1), axis)
    ok = (a0 > 0) & (a1 > 0) & (e0 > 0) & (e1 > 0) & np.isfinite(e0) & np.isfinite(e1)
    return float((e0[ok] / e1[ok]).sum() / (a0[ok] / a1[ok]).sum())


def simulated(images: list[str], looks: list[float]) -> list[dict]:
    rows = []
    for name in images:
        A = clean_image(name)
        for L in looks:
            rng = np.random.default_rng(0)
            I = (A**2 * rng.gamma(L, 1.0 / L, A.shape)).astype(np.float32)
            ests = {"noisy": I}
            secs = {"noisy": 0.0}
            for label, kw in METHODS.items():
                t = time.perf_counter()
                ests[label] = despeckle(I, DespeckleSettings(looks=L, **kw))
                secs[label] = time.perf_counter() - t
            for label, est in ests.items():
                amp = np.sqrt(np.maximum(est.astype(np.float64), 0))
                row = dict(
                    image=name,
                    L=L,
                    method=label,
                    psnr=psnr(amp, A),
                    ssim=ssim(amp, A),
                    beta=edge_beta(amp, A),
                    seconds=secs[label],
                )
                if name == "camera":  # 100x100 sky region, as in the research notes
                    row["enl_sky"] = enl(est[20:120, 300:400].astype(np.float64))
                rows.append(row)
    return rows


def load_real() -> dict[str, tuple[np.ndarray, tuple[slice, slice] | None]]:
    """Real single-look crops as intensity, each with an ENL area (given or found)."""
    out: dict[str, tuple[np.ndarray, tuple[slice, slice] | None]] = {}
    if not DATA.is_dir():
        return out
    import rasterio
    import scipy.io

    for p in sorted((DATA / "whu-s1-vh").glob("*.tif")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(p) as ds:
                a = ds.read(1).astype(np.float64)
        out[f"S1 VH {p.stem.split('_')[-3]}"] = (a**2, None)
    mat = DATA / "despeckcl-insar" / "insar_test_data.mat"
    if mat.exists():
        out["despeckCL master"] = (scipy.io.loadmat(mat)["ampl_master"].astype(np.float64) ** 2, None)
    mat = DATA / "gnlm-clip" / "clip_T1.mat"
    if mat.exists():
        m = scipy.io.loadmat(mat)
        area = m["enl_area"]
        x1, x2, y1, y2 = (int(area[k][0][0][0][0]) for k in ("x1", "x2", "y1", "y2"))
        out["GNLM clip_T1"] = (m["noisy"].astype(np.float64) ** 2, (slice(y1 - 1, y2), slice(x1 - 1, x2)))
    return out


def real(quick: bool) -> list[dict]:
    rows = []
    for name, (I, area) in load_real().items():
        I = I.astype(np.float32)
        valid = np.isfinite(I) & (I > 0)
        if area is None:  # the most homogeneous 32x32 block
            r, c = homogeneous_blocks(I, valid, 32, fraction=0.0, min_blocks=1)[0]
            area = (slice(r, r + 32), slice(c, c + 32))
        methods = {"noisy": None, **METHODS}
        if quick:
            methods = {
                k: v for k, v in methods.items() if k in ("noisy", "Lee 7x7", "PPB it (defaults, 4 it)")
            }
        for label, kw in methods.items():
            est = I if kw is None else despeckle(I, DespeckleSettings(looks=1.0, **kw))
            ok = valid & np.isfinite(est) & (est > 0)
            ratio = np.where(ok, I / np.where(ok, est, 1), np.nan)
            rows.append(
                dict(
                    image=name,
                    method=label,
                    enl=enl(est[area].astype(np.float64)),
                    mor=float(np.nanmean(ratio)),
                    vor=float(np.nanvar(ratio)),
                    mor_area=float(np.nanmean(ratio[area])),
                    epd_h=epd_roa(est, I, 1),
                    epd_v=epd_roa(est, I, 0),
                )
            )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default="camera,moon,coins,astronaut")
    ap.add_argument("--looks", default="1,4.4")
    ap.add_argument("--quick", action="store_true", help="camera only, fewer real-data methods")
    args = ap.parse_args()
    images = ["camera"] if args.quick else args.images.split(",")
    looks = [float(x) for x in args.looks.split(",")]
    print(f"load average {os.getloadavg()[0]:.2f}\n")
    print("## Simulated speckle (amplitude PSNR dB / SSIM / edge beta; ENL on cameraman sky)\n")
    print("| image | L | method | PSNR | SSIM | beta | ENL sky | s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in simulated(images, looks):
        print(
            f"| {r['image']} | {r['L']:g} | {r['method']} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
            f"{r['beta']:.3f} | {r.get('enl_sky', float('nan')):.0f} | {r['seconds']:.2f} |"
        )
    rows = real(args.quick)
    if rows:
        print(
            "\n## Real single-look crops (L=1): ENL on a homogeneous area, ratio image I/Î "
            "(ideal mean 1, var 1), EPD-ROA H/V (1 = edges unchanged)\n"
        )
        print("| crop | method | ENL | mean ratio | var ratio | mean ratio (area) | EPD-ROA H | EPD-ROA V |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['image']} | {r['method']} | {r['enl']:.1f} | {r['mor']:.3f} | {r['vor']:.3f} | "
                f"{r['mor_area']:.3f} | {r['epd_h']:.3f} | {r['epd_v']:.3f} |"
            )
    else:
        print(f"\n(real crops not found at {DATA}; set ICECRACK_SHARED_DATA)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
