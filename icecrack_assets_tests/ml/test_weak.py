"""Weak field-level supervision: what the loss pushes where, what the sampler draws, and that a
training run uses only the tiles it is given (leave-one-tile-out depends on that)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.evaluation.fields import BACKGROUND, FIELD, STREAM, field_tiles
from icecrack_assets.ml.weak import WeakConfig, WeakFieldSampler, _zoomed, weak_loss
from icecrack_assets_tests.helpers.pretraining import tiny_pretrain


def write_field_tile(folder, name: str, size: int = 200, seed: int = 0) -> None:
    """A fake ``s1-gris-crevasse-fields-naureen`` pair: 8-bit dB image, 3-band one-hot mask."""
    rng = np.random.default_rng(seed)
    img = rng.integers(60, 120, (size, size)).astype(np.uint8)
    img[:10, :] = 0  # nodata corner strip
    onehot = np.zeros((3, size, size), np.uint8)
    onehot[1] = 1
    onehot[:, 40:70, 40:70] = 0
    onehot[0, 40:70, 40:70] = 1  # a 30x30 field (2.25 % of the tile)
    onehot[:, 150:154, 20:180] = 0
    onehot[2, 150:154, 20:180] = 1  # a thin stream
    img[45:65:4, 40:70] = 200  # lineations in the field
    prof = {"driver": "GTiff", "crs": "EPSG:3413", "transform": from_origin(0, 0, 10, 10)}
    with rasterio.open(
        folder / f"{name}.tif", "w", count=1, dtype="uint8", width=size, height=size, **prof
    ) as ds:
        ds.write(img, 1)
    with rasterio.open(
        folder / f"{name}_mask.tif", "w", count=3, dtype="uint8", width=size, height=size, **prof
    ) as ds:
        ds.write(onehot)


def tiny_weak_pretrain(**kw):
    """2 steps of the tests' tiny configuration, with weak crops of 32 px."""
    settings = {"max_steps": 2, "weak": WeakConfig(batch=2, patch=32), **kw}
    return tiny_pretrain(mix_extra={"resample_prob": 0.0}, **settings)


def _classes() -> torch.Tensor:
    c = torch.full((1, 1, 32, 32), BACKGROUND, dtype=torch.uint8)
    c[..., 0:16, 0:16] = FIELD  # 256 field pixels
    c[..., 20:22, :] = STREAM
    c[..., 30:, :] = 0  # nodata
    return c


def test_weak_loss_pushes_streams_down_and_only_the_top_of_a_field_up():
    cfg = WeakConfig(field_top=0.1, background_weight=0.05)
    classes = _classes()
    logits = torch.linspace(-2, 2, 32 * 32).reshape(1, 1, 32, 32).clone().requires_grad_(True)
    weak_loss(logits, classes, cfg).backward()
    g = logits.grad[0, 0]
    c = classes[0, 0]
    assert (g[c == STREAM] > 0).all()  # descending the gradient lowers streams
    assert (g[c == BACKGROUND] > 0).all() and g[c == BACKGROUND].max() < g[c == STREAM].min()
    assert (g[c == 0] == 0).all()  # nodata untouched
    field = g[c == FIELD]
    k = int(np.ceil(0.1 * 256))
    assert int((field < 0).sum()) == k and int((field > 0).sum()) == 0  # only the top k rise
    top = torch.topk(logits[0, 0][c == FIELD].detach(), k).values
    assert (logits[0, 0][c == FIELD].detach()[field < 0] >= top.min()).all()


def test_a_crop_with_too_few_field_pixels_gives_no_positive_term():
    classes = _classes()
    classes[..., 4:16, :] = BACKGROUND  # leaves 4 x 16 = 64 field pixels
    logits = torch.zeros(1, 1, 32, 32, requires_grad=True)
    weak_loss(logits, classes, WeakConfig(min_field_pixels=65)).backward()
    assert (logits.grad[0, 0][classes[0, 0] == FIELD] == 0).all()
    only_nodata = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    assert float(weak_loss(torch.zeros(1, 1, 8, 8), only_nodata, WeakConfig())) == 0.0


