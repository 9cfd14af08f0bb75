"""A STAC API catalogue of Sentinel-1 GRD scenes (Planetary Computer, Copernicus Data Space, ...).

Searches by the region's AOI (as a lon/lat polygon) and season with pystac-client, follows paging,
and keeps the items of the region's beam mode. Servers differ in property names, so mode, product
and polarisations are read from the common ``sar:`` extension with fallbacks to ``s1:`` / ``product:``
and the ESA product name. The URL, collection and asset keys are configuration.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import requests

from icecrack_assets.catalog.base import CatalogItem
from icecrack_assets.catalog.download import download, session_from_env
from icecrack_assets.errors import IceCrackError
from icecrack_assets.redaction import first_line, guard_third_party_loggers, redact_url
from icecrack_assets.regions import Region
from icecrack_assets.sar.sentinel1.naming import parse_name

DEFAULT_ASSET_KEYS = ("product", "safe", "zip", "data", "download")


def region_polygon(region: Region) -> dict:
    """The region AOI as a GeoJSON lon/lat polygon (edges densified so the projection is honest)."""
    from pyproj import Transformer

    to_ll = Transformer.from_crs(region.epsg, 4326, always_xy=True)
    x0, y0, x1, y1 = region.bounds
    n = 8
    pts = (
        [(x0 + (x1 - x0) * i / n, y0) for i in range(n)]
        + [(x1, y0 + (y1 - y0) * i / n) for i in range(n)]
        + [(x1 - (x1 - x0) * i / n, y1) for i in range(n)]
        + [(x0, y1 - (y1 - y0) * i / n) for i in range(n)]
    )
    ring = [list(to_ll.transform(x, y)) for x, y in pts]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def _mode_product(props: dict, item_id: str) -> tuple[str, str]:
    name = parse_name(item_id)
    mode = props.get("sar:instrument_mode") or (name.mode if name else "")
    product = props.get("s1:product_type") or (name.product_type if name else "")
    ptype = props.get("product:type") or ""  # CDSE: "IW_GRDH_1S"
    if ptype and "_" in ptype:
        mode = mode or ptype.split("_")[0]
        product = ptype.split("_")[1]
    res = props.get("s1:resolution")
    if product == "GRD" and res:
        product += {"high": "H", "medium": "M", "full": "F"}.get(str(res).lower(), "")
    elif product == "GRD" and name:
        product = name.product
    return str(mode).upper(), str(product).upper()


class StacCatalog:
    """Sentinel-1 scenes from a STAC API; ``fetch`` downloads the product asset into the landing zone."""

    source = "stac"

    def __init__(
        self,
        url: str,
        collection: str = "sentinel-1-grd",
        asset_keys: tuple[str, ...] = DEFAULT_ASSET_KEYS,
        page_size: int = 100,
        credentials_env: str = "ICECRACK_STAC",
        session: requests.Session | None = None,
        max_items: int | None = 2000,
    ) -> None:
        self.url = url
        self.collection = collection
        self.asset_keys = asset_keys
        self.page_size = page_size
        self.max_items = max_items
        self.session = session or session_from_env(credentials_env)

    def search(self, region: Region, start: dt.datetime, end: dt.datetime) -> list[CatalogItem]:
        raw = self.search_items(region_polygon(region), [start, end])
        items = []
        for d in raw:
            item = self._to_item(d)
            if item is not None and item.mode == region.mode:
                items.append(item)
        return items

    def search_items(self, intersects: dict, datetime: list | None = None) -> list[dict]:
        """Raw item dicts of the collection that intersect a GeoJSON geometry (scenes, DEM tiles)."""
        from pystac_client import Client
        from pystac_client.exceptions import APIError

        guard_third_party_loggers()
        try:
            client = Client.open(self.url, headers=dict(self.session.headers))
            search = client.search(
                collections=[self.collection],
                intersects=intersects,
                datetime=datetime,
                limit=self.page_size,
                max_items=self.max_items,
            )
            return list(search.items_as_dicts())
        except (APIError, requests.RequestException, OSError, ValueError) as exc:
            # APIError carries the response body, which some servers fill with the request headers
            raise IceCrackError(
                f"STAC search at {redact_url(self.url)} failed: {type(exc).__name__}: {first_line(exc, 160)}"
            ) from None

    def _to_item(self, d: dict) -> CatalogItem | None:
        props = d.get("properties", {})
        item_id = str(d.get("id", "")).removesuffix(".SAFE")
        when_text = props.get("datetime") or props.get("start_datetime")
        geom = d.get("geometry") or {}
        if not when_text or geom.get("type") not in ("Polygon", "MultiPolygon"):
            return None
        acquired = dt.datetime.fromisoformat(when_text.replace("Z", "+00:00"))
        coords = geom["coordinates"][0] if geom["type"] == "Polygon" else geom["coordinates"][0][0]
        mode, product = _mode_product(props, item_id)
        assets = d.get("assets", {})
        key = next((k for k in self.asset_keys if k in assets), None)
        if key is None:
            return None
        asset = assets[key]
        name = parse_name(item_id)
        pols = tuple(p.upper() for p in props.get("sar:polarizations", [])) or (
            name.polarisations if name else ()
        )
        return CatalogItem(
            scene_id=item_id,
            acquired=acquired,
            mode=mode,
            product=product,
            polarisations=pols,
            footprint=tuple((float(x), float(y)) for x, y, *_ in coords),
            href=asset["href"],
            source=self.source,
            checksum=asset.get("file:checksum"),
            size=asset.get("file:size"),
            extra={"collection": str(d.get("collection", self.collection)), "asset": key},
        )

    def fetch(self, item: CatalogItem, landing_dir: Path) -> Path:
        return fetch_item(item, landing_dir, self.session)


def fetch_item(item: CatalogItem, landing_dir: Path, session: requests.Session) -> Path:
    """Download an item's href into ``landing_dir`` under a name the landing zone recognises."""
    base = PurePosixPath(urlsplit(item.href).path).name
    if parse_name(base) is None:
        suffix = "".join(PurePosixPath(base).suffixes) or ".zip"
        base = item.scene_id + suffix
    dest = Path(landing_dir) / base
    if dest.exists() and (item.size is None or dest.stat().st_size == item.size):
        return dest
    return download(item.href, dest, checksum=item.checksum, size=item.size, session=session)
