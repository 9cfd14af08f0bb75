"""``icecrack demo``: simulate a season for two regions and materialise the whole graph through Dagster.

Runs go into the persistent local instance (``DAGSTER_HOME``, default ``<data>/dagster_home``)
through the project's jobs, so ``dg dev`` shows them under their job, with lineage, metadata and
checks: per partition one ``season_job`` run ingests, despeckles and samples, ``train_job`` trains
on every partition's samples, a second ``season_job`` run per partition maps, ``statistics_job``
summarises. The stage times printed are Dagster's step stats of those runs. The instance limits the ``training`` pool
to one slot, as deployments do. When the model stays below the method's floor its blocking check
fails (visible in the UI) and the demo maps with ``model: newest``, recorded on every map as
"not checked".
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from icecrack_assets.errors import IceCrackError
from icecrack_assets.layout import DataLayout
from icecrack_assets.ml.method import METHOD_OA, METHOD_PRECISION, METHOD_RECALL
from icecrack_assets.regions import FIRST_SENTINEL1_YEAR, get_region

if TYPE_CHECKING:  # dagster is imported inside run(), so the CLI starts without it
    import dagster as dg

DEFAULT_REGIONS = "jakobshavn,thwaites"
# crack_model's fine-tune: 20 epochs on 64-px windows with the shipped model's encoder kept (test
# F1 ±1 0.907 in 99 s, against 0.907 in 185 s for 30 epochs of every layer; docs/model.md)
DEMO_EPOCHS = 20
# the local demo instance: no telemetry; one training at a time (crack_model is in pool "training")
DEMO_INSTANCE = """telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="simulate two regions' season and run the whole chain through Dagster")
    p.add_argument(
        "--data-root",
        default=str(DataLayout.at().root),
        help="folder for all outputs (default: data)",
    )
    p.add_argument("--regions", default=DEFAULT_REGIONS, help=f"comma-separated (default: {DEFAULT_REGIONS})")
    p.add_argument("--year", type=int, default=2024)
    p.add_argument("--count", type=int, default=2, help="simulated scenes per region (default: 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--pixel-size",
        type=float,
        default=0.0,
        help="processing spacing in metres (default: each region's own)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=DEMO_EPOCHS,
        help=f"crack_model's fine-tune epochs (default {DEMO_EPOCHS}, the shipped default model's encoder "
        "kept: test P 0.894 / R 0.921 against the method's 0.786 / 0.894; README)",
    )
    p.add_argument("--max-minutes", type=float, default=6.0, help="training time budget")
    p.set_defaults(func=run)


def _init() -> dict[str, str | bool]:
    """Fine-tune the decoder of the shipped default model when this install has one (a better model,
    sooner: the encoder it learnt on every source is kept)."""
    from icecrack_assets.ml.shipped import default_model_path

    return {"init": "default", "freeze_encoder": True} if default_model_path() is not None else {}


