"""The randomised simulator: determinism, families, honest truth, radiometry ranges, sampling rules."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy import ndimage

from icecrack_assets.errors import IceCrackError
from icecrack_assets.simulator import random_background as rb
from icecrack_assets.simulator.randomised import (
    CRACK_FAMILIES,
    FAMILIES,
    RADIOMETRY,
    RandomScene,
    SceneStyle,
    render_scene,
    sample_style,
)

SHAPE = (128, 128)


def _style(seed: int, **kw) -> SceneStyle:
    return sample_style(np.random.default_rng(seed), **kw)


def test_same_style_shape_seed_is_bit_identical() -> None:
    for fam in ("legacy", "chevron", "dense-field"):
        st = _style(1, families=[fam])
        a, b = render_scene(st, SHAPE, 5), render_scene(st, SHAPE, 5)
        assert np.array_equal(a.sigma0, b.sigma0, equal_nan=True)
        assert np.array_equal(a.truth, b.truth)
        c = render_scene(st, SHAPE, 6)
        assert not np.array_equal(a.sigma0, c.sigma0, equal_nan=True)


def test_style_round_trips_through_json() -> None:
    for seed in range(6):
        st = _style(seed)
        again = SceneStyle.from_dict(json.loads(json.dumps(st.as_dict())))
        assert again == st
        assert np.array_equal(render_scene(again, SHAPE, 2).truth, render_scene(st, SHAPE, 2).truth)


def test_scene_types_and_recorded_sensor() -> None:
    for seed in range(4):
        st = _style(seed, exclude=["legacy"])
        sc = render_scene(st, SHAPE, seed)
        assert isinstance(sc, RandomScene) and sc.style is st
        assert sc.sigma0.shape == sc.truth.shape == SHAPE
        assert sc.sigma0.dtype == np.float32 and sc.truth.dtype == np.uint8
        assert set(np.unique(sc.truth)) <= {0, 1, 255}
        assert np.array_equal(np.isnan(sc.sigma0), sc.classes == rb.NODATA_CLASS)
        assert (sc.truth[np.isnan(sc.sigma0)] == 255).all()
        assert np.nanmin(sc.sigma0) > 0
        assert 10.0 <= sc.pixel_size <= 50.0 and sc.pixel_size == st.sensor.pixel_size
        assert sc.looks == pytest.approx(st.sensor.looks * st.sensor.composite)
        assert 1.0 <= st.sensor.looks <= 20.0


def test_exclude_and_families_are_honoured() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        st = sample_style(rng, exclude=["chevron", "legacy"])
        assert "chevron" not in st.families and st.family != "legacy"
    for _ in range(50):
        st = sample_style(rng, families=["splaying", "marginal"])
        assert set(st.families) <= {"splaying", "marginal"}
    with pytest.raises(IceCrackError, match="unknown"):
        sample_style(rng, families=["nope"])
    with pytest.raises(IceCrackError, match="no simulator family"):
        sample_style(rng, families=["chevron"], exclude=["chevron"])
    assert FAMILIES[0] == "legacy" and set(CRACK_FAMILIES) < set(FAMILIES)


def test_radiometry_weights_steer_the_draw_and_the_default_is_unchanged() -> None:
    # the default weighting draws exactly what an unweighted call draws (seeds keep their scenes)
    for seed in range(20):
        assert _style(seed) == _style(seed, radiometry_p=None) == _style(seed, radiometry_p=(9, 3, 4, 4))
    dark_only = [_style(s, radiometry_p=(0, 0, 0, 1)) for s in range(60)]
    assert {c.radiometry for st in dark_only for c in st.cracks} == {"dark"}
    counts = dict.fromkeys(RADIOMETRY, 0)
    rng = np.random.default_rng(1)
    for _ in range(400):
        for c in sample_style(rng, exclude=["legacy"], radiometry_p=(1, 0, 1, 2)).cracks:
            counts[c.radiometry] += 1
    n = sum(counts.values())
    assert counts["lit-near"] == 0 and 0.4 < counts["dark"] / n < 0.6
    for bad in ((1, 1, 1), (1, 1, 1, -1), (0, 0, 0, 0), (1, 1, float("nan"), 1)):
        with pytest.raises(IceCrackError, match="radiometry weights"):
            _style(0, radiometry_p=bad)


def _with_cracks(style: SceneStyle, **changes) -> SceneStyle:
    return dataclasses.replace(style, cracks=tuple(dataclasses.replace(c, **changes) for c in style.cracks))


def _db(x: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(x)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_draws_cracks_with_sensible_truth(family: str) -> None:
    fractions = []
    for seed in range(4):
        st = _style(100 + seed, families=[family])
        assert st.family == family
        sc = render_scene(st, (160, 160), seed)
        fractions.append((sc.truth == 1).mean())
        if sc.zone is not None and family != "legacy":
            # cracks only inside the family's zones, never on a hard negative
            assert (sc.zone[sc.truth == 1] > 0).all()
            assert (sc.classes[sc.truth == 1] == rb.BACKGROUND).all()
    assert sum(f > 0 for f in fractions) >= 3, fractions
    assert 0.001 < float(np.median(fractions)) < 0.35, fractions


@pytest.mark.parametrize("negative", rb.HARD_NEGATIVES)
def test_hard_negatives_are_drawn_and_never_truth(negative: str) -> None:
    codes = {
        "streams": [rb.STREAM],
        "lakes": [rb.LAKE],
        "rift": [rb.RIFT],
        "front": [rb.CLIFF, rb.WATER, rb.MELANGE],
        "icebergs": [rb.ICEBERG],
        "rock": [rb.ROCK],
        "points": [rb.POINT],
        "ripples": [],
    }[negative]
    for seed in range(3):
        st = _style(200 + seed, families=["transverse", "dense-field", "crossing"])
        negs = (negative, "front") if negative == "icebergs" else (negative,)
        st = dataclasses.replace(st, background=dataclasses.replace(st.background, hard_negatives=negs))
        sc = render_scene(st, (160, 160), seed)
        if codes:
            present = np.isin(sc.classes, codes)
            assert present.any(), negative
            assert (sc.truth[present] != 1).all()
            assert (sc.truth[present & ~np.isnan(sc.sigma0)] == 0).all()
        assert (sc.zone[sc.truth == 1] > 0).all()


@pytest.mark.parametrize("pixel_size", [10.0, 20.0, 50.0])
def test_dunes_are_hundreds_of_metres_apart_at_any_pixel_spacing(pixel_size: float) -> None:
    """The "ripples" negative: lineations a few pixels apart are what a crevasse field looks like."""
    bg = dataclasses.replace(
        _style(3, families=["transverse"], exclude=("legacy",)).background,
        hard_negatives=("ripples",),
        second_surface=None,
    )
    shape = (256, 256)
    f = np.hypot(np.fft.fftfreq(shape[0])[:, None], np.fft.fftfreq(shape[1])[None, :])  # cycles / px
    for seed in range(4):
        dunes, plain = (
            rb.render_background(b, (1.0, 0.0), shape, np.random.default_rng(seed), False, pixel_size)
            for b in (bg, dataclasses.replace(bg, hard_negatives=()))
        )
        d = dunes.db - plain.db  # the same draws before them: the difference is the dunes alone
        assert np.abs(d).max() > 0.1
        power = np.abs(np.fft.fft2(d - d.mean())) ** 2
        # under 300 m: only the soft edges of the dune patches (simulator 1.0 put 99 % there at 10 m)
        assert power[f > pixel_size / 300.0].sum() < 0.25 * power.sum()


def test_uncracked_bright_zones_are_brighter_never_cracked_and_change_nothing_else() -> None:
    st = _style(31, families=["transverse", "dense-field", "crossing"], exclude=("legacy",))
    plain = render_scene(st, (192, 192), 4)
    bright = render_scene(
        dataclasses.replace(st, background=dataclasses.replace(st.background, bright_zone_db=3.0)),
        (192, 192),
        4,
    )
    zone = bright.classes == rb.BRIGHT_ZONE
    assert 0.02 < zone.mean() < 0.6 and not (plain.classes == rb.BRIGHT_ZONE).any()
    assert (bright.truth[zone] != 1).all()  # a bright zone is never a crack ...
    db_gain = 10 * np.log10(bright.clean[zone] / plain.clean[zone])
    assert 1.0 < float(np.median(db_gain)) < 4.5  # ... but brighter than the surface was (soft edges)
    assert float(np.std(db_gain)) > 0.3  # and rougher
    away = (bright.classes == plain.classes) & np.isfinite(bright.sigma0)
    away &= ~ndimage.binary_dilation(zone | (plain.truth == 1), iterations=20)  # soft edges
    assert np.allclose(bright.clean[away], plain.clean[away], rtol=0.02)  # elsewhere as it was
    assert dataclasses.replace(bright.style.background, bright_zone_db=0.0) == plain.style.background
    assert SceneStyle.from_dict(json.loads(json.dumps(bright.style.as_dict()))) == bright.style


def test_rift_tip_is_unknown_and_the_rift_is_not_crack() -> None:
    st = _style(7, families=["rift-tip"])
    sc = render_scene(st, (192, 192), 3)
    assert (sc.classes == rb.RIFT_TIP).any() and (sc.truth[sc.classes == rb.RIFT_TIP] == 255).all()
    assert (sc.truth == 1).any()
    if (sc.classes == rb.RIFT).any():
        assert (sc.truth[sc.classes == rb.RIFT] != 1).all()


@pytest.mark.parametrize("radiometry", ["lit-far", "lit-near", "bright", "dark"])
def test_crack_contrast_stays_in_the_sampled_range(radiometry: str) -> None:
    """Clean sigma0 with and without crack contrast (same geometry): the change is the crack."""
    for seed in range(3):
        st = _with_cracks(
            _style(300 + seed, families=["transverse", "chevron", "dense-field"]), bridged_fraction=0.0
        )
        st = _with_cracks(st, radiometry=radiometry)
        flat = _with_cracks(st, contrast_db=(0.0, 0.0))
        a, b = render_scene(st, SHAPE, seed), render_scene(flat, SHAPE, seed)
        ok = ~np.isnan(a.clean)
        change = np.abs(_db(a.clean[ok]) - _db(b.clean[ok]))
        truth = a.truth[ok]
        hi = max(c.contrast_db[1] for c in st.cracks)
        lo = min(c.contrast_db[0] for c in st.cracks)
        faint = max(1.0, 2.5 / np.sqrt(a.looks))
        assert change.max() <= hi + 1e-3
        assert (change[truth == 0] < faint + 1e-3).all()  # truth 0: not visibly changed by a crack
        if (truth == 1).sum() > 20:
            assert np.percentile(change[truth == 1], 90) >= lo * st.sensor.visibility_floor - 1e-3
            if radiometry in ("bright", "dark"):  # one band: a half-covered pixel already shows it
                assert (change[truth == 1] >= 0.4 * faint).all()
        # bright modes only brighten, dark only darken
        signed = _db(a.clean[ok]) - _db(b.clean[ok])
        if radiometry == "bright":
            assert signed.min() > -1e-3
        if radiometry == "dark":
            assert signed.max() < 1e-3


def test_contrast_fades_for_traces_along_range() -> None:
    st = _with_cracks(
        _style(11, families=["transverse"]),
        curvature=0.0,
        roughness=0.02,
        bridged_fraction=0.0,
        radiometry="dark",
    )
    c = st.cracks[0]
    along = dataclasses.replace(
        st, sensor=dataclasses.replace(st.sensor, look_deg=c.flow_deg + 90.0, visibility_floor=0.3)
    )
    across = dataclasses.replace(
        st, sensor=dataclasses.replace(st.sensor, look_deg=c.flow_deg, visibility_floor=0.3)
    )
    flat = _with_cracks(along, contrast_db=(0.0, 0.0))
    base = _db(render_scene(flat, SHAPE, 1).clean)
    fade = np.nanmax(np.abs(_db(render_scene(along, SHAPE, 1).clean) - base))
    full = np.nanmax(np.abs(_db(render_scene(across, SHAPE, 1).clean) - base))
    assert fade <= c.contrast_db[1] * 0.5
    assert full >= c.contrast_db[0] * 0.95


def test_crevasse_fields_are_brighter_than_the_ice_around_them() -> None:
    st = _with_cracks(_style(12, families=["dense-field"]), contrast_db=(0.0, 0.0), bridged_fraction=0.0)
    dull = _with_cracks(st, field_db=0.0)
    a, b = render_scene(st, SHAPE, 4), render_scene(dull, SHAPE, 4)
    inside = a.zone > 0.99
    assert inside.any()
    lift = _db(a.clean[inside]) - _db(b.clean[inside])
    field_db = st.cracks[0].field_db
    assert (lift >= 0.99 * field_db - 1e-3).all() and (lift <= field_db + 1e-3).all()
    assert np.allclose(a.clean[a.zone == 0], b.clean[a.zone == 0], equal_nan=True)


def test_sensor_calibration_seams_and_speckle() -> None:
    st = _style(13, exclude=["legacy"])
    plain = dataclasses.replace(
        st.sensor,
        calibration_db=0.0,
        seams=(),
        seam_steps_db=(),
        nesz_db=None,
        nodata_edge=None,
        correlation_px=0.0,
        looks=4.0,
        composite=1,
    )
    base = render_scene(dataclasses.replace(st, sensor=plain), (192, 192), 2)
    shifted = render_scene(
        dataclasses.replace(st, sensor=dataclasses.replace(plain, calibration_db=2.5)), (192, 192), 2
    )
    assert np.allclose(_db(shifted.clean) - _db(base.clean), 2.5, atol=1e-3)
    seam = render_scene(
        dataclasses.replace(st, sensor=dataclasses.replace(plain, seams=(0.5,), seam_steps_db=(1.0,))),
        (192, 192),
        2,
    )
    step = _db(seam.clean) - _db(base.clean)
    assert set(np.round(np.unique(step), 2)) == {0.0, 1.0}
    ratio = base.sigma0 / base.clean  # unit-mean Gamma(4, 1/4) speckle
    assert ratio.mean() == pytest.approx(1.0, abs=0.02) and ratio.var() == pytest.approx(0.25, rel=0.1)
    lag1 = np.corrcoef(ratio[:, 1:].ravel(), ratio[:, :-1].ravel())[0, 1]
    assert abs(lag1) < 0.05
    corr = render_scene(
        dataclasses.replace(st, sensor=dataclasses.replace(plain, correlation_px=0.9)), (192, 192), 2
    )
    ratio = corr.sigma0 / corr.clean
    assert ratio.var() == pytest.approx(0.25, rel=0.15)
    assert np.corrcoef(ratio[:, 1:].ravel(), ratio[:, :-1].ravel())[0, 1] > 0.2
    composite = render_scene(
        dataclasses.replace(st, sensor=dataclasses.replace(plain, composite=5)), (192, 192), 2
    )
    assert composite.looks == 20.0 and (composite.sigma0 / composite.clean).var() == pytest.approx(
        0.05, rel=0.15
    )


def test_legacy_family_is_todays_renderer() -> None:
    import datetime as dt

    from icecrack_assets.regions import get_region
    from icecrack_assets.simulator.scenes import simulate_scene

    st = _style(14, families=["legacy"])
    sc = render_scene(st, SHAPE, 9)
    lg = st.legacy
    ref = simulate_scene(
        get_region(lg.region),
        dt.datetime.fromisoformat(lg.acquired),
        9,
        shape=SHAPE,
        looks=lg.looks,
        correlated=lg.correlated,
    )
    assert np.array_equal(sc.sigma0, ref.intensity, equal_nan=True) and np.array_equal(sc.truth, ref.truth)
    assert sc.pixel_size == get_region(lg.region).pixel_size and sc.looks == ref.looks


def test_bad_arguments_are_one_clear_error() -> None:
    st = _style(15)
    with pytest.raises(IceCrackError, match="too small"):
        render_scene(st, (8, 8), 0)
    with pytest.raises(IceCrackError, match="seed"):
        render_scene(st, SHAPE, -1)
