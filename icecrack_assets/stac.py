"""STAC metadata of the crack maps, so STAC browsers and QGIS can find and open the results.

One item per year x region map (projection, raster and file extensions; ``derived_from`` links to
the scenes it was made from and to the model bundle) and one catalogue over every mapped partition.
Hrefs are relative, so the data root can be moved or served as a static catalogue as it is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import rasterio

from icecrack_assets.files import write_json_atomic

# role, media type and description of each product file, by its key in CrackProductPaths
GEOTIFF = "image/tiff; application=geotiff"
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
PRODUCTS: dict[str, tuple[str, str, str]] = {
    "probability": ("data", COG, "crack probability 0..1 (float32, NaN = no data / not ice)"),
    "mask": ("data", GEOTIFF, "crack mask (uint8: 1 crack, 0 no crack, 255 no data)"),
    "vectors": ("data", "application/geopackage+sqlite3", "crack polygons and centre lines"),
    "density": ("data", GEOTIFF, "crack density, km of crack per km² of ice"),
    "orientation": ("data", GEOTIFF, "crack orientation, degrees counter-clockwise from grid east"),
    "ice_mask": ("metadata", GEOTIFF, "ice mask (uint8: 1 ice, 0 not ice)"),
    "backscatter": ("overview", COG, "season mean backscatter, dB"),
    "quicklook": ("thumbnail", "image/png", "quick-look map: cracks over backscatter | probability"),
}
UNITS = {"probability": "1", "density": "km/km2", "orientation": "degree", "backscatter": "dB"}


@dataclass(frozen=True)
class MapItemInputs:
    """What the STAC item of one season's crack map says (all paths absolute)."""

    region: str
    year: int
    season_start: dt.datetime
    season_end: dt.datetime
    footprint_lonlat: Sequence[tuple[float, float]]  # AOI polygon in lon/lat
    files: dict[str, Path]  # product key (see PRODUCTS) -> file
    # scene id -> the scene file it was mapped from (despeckled, or raw for a raw-input model)
    scenes: dict[str, Path]
    bundle: Path
    properties: dict[str, object]  # summary figures (crack area, density, threshold, ...)


def _sha256_multihash(path: Path) -> str:
    """The file extension's checksum: a multihash (0x12 = sha2-256, 0x20 = 32 bytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "1220" + digest.hexdigest()


def _relative(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(path, start)


def crack_map_item(inputs: MapItemInputs, item_path: Path):
    """A ``pystac.Item`` for one crack map, with hrefs relative to ``item_path``'s folder."""
    import pystac
    from pystac.extensions.file import FileExtension
    from pystac.extensions.projection import ProjectionExtension
    from pystac.extensions.raster import DataType, RasterBand, RasterExtension

    ring = [list(p) for p in inputs.footprint_lonlat]
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    folder = item_path.parent
    item = pystac.Item(
        id=f"{inputs.region}_{inputs.year}",
        geometry={"type": "Polygon", "coordinates": [ring]},
        bbox=[min(lons), min(lats), max(lons), max(lats)],
        datetime=None,
        start_datetime=inputs.season_start,
        end_datetime=inputs.season_end,
        properties={
            "title": f"Crevasses, {inputs.region} {inputs.year} season",
            "icecrack:region": inputs.region,
            "icecrack:year": inputs.year,
            **{f"icecrack:{k}": v for k, v in inputs.properties.items()},
        },
    )
    probability = inputs.files["probability"]
    with rasterio.open(probability) as ds:
        epsg = ds.crs.to_epsg()
        shape = [ds.height, ds.width]
        transform = list(ds.transform)[:6]
        proj_bbox = list(ds.bounds)
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.apply(epsg=epsg, shape=shape, transform=transform, bbox=proj_bbox)
    for key, path in inputs.files.items():
        role, media, title = PRODUCTS[key]
        asset = pystac.Asset(href=_relative(path, folder), media_type=media, title=title, roles=[role])
        item.add_asset(key, asset)
        FileExtension.ext(asset, add_if_missing=True).apply(
            size=path.stat().st_size, checksum=_sha256_multihash(path)
        )
        if path.suffix == ".tif":
            with rasterio.open(path) as ds:
                dtype, nodata, res = ds.dtypes[0], ds.nodata, ds.res[0]
                if [ds.height, ds.width] != shape:
                    ProjectionExtension.ext(asset, add_if_missing=True).apply(
                        shape=[ds.height, ds.width], transform=list(ds.transform)[:6]
                    )
            band = RasterBand.create(
                data_type=DataType(dtype),
                nodata="nan" if nodata is not None and nodata != nodata else nodata,
                spatial_resolution=float(res),
                unit=UNITS.get(key),
            )
            RasterExtension.ext(asset, add_if_missing=True).apply(bands=[band])
    for scene_id, path in sorted(inputs.scenes.items()):
        item.add_link(
            pystac.Link(
                "derived_from",
                _relative(path, folder),
                GEOTIFF,
                title=f"scene {scene_id} as the model saw it",
            )
        )
    item.add_link(
        pystac.Link(
            "derived_from",
            _relative(inputs.bundle, folder),
            "application/json",
            title=f"model bundle {inputs.bundle.name}",
        )
    )
    return item


def write_item(item, path: Path) -> Path:
    """The item as JSON (relative hrefs kept), written atomically."""
    d = item.to_dict(include_self_link=False, transform_hrefs=False)
    return write_json_atomic(path, d)


def write_catalog(catalog_path: Path, item_paths: Sequence[Path], title: str = "IceCrack crack maps") -> Path:
    """A STAC catalogue linking every item (relative hrefs), written atomically."""
    import pystac

    catalog = pystac.Catalog(
        id="icecrack-crack-maps",
        description=f"{title}: one item per region and season (year).",
        title=title,
    )
    d = catalog.to_dict(include_self_link=False, transform_hrefs=False)
    d["links"] = [
        {"rel": "root", "href": "./" + catalog_path.name, "type": "application/json", "title": title}
    ] + [
        {
            "rel": "item",
            "href": _relative(p, catalog_path.parent),
            "type": "application/geo+json",
            "title": json.loads(p.read_text()).get("properties", {}).get("title", p.parent.name),
        }
        for p in sorted(item_paths)
    ]
    return write_json_atomic(catalog_path, d)


def footprint_lonlat(bounds: Sequence[float], crs: str, per_edge: int = 8) -> list[tuple[float, float]]:
    """The AOI rectangle (metres of ``crs``) as a lon/lat ring, edges densified: in polar
    stereographic a straight grid edge is a curve in longitude and latitude."""
    from pyproj import Transformer

    xmin, ymin, xmax, ymax = bounds
    t = [i / per_edge for i in range(per_edge)]
    xs = [xmin + (xmax - xmin) * f for f in t] + [xmax] * per_edge
    ys = [ymin] * per_edge + [ymin + (ymax - ymin) * f for f in t]
    xs += [xmax - (xmax - xmin) * f for f in t] + [xmin] * per_edge
    ys += [ymax] * per_edge + [ymax - (ymax - ymin) * f for f in t]
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(xs, ys)
    ring = [(round(float(a), 6), round(float(b), 6)) for a, b in zip(lon, lat)]
    return ring + [ring[0]]
