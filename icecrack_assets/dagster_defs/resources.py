"""Resources: where data lives, which scene catalogue to search, which device to compute on."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from icecrack_assets.catalog.base import SceneCatalog
from icecrack_assets.layout import DataLayout
from icecrack_assets.regions import Region, get_region

PREVIEW_URL_ENV = "ICECRACK_PREVIEW_URL"
PREVIEW_PORT = 3031  # icecrack serve-previews' default port


class DataRoot(dg.ConfigurableResource):
    """The folder every asset writes under; the layout inside it is ``icecrack_assets.layout``'s."""

    root: str = "data"

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.root).resolve())


class SceneCatalogResource(dg.ConfigurableResource):
    """Which catalogue to search: the local landing zone (default), a STAC API, or ASF.

    Production URLs are configuration; credentials come from the environment, never from here.
    """

    kind: str = "landing"  # landing | stac | asf
    url: str = ""  # STAC API root or ASF search endpoint; empty = the client's default
    collection: str = "sentinel-1-grd"
    landing_dir: str = ""  # default: <data root>/landing

    def build(self, data: DataRoot) -> SceneCatalog:
        landing = Path(self.landing_dir) if self.landing_dir else data.layout.landing
        if self.kind == "landing":
            from icecrack_assets.catalog.landing import LandingZoneCatalog

            return LandingZoneCatalog(landing)
        if self.kind == "stac":
            from icecrack_assets.catalog.stac import StacCatalog

            if not self.url:
                raise dg.Failure(
                    "scene catalog kind 'stac' needs url (e.g. the Copernicus Data Space "
                    "or Planetary Computer STAC API root)"
                )
            return StacCatalog(self.url, collection=self.collection)
        if self.kind == "asf":
            from icecrack_assets.catalog.asf import AsfCatalog

            return AsfCatalog(base_url=self.url) if self.url else AsfCatalog()
        raise dg.Failure(f"scene catalog kind {self.kind!r} is not one of landing, stac, asf")


class ComputeResource(dg.ConfigurableResource):
    """Device for the U-Net: ``auto`` picks CUDA when present, else CPU."""

    device: str = "auto"
    threads: int = 0  # 0 = all cores


class PreviewServer(dg.ConfigurableResource):
    """Where ``icecrack serve-previews`` serves the data root's full-resolution quick-look PNGs.

    Unset by default: the UI then shows the thumbnails kept in the event log and the captions. Set
    ``ICECRACK_PREVIEW_URL`` (e.g. ``http://127.0.0.1:3031``, serve-previews' default port) to show
    the full-resolution files inline as well, by URL.
    """

    base_url: str = Field(
        default_factory=lambda: os.environ.get(PREVIEW_URL_ENV, ""),
        description="base URL of `icecrack serve-previews` (env ICECRACK_PREVIEW_URL, e.g. "
        f"http://127.0.0.1:{PREVIEW_PORT}); empty: thumbnails and captions only",
    )


class ProcessingGrid(dg.ConfigurableResource):
    """The processing grid: each region's own spacing, or a coarser one for quick looks and tests.

    The AOI bounds are whole kilometres, so any spacing that divides 1 000 m keeps them exact.
    """

    pixel_size: float = 0.0  # metres; 0 = the region's own processing spacing

    def region(self, name: str) -> Region:
        region = get_region(name)
        if not self.pixel_size:
            return region
        if 1000.0 % self.pixel_size:
            raise dg.Failure(f"pixel_size {self.pixel_size} m does not divide 1000 m")
        return dataclasses.replace(region, pixel_size=float(self.pixel_size))
