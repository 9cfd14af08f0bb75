"""despeckled_scenes: PPB (or a baseline filter, for ablation) on every raw scene of a partition."""

import dataclasses
import time
from pathlib import Path

import dagster as dg
import numpy as np
import rasterio

from icecrack_assets.dagster_defs import checks
from icecrack_assets.dagster_defs.assets.common import md_table, partition_of
from icecrack_assets.dagster_defs.lineage import (
    data_version_of,
    file_sha256,
    png_markdown,
    prune_partition_dir,
    read_json,
    write_json_atomic,
)
from icecrack_assets.dagster_defs.partitions import year_region_partitions
from icecrack_assets.dagster_defs.resources import DataRoot, ProcessingGrid
from icecrack_assets.sar.despeckle.files import DespeckleSettings, despeckle_file
from icecrack_assets.sar.quicklook import write_quicklook

DESPECKLED = "despeckled_scenes"


_DEFAULT = DespeckleSettings()


class DespeckleConfig(dg.Config):
    """Filter choice and PPB parameters; defaults are the core's (Deledalle 2009's) so they cannot drift."""

    filter: str = _DEFAULT.filter  # ppb | lee | refined-lee | frost | boxcar | none
    iterations: int = _DEFAULT.iterations
    hw: int = _DEFAULT.hw
    hd: int = _DEFAULT.hd
    alpha: float = _DEFAULT.alpha
    T: float = _DEFAULT.T
    staged: bool = _DEFAULT.staged
    window: int = _DEFAULT.window
    calibration: str = _DEFAULT.calibration
    block: int = 1024

    def settings(self, looks: float) -> DespeckleSettings:
        fields = self.model_dump(exclude={"block"})
        return dataclasses.replace(_DEFAULT, looks=looks, **fields)


def ratio_image_mean(noisy: Path, filtered: Path) -> float:
    """Mean of noisy / despeckled over valid pixels: 1 when the filter preserves radiometry."""
    total, count = 0.0, 0
    with rasterio.open(noisy) as a, rasterio.open(filtered) as b:
        for _, window in b.block_windows(1):
            x, y = a.read(1, window=window), b.read(1, window=window)
            ok = np.isfinite(x) & np.isfinite(y) & (y > 0) & (x > 0)
            total += float(np.sum(x[ok] / y[ok], dtype=np.float64))
            count += int(ok.sum())
    return total / count if count else float("nan")


@dg.asset(
    partitions_def=year_region_partitions,
    deps=["raw_scenes"],
    code_version="despeckle-1",
    group_name="sar",
    kinds={"numba", "geotiff"},
    check_specs=checks.specs(DESPECKLED, checks.GRID, checks.NOT_EMPTY, checks.MEAN_PRESERVED),
    description="Speckle-filtered scenes (PPB by default) on the region grid, linear sigma0 intensity.",
)
def despeckled_scenes(
    context: dg.AssetExecutionContext, config: DespeckleConfig, data: DataRoot, grid: ProcessingGrid
) -> dg.MaterializeResult:
    year, region = partition_of(context, grid)
    raw_dir = data.partition_dir("raw", region.name, year)
    manifest = read_json(raw_dir / "manifest.json")
    out_dir = data.partition_dir("despeckled", region.name, year)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, keep, ratios = [], {"manifest.json"}, {}
    for i, scene in enumerate(manifest["scenes"], 1):
        settings = config.settings(looks=scene["looks"])
        src, dst = raw_dir / scene["path"], out_dir / scene["path"]
        t0 = time.perf_counter()

        def progress(frac: float, sid: str = scene["scene_id"]) -> None:
            context.log.debug(f"{sid}: {frac:.0%}")

        despeckle_file(src, dst, settings, block=config.block, progress=progress)
        seconds = time.perf_counter() - t0
        ratios[scene["scene_id"]] = ratio_image_mean(src, dst)
        keep.add(dst.name)
        rows.append(
            {
                "scene_id": scene["scene_id"],
                "path": dst.name,
                "seconds": round(seconds, 2),
                "mean_ratio": round(ratios[scene["scene_id"]], 4),
                "sha256": file_sha256(dst),
                "looks": scene["looks"],
                "truth": scene.get("truth"),
            }
        )
        context.log.info(f"despeckled {scene['scene_id']} ({i}/{len(manifest['scenes'])}) in {seconds:.1f} s")
    settings_dict = config.settings(looks=manifest["scenes"][0]["looks"]).as_dict()
    write_json_atomic(
        out_dir / "manifest.json",
        {"region": region.name, "year": year, "settings": settings_dict, "scenes": rows},
    )
    paths = [out_dir / r["path"] for r in rows]
    preview = write_quicklook([raw_dir / rows[0]["path"], paths[0]], out_dir / "preview.png")
    keep.add(preview.name)
    prune_partition_dir(out_dir, keep)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out_dir)),
            "filter": config.filter,
            "settings": dg.MetadataValue.json(settings_dict),
            "scene_count": len(rows),
            "scene_ids": dg.MetadataValue.json([r["scene_id"] for r in rows]),
            "scenes": md_table(rows, ["scene_id", "seconds", "mean_ratio", "looks"]),
            "seconds_total": round(sum(r["seconds"] for r in rows), 2),
            "preview": png_markdown(preview, f"{rows[0]['scene_id']}: raw | {config.filter} (dB)"),
        },
        data_version=data_version_of({"settings": settings_dict, "outputs": [r["sha256"] for r in rows]}),
        check_results=[
            checks.check_grid(paths, region),
            checks.check_not_empty(paths),
            checks.check_mean_preserved(ratios),
        ],
    )
