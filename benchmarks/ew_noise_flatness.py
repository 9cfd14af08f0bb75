"""EW GRDM HV noise removal on the real noise and calibration vectors: is a uniform target flat?

Uses the real S1A EW GRDM HH/HV product annotation in ../shared/data/s1-safe-stactools (Kara Sea,
2022-11-30, IPF 3.52). Prints per-sub-swath bias and seam steps before/after noise removal and writes
docs/img/ew-hv-noise-removal.png.

    .venv/bin/python benchmarks/ew_noise_flatness.py [--sigma0-db -22] [--pol hv]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from lxml import etree

from icecrack_assets.sar.sentinel1.calibration import parse_calibration
from icecrack_assets.sar.sentinel1.noise import parse_noise
from icecrack_assets.sar.sentinel1.noise_check import simulate_flatness

REPO = Path(__file__).resolve().parents[1]
PRODUCT = (
    REPO.parent
    / "shared/data/s1-safe-stactools/S1A_EW_GRDM_1SDH_20221130T014342_20221130T014446_046117_058549_BB15"
)
ENL_EW_GRDM = 10.7


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sigma0-db", type=float, default=-24.0, help="uniform target (HV over shelf ice: -20..-25 dB)"
    )
    ap.add_argument("--pol", default="hv", choices=["hh", "hv"])
    ap.add_argument("--out", type=Path, default=REPO / "docs/img/ew-hv-noise-removal.png")
    args = ap.parse_args()

    ann = etree.parse(str(PRODUCT / f"annotation/ew-{args.pol}.xml")).getroot()
    lines = int(ann.findtext("imageAnnotation/imageInformation/numberOfLines"))
    samples = int(ann.findtext("imageAnnotation/imageInformation/numberOfSamples"))
    cal = parse_calibration(
        etree.parse(str(PRODUCT / f"annotation/calibration/calibration-ew-{args.pol}.xml")).getroot()
    )
    noise = parse_noise(
        etree.parse(str(PRODUCT / f"annotation/calibration/noise-ew-{args.pol}.xml")).getroot()
    )
    sigma0 = 10 ** (args.sigma0_db / 10)
    f = simulate_flatness(cal, noise, lines, samples, sigma0, ENL_EW_GRDM, line_step=25)

    print(
        f"EW GRDM {args.pol.upper()} {samples}x{lines}, {lines // 25} lines sampled, target {args.sigma0_db:g} dB"
    )
    print(
        f"NESZ (1st-99th percentile over range) {np.percentile(f.nesz_db, 1):.1f} .. {f.nesz_db.max():.1f} dB"
    )
    print("seam (sample)   step before   step after")
    for s, b, a in zip(f.seams, f.steps_before_db, f.steps_after_db):
        print(f"{s:>12d}   {b:+10.2f} dB  {a:+9.2f} dB")
    print("per-sub-swath bias after removal (dB): " + ", ".join(f"{v:+.2f}" for v in f.swath_bias_after_db))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2), constrained_layout=True)
    ax.plot(f.columns, f.before_db, lw=0.8, color="tab:red", label="calibrated, noise kept")
    ax.plot(f.columns, f.after_db, lw=0.8, color="tab:blue", label="calibrated, noise removed")
    ax.plot(f.columns, f.nesz_db, lw=1.0, color="0.4", ls="--", label="NESZ (noise / A²)")
    ax.axhline(f.truth_db, color="k", lw=0.8, ls=":", label=f"true sigma0 {f.truth_db:g} dB")
    for s in f.seams:
        ax.axvline(s, color="0.7", lw=0.6)
    ax.set_xlabel("range sample (EW1 … EW5, seams in grey)")
    ax.set_ylabel("mean sigma0 over lines (dB)")
    ax.set_title(
        f"Simulated uniform {args.pol.upper()} target through the real EW GRDM noise/calibration vectors "
        "(S1A 2022-11-30, IPF 3.52)",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="upper right")
    ax.set_ylim(min(np.percentile(f.nesz_db, 1), f.truth_db) - 2, max(f.before_db.max(), f.truth_db) + 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
