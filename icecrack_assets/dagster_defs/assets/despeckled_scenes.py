"""despeckled_scenes: PPB (or a baseline filter, for ablation) on every raw scene of a partition."""

from typing import Literal

import dagster as dg
from pydantic import Field

from icecrack_assets.dagster_defs import checks
from icecrack_assets.dagster_defs.assets.common import partition_of
from icecrack_assets.dagster_defs.assets.raw_scenes import raw_scenes
from icecrack_assets.dagster_defs.concurrency import one_writer_per_partition
from icecrack_assets.dagster_defs.lineage import data_version_of
from icecrack_assets.dagster_defs.metadata import figures, image_markdown, table
from icecrack_assets.dagster_defs.partitions import year_region_partitions
from icecrack_assets.dagster_defs.resources import DataRoot, PreviewServer, ProcessingGrid
from icecrack_assets.files import file_sha256, prune_dir
from icecrack_assets.layout import (
    MANIFEST,
    QUICKLOOK,
    DespeckledManifest,
    DespeckledScene,
    RawManifest,
    Stage,
)
from icecrack_assets.sar.despeckle.files import DespeckleSettings, despeckle_file
from icecrack_assets.sar.quicklook import write_quicklook

DESPECKLED = "despeckled_scenes"


_DEFAULT = DespeckleSettings()


class DespeckleConfig(dg.Config):
    """Filter choice and PPB parameters. Unset PPB parameters follow each scene's number of looks
    (the core's calibrated rule); preset "reference" gives Deledalle's single-look defaults."""

    filter: Literal["ppb", "lee", "refined-lee", "frost", "boxcar", "none"] = Field(
        _DEFAULT.filter,  # type: ignore[arg-type]
        description="speckle filter: ppb (the method's) or a baseline for ablation; none copies",
    )
    preset: Literal["looks", "reference", "custom"] = Field(
        _DEFAULT.preset,  # type: ignore[arg-type]
        description="where PPB's parameters come from: looks (calibrated rule per number of looks), "
        "reference (Deledalle's single-look defaults); set fields override either",
    )
    iterations: int | None = Field(None, description="PPB iterations (unset: from the preset)")
    hw: int | None = Field(None, description="PPB search-window half-width, px (unset: preset)")
    hd: int | None = Field(None, description="PPB patch half-width, px (unset: preset)")
    alpha: float | None = Field(None, description="PPB similarity quantile, 0..1 (unset: preset)")
    T: float | None = Field(None, description="PPB weight of the previous estimate (unset: preset)")
    guard: float | None = Field(None, description="residual guard after PPB, 0..1 (unset: preset)")
    staged: bool = Field(
        _DEFAULT.staged, description="PPB on a coarse-to-fine schedule (faster, approximate)"
    )
    window: int = Field(_DEFAULT.window, description="window side, px, of the baseline filters")
    calibration: Literal["white", "scene"] = Field(
        _DEFAULT.calibration,  # type: ignore[arg-type]
        description="PPB's h: white (white speckle with the scene's looks) or scene (measured on "
        "homogeneous areas of the input; suits correlated GRD speckle)",
    )
    block: int = Field(1024, description="I/O block side, px (memory vs. overhead; not a filter setting)")

    def settings(self, looks: float) -> DespeckleSettings:
        return DespeckleSettings(looks=looks, **self.model_dump(exclude={"block"}))


