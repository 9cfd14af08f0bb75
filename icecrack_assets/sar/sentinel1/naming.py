"""Sentinel-1 product names (ESA naming convention), parsed and built.

``MMM_BB_TTTR_LFPP_YYYYMMDDTHHMMSS_YYYYMMDDTHHMMSS_OOOOOO_DDDDDD_CCCC``: mission, beam mode,
product type + resolution, level/class/polarisation, start, stop, absolute orbit, mission data-take
id, product unique id. Both the simulator and the real readers go through this one module.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_NAME = re.compile(
    r"^(?P<mission>S1[A-D])_(?P<mode>IW|EW|SM|WV|S[1-6])_(?P<ptype>GRD|SLC|SL1|RAW|OCN)(?P<res>[FHM_])_"
    r"(?P<level>[0-2])(?P<pclass>[SA_])(?P<pol>SH|SV|DH|DV|HH|HV|VV|VH|_H|_V)_"
    r"(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})_(?P<orbit>\d{6})_(?P<datatake>[0-9A-F]{6})_(?P<uid>[0-9A-F]{4})"
)
_POLS = {
    "SH": ("HH",),
    "SV": ("VV",),
    "DH": ("HH", "HV"),
    "DV": ("VV", "VH"),
    "HH": ("HH",),
    "HV": ("HV",),
    "VV": ("VV",),
    "VH": ("VH",),
    "_H": ("HH",),
    "_V": ("VV",),
}


@dataclass(frozen=True)
class ProductName:
    """The fields of a Sentinel-1 product name."""

    mission: str
    mode: str
    product_type: str  # GRD | SLC | ...
    resolution: str  # F | H | M | '' (SLC)
    polarisations: tuple[str, ...]
    start: dt.datetime
    stop: dt.datetime
    absolute_orbit: int
    datatake: str
    uid: str

    @property
    def product(self) -> str:
        """GRD product class as users say it: GRDH, GRDM, GRDF, or SLC."""
        return f"{self.product_type}{self.resolution}"

    def __str__(self) -> str:
        return build_name(
            self.mission,
            self.mode,
            self.product,
            self.polarisations,
            self.start,
            self.stop,
            self.absolute_orbit,
            self.datatake,
            self.uid,
        )


def _ts(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=dt.timezone.utc)


def parse_name(name: str) -> ProductName | None:
    """Parse a product name (a file or folder name is fine: suffixes are ignored); None if not S1."""
    m = _NAME.match(name.split("/")[-1])
    if not m:
        return None
    res = m["res"].replace("_", "")
    return ProductName(
        m["mission"],
        m["mode"],
        m["ptype"],
        res,
        _POLS[m["pol"]],
        _ts(m["start"]),
        _ts(m["stop"]),
        int(m["orbit"]),
        m["datatake"],
        m["uid"],
    )


def build_name(
    mission: str,
    mode: str,
    product: str,
    polarisations: tuple[str, ...],
    start: dt.datetime,
    stop: dt.datetime,
    absolute_orbit: int,
    datatake: str,
    uid: str,
) -> str:
    """Build an ESA-style product name, e.g. ``S1A_IW_GRDH_1SDH_20240715T...``."""
    ptype, res = product[:3], product[3:] or "_"
    pol = {("HH",): "SH", ("VV",): "SV", ("HH", "HV"): "DH", ("VV", "VH"): "DV"}[tuple(polarisations)]
    fmt = "%Y%m%dT%H%M%S"
    return (
        f"{mission}_{mode}_{ptype}{res}_1S{pol}_{start.strftime(fmt)}_{stop.strftime(fmt)}_"
        f"{absolute_orbit:06d}_{datatake.upper():0>6}_{uid.upper():0>4}"
    )


def is_safe_scene_id(scene_id: str) -> bool:
    """A Sentinel-1 product name that is also a safe file stem: no path can escape its folder.

    Catalogue items come from outside (STAC, ASF, file names), and their ids become file names.
    """
    return (
        _NAME.fullmatch(scene_id) is not None  # the whole id: "X (copy)" or "X\nforged" are not names
        and "/" not in scene_id
        and "\\" not in scene_id
        and ".." not in scene_id
        and not scene_id.startswith(".")
    )
