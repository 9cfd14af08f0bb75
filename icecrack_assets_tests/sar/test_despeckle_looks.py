"""PPB parameters that follow the number of looks: the rule, presets, metadata, replay from bundles."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import rasterio

from icecrack_assets.cli import main
from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.inference import settings_from_dict
from icecrack_assets.sar.despeckle import settings as rule
from icecrack_assets.sar.despeckle.files import DespeckleSettings, despeckle, despeckle_file
from icecrack_assets.sar.despeckle.ppb import ppb
from icecrack_assets.sar.despeckle.settings import PPB_BY_LOOKS, REFERENCE, params_for_looks


def _speckled(h: int, w: int, L: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    clean = np.where(xx < w // 2, 0.02, 0.2) * (1 + 0.3 * (yy > h // 2))
    return (clean * rng.gamma(L, 1.0 / L, size=(h, w))).astype(np.float32)


# --- the rule -------------------------------------------------------------------------------


def test_rule_has_the_calibrated_looks_and_picks_the_nearest_in_log_looks() -> None:
    assert sorted(PPB_BY_LOOKS) == [1.0, 2.0, 4.4, 10.7, 30.0]
    for L, row in PPB_BY_LOOKS.items():
        assert params_for_looks(L) == row
        assert DespeckleSettings(looks=L).ppb_params() == row
    assert params_for_looks(0.5) == PPB_BY_LOOKS[1.0]
    assert params_for_looks(3.0) == PPB_BY_LOOKS[4.4]  # log(4.4/3) < log(3/2)
    assert params_for_looks(6.0) == PPB_BY_LOOKS[4.4]  # log(6/4.4) < log(10.7/6)
    assert params_for_looks(8.0) == PPB_BY_LOOKS[10.7]
    assert params_for_looks(500.0) == PPB_BY_LOOKS[30.0]
    with pytest.raises(ValueError):
        params_for_looks(0.0)


def test_multilook_rows_differ_from_the_single_look_reference() -> None:
    """The point of the rule: at the GRD look numbers PPB does not run the single-look defaults."""
    assert PPB_BY_LOOKS[4.4] != REFERENCE and PPB_BY_LOOKS[10.7] != REFERENCE


def test_presets_and_explicit_overrides() -> None:
    assert DespeckleSettings(looks=10.7, preset="reference").ppb_params() == REFERENCE
    s = DespeckleSettings(looks=10.7, T=0.33)
    assert s.ppb_params().T == 0.33 and s.ppb_params().hw == PPB_BY_LOOKS[10.7].hw
    assert s.as_dict()["preset"] == "custom" and "rule" not in s.as_dict()
    # an explicit value equal to the preset's keeps the preset
    same = DespeckleSettings(looks=10.7, hw=PPB_BY_LOOKS[10.7].hw)
    assert same.as_dict()["preset"] == "looks"
    with pytest.raises(IceCrackError):
        DespeckleSettings(preset="fancy")
    with pytest.raises(IceCrackError):
        DespeckleSettings(looks=4.4, alpha=1.2)


def test_as_dict_carries_the_resolved_parameters_and_the_rule() -> None:
    d = DespeckleSettings(looks=10.7).as_dict()
    row = PPB_BY_LOOKS[10.7]
    assert (d["hw"], d["hd"], d["alpha"], d["iterations"]) == (row.hw, row.hd, row.alpha, row.iterations)
    assert d["T"] == ("inf" if math.isinf(row.T) else row.T)
    assert d["preset"] == "looks" and d["rule"] == rule.RULE_VERSION
    assert json.loads(json.dumps(d)) == d


def test_fingerprint_follows_looks_preset_and_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    fps = {
        DespeckleSettings(looks=4.4).fingerprint(),
        DespeckleSettings(looks=10.7).fingerprint(),
        DespeckleSettings(looks=4.4, preset="reference").fingerprint(),
    }
    assert len(fps) == 3
    before = DespeckleSettings(looks=4.4).fingerprint()
    row = PPB_BY_LOOKS[4.4]
    monkeypatch.setitem(
        PPB_BY_LOOKS, 4.4, rule.PpbParams(row.hw, row.hd, row.alpha, row.T, row.iterations + 1)
    )
    assert DespeckleSettings(looks=4.4).fingerprint() != before


def test_halo_follows_the_resolved_schedule() -> None:
    for L in PPB_BY_LOOKS:
        p = params_for_looks(L)
        guard = 3 if p.guard > 0 else 0  # the guard's 7x7 statistics
        assert DespeckleSettings(looks=L).halo() == p.iterations * (p.hw + p.hd) + guard
    assert DespeckleSettings(looks=10.7, preset="reference").halo() == 4 * 13


# --- replay (bundles) -----------------------------------------------------------------------


def test_bundle_dict_replays_the_rule_at_each_scenes_looks() -> None:
    stored = DespeckleSettings(looks=4.4).as_dict()  # what a bundle keeps
    at_10 = settings_from_dict(stored, 10.7)
    assert at_10.ppb_params() == PPB_BY_LOOKS[10.7] and at_10.looks == 10.7
    assert settings_from_dict(stored).ppb_params() == PPB_BY_LOOKS[4.4]
    assert settings_from_dict(stored).fingerprint() == DespeckleSettings(looks=4.4).fingerprint()


def test_reference_and_custom_dicts_replay_their_values() -> None:
    ref = DespeckleSettings(looks=4.4, preset="reference").as_dict()
    assert settings_from_dict(ref, 10.7).ppb_params() == REFERENCE
    custom = DespeckleSettings(looks=4.4, hw=6, T=0.7).as_dict()
    again = settings_from_dict(custom, 10.7).ppb_params()
    assert (again.hw, again.T) == (6, 0.7) and again.hd == PPB_BY_LOOKS[4.4].hd


def test_bundles_written_before_presets_replay_their_explicit_values() -> None:
    old = {"filter": "ppb", "looks": 4.4, "hw": 10, "hd": 3, "alpha": 0.92, "T": 0.2, "iterations": 4}
    old |= {"staged": False, "calibration": "white"}
    assert settings_from_dict(old, 10.7).ppb_params() == REFERENCE


def test_a_dict_from_another_rule_version_is_refused() -> None:
    d = DespeckleSettings(looks=4.4).as_dict() | {"rule": "ppb-looks-0"}
    with pytest.raises(IceCrackError, match="rule"):
        settings_from_dict(d, 4.4)


# --- outputs --------------------------------------------------------------------------------


def test_file_tags_and_result_carry_settings_looks_and_enl(tiny_raster, tmp_path) -> None:
    img = _speckled(96, 96, L=10.7, seed=3)
    src = tiny_raster(img, name="in.tif")
    s = DespeckleSettings(looks=10.7)
    res = despeckle_file(src, tmp_path / "out.tif", s)
    with rasterio.open(tmp_path / "out.tif") as ds:
        tags = ds.tags()
        out = ds.read(1)
    stored = json.loads(tags["despeckle"])
    assert stored == s.as_dict() and stored["preset"] == "looks"
    assert tags["despeckle_fingerprint"] == s.fingerprint()
    assert float(tags["despeckle_looks"]) == 10.7 and res.looks == 10.7
    # the input is 10.7-look speckle on piecewise-flat areas: the measured ENL says so
    assert 0.75 * 10.7 < res.enl_input < 1.3 * 10.7
    assert float(tags["despeckle_enl_input"]) == res.enl_input
    assert res.enl_output > 3 * res.enl_input  # the filter smoothed the flat areas
    np.testing.assert_array_equal(out, despeckle(img, s))


def test_cli_reference_reproduces_the_single_look_defaults(tiny_raster, tmp_path, capsys) -> None:
    img = _speckled(40, 40, L=4.4, seed=5)
    src = tiny_raster(img, name="in.tif")
    ref_out, rule_out = tmp_path / "ref.tif", tmp_path / "rule.tif"
    assert main(["despeckle", str(src), str(ref_out), "--looks", "4.4", "--reference", "--quiet"]) == 0
    ref_stats = json.loads(capsys.readouterr().out)
    assert main(["despeckle", str(src), str(rule_out), "--looks", "4.4", "--quiet"]) == 0
    rule_stats = json.loads(capsys.readouterr().out)
    with rasterio.open(ref_out) as a, rasterio.open(rule_out) as b:
        ref, by_rule = a.read(1), b.read(1)
    # the pre-rule default call: ppb(img, L) with hW=10, hD=3, alpha=0.92, T=0.2, 4 iterations
    np.testing.assert_array_equal(ref, ppb(img, 4.4, 10, 3, 0.92, 0.2, 4))
    assert ref_stats["settings"]["preset"] == "reference"
    assert rule_stats["settings"]["preset"] == "looks"
    assert rule_stats["settings"]["hw"] == PPB_BY_LOOKS[4.4].hw
    assert not np.array_equal(ref, by_rule)


def test_ppb_beats_lee_on_a_texture_at_ew_looks() -> None:
    """The issue's failure: at 10.7 looks the single-look defaults lost to Lee on texture."""
    import skimage.data

    A = np.maximum(skimage.data.grass()[:128, :128].astype(np.float64), 1.0)
    I = (A**2 * np.random.default_rng(11).gamma(10.7, 1 / 10.7, A.shape)).astype(np.float32)

    def psnr(est: np.ndarray) -> float:
        return float(10 * np.log10(255.0**2 / np.mean((np.sqrt(est.astype(np.float64)) - A) ** 2)))

    lee = psnr(despeckle(I, DespeckleSettings(filter="lee", looks=10.7)))
    ppb_rule = psnr(despeckle(I, DespeckleSettings(looks=10.7)))
    ppb_ref = psnr(despeckle(I, DespeckleSettings(looks=10.7, preset="reference")))
    assert ppb_rule > lee
    assert ppb_rule > ppb_ref


