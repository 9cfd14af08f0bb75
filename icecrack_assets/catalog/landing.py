"""The local landing zone: a folder of scenes (GeoTIFFs from the simulator or other processors, and
ESA SAFE products as ``.SAFE`` folders or ``.zip`` files, e.g. downloaded by the STAC/ASF catalogues).

Files still being copied (``.part``, hidden), simulator truth masks (``*.truth.tif``) and names that
are not Sentinel-1 products are not scenes. A file that cannot be described is reported as a
:class:`Problem`, never raised, so one bad file cannot stop a sensor tick.

Refused as problems (issue 15): names that are not a *whole* Sentinel-1 product name (``X (copy).tif``),
names with control characters, GeoTIFFs named like SLC products (only GRD is processed), and symbolic
links that point outside the landing zone (``follow_external_links=True`` allows them, for a landing
zone that is a folder of links into an archive). Every scene carries the SHA-256 of its content as
its checksum, so a replaced file is a new scene and the same bytes under two names are one scene;
hashes are cached by (size, mtime, inode), so a tick re-reads only files that changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import replace
from pathlib import Path

import rasterio
from pyproj import Transformer

from icecrack_assets.catalog.base import CatalogItem, Problem
from icecrack_assets.errors import IceCrackError, InputError
from icecrack_assets.raster import open_single_band
from icecrack_assets.regions import Region
from icecrack_assets.sar.sentinel1.naming import is_safe_scene_id, parse_name

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
    stem = path.name.rsplit(".", 1)[0]
    if name is None or not is_safe_scene_id(stem):
        raise InputError(path, "name is not a whole Sentinel-1 product name (e.g. S1A_IW_GRDH_1SDH_...)")
    if name.product_type != "GRD":
        raise InputError(path, f"named like a {name.product_type} product; only GRD scenes are processed")
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
        scene_id=stem,
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


def list_entries(root: Path) -> list[Path]:
    """The entries of a folder, sorted; OSError (unreadable, vanished) propagates to the caller."""
    with os.scandir(root) as entries:
        return sorted(Path(e.path) for e in entries)


def has_control_characters(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def content_digest(path: Path) -> str:
    """``sha256:<hex>`` of a file; of a SAFE folder, its manifest plus the sizes of every file."""
    h = hashlib.sha256()
    if path.is_dir():
        manifest = path / "manifest.safe"
        if manifest.is_file():
            h.update(manifest.read_bytes())
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f"{f.relative_to(path)}\0{f.stat().st_size}\n".encode())
    else:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return f"sha256:{h.hexdigest()}"


class LandingZoneCatalog:
    """Scenes already on local disk under ``root``.

    ``hash_cache`` maps a path to ``[size, mtime_ns, inode, digest]``; the sensor keeps it in its
    cursor so content hashes are computed once per file version, not once per tick.
    """

    def __init__(
        self,
        root: str | Path,
        follow_external_links: bool = False,
        hash_cache: dict[str, list] | None = None,
    ) -> None:
        self.root = Path(root)
        self.follow_external_links = follow_external_links
        self.hash_cache: dict[str, list] = hash_cache if hash_cache is not None else {}

    def _digest(self, path: Path) -> str:
        st = path.stat()
        key = [st.st_size, st.st_mtime_ns, st.st_ino]
        cached = self.hash_cache.get(str(path))
        if cached is not None and list(cached[:3]) == key:
            return str(cached[3])
        digest = content_digest(path)
        self.hash_cache[str(path)] = [*key, digest]
        return digest

    def _refusal(self, path: Path) -> str | None:
        """Why an entry is refused before it is opened, or None."""
        if has_control_characters(path.name):
            return "name contains control characters (newline, tab, ...); rename the file"
        if path.is_symlink() and not self.follow_external_links:
            target = Path(os.path.realpath(path))
            try:
                target.relative_to(os.path.realpath(self.root))
            except ValueError:
                return f"symbolic link to {target}, outside the landing zone; refused (copy the file in)"
        return None

    def scan(self) -> tuple[list[CatalogItem], list[Problem]]:
        """Every describable scene in the landing zone, and the problems with the rest.

        An unreadable landing directory raises OSError (the sensor turns it into a skip reason).
        """
        items: list[CatalogItem] = []
        problems: list[Problem] = []
        if not self.root.is_dir():
            return items, problems
        paths = list_entries(self.root)
        live = {str(p) for p in paths}
        for stale in [k for k in self.hash_cache if k not in live]:
            del self.hash_cache[stale]
        for path in paths:
            if not is_candidate(path):
                continue
            refusal = self._refusal(path)
            if refusal is not None:
                problems.append(Problem(str(path), refusal))
                continue
            try:
                item = describe(path)
                items.append(replace(item, checksum=self._digest(path)))
            except (IceCrackError, rasterio.errors.RasterioError, OSError, ValueError, KeyError) as exc:
                problems.append(Problem(str(path), str(exc)))
        return items, problems

    def search(self, region: Region, start: dt.datetime, end: dt.datetime) -> list[CatalogItem]:
        items, _ = self.scan()
        return [
            it
            for it in items
            if start <= it.acquired <= end
            and not it.product.startswith("SL")
            and not region.fit_problems(it.acquired, it.mode, None, list(it.footprint))
        ]

    def fetch(self, item: CatalogItem, landing_dir: Path) -> Path:
        path = Path(item.href)
        if not path.exists():
            raise InputError(path, "scene listed in the landing zone has disappeared")
        return path
