"""Backscatter of each surface type (C-band HH, dB) and the hard negatives a crevasse detector meets.

Season-fixed: each surface's base level, textures, the spatial pattern of wet snow, meltwater
streams. Scene-specific: look direction (ascending / descending pass), wind over open water, wetness
on the acquisition day, a small calibration offset, incidence-angle trend, icebergs, the lit ice
cliffs at the front and rift walls, and a swath edge of nodata.

Levels (dB): dry firn / shelf ice -5..-12; Greenland summer wet snow -12..-20; bare glacier ice
-8..-12; open water -18..-28 with wind; sea ice / mélange -10..-18; rifts -17..-22; rock -3..-10
with bright radar-facing slopes; icebergs -4..0.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from icecrack_assets.regions import Region
from icecrack_assets.simulator.fields import band, fractal_noise, smooth_noise, smoothstep, wrapped
from icecrack_assets.simulator.layout import (
    CLIFF,
    GROUNDED,
    ICE,
    ICEBERG,
    NODATA,
    RIFT,
    ROCK,
    SEA_ICE,
    STREAM,
    WATER,
    Layout,
)


@dataclass
class Surface:
    """Season-fixed radiometry of one window."""

    base_db: dict[int, float]
    wet_drop_db: dict[int, float]  # dB lost at full wetness
    texture: np.ndarray  # float32 unit-std multi-scale texture (ice, rock, sea ice)
    fine: np.ndarray  # float32 unit-std pixel-scale texture
    wet_pattern: np.ndarray  # float32 0..1 where wet snow forms first
    stream_drop_db: float


@dataclass(frozen=True)
class Look:
    """Scene-specific acquisition state."""

    passdir: str  # "ascending" | "descending"
    range_col: float  # unit vector pointing away from the radar, image columns
    range_row: float  # ... image rows
    offset_db: float
    wetness: float  # 0 dry .. 1 fully wet surface snow
    wind_ms: float
    sea_ice_db: float  # per-scene jitter of sea ice


def build_surface(
    region: Region, layout: Layout, crevasse_zone: np.ndarray, rng: np.random.Generator
) -> Surface:
    """Base levels and textures for the season; adds meltwater streams (Greenland) to the layout."""
    S = layout.scale
    shape = layout.shape
    if layout.north:
        base = {
            ICE: rng.uniform(-10.5, -8.0),
            GROUNDED: rng.uniform(-9.0, -7.0),
            ROCK: rng.uniform(-8.0, -5.5),
            SEA_ICE: rng.uniform(-13.0, -10.0),
            RIFT: rng.uniform(-21.0, -17.0),
        }
        drop = {ICE: rng.uniform(1.5, 3.0), GROUNDED: rng.uniform(6.0, 10.0)}
    else:
        base = {
            ICE: rng.uniform(-10.0, -7.0),
            GROUNDED: rng.uniform(-9.0, -6.0),
            ROCK: rng.uniform(-8.0, -5.5),
            SEA_ICE: rng.uniform(-15.5, -11.5),
            RIFT: rng.uniform(-22.0, -17.0),
        }
        drop = {ICE: rng.uniform(4.0, 7.0), GROUNDED: rng.uniform(3.0, 6.0)}
    texture = fractal_noise(rng, shape, (0.06 * S, 0.015 * S, 6.0))
    fine = smooth_noise(rng, shape, 1.5)
    wet_pattern = smoothstep(-1.0, 1.0, smooth_noise(rng, shape, 0.1 * S))
    if layout.north:
        _add_streams(layout, crevasse_zone, rng)
    return Surface(base, drop, texture, fine, wet_pattern, float(rng.uniform(3.0, 6.0)))


def _add_streams(layout: Layout, crevasse_zone: np.ndarray, rng: np.random.Generator) -> None:
    """Supraglacial meltwater streams: thin dark channels running downslope, outside crevasse fields."""
    lam = rng.uniform(50.0, 110.0)
    phase = layout.across + 0.8 * lam * smooth_noise(rng, layout.shape, 3.0 * lam)
    g_row, g_col = np.gradient(phase)
    dist = np.abs(wrapped(phase / lam)) * lam / (np.hypot(g_row, g_col) + 1e-6)
    k = np.floor(phase / lam + 0.5).astype(np.int64)
    k -= k.min()
    offs = rng.random(int(k.max()) + 1)
    seg = 4.0 * lam
    on = (np.floor(layout.along / seg + offs[k]).astype(np.int64) + k) % 3 != 0
    where = (band(layout.a, 0.03, layout.params["a_sheet"] + 0.12, 0.03) > 0.5) & (crevasse_zone < 0.05)
    ice = (layout.classes == ICE) | (layout.classes == GROUNDED)
    layout.classes[(dist < rng.uniform(0.6, 0.9)) & on & where & ice] = STREAM


def draw_look(region: Region, acquired: dt.datetime, rng: np.random.Generator) -> Look:
    """Pass, look direction and the weather of one acquisition."""
    xc = (region.bounds[0] + region.bounds[2]) / 2.0
    yc = (region.bounds[1] + region.bounds[3]) / 2.0
    # direction of geographic north in the polar-stereographic grid
    north = math.atan2(-yc, -xc) if region.hemisphere == "north" else math.atan2(yc, xc)
    passdir = "ascending" if rng.random() < 0.5 else "descending"
    heading = math.radians((348.0 if passdir == "ascending" else 192.0) + rng.normal(0.0, 3.0))
    look_az = heading + math.pi / 2.0  # Sentinel-1 looks right of its track
    angle = north - look_az  # azimuth (clockwise from north) -> grid angle (counter-clockwise from +x)
    range_col, range_row = math.cos(angle), -math.sin(angle)
    doy = acquired.timetuple().tm_yday
    if region.hemisphere == "north":
        wetness = float(
            np.clip(0.55 + 0.45 * math.cos(2 * math.pi * (doy - 206) / 70.0) + rng.normal(0.0, 0.1), 0.0, 1.0)
        )
    else:
        top = 0.35 if region.summer_melt else 0.1
        wetness = float(rng.uniform(0.0, top)) * (1.0 if doy < 45 else 0.5)
    return Look(
        passdir,
        range_col,
        range_row,
        float(rng.normal(0.0, 0.3)),
        wetness,
        float(rng.uniform(1.5, 14.0)),
        float(rng.normal(0.0, 0.7)),
    )


def render_surface(
    layout: Layout,
    surface: Surface,
    look: Look,
    crevasse_zone: np.ndarray,
    pixel_size: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Speckle-free backscatter (dB) and the scene's surface classes (with icebergs, cliffs, nodata)."""
    shape = layout.shape
    S = layout.scale
    classes = layout.classes.copy()
    db = np.zeros(shape, np.float32)
    tex, fine = surface.texture, surface.fine
    wet = look.wetness * (0.7 + 0.3 * surface.wet_pattern)
    for cls in (ICE, GROUNDED):
        m = classes == cls
        db[m] = (
            surface.base_db[cls]
            - surface.wet_drop_db[cls] * wet[m]
            + 0.9 * tex[m]
            + 0.4 * fine[m]
            + 1.5 * crevasse_zone[m]
        )
    m = classes == STREAM
    db[m] = (
        surface.base_db[GROUNDED]
        - surface.wet_drop_db[GROUNDED] * wet[m]
        - surface.stream_drop_db
        + 0.4 * fine[m]
    )
    m = classes == ROCK
    if m.any():
        g_row, g_col = np.gradient(layout.elevation)
        facing = -(g_col * look.range_col + g_row * look.range_row)  # slope toward the radar
        facing = facing / (float(facing[m].std()) or 1.0)
        db[m] = surface.base_db[ROCK] + 3.0 * np.tanh(0.8 * facing[m]) + 0.8 * tex[m] + 0.5 * fine[m]
    wind_db = -28.0 + 10.0 * (np.clip(look.wind_ms, 2.0, 14.0) - 2.0) / 12.0
    streaks = smooth_noise(rng, shape, 0.03 * S)
    m = classes == WATER
    db[m] = wind_db + 1.2 * streaks[m] + 0.4 * fine[m]
    m = classes == SEA_ICE
    floes = np.tanh(1.5 * smooth_noise(rng, shape, max(2.0, 0.006 * S)))
    db[m] = surface.base_db[SEA_ICE] + look.sea_ice_db + 1.8 * floes[m] + 0.6 * tex[m] + 0.4 * fine[m]
    m = classes == RIFT
    db[m] = surface.base_db[RIFT] + 1.0 * floes[m] + 0.4 * fine[m]

    _cliffs(classes, db, look)
    _icebergs(classes, db, look, layout.north, rng)

    # incidence-angle trend across the swath (~0.15 dB/deg, ~0.07 deg/km), then calibration offset
    rows = np.arange(shape[0], dtype=np.float32)[:, None]
    cols = np.arange(shape[1], dtype=np.float32)[None, :]
    rng_px = cols * look.range_col + rows * look.range_row
    db += look.offset_db - 0.15 * 0.07 * (pixel_size / 1000.0) * (rng_px - float(rng_px.mean()))
    _swath_edge(classes, rng_px, rng)
    return db, classes


