"""Crack density (km of crack centre line per km^2 of valid area) and dominant orientation grids.

Both come from the skeleton segments binned into coarse cells (default 1 km). Orientation is the
length-weighted circular mean of doubled segment angles (axial data: 10 and 190 degrees are one
direction), in degrees counter-clockwise from grid east, range [0, 180); NaN where no crack.
"""

from __future__ import annotations

import numpy as np

from icecrack_assets.ml.vectors import segment_lengths, skeleton_segments


def density_orientation(
    mask: np.ndarray, valid: np.ndarray, pixel_size: float, cell: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(density km/km^2, orientation deg, total length km)`` on a grid of ``cell`` x ``cell`` pixels."""
    h, w = mask.shape
    gh, gw = -(-h // cell), -(-w // cell)
    segs, _ = skeleton_segments(mask & valid)
    length = np.zeros((gh, gw))
    s2 = np.zeros((gh, gw))
    c2 = np.zeros((gh, gw))
    if len(segs):
        lens = segment_lengths(segs) * pixel_size / 1000.0
        mr = (segs[:, 0] + segs[:, 2]) / 2.0
        mc = (segs[:, 1] + segs[:, 3]) / 2.0
        gi = np.minimum((mr // cell).astype(int), gh - 1)
        gj = np.minimum((mc // cell).astype(int), gw - 1)
        # image rows grow southwards: map angle uses -drow
        ang = np.arctan2(-(segs[:, 2] - segs[:, 0]), segs[:, 3] - segs[:, 1])
        np.add.at(length, (gi, gj), lens)
        np.add.at(s2, (gi, gj), lens * np.sin(2 * ang))
        np.add.at(c2, (gi, gj), lens * np.cos(2 * ang))
    vpad = np.zeros((gh * cell, gw * cell), bool)
    vpad[:h, :w] = valid
    area = vpad.reshape(gh, cell, gw, cell).sum(axis=(1, 3)) * (pixel_size / 1000.0) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        density = np.where(area > 0, length / area, np.nan).astype(np.float32)
    orient = np.degrees(0.5 * np.arctan2(s2, c2)) % 180.0
    orient = np.where(length > 0, orient, np.nan).astype(np.float32)
    return density, orient, float(length.sum())
