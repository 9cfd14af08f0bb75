"""The SAR ice/rock/water rule on a synthetic season with known surfaces."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from icecrack_assets.masks import sar_classes as sc

N = 384  # three 128-px bands: water | ice | rock


def _season(passes: list[str], seed: int = 0) -> list[tuple[np.ndarray, str]]:
    rng = np.random.default_rng(seed)
    slope = ndimage.gaussian_filter(rng.normal(size=(N, N)), 6)
    slope /= slope.std()
    texture = ndimage.gaussian_filter(rng.normal(size=(N, N)), 3)
    texture /= texture.std()
    cols = np.arange(N)[None, :].repeat(N, 0)
    scenes = []
    for p in passes:
        facing = slope if p == "ascending" else -slope  # slopes lit on one pass face away on the other
        db = np.where(cols < 128, -23.0 + 2.0 * rng.normal(), -9.0 + 0.6 * texture)  # wind changes water
        db = np.where(cols >= 256, -6.5 + 3.0 * np.tanh(0.8 * facing) + 0.5 * texture, db)
        # a crevasse field in the ice band: bright lines, lit wall depending on the pass
        crev = (cols >= 140) & (cols < 240) & (np.arange(N)[:, None] % 9 < 2)
        db = db + np.where(crev, 4.0 if p == "ascending" else 2.0, 0.0)
        looks = rng.gamma(50.0, 1.0 / 50.0, size=(N, N))  # residual speckle after despeckling
        scenes.append(((10 ** (db / 10) * looks).astype(np.float32), p))
    return scenes


def _share(classes: np.ndarray, cols: slice, cls: int) -> float:
    return float((classes[16:-16, cols] == cls).mean())


def test_water_ice_and_rock_are_separated() -> None:
    result = sc.classify_surface(_season(["ascending", "descending", "ascending", "descending", "ascending"]))
    assert result.rock_classified and "rock =" in result.rule
    assert result.classes.shape == (N, N)
    assert _share(result.classes, slice(0, 112), sc.WATER) > 0.95
    assert _share(result.classes, slice(144, 240), sc.ICE) > 0.95  # the crevasse field stays ice
    assert _share(result.classes, slice(272, N), sc.ROCK) > 0.8
    assert result.ice.dtype == bool and result.ice.sum() == (result.classes == sc.ICE).sum()


def test_one_pass_direction_leaves_rock_unclassified_and_says_so() -> None:
    result = sc.classify_surface(_season(["descending"] * 3))
    assert not result.rock_classified and "rock not classified" in result.rule
    assert not (result.classes == sc.ROCK).any()
    assert _share(result.classes, slice(0, 112), sc.WATER) > 0.95


def test_no_data_is_unknown_and_empty_input_refused() -> None:
    scenes = _season(["ascending", "descending"])
    for img, _ in scenes:
        img[:, :40] = np.nan
    result = sc.classify_surface(scenes)
    assert (result.classes[:, :40] == sc.UNKNOWN).all()
    with pytest.raises(ValueError):
        sc.classify_surface([])