def _shift(mask: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """``out[r, c] = mask[r - dr, c - dc]`` (False outside)."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    out[max(dr, 0) : h + min(dr, 0), max(dc, 0) : w + min(dc, 0)] = mask[
        max(-dr, 0) : h + min(-dr, 0), max(-dc, 0) : w + min(-dc, 0)
    ]
    return out


def _cliffs(classes: np.ndarray, db: np.ndarray, look: Look) -> None:
    """Ice cliffs facing the radar (front, rift walls) are bright; the water behind them is shadowed."""
    dr, dc = int(round(look.range_row)), int(round(look.range_col))
    low = (classes == WATER) | (classes == SEA_ICE) | (classes == RIFT)
    ice = classes == ICE
    lit = ice & _shift(low, dr, dc)  # near-range neighbour is open: the cliff faces the radar
    shadow = low & _shift(ice, dr, dc)  # open surface just beyond an ice edge
    db[lit] += 5.0
    db[shadow] -= 2.5
    classes[lit] = CLIFF


def _icebergs(classes: np.ndarray, db: np.ndarray, look: Look, north: bool, rng: np.random.Generator) -> None:
    """Bright point targets with a shadow on their far-range side, in water, mélange and rifts."""
    sea = np.flatnonzero((classes == WATER) | (classes == SEA_ICE) | (classes == RIFT))
    if sea.size == 0:
        return
    density = 0.004 if north else 0.0008
    n = int(rng.poisson(density * sea.size))
    if n == 0:
        return
    h, w = classes.shape
    centres = rng.choice(sea, size=n, replace=False) if n < sea.size else sea
    r0, c0 = np.divmod(centres, w)
    radius = rng.uniform(0.5, 2.6, centres.size)
    level = rng.uniform(-4.0, 0.0, centres.size).astype(np.float32)
    for dr in range(-3, 4):
        for dc in range(-3, 4):
            hit = dr * dr + dc * dc <= radius * radius
            rr, cc = r0[hit] + dr, c0[hit] + dc
            ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            rr, cc = rr[ok], cc[ok]
            db[rr, cc] = level[hit][ok]
            classes[rr, cc] = ICEBERG
            sr = rr + int(round(1.5 * look.range_row))
            sc = cc + int(round(1.5 * look.range_col))
            ok = (sr >= 0) & (sr < h) & (sc >= 0) & (sc < w)
            sr, sc = sr[ok], sc[ok]
            behind = classes[sr, sc] != ICEBERG
            db[sr[behind], sc[behind]] -= 4.0


def _swath_edge(classes: np.ndarray, rng_px: np.ndarray, rng: np.random.Generator) -> None:
    """About a third of scenes end at a swath edge (along azimuth) inside the window: nodata."""
    if rng.random() >= 0.35:
        return
    lo, hi = float(rng_px.min()), float(rng_px.max())
    if rng.random() < 0.5:
        classes[rng_px > hi - rng.uniform(0.03, 0.15) * (hi - lo)] = NODATA
    else:
        classes[rng_px < lo + rng.uniform(0.03, 0.15) * (hi - lo)] = NODATA
