"""Where and in what arithmetic training runs (ml/device.py), and pretraining honouring it."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml import device as dev
from icecrack_assets_tests.helpers.pretraining import tiny_pretrain


@pytest.mark.parametrize("fast", [True, False])
def test_auto_precision_takes_bfloat16_only_where_the_cpu_has_it(monkeypatch, fast):
    monkeypatch.setattr(dev, "bfloat16_is_fast", lambda d: fast)
    cpu = torch.device("cpu")
    assert dev.training_dtype("auto", cpu) is (torch.bfloat16 if fast else None)
    assert dev.training_dtype("float32", cpu) is None
    assert dev.training_dtype("bfloat16", cpu) is torch.bfloat16


def test_cpu_probe_reads_the_instruction_sets(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert not dev.bfloat16_is_fast(torch.device("cpu"))
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert dev.bfloat16_is_fast(torch.device("cpu"))


def test_cuda_counts_only_native_bfloat16(monkeypatch):
    asked = {}

    def supported(including_emulation: bool = True) -> bool:
        asked["emulation"] = including_emulation
        return including_emulation  # a pre-Ampere GPU: bfloat16 only emulated

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)
    assert not dev.bfloat16_is_fast(torch.device("cuda"))
    assert asked == {"emulation": False}


def test_unknown_precision_is_a_one_line_error():
    with pytest.raises(IceCrackError, match="unknown precision 'half'.*auto, float32, bfloat16"):
        dev.training_dtype("half", torch.device("cpu"))


@pytest.mark.parametrize(
    ("cores", "device", "dtype", "layout"),
    [
        ("2", "cpu", None, (2, 1)),
        ("2", "cpu", torch.bfloat16, (1, 2)),
        ("6", "cpu", None, (6, 2)),
        ("6", "cpu", torch.bfloat16, (3, 6)),
        ("1", "cpu", torch.bfloat16, (1, 1)),
        ("4", "cuda", torch.bfloat16, (1, 4)),
    ],
)
def test_training_layout_shares_the_cores_between_the_step_and_the_drawing(
    monkeypatch, cores, device, dtype, layout
):
    monkeypatch.setenv("ICECRACK_THREADS", cores)
    assert dev.training_layout(torch.device(device), dtype) == layout


def test_autocast_runs_convolutions_in_the_chosen_type_and_nothing_for_float32():
    conv = torch.nn.Conv2d(1, 2, 3)
    x = torch.randn(1, 1, 8, 8)
    cpu = torch.device("cpu")
    with dev.autocast(cpu, torch.bfloat16):
        assert conv(x).dtype is torch.bfloat16
    with dev.autocast(cpu, None):
        assert conv(x).dtype is torch.float32


def test_pretraining_in_bfloat16_resumes_a_float32_run_records_it_and_gives_the_cores_back(tmp_path):
    from icecrack_assets.ml.pretrain import pretrain

    cfg = tiny_pretrain(max_steps=2)
    torch.set_num_threads(2)
    first = pretrain(replace(cfg, precision="float32"), tmp_path / "m", tmp_path / "ck", log=lambda s: None)
    assert json.loads((first / "bundle.json").read_text())["lineage"]["precision"] == "float32"
    logs: list[str] = []
    # the arithmetic is not what is learnt: a run may resume on a machine with other hardware
    second = pretrain(
        replace(cfg, precision="bfloat16", max_steps=4), tmp_path / "m", tmp_path / "ck", log=logs.append
    )
    meta = json.loads((second / "bundle.json").read_text())
    assert meta["lineage"]["precision"] == "bfloat16" and meta["lineage"]["steps"] == 4
    assert any("resuming" in line for line in logs) and any("bfloat16 on cpu" in line for line in logs)
    weights = torch.load(second / "weights.pt", weights_only=True)
    assert all(
        t.dtype is torch.float32 and t.is_contiguous() for t in weights.values() if t.is_floating_point()
    )
    assert torch.get_num_threads() == 2
    with pytest.raises(IceCrackError, match="unknown precision"):
        pretrain(replace(cfg, precision="fp8"), tmp_path / "m2", tmp_path / "ck2")
    assert not (tmp_path / "m2").exists()


def test_the_train_command_offers_the_precisions_device_knows():
    """The CLI lists them without importing torch at start-up; both must name the same ones."""
    from icecrack_assets.cli import build_parser

    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    (action,) = [a for a in train._actions if a.dest == "precision"]
    assert list(action.choices) == list(dev.PRECISIONS)
    assert parser.parse_args(["train", "--default-model", "--precision", "float32"]).precision == "float32"
