"""Seasonal schedules: after each ice sheet's season closes, one run per region of that season.

Built from ``regions.py``: one schedule per ice sheet, due at 06:00 UTC on the day after its regions'
season ends, so a new region joins its ice sheet's schedule (or brings a new one) with no edit here.
"""

from __future__ import annotations

import dagster as dg

from icecrack_assets.dagster_defs.jobs import season_job
from icecrack_assets.dagster_defs.partitions import partition_key
from icecrack_assets.regions import Region, ice_sheets


def season_run_requests(schedule: str, year: int, regions: tuple[str, ...]) -> list[dg.RunRequest]:
    return [
        dg.RunRequest(
            run_key=f"{schedule}:{year}:{r}",
            partition_key=partition_key(year, r),
            tags={"icecrack/schedule": schedule},
        )
        for r in regions
    ]


def _season_schedule(ice_sheet: str, regions: tuple[Region, ...]) -> dg.ScheduleDefinition:
    closes = {r.season_close for r in regions}
    if len(closes) != 1:
        raise ValueError(f"regions of {ice_sheet} close their seasons on different days: {sorted(closes)}")
    ((month, day),) = closes
    name = f"{ice_sheet}_season_schedule"
    names = tuple(r.name for r in regions)
    first = regions[0]
    s0, s1 = first.season(2001)

    @dg.schedule(
        name=name,
        job=season_job,
        cron_schedule=f"0 6 {day} {month} *",
        execution_timezone="UTC",
        description=(
            f"{day} {s1.replace(month=month, day=day):%B}: map the {ice_sheet.title()} regions' "
            f"{s0:%B}-{s1:%B} season just ended ({', '.join(names)}), one run per region."
        ),
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        return season_run_requests(name, context.scheduled_execution_time.year, names)

    return _schedule


SEASON_SCHEDULES: dict[str, dg.ScheduleDefinition] = {
    sheet: _season_schedule(sheet, regions) for sheet, regions in ice_sheets().items()
}
greenland_season_schedule = SEASON_SCHEDULES["greenland"]
antarctic_season_schedule = SEASON_SCHEDULES["antarctic"]
