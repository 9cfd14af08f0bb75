"""Season co-registration: phase correlation recovers known shifts; the 1-pixel rule."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from icecrack_assets.sar import coregister as co


def _scene(seed: int = 0, n: int = 256) -> np.ndarray:
    """Despeckled-like linear intensity with structure at several scales (ice texture, crevasses)."""
    rng = np.random.default_rng(seed)
    db = -9 + 2.0 * ndimage.gaussian_filter(rng.normal(size=(n, n)), 4) * 4
    db += 3.0 * (ndimage.gaussian_filter(rng.normal(size=(n, n)), 1.2) > 0.15)
    return (10 ** (db / 10)).astype(np.float32)


def _fourier_shift(img: np.ndarray, dr: float, dc: float) -> np.ndarray:
    f = ndimage.fourier_shift(np.fft.fft2(img.astype(np.float64)), (dr, dc))
    return np.real(np.fft.ifft2(f)).astype(np.float32)


@pytest.mark.parametrize("dr,dc", [(0.3, -0.45), (-0.8, 0.25), (2.6, 1.2)])
def test_phase_correlation_recovers_a_known_shift(dr: float, dc: float) -> None:
    ref = _scene()
    moved = _fourier_shift(ref, dr, dc)
    row, col, corr, overlap = co.measure_offset(co.to_db(ref), co.to_db(np.maximum(moved, 1e-6)))
    # the measured shift moves the scene back onto the reference
    assert abs(row + dr) < 0.1 and abs(col + dc) < 0.1
    assert overlap == 1.0 and corr > 0.9


def test_sub_pixel_offset_is_corrected_and_recorded() -> None:
    ref = _scene(1)
    moved = np.maximum(_fourier_shift(ref, 0.5, -0.4), 1e-6)
    offset, image = co.register_scene("S1B_x", co.to_db(ref), moved)
    assert offset.status == co.CORRECTED and image is not None
    assert offset.row_px == pytest.approx(-0.5, abs=0.1) and offset.col_px == pytest.approx(0.4, abs=0.1)
    inner = (slice(8, -8), slice(8, -8))
    before = np.abs(co.to_db(moved) - co.to_db(ref))[inner].mean()
    after = np.abs(co.to_db(image) - co.to_db(ref))[inner].mean()
    assert after < 0.5 * before
    assert offset.as_dict()["magnitude_px"] == pytest.approx(0.64, abs=0.1)


def test_scene_three_pixels_off_is_rejected() -> None:
    ref = _scene(2)
    moved = np.roll(ref, (3, 0), axis=(0, 1))
    offset, image = co.register_scene("S1A_far", co.to_db(ref), moved)
    assert image is None and offset.status == co.REJECTED
    assert offset.row_px == pytest.approx(-3.0, abs=0.1) and "exceeds 1 px" in offset.reason


def test_aligned_scene_is_accepted_unchanged_and_no_overlap_rejected() -> None:
    ref = _scene(3)
    offset, image = co.register_scene("same", co.to_db(ref), ref.copy())
    assert offset.status == co.ACCEPTED and np.array_equal(image, ref)
    empty = np.full_like(ref, np.nan)
    offset, image = co.register_scene("empty", co.to_db(ref), empty)
    assert offset.status == co.REJECTED and image is None and "overlap" in offset.reason
    other_area = _scene(4)
    offset, image = co.register_scene("elsewhere", co.to_db(ref), other_area)
    assert offset.status == co.REJECTED and image is None and "correlate weakly" in offset.reason


def test_shift_image_keeps_nan_out() -> None:
    img = np.ones((20, 20), np.float32)
    img[10, 10] = np.nan
    out = co.shift_image(img, 0.5, 0.0)
    assert np.isnan(out[10:12, 10]).all() and np.isnan(out[0, :]).all() and np.isfinite(out[5, 5])


def test_season_registrar_records_every_offset_and_composites_only_registered_scenes() -> None:
    import json

    ref = _scene(5)
    registrar = co.SeasonRegistrar()
    out = [
        registrar("ref", ref, "DESCENDING"),
        registrar("half", np.maximum(_fourier_shift(ref, 0.0, 0.5), 1e-6), "descending"),
        registrar("three", np.roll(ref, 3, axis=1), "descending"),
    ]
    result = registrar.result()
    assert result.references == {"descending": "ref"} and result.cross_pass_offset_px is None
    assert result.used == ("ref", "half") and result.rejected == ("three",)
    assert out[0] is not None and out[1] is not None and out[2] is None
    assert [o.status for o in result.offsets] == [co.REFERENCE, co.CORRECTED, co.REJECTED]
    record = json.loads(json.dumps(result.as_dict()))
    assert record["offsets"][2]["magnitude_px"] == pytest.approx(3.0, abs=0.1)
    mean_db = registrar.backscatter()["descending"]
    assert mean_db.shape == ref.shape and np.isfinite(mean_db[5:-5, 5:-5]).all()
    assert np.nanmean(np.abs(mean_db - co.to_db(ref))) < 0.5  # the rejected scene did not smear it


def test_a_scenes_raw_image_gets_the_correction_measured_on_its_despeckled_one() -> None:
    ref = _scene(6)
    moved = np.maximum(_fourier_shift(ref, 0.0, 0.6), 1e-6)
    speckle = np.random.default_rng(0).gamma(4.4, 1 / 4.4, ref.shape).astype(np.float32)
    registrar = co.SeasonRegistrar()
    registrar("ref", ref, "ascending")
    assert np.array_equal(registrar.same_correction(ref * speckle), ref * speckle)  # the reference
    corrected = registrar("moved", moved, "ascending")
    raw = registrar.same_correction(moved * speckle)
    assert corrected is not None and raw is not None
    offset = registrar.result().offsets[-1]
    assert offset.status == co.CORRECTED
    assert np.allclose(raw, co.shift_image(moved * speckle, offset.row_px, offset.col_px), equal_nan=True)
    assert registrar("far", np.roll(ref, 3, axis=1), "ascending") is None
    assert registrar.same_correction(ref * speckle) is None  # a rejected scene stays out


def test_each_pass_direction_has_its_own_reference() -> None:
    """An opposite pass that looks 3 px off (lighting, not geometry) is kept and the offset recorded."""
    desc = _scene(7)
    asc = np.roll(desc, 3, axis=1)  # stands in for the lighting-induced apparent offset
    registrar = co.SeasonRegistrar()
    registrar("d1", desc, "descending")
    registrar("a1", asc, "ascending")
    registrar("a2", np.maximum(_fourier_shift(asc, 0.6, 0.0), 1e-6), "ascending")
    registrar("x", desc, "")
    result = registrar.result()
    assert result.references == {"descending": "d1", "ascending": "a1", "unknown": "x"}
    assert result.rejected == () and [o.status for o in result.offsets][2] == co.CORRECTED
    assert result.cross_pass_offset_px == pytest.approx(3.0, abs=0.1)
    assert set(registrar.backscatter()) == {"descending", "ascending", "unknown"}
    both = registrar.season_backscatter()  # display image: every composited scene
    expect = (co.to_db(desc) + registrar.backscatter()["ascending"]) / 2  # 2 descending, 2 ascending
    assert np.nanmax(np.abs(both - expect)[8:-8, 8:-8]) < 0.3
    assert co.pass_key("ASCENDING") == "ascending" and co.pass_key("") == "unknown"


@pytest.mark.parametrize("dr,dc", [(0.0, 0.0), (0.35, -0.6), (2.0, 1.0)])
def test_shift_between_windows_of_a_larger_scene_is_recovered(dr: float, dc: float) -> None:
    """Real scenes are windows, not periodic tiles: edges must not pin the peak at zero shift."""
    big = _scene(6, n=384)
    moved = np.maximum(_fourier_shift(big, dr, dc), 1e-6)
    row, col, corr, _ = co.measure_offset(co.to_db(big[64:320, 64:320]), co.to_db(moved[64:320, 64:320]))
    assert abs(row + dr) < 0.1 and abs(col + dc) < 0.1 and corr > 0.9
