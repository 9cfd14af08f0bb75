"""Crack polygons (mask outlines) and centre lines (skeleton traced into line strings)."""

from __future__ import annotations

import numpy as np
import shapely
from affine import Affine
from shapely.geometry.base import BaseGeometry
from skimage.morphology import skeletonize

# 8-neighbour offsets of the skeleton graph: right, down, down-right, down-left
_ORTHO = ((0, 1), (1, 0))
_DIAG = ((1, 1), (1, -1))


def skeleton_segments(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skeleton of ``mask`` as pixel-to-pixel segments ``[(r0, c0, r1, c1)]`` and the skeleton itself.

    A diagonal link is kept only when no orthogonal path joins the two pixels, so corners are not
    counted twice and lengths are not inflated.
    """
    skel: np.ndarray = skeletonize(mask.astype(bool))  # type: ignore[no-untyped-call]
    h, w = skel.shape
    segs: list[np.ndarray] = []
    p = np.pad(skel, 1)
    core = p[1:-1, 1:-1]
    for dr, dc in _ORTHO:
        nb = p[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
        r, c = np.nonzero(core & nb)
        segs.append(np.stack([r, c, r + dr, c + dc], 1))
    for dr, dc in _DIAG:
        nb = p[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
        via1 = p[1 + dr : 1 + dr + h, 1 : 1 + w]  # (r+dr, c)
        via2 = p[1 : 1 + h, 1 + dc : 1 + dc + w]  # (r, c+dc)
        r, c = np.nonzero(core & nb & ~via1 & ~via2)
        segs.append(np.stack([r, c, r + dr, c + dc], 1))
    return np.concatenate(segs).astype(np.int64), skel


def segment_lengths(segs: np.ndarray) -> np.ndarray:
    """Length of each segment in pixels (1 or sqrt 2)."""
    lengths: np.ndarray = np.hypot(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1])
    return lengths


def centrelines(mask: np.ndarray, transform: Affine, min_length_px: float = 2.0) -> list[BaseGeometry]:
    """Merged centre-line geometries in map coordinates (pixel centres), shorter pieces dropped."""
    segs, skel = skeleton_segments(mask)
    if len(segs) == 0:
        return []
    rows = np.stack([segs[:, 0], segs[:, 2]], 1) + 0.5
    cols = np.stack([segs[:, 1], segs[:, 3]], 1) + 0.5
    xs = transform.c + cols * transform.a + rows * transform.b
    ys = transform.f + cols * transform.d + rows * transform.e
    lines = shapely.linestrings(np.stack([xs, ys], -1))
    merged = shapely.line_merge(shapely.multilinestrings(lines))
    parts = list(getattr(merged, "geoms", [merged]))
    px = abs(transform.a)
    return [g for g in parts if g.length >= min_length_px * px]


def polygons(mask: np.ndarray, transform: Affine) -> list[BaseGeometry]:
    """Outlines of connected crack regions (8-connected) as polygons in map coordinates."""
    from rasterio.features import shapes
    from shapely.geometry import shape

    m = mask.astype(np.uint8)
    return [
        shape(geom) for geom, val in shapes(m, mask=m == 1, transform=transform, connectivity=8) if val == 1
    ]
