"""Crevasse families that follow the flow frame, rendered as a radar-facing bright wall + shadow pair.

A family is a phase field whose iso-lines are crevasse traces: transverse/arcuate fields across the
flow (``along + beta * across**2 / half_width``) and chevrons at 45 degrees to a shear margin
(``along + (margin - |across|)``), each wiggled by a smooth field and confined to soft crevasse
*zones* so crevassing covers parts of the ice only. Lines are cut into finite segments that taper at
their tips. The geometry (which pixels, signed distance to the trace, trace normal, width, contrast)
is fixed per season; the look direction of each scene decides which side is lit and which is shadow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from icecrack_assets.simulator.fields import band, smooth_noise, smoothstep
from icecrack_assets.simulator.layout import GROUNDED, ICE, Layout

BRIGHT_DB = (4.0, 9.0)  # far wall facing the radar
DARK_DB = (4.0, 8.0)  # near wall in radar shadow (subtracted)


@dataclass
class CrevasseField:
    """Sparse per-pixel crevasse geometry: only pixels near a trace are stored."""

    shape: tuple[int, int]
    idx: np.ndarray  # int64 flat pixel index
    dist: np.ndarray  # float32 signed distance to the trace along its normal (px)
    width: np.ndarray  # float32 width of the shadowed opening (px)
    wall: np.ndarray  # float32 width of the lit far wall (px)
    bright: np.ndarray  # float32 dB added on the lit wall
    dark: np.ndarray  # float32 dB removed in the shadow
    normal_col: np.ndarray  # float32 trace normal, column component
    normal_row: np.ndarray  # float32 trace normal, row component
    zone: np.ndarray  # float32 dense 0..1 crevasse-zone strength (surface roughness)


def _patch(rng: np.random.Generator, shape: tuple[int, int], S: float, cover: float) -> np.ndarray:
    """Patchiness: a soft mask covering roughly ``cover`` of the window."""
    thr = float(ndtri(1.0 - cover))
    return smoothstep(thr - 0.35, thr + 0.35, smooth_noise(rng, shape, 0.08 * S))


def _zones(layout: Layout, rng: np.random.Generator) -> list[dict]:
    """The crevasse families of a region type, each a phase field, along-trace coordinate and zone."""
    a, n, s, hw = layout.a, layout.across, layout.along, layout.half_width
    S = layout.scale
    abs_n = np.abs(n)
    m = abs_n / hw
    fams: list[dict] = []
    if layout.north:
        a_sheet, front = layout.params["a_sheet"], layout.front
        a_if = a_sheet + rng.uniform(0.02, 0.12)
        fams.append(
            dict(
                name="icefall",
                on=0.45,
                phase=s + rng.uniform(0.1, 0.4) * n * n / hw,
                t=n,
                zone=band(a, a_if, a_if + rng.uniform(0.10, 0.18), 0.03)
                * smoothstep(0.95, 0.8, m)
                * _patch(rng, a.shape, S, 0.75),
            )
        )
        d_front = a - front
        fams.append(
            dict(
                name="terminus",
                on=0.45,
                phase=s + rng.uniform(0.3, 0.7) * n * n / hw,
                t=n,
                zone=band(d_front, -rng.uniform(0.12, 0.22), 0.0, 0.02)
                * smoothstep(1.0, 0.85, m)
                * _patch(rng, a.shape, S, 0.8),
            )
        )
        fams.append(
            dict(
                name="chevron",
                on=0.45,
                phase=s + (hw - abs_n),
                t=(s + abs_n) / np.sqrt(2),
                zone=band(m, 0.65, 1.0, 0.06)
                * band(a, a_sheet + 0.02, layout.params["a_front"], 0.04)
                * _patch(rng, a.shape, S, 0.7),
            )
        )
        fams.append(
            dict(
                name="ice-sheet",
                on=0.3,
                phase=s.copy(),
                t=n,
                zone=band(a, 0.02, a_sheet - 0.02, 0.03) * _patch(rng, a.shape, S, 0.3),
            )
        )
    else:
        g, stream, front = layout.grounding, layout.params["stream"], layout.front
        d_gl = a - g
        fams.append(
            dict(
                name="grounding-zone",
                on=0.45,
                phase=s + rng.uniform(0.0, 0.3) * n * n / hw,
                t=n,
                zone=band(d_gl, -0.02, rng.uniform(0.06, 0.12), 0.02)
                * smoothstep(1.4 * stream, 1.1 * stream, abs_n)
                * _patch(rng, a.shape, S, 0.8),
            )
        )
        fams.append(
            dict(
                name="stream-margin",
                on=0.45,
                phase=s + (stream - abs_n),
                t=(s + abs_n) / np.sqrt(2),
                zone=band(abs_n / stream, 0.75, 1.2, 0.08)
                * band(d_gl, -0.1, rng.uniform(0.25, 0.4), 0.04)
                * _patch(rng, a.shape, S, 0.75),
            )
        )
        fams.append(
            dict(
                name="shelf-margin",
                on=0.45,
                phase=s + (hw - abs_n),
                t=(s + abs_n) / np.sqrt(2),
                zone=band(m, 0.8, 1.0, 0.05) * smoothstep(0.0, 0.03, d_gl) * _patch(rng, a.shape, S, 0.6),
            )
        )
        fams.append(
            dict(
                name="front",
                on=0.45,
                phase=s + rng.uniform(0.2, 0.5) * n * n / hw,
                t=n,
                zone=band(a - front, -rng.uniform(0.10, 0.20), 0.0, 0.02)
                * smoothstep(1.0, 0.9, m)
                * _patch(rng, a.shape, S, 0.7),
            )
        )
    return fams


def build_crevasses(
    layout: Layout, rng: np.random.Generator, pixel_size: float, width_range: tuple[float, float] = (1.0, 3.0)
) -> CrevasseField:
    """Draw every family's traces once for the season; keep only the pixels a trace can touch."""
    shape = layout.shape
    ok = (layout.classes == ICE) | (layout.classes == GROUNDED)
    spacing = (22.0, 40.0) if pixel_size <= 25.0 else (16.0, 32.0)
    zone_all = np.zeros(shape, np.float32)
    parts: list[tuple[np.ndarray, ...]] = []
    for fam in _zones(layout, rng):
        zone = fam["zone"] * ok
        np.maximum(zone_all, zone, out=zone_all)
        rows, cols = np.nonzero(zone > 0.02)
        if rows.size == 0:
            continue
        r0, r1 = max(rows.min() - 2, 0), min(rows.max() + 3, shape[0])
        c0, c1 = max(cols.min() - 2, 0), min(cols.max() + 3, shape[1])
        if r1 - r0 < 3 or c1 - c0 < 3:
            continue
        sub = (slice(r0, r1), slice(c0, c1))
        part = _family(rng, fam["phase"][sub], fam["t"][sub], zone[sub], fam["on"], spacing, width_range)
        if part is None:
            continue
        rr, cc, *attrs = part
        parts.append((np.ravel_multi_index((rr + r0, cc + c0), shape), *attrs))
    if parts:
        cols_ = [np.concatenate(p) for p in zip(*parts)]
    else:
        cols_ = [np.zeros(0, np.int64)] + [np.zeros(0, np.float32)] * 7
    return CrevasseField(shape, *cols_, zone=zone_all)