@pytest.mark.parametrize("name", ["grass", "gravel"])
def test_single_look_rule_beats_every_classical_filter_on_texture(name: str) -> None:
    """Issue 14 at L = 1: the old row lost to Frost on gravel and tied refined Lee on grass; the
    blended row must win on both, and the Frost blend must be what makes it win."""
    import skimage.data

    A = np.maximum(getattr(skimage.data, name)()[:128, :128].astype(np.float64), 1.0)
    I = (A**2 * np.random.default_rng(11).gamma(1.0, 1.0, A.shape)).astype(np.float32)

    def psnr(est: np.ndarray) -> float:
        return float(10 * np.log10(255.0**2 / np.mean((np.sqrt(est.astype(np.float64)) - A) ** 2)))

    rule = DespeckleSettings(looks=1.0)
    best_classical = max(
        psnr(despeckle(I, DespeckleSettings(filter=f, looks=1.0)))
        for f in ("lee", "refined-lee", "frost", "boxcar")
    )
    blended = psnr(despeckle(I, rule))
    assert blended > best_classical + 0.1
    assert blended > psnr(despeckle(I, dataclasses.replace(rule, blend=0.0))) + 0.1


def test_residual_guard_restores_flattened_texture_and_leaves_flat_speckle_alone() -> None:
    from icecrack_assets.sar.despeckle.filters import boxcar, residual_guard

    rng = np.random.default_rng(2)
    L = 10.7
    yy, xx = np.mgrid[0:96, 0:96]
    texture = 1.0 + 0.6 * np.sin(xx * 1.3) * np.sin(yy * 0.9)  # fine texture a 7x7 mean flattens
    flat = np.ones((96, 96))
    for clean, expect_gain in ((texture, True), (flat, False)):
        I = (clean * rng.gamma(L, 1 / L, clean.shape)).astype(np.float32)
        smooth = boxcar(I, 7)
        guarded = residual_guard(I, smooth, L, 1.0)
        err_before = np.mean((smooth - clean) ** 2)
        err_after = np.mean((guarded - clean) ** 2)
        if expect_gain:
            assert err_after < 0.7 * err_before
        else:  # pure speckle around a good estimate: little noise comes back (< 5 % of the input's)
            assert err_after < 0.05 * np.mean((I - clean) ** 2)
    np.testing.assert_allclose(residual_guard(I, smooth, L, 0.0), smooth, rtol=1e-6)
    I[:3] = np.nan
    out = residual_guard(I, smooth, L, 0.5)
    assert np.isnan(out[:3]).all() and np.isfinite(out[3:]).all()


