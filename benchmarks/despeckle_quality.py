"""Despeckling quality: PPB (parameters following L) against boxcar, Lee, refined Lee, Frost and
SAR2SAR, every image at every number of looks.

Simulated: scikit-image test images (natural and textured) as clean amplitude (clipped >= 1),
intensity speckle Gamma(L, 1/L) at L = 1, 2, 4.4, 10.7 and 30 (a high-ENL composite), one
realisation with seed 0 (the PPB table was calibrated with seed 101 on CALIBRATION_IMAGES only);
PSNR and SSIM on amplitude (peak 255). SAR2SAR (deepdespeckling 0.8, the optional ``bench`` extra)
runs at L = 1 only, its input domain. Real: the single-look crops in
../shared/data/despeckle-real-singlelook (see its README): ENL on a homogeneous area, mean and
variance of the ratio image I/Î (ideal 1 and 1/L), EPD-ROA (1 = neighbour contrasts unchanged).

    python benchmarks/despeckle_quality.py [--images camera,brick] [--looks 1,4.4] [--quick]
    pip install -c constraints.txt -e '.[bench]'   # for the SAR2SAR column
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

# Standard test images (scikit-image): natural and textured. The PPB table is calibrated on
# CALIBRATION_IMAGES only (benchmarks/ppb_calibration.py, its own speckle seed); the others are held out.
IMAGES = ("camera", "astronaut", "coffee", "chelsea", "moon", "coins", "brick", "grass", "gravel", "text")
CALIBRATION_IMAGES = ("camera", "coffee", "moon", "brick", "grass")
CLASSICAL: dict[str, dict] = {
    "boxcar 7x7": dict(filter="boxcar"),
    "Lee 7x7": dict(filter="lee"),
    "refined Lee 7x7": dict(filter="refined-lee"),
    "Frost 7x7": dict(filter="frost"),
}

LOOKS = (1.0, 2.0, 4.4, 10.7, 30.0)
PPB: dict[str, dict] = {
    "PPB (L-dependent)": dict(filter="ppb"),
    "PPB reference": dict(filter="ppb", preset="reference"),
}
METHODS: dict[str, dict] = {**PPB, **CLASSICAL}
SAR2SAR = "SAR2SAR"


def clean_image(name: str) -> np.ndarray:
    import skimage.color
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 3:
        img = skimage.color.rgb2gray(img[..., :3]) * 255.0
    return np.maximum(img.astype(np.float64), 1.0)


def speckle(A: np.ndarray, L: float, seed: int) -> np.ndarray:
    """Intensity A² times unit-mean Gamma(L, 1/L) speckle (float32), one seeded realisation."""
    rng = np.random.default_rng(seed)
    return (A**2 * rng.gamma(L, 1.0 / L, A.shape)).astype(np.float32)


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


def sar2sar_available() -> str | None:
    """None when SAR2SAR can run, else the reason."""
    try:
        _sar2sar_denoiser()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _sar2sar_denoiser():
    """deepdespeckling's SAR2SAR. Its utils import GDAL (``osgeo``) at import time although only
    its .cos/.tiff readers use it, and the package does not declare it: a stub module stands in
    when GDAL is absent (arrays are passed directly)."""
    import types

    try:
        import osgeo  # noqa: F401
    except ImportError:
        stub = types.ModuleType("osgeo")
        stub.gdal = types.ModuleType("osgeo.gdal")  # type: ignore[attr-defined]
        sys.modules.setdefault("osgeo", stub)
        sys.modules.setdefault("osgeo.gdal", stub.gdal)  # type: ignore[attr-defined]
    os.environ.setdefault("TQDM_DISABLE", "1")
    from deepdespeckling.sar2sar.sar2sar_denoiser import Sar2SarDenoiser

    return Sar2SarDenoiser


def sar2sar(I: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """SAR2SAR on amplitude scale·sqrt(I); returns intensity (scale removed).

    Its log normalisation is fixed (TerraSAR-X amplitudes, about 0.24..24 000), so real crops in
    other units are scaled first. Images smaller than its 256² patch are mirrored up to 256 and
    cropped back. torch >= 2.6 loads with weights_only=True: the packaged checkpoint holds a numpy
    scalar, allow-listed here (the wheel is pinned, MIT, from PyPI).
    """
    import contextlib
    import io

    import numpy._core.multiarray as multiarray
    import torch

    H, W = I.shape
    amp = scale * np.sqrt(np.maximum(I.astype(np.float64), 0.0))
    amp = np.pad(amp, ((0, max(0, 256 - H)), (0, max(0, 256 - W))), mode="symmetric").astype(np.float32)
    allowed = [(multiarray.scalar, "numpy.core.multiarray.scalar"), np.dtype, type(np.dtype("float64"))]
    with contextlib.redirect_stdout(io.StringIO()), torch.serialization.safe_globals(allowed):
        out = _sar2sar_denoiser()().denoise_image(amp, patch_size=256, stride_size=254)["denoised"]
    return ((np.asarray(out, np.float64)[:H, :W] / scale) ** 2).astype(np.float32)


def simulated(images: list[str], looks: list[float], with_sar2sar: bool) -> list[dict]:
    """One row per (image, L): PSNR, SSIM and seconds of every method."""
    rows = []
    for name in images:
        A = clean_image(name)
        for L in looks:
            I = speckle(A, L, seed=0)
            row: dict = dict(image=name, L=L, psnr={}, ssim={}, seconds={})
            methods: dict[str, object] = {k: v for k, v in METHODS.items()}
            if with_sar2sar and L == 1.0:
                methods[SAR2SAR] = None
            for label, kw in methods.items():
                t = time.perf_counter()
                est = sar2sar(I) if kw is None else despeckle(I, DespeckleSettings(looks=L, **kw))
                row["seconds"][label] = time.perf_counter() - t
                amp = np.sqrt(np.maximum(est.astype(np.float64), 0))
                row["psnr"][label] = psnr(amp, A)
                row["ssim"][label] = ssim(amp, A)
            print(f"  {name} L={L:g} done [load {os.getloadavg()[0]:.1f}]", file=sys.stderr, flush=True)
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


def real(quick: bool, with_sar2sar: bool) -> list[dict]:
    rows = []
    for name, (I, area) in load_real().items():
        I = I.astype(np.float32)
        valid = np.isfinite(I) & (I > 0)
        if area is None:  # the most homogeneous 32x32 block
            r, c = homogeneous_blocks(I, valid, 32, fraction=0.0, min_blocks=1)[0]
            area = (slice(r, r + 32), slice(c, c + 32))
        methods: dict[str, object] = {"noisy": None, **METHODS}
        if quick:
            methods = {k: v for k, v in methods.items() if k in ("noisy", "Lee 7x7", "PPB (L-dependent)")}
        if with_sar2sar:
            methods[SAR2SAR] = SAR2SAR
        for label, kw in methods.items():
            if kw is None:
                est = I
            elif kw == SAR2SAR:
                # amplitudes scaled so their 99th percentile is 255, the simulated images' range
                scale = 255.0 / float(np.percentile(np.sqrt(I[valid]), 99))
                est = np.where(valid, sar2sar(np.where(valid, I, 0.0), scale), np.nan).astype(np.float32)
            else:
                est = despeckle(I, DespeckleSettings(looks=1.0, **kw))  # type: ignore[arg-type]
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


def print_simulated(rows: list[dict], with_sar2sar: bool) -> None:
    labels = list(METHODS) + ([SAR2SAR] if with_sar2sar else [])
    print("| image | L | " + " | ".join(labels) + " | PPB (L) − best classical |")
    print("|---|---|" + "---|" * len(labels) + "---|")
    worst = float("inf")
    for r in rows:
        best = max(r["psnr"][k] for k in CLASSICAL)
        margin = r["psnr"]["PPB (L-dependent)"] - best
        worst = min(worst, margin)
        cells = [f"{r['psnr'][k]:.2f} / {r['ssim'][k]:.3f}" if k in r["psnr"] else "–" for k in labels]
        star = "*" if r["image"] in CALIBRATION_IMAGES else ""
        print(f"| {r['image']}{star} | {r['L']:g} | " + " | ".join(cells) + f" | {margin:+.2f} |")
    print(f"\nworst margin of PPB (L-dependent) over the best classical filter: {worst:+.2f} dB")
    secs = {k: np.mean([r["seconds"][k] for r in rows if k in r["seconds"]]) for k in labels}
    print("mean seconds per image: " + ", ".join(f"{k} {v:.2f}" for k, v in secs.items() if np.isfinite(v)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default=",".join(IMAGES))
    ap.add_argument("--looks", default=",".join(f"{L:g}" for L in LOOKS))
    ap.add_argument("--quick", action="store_true", help="camera at L=1 and 4.4, fewer real-data methods")
    ap.add_argument("--no-sar2sar", action="store_true", help="skip SAR2SAR even if installed")
    ap.add_argument("--no-real", action="store_true", help="skip the real single-look crops")
    args = ap.parse_args()
    images = ["camera"] if args.quick else args.images.split(",")
    looks = [1.0, 4.4] if args.quick else [float(x) for x in args.looks.split(",")]
    why_not = "disabled (--no-sar2sar)" if args.no_sar2sar else sar2sar_available()
    print(f"load average {os.getloadavg()[0]:.2f}; SAR2SAR: {why_not or 'deepdespeckling 0.8'}\n")
    print(
        "## Simulated speckle: amplitude PSNR (dB) / SSIM, seed 0 "
        "(* = image the PPB table was calibrated on, with another seed)\n"
    )
    print_simulated(simulated(images, looks, why_not is None), why_not is None)
    rows = [] if args.no_real else real(args.quick, why_not is None)
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
    elif not args.no_real:
        print(f"\n(real crops not found at {DATA}; set ICECRACK_SHARED_DATA)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
