"""What every scene catalogue returns, so assets and sensors work with any of them."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from icecrack_assets.regions import Region
from icecrack_assets.sar.sentinel1.naming import is_safe_scene_id


@dataclass(frozen=True)
class CatalogItem:
    """One acquisition as a catalogue describes it; ``href`` is a local path or a URL."""

    scene_id: str
    acquired: dt.datetime  # start time, UTC
    mode: str  # IW | EW
    product: str  # GRDH | GRDM | SLC | ...
    polarisations: tuple[str, ...]
    footprint: tuple[tuple[float, float], ...]  # lon/lat ring
    href: str
    source: str  # "landing" | "stac" | "asf"
    truth_href: str | None = None  # simulator ground truth, when there is one
    checksum: str | None = None  # "md5:..." or "sha256:..." when the catalogue gives one
    size: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict:
        d = asdict(self)
        d["acquired"] = self.acquired.isoformat()
        d["footprint"] = [list(p) for p in self.footprint]
        d["polarisations"] = list(self.polarisations)
        return d


@dataclass(frozen=True)
class Problem:
    """A file or item the catalogue had to skip, with the reason (for sensor logs)."""

    href: str
    reason: str


class SceneCatalog(Protocol):
    """Search a catalogue for a region's season and make an item available locally."""

    def search(self, region: Region, start: dt.datetime, end: dt.datetime) -> list[CatalogItem]: ...

    def fetch(self, item: CatalogItem, landing_dir: Path) -> Path: ...


def content_duplicates(items: list[CatalogItem]) -> tuple[list[CatalogItem], list[CatalogItem]]:
    """``(kept, duplicates)``: of items with the same content checksum, the first by href is kept.

    The same bytes under two names (``X.tif`` and ``X.tiff``, or another scene id) are one
    acquisition; ingesting both would count it twice in a partition.
    """
    kept: list[CatalogItem] = []
    duplicates: list[CatalogItem] = []
    by_checksum: set[str] = set()
    for item in sorted(items, key=lambda it: it.href):
        if item.checksum and item.checksum in by_checksum:
            duplicates.append(item)
            continue
        if item.checksum:
            by_checksum.add(item.checksum)
        kept.append(item)
    return kept, duplicates


def usable_items(items: list[CatalogItem]) -> tuple[list[CatalogItem], list[CatalogItem]]:
    """``(usable, refused)``: one item per scene id and content, and the items whose ids are unsafe.

    Two copies of a product (e.g. X.tif and X.tiff, or the same bytes under another id) are one
    scene; ids come from outside and become file names, so anything that is not a whole, plain
    Sentinel-1 product name is refused. Both the sensor and the ingesting asset go through here.
    """
    chosen: dict[str, CatalogItem] = {}
    refused: list[CatalogItem] = []
    for item in sorted(items, key=lambda it: it.href):
        if not is_safe_scene_id(item.scene_id):
            refused.append(item)
        else:
            chosen.setdefault(item.scene_id, item)
    kept, _ = content_duplicates(list(chosen.values()))
    return kept, refused
