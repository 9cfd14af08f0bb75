"""Local catalogue servers for tests: a STAC API and the ASF Search API on 127.0.0.1, plus files.

Usage (also from sensor tests)::

    with CatalogServer() as srv:
        srv.add_scene(scene_id, footprint_lonlat, data=b"...zip bytes...")
        StacCatalog(srv.stac_url, collection="sentinel-1-grd")   # srv.stac_url == srv.url + "/stac"
        AsfCatalog(base_url=srv.url)

The STAC side answers the landing page, ``/conformance`` and ``/search`` (GET or POST, ``limit`` +
``next`` links whose POST body carries a ``page``) with real item-collection JSON; the ASF side answers
``/services/search/param?...&output=geojson`` like api.daac.asf.alaska.edu. Files under ``/files/``
honour ``Range`` requests; ``cut_next[name] = n`` makes the next response stop after n bytes, and
``require_token`` makes file downloads demand ``Authorization: Bearer <token>``; ``search_token`` makes
the STAC and ASF endpoints demand it too. Like some real servers, every 401 body echoes the
``Authorization`` header it received (what a client must never log unfiltered).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from shapely import wkt
from shapely.geometry import Polygon, shape

STAC_VERSION = "1.0.0"
CONFORMS = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
]


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_dt(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class CatalogServer:
    """A threaded HTTP server on 127.0.0.1 (random port) speaking STAC and ASF search."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.stac_items: list[dict] = []
        self.asf_features: list[dict] = []
        self.cut_next: dict[str, int] = {}
        self.require_token: str | None = None
        self.search_token: str | None = None
        self.log: list[tuple[str, str, dict]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def stac_url(self) -> str:
        return f"{self.url}/stac"

    def __enter__(self) -> CatalogServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # ---- content ----------------------------------------------------------------------------------
    def add_scene(
        self,
        scene_id: str,
        footprint: list[tuple[float, float]],
        data: bytes,
        acquired: dt.datetime | None = None,
        mode: str | None = None,
        product: str | None = None,
        polarisations: tuple[str, ...] | None = None,
        collection: str = "sentinel-1-grd",
        checksum: bool = True,
        wrong_checksum: bool = False,
    ) -> None:
        """Publish one scene in both catalogues, with its zip under ``/files/<scene_id>.zip``."""
        from icecrack_assets.sar.sentinel1.naming import parse_name

        name = parse_name(scene_id)
        acquired = acquired or name.start
        mode = mode or name.mode
        product = product or name.product
        pols = polarisations or name.polarisations
        fname = f"{scene_id}.zip"
        self.files[fname] = data
        digest = hashlib.sha256(b"x" if wrong_checksum else data).hexdigest()
        md5 = hashlib.md5(b"x" if wrong_checksum else data).hexdigest()
        ring = [list(p) for p in footprint]
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        href = f"{self.url}/files/{fname}"
        asset = {"href": href, "type": "application/zip", "roles": ["data"], "file:size": len(data)}
        if checksum:
            asset["file:checksum"] = "1220" + digest
        self.stac_items.append(
            {
                "type": "Feature",
                "stac_version": STAC_VERSION,
                "id": scene_id,
                "collection": collection,
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "bbox": [
                    min(p[0] for p in ring),
                    min(p[1] for p in ring),
                    max(p[0] for p in ring),
                    max(p[1] for p in ring),
                ],
                "properties": {
                    "datetime": _iso(acquired),
                    "sar:instrument_mode": mode,
                    "sar:polarizations": list(pols),
                    "sar:product_type": product[:3],
                    "s1:product_type": product[:3],
                    "s1:resolution": {"H": "high", "M": "medium", "F": "full"}.get(product[3:], ""),
                    "platform": f"sentinel-{scene_id[1:3].lower()}",
                },
                "assets": {"product": asset},
                "links": [],
            }
        )
        self.asf_features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "sceneName": scene_id,
                    "fileID": f"{scene_id}-{product[:3]}_{product[3:] or 'X'}D",
                    "beamModeType": mode,
                    "processingLevel": {"GRDH": "GRD_HD", "GRDM": "GRD_MD"}.get(product, product),
                    "platform": f"Sentinel-1{scene_id[2]}",
                    "polarization": "+".join(pols),
                    "startTime": _iso(acquired),
                    "stopTime": _iso(acquired + dt.timedelta(seconds=25)),
                    "url": href,
                    "fileName": fname,
                    "bytes": len(data),
                    "md5sum": md5 if checksum else None,
                    "flightDirection": "DESCENDING",
                    "pathNumber": 1,
                },
            }
        )

    # ---- HTTP -------------------------------------------------------------------------------------
    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _json(self, obj: dict, status: int = 200) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _denied(self, token: str | None) -> bool:
                """Answer 401, echoing the Authorization header in the body, unless the token matches."""
                got = self.headers.get("Authorization")
                if token is None or got == f"Bearer {token}":
                    return False
                self._json({"error": "unauthorized", "received": {"Authorization": got}}, 401)
                return True

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                server.log.append(("GET", self.path, dict(self.headers)))
                if not parts.path.startswith("/files/") and self._denied(server.search_token):
                    return None
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                if parts.path in ("/stac", "/stac/"):
                    return self._json(server._landing())
                if parts.path == "/stac/conformance":
                    return self._json({"conformsTo": CONFORMS})
                if parts.path == "/stac/search":
                    body = dict(query)
                    for key in ("collections",):
                        if key in body:
                            body[key] = body[key].split(",")
                    if "intersects" in body:
                        body["intersects"] = json.loads(body["intersects"])
                    return self._json(server._search(body))
                if parts.path == "/services/search/param":
                    return self._json(server._asf(query))
                if parts.path.startswith("/files/"):
                    return self._file(parts.path[len("/files/") :])
                self._json({"code": "NotFound", "description": self.path}, 404)

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.log.append(("POST", self.path, body))
                if self._denied(server.search_token):
                    return None
                if parts.path == "/stac/search":
                    return self._json(server._search(body))
                self._json({"code": "NotFound"}, 404)

            def _file(self, name: str) -> None:
                if self._denied(server.require_token):
                    return None
                data = server.files.get(name)
                if data is None:
                    return self._json({"error": "no such file"}, 404)
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0] or 0)
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                chunk = data[start:]
                self.send_header("Content-Length", str(len(chunk)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                cut = server.cut_next.pop(name, None)
                if cut is not None:
                    self.wfile.write(chunk[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)

        return Handler

    def _landing(self) -> dict:
        base = self.stac_url
        return {
            "type": "Catalog",
            "stac_version": STAC_VERSION,
            "id": "icecrack-test",
            "description": "test",
            "conformsTo": CONFORMS,
            "links": [
                {"rel": "self", "href": base},
                {"rel": "root", "href": base},
                {"rel": "conformance", "href": f"{base}/conformance"},
                {"rel": "search", "href": f"{base}/search", "method": "GET", "type": "application/geo+json"},
                {"rel": "search", "href": f"{base}/search", "method": "POST", "type": "application/geo+json"},
            ],
        }

    def _search(self, body: dict) -> dict:
        items = self.stac_items
        if body.get("collections"):
            items = [i for i in items if i["collection"] in body["collections"]]
        if body.get("datetime"):
            lo, _, hi = str(body["datetime"]).partition("/")
            if lo and lo != "..":
                items = [i for i in items if _parse_dt(i["properties"]["datetime"]) >= _parse_dt(lo)]
            if hi and hi != "..":
                items = [i for i in items if _parse_dt(i["properties"]["datetime"]) <= _parse_dt(hi)]
        if body.get("intersects"):
            aoi = shape(body["intersects"])
            items = [i for i in items if shape(i["geometry"]).intersects(aoi)]
        limit = int(body.get("limit", 10))
        page = int(body.get("page", 1))
        chunk = items[(page - 1) * limit : page * limit]
        links = []
        if page * limit < len(items):
            links.append(
                {
                    "rel": "next",
                    "href": f"{self.stac_url}/search",
                    "method": "POST",
                    "body": dict(body, page=page + 1),
                    "type": "application/geo+json",
                }
            )
        return {
            "type": "FeatureCollection",
            "features": chunk,
            "links": links,
            "numberMatched": len(items),
            "numberReturned": len(chunk),
        }

    def _asf(self, q: dict) -> dict:
        feats = self.asf_features
        if q.get("beamMode"):
            feats = [f for f in feats if f["properties"]["beamModeType"] in q["beamMode"].split(",")]
        if q.get("processingLevel"):
            feats = [
                f for f in feats if f["properties"]["processingLevel"] in q["processingLevel"].split(",")
            ]
        if q.get("start"):
            feats = [f for f in feats if _parse_dt(f["properties"]["startTime"]) >= _parse_dt(q["start"])]
        if q.get("end"):
            feats = [f for f in feats if _parse_dt(f["properties"]["startTime"]) <= _parse_dt(q["end"])]
        if q.get("intersectsWith"):
            aoi = wkt.loads(q["intersectsWith"])
            feats = [f for f in feats if Polygon(f["geometry"]["coordinates"][0]).intersects(aoi)]
        feats = feats[: int(q.get("maxResults", 250))]
        return {"type": "FeatureCollection", "features": feats}
