"""Where things are in a simulated scene: ice, rock, water, sea ice, rifts, and the flow frame.

Each scene is laid out in a flow-aligned frame: ``along`` runs downstream (pixels), ``across`` is the
signed distance from a meandering centreline. Greenland regions are outlet glaciers (ice sheet
upstream, a trunk between rock walls, a terminus calving into a fjord of mélange and open water);
Antarctic regions are ice shelves (grounded ice with nunataks, an ice stream crossing the grounding
line, a wide floating shelf cut by rifts, an ice front facing open water and sea ice). Layout sizes
scale with the window, pixel-scale features (crevasses) stay in pixels, so a small test window
still holds every surface type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from icecrack_assets.regions import Region
from icecrack_assets.simulator.fields import fractal_noise, smooth_noise, smoothstep

# Surface classes (uint8). 0 is nodata (outside the swath).
NODATA, ICE, GROUNDED, ROCK, WATER, SEA_ICE, RIFT, STREAM, ICEBERG, CLIFF = range(10)
CLASS_NAMES = {
    NODATA: "nodata",
    ICE: "glacier or shelf ice",
    GROUNDED: "ice sheet / grounded ice",
    ROCK: "rock / nunatak",
    WATER: "open water",
    SEA_ICE: "sea ice / melange",
    RIFT: "rift",
    STREAM: "meltwater stream",
    ICEBERG: "iceberg",
    CLIFF: "ice-front cliff",
}
HARD_NEGATIVES = (ROCK, RIFT, STREAM, ICEBERG, CLIFF)


@dataclass
class Layout:
    """Static (per season) geometry of one simulated window."""

    shape: tuple[int, int]
    north: bool
    classes: np.ndarray  # uint8 surface class
    along: np.ndarray  # float32 px, increases downstream; iso-lines are transverse to flow
    across: np.ndarray  # float32 px from the centreline
    a: np.ndarray  # float32 along position normalised to 0 (upstream) .. 1 (downstream)
    half_width: np.ndarray  # float32 px: half width of the glacier channel / shelf at each pixel
    front: np.ndarray  # float32 normalised along-position of the ice front at each pixel
    elevation: np.ndarray  # float32 relative terrain height (rock shading)
    grounding: np.ndarray | None  # float32 normalised along-position of the grounding line (shelves)
    params: dict[str, float] = field(default_factory=dict)

    @property
    def scale(self) -> float:
        return float(math.sqrt(self.shape[0] * self.shape[1]))

    def flow_direction(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit flow vector (col, row components) from the stream function psi = across / half_width."""
        psi = self.across / self.half_width
        d_row, d_col = np.gradient(psi)
        # velocity = (dpsi/dy, -dpsi/dx) in map axes (y up = -row): col comp = -d_row, row comp = -d_col
        vc, vr = -d_row, -d_col
        norm = np.hypot(vc, vr) + 1e-12
        vc, vr = vc / norm, vr / norm
        # orient downstream: positive projection on the along-gradient
        g_row, g_col = np.gradient(self.along)
        sign = np.where(vc * g_col + vr * g_row >= 0, 1.0, -1.0)
        return (vc * sign).astype(np.float32), (vr * sign).astype(np.float32)


def noise_1d(rng: np.random.Generator, coord: np.ndarray, scale: float) -> np.ndarray:
    """A smooth unit-std random function of one coordinate array (e.g. roughness along a wall)."""
    lo, hi = float(coord.min()), float(coord.max())
    step = max(scale / 4.0, 1.0)
    n = int((hi - lo) / step) + 8
    grid = ndimage.gaussian_filter1d(rng.standard_normal(n), sigma=2.0, mode="wrap")
    grid = (grid - grid.mean()) / (grid.std() or 1.0)
    return np.interp(coord, lo - 2 * step + step * np.arange(n), grid).astype(np.float32)


