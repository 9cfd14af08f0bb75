"""DEM tiles from a STAC API on 127.0.0.1: search, download, mosaic onto the region grid, cache."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

from icecrack_assets.catalog.dem import cached_tiles, dem_for_region
from icecrack_assets.catalog.stac import StacCatalog
from icecrack_assets.errors import IceCrackError
from icecrack_assets.regions import get_region
from icecrack_assets.sar.sentinel1.terrain import dem_on_grid
from icecrack_assets_tests.helpers.catalog_server import CatalogServer

JAK = get_region("jakobshavn")
COLLECTION = "cop-dem-glo-30"


def _height(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return 1000.0 + 200.0 * (lon + 50.0) + 100.0 * (lat - 69.0)  # a plane in lon/lat


def _tile(lon0: float, lat1: float, deg: float = 1.0, n: int = 120) -> bytes:
    """A GLO-30-like tile: EPSG:4326, ``deg`` degrees square, heights from ``_height``."""
    res = deg / n
    lons = lon0 + (np.arange(n) + 0.5) * res
    lats = lat1 - (np.arange(n) + 0.5) * res
    grid = _height(*np.meshgrid(lons, lats)).astype(np.float32)
    buf = io.BytesIO()
    profile = dict(driver="GTiff", width=n, height=n, count=1, dtype="float32", crs="EPSG:4326")
    with rasterio.MemoryFile() as mem:
        with mem.open(transform=from_origin(lon0, lat1, res, res), nodata=-32767.0, **profile) as ds:
            ds.write(grid, 1)
        buf.write(mem.read())
    return buf.getvalue()


def _publish(srv: CatalogServer, item_id: str, lon0: float, lat1: float) -> None:
    data = _tile(lon0, lat1)
    name = f"{item_id}.tif"
    srv.files[name] = data
    ring = [[lon0, lat1 - 1], [lon0 + 1, lat1 - 1], [lon0 + 1, lat1], [lon0, lat1], [lon0, lat1 - 1]]
    srv.stac_items.append(
        {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": item_id,
            "collection": COLLECTION,
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "bbox": [lon0, lat1 - 1, lon0 + 1, lat1],
            "properties": {"datetime": "2021-04-22T00:00:00Z"},
            "assets": {
                "data": {
                    "href": f"{srv.url}/files/{name}",
                    "type": "image/tiff; application=geotiff",
                    "file:checksum": "1220" + hashlib.sha256(data).hexdigest(),
                    "file:size": len(data),
                }
            },
            "links": [],
        }
    )


def _aoi_tiles() -> set[tuple[int, int]]:
    to_ll = Transformer.from_crs(JAK.epsg, 4326, always_xy=True)
    x0, y0, x1, y1 = JAK.bounds
    xs, ys = np.meshgrid(np.linspace(x0, x1, 30), np.linspace(y0, y1, 30))
    lon, lat = to_ll.transform(xs, ys)
    return {(int(np.floor(a)), int(np.ceil(b))) for a, b in zip(lon.ravel(), lat.ravel())}


def test_dem_tiles_are_searched_mosaicked_and_cached(tmp_path: Path) -> None:
    needed = _aoi_tiles()
    assert len(needed) >= 2  # the AOI straddles tile edges, so this is a real mosaic
    with CatalogServer() as srv:
        for lon0, lat1 in sorted(needed):
            _publish(srv, f"Copernicus_DSM_N{lat1 - 1}_W{-lon0}", lon0, lat1)
        _publish(srv, "far_away", 10, 45)  # must be neither downloaded nor used
        catalog = StacCatalog(srv.stac_url, collection=COLLECTION)
        dem = dem_for_region(catalog, JAK, tmp_path / "dem", geoid_undulation_m=30.0)
        downloads = [path for method, path, _ in srv.log if path.startswith("/files/")]
        assert len(downloads) == len(needed) and not any("far_away" in p for p in downloads)
        assert set(cached_tiles(tmp_path / "dem", JAK, COLLECTION)) == {
            f"Copernicus_DSM_N{b - 1}_W{-a}" for a, b in needed
        }
        before = len(srv.log)
        again = dem_for_region(catalog, JAK, tmp_path / "dem", geoid_undulation_m=30.0)
        assert again.path == dem.path and len(srv.log) == before  # cached: no request at all

    heights = dem_on_grid(dem, JAK.crs, JAK.transform, JAK.width, JAK.height)
    assert np.isfinite(heights).all()
    rows, cols = np.array([10, 700, 1400]), np.array([15, 1000, 1900])
    x, y = JAK.transform * (cols + 0.5, rows + 0.5)
    lon, lat = Transformer.from_crs(JAK.epsg, 4326, always_xy=True).transform(x, y)
    assert heights[rows, cols] == pytest.approx(_height(lon, lat) + 30.0, abs=1.0)


def test_no_dem_tiles_is_one_line(tmp_path: Path) -> None:
    with CatalogServer() as srv:
        _publish(srv, "far_away", 10, 45)
        catalog = StacCatalog(srv.stac_url, collection=COLLECTION)
        with pytest.raises(IceCrackError, match="no DEM tiles") as err:
            dem_for_region(catalog, JAK, tmp_path / "dem")
    assert "\n" not in str(err.value)
    assert not list((tmp_path).rglob("*.tif"))


def test_cli_fetches_the_region_dem_from_stac(tmp_path: Path, shared_data: Path, monkeypatch, capsys) -> None:
    """``icecrack ingest --dem-stac URL``: the mosaic is cached under <data root>/dem and used."""
    import datetime as dt

    from icecrack_assets.cli import main
    from icecrack_assets_tests.helpers.safe_builder import IW_GRDH_NEW, build_tiny_safe

    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "data"))
    when = dt.datetime(2021, 7, 15, 10, 0, tzinfo=dt.timezone.utc)
    # a toy product: its GCPs were moved over Jakobshavn but not its orbit, so once the DEM is
    # there ingest must refuse it (which proves the DEM reached the terrain step)
    tiny = build_tiny_safe(shared_data / IW_GRDH_NEW, tmp_path, JAK, when, lines=300, samples=400)
    with CatalogServer() as srv:
        for lon0, lat1 in sorted(_aoi_tiles()):
            _publish(srv, f"Copernicus_DSM_N{lat1 - 1}_W{-lon0}", lon0, lat1)
        args = ["ingest", str(tiny.path), str(tmp_path / "out.tif"), "--pol", "VV", "--region", "jakobshavn"]
        assert main([*args, "--dem-stac", srv.stac_url, "--dem-geoid-offset", "30"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "orbit and geolocation grid disagree" in err
    assert (tmp_path / "data/dem/jakobshavn-cop-dem-glo-30.tif").exists()
    assert not (tmp_path / "out.tif").exists()
