"""The seven regions of the AIR-CAS method: the one place that owns every region fact.

AOI, CRS, grid spacing, season, Sentinel-1 mode and looks, glacier or shelf, flow direction,
summer melt, and the test of whether an acquisition can serve a region. Partitions, schedules,
the sensor, the simulator and the CLI all read them from here, so a new region is one entry below.

AOIs are study windows over each glacier's or ice shelf's crevassed area, centred on published
coordinates (Wikipedia / GNIS / SCAR gazetteer positions, noted per region) and projected with pyproj
into NSIDC polar stereographic (EPSG:3413 north, EPSG:3031 south), snapped to whole kilometres.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from affine import Affine

from icecrack_assets.errors import IceCrackError

# ESA Sentinel-1 product definition: equivalent number of looks of the GRD products, by (mode, class).
# The regions use IW GRDH (10 m pixels) and EW GRDM (40 m pixels).
GRD_LOOKS: dict[tuple[str, str], float] = {
    ("IW", "GRDH"): 4.4,
    ("IW", "GRDM"): 81.8,
    ("EW", "GRDH"): 2.7,
    ("EW", "GRDM"): 10.7,
}
FIRST_SENTINEL1_YEAR = 2015  # first full Sentinel-1A summers in both hemispheres


@dataclass(frozen=True)
class Region:
    """A study region: where (AOI in a polar CRS), when (season) and how (S1 mode) to map cracks."""

    name: str
    title: str
    hemisphere: str  # "north" | "south"
    epsg: int
    bounds: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in metres of ``epsg``
    pixel_size: float  # processing grid spacing, metres
    mode: str  # Sentinel-1 acquisition mode: "IW" | "EW"
    product: str  # GRD product class: "GRDH" | "GRDM"
    polarisation: str
    looks: float  # equivalent number of looks of the mode's GRD product
    season_start: tuple[int, int]  # (month, day), inclusive
    season_end: tuple[int, int]  # (month, day), inclusive; (2, 29) means end of February
    centre_lonlat: tuple[float, float]  # the published coordinate the AOI is built around
    ice_sheet: str  # "greenland" | "antarctic": one seasonal schedule per ice sheet
    kind: str  # "glacier" (outlet glacier in a fjord) | "shelf" (floating ice shelf)
    flow_deg: float  # approximate ice-flow direction in the map grid, degrees counter-clockwise from +x
    summer_melt: bool = False  # surface melt during the season (wet snow, meltwater streams)

    @property
    def crs(self) -> str:
        return f"EPSG:{self.epsg}"

    @property
    def width(self) -> int:
        return int(round((self.bounds[2] - self.bounds[0]) / self.pixel_size))

    @property
    def height(self) -> int:
        return int(round((self.bounds[3] - self.bounds[1]) / self.pixel_size))

    @property
    def transform(self) -> Affine:
        """North-up grid transform of the AOI at the processing spacing."""
        return Affine(self.pixel_size, 0.0, self.bounds[0], 0.0, -self.pixel_size, self.bounds[3])

    def season(self, year: int) -> tuple[dt.datetime, dt.datetime]:
        """The season's first and last instant (UTC) in ``year``; end of February honours leap years."""
        start = dt.datetime(year, *self.season_start, tzinfo=dt.timezone.utc)
        month, day = self.season_end
        if (month, day) == (2, 29):
            day = 29 if _is_leap(year) else 28
        end = dt.datetime(year, month, day, 23, 59, 59, 999999, tzinfo=dt.timezone.utc)
        return start, end

    def in_season(self, when: dt.datetime) -> bool:
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        start, end = self.season(when.year)
        return start <= when <= end

    @property
    def season_close(self) -> tuple[int, int]:
        """(month, day) after the season's last day: when its seasonal run is due."""
        month, day = self.season_end
        if (month, day) == (2, 29):
            return (3, 1)
        last = dt.date(2001, month, day)  # a common year: the day after is well defined
        nxt = last + dt.timedelta(days=1)
        return (nxt.month, nxt.day)

    def overlaps_footprint(self, footprint_lonlat: list[tuple[float, float]]) -> bool:
        """Whether a footprint (lon/lat ring, as in product annotations) overlaps the AOI."""
        from pyproj import Transformer
        from shapely.geometry import Polygon, box

        lats = [lat for _, lat in footprint_lonlat]
        if not lats or (self.hemisphere == "north") != (sum(lats) / len(lats) > 0):
            return False
        to_polar = Transformer.from_crs(4326, self.epsg, always_xy=True)
        ring = [to_polar.transform(lon, lat) for lon, lat in footprint_lonlat]
        return bool(Polygon(ring).buffer(0).intersects(box(*self.bounds)))

    def fit_problems(
        self,
        when: dt.datetime,
        mode: str | None = None,
        product_type: str | None = None,
        footprint_lonlat: list[tuple[float, float]] | None = None,
    ) -> list[str]:
        """Why an acquisition cannot serve this region (empty when it can): the one fit test.

        ``product_type`` is the S1 product type (GRD, SLC, ...): only GRD is processed.
        """
        problems = []
        if product_type is not None and product_type.upper() != "GRD":
            problems.append(
                f"is an {product_type} product; only GRD products can be ingested "
                "(SLC needs burst merging, detection and multilooking first)"
            )
        if mode is not None and mode.upper() != self.mode:
            problems.append(
                f"is an {mode} product, but region {self.name} uses {self.mode} ({self.product}) acquisitions"
            )
        if not self.in_season(when):
            s0, s1 = self.season(when.year)
            problems.append(
                f"acquired {when:%Y-%m-%d}, outside the {self.name} season ({s0:%d %b}-{s1:%d %b})"
            )
        if footprint_lonlat is not None and not self.overlaps_footprint(footprint_lonlat):
            problems.append(f"footprint does not overlap the {self.name} AOI")
        return problems

    def intersects(self, bounds: tuple[float, float, float, float]) -> bool:
        """Whether ``bounds`` (in this region's CRS) overlap the AOI."""
        xmin, ymin, xmax, ymax = bounds
        return not (
            xmax <= self.bounds[0]
            or xmin >= self.bounds[2]
            or ymax <= self.bounds[1]
            or ymin >= self.bounds[3]
        )


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


