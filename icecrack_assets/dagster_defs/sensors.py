"""new_acquisition_sensor: new Sentinel-1 scenes in the catalogue become runs of their partitions.

The cursor remembers each scene id with a fingerprint (the catalogue's checksum; in the landing
zone the SHA-256 of the content), so a repeated item triggers nothing and a replaced file triggers
again, even at the same size; run keys are derived from the partition and its scene set, so the
same request is never launched twice. A file or item that cannot be described is retried every
tick but logged once per reason (the cursor keeps what was reported); it never stops the tick, and
an unreadable landing zone gives a skip reason. Every log line goes through ``safe_for_log``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict

import dagster as dg

from icecrack_assets.catalog.base import CatalogItem, Problem, content_duplicates, usable_items
from icecrack_assets.dagster_defs.jobs import INGEST_ASSETS, SEASON_ASSETS, season_job
from icecrack_assets.dagster_defs.partitions import partition_key
from icecrack_assets.dagster_defs.resources import DataRoot, SceneCatalogResource
from icecrack_assets.ml.shipped import default_model_path
from icecrack_assets.redaction import safe_for_log
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
                problems.append(Problem(f"{region.name}/{year}", f"search failed: {safe_for_log(exc)}"))
    return items, problems


def fingerprint(item: CatalogItem) -> str:
    return item.checksum or f"{item.size}:{item.href}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def plan_runs(
    items: list[CatalogItem], seen: dict[str, str], model_exists: bool, log
) -> tuple[list[dg.RunRequest], dict[str, str]]:
    """Run requests for new or changed items, and the updated cursor state.

    Refused ids, non-GRD products and content duplicates are logged once (remembered in ``seen``
    under ``!``-prefixed keys, which no scene id can start with) and never requested. A partition is
    mapped too once a model exists, and at once when its new scenes are real (no simulator truth)
    and the shipped default model is installed: crack_maps maps real scenes with it.
    """
    by_partition: dict[tuple[int, str], list[str]] = defaultdict(list)
    simulated: dict[tuple[int, str], bool] = defaultdict(bool)
    updated = dict(seen)

    def once(key: str, fp: str, message: str) -> None:
        if seen.get(key) != fp:  # log once, not every tick
            log.warning(safe_for_log(message))
        updated[key] = fp

    usable, refused = usable_items(items)
    for item in refused:
        once(
            f"!refused:{item.href}",
            fingerprint(item),
            f"skipped {item.href}: scene id {item.scene_id!r} is not a Sentinel-1 product name",
        )
    _, duplicates = content_duplicates([it for it in items if it not in refused])
    for item in duplicates:
        once(
            f"!duplicate:{item.href}",
            fingerprint(item),
            f"skipped {item.href}: same content as another scene ({item.checksum}); counted once",
        )
    for item in usable:
        fp = fingerprint(item)
        if not item.product.upper().startswith("GRD"):
            once(
                f"!product:{item.href}",
                fp,
                f"skipped {item.scene_id}: {item.product} product; only GRD is processed",
            )
            continue
        if seen.get(item.scene_id) == fp:
            continue
        regions = regions_for(list(item.footprint), item.acquired, item.mode)
        if not regions:
            log.info(
                safe_for_log(f"{item.scene_id}: outside every region's AOI, season or mode; not requested")
            )
        for region in regions:
            by_partition[(item.acquired.year, region.name)].append(f"{item.scene_id}={fp}")
            simulated[(item.acquired.year, region.name)] |= item.truth_href is not None
        updated[item.scene_id] = fp
    shipped = default_model_path() is not None
    requests = []
    for (year, region), ids in sorted(by_partition.items()):
        mappable = model_exists or (shipped and not simulated[(year, region)])
        selection = SEASON_ASSETS if mappable else INGEST_ASSETS
        # ids carry their fingerprints: a replaced scene gets a new run key (the daemon drops a reused one)
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
    state = read_cursor(context.cursor)
    catalog = scene_catalog.build(data)
    if hasattr(catalog, "hash_cache"):
        catalog.hash_cache = state["hashes"]
    try:
        items, problems = list_catalog(catalog, dt.datetime.now(dt.timezone.utc))
    except OSError as exc:  # an unreadable or vanished landing zone: skip, keep the cursor
        return dg.SkipReason(
            safe_for_log(f"cannot read the scene catalogue: {exc.strerror or exc} ({exc.filename or ''})")
        )
    reported = report_problems(problems, state["reported"], context.log)
    model_exists = context.instance.get_latest_materialization_event(dg.AssetKey("crack_model")) is not None
    requests, updated = plan_runs(items, state["seen"], model_exists, context.log)
    cursor = write_cursor(updated, reported, getattr(catalog, "hash_cache", {}))
    if not requests:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"no new acquisitions ({len(items)} known, {len(problems)} unreadable)"
            ),
            cursor=cursor,
        )
    return dg.SensorResult(run_requests=requests, cursor=cursor)


def read_cursor(cursor: str | None) -> dict[str, dict]:
    """The sensor's state: ``seen`` scene fingerprints, ``reported`` problems, cached ``hashes``.

    The cursor stays a flat ``{scene_id: fingerprint}`` (as before); the other two live under
    ``!reported`` and ``!hashes``, keys no scene id can take.
    """
    raw = json.loads(cursor) if cursor else {}
    reported = dict(raw.pop("!reported", {}))
    hashes = dict(raw.pop("!hashes", {}))
    return {"seen": raw, "reported": reported, "hashes": hashes}


def write_cursor(seen: dict[str, str], reported: dict[str, str], hashes: dict[str, list]) -> str:
    return json.dumps({**seen, "!reported": reported, "!hashes": hashes}, sort_keys=True)


def report_problems(problems: list[Problem], reported: dict[str, str], log) -> dict[str, str]:
    """Log each problem once per reason; problems that went away are forgotten (and re-logged if back)."""
    now: dict[str, str] = {}
    for problem in problems:
        fp = _digest(problem.reason)
        if reported.get(problem.href) != fp:
            log.warning(safe_for_log(f"skipped {problem.href!r}: {problem.reason}"))
        now[problem.href] = fp
    return now
