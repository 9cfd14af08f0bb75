"""labelled_samples: representative crack/background patches with masks, split by spatial blocks."""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import rasterio
from pydantic import Field

from icecrack_assets.dagster_defs import checks
from icecrack_assets.dagster_defs.assets.common import partition_of
from icecrack_assets.dagster_defs.assets.despeckled_scenes import despeckled_scenes
from icecrack_assets.dagster_defs.concurrency import one_writer_per_partition
from icecrack_assets.dagster_defs.lineage import data_version_of
from icecrack_assets.dagster_defs.metadata import figures
from icecrack_assets.dagster_defs.partitions import year_region_partitions
from icecrack_assets.dagster_defs.resources import DataRoot, ProcessingGrid
from icecrack_assets.files import prune_dir
from icecrack_assets.layout import DespeckledManifest, Stage
from icecrack_assets.masks.icemask import partition_ice_mask
from icecrack_assets.ml.labels import load_labels_for_scene
from icecrack_assets.ml.samples import SampleSettings, SceneForSamples, build_samples, load_samples
from icecrack_assets.raster import MASK_NODATA

SAMPLES = "labelled_samples"
_DEFAULT = SampleSettings()


class SamplesConfig(dg.Config):
    """Patch size, training patches per scene, and the spatial blocks that split train/val/test.

    Defaults are the core's ``SampleSettings`` (a test fails if the two drift)."""

    patch: int = Field(_DEFAULT.patch, description="patch side, pixels")
    max_per_scene: int = Field(
        _DEFAULT.max_per_scene, description="training patches per scene; val/test blocks are tiled whole"
    )
    block_size: int = Field(
        _DEFAULT.block_size, description="side (px) of the spatial blocks assigned to train/val/test"
    )
    buffer: int = Field(_DEFAULT.buffer, description="pixels left out around val/test blocks")
    seed: int = Field(_DEFAULT.seed, description="random seed of block assignment and patch choice")

    def settings(self) -> SampleSettings:
        return SampleSettings(**self.model_dump())


@dg.asset(
    partitions_def=year_region_partitions,
    deps=[despeckled_scenes],
    code_version="samples-3",
    group_name="ml",
    kinds={"numpy"},
    owners=["team:ml"],
    tags={"domain": "crevasses", "stage": "train"},
    check_specs=checks.specs(
        SAMPLES,
        checks.SPLIT_SIZES,
        checks.SPLIT_CRACKS,
        checks.NO_LEAKAGE,
        partitions_def=year_region_partitions,
    ),
    description="Balanced crack/background patches with masks (user annotations in data/labels/ when "
    "they cover a scene, else the simulator's truth), on the region's ice mask (training patches at "
    "least half on the ice, evaluation tiles touching it), train/val/test split by spatial blocks with "
    "a buffer, and a sample index with "
    "provenance. A partition with neither annotations nor truth (real scenes nobody labelled) "
    "materialises empty, with a note.",
)
@one_writer_per_partition(Stage.SAMPLES)
def labelled_samples(
    context: dg.AssetExecutionContext, config: SamplesConfig, data: DataRoot, grid: ProcessingGrid
) -> dg.MaterializeResult:
    year, region = partition_of(context, grid)
    layout = data.layout
    desp_dir = layout.partition_dir(Stage.DESPECKLED, region.name, year)
    raw_dir = layout.partition_dir(Stage.RAW, region.name, year)
    manifest = DespeckledManifest.read(desp_dir)
    ice = partition_ice_mask(layout, region, year)
    context.log.info(f"ice mask: {ice.source} ({ice.detail}), {ice.ice_km2:.1f} km2")
    scenes: list[SceneForSamples] = []
    sources: dict[str, str] = {}
    for scene in manifest.scenes:
        image = desp_dir / scene.path
        with rasterio.open(image) as ds:
            transform, shape, crs = ds.transform, ds.shape, ds.crs
        label = load_labels_for_scene(layout.labels, region, transform, shape, crs)
        source = "annotation"
        if label is None and scene.truth:
            with rasterio.open(raw_dir / scene.truth) as ds:
                label = ds.read(1).astype(np.uint8)
            source = "simulator"
        if label is None:
            context.log.warning(f"{scene.scene_id}: no labels (no annotations, no truth); not sampled")
            continue
        sources[scene.scene_id] = source
        scenes.append(
            SceneForSamples(
                scene_id=scene.scene_id,
                region=region.name,
                year=year,
                image_path=image,
                label=label,
                label_source=source,
                ice=ice.ice,
            )
        )
    out_dir = layout.partition_dir(Stage.SAMPLES, region.name, year)
    if not scenes:
        return _nothing_to_sample(context, out_dir, f"{region.name} {year}", layout.labels)
    index = build_samples(
        scenes,
        out_dir,
        patch=config.patch,
        seed=config.seed,
        max_per_scene=config.max_per_scene,
        block_size=config.block_size,
        buffer=config.buffer,
    )
    table = pd.read_csv(index.index_path)
    arrays = load_samples(out_dir)
    split, y = arrays["split"], arrays["y"]
    cracks = {s: int((y[split == s] == 1).sum()) for s in checks.SPLITS}
    labelled = {s: int((y[split == s] != MASK_NODATA).sum()) for s in checks.SPLITS}
    return dg.MaterializeResult(
        metadata={
            **figures(
                {
                    "patches": index.count,
                    "train_patches": index.n_train,
                    "val_patches": index.n_val,
                    "test_patches": index.n_test,
                    "crack_fraction": index.crack_fraction,
                    **{
                        f"{s}_crack_fraction": cracks[s] / labelled[s] if labelled[s] else 0.0 for s in cracks
                    },
                    "ice_km2": ice.ice_km2,
                }
            ),
            "path": dg.MetadataValue.path(str(out_dir)),
            "label_sources": dg.MetadataValue.json(sources),
            "mask_source": f"{ice.source}: {ice.detail}",
            "scene_ids": dg.MetadataValue.json([s.scene_id for s in scenes]),
            "index": dg.MetadataValue.path(str(index.index_path)),
        },
        data_version=data_version_of({"samples": index.sha256}),
        check_results=[
            checks.check_split_sizes(table),
            checks.check_split_cracks(cracks, labelled),
            checks.check_no_leakage(table),
        ],
    )


def _nothing_to_sample(
    context: dg.AssetExecutionContext, out_dir: Path, partition: str, labels_dir: Path
) -> dg.MaterializeResult:
    """Real scenes nobody annotated: no samples (an earlier run's are removed, so crack_model does not
    learn labels that are gone), and no failure: crack_maps maps such a partition with the shipped
    default model, so a season of real acquisitions runs through without annotations."""
    removed = prune_dir(out_dir, set())
    note = (
        f"no labelled scenes for {partition} (no annotations under {labels_dir}, no simulator truth): "
        "nothing to sample; crack_model trains on the other partitions"
    )
    context.log.warning(
        note + (f"; removed an earlier run's {', '.join(sorted(removed))}" if removed else "")
    )
    return dg.MaterializeResult(
        metadata={"patches": 0, "note": note, "scene_ids": dg.MetadataValue.json([])},
        data_version=dg.DataVersion("no-labels"),
        check_results=[
            checks.not_applicable(name, "no labelled scenes in this partition: nothing was sampled")
            for name in (checks.SPLIT_SIZES, checks.SPLIT_CRACKS, checks.NO_LEAKAGE)
        ],
    )