@dg.asset(
    partitions_def=year_region_partitions,
    deps=[raw_scenes],
    code_version="despeckle-2",  # 2: PPB parameters follow the number of looks
    group_name="sar",
    kinds={"geotiff", "raster"},
    owners=["team:sar"],
    tags={"domain": "sar", "stage": "preprocess"},
    check_specs=checks.specs(
        DESPECKLED,
        checks.GRID,
        checks.NOT_EMPTY,
        checks.MEAN_PRESERVED,
        checks.LOOKS_MATCH_ENL,
        partitions_def=year_region_partitions,
    ),
    description="Speckle-filtered scenes (PPB by default) on the region grid, linear sigma0 intensity.",
)
@one_writer_per_partition(Stage.DESPECKLED)
def despeckled_scenes(
    context: dg.AssetExecutionContext,
    config: DespeckleConfig,
    data: DataRoot,
    grid: ProcessingGrid,
    previews: PreviewServer,
) -> dg.MaterializeResult:
    year, region = partition_of(context, grid)
    layout = data.layout
    raw_dir = layout.partition_dir(Stage.RAW, region.name, year)
    manifest = RawManifest.read(raw_dir)
    out_dir = layout.partition_dir(Stage.DESPECKLED, region.name, year)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[DespeckledScene] = []
    keep = {MANIFEST}
    for i, scene in enumerate(manifest.scenes, 1):
        settings = config.settings(looks=scene.looks)
        src, dst = raw_dir / scene.path, out_dir / scene.path

        def progress(frac: float, sid: str = scene.scene_id) -> None:
            context.log.debug(f"{sid}: {frac:.0%}")

        result = despeckle_file(src, dst, settings, block=config.block, progress=progress)
        keep.add(dst.name)
        rows.append(
            DespeckledScene(
                scene_id=scene.scene_id,
                path=dst.name,
                seconds=round(result.seconds, 2),
                mean_ratio=None if result.mean_ratio is None else round(result.mean_ratio, 4),
                sha256=file_sha256(dst),
                looks=scene.looks,
                truth=scene.truth,
                enl_input=result.enl_input,
                enl_output=result.enl_output,
                settings_fingerprint=result.fingerprint,
            )
        )
        context.log.info(
            f"despeckled {scene.scene_id} ({i}/{len(manifest.scenes)}) in {result.seconds:.1f} s"
        )
    settings_dict = config.settings(looks=manifest.scenes[0].looks).as_dict()
    DespeckledManifest(region=region.name, year=year, settings=settings_dict, scenes=tuple(rows)).write(
        out_dir
    )
    paths = [out_dir / r.path for r in rows]
    caption = f"{region.name} {year}: raw | {config.filter}, dB, one grey scale\n{rows[0].scene_id}"
    preview = write_quicklook(
        [raw_dir / rows[0].path, paths[0]],
        out_dir / QUICKLOOK,
        labels=[f"raw (looks {rows[0].looks:g})", f"despeckled ({config.filter})"],
        caption=caption,
    )
    keep.add(preview.name)
    prune_dir(out_dir, keep)
    rows_dicts = [vars(r) for r in rows]
    return dg.MaterializeResult(
        metadata={
            "quicklook": image_markdown(
                preview, f"{region.name} {year}: raw | {config.filter} (dB)", layout.root, previews.base_url
            ),
            "filter": config.filter,
            **figures({"scene_count": len(rows), "seconds_total": sum(r.seconds for r in rows)}),
            "scenes": table(
                rows_dicts,
                {
                    "scene_id": ("string", "Sentinel-1 product name"),
                    "looks": ("float", "number of looks PPB was tuned for"),
                    "enl_input": ("float", "ENL measured on homogeneous blocks of the input"),
                    "enl_output": ("float", "ENL on the same blocks after filtering"),
                    "mean_ratio": ("float", "mean of noisy / filtered (1 = mean preserved)"),
                    "seconds": ("float", "filter time, s"),
                },
            ),
            "path": dg.MetadataValue.path(str(out_dir)),
            "settings": dg.MetadataValue.json(settings_dict),
            "settings_by_looks": dg.MetadataValue.json(
                {f"{L:g}": config.settings(looks=L).as_dict() for L in sorted({r.looks for r in rows})}
            ),
            "scene_ids": dg.MetadataValue.json([r.scene_id for r in rows]),
        },
        data_version=data_version_of({"settings": settings_dict, "outputs": [r.sha256 for r in rows]}),
        check_results=[
            checks.check_grid(paths, region),
            checks.check_not_empty(paths),
            checks.check_mean_preserved({r.scene_id: r.mean_ratio for r in rows}),
            checks.check_looks_match_enl(rows_dicts),
        ],
    )
