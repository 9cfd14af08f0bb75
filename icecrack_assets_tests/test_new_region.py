"""Adding a region is one entry in regions.py: partitions, schedules, the sensor, the simulator and
the CLI all pick it up with no other edit.

The script below plays the edit (it adds two regions to ``REGIONS`` before anything else imports
it), then checks every consumer in a fresh interpreter, as a user who edited regions.py would see it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import dataclasses, datetime as dt, io, json, sys, contextlib
    from pathlib import Path
    from pyproj import Transformer
    from icecrack_assets import regions

    def aoi(lon, lat, epsg, half_w=20000, half_h=15000):
        x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
        x, y = round(x / 1000) * 1000, round(y / 1000) * 1000
        return (x - half_w, y - half_h, x + half_w, y + half_h)

    jak = regions.REGIONS["jakobshavn"]
    # an eighth region on an existing ice sheet (joins the Greenland schedule) ...
    regions.REGIONS["petermann"] = dataclasses.replace(
        jak, name="petermann", title="Petermann Glacier", centre_lonlat=(-60.9, 80.6),
        bounds=aoi(-60.9, 80.6, 3413), flow_deg=75.0)
    # ... and a ninth on a new ice cap with its own season (brings its own schedule)
    regions.REGIONS["austfonna"] = dataclasses.replace(
        jak, name="austfonna", title="Austfonna", ice_sheet="svalbard", centre_lonlat=(24.0, 79.7),
        bounds=aoi(24.0, 79.7, 3413), season_start=(7, 1), season_end=(9, 30), flow_deg=0.0)

    out = {}
    from icecrack_assets.dagster_defs.partitions import year_region_partitions
    out["partition_regions"] = sorted(
        {k.keys_by_dimension["region"] for k in year_region_partitions.get_partition_keys()})

    from icecrack_assets.dagster_defs.schedules import SEASON_SCHEDULES
    import dagster as dg
    sched = {}
    for sheet, s in SEASON_SCHEDULES.items():
        ctx = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2024, 10, 1, 6, tzinfo=dt.timezone.utc))
        reqs = s(ctx)
        sched[s.name] = [s.cron_schedule, sorted(r.partition_key for r in reqs)]
    out["schedules"] = sched

    from icecrack_assets.definitions import defs
    out["defs_schedules"] = sorted(s.name for s in defs.schedules)

    from icecrack_assets.simulator.scenes import simulate_scene, write_scene
    region = regions.get_region("petermann")
    landing = Path(sys.argv[1])
    scene = simulate_scene(region, dt.datetime(2024, 7, 20, 12, tzinfo=dt.timezone.utc), seed=3, shape=(64, 64))
    write_scene(scene, landing)
    out["simulated_crack_fraction"] = float((scene.truth == 1).mean())

    from icecrack_assets.catalog.landing import LandingZoneCatalog
    from icecrack_assets.dagster_defs.sensors import plan_runs
    import logging
    items, _ = LandingZoneCatalog(landing).scan()
    reqs, _ = plan_runs(items, {}, False, logging.getLogger("test"))
    out["sensor_partitions"] = sorted(r.partition_key for r in reqs)

    from icecrack_assets.cli import main
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(["regions"])
    out["cli_lists"] = [n for n in ("petermann", "austfonna") if n in buf.getvalue()]
    print(json.dumps(out))
    """
)


def test_an_eighth_region_reaches_every_consumer(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "landing")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"petermann", "austfonna"} <= set(out["partition_regions"])
    greenland = out["schedules"]["greenland_season_schedule"]
    assert greenland[0] == "0 6 1 9 *" and "petermann|2024" in greenland[1]
    svalbard = out["schedules"]["svalbard_season_schedule"]
    assert svalbard == ["0 6 1 10 *", ["austfonna|2024"]]
    assert "svalbard_season_schedule" in out["defs_schedules"]
    assert out["simulated_crack_fraction"] > 0
    assert out["sensor_partitions"] == ["petermann|2024"]
    assert out["cli_lists"] == ["petermann", "austfonna"]