def test_sampler_centres_crops_on_fields_and_streams(tmp_path):
    write_field_tile(tmp_path, "a1")
    cfg = WeakConfig(batch=64, patch=32, zooms=(1.0,))
    x, c = WeakFieldSampler(field_tiles(tmp_path), cfg, seed=1).batch()
    assert x.shape == c.shape == (64, 1, 32, 32) and x.dtype == np.float32
    assert np.abs(x).max() <= 1.0
    assert set(np.unique(c)) <= {0, FIELD, BACKGROUND, STREAM}
    with_field = np.mean([(ci == FIELD).any() for ci in c])
    with_stream = np.mean([(ci == STREAM).any() for ci in c])
    # a random 32-px crop touches the 30x30 field about 6 % of the time; centring makes it ~45 %
    assert with_field > 0.3 and with_stream > 0.2
    # the same seed draws the same crops (reproducible training)
    x2, c2 = WeakFieldSampler(field_tiles(tmp_path), cfg, seed=1).batch()
    assert np.array_equal(x, x2) and np.array_equal(c, c2)


def test_a_coarser_grid_averages_intensity_and_keeps_the_classes():
    s = np.ones((40, 40), np.float32)
    s[:, ::2] = 3.0
    s[:4] = np.nan
    c = np.full((40, 40), BACKGROUND, np.uint8)
    c[20:30, 20:30] = FIELD
    out, cls = _zoomed(s, c, 0.5)
    assert out.shape == cls.shape == (20, 20)
    assert np.nanmax(np.abs(out[5:15, 5:15] - 2.0)) < 1e-5  # the stripes average out
    assert np.isnan(out[0]).all() and (cls[0] == 0).all()  # nodata stays nodata
    assert (cls[10:15, 10:15] == FIELD).all()


def test_training_uses_only_the_named_tiles_and_records_them(tmp_path):
    from icecrack_assets.ml.pretrain import pretrain, weak_sampler

    for i, name in enumerate(("a1", "a2", "a3")):
        write_field_tile(tmp_path, name, seed=i)
    cfg = tiny_weak_pretrain(fields_root=str(tmp_path), fields_tiles=("a1", "a3"))
    assert weak_sampler(cfg, 0).names == ["a1", "a3"]  # a2 is held out
    bundle = pretrain(cfg, tmp_path / "models", tmp_path / "ck", log=lambda m: None)
    lineage = json.loads((bundle / "bundle.json").read_text())["lineage"]["pretrain_config"]
    assert lineage["fields_tiles"] == ["a1", "a3"] and lineage["weak"]["field_top"] == 0.15
    from dataclasses import replace

    with pytest.raises(IceCrackError, match="no field tiles named"):
        weak_sampler(replace(cfg, fields_tiles=("a9",)), 0)


