"""Seasonal schedules: after each hemisphere's season closes, one run per region of that season."""

from __future__ import annotations

import dagster as dg

from icecrack_assets.dagster_defs.jobs import season_job
from icecrack_assets.dagster_defs.partitions import partition_key
from icecrack_assets.regions import ANTARCTIC_REGIONS, GREENLAND_REGIONS


def season_run_requests(schedule: str, year: int, regions: tuple[str, ...]) -> list[dg.RunRequest]:
    return [
        dg.RunRequest(
            run_key=f"{schedule}:{year}:{r}",
            partition_key=partition_key(year, r),
            tags={"icecrack/schedule": schedule},
        )
        for r in regions
    ]


@dg.schedule(
    job=season_job,
    cron_schedule="0 6 1 9 *",
    execution_timezone="UTC",
    description="1 September: map the Greenland glaciers' July-August season just ended.",
)
def greenland_season_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    year = context.scheduled_execution_time.year
    return season_run_requests("greenland_season_schedule", year, GREENLAND_REGIONS)


@dg.schedule(
    job=season_job,
    cron_schedule="0 6 1 3 *",
    execution_timezone="UTC",
    description="1 March: map the Antarctic ice shelves' January-February season just ended.",
)
def antarctic_season_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    year = context.scheduled_execution_time.year
    return season_run_requests("antarctic_season_schedule", year, ANTARCTIC_REGIONS)
