"""gcp_pixels: map geometries onto a GCP-only raster's pixels."""

from __future__ import annotations

import numpy as np
from affine import Affine
from pyproj import Transformer
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from shapely.geometry import LineString, Point

from icecrack_assets.gcp_pixels import gcp_pixels


def test_points_and_lines_land_on_the_pixels_the_gcps_place_them_on():
    # a rotated 40 m grid in polar stereographic, known only through GCPs in lon/lat
    grid = Affine.translation(-200_000, -2_260_000) * Affine.rotation(17) * Affine.scale(40, -40)
    to_ll = Transformer.from_crs(3413, 4326, always_xy=True)
    gcps = []
    for row in range(0, 201, 25):
        for col in range(0, 301, 25):
            lon, lat = to_ll.transform(*(grid @ (col, row)))
            gcps.append(GroundControlPoint(row=row, col=col, x=lon, y=lat))
    place = gcp_pixels(gcps, CRS.from_epsg(4326), 40.0)
    to_local = Transformer.from_crs(3413, place.local, always_xy=True)
    for col, row in [(10.5, 20.5), (150.25, 99.75), (290.0, 190.0)]:
        (p,) = place.to_pixels([Point(*to_local.transform(*(grid @ (col, row))))])
        assert abs(p.x - col) < 0.05 and abs(p.y - row) < 0.05
    # a 4 km line is densified to the pixel spacing: its vertices follow the grid, ~100 of them
    ends = [to_local.transform(*(grid @ xy)) for xy in ((20, 30), (120, 30))]
    line, empty = place.to_pixels([LineString(ends), Point()])
    assert empty.is_empty and place.to_pixels([]) == []
    xy = np.asarray(line.coords)
    assert len(xy) >= 100 and np.allclose(xy[:, 1], 30, atol=0.05)
    assert place.footprint.contains(Point(*to_local.transform(*(grid @ (150, 100)))))
    assert not place.footprint.contains(Point(*to_local.transform(*(grid @ (400, 100)))))
