import datetime as dt

import dagster as dg

from icecrack_assets.dagster_defs.partitions import partition_key
from icecrack_assets.dagster_defs.schedules import antarctic_season_schedule, greenland_season_schedule


def _requests(schedule, when):
    ctx = dg.build_schedule_context(scheduled_execution_time=when)
    return list(schedule(ctx))


def test_greenland_schedule_requests_each_glacier_of_the_season_just_ended():
    reqs = _requests(greenland_season_schedule, dt.datetime(2025, 9, 1, 6, tzinfo=dt.timezone.utc))
    assert sorted(r.partition_key for r in reqs) == sorted(
        [partition_key(2025, "jakobshavn"), partition_key(2025, "kangerdlussuaq")]
    )
    assert len({r.run_key for r in reqs}) == 2
    assert greenland_season_schedule.cron_schedule == "0 6 1 9 *"


def test_antarctic_schedule_requests_five_ice_shelves_after_february():
    reqs = _requests(antarctic_season_schedule, dt.datetime(2024, 3, 1, 6, tzinfo=dt.timezone.utc))
    assert sorted(str(r.partition_key) for r in reqs) == [
        f"{r}|2024" for r in ("amery", "fimbul", "nickerson", "shackleton", "thwaites")
    ]
    assert antarctic_season_schedule.cron_schedule == "0 6 1 3 *"


def test_schedules_fire_after_the_season_ends_not_during_it():
    from dagster._utils.schedules import cron_string_iterator

    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    first_gl = next(cron_string_iterator(start, greenland_season_schedule.cron_schedule, "UTC"))
    first_an = next(cron_string_iterator(start, antarctic_season_schedule.cron_schedule, "UTC"))
    assert (first_gl.month, first_gl.day) == (9, 1)
    assert (first_an.month, first_an.day) == (3, 1)