def prepare_instance(data_root: Path) -> Path:
    """Use DAGSTER_HOME if set, else ``<data>/dagster_home`` with telemetry off."""
    home = Path(os.environ.get("DAGSTER_HOME") or (data_root / "dagster_home")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(DEMO_INSTANCE)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def run(args: argparse.Namespace) -> int:
    regions = [get_region(r.strip()).name for r in args.regions.split(",") if r.strip()]
    if not FIRST_SENTINEL1_YEAR <= args.year:
        raise IceCrackError(f"--year must be {FIRST_SENTINEL1_YEAR} or later")
    if args.count <= 0:
        raise IceCrackError("--count must be positive")
    data_root = Path(args.data_root).resolve()
    home = prepare_instance(data_root)

    import dagster as dg

    from icecrack_assets.dagster_defs.jobs import INGEST_ASSETS
    from icecrack_assets.dagster_defs.partitions import partition_key
    from icecrack_assets.dagster_defs.resources import ProcessingGrid
    from icecrack_assets.definitions import build_defs
    from icecrack_assets.simulator.scenes import simulate_season

    grid = ProcessingGrid(pixel_size=args.pixel_size)
    defs = build_defs(data_root=str(data_root), pixel_size=args.pixel_size)
    instance = dg.DagsterInstance.get()
    run_ids: list[str] = []
    blocked: list[str] = []

    def launch(
        job_name: str,
        assets: tuple[str, ...],
        key: dg.MultiPartitionKey | None,
        config: dict[str, Any] | None = None,
        log_level: str = "WARNING",
    ) -> None:
        """One run of ``job_name`` (one partition, or the unpartitioned job) for ``assets``."""
        t0 = time.perf_counter()
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance,
            partition_key=key,
            raise_on_error=False,
            asset_selection=[dg.AssetKey(a) for a in assets],
            run_config={
                "ops": config or {},
                "loggers": {"console": {"config": {"log_level": log_level}}},
            },
            tags={"icecrack/demo": "true"},
        )
        run_ids.append(result.run_id)
        what = f"{job_name} {key or ''}".strip()
        print(f"  run {what:<30} {', '.join(assets):<52} {time.perf_counter() - t0:6.1f} s")
        if not result.success:
            failed = _failed_blocking_checks(result)
            if failed and _materialized(result):  # written, but its blocking check failed
                blocked.extend(failed)
                return
            failure = next((e for e in result.all_events if e.is_failure), None)
            why = failure.message if failure else "see the run in the Dagster UI"
            raise IceCrackError(f"{job_name} failed for {key or 'all partitions'}: {why}")

    print(f"icecrack demo: {', '.join(regions)} {args.year}, {args.count} scenes each -> {data_root}")
    # a fresh install compiles the despeckling kernels (~20 s): on the other core, while simulating
    from icecrack_assets.sar.despeckle.ppb import warm_up_in_background

    warm_up_in_background()
    wall0 = time.perf_counter()
    t0 = time.perf_counter()
    for i, name in enumerate(regions):
        simulate_season(grid.region(name), args.year, args.count, args.seed + 1000 * i, data_root / "landing")
    simulate_s = time.perf_counter() - t0
    print(f"  {'simulate':<87} {simulate_s:6.1f} s")
    keys = [partition_key(args.year, r) for r in regions]
    # season_job per partition: ingest, despeckle and sample in one run; the map needs the model,
    # which learns from every partition's samples, so it is the same job's second run per partition
    for key in keys:
        launch("season_job", INGEST_ASSETS, key)
    launch(
        "train_job",
        ("crack_model",),
        None,
        {"crack_model": {"config": {"epochs": args.epochs, "max_minutes": args.max_minutes, **_init()}}},
        log_level="CRITICAL",  # a failed floor check is reported below, not as a stack trace
    )
    # a model below the floor is refused by default; the demo maps with it, recorded as unchecked
    rule = "newest" if blocked else "checked"
    for key in keys:
        launch("season_job", ("crack_maps",), key, {"crack_maps": {"config": {"model": rule}}})
    launch("statistics_job", ("crack_statistics",), None)
    wall = time.perf_counter() - wall0
    steps, runs_s = step_seconds(instance, run_ids)
    print("\nstage times (Dagster's step stats of these runs, summed over partitions):")
    print(f"  {'simulate':<22} {simulate_s:7.1f} s")
    for name, seconds in steps.items():
        print(f"  {name:<22} {seconds:7.1f} s")
    print(f"  {'run set-up/teardown':<22} {runs_s - sum(steps.values()):7.1f} s   ({len(run_ids)} runs)")
    print(f"  {'total':<22} {wall:7.1f} s")

    model_event = instance.get_latest_materialization_event(dg.AssetKey("crack_model"))
    materialization = model_event.asset_materialization if model_event else None
    meta = materialization.metadata if materialization else {}

    # crack_model writes all_metrics as MetadataValue.json(flatten_metrics(...)): a flat str -> float dict
    flat = cast("Mapping[str, Any]", meta["all_metrics"].value) if "all_metrics" in meta else {}

    def val(k: str) -> float:
        return float(flat.get(k, float("nan")))

    print(
        f"\nmodel on held-out spatial blocks (the method reports precision {METHOD_PRECISION}, "
        f"recall {METHOD_RECALL}, OA {METHOD_OA}):"
    )
    for split in ("test", "val"):
        for tol, label in (("tol1", "1-px tolerance"), ("strict", "strict")):
            k = f"{split}_{tol}"
            if f"{k}_precision" in flat:
                print(
                    f"  {split:<4} {label:<14} precision {val(f'{k}_precision'):.3f}  recall "
                    f"{val(f'{k}_recall'):.3f}  F1 {val(f'{k}_f1'):.3f}  IoU {val(f'{k}_iou'):.3f}  "
                    f"OA {val(f'{k}_oa'):.3f}"
                )
    print("\ncrack maps:")
    for name in regions:
        folder = data_root / "maps" / name / str(args.year)
        for path in sorted(folder.glob("*")):
            print(f"  {path}")
    if blocked:
        print(
            f"\nblocking check failed: {', '.join(sorted(set(blocked)))} (the model is below the "
            "method's floor on this small simulated season); the maps were made with model: newest "
            "and say 'not checked'"
        )
    print(f"\nstatistics: {data_root / 'stats' / 'crack_statistics.csv'}")
    print(f"STAC catalogue: {data_root / 'maps' / 'catalog.json'}")
    print("\nthe UI (crack_maps shows each map's caption and, under quicklook_thumbnail, the map):")
    print(f"  DAGSTER_HOME={home} ICECRACK_DATA_ROOT={data_root} dg dev   # then http://127.0.0.1:3000")
    print("  (or: dagster dev -w workspace.yaml, with the same two variables)")
    return 0


def step_seconds(instance: dg.DagsterInstance, run_ids: list[str]) -> tuple[dict[str, float], float]:
    """Seconds per step key summed over ``run_ids`` (first-seen order), and the runs' wall seconds.

    From Dagster's own step stats (``get_run_step_stats``) and run records, so the figures printed
    are the ones the UI shows for the same runs.
    """
    steps: dict[str, float] = {}
    runs_s = 0.0
    for run_id in run_ids:
        for stat in sorted(instance.get_run_step_stats(run_id), key=lambda s: s.start_time or 0.0):
            if stat.start_time is not None and stat.end_time is not None:
                steps[stat.step_key] = steps.get(stat.step_key, 0.0) + stat.end_time - stat.start_time
        record = instance.get_run_record_by_id(run_id)
        if record is not None and record.start_time is not None and record.end_time is not None:
            runs_s += record.end_time - record.start_time
    return steps, runs_s


def _failed_blocking_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        e.asset_check_evaluation_data.asset_check_key.to_user_string()
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and not e.asset_check_evaluation_data.passed
        and e.asset_check_evaluation_data.blocking
    ]


def _materialized(result: dg.ExecuteInProcessResult) -> bool:
    return any(e.event_type_value == "ASSET_MATERIALIZATION" for e in result.all_events)
