"""The evaluation end to end at toy size: simulated hold-out (suite a) and speckled Lai (suite b)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from icecrack_assets.cli import main
from icecrack_assets.ml.evaluation.common import mean_scores
from icecrack_assets.ml.evaluation.lai import lai_tiles, load_tile, speckle
from icecrack_assets.ml.evaluation.ridge import ridge_response, tune_ridge
from icecrack_assets.ml.evaluation.suites import EvalConfig, render_markdown, run_evaluation
from icecrack_assets.ml.evaluation.synthetic import synthetic_scene
from icecrack_assets.ml.train import TrainConfig

TINY = TrainConfig(epochs=1, depth=2, width=4, batch_size=8, patience=1, max_minutes=0.5, device="cpu")


def test_ridge_baseline_finds_lines_better_than_chance():
    sp, clean, truth = synthetic_scene((160, 160), seed=5)
    r = ridge_response(clean)
    thr, f1 = tune_ridge([r], [truth], tolerance=1)
    assert np.isfinite(thr) and f1 > 0.3
    assert np.isnan(r[np.isnan(clean)]).all()


@pytest.mark.slow
def test_suite_a_quick_writes_tables(tmp_path):
    cfg = EvalConfig(
        work_dir=tmp_path / "work",
        quick=True,
        suites=("a",),
        ablation=("lee", "none"),
        despeckle_filter="lee",
        regions=("thwaites",),
        years=(2020,),
        train=TINY,
    )
    res = run_evaluation(cfg, tmp_path / "eval.md", log=lambda s: None)
    md = (tmp_path / "eval.md").read_text()
    assert "Suite a" in md and "Sato ridge" in md and "AIR-CAS method" in md and "thwaites 2020" in md
    assert set(res["ablation"]) == {"lee (evaluated model)", "none"}
    assert res["train_epochs"] >= 1 and f"each model trained at most {res['train_epochs']} epochs" in md
    nominal = res["a"]["variants"]["nominal"]
    for kind in ("strict", "tol1"):
        assert 0.0 <= nominal[kind]["f1"] <= 1.0 and 0.0 <= nominal[kind]["oa"] <= 1.0
    assert nominal["tol1"]["f1"] >= nominal["strict"]["f1"]
    # the break-even operating point is reported next to the F1-optimal one, on the same predictions
    assert res["a"]["operating_point"] == "break-even" and "break-even operating point" in md
    f1o = res["a"]["f1_optimal"]
    assert "F1-optimal threshold" in md and 0.0 <= f1o["tol1"]["f1"] <= 1.0
    if f1o["threshold"] == res["a"]["threshold"] and f1o["min_component"] == res["a"]["min_component"]:
        assert f1o["tol1"] == nominal["tol1"]
    assert json.loads((tmp_path / "eval.json").read_text())["quick"] is True


@pytest.mark.slow
@pytest.mark.shared_data
def test_speckled_lai_reads_in_place_and_scores(shared_data, tmp_path):
    root = shared_data / "fracture-lai2020-moa"
    tiles = lai_tiles(root, "test")
    clean, truth = load_tile(tiles[0], crop=200)
    assert clean.shape == truth.shape == (200, 200) and set(np.unique(truth)) <= {0, 1, 255}
    noisy = speckle(clean, 4.4, 1)
    ratio = noisy[np.isfinite(noisy)] / clean[np.isfinite(clean)]
    assert ratio.mean() == pytest.approx(1.0, abs=0.05) and ratio.var() == pytest.approx(1 / 4.4, rel=0.2)
    cfg = EvalConfig(
        work_dir=tmp_path / "work",
        quick=True,
        suites=("b-scratch",),
        ablation=(),
        despeckle_filter="lee",
        lai_root=root,
        train=TINY,
    )
    res = run_evaluation(cfg, tmp_path / "lai.md", log=lambda s: None)
    b = res["b"]
    assert {"model", "ridge"} <= set(b) and 0.0 <= b["model"]["strict"]["f1"] <= 1.0
    assert (
        "speckled Lai" in (tmp_path / "lai.md").read_text()
        and "speckled 2 times" in (tmp_path / "lai.md").read_text()
    )
    # the model was scored at the operating point tuned on the whole valid tiles, like the ridge's
    meta = json.loads((Path(b["runs"][0]["bundle"]) / "bundle.json").read_text())
    assert meta["calibration"]["source"].startswith("lai2020 valid") and meta["calibration"]["n_scenes"] == 3
    assert meta["threshold"] == b["runs"][0]["threshold"]
    # every train tile went into the samples once per speckle draw, valid tiles once
    import csv

    rows = list(csv.DictReader(open(tmp_path / "work" / "samples-lai-lee-train" / "index.csv")))
    draws = {r["scene_id"] for r in rows}
    assert any(s.endswith("#draw1") for s in draws) and any("#" not in s for s in draws)
    assert not list((tmp_path / "work").rglob("*.tif"))  # nothing GPL copied out as files


def test_evaluate_cli_missing_lai_is_one_line(tmp_path, capsys):
    assert (
        main(["evaluate", "--quick", "--lai", str(tmp_path / "nope"), "--out", str(tmp_path / "e.md")]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert "Lai" in err and "\n" not in err


def test_render_markdown_marks_unmet_targets():
    m = {"precision": 0.5, "recall": 0.5, "f1": 0.5, "iou": 0.33, "oa": 0.9}
    res = {
        "generated": "now",
        "quick": True,
        "seed": 0,
        "seconds": 1.0,
        "a": {
            "bundle": "b",
            "threshold": 0.5,
            "variants": {"nominal": {"strict": m, "tol1": m}},
            "per_region_year": {"x 2020": {"strict": m, "tol1": m}},
            "ridge": {"strict": m, "tol1": m},
        },
    }
    md = render_markdown(res)
    assert "NOT met" in md and "Beats the method's published P/R/F1/OA strictly: no" in md


def test_suite_b_reports_the_mean_over_training_seeds():
    def m(f1):
        return {
            "precision": f1,
            "recall": f1,
            "f1": f1,
            "iou": f1 / (2 - f1),
            "oa": 0.9,
            "crack_fraction": 0.1,
        }

    runs = [{"seed": s, "scores": {"strict": m(f), "tol1": m(f + 0.1)}} for s, f in ((0, 0.4), (1, 0.6))]
    mean = mean_scores([r["scores"] for r in runs])
    assert mean["strict"]["f1"] == pytest.approx(0.5) and mean["tol1"]["f1"] == pytest.approx(0.6)
    assert (mean["strict"]["f1_min"], mean["strict"]["f1_max"]) == (0.4, 0.6)
    res = {
        "generated": "now",
        "quick": False,
        "seed": 0,
        "seconds": 1.0,
        "b": {
            "looks": 4.4,
            "filter": "ppb",
            "runs": runs,
            "model": mean,
            "ridge": {"strict": m(0.3), "tol1": m(0.42)},
        },
    }
    md = render_markdown(res)
    assert "U-Net, training seed 1" in md and "U-Net, mean of 2 training seeds" in md
    assert "U-Net mean F1 minus ridge F1: +0.200 strict, +0.180 with 1-px tolerance" in md and ": met." in md


def test_evaluate_cli_rejects_zero_lai_seeds(tmp_path, capsys):
    assert (
        main(
            [
                "evaluate",
                "--suite",
                "b",
                "--lai",
                str(tmp_path),
                "--lai-seeds",
                "0",
                "--out",
                str(tmp_path / "e.md"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "--lai-seeds must be at least 1" in err and "\n" not in err
