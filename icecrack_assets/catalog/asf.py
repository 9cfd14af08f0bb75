"""The Alaska Satellite Facility catalogue, through its documented Search API (GeoJSON output).

``GET {base_url}/services/search/param?platform=SENTINEL-1&processingLevel=GRD_HD&beamMode=IW
&intersectsWith=<WKT>&start=...&end=...&output=geojson``. This is the API asf_search wraps; calling
it directly keeps the base URL configurable (tests use a local server). Downloads need Earthdata
credentials: ``ICECRACK_ASF_USERNAME``/``_PASSWORD`` or ``ICECRACK_ASF_TOKEN`` (never logged).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from icecrack_assets.catalog.base import CatalogItem
from icecrack_assets.catalog.download import session_from_env
from icecrack_assets.catalog.stac import fetch_item, region_polygon
from icecrack_assets.errors import IceCrackError
from icecrack_assets.redaction import first_line, guard_third_party_loggers, redact_url
from icecrack_assets.regions import Region
from icecrack_assets.sar.sentinel1.naming import parse_name

ASF_URL = "https://api.daac.asf.alaska.edu"
LEVEL = {"GRDH": "GRD_HD", "GRDM": "GRD_MD", "SLC": "SLC"}


def api_url(base_url: str, path: str) -> str:
    """``path`` joined to the base URL's path; the base's query (e.g. a token) stays a query."""
    parts = urlsplit(base_url)
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path.rstrip("/") + "/" + path.lstrip("/"), parts.query, "")
    )


def _wkt(region: Region) -> str:
    ring = region_polygon(region)["coordinates"][0]
    return "POLYGON((" + ",".join(f"{x:.5f} {y:.5f}" for x, y in ring) + "))"


class AsfCatalog:
    """Sentinel-1 GRD scenes from ASF; ``fetch`` downloads the product zip into the landing zone."""

    source = "asf"

    def __init__(
        self,
        base_url: str = ASF_URL,
        session: requests.Session | None = None,
        credentials_env: str = "ICECRACK_ASF",
        max_results: int = 2000,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url
        self.session = session or session_from_env(credentials_env)
        self.max_results = max_results
        self.timeout = timeout

    def search(self, region: Region, start: dt.datetime, end: dt.datetime) -> list[CatalogItem]:
        params = {
            "platform": "SENTINEL-1",
            "processingLevel": LEVEL.get(region.product, region.product),
            "beamMode": region.mode,
            "intersectsWith": _wkt(region),
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "output": "geojson",
            "maxResults": str(self.max_results),
        }
        url = api_url(self.base_url, "services/search/param")
        guard_third_party_loggers()
        try:
            resp = self.session.get(url, params=params, timeout=self.timeout)
            resp.raise_for_status()
            features = resp.json().get("features", [])
        except (requests.RequestException, ValueError) as exc:
            raise IceCrackError(
                f"ASF search at {redact_url(url)} failed: {type(exc).__name__}: {first_line(exc, 120)}"
            ) from None
        items = [it for f in features if (it := self._to_item(f)) is not None]
        return [it for it in items if it.mode == region.mode]

    def _to_item(self, feature: dict) -> CatalogItem | None:
        props = feature.get("properties", {})
        scene = props.get("sceneName") or props.get("fileID", "").split("-")[0]
        name = parse_name(scene)
        geom = feature.get("geometry") or {}
        if name is None or not props.get("url") or geom.get("type") != "Polygon":
            return None
        pol = props.get("polarization", "")
        pols = (
            tuple(p.strip().upper() for p in pol.replace("+", ",").split(",") if p.strip())
            or name.polarisations
        )
        acquired = dt.datetime.fromisoformat(
            props.get("startTime", name.start.isoformat()).replace("Z", "+00:00")
        )
        if acquired.tzinfo is None:
            acquired = acquired.replace(tzinfo=dt.timezone.utc)
        return CatalogItem(
            scene_id=scene,
            acquired=acquired,
            mode=(props.get("beamModeType") or name.mode).upper(),
            product=name.product,
            polarisations=pols,
            footprint=tuple((float(x), float(y)) for x, y, *_ in geom["coordinates"][0]),
            href=props["url"],
            source=self.source,
            checksum=f"md5:{props['md5sum']}" if props.get("md5sum") else None,
            size=int(props["bytes"]) if props.get("bytes") else None,
            extra={
                "flight_direction": str(props.get("flightDirection", "")),
                "path": str(props.get("pathNumber", "")),
            },
        )

    def fetch(self, item: CatalogItem, landing_dir: Path) -> Path:
        return fetch_item(item, landing_dir, self.session)
