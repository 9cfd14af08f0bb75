"""Crevasse families of the randomised simulator: phase fields whose iso-lines are crevasse traces.

Each family builds one or more *sets*: a phase field (traces are its iso-lines, ``spacing`` apart),
an along-trace coordinate (cuts traces into finite, tapering segments) and a soft zone (where the
family exists). Every pixel then knows its signed distance to the nearest trace, so a crack of any
width, even sub-pixel, is rendered by exact box coverage (anti-aliasing) with no per-crack loop.
Per-trace values (width, contrast, segment phase) come from tables indexed by the trace number.

Truth per pixel: crack (1) when the crack bands cover at least half of it and the crack is at least
``faint_threshold_db`` strong there; unknown (255) when a crack covers it but is fainter, or covers
less than half of it yet still changes it by ``faint_threshold_db`` or more; else not crack (0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from icecrack_assets.simulator.fields import band, smooth_noise, smoothstep

TABLE = 4096  # per-trace / per-segment random tables (indices wrap)
FAINT_DB = 1.0  # cracks rendered fainter than this (dB) are "unknown" (255) in the truth ...
FAINT_SPECKLE_DB = 2.5  # ... or fainter than this / sqrt(ENL): below ~2.5 dB a 1-look crack is not seen


def faint_threshold_db(enl: float) -> float:
    """Contrast (dB) under which a crack counts as unknown: 1 dB, raised for very speckled products."""
    return max(FAINT_DB, FAINT_SPECKLE_DB / math.sqrt(max(enl, 1e-3)))


FULL_COVER = 0.5  # a pixel is crack when the crack bands cover at least half of it


@dataclass(frozen=True)
class CrackSet:
    """One family of parallel-ish traces: phase (px, iso-lines every spacing), along-trace t, zone."""

    phase: np.ndarray
    t: np.ndarray
    zone: np.ndarray


@dataclass
class CrackLayer:
    """Result of rendering every crack set of a scene (dense, float32/bool)."""

    factor: np.ndarray  # linear multiplier on the background sigma0 (1 = no crack)
    strong: np.ndarray  # bool: covered >= FULL_COVER by a crack at least faint_threshold_db strong
    unknown: np.ndarray  # bool: partly covered, or a faint crack (truth 255)
    peak_db: np.ndarray  # float32: |dB| change of the strongest crack band covering the pixel


def frame(shape: tuple[int, int], angle_deg: float, centre: tuple[float, float]) -> tuple[np.ndarray, ...]:
    """Rotated pixel coordinates: ``u`` along ``angle_deg`` (from +columns, towards +rows), ``v`` across."""
    r = np.arange(shape[0], dtype=np.float32)[:, None] - np.float32(centre[0])
    c = np.arange(shape[1], dtype=np.float32)[None, :] - np.float32(centre[1])
    a = math.radians(angle_deg)
    ca, sa = np.float32(math.cos(a)), np.float32(math.sin(a))
    u = c * ca + r * sa
    v = -c * sa + r * ca
    return u, v


def smooth_patches(
    rng: np.random.Generator, shape: tuple[int, int], cover: float, scale: float
) -> np.ndarray:
    """Soft patchy mask covering about ``cover`` of the window, blobs ~``scale`` px across."""
    from scipy.special import ndtri

    thr = float(ndtri(1.0 - min(max(cover, 0.02), 0.98)))
    return smoothstep(thr - 0.3, thr + 0.3, smooth_noise(rng, shape, scale))


def _bend(rng: np.random.Generator, shape: tuple[int, int], st) -> np.ndarray:
    """Large-scale bending (px) added to a phase: straight at curvature 0, meandering at 1."""
    n = max(shape)
    amp = st.curvature * rng.uniform(0.05, 0.15) * n
    return (amp * smooth_noise(rng, shape, rng.uniform(0.3, 0.8) * n)).astype(np.float32)


def family_sets(
    st, shape: tuple[int, int], rng: np.random.Generator, rift_tip: tuple[float, float, float] | None = None
) -> list[CrackSet]:
    """The crack sets of one family style ``st`` (a ``CrackFamilyStyle``)."""
    h, w = shape
    n = float(max(h, w))
    centre = (rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w)
    u, v = frame(shape, st.flow_deg, centre)
    bend = _bend(rng, shape, st)
    zone = smooth_patches(rng, shape, st.cover, rng.uniform(0.15, 0.4) * n)
    fam = st.family
    sets: list[CrackSet] = []
    if fam == "transverse":
        # traces across flow, arcuate when curved (bowed downstream like an ice fall)
        arc = st.curvature * rng.uniform(0.0, 1.5) / n
        sets.append(CrackSet(u + arc * v * v + bend, v, zone))
    elif fam == "longitudinal":
        sets.append(CrackSet(v + bend, u, zone))
    elif fam == "crossing":
        sets.append(CrackSet(u + bend, v, zone))
        u2, v2 = frame(shape, st.flow_deg + st.angle_deg, centre)
        sets.append(CrackSet(u2 + 0.5 * bend, v2, zone))
    elif fam == "chevron":
        # two mirrored sets at angle_deg to the flow, meeting on the centreline (pointing upstream)
        k = math.tan(math.radians(st.angle_deg))
        phase = u + k * np.abs(v) + bend
        t = (v - k * np.sign(v) * u) / math.sqrt(1.0 + k * k)
        sets.append(CrackSet(phase, t, zone))
    elif fam == "splaying":
        # traces fan out from a point upstream (outside or at the edge of the window)
        r0 = rng.uniform(0.4, 1.2) * n
        uu = u + r0
        rad = np.hypot(uu, v)
        theta = np.arctan2(v, np.maximum(uu, 1e-3))
        sets.append(CrackSet(theta * r0 + 0.3 * bend, rad, zone * (uu > 1.0)))
    elif fam == "en-echelon":
        # short parallel cracks oblique to 1-3 narrow shear bands along the flow
        bands = np.zeros(shape, np.float32)
        for _ in range(int(rng.integers(1, 4))):
            half = rng.uniform(6.0, 22.0)
            off = rng.uniform(-0.35, 0.35) * n
            vv = v + 0.3 * bend - off
            bands = np.maximum(bands, band(vv, -half, half, 2.0))
        u2, v2 = frame(shape, st.flow_deg + st.angle_deg, centre)
        sets.append(CrackSet(u2 + 0.2 * bend, v2, bands * np.maximum(zone, 0.6)))
    elif fam == "marginal":
        # a shear margin: traces at angle_deg to it, bending towards the flow away from the margin
        side = 1.0 if rng.random() < 0.5 else -1.0
        width = rng.uniform(0.15, 0.4) * n
        d = side * (v + 0.5 * bend) + rng.uniform(0.1, 0.35) * n  # distance into the ice from the margin
        k = math.tan(math.radians(st.angle_deg))
        phase = u + k * d - st.curvature * k * d * d / (2.0 * width)
        t = (d - k * u) / math.sqrt(1.0 + k * k)
        sets.append(CrackSet(phase, t, band(d, 0.0, width, 4.0) * np.maximum(zone, 0.5)))
    elif fam == "rift-tip":
        # a fan of cracks ahead of a rift tip plus cracks along its flanks
        tr, tc, rift_deg = rift_tip if rift_tip is not None else (h / 2, w / 2, st.flow_deg)
        ut, vt = frame(shape, rift_deg, (tr, tc))
        ahead = ut > -4.0
        rad = np.hypot(ut, vt)
        theta = np.arctan2(vt, np.maximum(ut + 6.0, 1e-3))
        r0 = rng.uniform(20.0, 60.0)
        reach = rng.uniform(0.25, 0.5) * n
        fan_zone = smoothstep(reach, 0.7 * reach, rad) * ahead * np.maximum(zone, 0.7)
        sets.append(CrackSet(rad * 0.0 + theta * r0, rad, fan_zone))
        flank = (
            band(np.abs(vt), 6.0, rng.uniform(25.0, 60.0), 3.0)
            * (ut < 0)
            * smoothstep(-reach, -0.5 * reach, ut)
        )
        sets.append(CrackSet(vt + 0.2 * bend, ut, flank * np.maximum(zone, 0.6)))
    elif fam == "dense-field":
        # brighter zones crossed by dense, roughly parallel lineations a few pixels apart
        fields = smooth_patches(rng, shape, st.cover, rng.uniform(0.08, 0.2) * n)
        sets.append(CrackSet(u + 0.3 * bend, v, fields))
    else:
        raise ValueError(f"unknown crevasse family {fam!r}")
    return sets


def interval_overlap(t: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float) -> np.ndarray:
    """Length of [t-0.5, t+0.5] inside [lo, hi]: a pixel's coverage by a band across the trace."""
    return np.clip(np.minimum(t + 0.5, hi) - np.maximum(t - 0.5, lo), 0.0, 1.0)