def build_layout(region: Region, shape: tuple[int, int], rng: np.random.Generator) -> Layout:
    """Draw the season's geometry for ``region`` on a window of ``shape`` pixels."""
    h, w = shape
    S = math.sqrt(h * w)
    north = region.kind == "glacier"  # outlet glacier in a fjord; otherwise a floating shelf
    theta = math.radians(region.flow_deg + rng.normal(0.0, 6.0))
    rows = np.arange(h, dtype=np.float32)[:, None]
    cols = np.arange(w, dtype=np.float32)[None, :]
    X, Y = cols - (w - 1) / 2.0, (h - 1) / 2.0 - rows
    ct, st = math.cos(theta), math.sin(theta)
    xp = X * ct + Y * st
    yp = -X * st + Y * ct
    corners = [
        (-(w - 1) / 2.0, -(h - 1) / 2.0),
        ((w - 1) / 2.0, -(h - 1) / 2.0),
        (-(w - 1) / 2.0, (h - 1) / 2.0),
        ((w - 1) / 2.0, (h - 1) / 2.0),
    ]
    proj = [cx * ct + cy * st for cx, cy in corners]
    amin, amax = min(proj), max(proj)
    length = amax - amin
    a = ((xp - amin) / length).astype(np.float32)

    # meandering centreline; 'along' is corrected to first order so its iso-lines stay transverse
    amp = rng.uniform(0.02, 0.05) * S
    period = rng.uniform(0.9, 1.6) * length
    phase = rng.uniform(0, 2 * math.pi)
    arg = 2 * math.pi * xp / period + phase
    offset = rng.normal(0.0, 0.03) * S
    across = (yp - (amp * np.sin(arg) + offset)).astype(np.float32)
    along = (xp + (amp * 2 * math.pi / period) * np.cos(arg) * across).astype(np.float32)

    params: dict[str, float] = {"S": S, "amin": amin, "length": length}
    classes = np.empty(shape, np.uint8)
    if north:
        half_width, front, elevation, grounding = _outlet_glacier(rng, a, along, across, S, classes, params)
    else:
        half_width, front, elevation, grounding = _ice_shelf(rng, a, along, across, S, classes, params)
    return Layout(shape, north, classes, along, across, a, half_width, front, elevation, grounding, params)


def _outlet_glacier(rng, a, along, across, S, classes, params):
    """Greenland: ice sheet upstream, a trunk between rock walls, a terminus in a fjord."""
    a_sheet = rng.uniform(0.18, 0.28)
    trunk = rng.uniform(0.15, 0.22) * S
    wall_noise = 1.0 + 0.10 * noise_1d(rng, along, 0.15 * S) + 0.04 * smooth_noise(rng, a.shape, 0.03 * S)
    a_ragged = a + 0.03 * fractal_noise(rng, a.shape, (0.08 * S, 0.02 * S))
    half_width = (trunk * wall_noise + smoothstep(a_sheet, a_sheet - 0.12, a_ragged) * 1.5 * S).astype(
        np.float32
    )
    m = np.abs(across) / half_width
    ragged = m * (1.0 + 0.06 * fractal_noise(rng, a.shape, (0.03 * S, 0.008 * S)))  # rocky, irregular walls
    a_front0 = rng.uniform(0.60, 0.70)
    front = (
        a_front0 + 0.04 * (1.0 - np.clip(m, 0, 1) ** 2) + 0.012 * noise_1d(rng, across, 0.05 * S)
    ).astype(np.float32)
    inside = ragged < 1.0
    upstream = a < a_sheet + 0.04 * noise_1d(rng, across, 0.2 * S)
    melange_end = front + rng.uniform(0.06, 0.18) + 0.03 * smooth_noise(rng, a.shape, 0.1 * S)
    floes = smooth_noise(rng, a.shape, 0.04 * S) > rng.uniform(0.3, 1.2)

    classes[:] = ROCK
    classes[inside & (a < front)] = ICE
    classes[inside & (a < front) & upstream] = GROUNDED
    fjord = inside & (a >= front)
    classes[fjord] = WATER
    classes[fjord & ((a < melange_end) | floes)] = SEA_ICE
    # valley walls rise away from the channel; nunatak relief on top
    elevation = (
        np.clip(m - 1.0, 0, None) * half_width / S * 4.0
        + 0.5 * fractal_noise(rng, a.shape, (0.12 * S, 0.04 * S, 0.012 * S, 0.004 * S, 3.0), decay=0.55)
    ).astype(np.float32)
    params.update(a_sheet=a_sheet, a_front=a_front0)
    return half_width, front, elevation, None


