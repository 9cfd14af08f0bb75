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


def usable_items(items: list[CatalogItem]) -> tuple[list[CatalogItem], list[CatalogItem]]:
    """``(usable, refused)``: one item per scene id, and the items whose ids are unsafe file names.

    Two copies of a product (e.g. X.tif and X.tiff) are one scene; ids come from outside and become
    file names, so anything that is not a plain Sentinel-1 product name is refused. Both the sensor
    and the ingesting asset go through here.
    """
    chosen: dict[str, CatalogItem] = {}
    refused: list[CatalogItem] = []
    for item in sorted(items, key=lambda it: it.href):
        if not is_safe_scene_id(item.scene_id):
            refused.append(item)
        else:
            chosen.setdefault(item.scene_id, item)
    return list(chosen.values()), refused
