"""A season backfill for all seven regions on one machine: wall time and peak memory.

Simulates one season per region, then materialises the season as one run per partition, several
runs at once (``--parallel``, like the QueuedRunCoordinator's ``max_concurrent_runs``), each run
using the code location's multiprocess executor (one process per step). Stages: ingest +
despeckling + samples for the seven partitions in parallel, one training run, then crack maps for
the seven partitions in parallel. Peak memory is the largest summed RSS of the whole process tree
(sampled every 0.2 s); the instance is a SQLite DAGSTER_HOME in the work folder unless
``DAGSTER_HOME`` is set (point it at deploy/dagster.yaml for PostgreSQL).

    python benchmarks/season_backfill.py                    # coarse 250 m grid: minutes
    python benchmarks/season_backfill.py --pixel-size 0     # each region's own grid: hours
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
GB = 1024**3


def run_partition(region: str, year: int, data: str, home: str, pixel: float, assets: list[str]) -> dict:
    """One run of one partition through the multiprocess executor (a run worker's job)."""
    import dagster as dg

    from icecrack_assets_tests.helpers import small_pipeline as sp

    ops = tuple(a for a in ("despeckled_scenes", "labelled_samples", "crack_maps") if a in assets)
    cfg = (
        sp.run_config(Path(data), pixel=pixel, ops=ops)
        if pixel
        # the benchmark's short training stays below the method's floor: map with it explicitly
        else {
            "resources": {"data": {"config": {"root": data}}},
            "ops": {"crack_maps": {"config": sp.MAPS_CONFIG}} if "crack_maps" in assets else {},
        }
    )
    t0 = time.perf_counter()
    with dg.DagsterInstance.from_config(home) as instance:
        result = dg.execute_job(
            dg.reconstructable(sp.season_job_def),
            instance=instance,
            asset_selection=[dg.AssetKey(a) for a in assets],
            tags=sp.partition_tags(region, year),
            run_config=cfg,
        )
        return {"region": region, "success": result.success, "seconds": round(time.perf_counter() - t0, 1)}


class TreeMemory:
    """Peak of the summed RSS of this process and all its descendants."""

    def __init__(self) -> None:
        import psutil

        self.root, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for p in [self.root, *self.root.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.2)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    from icecrack_assets.regions import REGIONS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--year", type=int, default=2024)
    ap.add_argument("--count", type=int, default=2, help="scenes per region (default 2)")
    ap.add_argument("--pixel-size", type=float, default=250.0, help="metres; 0 = each region's own grid")
    ap.add_argument(
        "--parallel",
        type=int,
        default=max(2, os.cpu_count() or 2),
        help="concurrent runs (default: cores, at least 2)",
    )
    ap.add_argument("--workdir", default="")
    args = ap.parse_args()
    regions = list(REGIONS)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="icecrack-backfill-"))
    data = work / "data"
    home = Path(os.environ.get("DAGSTER_HOME") or work / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    import dagster as dg

    from icecrack_assets_tests.helpers import small_pipeline as sp

    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs()  # create the storage before concurrent runs race to
    print(
        f"season backfill: {len(regions)} regions x {args.count} scenes, {args.year}, "
        f"grid {args.pixel_size or 'native'} m, {args.parallel} runs at once, {os.cpu_count()} cores",
        flush=True,
    )
    timings, results = {}, []
    with TreeMemory() as mem:
        t_all = time.perf_counter()
        t0 = time.perf_counter()
        sp.simulate(
            data, regions, count=args.count, year=args.year, pixel=args.pixel_size or sp.PIXEL
        ) if args.pixel_size else _simulate_native(data, regions, args.count, args.year)
        timings["simulate"] = time.perf_counter() - t0

        def stage(name: str, assets: list[str]) -> None:
            t = time.perf_counter()
            with ProcessPoolExecutor(args.parallel, mp_context=mp.get_context("spawn")) as pool:
                rows = list(
                    pool.map(
                        run_partition,
                        regions,
                        [args.year] * 7,
                        [str(data)] * 7,
                        [str(home)] * 7,
                        [args.pixel_size] * 7,
                        [assets] * 7,
                    )
                )
            timings[name] = time.perf_counter() - t
            results.extend({**r, "stage": name} for r in rows)
            failed = [r["region"] for r in rows if not r["success"]]
            print(
                f"  {name:<10} {timings[name]:8.1f} s  ({7 - len(failed)}/7 succeeded"
                f"{'; failed: ' + ', '.join(failed) if failed else ''})",
                flush=True,
            )

        stage("ingest", ["raw_scenes", "despeckled_scenes", "labelled_samples"])
        t = time.perf_counter()
        from icecrack_assets.definitions import build_defs

        job = build_defs(
            data_root=str(data), pixel_size=args.pixel_size
        ).resolve_implicit_global_asset_job_def()
        with dg.DagsterInstance.from_config(str(home)) as instance:
            ok = job.execute_in_process(
                instance=instance,
                asset_selection=[dg.AssetKey("crack_model")],
                run_config=sp.run_config(ops=("crack_model",), pixel=args.pixel_size)
                if args.pixel_size
                else None,
                raise_on_error=False,
            ).success
        timings["train"] = time.perf_counter() - t
        print(f"  {'train':<10} {timings['train']:8.1f} s  ({'ok' if ok else 'FAILED'})", flush=True)
        stage("maps", ["crack_maps"])
        timings["total"] = time.perf_counter() - t_all
    summary = {
        "regions": regions,
        "count": args.count,
        "pixel_size": args.pixel_size,
        "parallel": args.parallel,
        "cores": os.cpu_count(),
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "peak_tree_rss_gb": round(mem.peak / GB, 2),
        "runs": results,
    }
    out = REPO / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "season_backfill.json").write_text(json.dumps(summary, indent=2))
    print(
        f"season-backfill: wall {timings['total']:.1f} s, peak memory {mem.peak / GB:.2f} GB "
        f"(process tree), {sum(r['success'] for r in results)}/{len(results)} runs succeeded"
    )
    return 0 if all(r["success"] for r in results) and ok else 1


def _simulate_native(data: Path, regions: list[str], count: int, year: int) -> None:
    from icecrack_assets.regions import get_region
    from icecrack_assets.simulator.scenes import simulate_season

    for i, name in enumerate(regions):
        simulate_season(get_region(name), year, count, 1000 * i + 7, data / "landing")


if __name__ == "__main__":
    sys.exit(main())
