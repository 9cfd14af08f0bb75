"""The randomised simulator: determinism, families, honest truth, radiometry ranges, sampling rules."""

from __future__ import annotations

import json

import numpy as np
import pytest

from icecrack_assets.errors import IceCrackError
from icecrack_assets.simulator import random_background as rb
from icecrack_assets.simulator.randomised import (
    CRACK_FAMILIES,
    FAMILIES,
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
