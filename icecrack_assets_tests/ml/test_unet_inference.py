"""U-Net on any input size; tiled, blended inference without seams; window-by-window equals whole."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch

from icecrack_assets.errors import IceCrackError, InputError
from icecrack_assets.ml.augment import random_crops
from icecrack_assets.ml.bundle import latest_bundle, load_bundle, save_bundle
from icecrack_assets.ml.evaluation.synthetic import synthetic_scene
from icecrack_assets.ml.inference import (
    hann_weight,
    predict_file,
    predict_probability,
    predict_with_spread,
    tile_grid,
    tile_starts,
)
from icecrack_assets.ml.normalise import (
    DEFAULT_NORMALISATION,
    ROBUST_NORMALISATION,
    normalise,
    normalise_patches,
    patch_stats,
)
from icecrack_assets.ml.postprocess import PROBABILITY_STEP, stored_probability
from icecrack_assets.ml.unet import UNet, UNetConfig, mirror_pad


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    torch.manual_seed(0)
    model = UNet(UNetConfig(depth=2, width=4))
    with torch.no_grad():  # non-trivial BatchNorm statistics so eval mode is not the identity
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    d = save_bundle(
        tmp_path_factory.mktemp("models"),
        model,
        DEFAULT_NORMALISATION,
        {"filter": "none"},
        0.5,
        {"test": True},
        {"val": {}},
    )
    return load_bundle(d, "cpu")


@pytest.mark.parametrize("shape", [(1, 1, 33, 47), (2, 1, 64, 64), (1, 1, 17, 100), (1, 1, 5, 3)])
def test_unet_accepts_any_size(shape):
    model = UNet(UNetConfig(depth=4, width=4)).eval()
    with torch.no_grad():
        out = model(torch.randn(shape))
    assert out.shape == shape


@pytest.mark.parametrize("pad", [(29, 30), (1, 1), (0, 5), (4, 0)])
def test_padding_mirrors_even_an_input_smaller_than_the_padding(pad):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    got = mirror_pad(torch.from_numpy(x)[None, None], *pad)[0, 0].numpy()
    np.testing.assert_array_equal(got, np.pad(x, ((0, pad[0]), (0, pad[1])), mode="reflect"))


def test_tile_starts_cover_and_end_flush():
    for n in (10, 256, 257, 1000):
        starts = tile_starts(n, 256, 64)
        covered = np.zeros(n, bool)
        for s in starts:
            covered[s : s + 256] = True
        assert covered.all()
        assert starts[-1] + min(256, n) == n


def test_hann_weight_positive_and_peaks_in_centre():
    w = hann_weight(32, 32)
    assert (w > 0).all() and w[16, 16] > 10 * w[0, 0]


def test_tiled_equals_whole_away_from_edges(tiny_bundle):
    img, _, _ = synthetic_scene((200, 230), seed=3, nodata_corner=False)
    whole = predict_probability(tiny_bundle, img, tile=1024, overlap=0)
    tiled = predict_probability(tiny_bundle, img, tile=64, overlap=24)
    inner = (slice(16, -16), slice(16, -16))
    assert np.abs(tiled - whole)[inner].max() < 0.02
    assert np.abs(tiled - whole)[inner].mean() < 2e-3
    # no seams: the difference along tile borders is no larger than elsewhere
    diff = np.abs(tiled - whole)
    borders = [s + 64 for s in tile_starts(230, 64, 24)[:-1]]
    assert diff[16:-16, borders].mean() < 3 * diff[inner].mean() + 1e-4


def test_probability_nan_at_nodata_and_odd_sizes(tiny_bundle):
    img, _, _ = synthetic_scene((71, 93), seed=1)
    p = predict_probability(tiny_bundle, img, tile=32, overlap=8)
    assert p.shape == img.shape and p.dtype == np.float32
    assert np.isnan(p[np.isnan(img)]).all()
    assert np.isfinite(p[np.isfinite(img)]).all()
    assert ((p[np.isfinite(p)] >= 0) & (p[np.isfinite(p)] <= 1)).all()


def test_spread_map_is_non_negative(tiny_bundle):
    img, _, _ = synthetic_scene((64, 64), seed=2, nodata_corner=False)
    mean, spread = predict_with_spread(tiny_bundle, img, tile=64, overlap=0)
    assert mean.shape == spread.shape == img.shape
    assert (spread >= 0).all() and spread.max() > 0


def test_predict_file_windowed_equals_in_memory(tiny_bundle, tiny_raster, tmp_path):
    img, _, _ = synthetic_scene((150, 170), seed=4)
    src = tiny_raster(img, name="in.tif", epsg=3031, nodata=float("nan"))
    res = predict_file(
        tiny_bundle,
        src,
        tmp_path / "mask.tif",
        tmp_path / "prob.tif",
        despeckled=True,
        block=64,
        tile=48,
        overlap=16,
    )
    ref = predict_probability(tiny_bundle, img, tile=48, overlap=16)
    with rasterio.open(tmp_path / "prob.tif") as ds:
        prob = ds.read(1)
        assert ds.crs.to_epsg() == 3031
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    # stored in steps of 1/4096 (PROBABILITY_STEP), so within half a step of the in-memory map
    np.testing.assert_allclose(prob, ref, atol=PROBABILITY_STEP / 2 + 1e-7)
    np.testing.assert_array_equal(prob, stored_probability(prob))  # already on the grid
    with rasterio.open(tmp_path / "mask.tif") as ds:
        mask = ds.read(1)
        assert ds.dtypes[0] == "uint8" and ds.nodata == 255
    assert (mask[np.isnan(img)] == 255).all()
    assert set(np.unique(mask)) <= {0, 1, 255}
    np.testing.assert_array_equal(mask[np.isfinite(img)], (ref[np.isfinite(img)] >= 0.5).astype(np.uint8))
    assert res.valid_pixels == int(np.isfinite(img).sum())
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_normalise_fixed_range():
    x = normalise(np.array([1e-6, 1e-3, 1.0, 10**0.5, 100.0, np.nan], np.float32))
    np.testing.assert_allclose(x[:5], [-1, -1 + 2 * 0 / 35, 2 * 30 / 35 - 1, 1, 1], atol=1e-6)
    assert x[5] == 0.0


def test_patch_stats_taken_once_normalise_as_per_patch_statistics():
    rng = np.random.default_rng(3)
    x = rng.gamma(4.4, 1 / 4.4, size=(5, 1, 24, 24)).astype(np.float32) * np.float32(
        [[[[0.01]]], [[[1]]], [[[3]]], [[[0.2]]], [[[50]]]]
    )
    x[1, 0, :4] = np.nan
    stats = patch_stats(x, ROBUST_NORMALISATION)
    assert stats is not None and len(stats) == 5
    assert stats[0]["median_db"] < stats[4]["median_db"] - 30  # each patch its own level
    np.testing.assert_array_equal(
        normalise_patches(x, ROBUST_NORMALISATION, stats), normalise(x, ROBUST_NORMALISATION)
    )
    assert patch_stats(x, DEFAULT_NORMALISATION) is None  # fixed-range dB needs none
    np.testing.assert_array_equal(normalise_patches(x, DEFAULT_NORMALISATION, None), normalise(x))


def test_random_crops_take_the_same_window_of_image_and_labels():
    rng = np.random.default_rng(0)
    x = np.arange(4 * 96 * 96, dtype=np.float32).reshape(4, 1, 96, 96)
    y = (x % 7).astype(np.uint8)
    xc, yc = random_crops(x, y, 64, rng)
    assert xc.shape == (4, 1, 64, 64) and yc.shape == (4, 1, 64, 64)
    np.testing.assert_array_equal(yc, (xc % 7).astype(np.uint8))  # same window in both
    starts = {(int(c[0, 0, 0]) % (96 * 96)) for c in xc}
    assert len(starts) > 1  # windows differ between patches
    same, _ = random_crops(x, y, 96, rng)
    assert same is x


def test_bundle_errors_are_one_line(tmp_path, tiny_bundle):
    with pytest.raises(InputError, match="does not exist"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a model bundle"):
        load_bundle(tmp_path / "empty")
    with pytest.raises(IceCrackError, match="no model bundle"):
        latest_bundle(tmp_path / "empty")
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle.path, broken)
    (broken / "weights.pt").write_bytes(b"garbage")
    with pytest.raises(InputError, match="checksum"):
        load_bundle(broken)
    (broken / "bundle.json").write_text("{not json")
    with pytest.raises(InputError, match="corrupt"):
        load_bundle(broken)
    assert latest_bundle(tiny_bundle.path.parent) == tiny_bundle.path


@pytest.mark.parametrize("shape", [(1, 1, 33, 47), (2, 1, 64, 64), (1, 1, 5, 3)])
def test_space_to_depth_unet_keeps_full_resolution(shape):
    model = UNet(UNetConfig(depth=2, width=4, stem=2)).eval()
    assert model.multiple == 8
    with torch.no_grad():
        out = model(torch.randn(shape))
    assert out.shape == shape
    # a single bright pixel moves the output at full resolution, not per 2x2 block
    x = torch.zeros(1, 1, 32, 32)
    x2 = x.clone()
    x2[0, 0, 16, 16] = 5.0
    with torch.no_grad():
        d = (model(x2) - model(x)).abs()[0, 0]
    assert d[16, 16] > 0 and not torch.allclose(d[16, 16], d[16, 17])


def test_small_components_removed_edges_optionally_kept():
    from icecrack_assets.ml.postprocess import crack_mask, remove_small_components

    m = np.zeros((20, 20), bool)
    m[5, 5:15] = True  # a 10-px line
    m[10, 10] = m[11, 11] = True  # a 2-px diagonal speck (8-connected)
    m[0, 0] = True  # a 1-px speck on the border
    out = remove_small_components(m, 5)
    assert out[5, 5:15].all() and not out[10, 10] and not out[0, 0] and out.sum() == 10
    assert remove_small_components(m, 5, keep_edge=True)[0, 0]
    assert (remove_small_components(m, 0) == m).all()
    prob = np.where(m, 0.9, 0.1).astype(np.float32)
    prob[19, 19] = np.nan
    cm = crack_mask(prob, 0.5, 3)
    assert (cm <= (prob >= 0.5)).all() and cm.sum() == 10 and not cm[19, 19]


def test_predict_file_applies_min_component_only_removing(tiny_bundle, tiny_raster, tmp_path):
    img, _, _ = synthetic_scene((96, 96), seed=2)
    src = tiny_raster(img, name="in.tif", epsg=3031, nodata=float("nan"))
    ref = predict_probability(tiny_bundle, img, tile=48, overlap=16)
    thr = float(np.nanquantile(ref, 0.8))
    import dataclasses

    b = dataclasses.replace(tiny_bundle, threshold=thr, min_component=6, _runners={})
    predict_file(b, src, tmp_path / "m.tif", None, despeckled=True, block=256, tile=48, overlap=16)
    with rasterio.open(tmp_path / "m.tif") as ds:
        mask = ds.read(1)
    raw = np.isfinite(ref) & (np.nan_to_num(ref) >= thr)
    from icecrack_assets.ml.postprocess import remove_small_components

    np.testing.assert_array_equal(mask == 1, remove_small_components(raw, 6))
    assert (mask == 1).sum() < raw.sum()  # something was removed
    assert ((mask == 255) == np.isnan(img)).all()


def test_frozen_runner_matches_the_eager_model_on_an_odd_shape(tiny_bundle):
    """The per-tile-shape TorchScript copy (traced without its self-check) computes what the model does."""
    x = torch.from_numpy(np.random.default_rng(3).normal(size=(3, 1, 37, 50)).astype(np.float32))
    with torch.inference_mode():
        eager = tiny_bundle.model(x).numpy()
        runner = tiny_bundle.runner(tuple(x.shape))
        assert runner is not tiny_bundle.model  # the trace succeeded
        traced = runner(x.contiguous(memory_format=torch.channels_last)).numpy()
        # a smaller batch of the same tiles (a scene's last batch) reuses the copy, and agrees
        assert tiny_bundle.runner((1, 1, 37, 50)) is runner
        last = runner(x[:1].contiguous(memory_format=torch.channels_last)).numpy()
    np.testing.assert_allclose(traced, eager, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(last, eager[:1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n", [100, 512, 513, 1000, 1500, 2000, 2048, 5000])
def test_balanced_tiles_cover_with_no_more_tiles_and_at_least_the_overlap(n):
    size, starts = tile_grid(n, 512, 32, multiple=32)
    assert size <= 512 and (size % 32 == 0 or size == n)
    assert len(starts) <= len(tile_starts(n, 512, 32))
    covered = np.zeros(n, bool)
    for s in starts:
        covered[s : s + size] = True
    assert covered.all() and starts[-1] + size == n
    assert all(a + size - b >= 32 for a, b in zip(starts, starts[1:]))  # neighbours overlap enough
    if n == 2048:
        assert size == 448 and len(starts) == len(tile_starts(n, 512, 32))  # (448/512)^2: 23 % less work


def test_float16_bundles_keep_values_float16_cannot_hold(tmp_path):
    """A BatchNorm variance above float16's 65504 stays float32 in a float16 bundle, not inf."""
    torch.manual_seed(0)
    model = UNet(UNetConfig(depth=2, width=4))
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with torch.no_grad():
        bn.running_var[0] = 84_155.5
    d = save_bundle(
        tmp_path, model, DEFAULT_NORMALISATION, {"filter": "none"}, 0.5, {}, {}, weights_dtype="float16"
    )
    stored = torch.load(d / "weights.pt", weights_only=True)
    key = next(k for k in stored if k.endswith("running_var"))
    assert stored[key].dtype == torch.float32 and float(stored[key][0]) == 84_155.5
    assert all(v.dtype == torch.float16 for k, v in stored.items() if k.endswith(".weight"))
    loaded = load_bundle(d, "cpu").model.state_dict()
    assert all(bool(torch.isfinite(v).all()) for v in loaded.values() if v.is_floating_point())


def test_stored_probability_rounds_to_the_step_and_keeps_nodata():
    rng = np.random.default_rng(0)
    prob = rng.random((64, 64)).astype(np.float32)
    prob[3, 5] = np.nan
    stored = stored_probability(prob)
    assert stored.dtype == np.float32 and np.isnan(stored[3, 5])
    ok = np.isfinite(prob)
    assert np.abs(stored[ok] - prob[ok]).max() <= PROBABILITY_STEP / 2
    steps = stored[ok] / PROBABILITY_STEP
    np.testing.assert_array_equal(steps, np.round(steps))  # every value is a whole number of steps
    assert stored[ok].min() >= 0 and stored[ok].max() <= 1
    assert len(np.unique(stored[ok])) > 1000  # rounded, not collapsed