def _ice_shelf(rng, a, along, across, S, classes, params):
    """Antarctica: grounded ice with nunataks, an ice stream, a shelf cut by rifts, an ice front."""
    shelf = rng.uniform(0.42, 0.6) * S
    half_width = (shelf * (1.0 + 0.08 * noise_1d(rng, along, 0.2 * S))).astype(np.float32)
    stream = rng.uniform(0.10, 0.17) * S
    m = np.abs(across) / half_width
    a_gl = (
        rng.uniform(0.14, 0.26) + 0.05 * np.clip(m, 0, 1.5) ** 2 + 0.02 * noise_1d(rng, across, 0.1 * S)
    ).astype(np.float32)
    a_front0 = rng.uniform(0.72, 0.82)
    front = (
        a_front0
        + rng.uniform(0.0, 0.05) * (1.0 - np.clip(m, 0, 1) ** 2)
        + 0.01 * noise_1d(rng, across, 0.04 * S)
    ).astype(np.float32)
    ocean = a >= front
    floating = (m < 1.0) & (a >= a_gl) & ~ocean
    in_stream = np.abs(across) < stream
    nunatak = (fractal_noise(rng, a.shape, (0.05 * S, 0.015 * S)) > rng.uniform(1.3, 1.8)) & (
        np.abs(across) > 1.6 * stream
    )
    pack = smooth_noise(rng, a.shape, 0.05 * S) + 0.3 * smooth_noise(rng, a.shape, 0.01 * S)

    classes[:] = GROUNDED
    classes[nunatak] = ROCK
    classes[floating | (in_stream & ~ocean)] = ICE
    classes[ocean] = WATER
    classes[ocean & (pack > rng.uniform(-0.4, 0.9))] = SEA_ICE
    s_front = params["amin"] + a_front0 * params["length"]
    for _ in range(int(rng.integers(2, 5))):
        _draw_rift(rng, along, across, half_width, a, front, S, s_front, classes)
    elevation = (0.8 * fractal_noise(rng, a.shape, (0.06 * S, 0.02 * S, 0.006 * S, 3.0), decay=0.55)).astype(
        np.float32
    )
    params.update(a_front=a_front0, stream=stream, a_gl=float(np.median(a_gl)))
    return half_width, front, elevation, a_gl


def _draw_rift(rng, along, across, half_width, a, front, S, s_front, classes) -> None:
    """A wide dark fracture roughly parallel to the front, tapering to its tips (not a crevasse)."""
    s_r = s_front - rng.uniform(0.04, 0.22) * S
    beta = rng.uniform(-0.3, 0.3)
    centre = rng.uniform(-0.8, 0.8)
    half_len = rng.uniform(0.15, 0.45)
    width = rng.uniform(4.0, 11.0)
    near = np.abs(along - s_r) < 0.12 * S
    if not near.any():
        return
    rr, cc = np.nonzero(near)
    r0, r1, c0, c1 = rr.min(), rr.max() + 1, cc.min(), cc.max() + 1
    sub = (slice(r0, r1), slice(c0, c1))
    hw = half_width[sub]
    u = across[sub] / hw
    phi = along[sub] + beta * across[sub] ** 2 / hw + 0.012 * S * smooth_noise(rng, hw.shape, 0.08 * S)
    taper = np.sqrt(np.clip(1.0 - ((u - centre) / half_len) ** 2, 0.0, 1.0))
    rift = (np.abs(phi - s_r) < width * taper / 2.0) & (classes[sub] == ICE)
    classes[sub][rift] = RIFT
