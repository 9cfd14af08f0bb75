"""Build the committed Antarctic ice masks from Greene et al. (2022)'s coastlines (MIT licence).

The source files (``antarctic_coastline_<decyear>.txt``, EPSG:3031 metres) hold closed rings that bound
regions of ice, traced from a 240 m ice mask and separated by ``NaN,NaN`` rows. Ice is the even-odd
interior of those rings (a ring inside another is a hole), clipped to each Antarctic AOI in
``regions.py`` and simplified to the region's processing pixel size, so the committed file stays small.

Usage (reproduces ``icecrack_assets/regions_data/antarctic_ice_greene2022.gpkg`` byte-for-byte in content)::

    .venv/bin/python tools/build_ice_shelf_masks.py ../shared/data/antarctic-coastlines-greene2022
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from shapely import make_valid
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from icecrack_assets.masks.coastline import (
    COASTLINE_EPOCHS,
    COASTLINE_FILE,
    SOURCE_CITATION,
)
from icecrack_assets.regions import ANTARCTIC_REGIONS, get_region


def read_rings(path: Path) -> list[np.ndarray]:
    """The closed rings of one coastline file (N x 2 arrays, EPSG:3031 metres)."""
    xy = np.genfromtxt(path, delimiter=",", skip_header=5, dtype=np.float64)
    breaks = np.flatnonzero(np.isnan(xy[:, 0]))
    starts, ends = np.r_[0, breaks + 1], np.r_[breaks, len(xy)]
    return [xy[s:e] for s, e in zip(starts, ends) if e - s >= 4]


def ice_in_box(rings: list[np.ndarray], bounds: tuple[float, float, float, float]) -> BaseGeometry:
    """Even-odd union of the rings' interiors, clipped to ``bounds``."""
    clip = box(*bounds)
    ice: BaseGeometry = Polygon()
    for ring in rings:
        lo, hi = ring.min(axis=0), ring.max(axis=0)
        if hi[0] < bounds[0] or lo[0] > bounds[2] or hi[1] < bounds[1] or lo[1] > bounds[3]:
            continue
        part = make_valid(Polygon(ring)).intersection(clip)
        if not part.is_empty:
            ice = ice.symmetric_difference(part)
    return ice


def polygons_only(geom: BaseGeometry) -> MultiPolygon:
    parts = getattr(geom, "geoms", [geom])
    polys = []
    for g in parts:
        if isinstance(g, Polygon) and not g.is_empty:
            polys.append(g)
        elif isinstance(g, MultiPolygon):
            polys.extend(g.geoms)
    return MultiPolygon(polys)


def build(source_dir: Path, out: Path) -> Path:
    import geopandas as gpd

    rows = []
    for epoch in COASTLINE_EPOCHS:
        rings = read_rings(source_dir / f"antarctic_coastline_{epoch}.txt")
        for name in ANTARCTIC_REGIONS:
            region = get_region(name)
            ice = ice_in_box(rings, region.bounds)
            ice = polygons_only(ice.simplify(region.pixel_size / 2, preserve_topology=True))
            aoi_km2 = box(*region.bounds).area / 1e6
            rows.append(
                {
                    "region": name,
                    "decyear": float(epoch),
                    "ice_km2": round(ice.area / 1e6, 3),
                    "aoi_km2": round(aoi_km2, 3),
                    "source": SOURCE_CITATION,
                    "licence": "MIT (c) 2021 Chad A. Greene",
                    "geometry": ice,
                }
            )
            print(f"{epoch} {name:11s} ice {ice.area / 1e6:8.1f} km2 of {aoi_km2:8.1f} km2 AOI")
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:3031")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp.gpkg")
    tmp.unlink(missing_ok=True)
    gdf.to_file(tmp, layer="ice", driver="GPKG")
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source_dir", type=Path, help="folder with antarctic_coastline_<decyear>.txt")
    parser.add_argument("--out", type=Path, default=COASTLINE_FILE)
    args = parser.parse_args(argv)
    for epoch in COASTLINE_EPOCHS:
        if not (args.source_dir / f"antarctic_coastline_{epoch}.txt").is_file():
            print(f"{args.source_dir}: antarctic_coastline_{epoch}.txt not found", file=sys.stderr)
            return 2
    print(f"wrote {build(args.source_dir, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
