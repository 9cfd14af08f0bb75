"""A region's DEM from a STAC collection of DEM tiles (e.g. Copernicus GLO-30), mosaicked and cached.

The tiles that intersect the region AOI are found through the same STAC client as the scenes
(``StacCatalog.search_items``: paging, credentials, redacted errors), downloaded with the same
resumable, checksum-verified ``download``, warped bilinearly onto the region grid (the first tile
that has a value wins) and written once as ``<cache>/<region>-<collection>.tif`` with a JSON list of
the tiles used. Later runs reuse that file without touching the network.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.warp import reproject

from icecrack_assets.catalog.download import download
from icecrack_assets.catalog.stac import StacCatalog, region_polygon
from icecrack_assets.errors import IceCrackError
from icecrack_assets.files import read_json, write_json_atomic
from icecrack_assets.raster import write_raster_atomic
from icecrack_assets.regions import Region
from icecrack_assets.sar.sentinel1.terrain import Dem

DEM_ASSET_KEYS = ("data", "elevation", "dem")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "dem"


def cached_dem_path(cache_dir: Path, region: Region, collection: str) -> Path:
    return Path(cache_dir) / f"{region.name}-{_slug(collection)}.tif"


def dem_for_region(
    catalog: StacCatalog,
    region: Region,
    cache_dir: Path,
    geoid_undulation_m: float = 0.0,
    asset_keys: tuple[str, ...] = DEM_ASSET_KEYS,
    refresh: bool = False,
) -> Dem:
    """The region's DEM mosaic (cached); raises a one-line IceCrackError when no tile covers it."""
    target = cached_dem_path(cache_dir, region, catalog.collection)
    record = target.with_suffix(".json")
    if target.exists() and record.exists() and not refresh:
        return Dem(target, geoid_undulation_m)
    items = catalog.search_items(region_polygon(region))
    tiles = []
    for d in items:
        assets = d.get("assets", {})
        key = next((k for k in asset_keys if k in assets), None)
        if key is not None:
            tiles.append((str(d.get("id")), assets[key]))
    if not tiles:
        raise IceCrackError(
            f"no DEM tiles in STAC collection {catalog.collection!r} cover region {region.name} "
            f"(looked for assets {', '.join(asset_keys)})"
        )
    tile_dir = Path(cache_dir) / "tiles"
    mosaic = np.full((region.height, region.width), np.nan, dtype=np.float32)
    used = []
    for item_id, asset in sorted(tiles):
        name = _slug(PurePosixPath(urlsplit(asset["href"]).path).name or f"{item_id}.tif")
        local = tile_dir / name
        if not local.exists():
            local = download(
                asset["href"],
                local,
                checksum=asset.get("file:checksum"),
                size=asset.get("file:size"),
                session=catalog.session,
            )
        part = _warp_tile(local, region)
        fill = np.isnan(mosaic) & np.isfinite(part)
        if fill.any():
            mosaic[fill] = part[fill]
            used.append(item_id)
    if not np.isfinite(mosaic).any():
        raise IceCrackError(f"the DEM tiles found for region {region.name} hold no heights inside its AOI")
    profile = dict(
        driver="GTiff",
        crs=region.crs,
        transform=region.transform,
        nodata=np.nan,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
    )
    tags = {"DEM_COLLECTION": catalog.collection, "DEM_TILES": ",".join(used)}
    write_raster_atomic(target, mosaic, profile, tags=tags)
    write_json_atomic(record, {"collection": catalog.collection, "tiles": used, "region": region.name})
    return Dem(target, geoid_undulation_m)


def cached_tiles(cache_dir: Path, region: Region, collection: str) -> list[str]:
    """The tile ids a cached mosaic was built from ([] when there is none)."""
    record = cached_dem_path(cache_dir, region, collection).with_suffix(".json")
    return list(read_json(record)["tiles"]) if record.exists() else []


def _warp_tile(path: Path, region: Region) -> np.ndarray:
    out = np.full((region.height, region.width), np.nan, dtype=np.float32)
    try:
        with rasterio.open(path) as ds:
            if ds.crs is None:
                raise IceCrackError(f"{path}: DEM tile has no CRS")
            reproject(
                rasterio.band(ds, 1),
                out,
                src_nodata=ds.nodata,
                dst_transform=region.transform,
                dst_crs=region.crs,
                dst_nodata=np.nan,
                resampling=Resampling.bilinear,
            )
    except (RasterioIOError, RasterioError) as exc:
        raise IceCrackError(f"{path}: unreadable DEM tile ({str(exc).splitlines()[0][:100]})") from None
    return out
