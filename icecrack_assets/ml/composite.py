"""The season composite: the mean crack probability over a season's scenes, per pixel.

Averaging probabilities (not masks) lets a crack seen in most passes survive one pass where wet snow
hid it, and keeps one noisy pass from adding cracks; pixels no scene covers stay NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from icecrack_assets.ml.bundle import Bundle
from icecrack_assets.ml.inference import predict_probability
from icecrack_assets.raster import read_single_band


@dataclass(frozen=True)
class SeasonComposite:
    probability: np.ndarray  # float32, mean probability over the scenes covering each pixel; NaN = none
    count: np.ndarray  # int32, how many scenes covered each pixel
    profile: dict[str, Any]  # raster profile of the scenes' (common) grid


def season_composite(
    bundle: Bundle,
    images: Sequence[Path],
    on_scene: Callable[[Path], None] | None = None,
    register: Callable[[Path, np.ndarray], np.ndarray | None] | None = None,
) -> SeasonComposite:
    """Predict every despeckled scene of a season with ``bundle`` and average the probabilities.

    ``register`` (e.g. a ``sar.coregister.SeasonRegistrar`` keyed by path) gets each scene first and
    returns it co-registered with the season's reference, or None to leave it out.
    """
    if not images:
        raise ValueError("a season composite needs at least one scene")
    total = count = None
    profile: dict[str, Any] = {}
    for path in images:
        intensity, profile = read_single_band(path)
        if register is not None:
            registered = register(path, intensity)
            if registered is None:
                continue
            intensity = registered
        prob = predict_probability(bundle, intensity)
        if total is None or count is None:
            total = np.zeros(prob.shape, np.float64)
            count = np.zeros(prob.shape, np.int32)
        ok = np.isfinite(prob)
        total[ok] += prob[ok]
        count[ok] += 1
        if on_scene is not None:
            on_scene(path)
    assert total is not None and count is not None
    composite = np.full(total.shape, np.nan, np.float32)
    seen = count > 0
    composite[seen] = (total[seen] / count[seen]).astype(np.float32)
    return SeasonComposite(composite, count, profile)
