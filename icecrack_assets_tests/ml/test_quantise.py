"""8-bit inference (predict --int8): the shipped model quantised agrees with itself in float."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch

from icecrack_assets.cli import main
from icecrack_assets.ml.bundle import load_bundle
from icecrack_assets.ml.inference import predict_probability
from icecrack_assets.ml.postprocess import crack_mask
from icecrack_assets.ml.quantise import Int8UNet
from icecrack_assets.ml.shipped import default_model_path
from icecrack_assets.simulator import randomised


@pytest.fixture(scope="module")
def bundles():
    """The shipped model twice: as it is, and quantised (calibrated once, ~4 s)."""
    flt, q = (load_bundle(default_model_path(), "cpu") for _ in range(2))
    q.int8 = True
    q.int8_model()
    return flt, q


def _scene(seed: int, side: int = 384):
    rng = np.random.default_rng([123, seed])
    return randomised.render_scene(randomised.sample_style(rng), (side, side), 123_000 + seed)


def test_int8_probabilities_and_masks_agree_with_the_float_model(bundles):
    flt, q = bundles
    for seed in range(3):
        x = _scene(seed).sigma0
        pf, pq = predict_probability(flt, x), predict_probability(q, x)
        assert float(np.nanmean(np.abs(pf - pq))) < 0.03
        same = crack_mask(pf, flt.threshold, flt.min_component) == crack_mask(
            pq, q.threshold, q.min_component
        )
        assert same.mean() > 0.99


def test_int8_model_takes_any_size_and_keeps_transposed_convolutions_float(bundles):
    _, q = bundles
    m = q.int8_model()
    assert isinstance(m, Int8UNet)
    with torch.no_grad():
        assert m(torch.zeros(1, 1, 100, 75)).shape == (1, 1, 100, 75)
    kinds = {type(mod).__module__ for mod in m.modules()}
    assert any("quantized" in k for k in kinds)  # the convolutions are int8 ...
    assert sum(isinstance(mod, torch.nn.ConvTranspose2d) for mod in m.modules()) == len(
        q.model.up
    )  # ... these not


def test_predict_cli_int8_maps_what_the_float_model_maps(tiny_raster, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "root"))
    sc = _scene(7, 256)
    src = tiny_raster(sc.sigma0.astype(np.float32), name="scene.tif", pixel=20.0, nodata=float("nan"))
    assert main(["predict", str(src), str(tmp_path / "f.tif")]) == 0
    assert main(["predict", str(src), str(tmp_path / "q.tif"), "--int8"]) == 0
    assert "(int8, calibrated in" in capsys.readouterr().out
    with rasterio.open(tmp_path / "f.tif") as f, rasterio.open(tmp_path / "q.tif") as q:
        assert (f.read(1) == q.read(1)).mean() > 0.99


def test_a_torch_without_fx_quantisation_gets_one_clear_line(monkeypatch, tiny_raster, tmp_path, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "torch.ao.quantization.quantize_fx", None)  # import now fails
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "root"))
    src = tiny_raster(_scene(8, 64).sigma0.astype(np.float32), name="s.tif", pixel=20.0)
    assert main(["predict", str(src), str(tmp_path / "q.tif"), "--int8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "int8 inference needs torch.ao's FX quantisation" in err and "\n" not in err
    assert not (tmp_path / "q.tif").exists()


def test_bundles_loaded_inside_int8_inference_run_int8_and_no_others():
    from icecrack_assets.ml.bundle import int8_inference, int8_inference_active

    with int8_inference():
        assert int8_inference_active() and load_bundle(default_model_path(), "cpu").int8
        with int8_inference(False):
            assert not load_bundle(default_model_path(), "cpu").int8
    assert not int8_inference_active() and not load_bundle(default_model_path(), "cpu").int8
