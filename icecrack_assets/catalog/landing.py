"""The local landing zone: a folder of scenes (GeoTIFFs from the simulator or other processors, and
ESA SAFE products as ``.SAFE`` folders or ``.zip`` files, e.g. downloaded by the STAC/ASF catalogues).

Files still being copied (``.part``, hidden), simulator truth masks (``*.truth.tif``) and names that
are not Sentinel-1 products are not scenes. A file that cannot be described is reported as a
:class:`Problem`, never raised, so one bad file cannot stop a sensor tick.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import rasterio
from pyproj import Transformer

from icecrack_assets.catalog.base import CatalogItem, Problem
from icecrack_assets.errors import IceCrackError, InputError
from icecrack_assets.raster import open_single_band
from icecrack_assets.regions import Region
from icecrack_assets.sar.sentinel1.naming import parse_name

TRUTH_SUFFIX = ".truth.tif"
SCENE_SUFFIXES = (".tif", ".tiff")
SAFE_SUFFIXES = (".zip",)


def is_safe_candidate(path: Path) -> bool:
    """A SAFE product: a ``.zip`` file, or a folder named ``*.SAFE`` or holding ``manifest.safe``."""
    if path.is_dir():
        return path.name.upper().endswith(".SAFE") or (path / "manifest.safe").is_file()
    return path.name.lower().endswith(SAFE_SUFFIXES) and path.is_file()


def is_candidate(path: Path) -> bool:
    """Whether a landing-zone entry should be looked at as a scene at all."""
    name = path.name
    if name.startswith(".") or name.endswith((".part", ".tmp", ".aux.xml")) or name.endswith(TRUTH_SUFFIX):
        return False
    if is_safe_candidate(path):
        return True
    return name.lower().endswith(SCENE_SUFFIXES) and path.is_file()


def describe_safe(path: Path) -> CatalogItem:
    """Describe a SAFE product (folder or zip) from its manifest, or raise a one-line InputError."""
    from icecrack_assets.sar.sentinel1.safe import read_product

    info = read_product(path)
    return CatalogItem(
        scene_id=info.scene_id,
        acquired=info.start,
        mode=info.mode,
        product=info.product,
        polarisations=info.polarisations,
        footprint=tuple((round(lon, 6), round(lat, 6)) for lon, lat in info.footprint),
        href=str(path.resolve()),
        source="landing",
        size=path.stat().st_size if path.is_file() else None,
        extra={"format": "SAFE", "ipf": info.ipf_version, "orbit_direction": info.orbit_direction},
    )


def describe(path: Path) -> CatalogItem:
    """Describe any landing-zone scene: SAFE product or GeoTIFF."""
    return describe_safe(path) if is_safe_candidate(path) else describe_geotiff(path)


def truth_path_for(scene_path: Path) -> Path:
    return scene_path.with_name(scene_path.name.rsplit(".", 1)[0] + TRUTH_SUFFIX)


def describe_geotiff(path: Path) -> CatalogItem:
    """Describe a single-band GeoTIFF scene from its name and tags, or raise a one-line InputError."""
    name = parse_name(path.name)
    if name is None:
        raise InputError(path, "name is not a Sentinel-1 product name (e.g. S1A_IW_GRDH_1SDH_...)")
    with open_single_band(path) as ds:
        tags = ds.tags()
        bounds = ds.bounds
        crs = ds.crs
    to_lonlat = Transformer.from_crs(crs, 4326, always_xy=True)
    xs = [bounds.left, bounds.right, bounds.right, bounds.left]
    ys = [bounds.bottom, bounds.bottom, bounds.top, bounds.top]
    ring = tuple((round(lon, 6), round(lat, 6)) for lon, lat in zip(*to_lonlat.transform(xs, ys)))
    truth = truth_path_for(path)
    pols = tuple(tags.get("POLARISATION", "").split(",")) if tags.get("POLARISATION") else name.polarisations
    return CatalogItem(
        scene_id=path.name.rsplit(".", 1)[0],
        acquired=name.start,
        mode=name.mode,
        product=name.product,
        polarisations=pols,
        footprint=ring,
        href=str(path.resolve()),
        source="landing",
        truth_href=str(truth.resolve()) if truth.exists() else None,
        size=path.stat().st_size,
        extra={k: v for k, v in tags.items() if k.startswith("ICECRACK_") or k in ("LOOKS", "UNITS")},
    )


class LandingZoneCatalog:
    """Scenes already on local disk under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def scan(self) -> tuple[list[CatalogItem], list[Problem]]:
        """Every describable scene in the landing zone, and the problems with the rest."""
        items: list[CatalogItem] = []
        problems: list[Problem] = []
        if not self.root.is_dir():
            return items, problems
        for path in sorted(self.root.iterdir()):
            if not is_candidate(path):
                continue
            try:
                items.append(describe(path))
            except (IceCrackError, rasterio.errors.RasterioError, OSError, ValueError, KeyError) as exc:
                problems.append(Problem(str(path), str(exc)))
        return items, problems

    def search(self, region: Region, start: dt.datetime, end: dt.datetime) -> list[CatalogItem]:
        from icecrack_assets.regions import regions_for

        items, _ = self.scan()
        return [
            it
            for it in items
            if start <= it.acquired <= end
            and it.mode == region.mode
            and not it.product.startswith("SL")
            and region in regions_for(list(it.footprint), it.acquired, it.mode)
        ]

    def fetch(self, item: CatalogItem, landing_dir: Path) -> Path:
        path = Path(item.href)
        if not path.exists():
            raise InputError(path, "scene listed in the landing zone has disappeared")
        return path
