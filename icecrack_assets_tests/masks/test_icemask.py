"""Ice masks: the committed coastline mask on the real region grids, overrides, outlines, errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from icecrack_assets.errors import IceCrackError, InputError
from icecrack_assets.masks.coastline import coastline_ice, nearest_epoch
from icecrack_assets.masks.icemask import mask_outline, resolve_ice_mask
from icecrack_assets.regions import get_region

# Points >= 3 km from the Greene et al. (2022) 2021.2 coastline (EPSG:3031 m), picked on the source
# rings. Amery's AOI lies wholly on the shelf (its front is north of the AOI) and Nickerson's holds
# only ~4 km2 of non-ice near a corner, so those two get shelf points only.
SHELF_POINTS = {
    "amery": (2097000, 704000),
    "fimbul": (-20000, 2160000),
    "nickerson": (-893000, -1276000),
    "shackleton": (2584000, -460000),
    "thwaites": (-1544000, -448000),
}
OCEAN_POINTS = {
    "fimbul": (-58000, 2192000),
    "shackleton": (2664000, -456000),
    "thwaites": (-1610000, -492000),
}


def _pixel(region, x: float, y: float) -> tuple[int, int]:
    col, row = ~region.transform @ (x, y)
    return int(row), int(col)


@pytest.mark.parametrize("name", sorted(SHELF_POINTS))
def test_coastline_mask_keeps_shelf_and_masks_ocean(name: str) -> None:
    region = get_region(name)
    mask = resolve_ice_mask(region, 2023)
    assert mask.source == "coastline" and "2021.2" in mask.detail
    assert mask.ice.shape == (region.height, region.width)
    assert mask.ice[_pixel(region, *SHELF_POINTS[name])]
    if name in OCEAN_POINTS:
        assert not mask.ice[_pixel(region, *OCEAN_POINTS[name])]
        assert 0.05 < mask.ice.mean() < 0.99
    else:
        assert mask.ice.mean() > 0.99  # the AOI is (almost) all ice
    assert mask.ice_km2 == pytest.approx(mask.ice.sum() * (region.pixel_size / 1000) ** 2)


def test_thwaites_front_retreat_between_epochs_is_seen() -> None:
    """Thwaites lost its tongue between 2015 and 2021: the season picks the nearer coastline."""
    assert nearest_epoch(2016) == "2015.2" and nearest_epoch(2024) == "2021.2"
    region = get_region("thwaites")
    early = resolve_ice_mask(region, 2016).ice_km2
    late = resolve_ice_mask(region, 2022).ice_km2
    assert early > late + 500


def test_committed_mask_agrees_with_the_source_rings(shared_data: Path) -> None:
    """Parity of the raw coastline rings at each test point gives the same answer as the committed file."""
    from matplotlib.path import Path as MplPath

    xy = np.genfromtxt(
        shared_data / "antarctic-coastlines-greene2022" / "antarctic_coastline_2021.2.txt",
        delimiter=",",
        skip_header=5,
    )
    breaks = np.flatnonzero(np.isnan(xy[:, 0]))
    rings = [xy[s:e] for s, e in zip(np.r_[0, breaks + 1], np.r_[breaks, len(xy)]) if e - s >= 4]
    points = [(n, p, True) for n, p in SHELF_POINTS.items()] + [
        (n, p, False) for n, p in OCEAN_POINTS.items()
    ]
    for name, point, is_ice in points:
        inside = sum(bool(MplPath(r).contains_point(point)) for r in rings) % 2 == 1
        assert inside == is_ice, (name, point)
        assert coastline_ice(name, 2023).contains(gpd.points_from_xy([point[0]], [point[1]])[0]) == is_ice


def _write_outline(path: Path, geom, crs: str) -> Path:
    gpd.GeoDataFrame({"name": ["ice"]}, geometry=[geom], crs=crs).to_file(path, driver="GPKG")
    return path


def test_override_file_wins_over_coastline_and_sar(tmp_path: Path) -> None:
    region = dataclasses.replace(get_region("thwaites"), pixel_size=1000.0)
    xmin, ymin, xmax, ymax = region.bounds
    left_half = box(xmin, ymin, (xmin + xmax) / 2, ymax)
    _write_outline(tmp_path / "thwaites.gpkg", left_half, region.crs)
    mask = resolve_ice_mask(region, 2023, masks_dir=tmp_path)
    assert mask.source == "override"
    assert mask.ice[:, : region.width // 2].all() and not mask.ice[:, region.width // 2 :].any()
    # the override also beats the SAR rule used for simulated scenes
    assert resolve_ice_mask(region, 2023, masks_dir=tmp_path, simulated=True).source == "override"


def test_outline_in_another_crs_is_reprojected(tmp_path: Path) -> None:
    region = dataclasses.replace(get_region("jakobshavn"), pixel_size=1000.0)
    from pyproj import Transformer

    to_ll = Transformer.from_crs(region.crs, 4326, always_xy=True)
    xmin, ymin, xmax, ymax = region.bounds
    xs = np.linspace(xmin - 5000, xmax + 5000, 50)
    top = [to_ll.transform(x, ymax + 5000) for x in xs]
    mid = [to_ll.transform(x, (ymin + ymax) / 2) for x in xs[::-1]]
    from shapely.geometry import Polygon

    outline = _write_outline(tmp_path / "o.gpkg", Polygon(top + mid), "EPSG:4326")
    mask = resolve_ice_mask(region, 2023, outline=outline)
    assert mask.source == "outline"
    assert mask.ice[: region.height // 2 - 1].all() and not mask.ice[region.height // 2 + 1 :].any()


def test_bad_outlines_are_one_line_errors(tmp_path: Path) -> None:
    region = dataclasses.replace(get_region("jakobshavn"), pixel_size=1000.0)
    with pytest.raises(InputError, match="not found"):
        resolve_ice_mask(region, 2023, outline=tmp_path / "missing.gpkg")
    junk = tmp_path / "junk.gpkg"
    junk.write_text("not a geopackage")
    with pytest.raises(InputError, match="junk.gpkg: not a readable vector file"):
        resolve_ice_mask(region, 2023, outline=junk)
    from shapely.geometry import Point

    points = _write_outline(tmp_path / "points.gpkg", Point(region.bounds[:2]), region.crs)
    with pytest.raises(InputError, match="no polygons"):
        resolve_ice_mask(region, 2023, outline=points)
    with pytest.raises(IceCrackError, match="no scenes to classify"):
        resolve_ice_mask(region, 2023)


def test_mask_outline_is_the_inner_edge() -> None:
    ice = np.zeros((10, 10), bool)
    ice[2:8, 3:9] = True
    edge = mask_outline(ice)
    assert edge.sum() == 2 * 6 + 2 * 4 and not edge[4, 5] and edge[2, 3]


def test_season_files_pick_the_sar_rule_for_simulated_scenes(tmp_path: Path) -> None:
    """Simulated Antarctic scenes are classified from the SAR (the real coastline is not their geography)."""
    from icecrack_assets.masks.icemask import season_ice_mask
    from icecrack_assets_tests.helpers.rasters import write_tiny_raster

    region = dataclasses.replace(get_region("thwaites"), pixel_size=1000.0)  # 80 x 60 px
    rng = np.random.default_rng(0)
    db = np.full((region.height, region.width), -8.0)
    db[:, :20] = -24.0  # open water on the left
    files = []
    for i, p in enumerate(["ascending", "descending"]):
        lin = (10 ** (db / 10) * rng.gamma(50, 1 / 50, db.shape)).astype(np.float32)
        tags = {"ICECRACK_SOURCE": "simulator", "ICECRACK_PASS": p}
        path = write_tiny_raster(
            tmp_path / f"s{i}.tif", lin, epsg=3031, origin=(region.bounds[0], region.bounds[3]), pixel=1000.0
        )
        files.append((path, tags))
    mask = season_ice_mask(region, 2023, files)
    assert mask.source == "sar" and "rock =" in mask.detail
    assert not mask.ice[:, :16].any() and mask.ice[:, 24:].all()
    real = season_ice_mask(region, 2023, [(p, {"ICECRACK_ORBIT_DIRECTION": "ASCENDING"}) for p, _ in files])
    assert real.source == "coastline"
