"""Antarctic ice from Greene et al. (2022)'s coastlines, committed clipped to the five shelf AOIs.

``tools/build_ice_shelf_masks.py`` derives ``regions_data/antarctic_ice_greene2022.gpkg`` from the
MIT-licensed source (attribution in ``regions_data/ATTRIBUTION.md``). Two epochs are kept, because
ice fronts move kilometres between them; a season uses the nearer one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from shapely.geometry.base import BaseGeometry

from icecrack_assets.errors import IceCrackError

COASTLINE_FILE = Path(__file__).resolve().parent.parent / "regions_data" / "antarctic_ice_greene2022.gpkg"
COASTLINE_EPOCHS = ("2015.2", "2021.2")
SOURCE_CITATION = (
    "Greene, C. A. et al. (2022) Antarctic calving loss rivals ice-shelf thinning, Nature, "
    "doi:10.1038/s41586-022-05037-w; github.com/chadagreene/ice-shelf-geometry @ f5741264"
)


def nearest_epoch(year: int) -> str:
    """The coastline epoch closest to a season (January-February of ``year``)."""
    return min(COASTLINE_EPOCHS, key=lambda e: (abs(float(e) - (year + 0.1)), -float(e)))


@lru_cache(maxsize=32)
def coastline_ice(region: str, year: int) -> BaseGeometry:
    """Ice (grounded and floating) inside ``region``'s AOI from the coastline nearest ``year``."""
    import geopandas as gpd

    if not COASTLINE_FILE.is_file():
        raise IceCrackError(
            f"{COASTLINE_FILE}: committed coastline mask missing; run tools/build_ice_shelf_masks.py"
        )
    epoch = float(nearest_epoch(year))
    gdf = gpd.read_file(COASTLINE_FILE, layer="ice")
    hit = gdf[(gdf["region"] == region) & (gdf["decyear"].round(1) == round(epoch, 1))]
    if hit.empty:
        raise IceCrackError(f"{COASTLINE_FILE}: no coastline ice for region {region!r} (epoch {epoch})")
    return hit.geometry.iloc[0]
