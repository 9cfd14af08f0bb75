"""Simulated scenes on disk: GeoTIFF georeferencing and tags, landing-zone pickup, CLI, idempotence."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pytest
import rasterio

from icecrack_assets.catalog.landing import LandingZoneCatalog
from icecrack_assets.cli import main
from icecrack_assets.errors import IceCrackError
from icecrack_assets.regions import get_region
from icecrack_assets.sar.sentinel1.naming import parse_name
from icecrack_assets.simulator.scenes import (
    SIMULATOR_VERSION,
    acquisition_times,
    simulate_scene,
    simulate_season,
    write_scene,
)

AMERY = get_region("amery")
JAK = get_region("jakobshavn")
SHAPE = (64, 96)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_written_files_georeferenced_and_tagged(tmp_path: Path) -> None:
    scene = simulate_scene(AMERY, dt.datetime(2020, 1, 10, 1, 14, 5), seed=7, shape=SHAPE, looks=3.5)
    tif, truth = write_scene(scene, tmp_path / "landing")
    assert tif.name == f"{scene.scene_id}.tif" and truth.name == f"{scene.scene_id}.truth.tif"
    with rasterio.open(tif) as ds:
        assert ds.crs.to_epsg() == 3031 and ds.transform == AMERY.transform
        assert (ds.height, ds.width) == SHAPE and ds.count == 1 and ds.dtypes[0] == "float32"
        assert np.isnan(ds.nodata)
        tags = ds.tags()
        data = ds.read(1)
    assert tags["POLARISATION"] == "HH" and float(tags["LOOKS"]) == 3.5
    assert tags["UNITS"] == "linear_sigma0" and tags["ICECRACK_SOURCE"] == "simulator"
    assert tags["ICECRACK_SEED"] == "7" and tags["ICECRACK_SIMULATOR_VERSION"] == SIMULATOR_VERSION
    assert np.array_equal(data, scene.intensity, equal_nan=True)
    with rasterio.open(truth) as ds:
        assert ds.dtypes[0] == "uint8" and ds.nodata == 255 and ds.transform == AMERY.transform
        assert np.array_equal(ds.read(1), scene.truth)
    assert not [p for p in tif.parent.iterdir() if p.name.endswith(".part")]


def test_landing_catalog_picks_up_a_simulated_season(tmp_path: Path) -> None:
    paths = simulate_season(JAK, 2019, 3, seed=1, landing_dir=tmp_path, shape=SHAPE)
    assert len(paths) == 3 and all(p.exists() for p in paths)
    items, problems = LandingZoneCatalog(tmp_path).scan()
    assert problems == []
    assert sorted(i.scene_id for i in items) == sorted(p.stem for p in paths)
    assert all(i.truth_href and Path(i.truth_href).exists() for i in items)
    assert all(i.extra["ICECRACK_SOURCE"] == "simulator" for i in items)
    start, end = JAK.season(2019)
    found = LandingZoneCatalog(tmp_path).search(JAK, start, end)
    assert sorted(i.scene_id for i in found) == sorted(p.stem for p in paths)
    assert LandingZoneCatalog(tmp_path).search(AMERY, *AMERY.season(2019)) == []
    for item in found:
        assert start <= item.acquired <= end and item.mode == "IW" and item.polarisations == ("HH",)


def test_season_is_idempotent_and_spread(tmp_path: Path) -> None:
    first = simulate_season(AMERY, 2018, 4, seed=2, landing_dir=tmp_path, shape=SHAPE)
    digests = {p: _digest(p) for p in first}
    again = simulate_season(AMERY, 2018, 4, seed=2, landing_dir=tmp_path, shape=SHAPE)
    assert again == first
    assert {p: _digest(p) for p in again} == digests
    assert len(list(tmp_path.iterdir())) == 8  # 4 scenes + 4 truths, no leftovers
    starts = sorted(parse_name(p.name).start for p in first)
    start, end = AMERY.season(2018)
    assert starts[0] >= start and starts[-1] <= end
    assert (starts[-1] - starts[0]) > dt.timedelta(days=25)  # spread over the season


def test_acquisition_times_follow_the_dawn_dusk_orbit() -> None:
    times = acquisition_times(JAK, 2020, 12, seed=0)
    assert len(set(times)) == 12 and times == sorted(times)
    assert all(JAK.in_season(t) for t in times)
    # local solar time near 06:00 or 18:00 (longitude -49.8 -> UTC + 3.3 h)
    solar = [((t.hour + t.minute / 60 + JAK.centre_lonlat[0] / 15) % 24) for t in times]
    assert all(min(abs(s - 6), abs(s - 18)) < 3 for s in solar)


def test_season_not_started_and_bad_counts() -> None:
    before = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    with pytest.raises(IceCrackError, match="has not started"):
        acquisition_times(JAK, 2026, 2, seed=0, now=before)
    with pytest.raises(IceCrackError, match="count"):
        acquisition_times(JAK, 2020, 0, seed=0)
    with pytest.raises(IceCrackError, match="count"):
        acquisition_times(JAK, 2020, -3, seed=0)
    with pytest.raises(IceCrackError, match="outside 2015"):
        acquisition_times(JAK, 2014, 1, seed=0)
    # a season in progress only yields scenes up to now
    during = dt.datetime(2026, 7, 10, 12, tzinfo=dt.timezone.utc)
    assert all(t <= during for t in acquisition_times(JAK, 2026, 3, seed=0, now=during))


def test_cli_writes_scenes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "landing"
    rc = main(
        [
            "simulate",
            "--region",
            "amery",
            "--year",
            "2020",
            "--count",
            "2",
            "--seed",
            "5",
            "--shape",
            "48x64",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3 and "simulated 2 amery 2020" in printed[-1]
    assert len(list(out.glob("*.truth.tif"))) == 2 and len(list(out.glob("S1*_EW_GRDM_1SSH_*.tif"))) == 4


def test_cli_default_landing_is_under_data_root(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ICECRACK_DATA_ROOT", str(tmp_path / "root"))
    assert main(["simulate", "--region", "fimbul", "--year", "2017", "--count", "1", "--shape", "32x32"]) == 0
    assert len(list((tmp_path / "root" / "landing").glob("*.truth.tif"))) == 1


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--region", "atlantis", "--year", "2020"], "unknown region 'atlantis'"),
        (["--region", "amery", "--year", "2014"], "year 2014 is outside 2015.."),
        (["--region", "amery", "--year", "3000"], "year 3000 is outside 2015.."),
        (["--region", "amery", "--year", "2020", "--count", "0"], "count must be a positive integer"),
        (["--region", "amery", "--year", "2020", "--shape", "12"], "--shape must look like HEIGHTxWIDTH"),
        (["--region", "amery", "--year", "2020", "--shape", "8x8"], "too small"),
        (["--region", "amery", "--year", "2020", "--seed", "-4"], "--seed must be a non-negative"),
        (
            ["--region", "amery", "--year", "2020", "--looks", "-1", "--shape", "32x32"],
            "looks must be a positive",
        ),
    ],
)
def test_cli_errors_are_one_line(argv, message, tmp_path: Path, capsys) -> None:
    rc = main(["simulate", *argv, "--out", str(tmp_path / "land")])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "land").exists() or not any((tmp_path / "land").glob("*.tif"))


def test_cli_out_must_be_a_directory(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["simulate", "--region", "amery", "--year", "2020", "--out", str(blocker)]) == 2
    assert "not a directory" in capsys.readouterr().err