def render_set(
    cs: CrackSet,
    st,
    rng: np.random.Generator,
    look: tuple[float, float],
    visibility_floor: float,
    faint_db: float,
    allowed: np.ndarray,
    layer: CrackLayer,
) -> None:
    """Render one crack set into ``layer`` (keeps the stronger change where sets overlap).

    Bands across a trace: the opening (width w) and a wall band (``st.wall_px``) beside it. Which
    side the wall sits on and which bands show depends on ``st.radiometry``; contrast is scaled by
    ``floor + (1 - floor) |cos(trace normal, range)|`` so traces along range fade.
    """
    lam = float(st.spacing_px)
    phase = cs.phase
    # fine roughness of every trace (a fraction of the spacing, a few spacings long)
    phase = phase + st.roughness * lam * smooth_noise(rng, phase.shape, max(4.0, rng.uniform(2.0, 8.0) * lam))
    g_row, g_col = np.gradient(phase)
    grad = np.hypot(g_row, g_col)
    good = (grad > 0.2) & (grad < 3.0)  # phase jumps (branch cuts) and singular points hold no crack
    grad = np.maximum(grad, 1e-3)
    q = phase / lam
    k = np.floor(q + 0.5)
    dist = ((q - k) * lam / grad).astype(np.float32)
    ki = (k.astype(np.int64)) % TABLE
    # per-trace tables
    w_lo, w_hi = st.width_px
    width_k = (w_lo * (w_hi / w_lo) ** rng.random(TABLE)).astype(np.float32)
    seg_k = (st.length_px * rng.uniform(0.6, 1.4, TABLE)).astype(np.float32)
    off_k = rng.random(TABLE).astype(np.float32)
    c_lo, c_hi = st.contrast_db
    contrast_k = rng.uniform(c_lo, c_hi, TABLE).astype(np.float32)
    on_table = rng.random((TABLE, 64)) < st.presence
    bridged_k = rng.random(TABLE) < st.bridged_fraction  # faint snow-bridged traces
    faint_k = rng.uniform(0.3, 1.2, TABLE).astype(np.float32)
    # segments along the trace, tapering to their tips
    uu = cs.t / seg_k[ki] + off_k[ki]
    seg = np.floor(uu)
    pos = uu - seg
    on = on_table[ki, seg.astype(np.int64) % 64] & good & allowed
    taper = np.sqrt(np.clip(np.minimum(pos, 1.0 - pos) / 0.2, 0.0, 1.0))
    zone = np.clip(cs.zone * 1.6, 0.0, 1.0)
    width = np.minimum(width_k[ki], 0.45 * lam) * taper * zone
    wall = np.minimum(np.float32(st.wall_px), 0.4 * lam) * np.minimum(taper * zone * 2.0, 1.0)
    on &= width >= 0.1
    # side facing the radar: the far wall (on +range side of the opening) is lit
    cosn = (g_col * look[0] + g_row * look[1]) / grad
    far = np.where(cosn >= 0, dist, -dist)
    vis = visibility_floor + (1.0 - visibility_floor) * np.abs(cosn)
    c = contrast_k[ki] * vis
    half = width / 2
    mode = st.radiometry
    if mode == "lit-near":
        far = -far
    cov_open = interval_overlap(far, -half, half)
    cov_wall = interval_overlap(far, half, half + wall)
    if mode in ("lit-far", "lit-near"):
        bright_db, dark_db = c, c * st.shadow_ratio
        cov_b, cov_d = cov_wall, cov_open
    elif mode == "bright":
        bright_db, dark_db = c, np.zeros_like(c)
        cov_b, cov_d = cov_open, np.zeros_like(cov_open)
    else:  # "dark": the opening only
        bright_db, dark_db = np.zeros_like(c), c
        cov_b, cov_d = np.zeros_like(cov_open), cov_open
    bridged = bridged_k[ki]
    bright_db = np.where(bridged, 0.0, bright_db)
    dark_db = np.where(bridged, faint_k[ki] * vis, dark_db)
    cov_b = np.where(on & ~bridged, cov_b, 0.0)
    cov_d = np.where(on, np.where(bridged, cov_open, cov_d), 0.0)
    factor = 1.0 + cov_b * (10.0 ** (bright_db / 10.0) - 1.0) + cov_d * (10.0 ** (-dark_db / 10.0) - 1.0)
    peak = np.maximum(np.where(cov_b > 0, bright_db, 0.0), np.where(cov_d > 0, dark_db, 0.0))
    cover = cov_b + cov_d
    stronger = np.abs(np.log(np.maximum(factor, 1e-6))) > np.abs(np.log(np.maximum(layer.factor, 1e-6)))
    layer.factor[:] = np.where(stronger, factor, layer.factor)
    layer.peak_db[:] = np.where(stronger, peak, layer.peak_db)
    full = cover >= FULL_COVER
    crack = full & (peak >= faint_db)
    # unknown: a faint crack, or a partly covered pixel the crack still changes by >= faint_db,
    # so every truth-0 pixel is changed by less than faint_db
    changed = np.abs(10.0 * np.log10(np.maximum(factor, 1e-6))) >= faint_db
    layer.strong |= crack
    layer.unknown |= (cover > 0) & ~crack & (full | changed)


def empty_layer(shape: tuple[int, int]) -> CrackLayer:
    return CrackLayer(
        np.ones(shape, np.float32), np.zeros(shape, bool), np.zeros(shape, bool), np.zeros(shape, np.float32)
    )
