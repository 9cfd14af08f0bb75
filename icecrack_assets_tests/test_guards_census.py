"""The pixel census behind every command's input check: sampled on big rasters, never fooled by it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from icecrack_assets import guards
from icecrack_assets.errors import InputError
from icecrack_assets_tests.helpers.rasters import write_tiny_raster


def test_big_rasters_are_sampled_and_small_ones_read_whole(tmp_path: Path, monkeypatch) -> None:
    img = write_tiny_raster(tmp_path / "a.tif", np.full((400, 300), 0.1, np.float32))
    assert guards.pixel_census(img).total == 400 * 300
    monkeypatch.setattr(guards, "STRIP_PIXELS", 300 * 10)
    monkeypatch.setattr(guards, "FULL_CENSUS_PIXELS", 300 * 100)
    c = guards.pixel_census(img)
    assert 0 < c.total < 400 * 300 and c.finite == c.positive == c.total


def test_data_in_unsampled_rows_are_still_found(tmp_path: Path, monkeypatch) -> None:
    a = np.full((400, 300), np.nan, np.float32)
    a[205:207] = 0.2  # two rows the strip sample skips
    img = write_tiny_raster(tmp_path / "a.tif", a, nodata=float("nan"))
    monkeypatch.setattr(guards, "STRIP_PIXELS", 300 * 10)
    monkeypatch.setattr(guards, "FULL_CENSUS_PIXELS", 300 * 100)
    assert guards.require_linear_intensity(img).finite == 600
    empty = write_tiny_raster(
        tmp_path / "b.tif", np.full((400, 300), np.nan, np.float32), nodata=float("nan")
    )
    with pytest.raises(InputError, match="no valid pixels"):
        guards.require_linear_intensity(empty)
