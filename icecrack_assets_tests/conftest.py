"""Shared fixtures: the real third-party data folder, and tiny georeferenced rasters."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from icecrack_assets_tests.helpers.rasters import write_tiny_raster

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ICECRACK_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: present in CI; a user's clone may not have it, so tests skip clearly."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide the shared data folder at {SHARED_DATA}")
        pytest.skip(f"real third-party data not found at {SHARED_DATA} (set ICECRACK_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture
def tiny_raster(tmp_path: Path):
    """Factory: ``tiny_raster(array, name="x.tif", **kw)`` writes a GeoTIFF under tmp_path."""

    def make(array: np.ndarray, name: str = "x.tif", **kw) -> Path:
        return write_tiny_raster(tmp_path / name, array, **kw)

    return make


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """The fault-injection and probe tallies, one line each, when their modules ran."""
    import sys

    tallies = sys.modules.get("icecrack_assets_tests.production.tallies")
    if tallies is None:
        return
    lines = []
    if any(tallies.FAULTS.values()):
        lines.append(tallies.fault_line())
    if any(tallies.PROBE.values()):
        lines.append(tallies.probe_line())
    if lines:
        terminalreporter.section("production tallies")
        for line in lines:
            terminalreporter.write_line(line)
