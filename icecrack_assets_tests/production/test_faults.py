"""Fault injection: killed runs, transient I/O failures, failing partitions, hostile landing zones.

Every test adds to one tally, printed in the terminal summary (conftest) as
``fault-injection: N faults injected, N runs survived, N bad inputs refused, 0 files lost``
(also written to test-artifacts/fault-injection.txt). "Files lost" counts previously good outputs
that a fault damaged or removed; it must stay 0.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from icecrack_assets.catalog.base import CatalogItem
from icecrack_assets.dagster_defs.resources import DataRoot, SceneCatalogResource
from icecrack_assets.dagster_defs.sensors import new_acquisition_sensor, plan_runs
from icecrack_assets.raster import write_raster_atomic
from icecrack_assets.regions import get_region
from icecrack_assets.sar.sentinel1.naming import build_name
from icecrack_assets_tests.helpers import small_pipeline as sp
from icecrack_assets_tests.helpers.rasters import write_tiny_raster
from icecrack_assets_tests.production.tallies import FAULTS, fault_line

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
TALLY = FAULTS  # printed by conftest.pytest_terminal_summary


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """Hashes of the visible files of a folder (temporary ``.part`` names excluded)."""
    return {p.name: sha(p) for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


def count_lost(before: dict[str, str], folder: Path) -> int:
    after = snapshot(folder)
    return sum(1 for name, digest in before.items() if after.get(name) != digest)


# --- killed in the middle of a write -----------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, numpy as np
    from icecrack_assets.raster import write_raster_atomic
    from rasterio.transform import from_origin
    rng = np.random.default_rng(int(sys.argv[2]))
    arr = rng.random((6000, 6000), dtype=np.float32)  # ~140 MB: seconds to compress
    prof = dict(driver="GTiff", crs="EPSG:3413", transform=from_origin(0, 0, 10, 10), tiled=True,
                blockxsize=256, blockysize=256, compress="deflate", nodata=None)
    print("writing", flush=True)
    write_raster_atomic(sys.argv[1], arr, prof)
""")


def wait_for_part(folder: Path, proc: subprocess.Popen, timeout: float = 60.0) -> Path | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        parts = [p for p in folder.iterdir() if p.name.endswith(".part")]
        if parts:
            return parts[0]
        time.sleep(0.005)
    return None


@pytest.mark.slow
def test_a_writer_killed_mid_write_leaves_the_previous_good_file(tmp_path):
    target = tmp_path / "out" / "scene.tif"
    previous = write_raster_atomic(
        target,
        np.ones((64, 64), np.float32),
        dict(driver="GTiff", crs="EPSG:3413", transform=(10, 0, 0, 0, -10, 0)),
    )
    before = snapshot(target.parent)
    for delay in (0.0, 0.3):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target), "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        part = wait_for_part(target.parent, proc)
        time.sleep(delay)
        assert part is not None and proc.poll() is None, "the writer finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        TALLY["faults injected"] += 1
        assert proc.returncode == -signal.SIGKILL
        assert sha(previous) == before["scene.tif"]  # still the previous good version, intact
        TALLY["files lost"] += count_lost(before, target.parent)
    # a target that never existed: a kill leaves nothing under the target name
    fresh = tmp_path / "out" / "new.tif"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(fresh), "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert wait_for_part(fresh.parent, proc) is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    TALLY["faults injected"] += 1
    assert not fresh.exists()


RUN_DESPECKLE = textwrap.dedent("""
    import sys, dagster as dg
    from icecrack_assets.definitions import build_defs
    from icecrack_assets_tests.helpers import small_pipeline as sp
    data, home, pixel = sys.argv[1], sys.argv[2], float(sys.argv[3])
    job = build_defs(data_root=data, pixel_size=pixel).resolve_implicit_global_asset_job_def()
    cfg = sp.run_config(ops=("despeckled_scenes",), pixel=pixel)
    cfg["ops"]["despeckled_scenes"]["config"] = {"iterations": 3, "hw": 10, "hd": 3, "block": 128}
    with dg.DagsterInstance.from_config(home) as instance:
        print("starting", flush=True)
        job.execute_in_process(instance=instance, partition_key=sp.key("jakobshavn"),
                               asset_selection=[dg.AssetKey("despeckled_scenes")], run_config=cfg)
""")