def test_leave_one_out_scores_each_tile_with_a_model_that_never_saw_it(tmp_path):
    from icecrack_assets.ml.bundle import save_bundle
    from icecrack_assets.ml.evaluation.fields import field_metrics
    from icecrack_assets.ml.evaluation.generalisation import (
        GeneralisationConfig,
        fields_leave_one_out,
        saw_field_tiles,
    )
    from icecrack_assets.ml.normalise import ROBUST_NORMALISATION
    from icecrack_assets.ml.unet import UNet, UNetConfig

    fields = tmp_path / "fields"
    fields.mkdir()
    for i, name in enumerate(("a1", "a2", "a3")):
        write_field_tile(fields, name, seed=i)
    torch.manual_seed(0)
    base = save_bundle(
        tmp_path / "models",
        UNet(UNetConfig(depth=1, width=4, stem=2)),
        dict(ROBUST_NORMALISATION),
        {"filter": "none"},
        0.5,
        {"source": "test"},
        {},
        name="base",
        extra={"pixel_size": {"nominal_m": 10.0, "min_m": 10.0, "max_m": 50.0}},
        weights_dtype="float16",
    )
    assert not saw_field_tiles(base)
    tiny = tiny_weak_pretrain()
    cfg = GeneralisationConfig(work_dir=tmp_path / "work", fields_root=fields, field_steps=2)
    res = fields_leave_one_out(base, cfg, log=lambda m: None, train=tiny)
    assert sorted(res["per_tile"]) == ["a1", "a2", "a3"]
    for name, r in res["per_tile"].items():
        assert name not in r["trained_on"] and len(r["trained_on"]) == 2
        model = tmp_path / "work" / "d-leave-one-out" / name / "models" / f"without-{name}"
        lineage = json.loads((model / "bundle.json").read_text())["lineage"]
        assert lineage["pretrain_config"]["fields_tiles"] == r["trained_on"]
        assert lineage["init"]["bundle"] == "base" and saw_field_tiles(model)
    pooled = field_metrics(res["counts"])
    assert res["fields"] == pooled["fields"] == 3 and res["inside"] == pooled["inside"]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--init", "base", "--continue-minutes", "0"], "give --continue-minutes > 0"),
        (["--continue-minutes", "-1"], "must be 0 or more"),
        (["--fields", "NOPE"], "no aN.tif / aN_mask.tif pairs"),
        # --width reaches the default model's run, and a base of another shape is refused
        (["--init", "base", "--continue-minutes", "1", "--width", "8"], "4/16/2, this run's is 4/8/2"),
    ],
)
def test_default_model_argument_errors_are_one_line(argv, expected, tmp_path, capsys, monkeypatch):
    from icecrack_assets.cli import main

    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path))
    lai = tmp_path / "lai"
    lai.mkdir()
    argv = [a.replace("NOPE", str(tmp_path / "nope")) for a in argv]
    assert main(["train", "--default-model", "--lai", str(lai), "--out", str(tmp_path / "m"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1
    assert not (tmp_path / "m").exists()  # refused before any training


def test_the_shipped_model_is_stage_two_of_the_shipped_base():
    """Suite d's leave-one-out runs start from the shipped base: it must be what stage 2 started
    from, and it must never have seen a real tile."""
    from icecrack_assets.ml.bundle import read_bundle_json
    from icecrack_assets.ml.evaluation.generalisation import saw_field_tiles
    from icecrack_assets.ml.pretrain import FIELD_FINETUNE_STEPS
    from icecrack_assets.ml.shipped import base_model_path, default_model_path

    shipped, base = default_model_path(), base_model_path()
    assert shipped is not None and base is not None
    meta, base_meta = read_bundle_json(shipped), read_bundle_json(base)
    assert saw_field_tiles(shipped) and not saw_field_tiles(base)
    assert meta["lineage"]["init"]["weights_sha256"] == base_meta["weights_sha256"]
    assert meta["lineage"]["steps"] == FIELD_FINETUNE_STEPS
    # the recipe that ships is the one the leave-one-out check runs (tuples are lists in JSON)
    assert meta["lineage"]["pretrain_config"]["weak"] == json.loads(json.dumps(WeakConfig().as_dict()))
    assert meta["weights_dtype"] == base_meta["weights_dtype"] == "float16"


@pytest.mark.parametrize(
    "argv, expected",
    [
        # the shipped recipe: stage 1 beside its checkpoints, 1b's two rounds from it (the last is
        # the base), 2 from the base
        (
            ["--fields", "F"],
            [
                ("stage1", "ck", None),
                ("stage1b-1", "ck/continue", "stage1"),
                ("default_model_base", "ck/continue-2", "stage1b-1"),
                ("default_model", "ck/fields", "default_model_base"),
            ],
        ),
        # without stage 1b: stage 1 is the base, stage 2 from it
        (
            ["--fields", "F", "--continue-minutes", "0"],
            [("default_model_base", "ck", None), ("default_model", "ck/fields", "default_model_base")],
        ),
        # without --fields the last stage run is the default model
        (
            [],
            [
                ("stage1", "ck", None),
                ("stage1b-1", "ck/continue", "stage1"),
                ("default_model", "ck/continue-2", "stage1b-1"),
            ],
        ),
        (["--continue-minutes", "0"], [("default_model", "ck", None)]),
        # --init without --fields: the continuation alone, from the given bundle
        (["--init", "GIVEN", "--continue-minutes", "5"], [("default_model", "ck/continue", "given")]),
        # --init, stage 1b and --fields: the continuation from the given bundle, then stage 2 from it
        (
            ["--init", "GIVEN", "--continue-minutes", "5", "--fields", "F"],
            [
                ("default_model_base", "ck/continue", "given"),
                ("default_model", "ck/fields", "default_model_base"),
            ],
        ),
        # two rounds of stage 1b (warm restarts): the first kept beside stage 1, the last is the base
        (
            ["--fields", "F", "--continue-minutes", "5", "7"],
            [
                ("stage1", "ck", None),
                ("stage1b-1", "ck/continue", "stage1"),
                ("default_model_base", "ck/continue-2", "stage1b-1"),
                ("default_model", "ck/fields", "default_model_base"),
            ],
        ),
        # --init with --fields: stage 2 alone
        (["--init", "GIVEN", "--fields", "F"], [("default_model", "ck/fields", "given")]),
        # --out keeps the names: stage 2's init is the same path on a re-run, so its checkpoint resumes
        (
            ["--out", "OUT", "--fields", "F", "--continue-minutes", "5"],
            [
                ("stage1", "ck", None),
                ("default_model_base", "ck/continue", "stage1"),
                ("default_model", "ck/fields", "default_model_base"),
            ],
        ),
    ],
)
def test_default_model_recipe_runs_its_stages_in_order(argv, expected, tmp_path, monkeypatch):
    """Which stages ``icecrack train --default-model`` runs, from what, and where each goes (the
    training itself is replaced by a recorder: the stages' own tests train for real)."""
    from icecrack_assets.commands import train as train_cmd
    from icecrack_assets.ml import pretrain as pretrain_mod
    from icecrack_assets.ml import shipped

    fields, given = tmp_path / "fields", tmp_path / "given"
    fields.mkdir()
    write_field_tile(fields, "a1")
    given.mkdir()
    calls = []

    def fake_pretrain(cfg, models_dir, ck, name=None, log=print):
        rel = str(ck.relative_to(tmp_path)) if ck.is_relative_to(tmp_path) else str(ck)
        init = None if cfg.init is None else Path(cfg.init).name
        calls.append((name or "unnamed", rel, init, cfg))
        return Path(models_dir) / (name or "unnamed")

    monkeypatch.setattr(pretrain_mod, "pretrain", fake_pretrain)
    monkeypatch.setattr(shipped, "DEFAULT_MODEL_DIR", tmp_path / "pkg" / "default_model")
    monkeypatch.setattr(shipped, "BASE_MODEL_DIR", tmp_path / "pkg" / "default_model_base")
    monkeypatch.setattr(shipped, "resolve_init", lambda p: Path(p))
    lai = tmp_path / "lai"
    lai.mkdir()
    parser = argparse.ArgumentParser()
    train_cmd.register(parser.add_subparsers())
    argv = [{"F": str(fields), "GIVEN": str(given), "OUT": str(tmp_path / "out")}.get(a, a) for a in argv]
    common = ["train", "--default-model", "--lai", str(lai), "--checkpoint-dir", str(tmp_path / "ck")]
    args = parser.parse_args([*common, *argv])
    assert train_cmd.run_default_model(args, tmp_path) == 0
    assert [(n, ck, i) for n, ck, i, _ in calls] == expected
    by_name = {n: cfg for n, _, _, cfg in calls}
    if "stage1" in by_name:  # a step budget and step-interval validation: no clock decides what is learnt
        s1 = by_name["stage1"]
        assert (s1.max_steps, s1.minutes) == (pretrain_mod.STAGE1_STEPS, pretrain_mod.NO_WALL_CLOCK_CAP)
        assert s1.val_every_steps == pretrain_mod.STAGE1_VAL_EVERY_STEPS and s1.keep_best
        assert s1.weights_dtype == "float16"  # the shipped bundles' size
        # stage 1b: half the learning rate, a fresh schedule, the final weights
        cont = [cfg for n, ck, _, cfg in calls if ck == "ck/continue"][0]
        assert cont.lr == pretrain_mod.CONTINUE_LR < by_name["stage1"].lr and cont.keep_best is False
        rounds = [cfg for _, ck, _, cfg in calls if ck.startswith("ck/continue")]
        given = argv[argv.index("--continue-minutes") + 1 :] if "--continue-minutes" in argv else None
        want = pretrain_mod.CONTINUE_MINUTES if given is None else tuple(float(m) for m in given)
        assert tuple(r.minutes for r in rounds) == want  # the recipe's rounds unless told
        # the recipe's step caps and polarity flips go with its own rounds only
        specs = (
            pretrain_mod.CONTINUE_ROUNDS if given is None else [pretrain_mod.ContinueRound(m) for m in want]
        )
        assert [(r.max_steps, r.mix.polarity_flip) for r in rounds] == [
            (x.max_steps, x.polarity_flip) for x in specs
        ]
        # each round a warm restart on its own training stream
        assert [r.seed for r in rounds] == [by_name["stage1"].seed + k for k in range(len(rounds))]
        assert all(r.lr == pretrain_mod.CONTINUE_LR for r in rounds)
    if "default_model" in by_name and by_name["default_model"].fields_root:  # stage 2 is the field recipe
        assert by_name["default_model"].max_steps == pretrain_mod.FIELD_FINETUNE_STEPS
