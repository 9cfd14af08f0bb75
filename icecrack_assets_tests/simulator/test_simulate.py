"""The Sentinel-1 simulator: determinism, radiometry, crevasse truth, speckle, hard negatives."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy import ndimage

from icecrack_assets.errors import IceCrackError
from icecrack_assets.regions import get_region
from icecrack_assets.sar.sentinel1.naming import parse_name
from icecrack_assets.simulator.layout import (
    CLIFF,
    GROUNDED,
    HARD_NEGATIVES,
    ICE,
    ICEBERG,
    RIFT,
    ROCK,
    SEA_ICE,
    STREAM,
    WATER,
)
from icecrack_assets.simulator.scenes import SimulatedScene, simulate_scene

SHAPE = (256, 256)
JAK = get_region("jakobshavn")
AMERY = get_region("amery")
JULY = dt.datetime(2020, 7, 20, 19, 30, tzinfo=dt.timezone.utc)
JANUARY = dt.datetime(2021, 1, 18, 1, 15, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def greenland() -> SimulatedScene:
    return simulate_scene(JAK, JULY, seed=3, shape=SHAPE)


@pytest.fixture(scope="module")
def antarctic() -> SimulatedScene:
    return simulate_scene(AMERY, JANUARY, seed=3, shape=SHAPE)


def _db(x: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(x)


def test_scene_fields_and_types(greenland: SimulatedScene) -> None:
    s = greenland
    assert s.intensity.shape == s.clean.shape == s.truth.shape == SHAPE
    assert s.intensity.dtype == s.clean.dtype == np.float32 and s.truth.dtype == np.uint8
    assert set(np.unique(s.truth)) <= {0, 1, 255}
    assert s.crs == "EPSG:3413" and s.transform == JAK.transform and s.looks == JAK.looks
    assert s.region == "jakobshavn" and s.seed == 3 and s.acquired == JULY
    # NaN exactly where truth says nodata
    assert np.array_equal(np.isnan(s.intensity), s.truth == 255)
    assert np.array_equal(np.isnan(s.clean), s.truth == 255)
    name = parse_name(s.scene_id)
    assert name is not None and name.mission in ("S1A", "S1B") and name.mode == "IW"
    assert name.product == "GRDH" and name.polarisations == ("HH",) and name.start == JULY
    assert 20 <= (name.stop - name.start).total_seconds() <= 30


def test_deterministic_by_seed() -> None:
    a = simulate_scene(AMERY, JANUARY, seed=11, shape=(96, 128))
    b = simulate_scene(AMERY, JANUARY, seed=11, shape=(96, 128))
    assert a.scene_id == b.scene_id
    assert np.array_equal(a.intensity, b.intensity, equal_nan=True)
    assert np.array_equal(a.truth, b.truth)
    c = simulate_scene(AMERY, JANUARY, seed=12, shape=(96, 128))
    assert not np.array_equal(a.truth, c.truth)
    assert a.scene_id != c.scene_id


def _iou(a: SimulatedScene, b: SimulatedScene) -> float:
    valid = (a.truth != 255) & (b.truth != 255)
    x, y = (a.truth == 1) & valid, (b.truth == 1) & valid
    return float((x & y).sum() / max((x | y).sum(), 1))


def _near(a: SimulatedScene, b: SimulatedScene, px: int = 2) -> float:
    """Share of a's crevasse pixels within ``px`` of one of b's (where both scenes have data)."""
    valid = (a.truth != 255) & (b.truth != 255)
    grown = ndimage.binary_dilation(b.truth == 1, iterations=px)
    x = (a.truth == 1) & valid
    return float((x & grown).sum() / max(x.sum(), 1))


def test_geometry_shared_within_a_season_new_each_year() -> None:
    first = simulate_scene(AMERY, dt.datetime(2021, 1, 5, 13), seed=0, shape=SHAPE)
    later = simulate_scene(AMERY, dt.datetime(2021, 2, 20, 1), seed=0, shape=SHAPE)
    next_year = simulate_scene(AMERY, dt.datetime(2022, 1, 5, 13), seed=0, shape=SHAPE)
    assert not np.array_equal(first.intensity, later.intensity, equal_nan=True)  # new speckle/pass
    # same crevasses (only the lit side moves with the pass), different glacier next year
    assert _near(first, later) > 0.9 and _near(later, first) > 0.9
    assert _iou(first, later) > 0.25
    assert _iou(first, next_year) < 0.1
    assert _near(first, next_year) < 0.5


def test_backscatter_levels_in_db(greenland: SimulatedScene, antarctic: SimulatedScene) -> None:
    def med(scene: SimulatedScene, cls: int) -> float:
        return float(np.median(_db(scene.clean[scene.classes == cls])))

    assert -20.0 <= med(greenland, GROUNDED) <= -11.0  # July wet snow on the ice sheet
    assert -13.0 <= med(greenland, ICE) <= -6.0  # bare, rough glacier ice
    assert -10.0 <= med(greenland, ROCK) <= -3.0
    assert -28.5 <= med(greenland, WATER) <= -17.5
    assert -18.0 <= med(greenland, SEA_ICE) <= -8.0
    assert -12.5 <= med(antarctic, ICE) <= -5.0  # dry shelf firn
    assert -23.0 <= med(antarctic, RIFT) <= -16.0
    assert med(antarctic, ICEBERG) > med(antarctic, WATER) + 10.0
    db = _db(np.concatenate([greenland.clean.ravel(), antarctic.clean.ravel()]))
    db = db[np.isfinite(db)]
    assert -40.0 < db.min() and db.max() < 8.0


def test_wet_snow_darkens_greenland_in_midsummer() -> None:
    early = simulate_scene(JAK, dt.datetime(2020, 7, 1, 19), seed=5, shape=SHAPE)
    peak = simulate_scene(JAK, dt.datetime(2020, 7, 26, 19), seed=5, shape=SHAPE)
    sheet = (early.classes == GROUNDED) & (peak.classes == GROUNDED)
    assert sheet.sum() > 500
    assert np.median(_db(peak.clean[sheet])) < np.median(_db(early.clean[sheet])) - 1.0


@pytest.mark.parametrize("region,when", [(JAK, JULY), (AMERY, JANUARY)])
@pytest.mark.parametrize("seed", [0, 1])
def test_truth_fraction_plausible(region, when, seed) -> None:
    s = simulate_scene(region, when, seed=seed, shape=SHAPE)
    ice = (s.classes == ICE) | (s.classes == GROUNDED)
    overall = (s.truth[ice] == 1).mean()
    zone = ice & (s.crevasse_zone > 0.5)
    in_zone = (s.truth[zone] == 1).mean()
    assert 0.005 < overall < 0.06
    assert 0.02 <= in_zone <= 0.14
    assert in_zone > 1.5 * overall  # crevasse fields occupy parts of the ice, not everywhere
    assert np.all(ice[s.truth == 1])  # truth only on ice


def test_crevasses_are_bright_wall_and_dark_shadow(antarctic: SimulatedScene) -> None:
    s = antarctic
    db = _db(s.clean)
    ice = (s.classes == ICE) & np.isfinite(db)
    background = ndimage.median_filter(np.where(ice, db, np.nanmedian(db[ice])), size=9)
    diff = (db - background)[(s.truth == 1) & ice]
    assert diff.size > 200
    assert np.percentile(diff, 90) > 3.0  # lit far walls
    assert np.percentile(diff, 10) < -3.0  # shadowed openings
    # the lit wall lies on the far-range side of the shadow: look two pixels each way along range
    dark = (s.truth == 1) & ice & (db - background < -2.0)
    dc, dr = (int(round(2 * v)) for v in s.look_direction)
    rr, cc = np.nonzero(dark)
    h, w = db.shape
    far_r, far_c = np.clip(rr + dr, 0, h - 1), np.clip(cc + dc, 0, w - 1)
    near_r, near_c = np.clip(rr - dr, 0, h - 1), np.clip(cc - dc, 0, w - 1)
    d = db - background
    assert np.nanmean(d[far_r, far_c]) > np.nanmean(d[near_r, near_c]) + 1.0


def test_hard_negatives_present_and_never_truth(greenland: SimulatedScene, antarctic: SimulatedScene) -> None:
    for s, expected in ((greenland, {ROCK, ICEBERG, STREAM}), (antarctic, {RIFT, ICEBERG, CLIFF})):
        present = {c for c in HARD_NEGATIVES if (s.classes == c).sum() > 0}
        assert expected <= present, f"{s.region}: missing {expected - present}"
        hard = np.isin(s.classes, HARD_NEGATIVES + (WATER, SEA_ICE))
        assert not np.any(s.truth[hard] == 1)
    # rifts are wide dark fractures, much darker than the crevasse shadows' surroundings
    rift_db = np.median(_db(antarctic.clean[antarctic.classes == RIFT]))
    assert rift_db < np.median(_db(antarctic.clean[antarctic.classes == ICE])) - 6.0


def test_speckle_statistics_uncorrelated(greenland: SimulatedScene) -> None:
    ratio = (greenland.intensity / greenland.clean)[np.isfinite(greenland.clean)]
    assert ratio.mean() == pytest.approx(1.0, abs=0.01)
    assert ratio.var() == pytest.approx(1.0 / JAK.looks, rel=0.05)
    r = greenland.intensity / greenland.clean
    a, b = r[:, :-1].ravel(), r[:, 1:].ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    assert abs(np.corrcoef(a[ok], b[ok])[0, 1]) < 0.03


def test_looks_override_and_correlated_speckle() -> None:
    s = simulate_scene(AMERY, JANUARY, seed=3, shape=SHAPE, looks=2.0, correlated=True)
    assert s.looks == 2.0 and s.correlated
    r = s.intensity / s.clean
    ok = np.isfinite(r)
    assert r[ok].mean() == pytest.approx(1.0, abs=0.03)
    assert r[ok].var() == pytest.approx(0.5, rel=0.15)
    a, b = r[:, :-1].ravel(), r[:, 1:].ravel()
    good = np.isfinite(a) & np.isfinite(b)
    assert np.corrcoef(a[good], b[good])[0, 1] > 0.2
    # averaging 3x3 reduces variance far less than 9x: the effective number of looks drops
    box = ndimage.uniform_filter(np.where(ok, r, 1.0), 3)[ok]
    assert box.var() > 2.0 * (0.5 / 9.0)


def test_crevasse_width_parameter_widens_truth() -> None:
    thin = simulate_scene(AMERY, JANUARY, seed=4, shape=SHAPE, crevasse_width=(1.0, 1.0))
    wide = simulate_scene(AMERY, JANUARY, seed=4, shape=SHAPE, crevasse_width=(3.0, 4.0))
    assert (wide.truth == 1).sum() > 1.3 * (thin.truth == 1).sum()


def test_bad_arguments_are_one_line_errors() -> None:
    with pytest.raises(IceCrackError, match="outside the amery season"):
        simulate_scene(AMERY, dt.datetime(2021, 7, 1), seed=0, shape=SHAPE)
    with pytest.raises(IceCrackError, match="too small"):
        simulate_scene(AMERY, JANUARY, seed=0, shape=(4, 4))
    with pytest.raises(IceCrackError, match="larger than"):
        simulate_scene(AMERY, JANUARY, seed=0, shape=(AMERY.height + 1, 10_000))
    with pytest.raises(IceCrackError, match="looks"):
        simulate_scene(AMERY, JANUARY, seed=0, shape=SHAPE, looks=0)
    with pytest.raises(IceCrackError, match="seed"):
        simulate_scene(AMERY, JANUARY, seed=-1, shape=SHAPE)


def test_naive_datetime_is_utc() -> None:
    s = simulate_scene(AMERY, JANUARY.replace(tzinfo=None), seed=3, shape=(64, 64))
    assert s.acquired == JANUARY
