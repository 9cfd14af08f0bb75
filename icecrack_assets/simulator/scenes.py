"""The embedded data source: physically plausible Sentinel-1 HH scenes with crevasse ground truth.

Geometry (glacier or shelf layout, crevasse fields, rifts, streams) is seeded by (region, year, seed):
every scene of a season sees the same crevasses, a new year or a new seed gives a new layout. Each
scene then draws its own pass (look direction, so which crevasse wall is lit), weather (wind over
water, wet snow), icebergs, swath edge and speckle. Output is linear sigma0 on the region's grid
(or a top-left sub-window of it), named like a real product, with ``<scene_id>.truth.tif`` beside it.
See docs/simulator.md for the physical model.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from affine import Affine

from icecrack_assets.errors import IceCrackError
from icecrack_assets.raster import MASK_NODATA as TRUTH_NODATA
from icecrack_assets.raster import float_profile, write_raster_atomic
from icecrack_assets.regions import FIRST_SENTINEL1_YEAR, Region
from icecrack_assets.sar.sentinel1.naming import build_name
from icecrack_assets.simulator.crevasses import CrevasseField, build_crevasses, render_crevasses
from icecrack_assets.simulator.layout import GROUNDED, ICE, NODATA, Layout, build_layout
from icecrack_assets.simulator.speckle import gamma_speckle
from icecrack_assets.simulator.surface import Surface, build_surface, draw_look, render_surface

SIMULATOR_VERSION = "1.0"
PRODUCT_SECONDS = 25  # duration of one GRD slice in the product name
MIN_SIDE = 16
MAX_SEASON_COUNT = 500

_S1A_LAUNCH = dt.datetime(2014, 4, 3, tzinfo=dt.timezone.utc)
_S1B_LAUNCH = dt.datetime(2016, 4, 25, tzinfo=dt.timezone.utc)
_S1B_OPERATIONS = (
    dt.datetime(2016, 9, 26, tzinfo=dt.timezone.utc),
    dt.datetime(2021, 12, 23, tzinfo=dt.timezone.utc),
)
_ORBITS_PER_DAY = 175 / 12  # 175 orbits per 12-day repeat cycle


@dataclass
class SimulatedScene:
    """One simulated acquisition; ``classes`` (surface types, see sim_layout) helps score hard negatives."""

    scene_id: str
    acquired: dt.datetime  # UTC start time
    intensity: np.ndarray  # float32 linear sigma0 with speckle; NaN = nodata
    clean: np.ndarray  # float32 linear sigma0 without speckle
    truth: np.ndarray  # uint8 1 crack / 0 not / 255 nodata
    transform: Affine
    crs: str  # "EPSG:3413" / "EPSG:3031"
    looks: float
    region: str
    seed: int
    classes: np.ndarray | None = None  # uint8 surface class per pixel (sim_layout.CLASS_NAMES)
    passdir: str = ""  # "ascending" | "descending"
    look_direction: tuple[float, float] = (0.0, 0.0)  # unit (col, row) vector pointing away from the radar
    correlated: bool = False
    crevasse_zone: np.ndarray | None = None  # float32 0..1 strength of the season's crevasse fields


@dataclass
class _Season:
    layout: Layout
    crevasses: CrevasseField
    surface: Surface


def _region_key(region: Region) -> int:
    return zlib.crc32(region.name.encode())


def _as_utc(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def _check_shape(region: Region, shape: tuple[int, int] | None) -> tuple[int, int]:
    if shape is None:
        return region.height, region.width
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise IceCrackError(f"shape must be two integers (height, width), got {shape!r}") from None
    if h < MIN_SIDE or w < MIN_SIDE:
        raise IceCrackError(f"shape {h}x{w} is too small; each side needs at least {MIN_SIDE} pixels")
    if h > region.height or w > region.width:
        raise IceCrackError(
            f"shape {h}x{w} is larger than the {region.name} grid "
            f"({region.height}x{region.width}); a shape selects a top-left sub-window"
        )
    return h, w


@lru_cache(maxsize=1)
def _season_geometry(
    region: Region, year: int, seed: int, shape: tuple[int, int], width: tuple[float, float]
) -> _Season:
    """The glacier as it is this season (cached: consecutive scenes of a season share it)."""
    ss = np.random.SeedSequence([seed, year, _region_key(region), 1])
    r_layout, r_crev, r_surface = (np.random.default_rng(s) for s in ss.spawn(3))
    layout = build_layout(region, shape, r_layout)
    crevasses = build_crevasses(layout, r_crev, region.pixel_size, width)
    surface = build_surface(region, layout, crevasses.zone, r_surface)
    return _Season(layout, crevasses, surface)


def simulate_scene(
    region: Region,
    acquired: dt.datetime,
    seed: int,
    shape: tuple[int, int] | None = None,
    looks: float | None = None,
    correlated: bool = False,
    crevasse_width: tuple[float, float] = (1.0, 3.0),
) -> SimulatedScene:
    """Simulate one acquisition of ``region`` at ``acquired`` (must lie in the region's season).

    ``shape`` simulates a (height, width) sub-window at the AOI's top-left; ``looks`` overrides the
    mode's equivalent number of looks; ``correlated`` gives spatially correlated speckle.
    """
    acquired = _as_utc(acquired).replace(microsecond=0)
    if not region.in_season(acquired):
        start, end = region.season(acquired.year)
        raise IceCrackError(
            f"{acquired.isoformat()} is outside the {region.name} season ({start:%m-%d} .. {end:%m-%d})"
        )
    if seed < 0:
        raise IceCrackError(f"seed must be a non-negative integer, got {seed}")
    looks = float(region.looks if looks is None else looks)
    if not (looks > 0 and math.isfinite(looks)):
        raise IceCrackError(f"looks must be a positive number, got {looks}")
    lo, hi = (float(v) for v in crevasse_width)
    if not (0.3 <= lo <= hi <= 8.0):
        raise IceCrackError(
            f"crevasse_width must satisfy 0.3 <= min <= max <= 8 pixels, got {crevasse_width}"
        )
    shape = _check_shape(region, shape)
    season = _season_geometry(region, acquired.year, int(seed), shape, (lo, hi))

    ss = np.random.SeedSequence([int(seed), acquired.year, _region_key(region), int(acquired.timestamp()), 2])
    r_look, r_render, r_speckle = (np.random.default_rng(s) for s in ss.spawn(3))
    look = draw_look(region, acquired, r_look)
    db, classes = render_surface(
        season.layout, season.surface, look, season.crevasses.zone, region.pixel_size, r_render
    )
    delta, footprint = render_crevasses(season.crevasses, look.range_col, look.range_row)
    ice = (classes == ICE) | (classes == GROUNDED)
    db += np.where(ice, delta, 0.0).astype(np.float32)
    clean = np.power(10.0, db / 10.0, dtype=np.float32)
    intensity = clean * gamma_speckle(r_speckle, shape, looks, correlated)
    nodata = classes == NODATA
    clean[nodata] = np.nan
    intensity[nodata] = np.nan
    truth = (footprint & ice).astype(np.uint8)
    truth[nodata] = TRUTH_NODATA
    return SimulatedScene(
        scene_name(region, acquired, int(seed)),
        acquired,
        intensity,
        clean,
        truth,
        region.transform,
        region.crs,
        looks,
        region.name,
        int(seed),
        classes,
        look.passdir,
        (look.range_col, look.range_row),
        bool(correlated),
        season.crevasses.zone,
    )


def scene_name(region: Region, acquired: dt.datetime, seed: int) -> str:
    """An ESA-style product name: mission flying then, plausible orbit, seeded datatake and uid."""
    acquired = _as_utc(acquired).replace(microsecond=0)
    rng = np.random.default_rng([int(seed), _region_key(region), int(acquired.timestamp()), 3])
    s1b_flying = _S1B_OPERATIONS[0] <= acquired <= _S1B_OPERATIONS[1]
    mission = "S1B" if s1b_flying and rng.random() < 0.5 else "S1A"
    launch = _S1B_LAUNCH if mission == "S1B" else _S1A_LAUNCH
    orbit = 1 + int((acquired - launch).total_seconds() / 86400.0 * _ORBITS_PER_DAY)
    datatake = f"{(orbit * 45 + int(rng.integers(0, 45))) % 0xFFFFFF:06X}"
    uid = f"{int(rng.integers(0, 0x10000)):04X}"
    stop = acquired + dt.timedelta(seconds=PRODUCT_SECONDS)
    return build_name(mission, region.mode, region.product, ("HH",), acquired, stop, orbit, datatake, uid)


def scene_tags(scene: SimulatedScene) -> dict[str, str]:
    return {
        "POLARISATION": "HH",
        "LOOKS": f"{scene.looks:g}",
        "UNITS": "linear_sigma0",
        "ICECRACK_SOURCE": "simulator",
        "ICECRACK_SEED": str(scene.seed),
        "ICECRACK_SIMULATOR_VERSION": SIMULATOR_VERSION,
        "ICECRACK_REGION": scene.region,
        "ICECRACK_PASS": scene.passdir,
        "ICECRACK_CORRELATED_SPECKLE": str(scene.correlated).lower(),
    }


def write_scene(scene: SimulatedScene, landing_dir: Path) -> tuple[Path, Path]:
    """Write ``<scene_id>.truth.tif`` then ``<scene_id>.tif`` atomically (truth first, so a watcher
    that sees the scene always finds its truth)."""
    landing_dir = Path(landing_dir)
    h, w = scene.intensity.shape
    base = dict(driver="GTiff", width=w, height=h, crs=scene.crs, transform=scene.transform)
    scene_path = landing_dir / f"{scene.scene_id}.tif"
    truth_path = landing_dir / f"{scene.scene_id}.truth.tif"
    write_raster_atomic(
        truth_path,
        scene.truth.astype(np.uint8),
        float_profile(base, dtype="uint8", nodata=TRUTH_NODATA),
        tags={
            "ICECRACK_SOURCE": "simulator",
            "ICECRACK_SEED": str(scene.seed),
            "ICECRACK_SIMULATOR_VERSION": SIMULATOR_VERSION,
            "ICECRACK_TRUTH": "1=crevasse 0=no crevasse 255=nodata",
        },
    )
    write_raster_atomic(
        scene_path, scene.intensity.astype(np.float32), float_profile(base), tags=scene_tags(scene)
    )
    return scene_path, truth_path


def acquisition_times(
    region: Region, year: int, count: int, seed: int, now: dt.datetime | None = None
) -> list[dt.datetime]:
    """``count`` start times spread over the season (clipped at ``now`` while it is in progress).

    Sentinel-1 flies a dawn-dusk orbit: descending passes near 06:00 and ascending near 18:00 local
    solar time, so times of day follow the region's longitude.
    """
    if count <= 0:
        raise IceCrackError(f"count must be a positive integer, got {count}")
    if count > MAX_SEASON_COUNT:
        raise IceCrackError(f"count {count} is more than {MAX_SEASON_COUNT} scenes per season")
    current = (now or dt.datetime.now(dt.timezone.utc)).year
    if not FIRST_SENTINEL1_YEAR <= year <= current:
        raise IceCrackError(f"year {year} is outside {FIRST_SENTINEL1_YEAR}..{current} (Sentinel-1 seasons)")
    start, end = region.season(year)
    now = _as_utc(now or dt.datetime.now(dt.timezone.utc))
    if start > now:
        raise IceCrackError(f"the {region.name} {year} season has not started yet (starts {start:%Y-%m-%d})")
    end = min(end, now)
    rng = np.random.default_rng([int(seed), year, _region_key(region), 4])
    lon_hours = region.centre_lonlat[0] / 15.0
    span = (end - start).total_seconds()
    times: list[dt.datetime] = []
    for i in range(count):
        day = start + dt.timedelta(seconds=span * (i + 0.5) / count)
        solar = (6.0 if rng.random() < 0.5 else 18.0) + rng.normal(0.0, 0.6)
        utc_hours = (solar - lon_hours) % 24.0
        t = day.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(hours=utc_hours)
        t = min(max(t, start), end).replace(microsecond=0)
        if times and t <= times[-1]:
            t = times[-1] + dt.timedelta(seconds=PRODUCT_SECONDS)
        times.append(t)
    if times[-1] > end:
        raise IceCrackError(f"count {count} does not fit in the {region.name} {year} season so far")
    return times


def simulate_season(
    region: Region,
    year: int,
    count: int,
    seed: int,
    landing_dir: Path,
    shape: tuple[int, int] | None = None,
    looks: float | None = None,
    correlated: bool = False,
) -> list[Path]:
    """Simulate and write ``count`` scenes of one season; the same arguments give the same files."""
    paths = []
    for when in acquisition_times(region, year, count, seed):
        scene = simulate_scene(region, when, seed, shape=shape, looks=looks, correlated=correlated)
        paths.append(write_scene(scene, Path(landing_dir))[0])
    return paths
