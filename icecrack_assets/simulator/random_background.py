"""Backgrounds and hard negatives of the randomised simulator (clean sigma0 in dB, truth 0 there).

Surfaces: dry snow, wet snow, blue ice, percolation-zone firn, each with multi-scale texture, and an
optional second surface behind a wandering boundary (a snow line). Hard negatives, drawn on top:
snow dunes ("ripples": lineations 0.5-5 km apart; sastrugi are sub-pixel), supraglacial streams
(thin meandering lines, dark or bright) and lakes, a rift, an ice front with open water or mélange
and its cliff, icebergs, rock with slope shading, layover and shadow, and point targets with their
range / azimuth sidelobes. Optionally (``BackgroundStyle.bright_zone_db`` > 0, never drawn by the
style sampler itself), uncracked bright zones: patches brighter and rougher than the ice around
them, with no lineation. A real crevasse field at 20-40 m looks like a bright textured zone; these
say that brightness and roughness alone are not a crack.

A rift is *not* a crevasse here: where it is at least ``RIFT_MIN_PX`` wide (a full-thickness fracture
filled with mélange or sea water) it is a hard negative (truth 0); its narrower tip, which looks like
a crevasse, is "unknown" (truth 255).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from icecrack_assets.simulator.fields import fractal_noise, smooth_noise, smoothstep
from icecrack_assets.simulator.polyline import distance_to, meander
from icecrack_assets.simulator.random_cracks import frame, interval_overlap, smooth_patches

# class codes of RandomScene.classes (uint8)
BACKGROUND, STREAM, LAKE, RIFT, CLIFF, WATER, MELANGE, ROCK, ICEBERG, POINT, RIFT_TIP, BRIGHT_ZONE = range(12)
NODATA_CLASS = 255
CLASS_NAMES = {
    BACKGROUND: "snow / ice surface",
    STREAM: "supraglacial stream",
    LAKE: "supraglacial lake",
    RIFT: "rift (>= RIFT_MIN_PX wide)",
    CLIFF: "ice cliff / rift wall",
    WATER: "open water",
    MELANGE: "melange / sea ice",
    ROCK: "rock, layover, shadow",
    ICEBERG: "iceberg",
    POINT: "point target and sidelobes",
    RIFT_TIP: "narrow rift tip (unknown)",
    BRIGHT_ZONE: "uncracked bright, rough zone",
    NODATA_CLASS: "nodata",
}
RIFT_MIN_PX = 8.0

SURFACES = {  # level range (dB), texture range (dB)
    "dry-snow": ((-14.0, -6.0), (0.5, 2.0)),
    "wet-snow": ((-24.0, -15.0), (0.3, 1.5)),
    "blue-ice": ((-18.0, -9.0), (0.3, 1.0)),
    "percolation": ((-6.0, 1.0), (1.0, 3.0)),
}
DUNE_SPACING_M = (500.0, 5000.0)  # snow dunes to megadunes (the "ripples" hard negative)
HARD_NEGATIVES = ("ripples", "streams", "lakes", "rift", "front", "icebergs", "rock", "points")


@dataclass
class Background:
    db: np.ndarray  # float32 clean sigma0 (dB) without cracks and sensor effects
    classes: np.ndarray  # uint8 class codes
    rift_tip: tuple[float, float, float] | None  # (row, col, direction deg) of a rift tip in the scene


def _surface(name: str, level: float, tex_db: float, scales, decay, rng, shape) -> np.ndarray:
    tex = fractal_noise(rng, shape, tuple(scales), decay)
    return (level + tex_db * tex).astype(np.float32)


def render_background(
    bg,
    look: tuple[float, float],
    shape: tuple[int, int],
    rng: np.random.Generator,
    tip: bool,
    pixel_size: float,
):
    """Clean dB, classes and (if ``tip``) a rift ending inside the window for the rift-tip family.
    ``pixel_size`` (m) scales what has a physical size rather than a size in pixels (dunes)."""
    h, w = shape
    n = float(max(h, w))
    db = _surface(bg.surface, bg.level_db, bg.texture_db, bg.texture_scales_px, bg.texture_decay, rng, shape)
    if bg.second_surface:
        lvl_lo, lvl_hi = SURFACES[bg.second_surface][0]
        tex_lo, tex_hi = SURFACES[bg.second_surface][1]
        other = _surface(
            bg.second_surface,
            rng.uniform(lvl_lo, lvl_hi),
            rng.uniform(tex_lo, tex_hi),
            bg.texture_scales_px,
            bg.texture_decay,
            rng,
            shape,
        )
        u, _ = frame(shape, rng.uniform(0, 360), (h / 2, w / 2))
        edge = u + 0.1 * n * smooth_noise(rng, shape, 0.3 * n) - rng.uniform(-0.3, 0.3) * n
        mix = smoothstep(-bg.boundary_px, bg.boundary_px, edge)
        db = db * (1 - mix) + other * mix
    classes = np.zeros(shape, np.uint8)
    negs = set(bg.hard_negatives)
    if "ripples" in negs:
        _ripples(db, rng, shape, pixel_size)
    if "lakes" in negs:
        _lakes(db, classes, rng, shape)
    if "streams" in negs:
        _streams(db, classes, rng, shape)
    rift_tip = None
    if "rift" in negs or tip:
        rift_tip = _rift(db, classes, look, rng, shape, tip)
    if "front" in negs:
        _front(db, classes, look, rng, shape, icebergs="icebergs" in negs)
    if "rock" in negs:
        _rock(db, classes, look, rng, shape)
    if "points" in negs:
        _points(db, classes, look, rng, shape)
    if bg.bright_zone_db > 0:  # last, so that every draw before it is unchanged
        _bright_zones(db, classes, bg.bright_zone_db, rng, shape)
    return Background(db.astype(np.float32), classes, rift_tip)


def _ripples(db, rng, shape, pixel_size: float) -> None:
    """Snow dunes and megadunes: smooth periodic lineations 0.5-5 km apart, 0.3-2 dB, in patches.

    Why metres, not pixels: sastrugi and wind ripples (0.1-10 m) are far below a Sentinel-1 pixel
    and only change the level; what a 10-50 m pixel resolves as periodic snow bedforms are dunes
    and megadunes, hundreds of metres to kilometres apart. Lineations a few pixels apart (simulator
    1.0 drew them 2.5-15 px apart at any spacing) are what a real crevasse field looks like, so
    calling them "not crack" taught the model to miss real fields (docs/model.md, "Ripples at
    their physical scale")."""
    lam_m = math.exp(rng.uniform(math.log(DUNE_SPACING_M[0]), math.log(DUNE_SPACING_M[1])))
    lam = lam_m / pixel_size
    u, _ = frame(shape, rng.uniform(0, 180), (0.0, 0.0))
    u = u + 0.5 * lam * smooth_noise(rng, shape, rng.uniform(4, 10) * lam)
    wave = np.sin(2 * np.pi * u / lam)
    patch = smooth_patches(rng, shape, rng.uniform(0.2, 0.9), rng.uniform(0.1, 0.4) * max(shape))
    db += (rng.uniform(0.3, 2.0) * wave * patch).astype(np.float32)


def _lakes(db, classes, rng, shape) -> None:
    mask = smooth_patches(rng, shape, rng.uniform(0.02, 0.08), rng.uniform(8.0, 30.0)) > 0.5
    level = rng.uniform(-25.0, -16.0) if rng.random() < 0.75 else rng.uniform(-8.0, -2.0)  # open / frozen
    lake = np.float32(level) + 0.5 * smooth_noise(rng, shape, 4.0)
    db[mask] = lake[mask]
    classes[mask] = LAKE


def _streams(db, classes, rng, shape) -> None:
    """Thin meandering channels, 1-4 px wide: dark (water) or bright (refrozen or wet banks)."""
    h, w = shape
    n = float(max(shape))
    for _ in range(int(rng.integers(1, 6))):
        pts = meander(
            rng,
            (rng.uniform(0, h), rng.uniform(0, w)),
            rng.uniform(0, 360),
            rng.uniform(0.4, 2.0) * n,
            rng.uniform(0.3, 1.2),
            rng.uniform(10.0, 60.0),
        )
        width = rng.uniform(1.0, 4.0)
        dist, _ = distance_to(pts, shape, width / 2 + 1.5)
        cov = np.where(
            np.isfinite(dist), interval_overlap(np.nan_to_num(dist, posinf=99.0), -width / 2, width / 2), 0
        )
        change = -rng.uniform(2.0, 10.0) if rng.random() < 0.65 else rng.uniform(2.0, 6.0)
        db += (cov * change).astype(np.float32)
        classes[(cov >= 0.2) & (classes == BACKGROUND)] = STREAM


def _rift(db, classes, look, rng, shape, tip: bool) -> tuple[float, float, float]:
    """A rift from the window edge: across the whole window, or ending in a tapering tip inside it."""
    h, w = shape
    n = float(max(shape))
    heading = rng.uniform(0, 360)
    a = math.radians(heading)
    if tip:
        end = np.array([rng.uniform(0.3, 0.6) * h, rng.uniform(0.3, 0.6) * w])
    else:
        end = np.array([h / 2, w / 2]) + rng.uniform(-0.2, 0.2, 2) * n
    back = np.array([math.sin(a), math.cos(a)])
    start = end - back * 0.9 * n  # beyond the window edge
    length = 0.9 * n + (0 if tip else 0.9 * n)
    pts = meander(rng, tuple(start), heading, length, rng.uniform(0.05, 0.35), rng.uniform(60, 200))
    if tip:
        pts = pts[: int(0.9 * n / 0.5)]
    w_max = rng.uniform(RIFT_MIN_PX + 2, 30.0)
    s = np.arange(len(pts)) * 0.5
    remain = s[-1] - s
    taper = rng.uniform(40.0, 120.0)
    width_s = w_max * (np.clip(remain / taper, 0, 1) ** 0.7 if tip else np.ones_like(s))
    dist, nearest = distance_to(pts, shape, w_max / 2 + 4)
    near = nearest >= 0
    wid = np.zeros(shape, np.float32)
    wid[near] = width_s[nearest[near]]
    d = np.nan_to_num(dist, posinf=99.0)
    cov = interval_overlap(d, -wid / 2, wid / 2) * near
    inside = cov >= 0.5
    level = rng.uniform(-23.0, -15.0)
    db[:] = np.where(inside, level + 0.7 * smooth_noise(rng, shape, 3.0), db + cov * (level - db))
    # the wall facing the radar is bright, a band 1-3 px beyond the opening on the far-range side
    wall = rng.uniform(1.0, 3.0)
    rr, cc = np.nonzero(near)
    idx = nearest[near]
    far = np.zeros(shape, bool)  # pixel lies on the far-range side of the rift's axis
    far[rr, cc] = (cc - pts[idx, 1]) * look[0] + (rr - pts[idx, 0]) * look[1] > 0
    wall_cov = interval_overlap(d, wid / 2, wid / 2 + wall) * near * (wid > 1.0) * far
    db += (wall_cov * rng.uniform(2.0, 7.0)).astype(np.float32)
    wide = wid >= RIFT_MIN_PX
    hit = ((cov >= 0.2) | (wall_cov >= 0.2)) & (classes == BACKGROUND)
    classes[hit & wide] = RIFT
    classes[hit & ~wide] = RIFT_TIP
    tr, tc = pts[-1]
    return float(tr), float(tc), float(heading)


def _front(db, classes, look, rng, shape, icebergs: bool) -> None:
    """An ice front: open water or mélange on one side, a cliff (lit or in shadow) along it."""
    h, w = shape
    n = float(max(shape))
    u, _ = frame(shape, rng.uniform(0, 360), (h / 2, w / 2))
    edge = u + 0.08 * n * smooth_noise(rng, shape, 0.3 * n) - rng.uniform(0.1, 0.4) * n
    sea = edge > 0
    g_row, g_col = np.gradient(edge)
    cos_face = -(g_col * look[0] + g_row * look[1]) / (np.hypot(g_row, g_col) + 1e-6)
    if rng.random() < 0.5:
        level, kind = rng.uniform(-28.0, -14.0), WATER
        wind = rng.uniform(0.5, 3.0) * smooth_noise(rng, shape, rng.uniform(10, 60))
        surf = level + wind
    else:
        level, kind = rng.uniform(-17.0, -8.0), MELANGE
        floes = smooth_patches(rng, shape, rng.uniform(0.3, 0.7), rng.uniform(3.0, 15.0))
        surf = level + rng.uniform(2.0, 5.0) * floes + 0.8 * smooth_noise(rng, shape, 2.0)
    db[:] = np.where(sea, surf, db)
    classes[sea] = kind
    cliff = rng.uniform(1.0, 3.0)
    band_ice = (edge <= 0) & (edge > -cliff)
    face = np.clip(cos_face, -1, 1)
    db += np.where(
        band_ice, np.where(face > 0, face * rng.uniform(3.0, 8.0), face * rng.uniform(2.0, 6.0)), 0.0
    ).astype(np.float32)
    classes[band_ice] = CLIFF
    if icebergs:
        _icebergs(db, classes, sea, look, rng, shape)


def _icebergs(db, classes, sea, look, rng, shape) -> None:
    h, w = shape
    r = np.arange(h, dtype=np.float32)[:, None]
    c = np.arange(w, dtype=np.float32)[None, :]
    rows, cols = np.nonzero(sea)
    if rows.size == 0:
        return
    for _ in range(int(rng.integers(3, 25))):
        i = int(rng.integers(rows.size))
        r0, c0 = rows[i], cols[i]
        a, b = rng.uniform(1.0, 8.0, 2)
        th = rng.uniform(0, np.pi)
        dr, dc = r - r0, c - c0
        x = dc * math.cos(th) + dr * math.sin(th)
        y = -dc * math.sin(th) + dr * math.cos(th)
        body = (x / a) ** 2 + (y / b) ** 2 <= 1.0
        body &= sea
        if not body.any():
            continue
        db[body] = rng.uniform(-4.0, 2.0)
        classes[body] = ICEBERG
        # far-range shadow
        sh = _shifted(body, int(round(2 * look[1])), int(round(2 * look[0]))) & ~body & sea
        db[sh] -= rng.uniform(2.0, 6.0)
        classes[sh] = ICEBERG


def _shifted(mask: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """``mask`` moved by (dr, dc) pixels, nothing wrapping round the edges."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    out[max(dr, 0) : h + min(dr, 0), max(dc, 0) : w + min(dc, 0)] = mask[
        max(-dr, 0) : h + min(-dr, 0), max(-dc, 0) : w + min(-dc, 0)
    ]
    return out


def _rock(db, classes, look, rng, shape) -> None:
    """Rock outcrops with slope shading, bright layover and dark radar shadow."""
    n = float(max(shape))
    mask = smooth_patches(rng, shape, rng.uniform(0.05, 0.3), rng.uniform(0.1, 0.3) * n) > 0.5
    if not mask.any():
        return
    elev = fractal_noise(rng, shape, (0.15 * n, 0.04 * n, 4.0), 0.5) * rng.uniform(5.0, 25.0)
    g_row, g_col = np.gradient(elev)
    slope = -(g_col * look[0] + g_row * look[1])  # > 0: facing the radar
    steep = float(np.percentile(np.abs(slope[mask]), 100.0 - rng.uniform(2.0, 12.0)))
    shade = np.clip(slope / (steep + 1e-6) * rng.uniform(2.0, 5.0), -8.0, 6.0)
    lay = slope > steep  # slopes steeper than the incidence angle: layover (bright) ...
    shadow = slope < -steep * rng.uniform(0.8, 1.5)  # ... and radar shadow behind ridges
    rock = rng.uniform(-10.0, -3.0) + shade + 1.5 * smooth_noise(rng, shape, 2.0)
    rock = np.where(lay, rock + rng.uniform(4.0, 10.0), rock)
    rock = np.where(shadow, np.minimum(rock, rng.uniform(-25.0, -18.0)), rock)
    db[mask] = rock[mask]
    classes[mask] = ROCK


def _bright_zones(db, classes, level_db: float, rng, shape) -> None:
    """Uncracked patches ``level_db`` brighter than the surface with extra isotropic roughness
    (0.5-2.5 dB at 1.5-10 px): the look of a crevasse field without its lineations. Only on the
    plain surface; cracks are never drawn there (their class is not BACKGROUND)."""
    n = float(max(shape))
    soft = smooth_patches(rng, shape, rng.uniform(0.1, 0.4), rng.uniform(0.1, 0.35) * n)
    rough = fractal_noise(rng, shape, (rng.uniform(4.0, 10.0), rng.uniform(1.5, 4.0)), 0.7)
    add = soft * (level_db + rng.uniform(0.5, 2.5) * rough)
    plain = classes == BACKGROUND
    on = (soft > 0.5) & plain
    db[plain] += add[plain]
    classes[on] = BRIGHT_ZONE


def _points(db, classes, look, rng, shape) -> None:
    """Bright point targets (stations, instruments, corner reflectors) with sinc² sidelobes."""
    h, w = shape
    rc, cc = look[1], look[0]
    dirs = ((rc, cc), (cc, -rc))  # range and azimuth
    for _ in range(int(rng.integers(1, 16))):
        r0, c0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        peak = rng.uniform(10.0, 30.0)
        lin = 10 ** (peak / 10.0)
        add = {(r0, c0): lin}
        for dr, dc in dirs:
            for k in range(1, 9):
                side = lin / (math.pi * (k + 0.5)) ** 2
                for sgn in (-1, 1):
                    key = (int(round(r0 + sgn * k * dr)), int(round(c0 + sgn * k * dc)))
                    add[key] = max(add.get(key, 0.0), side)
        for (r, c), gain in add.items():
            if 0 <= r < h and 0 <= c < w and gain > 0.26:  # adds > 1 dB
                db[r, c] = 10 * math.log10(10 ** (db[r, c] / 10) * (1 + gain))
                classes[r, c] = POINT
