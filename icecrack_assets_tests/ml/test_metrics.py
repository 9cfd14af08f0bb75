"""Crack metrics on hand-built arrays, strict and with a 1-pixel tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from icecrack_assets.ml.metrics import (
    best_threshold,
    crack_counts,
    crack_metrics,
    metrics_from_counts,
    pool_counts,
)


def test_perfect_prediction_scores_one():
    truth = np.zeros((8, 8), np.uint8)
    truth[3, 1:7] = 1
    m = crack_metrics(truth.copy(), truth)
    assert m["precision"] == m["recall"] == m["f1"] == m["iou"] == m["oa"] == 1.0


def test_hand_counted_strict_scores():
    truth = np.zeros((4, 5), np.uint8)
    truth[1, :] = 1  # 5 crack pixels
    pred = np.zeros_like(truth)
    pred[1, :3] = 1  # 3 hits
    pred[3, 0] = 1  # 1 false alarm
    m = crack_metrics(pred, truth)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(3 / 5)
    assert m["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert m["iou"] == pytest.approx(3 / (3 + 1 + 2))
    assert m["oa"] == pytest.approx(1 - 3 / 20)


def test_one_pixel_shift_is_wrong_strictly_but_right_with_tolerance():
    truth = np.zeros((10, 10), np.uint8)
    truth[5, 2:8] = 1
    pred = np.roll(truth, 1, axis=0)
    assert crack_metrics(pred, truth)["f1"] == 0.0
    tol = crack_metrics(pred, truth, tolerance=1)
    assert tol["precision"] == tol["recall"] == tol["oa"] == 1.0
    # two pixels off is still wrong at tolerance 1
    assert crack_metrics(np.roll(truth, 2, axis=0), truth, tolerance=1)["f1"] == 0.0


def test_nodata_in_truth_is_ignored():
    truth = np.zeros((4, 4), np.uint8)
    truth[0, 0] = 1
    truth[2:, :] = 255
    pred = np.zeros_like(truth)
    pred[0, 0] = 1
    pred[3, 3] = 1  # would be a false alarm, but lies in nodata
    m = crack_metrics(pred, truth)
    assert m["n_valid"] == 8
    assert m["precision"] == 1.0 and m["oa"] == 1.0


def test_pooling_weights_pixels_not_scenes():
    t1 = np.zeros((10, 10), np.uint8)
    t1[0, :] = 1  # 10 crack pixels, all found
    t2 = np.zeros((10, 10), np.uint8)
    t2[0, 0] = 1  # 1 crack pixel, missed
    c = pool_counts([crack_counts(t1, t1), crack_counts(np.zeros_like(t2), t2)])
    assert metrics_from_counts(c)["recall"] == pytest.approx(10 / 11)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        crack_metrics(np.zeros((3, 3)), np.zeros((3, 4)))


def test_best_threshold_finds_the_separating_value():
    truth = np.zeros((20, 20), np.uint8)
    truth[:, 10] = 1
    prob = np.where(truth == 1, 0.7, 0.3).astype(np.float32)
    thr, f1 = best_threshold(prob, truth)
    assert 0.3 < thr <= 0.7 and f1 == 1.0


def _direct_counts(pred, truth, tolerance):
    """An independent reference: binary dilation with a (2t+1)^2 square, tallied pixel by pixel."""
    from scipy import ndimage

    valid = truth != 255
    p, t = (pred == 1) & valid, (truth == 1) & valid
    square = np.ones((2 * tolerance + 1,) * 2, bool)
    grow = (lambda m: ndimage.binary_dilation(m, square)) if tolerance else (lambda m: m)
    return {
        "n_valid": int(valid.sum()),
        "n_pred": int(p.sum()),
        "n_truth": int(t.sum()),
        "pred_matched": int((p & grow(t)).sum()),
        "truth_matched": int((t & grow(p)).sum()),
        "tp_strict": int((p & t).sum()),
    }


@pytest.mark.parametrize("tolerance", [0, 1, 2])
def test_counts_by_level_equal_one_prediction_at_a_time(tolerance):
    """The one-dilation shortcut gives exactly the counts of thresholding and scoring each level."""
    from icecrack_assets.ml.metrics import counts_by_level

    rng = np.random.default_rng(tolerance)
    prob = rng.random((40, 50)).astype(np.float32)
    prob[rng.random(prob.shape) < 0.05] = np.nan
    truth = (rng.random(prob.shape) < 0.1).astype(np.uint8)
    truth[rng.random(prob.shape) < 0.1] = 255
    truth[np.isnan(prob)] = 255
    levels = np.round(np.arange(0.05, 0.96, 0.05), 2)
    values = np.where(np.isfinite(prob), prob, np.float32(-np.inf))
    fast = counts_by_level(values, truth, levels, tolerance)
    slow = [
        crack_counts((np.nan_to_num(prob, nan=0) >= lv).astype(np.uint8), truth, tolerance) for lv in levels
    ]
    assert fast == slow
    assert len({c["n_pred"] for c in fast}) > 5  # the levels really differ


def test_candidate_counts_equal_thresholding_and_removing_components_one_by_one():
    from icecrack_assets.ml.postprocess import crack_mask
    from icecrack_assets.ml.train import THRESHOLDS, candidate_counts

    rng = np.random.default_rng(7)
    from scipy import ndimage

    prob = ndimage.uniform_filter(rng.random((60, 70)), 3).astype(np.float32)  # blobs of many sizes
    prob = (prob - prob.min()) / (prob.max() - prob.min())
    truth = (prob > 0.6).astype(np.uint8)
    truth[:5] = 255
    sizes = (0, 4, 16)
    fast = candidate_counts(prob, truth, sizes, 1)
    for thr in THRESHOLDS[::4]:
        for size in sizes:
            pred = crack_mask(prob, thr, size).astype(np.uint8)
            assert fast[(float(thr), size)] == _direct_counts(pred, truth, 1), (thr, size)
