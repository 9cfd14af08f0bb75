"""Fixtures of the model tests: one small bundle trained once per session of this folder."""

from __future__ import annotations

import pytest

from icecrack_assets.ml.evaluation.synthetic import synthetic_scene
from icecrack_assets.ml.samples import SceneForSamples, build_samples
from icecrack_assets.ml.train import TrainConfig, train_bundle
from icecrack_assets_tests.helpers.smoothing import smoothed


@pytest.fixture(scope="package")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    scenes = []
    for s in range(4):
        sp, _, truth = synthetic_scene((256, 256), seed=s)
        scenes.append(
            SceneForSamples(f"syn{s}", "thwaites", 2020, None, truth, "simulator", image=smoothed(sp))
        )
    build_samples(scenes, root / "samples", patch=64, seed=0, max_per_scene=24, block_size=128, buffer=16)
    logs: list[str] = []
    cfg = TrainConfig(epochs=3, depth=2, width=8, batch_size=8, patience=5, max_minutes=2.0, device="cpu")
    res = train_bundle(
        [root / "samples"],
        root / "models",
        cfg,
        {"filter": "none"},
        {"partition": "thwaites|2020"},
        logs.append,
    )
    return res, logs, root
