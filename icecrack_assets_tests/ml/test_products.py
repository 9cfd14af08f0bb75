"""Crack products of one season: rasters, vectors, density, orientation and the statistics table."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import ndimage

from icecrack_assets.ml.evaluation.synthetic import synthetic_scene
from icecrack_assets.ml.products import write_crack_products
from icecrack_assets.ml.statistics import write_statistics


def test_products_are_written_with_crs_and_consistent_stats(tmp_path):
    _, _, truth = synthetic_scene((300, 300), seed=1)
    prob = np.where(truth == 255, np.nan, truth * 0.9).astype(np.float32)
    prof = {
        "crs": "EPSG:3031",
        "transform": Affine(40, 0, -1600000, 0, -40, -440000),
        "width": 300,
        "height": 300,
    }
    r = write_crack_products(prob, prof, 0.5, tmp_path, "thwaites_2020", 40.0)
    for key in ("probability", "mask", "vectors", "density", "orientation", "preview"):
        assert (tmp_path / getattr(r.paths, key)).is_file()
    with rasterio.open(r.paths.probability) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and ds.crs.to_epsg() == 3031
    with rasterio.open(r.paths.density) as ds:
        dens = ds.read(1)
        assert ds.transform.a == 1000.0  # 1 km cells (25 px of 40 m)
    poly = gpd.read_file(r.paths.vectors, layer="polygons")
    lines = gpd.read_file(r.paths.vectors, layer="centrelines")
    assert poly.crs.to_epsg() == 3031 and len(poly) > 0 and len(lines) > 0
    assert poly.geometry.area.sum() / 1e6 == pytest.approx(r.stats.crack_area_km2, rel=1e-6)
    assert lines.geometry.length.sum() / 1000 == pytest.approx(r.stats.crack_length_km, rel=0.1)
    assert r.stats.density_km_per_km2 == pytest.approx(r.stats.crack_length_km / r.stats.valid_area_km2)
    assert np.nanmax(dens) > 0
    with rasterio.open(r.paths.orientation) as ds:
        o = ds.read(1)
        assert np.nanmin(o) >= 0 and np.nanmax(o) < 180


def test_orientation_of_a_straight_line():
    from icecrack_assets.ml.density import density_orientation

    m = np.zeros((50, 50), bool)
    for i in range(50):
        m[49 - i, i] = True  # a line rising to the north-east: 45 degrees
    dens, orient, length = density_orientation(m, np.ones_like(m), 10.0, 50)
    assert orient[0, 0] == pytest.approx(45.0, abs=1.0)
    assert length == pytest.approx(49 * np.sqrt(2) * 10 / 1000, rel=1e-6)
    assert dens[0, 0] == pytest.approx(length / 0.25)


def test_density_change_is_against_the_previous_year_with_data(tmp_path, tiny_raster):
    rng = np.random.default_rng(0)
    db = (-9 + 3 * rng.normal(size=(64, 64))).astype(np.float32)  # season backscatter, dB
    same = {"coregistered": True, "backscatter": str(tiny_raster(db, name="bs.tif", epsg=3031))}
    recs = [
        {"region": "amery", "year": 2021, "density_km_per_km2": 0.5, **same},
        {"region": "amery", "year": 2019, "density_km_per_km2": 0.4, **same},
        {"region": "fimbul", "year": 2020, "density_km_per_km2": 0.2, **same},
    ]
    df, csv_path, png_path = write_statistics(recs, tmp_path)
    amery = df[df["region"] == "amery"].to_dict("records")
    assert [r["year"] for r in amery] == [2019, 2021]
    assert amery[1]["previous_year"] == 2019
    assert amery[1]["density_change"] == pytest.approx(0.1)
    assert amery[1]["density_change_relative"] == pytest.approx(0.25)
    assert np.isnan(amery[0]["density_change"])
    assert np.isnan(df[df["region"] == "fimbul"]["density_change"].iloc[0])
    assert csv_path.read_text().count("\n") == 4
    assert png_path.stat().st_size > 1000


def test_products_drop_small_components_only(tmp_path):
    _, _, truth = synthetic_scene((200, 200), seed=2)
    prob = np.where(truth == 255, np.nan, truth * 0.9).astype(np.float32)
    far = ndimage.binary_dilation(truth != 0, iterations=3)
    (r1, c1), (r2, c2) = np.argwhere(~far)[[0, -1]]
    prob[r1, c1] = prob[r2, c2] = 0.95  # isolated specks
    prof = {
        "crs": "EPSG:3031",
        "transform": Affine(40, 0, -1600000, 0, -40, -440000),
        "width": 200,
        "height": 200,
    }
    a = write_crack_products(prob, prof, 0.5, tmp_path / "a", "s", 40.0)
    b = write_crack_products(prob, prof, 0.5, tmp_path / "b", "s", 40.0, min_component=4)
    with rasterio.open(a.paths.mask) as ma, rasterio.open(b.paths.mask) as mb:
        ka, kb = ma.read(1), mb.read(1)
        assert mb.tags()["min_component"] == "4"
    assert ka[r1, c1] == 1 and ka[r2, c2] == 1 and kb[r1, c1] == 0 and kb[r2, c2] == 0
    assert ((kb == 1) <= (ka == 1)).all() and ((kb == 255) == np.isnan(prob)).all()
    assert b.stats.crack_area_km2 < a.stats.crack_area_km2 and b.stats.min_component == 4
