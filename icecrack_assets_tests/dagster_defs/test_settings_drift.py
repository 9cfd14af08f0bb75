"""Settings are defined once, in the core's dataclasses; the launchpad's Config classes and the
CLI's options mirror them. These tests fail the moment a default is changed in one place only."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from icecrack_assets.dagster_defs.assets.crack_model import ModelConfig
from icecrack_assets.dagster_defs.assets.despeckled_scenes import DespeckleConfig
from icecrack_assets.dagster_defs.assets.labelled_samples import SamplesConfig
from icecrack_assets.ml.samples import SampleSettings
from icecrack_assets.ml.train import TrainConfig
from icecrack_assets.sar.despeckle.files import DespeckleSettings

# fields of a Config that are the shell's own (no core counterpart), with why
SHELL_ONLY = {
    DespeckleConfig: {"block"},  # I/O block size of despeckle_file, not a filter setting
    ModelConfig: set(),
    SamplesConfig: set(),
}
PAIRS = [(DespeckleConfig, DespeckleSettings), (ModelConfig, TrainConfig), (SamplesConfig, SampleSettings)]


@pytest.mark.parametrize(("config", "core"), PAIRS, ids=lambda c: c.__name__)
def test_config_defaults_equal_the_core_dataclass(config, core) -> None:
    core_defaults = {
        f.name: f.default for f in dataclasses.fields(core) if f.default is not dataclasses.MISSING
    }
    for name, field in config.model_fields.items():
        if name in SHELL_ONLY[config]:
            continue
        assert name in {f.name for f in dataclasses.fields(core)}, (
            f"{config.__name__}.{name} has no core field"
        )
        if name in core_defaults:
            assert field.default == core_defaults[name], f"{config.__name__}.{name} drifted"


def _parser(command: str) -> argparse.ArgumentParser:
    from icecrack_assets.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


@pytest.mark.parametrize(
    ("command", "core", "skip"),
    [
        ("train", TrainConfig, {"device", "init"}),
        ("despeckle", DespeckleSettings, {"looks"}),
    ],
)
def test_cli_defaults_equal_the_core_dataclass(command: str, core, skip: set[str]) -> None:
    parser = _parser(command)
    core_fields = {f.name: f for f in dataclasses.fields(core)}
    checked = 0
    for action in parser._actions:
        name = action.dest
        if name in skip or name not in core_fields or core_fields[name].default is dataclasses.MISSING:
            continue
        if isinstance(action, argparse._StoreTrueAction):
            assert core_fields[name].default is False, f"--{name}"
        else:
            assert action.default == core_fields[name].default, f"icecrack {command} --{name} drifted"
        checked += 1
    assert checked >= 3, f"icecrack {command}: too few options matched the core's fields"