@pytest.mark.slow
def test_a_dagster_run_killed_while_writing_keeps_the_partition_and_rerun_is_idempotent(tmp_path):
    """Materialise a partition, kill a re-run during its write, check nothing good was lost, re-run."""
    data, home, pixel = tmp_path / "data", tmp_path / "home", 100.0
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    sp.simulate(data, ["jakobshavn"], count=2, pixel=pixel)
    from icecrack_assets.definitions import build_defs

    job = build_defs(data_root=str(data), pixel_size=pixel).resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        ok = job.execute_in_process(
            instance=instance,
            partition_key=sp.key("jakobshavn"),
            asset_selection=sp.INGEST[:2],
            run_config=sp.run_config(ops=("despeckled_scenes",), pixel=pixel),
        )
        assert ok.success
    out = data / "despeckled" / "jakobshavn" / "2024"
    before = snapshot(out)
    assert len([n for n in before if n.endswith(".tif")]) == 2 and "manifest.json" in before
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_DESPECKLE, str(data), str(home), str(pixel)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    part = wait_for_part(out, proc, timeout=120)
    assert part is not None and proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    TALLY["faults injected"] += 1
    lost = count_lost(before, out)
    TALLY["files lost"] += lost
    assert lost == 0
    # the next run of the partition succeeds, replaces the outputs and clears the leftover
    with dg.DagsterInstance.from_config(str(home)) as instance:
        again = job.execute_in_process(
            instance=instance,
            partition_key=sp.key("jakobshavn"),
            asset_selection=[dg.AssetKey("despeckled_scenes")],
            run_config=sp.run_config(ops=("despeckled_scenes",), pixel=pixel),
        )
        assert again.success
        TALLY["runs survived"] += 1
    after = snapshot(out)
    rasters = {k: v for k, v in before.items() if k.endswith(".tif")}
    assert {k: v for k, v in after.items() if k.endswith(".tif")} == rasters  # same bytes again
    assert set(after) == set(before)  # nothing added, nothing stale
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(s["sha256"] for s in manifest["scenes"]) == sorted(rasters.values())
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]


# --- transient I/O failures and failing partitions ---------------------------------------------


def test_a_transient_download_failure_is_retried_and_the_run_succeeds(tmp_path, monkeypatch):
    from icecrack_assets.catalog.landing import LandingZoneCatalog
    from icecrack_assets.definitions import build_defs

    sp.simulate(tmp_path, ["thwaites"], count=1)
    real_fetch = LandingZoneCatalog.fetch
    calls = {"n": 0}

    def flaky_fetch(self, item, landing_dir):
        calls["n"] += 1
        if calls["n"] == 1:
            TALLY["faults injected"] += 1
            raise ConnectionResetError("injected: connection reset by peer during download")
        return real_fetch(self, item, landing_dir)

    monkeypatch.setattr(LandingZoneCatalog, "fetch", flaky_fetch)
    job = build_defs(data_root=str(tmp_path), pixel_size=sp.PIXEL).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            partition_key=sp.key("thwaites"),
            asset_selection=[dg.AssetKey("raw_scenes")],
            raise_on_error=False,
            run_config={"resources": {"grid": {"config": {"pixel_size": sp.PIXEL}}}},
        )
        assert result.success
        kinds = [e.event_type for e in result.all_events]
        assert dg.DagsterEventType.STEP_UP_FOR_RETRY in kinds
        assert calls["n"] == 2
        TALLY["runs survived"] += 1


def test_a_failing_partition_does_not_block_the_others(tmp_path):
    """Backfill semantics: one run per partition; a corrupt partition fails alone."""
    from icecrack_assets.definitions import build_defs

    regions = ["jakobshavn", "kangerdlussuaq", "thwaites"]
    sp.simulate(tmp_path, regions, count=1)
    bad = next((tmp_path / "landing").glob("S1A_IW_*_*.tif"))  # one Greenland scene...
    victim = "jakobshavn" if get_region("jakobshavn").intersects(_bounds(bad)) else "kangerdlussuaq"
    bad.write_bytes(bad.read_bytes()[:600])  # ...truncated to its header: a broken copy
    TALLY["faults injected"] += 1
    job = build_defs(data_root=str(tmp_path), pixel_size=sp.PIXEL).resolve_implicit_global_asset_job_def()
    outcome = {}
    with dg.instance_for_test() as instance:
        for region in regions:
            result = job.execute_in_process(
                instance=instance,
                partition_key=sp.key(region),
                raise_on_error=False,
                asset_selection=sp.INGEST[:2],
                run_config=sp.run_config(ops=("despeckled_scenes",)),
            )
            outcome[region] = result.success
        materialised = instance.get_materialized_partitions(dg.AssetKey("despeckled_scenes"))
    assert outcome[victim] is False
    assert all(ok for r, ok in outcome.items() if r != victim)
    assert str(sp.key(victim)) not in materialised
    assert {str(sp.key(r)) for r in regions if r != victim} <= materialised
    TALLY["runs survived"] += len(regions) - 1
    TALLY["bad inputs refused"] += 1


def _bounds(path: Path) -> tuple[float, float, float, float]:
    import rasterio

    with rasterio.open(path) as ds:
        return tuple(ds.bounds)


# --- a hostile landing zone --------------------------------------------------------------------


def s1_name(region: str, when: dt.datetime, uid: str) -> str:
    r = get_region(region)
    return build_name(
        "S1A", r.mode, r.product, ("HH",), when, when + dt.timedelta(seconds=25), 54321, "06A1B2", uid
    )


