"""Map-drawn geometries onto the pixels of a raster placed only by GCPs (radar geometry).

Annotations and ice outlines are drawn on a map; a Sentinel-1 crop exported by Nansat or
``gdal_translate`` of a SAFE has only GCPs. Geometries are brought into an equidistant projection
centred on the GCPs (metres, for line widths and densifying), densified to the pixel spacing and
every vertex taken to (column, row) with the thin-plate spline a GDAL warp uses (``GCP_TPS``), so
they land on the pixels a GIS shows them over. The result is in pixel coordinates: rasterise it
with an identity transform (what rasterio reports for a raster without a geotransform).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import rasterio
    from pyproj import CRS
    from rasterio.control import GroundControlPoint
    from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class GcpPixels:
    """How a GCP-only raster's pixels lie on the ground (build with ``gcp_pixels``)."""

    gcps: list[GroundControlPoint]
    gcp_crs: CRS
    local: CRS  # equidistant, metres, centred on the GCPs
    footprint: BaseGeometry  # the GCPs' convex hull in ``local``, two pixels wider
    spacing_m: float

    def to_pixels(self, geoms: Sequence[BaseGeometry]) -> list[BaseGeometry]:
        """``geoms`` (in ``local``) in pixel coordinates: x = column, y = row. All at once: one
        spline and one pass over every vertex (one at a time, 1000 lines took 25 s)."""
        import shapely
        from pyproj import Transformer
        from rasterio.transform import GCPTransformer

        if not len(geoms):
            return []
        back = Transformer.from_crs(self.local, self.gcp_crs, always_xy=True)
        dense = shapely.segmentize(np.asarray(geoms, dtype=object), self.spacing_m)
        with GCPTransformer(self.gcps, tps=True) as tps:

            def vertices(xy: np.ndarray) -> np.ndarray:
                x, y = back.transform(xy[:, 0], xy[:, 1])
                rows, cols = tps.rowcol(np.asarray(x), np.asarray(y), op=lambda v: v)
                return np.column_stack([np.asarray(cols, float), np.asarray(rows, float)])

            return list(shapely.transform(dense, vertices))


def gcp_pixels(gcps: list[GroundControlPoint], gcp_crs: object, spacing_m: float) -> GcpPixels:
    """The ``GcpPixels`` of a raster's GCPs (``ds.gcps``) and its ground spacing (``gcp_spacing``)."""
    from pyproj import CRS, Transformer
    from shapely.geometry import MultiPoint

    src = CRS.from_user_input(gcp_crs)
    lon, lat = Transformer.from_crs(src, "EPSG:4326", always_xy=True).transform(
        [g.x for g in gcps], [g.y for g in gcps]
    )
    local = CRS.from_proj4(
        f"+proj=aeqd +lat_0={float(np.mean(lat))} +lon_0={float(np.mean(lon))} +datum=WGS84 +units=m"
    )
    xy = np.column_stack(Transformer.from_crs("EPSG:4326", local, always_xy=True).transform(lon, lat))
    footprint = MultiPoint(xy).convex_hull.buffer(2 * spacing_m)
    return GcpPixels(list(gcps), src, local, footprint, spacing_m)


def of_raster(ds: rasterio.io.DatasetReader) -> GcpPixels | None:
    """``ds``'s ``GcpPixels`` when it is placed only by GCPs that give a ground spacing, else None
    (a map grid, a plain image, or collinear GCPs / a GCP CRS pyproj cannot read)."""
    from icecrack_assets.raster import gcp_spacing, placed_by_gcps_only

    spacing = gcp_spacing(ds) if placed_by_gcps_only(ds) else None
    if spacing is None:
        return None
    gcps, gcp_crs = ds.gcps
    return gcp_pixels(gcps, gcp_crs, spacing)
