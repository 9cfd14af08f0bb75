import datetime as dt

import pytest
from pyproj import Transformer
from shapely.geometry import box

from icecrack_assets.errors import IceCrackError
from icecrack_assets.regions import ANTARCTIC_REGIONS, GREENLAND_REGIONS, REGIONS, get_region, regions_for


def test_seven_regions_of_the_method():
    assert set(GREENLAND_REGIONS) == {"jakobshavn", "kangerdlussuaq"}
    assert set(ANTARCTIC_REGIONS) == {"amery", "fimbul", "nickerson", "shackleton", "thwaites"}
    for name in GREENLAND_REGIONS:
        r = REGIONS[name]
        assert (r.epsg, r.mode, r.season_start, r.season_end) == (3413, "IW", (7, 1), (8, 31))
    for name in ANTARCTIC_REGIONS:
        r = REGIONS[name]
        assert (r.epsg, r.mode, r.season_start) == (3031, "EW", (1, 1))


@pytest.mark.parametrize("name", list(REGIONS))
def test_aoi_contains_the_published_coordinate(name):
    r = REGIONS[name]
    x, y = Transformer.from_crs(4326, r.epsg, always_xy=True).transform(*r.centre_lonlat)
    assert box(*r.bounds).contains(box(x - 1, y - 1, x + 1, y + 1))
    assert r.width * r.pixel_size == pytest.approx(r.bounds[2] - r.bounds[0])
    assert r.transform @ (r.width, r.height) == pytest.approx((r.bounds[2], r.bounds[1]))


def test_antarctic_season_ends_with_february_in_leap_and_common_years():
    amery = get_region("amery")
    assert amery.season(2024)[1].date() == dt.date(2024, 2, 29)
    assert amery.season(2023)[1].date() == dt.date(2023, 2, 28)
    assert amery.in_season(dt.datetime(2023, 2, 28, 23, 0))
    assert not amery.in_season(dt.datetime(2023, 3, 1, 0, 1))
    assert get_region("Jakobshavn").in_season(dt.datetime(2020, 8, 31, 12))


def test_regions_for_maps_a_footprint_by_place_season_and_mode():
    lon, lat = REGIONS["jakobshavn"].centre_lonlat
    ring = [(lon - 1, lat - 0.5), (lon + 1, lat - 0.5), (lon + 1, lat + 0.5), (lon - 1, lat + 0.5)]
    july = dt.datetime(2024, 7, 15, tzinfo=dt.timezone.utc)
    assert [r.name for r in regions_for(ring, july, "IW")] == ["jakobshavn"]
    assert regions_for(ring, july, "EW") == []
    assert regions_for(ring, dt.datetime(2024, 1, 15, tzinfo=dt.timezone.utc), "IW") == []


def test_unknown_region_is_a_one_line_error():
    with pytest.raises(IceCrackError, match="unknown region 'petermann'.*jakobshavn"):
        get_region("petermann")