def test_guard_is_part_of_the_settings_and_the_halo() -> None:
    s = DespeckleSettings(looks=10.7, guard=0.5, hw=5, hd=1, iterations=2)
    assert s.as_dict()["guard"] == 0.5
    assert s.halo() == 2 * (5 + 1) + 3
    assert DespeckleSettings(looks=10.7, guard=0.0, hw=5, hd=1, iterations=2).halo() == 12
    with pytest.raises(IceCrackError):
        DespeckleSettings(guard=1.5)


def test_blockwise_file_equals_whole_image_with_the_guard(tiny_raster, tmp_path) -> None:
    img = _speckled(70, 66, L=10.7, seed=9)
    src = tiny_raster(img, name="in.tif")
    s = DespeckleSettings(looks=10.7, hw=3, hd=1, iterations=2, guard=0.5)
    despeckle_file(src, tmp_path / "out.tif", s, block=32)
    with rasterio.open(tmp_path / "out.tif") as ds:
        got = ds.read(1)
    whole = despeckle(img, s)
    assert np.max(np.abs(got - whole) / whole) < 1e-5


def test_blend_mixes_frost_into_ppb_and_is_part_of_the_settings_and_the_halo() -> None:
    from icecrack_assets.sar.despeckle.filters import frost

    img = _speckled(40, 44, L=1.0, seed=4)
    plain = DespeckleSettings(looks=1.0, hw=3, hd=1, alpha=0.92, T=0.2, iterations=2, guard=0.1, blend=0.0)
    mixed = dataclasses.replace(plain, blend=0.3)
    expected = 0.7 * despeckle(img, plain).astype(np.float64) + 0.3 * frost(img, 1.0, rule.BLEND_WINDOW)
    np.testing.assert_allclose(despeckle(img, mixed), expected, rtol=1e-5)
    assert mixed.as_dict()["blend"] == 0.3
    assert "blend" not in plain.as_dict()  # no blend: the dict (and fingerprint) it had before the field
    assert mixed.fingerprint() != plain.fingerprint()
    short = DespeckleSettings(looks=1.0, hw=1, hd=0, iterations=1, guard=0.0, blend=0.0)
    assert short.halo() == 1
    assert dataclasses.replace(short, blend=0.2).halo() == rule.BLEND_WINDOW // 2  # Frost reads 3 px
    with pytest.raises(IceCrackError):
        DespeckleSettings(blend=1.5)


def test_a_custom_dict_without_blend_replays_without_it_where_the_rule_blends() -> None:
    assert PPB_BY_LOOKS[1.0].blend > 0  # the single-look row blends, so inheriting it would show
    custom = DespeckleSettings(looks=1.0, preset="custom", hw=5, blend=0.0).as_dict()
    assert "blend" not in custom
    assert settings_from_dict(custom, 1.0).ppb_params().blend == 0.0
    assert settings_from_dict(DespeckleSettings(looks=1.0).as_dict(), 1.0).ppb_params() == PPB_BY_LOOKS[1.0]


def test_blockwise_file_equals_whole_image_with_the_blend(tiny_raster, tmp_path) -> None:
    img = _speckled(70, 66, L=1.0, seed=9)
    src = tiny_raster(img, name="in.tif")
    s = DespeckleSettings(looks=1.0, preset="custom", hw=2, hd=1, iterations=1, guard=0.2, blend=0.25)
    despeckle_file(src, tmp_path / "out.tif", s, block=32)
    with rasterio.open(tmp_path / "out.tif") as ds:
        got = ds.read(1)
    whole = despeckle(img, s)
    assert np.max(np.abs(got - whole) / whole) < 1e-5
