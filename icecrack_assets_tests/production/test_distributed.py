"""Scale-out on a real dask ``distributed`` LocalCluster (127.0.0.1, three worker processes).

Three partitions are launched as three concurrent runs of ``distributed_season_job`` (as a
backfill would), each in its own process; every step runs on the cluster's workers. Then the
model is trained and the inference step of the three partitions runs the same way.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dagster as dg
import pytest

from icecrack_assets.dagster_defs.executors import dask_task_key
from icecrack_assets_tests.helpers import small_pipeline as sp

pytestmark = [pytest.mark.distributed, pytest.mark.slow]
REGIONS = ["jakobshavn", "thwaites", "amery"]


def test_task_keys_differ_between_runs_of_one_job():
    """The fix for concurrent runs on one cluster: dask would merge equal keys into one task."""
    a = dask_task_key("distributed_season_job", "despeckled_scenes", "run-a")
    b = dask_task_key("distributed_season_job", "despeckled_scenes", "run-b")
    assert a != b and a.startswith("distributed_season_job.despeckled_scenes")


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=3,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        memory_limit="3GiB",
    ) as c:
        with distributed.Client(c) as client:
            client.wait_for_workers(3, timeout=120)
            yield c, client


def step_spans(instance: dg.DagsterInstance, run_id: str, step: str) -> tuple[int, float, float]:
    """(pid, start, end) of one step of one run, from the event log."""
    logs = [e for e in instance.all_logs(run_id) if e.is_dagster_event and e.step_key == step]
    start = next(e for e in logs if e.dagster_event_type == dg.DagsterEventType.STEP_START)
    end = next(e for e in logs if e.dagster_event_type == dg.DagsterEventType.STEP_SUCCESS)
    return start.dagster_event.pid, start.timestamp, end.timestamp


def launch_concurrently(scheduler: str, home: Path, data: Path, assets: list[str]) -> list[str]:
    with ProcessPoolExecutor(len(REGIONS), mp_context=mp.get_context("spawn")) as pool:
        results = list(
            pool.map(
                sp.launch_distributed_run,
                REGIONS,
                [scheduler] * 3,
                [str(home)] * 3,
                [str(data)] * 3,
                [assets] * 3,
            )
        )
    assert [ok for _, ok in results] == [True] * 3, results
    return [run_id for run_id, _ in results]


def overlapping_pairs(spans: list[tuple[int, float, float]]) -> int:
    return sum(1 for i, a in enumerate(spans) for b in spans[i + 1 :] if a[1] < b[2] and b[1] < a[2])


def test_despeckling_and_inference_of_several_partitions_run_in_parallel_on_dask(cluster, tmp_path):
    local_cluster, client = cluster
    worker_pids = set(client.run(os.getpid).values())
    home, data = tmp_path / "dagster_home", tmp_path / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs()  # create the SQLite tables once, before concurrent runs race to
        sp.simulate(data, REGIONS, count=1)
        # a model first (one partition, in process), so the dask round can run inference too
        from icecrack_assets.definitions import defs

        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            partition_key=sp.key(REGIONS[0]),
            asset_selection=sp.INGEST,
            run_config=sp.run_config(data, ops=("despeckled_scenes", "labelled_samples")),
        )
        assert result.success
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey("crack_model")],
            run_config=sp.run_config(data, ops=("crack_model",)),
            raise_on_error=False,  # the tiny model fails its blocking floor check; the bundle is written
        )
        assert any(e.event_type_value == "ASSET_MATERIALIZATION" for e in result.all_events)

        maps = launch_concurrently(
            local_cluster.scheduler_address,
            home,
            data,
            ["raw_scenes", "despeckled_scenes", "labelled_samples", "crack_maps"],
        )
        despeckle = [step_spans(instance, r, "despeckled_scenes") for r in maps]
        inference = [step_spans(instance, r, "crack_maps") for r in maps]
        for spans in (despeckle, inference):
            assert {pid for pid, _, _ in spans} <= worker_pids  # ran on dask workers, not here
            assert len({pid for pid, _, _ in spans}) >= 2  # spread over several workers
        runs = [instance.get_run_record_by_id(r) for r in maps]
        assert overlapping_pairs([(0, r.start_time, r.end_time) for r in runs]) >= 1
        print(
            f"dask: despeckling steps overlapping {overlapping_pairs(despeckle)}/3 pairs, "
            f"inference steps {overlapping_pairs(inference)}/3 pairs, "
            f"{len({p for p, _, _ in despeckle + inference})} worker processes used"
        )

        for region, run_id in zip(REGIONS, maps):
            key = str(sp.key(region))
            record = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("crack_maps"), asset_partitions=[key]), limit=1
            ).records[0]
            assert record.run_id == run_id  # each partition really computed by its own run
            assert (data / "maps" / region / "2024" / f"{region}_2024_probability.tif").exists()