def good_scene(landing: Path, region: str, when: dt.datetime, uid: str) -> Path:
    r = get_region(region)
    return write_tiny_raster(
        landing / f"{s1_name(region, when, uid)}.tif",
        np.full((16, 16), 0.1, np.float32),
        epsg=r.epsg,
        origin=(r.bounds[0] + 1000, r.bounds[3] - 1000),
        pixel=r.pixel_size,
    )


def test_the_sensor_survives_a_hostile_landing_zone(tmp_path, caplog):
    landing = tmp_path / "landing"
    landing.mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir(exist_ok=True)
    july = dt.datetime(2024, 7, 10, 10, tzinfo=dt.timezone.utc)
    good = good_scene(landing, "jakobshavn", july, "AAAA")
    hostile = {
        "malformed": landing / f"{s1_name('jakobshavn', july, 'BAD1')}.tif",
        "partial": landing / f".{s1_name('jakobshavn', july, 'BAD2')}.tif.part",
        "truncated": landing / f"{s1_name('jakobshavn', july, 'BAD3')}.tif",
        "no_crs": landing / f"{s1_name('jakobshavn', july, 'BAD4')}.tif",
        "directory": landing / f"{s1_name('jakobshavn', july, 'BAD5')}.tif",
        "dangling_link": landing / f"{s1_name('jakobshavn', july, 'BAD6')}.tif",
        "empty": landing / f"{s1_name('jakobshavn', july, 'BAD7')}.tif",
    }
    hostile["malformed"].write_text("not a GeoTIFF")
    hostile["partial"].write_bytes(good.read_bytes()[:300])
    hostile["truncated"].write_bytes(good.read_bytes()[:120])
    import rasterio

    with rasterio.open(
        hostile["no_crs"], "w", driver="GTiff", width=8, height=8, count=1, dtype="float32"
    ) as ds:
        ds.write(np.ones((1, 8, 8), np.float32))
    hostile["directory"].mkdir()
    hostile["dangling_link"].symlink_to(outside / "gone.tif")
    hostile["empty"].write_bytes(b"")
    TALLY["faults injected"] += len(hostile)
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(
            instance=instance,
            resources={"data": DataRoot(root=str(tmp_path)), "scene_catalog": SceneCatalogResource()},
        )
        result = new_acquisition_sensor(ctx)  # must not raise
        TALLY["runs survived"] += 1
        assert [str(r.partition_key) for r in result.run_requests] == ["jakobshavn|2024"]
        seen = json.loads(result.cursor)
        refused = [
            k
            for k, p in hostile.items()
            if p.name.split(".")[0].lstrip(".") not in {s.split(".")[0] for s in seen}
        ]
        assert refused == list(hostile)  # none of them became a scene
        TALLY["bad inputs refused"] += len(refused)


def test_a_duplicated_scene_triggers_one_run_once(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    good = good_scene(landing, "jakobshavn", dt.datetime(2024, 7, 10, 10, tzinfo=dt.timezone.utc), "AAAA")
    shutil.copy(good, landing / f"{good.stem}.tiff")
    resources = {"data": DataRoot(root=str(tmp_path)), "scene_catalog": SceneCatalogResource()}
    with dg.instance_for_test() as instance:
        first = new_acquisition_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert len(first.run_requests) == 1
        again = new_acquisition_sensor(
            dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=resources)
        )
        assert not again.run_requests  # the duplicate must not trigger a run on every tick


def test_scene_ids_that_try_to_escape_the_data_directory_are_refused(tmp_path):
    july = dt.datetime(2024, 7, 10, 10, tzinfo=dt.timezone.utc)
    ring = ((-49.9, 69.1), (-49.0, 69.1), (-49.0, 69.3), (-49.9, 69.3), (-49.9, 69.1))
    name = s1_name("jakobshavn", july, "EVIL")
    evil_ids = [f"../../{name}", f"{name}/../../../etc/passwd", f"/tmp/{name}", f"..\\..\\{name}"]
    items = [
        CatalogItem(
            scene_id=i,
            acquired=july,
            mode="IW",
            product="GRDH",
            polarisations=("HH",),
            footprint=ring,
            href=f"https://example.invalid/{i}",
            source="stac",
        )
        for i in evil_ids
    ]
    TALLY["faults injected"] += len(items)

    class Log:
        def __init__(self):
            self.lines = []

        def warning(self, msg):
            self.lines.append(msg)

        info = warning

    log = Log()
    requests, cursor = plan_runs(items, {}, model_exists=True, log=log)
    assert requests == []
    assert len([line for line in log.lines if "not a Sentinel-1 product name" in line]) == len(items)
    TALLY["bad inputs refused"] += len(items)


def test_zz_report_fault_injection_tally():
    """Write the tally (runs last in this module; the terminal summary prints it). Files lost must be 0."""
    line = fault_line()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "fault-injection.txt").write_text(line + "\n")
    assert TALLY["files lost"] == 0
    assert TALLY["faults injected"] > 0
