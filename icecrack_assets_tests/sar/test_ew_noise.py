"""EW GRDM HH/HV thermal noise on the real vectors (stactools' S1A product, IPF 3.52)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from icecrack_assets.sar.sentinel1.calibration import parse_calibration
from icecrack_assets.sar.sentinel1.noise import parse_noise
from icecrack_assets.sar.sentinel1.noise_check import simulate_flatness
from icecrack_assets_tests.helpers.safe_builder import EW_GRDM


def _load(shared_data: Path, pol: str):
    root = shared_data / EW_GRDM
    ann = etree.parse(str(root / f"annotation/ew-{pol}.xml")).getroot()
    lines = int(ann.findtext("imageAnnotation/imageInformation/numberOfLines"))
    samples = int(ann.findtext("imageAnnotation/imageInformation/numberOfSamples"))
    cal = parse_calibration(
        etree.parse(str(root / f"annotation/calibration/calibration-ew-{pol}.xml")).getroot()
    )
    noise = parse_noise(etree.parse(str(root / f"annotation/calibration/noise-ew-{pol}.xml")).getroot())
    return lines, samples, cal, noise


@pytest.mark.parametrize("pol", ["hh", "hv"])
def test_azimuth_noise_blocks_never_overlap_and_tile_the_full_swath(shared_data: Path, pol: str) -> None:
    """Blocks never overlap; once every sub-swath has started (the staggered top edge of an EW
    GRD is nodata), each line is covered from the first to the last sample without a gap."""
    lines, samples, _, noise = _load(shared_data, pol)
    assert noise.format == "range+azimuth"
    assert {b.swath for b in noise.azimuth} == {"EW1", "EW2", "EW3", "EW4", "EW5"}
    probes = {0, lines - 1}
    for b in noise.azimuth:
        probes |= {b.first_line - 1, b.first_line, b.last_line, b.last_line + 1}
    all_started = max(min(b.first_line for b in noise.azimuth if b.swath == s) for s in ("EW1", "EW5"))
    assert 0 < all_started < lines // 20
    for line in sorted(p for p in probes if 0 <= p < lines):
        spans = sorted(
            (b.first_sample, b.last_sample) for b in noise.azimuth if b.first_line <= line <= b.last_line
        )
        assert spans[0][0] == 0, line  # EW1 covers the near range from line 0
        for (_, end), (start, _) in zip(spans[:-1], spans[1:]):
            assert start == end + 1, (line, spans)  # adjacent sub-swaths: no gap, no overlap
        if line >= all_started:
            assert len(spans) == 5 and spans[-1][1] == samples - 1, line


def test_hv_noise_removal_is_flat_across_sub_swaths(shared_data: Path) -> None:
    lines, samples, cal, noise = _load(shared_data, "hv")
    flat = simulate_flatness(cal, noise, lines, samples, sigma0=10 ** (-2.4), looks=10.7, line_step=100)
    assert len(flat.seams) == 4
    assert max(abs(s) for s in flat.steps_before_db) > 2.0  # the noise floor really steps at EW1/EW2
    assert max(abs(s) for s in flat.steps_after_db) < 0.15
    assert max(abs(b) for b in flat.swath_bias_after_db) < 0.1
