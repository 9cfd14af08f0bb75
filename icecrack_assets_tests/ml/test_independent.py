"""Suite e: the independent crevasse generator and its scoring."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from icecrack_assets.cli import main
from icecrack_assets.ml.evaluation.independent import (
    RADIOMETRY,
    SEED0,
    Tally,
    draw_scene,
    write_scene,
)

PACKAGE = Path(__file__).resolve().parents[2] / "icecrack_assets"


@pytest.fixture(scope="module")
def scenes():
    return [draw_scene(SEED0 + i, 256) for i in range(8)]


def test_scenes_are_fixed_by_their_seed():
    a, b, c = draw_scene(SEED0, 128), draw_scene(SEED0, 128), draw_scene(SEED0 + 1, 128)
    assert np.array_equal(a.sigma0, b.sigma0) and np.array_equal(a.truth, b.truth)
    assert not np.array_equal(a.sigma0, c.sigma0)
    assert {a.looks, c.looks} == {4.4, 10.7}


def test_a_looks_override_changes_only_the_speckle():
    a, one, many = draw_scene(SEED0, 128), draw_scene(SEED0, 128, 1.0), draw_scene(SEED0, 128, 20.0)
    assert (one.looks, many.looks) == (1.0, 20.0)
    for s in (one, many):
        assert np.array_equal(s.truth, a.truth) and np.array_equal(s.kind, a.kind)
        assert np.array_equal(s.stream, a.stream) and not np.array_equal(s.sigma0, a.sigma0)
    # the speckle's spread follows the looks: intensity CV ~ 1/sqrt(L) over the scene's texture
    ratio = [np.log(s.sigma0).std() for s in (one, a, many)]
    assert ratio[0] > ratio[1] > ratio[2]


def test_each_radiometry_is_drawn_as_it_says(scenes):
    """Walls face the radar (+x), so wall + shadow cracks brighten from near to far range; dark-only
    cracks are darker than the ice beside them, bright-only ones brighter."""
    from scipy import ndimage

    gradient = {code: [] for code in (1, 2, 3)}
    contrast = {code: [] for code in (1, 2, 3)}
    for s in scenes:
        db = 10 * np.log10(s.sigma0)
        across = np.zeros_like(db)
        across[:, 1:-1] = db[:, 2:] - db[:, :-2]
        ring = ndimage.binary_dilation(s.truth == 1, iterations=4) & ~ndimage.binary_dilation(
            s.truth == 1, iterations=1
        )
        for code in gradient:
            on = s.kind == code
            if on.sum() > 200:
                gradient[code].append(across[on].mean())
                contrast[code].append(db[on].mean() - db[ring].mean())
    assert all(gradient[c] for c in gradient), "every radiometry appears in eight scenes"
    assert np.mean(gradient[1]) > 1.0
    assert np.mean(contrast[2]) < -1.0 < 1.0 < np.mean(contrast[3])


def test_truth_is_cracks_only(scenes):
    for s in scenes:
        assert set(np.unique(s.truth)) <= {0, 1}
        assert np.array_equal(s.kind > 0, s.truth == 1)
        assert not (s.stream & (s.truth == 1)).any()
    assert sum(s.stream.sum() for s in scenes) > 0 and all(s.truth.sum() > 0 for s in scenes)


def test_the_tally_scores_a_perfect_an_empty_and_a_stream_mask(scenes):
    perfect, empty, streams = Tally(), Tally(), Tally()
    for s in scenes:
        perfect.add(s, s.truth, s.truth.astype(np.float32))
        empty.add(s, np.zeros_like(s.truth))
        streams.add(s, s.stream.astype(np.uint8))
    p = perfect.summary()
    assert p["pooled"]["at_threshold"]["f1"] == 1.0 and p["pooled"]["best_f1"] == 1.0
    assert all(v == 1.0 for v in p["recall_by_radiometry"].values()) and p["streams_flagged"] == 0.0
    e = empty.summary()
    assert e["pooled"]["at_threshold"]["recall"] == 0.0 and "best_f1" not in e["pooled"]
    assert all(v == 0.0 for v in e["recall_by_radiometry"].values())
    assert streams.summary()["streams_flagged"] == 1.0


def test_scenes_are_written_as_a_user_would_hand_them_in(tmp_path):
    import rasterio

    s = draw_scene(SEED0, 64)
    with rasterio.open(write_scene(s, tmp_path / "s.tif")) as ds:
        assert ds.crs.is_projected and abs(ds.transform.a) == 40.0
        assert float(ds.tags()["LOOKS"]) == s.looks
        assert np.array_equal(ds.read(1), s.sigma0)


def test_the_generator_shares_no_code_with_training():
    """Independent means: it imports nothing of the simulator or of training, and nothing but the
    evaluation suites imports it."""
    path = PACKAGE / "ml" / "evaluation" / "independent.py"
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    allowed = {
        "icecrack_assets.ml.metrics",
        "icecrack_assets.ml.bundle",
        "icecrack_assets.ml.scaled",
        "icecrack_assets.ml.evaluation.ridge",
        "icecrack_assets.raster",
    }
    ours = {m for m in imported if m.startswith("icecrack_assets")}
    assert ours <= allowed, ours - allowed
    users = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if p != path and "evaluation.independent" in p.read_text()
    ]
    assert set(users) <= {"ml/evaluation/generalisation.py"}, users


def test_suite_e_scores_the_shipped_models_and_the_ridge(tmp_path, monkeypatch):
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path))
    out = tmp_path / "e.md"
    assert main(["evaluate", "--quick", "--suite", "e", "--out", str(out)]) == 0
    res = json.loads(out.with_suffix(".json").read_text())["e"]
    assert set(res["models"]) == {"default model", "its base (no real tiles)"}
    for m in res["models"].values():
        p = m["pooled"]
        assert 0.0 <= p["at_threshold"]["f1"] <= p["best_f1"] + 1e-9 <= 1.0 + 1e-9
        assert set(m["recall_by_radiometry"]) == set(RADIOMETRY)
    assert "Sato ridge" in out.read_text() and "## Suite e" in out.read_text()
    assert set(res["sweep"]) == {"1", "2", "20"}  # the looks sweep, each method at each looks
    for row in res["sweep"].values():
        assert set(row["models"]) == set(res["models"]) and "ridge" in row
        assert 0.0 <= row["models"]["default model"]["pooled"]["at_threshold"]["f1"] <= 1.0
    assert "| 1 look | 2 looks | 20 looks |" in out.read_text()