def _family(rng, phase, t, zone, on_prob, spacing, width_range):
    lam = rng.uniform(*spacing)
    phase = phase + (0.6 * lam) * smooth_noise(rng, phase.shape, rng.uniform(4.0, 8.0) * lam)
    g_row, g_col = np.gradient(phase)
    grad = np.hypot(g_row, g_col) + 1e-6
    q = phase / lam
    k = np.floor(q + 0.5)
    dist = (q - k) * lam / grad
    k = (k - k.min()).astype(np.int64)
    n_k = int(k.max()) + 1
    width_k = width_range[0] + (width_range[1] - width_range[0]) * rng.random(n_k) ** 1.3
    seg_k = lam * rng.uniform(1.5, 4.0, n_k)
    off_k = rng.random(n_k)
    u = t / seg_k[k] + off_k[k]
    seg = np.floor(u)
    pos = u - seg
    on_table = rng.random((n_k, 4096)) < on_prob
    on = on_table[k, seg.astype(np.int64) % 4096]
    taper = np.sqrt(np.clip(np.minimum(pos, 1.0 - pos) / 0.25, 0.0, 1.0))
    width = width_k[k] * taper * np.clip(zone * 1.5, 0.0, 1.0)
    wall = np.clip(0.5 * width + 0.5, 1.0, 2.0)
    keep = on & (width >= 0.3) & (np.abs(dist) <= width / 2 + wall + 1.0)
    rr, cc = np.nonzero(keep)
    if rr.size == 0:
        return None
    bright_k = rng.uniform(*BRIGHT_DB, n_k)
    dark_k = rng.uniform(*DARK_DB, n_k)
    kk = k[keep]
    f32 = np.float32
    return (
        rr,
        cc,
        dist[keep].astype(f32),
        width[keep].astype(f32),
        wall[keep].astype(f32),
        bright_k[kk].astype(f32),
        dark_k[kk].astype(f32),
        (g_col[keep] / grad[keep]).astype(f32),
        (g_row[keep] / grad[keep]).astype(f32),
    )


def _overlap(t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Length of [t-0.5, t+0.5] inside [lo, hi]: a pixel's coverage by a band."""
    return np.clip(np.minimum(t + 0.5, hi) - np.maximum(t - 0.5, lo), 0.0, 1.0)


def render_crevasses(
    field: CrevasseField, range_col: float, range_row: float
) -> tuple[np.ndarray, np.ndarray]:
    """dB change and truth footprint for one look direction (unit vector pointing away from the radar).

    The near wall of an opening is hidden from the radar (shadow, dark); the far wall faces it (lit,
    bright), so the bright band sits on the far-range side of the dark one. Contrast fades (never to
    zero) as the trace turns parallel to the range direction.
    """
    c = field.normal_col * range_col + field.normal_row * range_row
    t = field.dist * np.where(c >= 0, 1.0, -1.0).astype(np.float32)
    half = field.width / 2
    cov_dark = _overlap(t, -half, half)
    cov_bright = _overlap(t, half, half + field.wall)
    vis = 0.35 + 0.65 * np.abs(c)
    delta = vis * (field.bright * cov_bright - field.dark * cov_dark)
    foot = (cov_dark + cov_bright) >= 0.5
    size = field.shape[0] * field.shape[1]
    dense = np.zeros(size, np.float32)
    mask = np.zeros(size, bool)
    # overlapping families: keep the stronger change per pixel
    order = np.lexsort((np.abs(delta), field.idx))
    idx_sorted = field.idx[order]
    last = np.ones(idx_sorted.size, bool)
    last[:-1] = idx_sorted[1:] != idx_sorted[:-1]
    dense[idx_sorted[last]] = delta[order][last]
    mask[field.idx[foot]] = True
    return dense.reshape(field.shape), mask.reshape(field.shape)
