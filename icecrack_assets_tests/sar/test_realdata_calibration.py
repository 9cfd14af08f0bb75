"""Calibration-LUT interpolation and thermal-noise removal, checked against values computed here,
point by point, from the real ESA XML (IW and EW; old single-vector and new range+azimuth noise)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from icecrack_assets.sar.sentinel1.calibration import calibrate, interpolate_lut, parse_calibration
from icecrack_assets.sar.sentinel1.noise import UnknownNoiseFormat, noise_power, parse_noise

SARSEN = "s1-safe-sarsen/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"
SARSEN_BASE = "s1b-iw-grd-vv-20211223t051122-20211223t051147-030148-039993-001"
EW = "s1-safe-stactools/S1A_EW_GRDM_1SDH_20221130T014342_20221130T014446_046117_058549_BB15"
SL1 = "s1-safe-stactools/S1A_IW_SL1__1_SH_20141031T095929_20141031T100002_003072_003842_91FC.SAFE"
SL1_BASE = "s1a-iw1-slc-hh-20141031t095931-20141031t095956-003072-003842-001"
PYRO_OLD = "s1-grd-pyrosar/S1A_IW_GRDH_1SDV_20150203T043109_20150203T043134_004454_00574F_6D00.zip"


def _read(shared: Path, rel: str, member: str) -> bytes:
    if rel.endswith(".zip"):
        with zipfile.ZipFile(shared / rel) as zf:
            name = next(n for n in zf.namelist() if n.endswith(member))
            return zf.read(name)
    return (shared / rel / member).read_bytes()


# ---- independent reference: plain loops over the XML, with the standard-library parser ----------


def _ref_vectors(xml: bytes, vec_tag: str, val_tag: str) -> list[tuple[int, list[float], list[float]]]:
    root = ET.fromstring(xml)
    return [
        (
            int(v.find("line").text),
            [float(x) for x in v.find("pixel").text.split()],
            [float(x) for x in v.find(val_tag).text.split()],
        )
        for v in root.iter(vec_tag)
    ]


def _ref_1d(xs: list[float], ys: list[float], x: float) -> float:
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    for k in range(len(xs) - 1):
        if xs[k] <= x <= xs[k + 1]:
            return ys[k] + (ys[k + 1] - ys[k]) * (x - xs[k]) / (xs[k + 1] - xs[k])
    raise AssertionError("unreachable")


def _ref_lut(vectors, line: int, pixel: int) -> float:
    lines = [v[0] for v in vectors]
    if line <= lines[0]:
        return _ref_1d(vectors[0][1], vectors[0][2], pixel)
    if line >= lines[-1]:
        return _ref_1d(vectors[-1][1], vectors[-1][2], pixel)
    k = max(i for i, ln in enumerate(lines) if ln <= line)
    v0 = _ref_1d(vectors[k][1], vectors[k][2], pixel)
    v1 = _ref_1d(vectors[k + 1][1], vectors[k + 1][2], pixel)
    return v0 + (v1 - v0) * (line - lines[k]) / (lines[k + 1] - lines[k])


def _ref_azimuth(xml: bytes, line: int, pixel: int) -> float:
    root = ET.fromstring(xml)
    for v in root.iter("noiseAzimuthVector"):
        fl, ll = int(v.find("firstAzimuthLine").text), int(v.find("lastAzimuthLine").text)
        fs, ls = int(v.find("firstRangeSample").text), int(v.find("lastRangeSample").text)
        if fl <= line <= ll and fs <= pixel <= ls:
            return _ref_1d(
                [float(x) for x in v.find("line").text.split()],
                [float(x) for x in v.find("noiseAzimuthLut").text.split()],
                line,
            )
    return 1.0


def _points(xml: bytes, seed: int, n: int = 25) -> list[tuple[int, int]]:
    info = ET.fromstring(xml)
    rng = np.random.default_rng(seed)
    vecs = (
        list(info.iter("calibrationVector"))
        or list(info.iter("noiseRangeVector"))
        or list(info.iter("noiseVector"))
    )
    last_line = int(vecs[-1].find("line").text)
    last_px = int(vecs[0].find("pixel").text.split()[-1])
    pts = [(int(rng.integers(0, last_line + 1)), int(rng.integers(0, last_px + 1))) for _ in range(n)]
    # exact nodes and the edges too
    first_px = [int(x) for x in vecs[1].find("pixel").text.split()]
    pts += [(int(vecs[1].find("line").text), first_px[3]), (0, 0), (last_line, last_px)]
    return pts


# ---- calibration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "product, member",
    [
        (SARSEN, f"annotation/calibration/calibration-{SARSEN_BASE}.xml"),
        (EW, "annotation/calibration/calibration-ew-hh.xml"),
        (EW, "annotation/calibration/calibration-ew-hv.xml"),
        (PYRO_OLD, "calibration-s1a-iw-grd-vv-20150203t043109-20150203t043134-004454-00574f-001.xml"),
    ],
)
def test_sigma0_lut_matches_independent_interpolation(shared_data: Path, product: str, member: str) -> None:
    xml = _read(shared_data, product, member)
    lut = parse_calibration(etree.fromstring(xml), "sigmaNought")
    ref = _ref_vectors(xml, "calibrationVector", "sigmaNought")
    for line, pixel in _points(xml, seed=len(member)):
        got = interpolate_lut(lut, np.array([line]), np.array([pixel]))[0, 0]
        assert got == pytest.approx(_ref_lut(ref, line, pixel), rel=1e-12), (line, pixel)


def test_lut_on_a_grid_equals_pointwise(shared_data: Path) -> None:
    xml = _read(shared_data, EW, "annotation/calibration/calibration-ew-hh.xml")
    lut = parse_calibration(etree.fromstring(xml), "gamma")
    ref = _ref_vectors(xml, "calibrationVector", "gamma")
    rows, cols = np.array([5, 166, 167, 900, 4000]), np.array([0, 13, 40, 5000, 10486])
    grid = interpolate_lut(lut, rows, cols)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            assert grid[i, j] == pytest.approx(_ref_lut(ref, r, c), rel=1e-12)


def test_calibrate_formula() -> None:
    dn = np.array([[0, 100, 1000]], dtype=np.uint16)
    a = np.full((1, 3), 500.0)
    np.testing.assert_allclose(calibrate(dn, a), [[0.0, 0.04, 4.0]], rtol=1e-6)
    np.testing.assert_allclose(calibrate(dn, a, np.full((1, 3), 20000.0)), [[0.0, 0.0, 3.92]], rtol=1e-6)


# ---- noise ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "product, member, fmt",
    [
        (SARSEN, f"annotation/calibration/noise-{SARSEN_BASE}.xml", "range+azimuth"),
        (EW, "annotation/calibration/noise-ew-hh.xml", "range+azimuth"),
        (EW, "annotation/calibration/noise-ew-hv.xml", "range+azimuth"),
        (PYRO_OLD, "noise-s1a-iw-grd-vv-20150203t043109-20150203t043134-004454-00574f-001.xml", "range-only"),
        (SL1, f"annotation/calibration/noise-{SL1_BASE}.xml", "range-only"),
    ],
)
def test_noise_matches_independent_computation(
    shared_data: Path, product: str, member: str, fmt: str
) -> None:
    xml = _read(shared_data, product, member)
    model = parse_noise(etree.fromstring(xml))
    assert model.format == fmt
    tag, val = (
        ("noiseRangeVector", "noiseRangeLut") if fmt == "range+azimuth" else ("noiseVector", "noiseLut")
    )
    ref = _ref_vectors(xml, tag, val)
    for line, pixel in _points(xml, seed=len(member) + 1):
        expected = _ref_lut(ref, line, pixel) * (
            _ref_azimuth(xml, line, pixel) if fmt != "range-only" else 1.0
        )
        got = noise_power(model, np.array([line]), np.array([pixel]))[0, 0]
        assert got == pytest.approx(expected, rel=1e-12), (line, pixel)


def test_ew_azimuth_blocks_change_across_subswaths(shared_data: Path) -> None:
    xml = _read(shared_data, EW, "annotation/calibration/noise-ew-hh.xml")
    model = parse_noise(etree.fromstring(xml))
    swaths = {b.swath for b in model.azimuth}
    assert swaths == {"EW1", "EW2", "EW3", "EW4", "EW5"}
    # EW1 and EW2 meet at sample 3117/3118 on line 130: the factor jumps there
    from icecrack_assets.sar.sentinel1.noise import azimuth_factor

    f = azimuth_factor(model.azimuth, np.array([130.0]), np.array([3117.0, 3118.0]))[0]
    assert f[0] == pytest.approx(_ref_azimuth(xml, 130, 3117)) and f[1] == pytest.approx(
        _ref_azimuth(xml, 130, 3118)
    )
    assert f[0] != pytest.approx(f[1])


def test_denoised_sigma0_end_to_end_on_real_luts(shared_data: Path) -> None:
    cal_xml = _read(shared_data, EW, "annotation/calibration/calibration-ew-hv.xml")
    noise_xml = _read(shared_data, EW, "annotation/calibration/noise-ew-hv.xml")
    rows, cols = np.arange(1000, 1003), np.arange(2000, 2004)
    a = interpolate_lut(parse_calibration(etree.fromstring(cal_xml)), rows, cols)
    n = noise_power(parse_noise(etree.fromstring(noise_xml)), rows, cols)
    dn = np.full((3, 4), 150, dtype=np.uint16)
    got = calibrate(dn, a, n)
    ref_c = _ref_vectors(cal_xml, "calibrationVector", "sigmaNought")
    ref_n = _ref_vectors(noise_xml, "noiseRangeVector", "noiseRangeLut")
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            noise = _ref_lut(ref_n, r, c) * _ref_azimuth(noise_xml, r, c)
            expected = max(150.0**2 - noise, 0.0) / _ref_lut(ref_c, r, c) ** 2
            assert got[i, j] == pytest.approx(expected, rel=1e-5)


def test_unknown_noise_format_is_refused() -> None:
    with pytest.raises(UnknownNoiseFormat):
        parse_noise(etree.fromstring(b"<noise><adsHeader/><somethingNew/></noise>"))
