"""Render the README's crack-map figure from a data root after `icecrack demo`.

Usage: python benchmarks/crack_map_figure.py DATA_ROOT REGION YEAR OUT.png
Left: the first despeckled scene in dB; right: the same with the season's crack mask in red.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image

from icecrack_assets.sar.quicklook import read_decimated_db, to_grey


def main(data_root: str, region: str, year: str, out: str, max_size: int = 560) -> None:
    root = Path(data_root)
    scene = sorted((root / "despeckled" / region / year).glob("S1*.tif"))[0]
    db = read_decimated_db(scene, max_size)
    grey = to_grey(db)
    with rasterio.open(root / "maps" / region / year / f"{region}_{year}_mask.tif") as ds:
        full = ds.read(1) == 1
    # a cell is crack if any of its pixels is, so thin cracks survive the decimation
    step_r, step_c = full.shape[0] // db.shape[0], full.shape[1] // db.shape[1]
    full = full[: db.shape[0] * step_r, : db.shape[1] * step_c]
    mask = full.reshape(db.shape[0], step_r, db.shape[1], step_c).any(axis=(1, 3))
    rgb = np.stack([grey] * 3, -1)
    overlay = rgb.copy()
    overlay[mask] = (255, 40, 40)
    gap = np.full((grey.shape[0], 6, 3), 255, np.uint8)
    Image.fromarray(np.hstack([rgb, gap, overlay])).save(out, optimize=True)
    print(f"wrote {out} ({Path(out).stat().st_size // 1024} KB) from {scene.name}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
