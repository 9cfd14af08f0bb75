"""8-bit integer inference of a bundle's U-Net on CPU (``icecrack predict --int8``).

Post-training static quantisation (torch.ao FX mode, the "x86" engine): weights and activations
in int8, the scales fixed once on a set of simulated scenes that no evaluation draws. The
transposed convolutions stay float: quantised, the last one alone moved probabilities by 0.40 on
average (every other layer by <= 0.02), and they are a small share of the work. Measured on the
shipped model (docs/model.md, "Int8 inference"): 2.2-2.5x the float speed of a whole prediction on
a CPU with VNNI/AMX, F1 within 0.012 of the float model on suites e, groups and radiometry, a
little more flagged on real tiles. Opt-in: the float model stays what every figure in the README
measures.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.unet import UNet, padded_to_multiple

ENGINE = "x86"  # torch's default CPU engine: oneDNN kernels where the CPU has VNNI, fbgemm elsewhere
CALIBRATION_SEED0 = 80_000  # never drawn by training (per-worker counters) nor by an evaluation suite
CALIBRATION_SCENES = 8
CALIBRATION_SIDE = 512


class _Trunk(nn.Module):
    """The U-Net without its padding and crop: a graph FX can trace (no shape-dependent branch)."""

    def __init__(self, unet: UNet) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unet.trunk(x)


class Int8UNet(nn.Module):
    """A quantised trunk behind the float U-Net's own padding and crop: any input size."""

    def __init__(self, trunk: nn.Module, multiple: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.multiple = multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return padded_to_multiple(self.trunk, x, self.multiple)


def quantise_unet(model: UNet, calibration: np.ndarray) -> Int8UNet:
    """``model`` in int8, its activation ranges observed on ``calibration`` ([N,1,H,W], normalised)."""
    try:  # deprecated in torch 2.x in favour of torchao; a torch without it gets one clear line
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    except ImportError as exc:
        raise IceCrackError(
            f"int8 inference needs torch.ao's FX quantisation, which torch {torch.__version__} lacks "
            f"({exc}); run without --int8"
        ) from None

    torch.backends.quantized.engine = ENGINE
    mapping = get_default_qconfig_mapping(ENGINE)
    for i in range(len(model.up)):
        mapping = mapping.set_module_name(f"unet.up.{i}", None)
    x = torch.from_numpy(np.ascontiguousarray(calibration, dtype=np.float32))
    with warnings.catch_warnings():  # torch.ao's FX API warns of its move to torchao at every call
        warnings.simplefilter("ignore")
        prepared = prepare_fx(
            _Trunk(copy.deepcopy(model).cpu().eval()).eval(), mapping, example_inputs=(x[:1],)
        )
        with torch.no_grad():
            for i in range(0, len(x), 4):
                prepared(x[i : i + 4])
        trunk = convert_fx(prepared)
    return Int8UNet(trunk, model.multiple).eval()


def calibration_tiles(despeckle: dict[str, Any], normalisation: dict[str, Any]) -> np.ndarray:
    """The normalised input a bundle's model sees on fixed simulated scenes, filtered as it reads
    (``despeckle`` and ``normalisation`` are the bundle's)."""
    from icecrack_assets.ml.multisource import despeckle_tile
    from icecrack_assets.ml.normalise import normalise
    from icecrack_assets.simulator import randomised

    filt = str(despeckle.get("filter", "none"))
    tiles = []
    for i in range(CALIBRATION_SCENES):
        rng = np.random.default_rng([CALIBRATION_SEED0, i])
        style = randomised.sample_style(rng)
        sc = randomised.render_scene(style, (CALIBRATION_SIDE, CALIBRATION_SIDE), CALIBRATION_SEED0 + i)
        x = sc.sigma0 if filt == "none" else despeckle_tile(sc.sigma0, filt, float(sc.looks))
        tiles.append(normalise(np.asarray(x, np.float32), normalisation))
    return np.stack(tiles)[:, None]
