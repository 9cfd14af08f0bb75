"""Annotation rasterisation (GeoPackage made here + the real NeRD shapefiles), spatial split, samples."""

from __future__ import annotations

import csv
import hashlib

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import LineString, Polygon, box

from icecrack_assets.errors import IceCrackError, InputError
from icecrack_assets.ml.evaluation.synthetic import synthetic_scene
from icecrack_assets.ml.labels import load_labels_for_scene
from icecrack_assets.ml.samples import SceneForSamples, build_samples, load_samples
from icecrack_assets.ml.split import assign_blocks, min_cross_split_gap
from icecrack_assets.regions import get_region

PX = 40.0
ORIGIN = (-1600000.0, -440000.0)
TRANSFORM = Affine(PX, 0, ORIGIN[0], 0, -PX, ORIGIN[1])


def _gpkg(path, geoms, crs="EPSG:3031", **cols):
    gpd.GeoDataFrame(cols, geometry=geoms, crs=crs).to_file(path, driver="GPKG")
    return path


def test_line_is_buffered_to_its_width_and_zone_filled(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    y = ORIGIN[1] - 20.5 * PX  # centre of row 20
    line = LineString([(ORIGIN[0] + 5 * PX, y), (ORIGIN[0] + 45 * PX, y)])
    zone = box(ORIGIN[0] + 10 * PX, ORIGIN[1] - 40 * PX, ORIGIN[0] + 20 * PX, ORIGIN[1] - 30 * PX)
    _gpkg(labels / "cracks.gpkg", [line, zone], width_m=[3 * PX, np.nan])
    lab = load_labels_for_scene(labels, get_region("thwaites"), TRANSFORM, (60, 60), "EPSG:3031")
    assert lab.dtype == np.uint8 and lab.shape == (60, 60)
    col = lab[:, 25]
    assert col[19:22].tolist() == [1, 1, 1] and col[17] == 0 and col[23] == 0  # 3 px wide line
    assert lab[30:40, 10:20].all() and lab[45, 45] == 0
    assert lab[20, 2] == 0  # the line starts at column 5


def test_other_crs_is_reprojected_and_extent_limits_labels(tmp_path):
    labels = tmp_path / "labels"
    (labels / "thwaites").mkdir(parents=True)
    import pyproj

    to_ll = pyproj.Transformer.from_crs(3031, 4326, always_xy=True)
    c = [to_ll.transform(ORIGIN[0] + x * PX, ORIGIN[1] - 30.5 * PX) for x in (0, 60)]
    _gpkg(labels / "thwaites" / "ll.gpkg", [LineString(c)], crs="EPSG:4326")
    ext = box(ORIGIN[0], ORIGIN[1] - 60 * PX, ORIGIN[0] + 30 * PX, ORIGIN[1])
    _gpkg(labels / "extent.gpkg", [ext], kind=["extent"])
    lab = load_labels_for_scene(labels, get_region("thwaites"), TRANSFORM, (60, 60), "EPSG:3031")
    assert lab[30, 10] == 1  # reprojected line
    assert (lab[:25, 35:] == 255).all() and (lab[35:, 35:] == 255).all()  # background only inside the extent
    assert lab[30, 50] == 1  # a drawn crack stays a crack even outside the extent
    assert lab[5, 5] == 0


def test_background_zone_is_labelled_outside_the_extent_and_keeps_cracks(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    ext = box(ORIGIN[0], ORIGIN[1] - 60 * PX, ORIGIN[0] + 30 * PX, ORIGIN[1])
    neg = box(ORIGIN[0] + 40 * PX, ORIGIN[1] - 50 * PX, ORIGIN[0] + 55 * PX, ORIGIN[1] - 10 * PX)
    y = ORIGIN[1] - 30.5 * PX
    line = LineString([(ORIGIN[0] + 42 * PX, y), (ORIGIN[0] + 52 * PX, y)])
    _gpkg(labels / "zones.gpkg", [ext, neg], kind=["extent", "not_crack"])
    _gpkg(labels / "cracks.gpkg", [line])
    lab = load_labels_for_scene(labels, get_region("thwaites"), TRANSFORM, (60, 60), "EPSG:3031")
    assert lab[20, 45] == 0 and lab[45, 50] == 0  # the negative zone, outside the extent: background
    assert lab[5, 58] == 255 and lab[55, 45] == 255  # outside both: unlabelled
    assert lab[30, 47] == 1  # a crack drawn in the negative zone stays a crack


def test_no_overlapping_annotations_gives_none(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    assert load_labels_for_scene(labels, "thwaites", TRANSFORM, (60, 60), "EPSG:3031") is None
    _gpkg(labels / "far.gpkg", [LineString([(0, 0), (1000, 0)])])
    assert load_labels_for_scene(labels, "thwaites", TRANSFORM, (60, 60), "EPSG:3031") is None


def test_unreadable_or_crs_less_annotation_is_input_error(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "bad.gpkg").write_text("not a geopackage")
    with pytest.raises(InputError, match="bad.gpkg"):
        load_labels_for_scene(labels, "thwaites", TRANSFORM, (60, 60), "EPSG:3031")
    (labels / "bad.gpkg").unlink()
    gpd.GeoDataFrame({"a": [1]}, geometry=[Polygon([(0, 0), (1, 0), (1, 1)])]).to_file(labels / "nocrs.gpkg")
    with pytest.raises(InputError, match="no CRS"):
        load_labels_for_scene(labels, "thwaites", TRANSFORM, (60, 60), "EPSG:3031")


@pytest.mark.shared_data
def test_real_nerd_damage_lines_rasterise_on_thwaites(shared_data, tmp_path):
    src = shared_data / "damage-labels-izeboud-nerd" / "shapefiles"
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "manual_labels_1_lines.shp").symlink_to(src / "manual_labels_1_lines.shp")
    for ext in (".shx", ".dbf", ".prj", ".cpg"):
        (labels / f"manual_labels_1_lines{ext}").symlink_to(src / f"manual_labels_1_lines{ext}")
    region = get_region("thwaites")
    lab = load_labels_for_scene(labels, region, region.transform, (region.height, region.width), region.crs)
    assert lab is not None and lab.shape == (region.height, region.width)
    frac = (lab == 1).mean()
    assert 0.001 < frac < 0.2  # thin damage lines: a small but non-zero share of the grid
    # every burnt pixel is within a pixel or two of a real line
    lines = gpd.read_file(src / "manual_labels_1_lines.shp").to_crs(region.crs)
    r, c = np.nonzero(lab == 1)
    pick = np.random.default_rng(0).choice(len(r), 50, replace=False)
    xs = region.transform.c + (c[pick] + 0.5) * region.pixel_size
    ys = region.transform.f - (r[pick] + 0.5) * region.pixel_size
    union = lines.geometry.union_all()
    assert (
        max(union.distance(gpd.points_from_xy([x], [y])[0]) for x, y in zip(xs, ys)) < 2 * region.pixel_size
    )


def test_blocks_split_deterministically_with_every_split_present():
    blocks = assign_blocks({"a": (1024, 1024), "b": (512, 1024)}, 256, seed=3)
    assert len(blocks) == 16 + 8
    assert {b.split for b in blocks} == {"train", "val", "test"}
    again = assign_blocks({"b": (512, 1024), "a": (1024, 1024)}, 256, seed=3)
    assert [b.split for b in blocks] == [b.split for b in again]
    other = assign_blocks({"a": (1024, 1024), "b": (512, 1024)}, 256, seed=4)
    assert [b.split for b in blocks] != [b.split for b in other]


def test_blocks_shared_by_a_group_and_stratified_by_crack_density():
    shapes = {"s1": (1024, 1792), "s2": (1024, 1792)}
    groups = {"s1": "thwaites:2020", "s2": "thwaites:2020"}
    # 28 locations; only 7 of them (one column) hold cracks
    density = {
        ("thwaites:2020", r, c): (0.05 if c == 0 else 0.0)
        for r in range(0, 1024, 256)
        for c in range(0, 1792, 256)
    }
    density.update({("thwaites:2020", r, 256): 0.03 for r in range(0, 1024, 256)})
    for seed in range(5):
        blocks = assign_blocks(shapes, 256, seed, groups=groups, density=density)
        by_loc = {}
        for b in blocks:
            by_loc.setdefault((b.row, b.col), set()).add(b.split)
        assert all(len(v) == 1 for v in by_loc.values())  # a location is in one split for every scene
        for split in ("val", "test"):
            assert any(density[("thwaites:2020", b.row, b.col)] > 0 for b in blocks if b.split == split)
        n = {s: sum(b.split == s for b in blocks if b.scene_id == "s1") for s in ("train", "val", "test")}
        assert n["val"] in (4, 5) and n["test"] in (4, 5) and n["train"] == 28 - n["val"] - n["test"]


def _scenes(n=3, shape=(320, 320)):
    out = []
    for s in range(n):
        speckled, clean, truth = synthetic_scene(shape, seed=s)
        out.append(SceneForSamples(f"syn{s}", "thwaites", 2020, None, truth, "simulator", image=clean))
    return out


def test_samples_balanced_no_leak_with_provenance(tmp_path):
    idx = build_samples(
        _scenes(), tmp_path / "s", patch=48, seed=1, max_per_scene=20, block_size=96, buffer=16
    )
    data = load_samples(tmp_path / "s")
    assert data["x"].shape == (idx.count, 1, 48, 48) and data["y"].dtype == np.uint8
    assert idx.n_train + idx.n_val + idx.n_test == idx.count and idx.n_val > 0 and idx.n_test > 0
    rows = list(csv.DictReader(open(idx.index_path)))
    assert len(rows) == idx.count
    assert {r["label_source"] for r in rows} == {"simulator"}
    kinds = [r["kind"] for r in rows if r["split"] == "train"]
    n_crack = kinds.count("crack")
    assert kinds.count("hard_negative") > 0 and abs(n_crack - (len(kinds) - n_crack)) <= len(kinds) // 3
    assert {r["kind"] for r in rows if r["split"] != "train"} == {"tile"}
    # crack patches really contain cracks; negatives none
    for r, y in zip(rows, data["y"]):
        if r["kind"] != "tile":
            assert ((y == 1).any()) == (r["kind"] == "crack")
        assert (y == 1).sum() / max((y != 255).sum(), 1) == pytest.approx(
            float(r["crack_fraction"]), abs=1e-5
        )
    # validation/test tiles cover their blocks' interiors exactly once (no pixel counted twice)
    scenes = {s.scene_id: s for s in _scenes()}
    for sid, sc in scenes.items():
        for split in ("val", "test"):
            sel = [(r, y) for r, y in zip(rows, data["y"]) if r["scene_id"] == sid and r["split"] == split]
            blocks = {r["block"] for r, _ in sel}
            expect = 0
            for key in blocks:
                _, br, bc = key.split(":")
                br, bc = int(br), int(bc)
                inner = sc.label[br + 8 : br + 96 - 8, bc + 8 : bc + 96 - 8]
                expect += int((inner != 255).sum())
            assert sum(int((y != 255).sum()) for _, y in sel) == expect
    # no two patches of different splits closer than the buffer
    patches = [(r["scene_id"], int(r["row"]), int(r["col"]), int(r["size"]), r["split"]) for r in rows]
    assert min_cross_split_gap(patches) >= 16
    # near-duplicates dropped: no two training patches of a scene overlap by more than half a patch
    train = [p for p in patches if p[4] == "train"]
    for i, a in enumerate(train):
        for b in train[i + 1 :]:
            if a[0] == b[0]:
                assert max(abs(a[1] - b[1]), abs(a[2] - b[2])) >= 24
    # provenance: the stored patch is the scene window named in the index
    r0 = rows[0]
    img = scenes[r0["scene_id"]].image
    np.testing.assert_array_equal(
        data["x"][0, 0], img[int(r0["row"]) : int(r0["row"]) + 48, int(r0["col"]) : int(r0["col"]) + 48]
    )
    assert idx.sha256 == hashlib.sha256((tmp_path / "s" / "samples.npz").read_bytes()).hexdigest()


def test_samples_deterministic_given_seed(tmp_path):
    a = build_samples(
        _scenes(2), tmp_path / "a", patch=48, seed=5, max_per_scene=10, block_size=96, buffer=16
    )
    b = build_samples(
        _scenes(2), tmp_path / "b", patch=48, seed=5, max_per_scene=10, block_size=96, buffer=16
    )
    assert a.sha256 == b.sha256


def test_sample_errors(tmp_path):
    with pytest.raises(IceCrackError, match="no labelled scenes"):
        build_samples([], tmp_path / "x")
    sc = _scenes(1)[0]
    sc.label = sc.label[:10]
    with pytest.raises(InputError, match="differs"):
        build_samples([sc], tmp_path / "x", patch=48, block_size=96, buffer=16)
    with pytest.raises(InputError, match="missing: does not exist"):
        load_samples(tmp_path / "missing")


def test_a_missing_sample_directory_says_so_and_an_empty_one_says_what_is_missing(tmp_path):
    with pytest.raises(InputError, match="nowhere: does not exist"):
        load_samples(tmp_path / "nowhere")
    with pytest.raises(InputError, match="no samples.npz here"):
        load_samples(tmp_path)
