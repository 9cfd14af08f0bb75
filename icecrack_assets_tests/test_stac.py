"""STAC items of crack maps and their catalogue: valid against the STAC 1.1 schemas, relative hrefs,
projection/raster/file extension fields that agree with the files."""

from __future__ import annotations

import json

import numpy as np
import pystac
import pytest
from jsonschema import Draft7Validator
from pystac.validation.local_validator import get_local_schema_cache
from referencing import Registry, Resource

from icecrack_assets.regions import get_region
from icecrack_assets.stac import MapItemInputs, crack_map_item, footprint_lonlat, write_catalog, write_item

ITEM_SCHEMA = "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"
CATALOG_SCHEMA = "https://schemas.stacspec.org/v1.1.0/catalog-spec/json-schema/catalog.json"


def core_validator(uri: str) -> Draft7Validator:
    """The STAC core schema shipped with pystac (no network: extension schemas are not fetched)."""
    cache = get_local_schema_cache()
    registry = Registry().with_resources((u, Resource.from_contents(s)) for u, s in cache.items())
    return Draft7Validator(cache[uri], registry=registry)


@pytest.fixture
def mapped(tmp_path, tiny_raster):
    region = get_region("jakobshavn")
    folder = tmp_path / "maps" / "jakobshavn" / "2024"
    folder.mkdir(parents=True)
    (tmp_path / "despeckled").mkdir()
    origin = (region.bounds[0], region.bounds[3])
    prob = np.random.default_rng(0).random((30, 40)).astype(np.float32)
    prob[0] = np.nan
    files = {
        "probability": tiny_raster(
            prob, name="maps/jakobshavn/2024/p.tif", origin=origin, pixel=1000.0, nodata=float("nan")
        ),
        "mask": tiny_raster(
            (prob > 0.5).astype(np.uint8),
            name="maps/jakobshavn/2024/m.tif",
            origin=origin,
            pixel=1000.0,
            nodata=255,
        ),
        "density": tiny_raster(
            np.ones((3, 4), np.float32), name="maps/jakobshavn/2024/d.tif", origin=origin, pixel=10000.0
        ),
    }
    (folder / "v.gpkg").write_bytes(b"not opened by the STAC writer")
    files["vectors"] = folder / "v.gpkg"
    scene = tiny_raster(prob, name="despeckled/s1.tif", origin=origin, pixel=1000.0)
    bundle = tmp_path / "models" / "unet-1"
    bundle.mkdir(parents=True)
    start, end = region.season(2024)
    inputs = MapItemInputs(
        region="jakobshavn",
        year=2024,
        season_start=start,
        season_end=end,
        footprint_lonlat=footprint_lonlat(region.bounds, region.crs),
        files=files,
        scenes={"S1A_X": scene},
        bundle=bundle,
        properties={"crack_area_km2": 1.5, "bundle_check": "passed"},
    )
    return tmp_path, folder, inputs


def test_item_is_valid_stac_with_extensions_that_match_the_files(mapped):
    root, folder, inputs = mapped
    path = write_item(crack_map_item(inputs, folder / "item.json"), folder / "item.json")
    d = json.loads(path.read_text())
    errors = list(core_validator(ITEM_SCHEMA).iter_errors(d))
    assert not errors, errors[0].message
    item = pystac.Item.from_dict(d)
    proj = pystac.extensions.projection.ProjectionExtension.ext(item)
    assert proj.epsg == 3413 and proj.shape == [30, 40] and proj.transform[0] == 1000.0
    assert item.common_metadata.start_datetime == inputs.season_start
    assert item.common_metadata.end_datetime == inputs.season_end and item.datetime is None
    prob = item.assets["probability"]
    band = pystac.extensions.raster.RasterExtension.ext(prob).bands[0]
    assert band.data_type == "float32" and band.nodata == "nan" and band.unit == "1"
    size = pystac.extensions.file.FileExtension.ext(prob).size
    assert size == inputs.files["probability"].stat().st_size
    assert pystac.extensions.file.FileExtension.ext(prob).checksum.startswith("1220")
    density = item.assets["density"]  # a coarser grid: its own projection shape
    assert pystac.extensions.projection.ProjectionExtension.ext(density).shape == [3, 4]
    assert item.assets["vectors"].media_type == "application/geopackage+sqlite3"
    assert all(not a.href.startswith("/") for a in item.assets.values())  # relative: the root can move
    derived = [link for link in item.links if link.rel == "derived_from"]
    assert {link.href for link in derived} == {"../../../despeckled/s1.tif", "../../../models/unet-1"}
    lon, lat = np.array(item.geometry["coordinates"][0]).T
    assert -52 < lon.min() < lon.max() < -47 and 68 < lat.min() < lat.max() < 70.5  # west Greenland


def test_catalogue_links_every_item_relatively_and_is_valid(mapped):
    root, folder, inputs = mapped
    item_path = write_item(crack_map_item(inputs, folder / "item.json"), folder / "item.json")
    catalog = write_catalog(root / "maps" / "catalog.json", [item_path])
    d = json.loads(catalog.read_text())
    errors = list(core_validator(CATALOG_SCHEMA).iter_errors(d))
    assert not errors, errors[0].message
    items = [link for link in d["links"] if link["rel"] == "item"]
    assert [link["href"] for link in items] == ["jakobshavn/2024/item.json"]
    read = pystac.Catalog.from_file(str(catalog))
    assert [i.id for i in read.get_items()] == ["jakobshavn_2024"]
