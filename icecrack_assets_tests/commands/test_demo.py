"""The demo's stage times are Dagster's step stats of its runs, summed per step over partitions."""

from __future__ import annotations

import time

import dagster as dg

from icecrack_assets.commands.demo import step_seconds

parts = dg.StaticPartitionsDefinition(["a", "b"])


@dg.asset(partitions_def=parts)
def slow() -> None:
    time.sleep(0.3)


@dg.asset(partitions_def=parts, deps=[slow])
def fast() -> None:
    pass


def test_stage_times_sum_each_step_over_the_runs():
    job = dg.Definitions(assets=[slow, fast], jobs=[dg.define_asset_job("both")]).resolve_job_def("both")
    with dg.instance_for_test() as instance:
        ids = [job.execute_in_process(instance=instance, partition_key=k).run_id for k in ("a", "b")]
        only_fast = job.execute_in_process(
            instance=instance, partition_key="a", asset_selection=[dg.AssetKey("fast")]
        ).run_id
        steps, runs_s = step_seconds(instance, [*ids, only_fast])
    assert list(steps) == ["slow", "fast"]  # in execution order
    assert 0.6 <= steps["slow"] < 3.0  # two runs of 0.3 s each
    assert steps["fast"] < steps["slow"]
    assert runs_s >= sum(steps.values())  # a run's wall time holds its steps
