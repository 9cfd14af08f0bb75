"""new_acquisition_sensor: new Sentinel-1 scenes in the catalogue become runs of their partitions.

The cursor remembers each scene id with a fingerprint (size / checksum), so a repeated item
triggers nothing and a replaced file triggers again; run keys are derived from the partition and
its scene set, so the same request is never launched twice. A file or item that cannot be
described is logged with its reason and retried next tick; it never stops the tick.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict

import dagster as dg

from icecrack_assets.catalog.base import CatalogItem, Problem, usable_items
from icecrack_assets.dagster_defs.jobs import INGEST_ASSETS, SEASON_ASSETS, season_job
from icecrack_assets.dagster_defs.partitions import partition_key
from icecrack_assets.dagster_defs.resources import DataRoot, SceneCatalogResource
from icecrack_assets.regions import REGIONS, regions_for


def list_catalog(catalog, now: dt.datetime) -> tuple[list[CatalogItem], list[Problem]]:
    """Everything the catalogue offers: a landing zone is scanned, a remote one searched per season."""
    if hasattr(catalog, "scan"):
        return catalog.scan()
    items: list[CatalogItem] = []
    problems: list[Problem] = []
    for region in REGIONS.values():
        for year in (now.year - 1, now.year):
            start, end = region.season(year)
            if start > now:
                continue
            try:
                items.extend(catalog.search(region, start, min(end, now)))
            except Exception as exc:
                problems.append(Problem(f"{region.name}/{year}", f"search failed: {exc}"))
    return items, problems


def fingerprint(item: CatalogItem) -> str:
    return item.checksum or f"{item.size}:{item.href}"


def plan_runs(
    items: list[CatalogItem], seen: dict[str, str], model_exists: bool, log
) -> tuple[list[dg.RunRequest], dict[str, str]]:
    """Run requests for new or changed items, and the updated cursor state."""
    by_partition: dict[tuple[int, str], list[str]] = defaultdict(list)
    updated = dict(seen)
    usable, refused = usable_items(items)
    for item in refused:
        if seen.get(item.scene_id) != fingerprint(item):  # log once, not every tick
            log.warning(f"skipped {item.href}: scene id {item.scene_id!r} is not a Sentinel-1 product name")
            updated[item.scene_id] = fingerprint(item)
    for item in usable:
        fp = fingerprint(item)
        if seen.get(item.scene_id) == fp:
            continue
        regions = regions_for(list(item.footprint), item.acquired, item.mode)
        if not regions:
            log.info(f"{item.scene_id}: outside every region's AOI, season or mode; not requested")
        for region in regions:
            by_partition[(item.acquired.year, region.name)].append(item.scene_id)
        updated[item.scene_id] = fp
    selection = SEASON_ASSETS if model_exists else INGEST_ASSETS
    requests = []
    for (year, region), ids in sorted(by_partition.items()):
        digest = hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()[:12]
        requests.append(
            dg.RunRequest(
                run_key=f"{region}|{year}:{digest}",
                partition_key=partition_key(year, region),
                asset_selection=[dg.AssetKey(a) for a in selection],
                tags={"icecrack/new_scenes": str(len(ids))},
            )
        )
    return requests, updated


@dg.sensor(
    job=season_job,
    minimum_interval_seconds=60,
    description="Watches the scene catalogue (default: data/landing) for new Sentinel-1 "
    "acquisitions and requests runs of their year x region partitions.",
)
def new_acquisition_sensor(
    context: dg.SensorEvaluationContext, data: DataRoot, scene_catalog: SceneCatalogResource
) -> dg.SensorResult | dg.SkipReason:
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    catalog = scene_catalog.build(data)
    items, problems = list_catalog(catalog, dt.datetime.now(dt.timezone.utc))
    for problem in problems:
        context.log.warning(f"skipped {problem.href}: {problem.reason}")
    model_exists = context.instance.get_latest_materialization_event(dg.AssetKey("crack_model")) is not None
    requests, updated = plan_runs(items, seen, model_exists, context.log)
    if not requests:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"no new acquisitions ({len(items)} known, {len(problems)} unreadable)"
            ),
            cursor=json.dumps(updated, sort_keys=True),
        )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(updated, sort_keys=True))
