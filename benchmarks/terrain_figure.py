"""Terrain correction on real relief: the shift and the layover/shadow flags over Store Glacier.

The real S1B IW GRDH annotation from ../shared/data/s1-safe-sarsen is moved over the real ArcticDEM
crop of Store Glacier (icecrack_assets_tests/helpers/relocated_safe.py); the region grid is
Jakobshavn's (20 m) centred on the DEM. Prints the figures and writes docs/img/terrain-store-glacier.png.

    .venv/bin/python benchmarks/terrain_figure.py
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"
SOURCE = SHARED / "s1-safe-sarsen/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"
DEM = SHARED / "dem-arcticdem-store-glacier/store_arcticdem_mosaic_32m.tif"


def main() -> None:
    import rasterio
    from lxml import etree
    from pyproj import Transformer

    from icecrack_assets.regions import get_region
    from icecrack_assets.sar.sentinel1.geocode import image_coords, parse_gcps
    from icecrack_assets.sar.sentinel1.range_doppler import parse_geometry
    from icecrack_assets.sar.sentinel1.terrain import Dem, dem_on_grid, terrain_image_coords
    from icecrack_assets_tests.helpers.relocated_safe import build_relocated_safe

    with rasterio.open(DEM) as ds:
        b = ds.bounds
    cx, cy = round((b.left + b.right) / 2000) * 1000, round((b.bottom + b.top) / 2000) * 1000
    jak = get_region("jakobshavn")
    half_w, half_h = jak.width * jak.pixel_size / 2, jak.height * jak.pixel_size / 2
    region = dataclasses.replace(
        jak, name="store", bounds=(cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    )
    lon, lat = Transformer.from_crs(region.epsg, 4326, always_xy=True).transform(cx, cy)
    work = Path(tempfile.mkdtemp(prefix="icecrack-terrain-"))
    safe = build_relocated_safe(
        SOURCE, work, (lon, lat), dt.datetime(2021, 7, 20, 10, tzinfo=dt.timezone.utc)
    )
    ann = etree.parse(str(next((safe / "annotation").glob("*.xml")))).getroot()
    gcps, geometry = parse_gcps(ann), parse_geometry(ann)
    heights = dem_on_grid(Dem(DEM), region.crs, region.transform, region.width, region.height)
    t0 = time.perf_counter()
    tc = terrain_image_coords(
        gcps, geometry, region.crs, region.transform, region.width, region.height, heights
    )
    seconds = time.perf_counter() - t0
    _, pixels0 = image_coords(gcps, region.crs, region.transform, region.width, region.height)
    shift_m = (tc.pixels - pixels0) * geometry.range_spacing
    print(f"grid {region.width}x{region.height} px, {region.pixel_size:g} m; terrain step {seconds:.1f} s")
    print(f"DEM {np.nanmin(heights):.0f}..{np.nanmax(heights):.0f} m; {tc.summary()}")
    print(
        f"ground shift towards the sensor: median {np.nanmedian(-shift_m):.0f} m, max {np.nanmax(-shift_m):.0f} m"
    )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LightSource

    shade = LightSource(azdeg=315, altdeg=45).hillshade(np.nan_to_num(heights), vert_exag=2, dx=20, dy=20)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.3), constrained_layout=True)
    ax[0].imshow(shade, cmap="gray")
    flags = np.zeros(heights.shape + (4,))
    flags[tc.layover] = (1.0, 0.1, 0.1, 0.9)
    flags[tc.shadow] = (0.1, 0.4, 1.0, 0.9)
    ax[0].imshow(flags)
    ax[0].set_title(
        f"ArcticDEM, Store Glacier: layover (red) {tc.layover.mean():.2%}, shadow (blue) {tc.shadow.mean():.2%}",
        fontsize=9,
    )
    im = ax[1].imshow(-shift_m, cmap="viridis")
    fig.colorbar(im, ax=ax[1], shrink=0.8, label="shift towards the sensor (m)")
    ax[1].set_title("where each 20 m pixel is really seen: ground shift from the DEM", fontsize=9)
    for a in ax:
        a.set_xticks([])
        a.set_yticks([])
    out = REPO / "docs/img/terrain-store-glacier.png"
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
