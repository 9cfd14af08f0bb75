"""STAC and ASF clients against local servers speaking the real protocols; resumable, verified downloads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import rasterio
from pyproj import Transformer

from icecrack_assets.catalog.asf import AsfCatalog
from icecrack_assets.catalog.download import DownloadError, download, part_path
from icecrack_assets.catalog.landing import LandingZoneCatalog
from icecrack_assets.catalog.stac import StacCatalog
from icecrack_assets.regions import get_region
from icecrack_assets.sar.sentinel1.ingest import ingest_to_region
from icecrack_assets_tests.helpers.catalog_server import CatalogServer

UTC = dt.timezone.utc
JAK = get_region("jakobshavn")
AMERY = get_region("amery")


def _footprint(region, grow: float = 20000.0) -> list[tuple[float, float]]:
    to_ll = Transformer.from_crs(region.epsg, 4326, always_xy=True)
    x0, y0, x1, y1 = region.bounds
    return [
        to_ll.transform(x, y)
        for x, y in [
            (x0 - grow, y0 - grow),
            (x1 + grow, y0 - grow),
            (x1 + grow, y1 + grow),
            (x0 - grow, y1 + grow),
        ]
    ]


def _name(mode: str, product: str, when: dt.datetime, k: int) -> str:
    stop = when + dt.timedelta(seconds=25)
    return f"S1A_{mode}_{product}_1SDH_{when:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_{k:06d}_{k:06X}_{k:04X}"


def _populate(srv: CatalogServer) -> set[str]:
    wanted = set()
    for k, day in enumerate([3, 9, 15, 21, 27]):  # five July IW scenes over Jakobshavn
        sid = _name("IW", "GRDH", dt.datetime(2020, 7, day, 10, tzinfo=UTC), k + 1)
        srv.add_scene(sid, _footprint(JAK), data=f"scene {k}".encode() * 100)
        wanted.add(sid)
    srv.add_scene(_name("EW", "GRDM", dt.datetime(2020, 7, 5, 10, tzinfo=UTC), 3001), _footprint(JAK), b"ew")
    srv.add_scene(
        _name("IW", "GRDH", dt.datetime(2020, 10, 5, 10, tzinfo=UTC), 3002), _footprint(JAK), b"oct"
    )
    srv.add_scene(
        _name("EW", "GRDM", dt.datetime(2020, 1, 5, 10, tzinfo=UTC), 3003), _footprint(AMERY), b"amery"
    )
    return wanted


def test_stac_search_follows_paging_and_keeps_region_mode(tmp_path: Path) -> None:
    with CatalogServer() as srv:
        wanted = _populate(srv)
        cat = StacCatalog(srv.stac_url, collection="sentinel-1-grd", page_size=2)
        start, end = JAK.season(2020)
        items = cat.search(JAK, start, end)
        pages = [e for e in srv.log if e[0] == "POST" and "/search" in e[1]]
    assert {it.scene_id for it in items} == wanted
    assert len(pages) >= 3, "five matches at two per page need three pages"
    assert all(it.mode == "IW" and it.product == "GRDH" and it.polarisations == ("HH", "HV") for it in items)
    assert all(it.checksum and it.size for it in items)


def test_asf_search_filters_mode_and_season(tmp_path: Path) -> None:
    with CatalogServer() as srv:
        wanted = _populate(srv)
        cat = AsfCatalog(base_url=srv.url)
        items = cat.search(JAK, *JAK.season(2020))
        amery = cat.search(AMERY, *AMERY.season(2020))
        query = next(e[1] for e in srv.log if e[1].startswith("/services/search/param"))
    assert {it.scene_id for it in items} == wanted
    assert [it.product for it in amery] == ["GRDM"] and amery[0].checksum.startswith("md5:")
    assert "beamMode=IW" in query and "processingLevel=GRD_HD" in query and "output=geojson" in query


@pytest.mark.parametrize("client", ["stac", "asf"])
def test_fetch_verifies_and_lands_under_product_name(tmp_path: Path, client: str) -> None:
    with CatalogServer() as srv:
        _populate(srv)
        cat = StacCatalog(srv.stac_url) if client == "stac" else AsfCatalog(base_url=srv.url)
        item = sorted(cat.search(JAK, *JAK.season(2020)), key=lambda i: i.scene_id)[0]
        path = cat.fetch(item, tmp_path / "landing")
        again = cat.fetch(item, tmp_path / "landing")
        gets = [e for e in srv.log if e[1].startswith("/files/")]
    assert path == again and path.name == f"{item.scene_id}.zip"
    assert path.read_bytes() == srv.files[path.name]
    assert len(gets) == 1, "an existing complete file is not downloaded again"


def test_download_resumes_with_range(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4000
    with CatalogServer() as srv:
        srv.files["S1.zip"] = data
        srv.cut_next["S1.zip"] = 100_000
        import hashlib

        checksum = "sha256:" + hashlib.sha256(data).hexdigest()
        dest = tmp_path / "S1.zip"
        with pytest.raises(DownloadError, match="resumes on the next attempt"):
            download(f"{srv.url}/files/S1.zip", dest, checksum=checksum, size=len(data))
        kept = part_path(dest).stat().st_size
        assert not dest.exists() and 0 < kept <= 100_000
        download(f"{srv.url}/files/S1.zip", dest, checksum=checksum, size=len(data))
        ranges = [e[2].get("Range") for e in srv.log if e[1] == "/files/S1.zip"]
    assert dest.read_bytes() == data and not part_path(dest).exists()
    assert ranges == [None, f"bytes={kept}-"]


def test_checksum_mismatch_leaves_nothing(tmp_path: Path) -> None:
    with CatalogServer() as srv:
        sid = _name("IW", "GRDH", dt.datetime(2020, 7, 3, 10, tzinfo=UTC), 1)
        srv.add_scene(sid, _footprint(JAK), data=b"payload" * 50, wrong_checksum=True)
        cat = StacCatalog(srv.stac_url)
        item = cat.search(JAK, *JAK.season(2020))[0]
        with pytest.raises(DownloadError, match="checksum mismatch"):
            cat.fetch(item, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_credentials_from_env_are_sent_but_never_shown(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ICECRACK_STAC_TOKEN", "s3cret-token")
    with CatalogServer() as srv:
        _populate(srv)
        srv.require_token = "s3cret-token"
        cat = StacCatalog(srv.stac_url)
        item = cat.search(JAK, *JAK.season(2020))[0]
        assert cat.fetch(item, tmp_path / "ok").exists()
        srv.require_token = "another"
        with pytest.raises(DownloadError) as err:
            cat.fetch(item, tmp_path / "denied")
    assert "401" in str(err.value) and "s3cret" not in str(err.value)
    with pytest.raises(DownloadError) as err2:
        download("http://user:s3cret@127.0.0.1:9/x.zip?sig=s3cret", tmp_path / "x.zip", session=None)
    assert "s3cret" not in str(err2.value)


def test_stac_to_landing_to_cog_end_to_end(shared_data: Path, tmp_path: Path) -> None:
    """A real-format SAFE zip found by STAC, downloaded, described by the landing zone and ingested."""
    from icecrack_assets_tests.helpers.safe_builder import EW_GRDM, build_tiny_safe

    when = dt.datetime(2021, 1, 20, 3, 0, tzinfo=UTC)
    tiny = build_tiny_safe(
        shared_data / EW_GRDM,
        tmp_path / "build",
        AMERY,
        when,
        lines=400,
        samples=500,
        pols=("HH",),
        zipped=True,
    )
    sid = tiny.path.name.removesuffix(".zip")
    with CatalogServer() as srv:
        srv.add_scene(
            sid, _footprint(AMERY, grow=-20000), data=tiny.path.read_bytes(), polarisations=("HH", "HV")
        )
        cat = StacCatalog(srv.stac_url)
        (item,) = cat.search(AMERY, *AMERY.season(2021))
        landed = cat.fetch(item, tmp_path / "landing")
    items, problems = LandingZoneCatalog(tmp_path / "landing").scan()
    assert problems == [] and [i.scene_id for i in items] == [sid] and items[0].product == "GRDM"
    assert LandingZoneCatalog(tmp_path / "landing").search(AMERY, *AMERY.season(2021))[0].scene_id == sid
    info = ingest_to_region(landed, AMERY, tmp_path / "out.tif")
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert ds.tags()["SCENE_ID"] == sid and ds.crs.to_epsg() == 3031
    assert 0 < info.valid_fraction < 1