_GREENLAND: dict[str, Any] = dict(
    hemisphere="north",
    epsg=3413,
    pixel_size=20.0,
    mode="IW",
    product="GRDH",
    polarisation="HH",
    looks=GRD_LOOKS[("IW", "GRDH")],
    season_start=(7, 1),
    season_end=(8, 31),
    ice_sheet="greenland",
    kind="glacier",
    summer_melt=True,
)
_ANTARCTICA: dict[str, Any] = dict(
    hemisphere="south",
    epsg=3031,
    pixel_size=40.0,
    mode="EW",
    product="GRDM",
    polarisation="HH",
    looks=GRD_LOOKS[("EW", "GRDM")],
    season_start=(1, 1),
    season_end=(2, 29),
    ice_sheet="antarctic",
    kind="shelf",
)

REGIONS: dict[str, Region] = {
    r.name: r
    for r in (
        # Jakobshavn Isbrae (Sermeq Kujalleq), 69.17 N 49.83 W: lower trunk and fjord, 40 x 30 km
        Region(
            "jakobshavn",
            "Jakobshavn Isbræ",
            bounds=(-212000, -2288000, -172000, -2258000),
            centre_lonlat=(-49.83, 69.17),
            flow_deg=180.0,
            **_GREENLAND,
        ),
        # Kangerlussuaq Glacier, 68.63 N 32.95 W: terminus and lower trunk, 30 x 30 km
        Region(
            "kangerdlussuaq",
            "Kangerdlugssuaq Glacier",
            bounds=(474000, -2305000, 504000, -2275000),
            centre_lonlat=(-32.95, 68.63),
            flow_deg=290.0,
            **_GREENLAND,
        ),
        # Amery Ice Shelf, 69.75 S 71.5 E: northern shelf, 100 x 80 km (the 2015-2021 ice front lies north of it)
        Region(
            "amery",
            "Amery Ice Shelf",
            bounds=(2058000, 665000, 2158000, 745000),
            centre_lonlat=(71.5, -69.75),
            flow_deg=18.0,
            summer_melt=True,  # melt-prone shelves see some January surface melt
            **_ANTARCTICA,
        ),
        # Fimbul Ice Shelf, 70.3 S 0.5 W: Jutulstraumen outflow and Trolltunga root, 80 x 80 km
        Region(
            "fimbul",
            "Fimbul Ice Shelf",
            bounds=(-59000, 2121000, 21000, 2201000),
            centre_lonlat=(-0.5, -70.3),
            flow_deg=90.0,
            **_ANTARCTICA,
        ),
        # Nickerson Ice Shelf, 75.75 S 145 W (Marie Byrd Land), 60 x 60 km
        Region(
            "nickerson",
            "Nickerson Ice Shelf",
            bounds=(-922000, -1305000, -862000, -1245000),
            centre_lonlat=(-145.0, -75.75),
            flow_deg=235.0,
            **_ANTARCTICA,
        ),
        # Shackleton Ice Shelf, 66 S 100 E: central shelf, 120 x 80 km
        Region(
            "shackleton",
            "Shackleton Ice Shelf",
            bounds=(2545000, -499000, 2665000, -419000),
            centre_lonlat=(100.0, -66.0),
            flow_deg=350.0,
            summer_melt=True,  # melt-prone shelves see some January surface melt
            **_ANTARCTICA,
        ),
        # Thwaites Glacier Tongue and Eastern Ice Shelf, 75 S 106.5 W, 80 x 60 km
        Region(
            "thwaites",
            "Thwaites Glacier",
            bounds=(-1611000, -495000, -1531000, -435000),
            centre_lonlat=(-106.5, -75.0),
            flow_deg=197.0,
            **_ANTARCTICA,
        ),
    )
}


GREENLAND_REGIONS = tuple(n for n, r in REGIONS.items() if r.ice_sheet == "greenland")
ANTARCTIC_REGIONS = tuple(n for n, r in REGIONS.items() if r.ice_sheet == "antarctic")


def get_region(name: str) -> Region:
    """Look a region up by name, with a clear error listing the valid names."""
    try:
        return REGIONS[name.lower()]
    except KeyError:
        raise IceCrackError(f"unknown region {name!r}; choose one of {', '.join(REGIONS)}") from None


def regions_for(
    footprint_lonlat: list[tuple[float, float]], when: dt.datetime, mode: str | None = None
) -> list[Region]:
    """Regions whose AOI a footprint (lon/lat ring) overlaps and whose season contains ``when``."""
    return [r for r in REGIONS.values() if not r.fit_problems(when, mode, None, footprint_lonlat)]


def ice_sheets() -> dict[str, tuple[Region, ...]]:
    """Regions grouped by ice sheet, in definition order (one seasonal schedule each)."""
    groups: dict[str, list[Region]] = {}
    for region in REGIONS.values():
        groups.setdefault(region.ice_sheet, []).append(region)
    return {k: tuple(v) for k, v in groups.items()}
