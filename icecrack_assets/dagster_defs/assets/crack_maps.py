"""crack_maps: the season's crack map per region and year, from the bundle the partition's scenes call for."""

import time
from pathlib import Path
from typing import Literal

import dagster as dg
import numpy as np
from pydantic import Field

from icecrack_assets.dagster_defs import checks
from icecrack_assets.dagster_defs.assets.common import partition_of
from icecrack_assets.dagster_defs.assets.crack_model import crack_model
from icecrack_assets.dagster_defs.assets.despeckled_scenes import despeckled_scenes
from icecrack_assets.dagster_defs.bundles import choose_bundle
from icecrack_assets.dagster_defs.concurrency import one_writer_per_partition
from icecrack_assets.dagster_defs.lineage import data_version_of
from icecrack_assets.dagster_defs.metadata import figures, image_entries, products_table
from icecrack_assets.dagster_defs.partitions import year_region_partitions
from icecrack_assets.dagster_defs.resources import (
    ComputeResource,
    DataRoot,
    PreviewServer,
    ProcessingGrid,
)
from icecrack_assets.files import file_sha256, prune_dir, write_json_atomic
from icecrack_assets.layout import (
    MAP_SUMMARY,
    QUICKLOOK,
    STAC_ITEM,
    DataLayout,
    DespeckledManifest,
    Stage,
    map_stem,
)
from icecrack_assets.masks.icemask import IceMask, partition_ice_mask, partition_scenes, pass_of
from icecrack_assets.ml.bundle import load_bundle
from icecrack_assets.ml.composite import season_composite
from icecrack_assets.ml.metrics import consistency_with_truth
from icecrack_assets.ml.preview import write_map_quicklook
from icecrack_assets.ml.products import write_crack_products
from icecrack_assets.raster import float_profile, read_single_band, write_raster_atomic
from icecrack_assets.sar.coregister import SeasonRegistrar
from icecrack_assets.stac import MapItemInputs, crack_map_item, footprint_lonlat, write_catalog, write_item

MAPS = "crack_maps"
# the season map against the simulator's truth of its own (possibly training) scenes: not held-out
CONSISTENCY_PREFIX = "consistency_with_simulator_"


class CrackMapsConfig(dg.Config):
    """Which model bundle maps the season."""

    model: Literal["auto", "checked", "newest", "default"] = Field(
        "auto",
        description="auto: checked for a simulated partition; for real scenes the newest checked bundle "
        "that learnt from real labels, else the shipped default model (a model fine-tuned on simulated "
        "scenes forgets real Sentinel-1); checked: the newest bundle whose metrics_above_method_floor "
        "check passed; newest: the newest bundle on disk whatever its checks (recorded as unchecked); "
        "default: the shipped default model",
    )
    int8: bool = Field(
        False,
        description="run the model in 8-bit integers on CPU (2-2.5x faster where the CPU has VNNI, F1 "
        "within 0.012 on the evaluation suites, slightly more flagged; docs/model.md); the maps are "
        "recorded as another model (model_id ends in +int8), so year-over-year change is not computed "
        "against float maps",
    )


@dg.asset(
    partitions_def=year_region_partitions,
    deps=[despeckled_scenes, crack_model],
    code_version="maps-4",
    group_name="products",
    kinds={"geotiff", "geopackage", "stac"},
    owners=["team:glaciology"],
    tags={"domain": "crevasses", "stage": "product"},
    check_specs=checks.specs(
        MAPS, checks.GRID, checks.NOT_EMPTY, checks.MAPS_VALID, partitions_def=year_region_partitions
    ),
    description="Season composite of crack probability (mean over the co-registered scenes) on the "
    "region's ice mask, binary mask, crack polygons and centre lines (GeoPackage), density (per km² "
    "of ice) and orientation grids, ice mask, season backscatter, preview with the ice outline.",
)
@one_writer_per_partition(Stage.MAPS)
def crack_maps(
    context: dg.AssetExecutionContext,
    config: CrackMapsConfig,
    data: DataRoot,
    grid: ProcessingGrid,
    compute: ComputeResource,
    previews: PreviewServer,
) -> dg.MaterializeResult:
    year, region = partition_of(context, grid)
    layout = data.layout
    desp_dir = layout.partition_dir(Stage.DESPECKLED, region.name, year)
    manifest = DespeckledManifest.read(desp_dir)
    simulated = bool(manifest.scenes) and all(s.truth for s in manifest.scenes)
    choice = choose_bundle(context.instance, layout.models, config.model, simulated=simulated)
    context.log.info(f"model bundle {choice.path.name}: floor check {choice.check}")
    bundle = load_bundle(choice.path, device=compute.device)
    if config.int8 and bundle.device.type != "cpu":
        context.log.warning(f"int8 runs on CPU only: mapping in float on {bundle.device}")
    bundle.int8 = config.int8 and bundle.device.type == "cpu"
    t0 = time.perf_counter()
    # each model sees the input it was trained on: raw sigma0 for a model whose filter is none;
    # scenes are registered on their despeckled images either way
    raw_input = bundle.despeckle.get("filter", "none") == "none"
    scenes = partition_scenes(layout, region, year, stage="raw" if raw_input else "despeckled")
    files = [path for path, _ in scenes]
    despeckled_of = dict(zip(files, (desp_dir / s.path for s in manifest.scenes)))  # manifest order
    ice = partition_ice_mask(layout, region, year)
    context.log.info(f"ice mask: {ice.source} ({ice.detail}), {ice.ice_km2:.1f} km2")
    ids = dict(zip(files, (s.scene_id for s in manifest.scenes)))  # partition_scenes keeps manifest order
    passes = {path: pass_of(tags) for path, tags in scenes}
    registrar = SeasonRegistrar()
    composite = season_composite(
        bundle,
        files,
        on_scene=lambda p: context.log.info(f"predicted {p.stem}"),
        register=lambda p, img: _register(registrar, ids[p], img, passes[p], despeckled_of[p], raw_input),
    )
    registration = registrar.result()
    for o in registration.offsets:
        context.log.info(f"{o.scene_id}: {o.status} {o.row_px:+.2f}/{o.col_px:+.2f} px {o.reason}")
    out_dir = layout.partition_dir(Stage.MAPS, region.name, year)
    stem = map_stem(region.name, year)
    extra = _write_mask_and_backscatter(out_dir, stem, composite.profile, ice, registrar)
    products = write_crack_products(
        composite.probability,
        composite.profile,
        bundle.threshold,
        out_dir,
        stem,
        region.pixel_size,
        min_component=bundle.min_component,
        ice=ice.ice,
    )
    seconds = time.perf_counter() - t0
    stats = products.stats.as_dict()
    paths = products.paths
    truth_scores = _truth_consistency(layout, region.name, year, manifest, paths.mask)
    summary = {
        "region": region.name,
        "year": year,
        "bundle": str(bundle.path),
        "model_id": bundle.model_id,
        "bundle_check": choice.check,
        "scene_ids": list(registration.used),
        "rejected_scene_ids": list(registration.rejected),
        **stats,
        **ice.describe(),
        "ice_mask": str(extra["ice_mask"]),
        "coregistered": True,
        "backscatter": {k.split("_", 1)[1]: str(v) for k, v in extra.items() if k.startswith("backscatter_")},
        "pass_counts": _pass_counts(registration.used, ids, passes),
        "registration": registration.as_dict(),
        **truth_scores,
    }
    write_json_atomic(layout.map_summary(region.name, year), summary)
    season = region.season(year)
    caption = (
        f"{region.name} {year} season ({season[0]:%d %b}–{season[1]:%d %b %Y}): "
        f"{len(registration.used)} scene(s); model {bundle.path.name}, floor check {choice.check}; "
        f"threshold {bundle.threshold:.2f}"
    )
    quicklook = write_map_quicklook(
        extra["backscatter"],
        paths.probability,
        paths.mask,
        out_dir / QUICKLOOK,
        caption.replace("; model", "\nmodel"),
        bundle.threshold,
        ice=extra["ice_mask"],
    )
    files = {
        **{k: Path(v) for k, v in paths.as_dict().items() if k != "preview"},
        "ice_mask": extra["ice_mask"],
        "backscatter": extra["backscatter"],
        "quicklook": quicklook,
    }
    item_path = layout.stac_item(region.name, year)
    item = crack_map_item(
        MapItemInputs(
            region=region.name,
            year=year,
            season_start=season[0],
            season_end=season[1],
            footprint_lonlat=footprint_lonlat(region.bounds, region.crs),
            files=files,
            scenes={sid: p for p, sid in ids.items() if sid in registration.used},
            bundle=bundle.path,
            properties={
                "bundle_check": choice.check,
                "crack_area_km2": round(stats["crack_area_km2"], 3),
                "density_km_per_km2": round(stats["density_km_per_km2"], 4),
                "threshold": round(float(bundle.threshold), 3),
            },
        ),
        item_path,
    )
    write_item(item, item_path)
    catalog = write_catalog(layout.stac_catalog, sorted(layout.stac_catalog.parent.glob(f"*/*/{STAC_ITEM}")))
    keep = {MAP_SUMMARY, QUICKLOOK, STAC_ITEM} | {p.name for p in (Path(v) for v in paths.as_dict().values())}
    prune_dir(out_dir, keep | {p.name for p in extra.values()})
    metadata = {
        **image_entries("quicklook", quicklook, caption.split(":")[0], layout.root, previews.base_url),
        **figures(
            {
                "crack_area_km2": stats["crack_area_km2"],
                "crack_length_km": stats["crack_length_km"],
                "density_km_per_km2": stats["density_km_per_km2"],
                "crack_fraction_of_ice": stats["crack_fraction"],
                "ice_km2": ice.ice_km2,
                "valid_area_km2": stats["valid_area_km2"],
                "threshold": stats["threshold"],
                "min_component_px": int(stats["min_component"]),
                "scenes_used": len(registration.used),
                "scenes_rejected": len(registration.rejected),
                "seconds": seconds,
            }
        ),
        "bundle": dg.MetadataValue.path(str(bundle.path)),
        "bundle_check": choice.check,
        "products": products_table({**files, "stac_item": item_path}),
        "path": dg.MetadataValue.path(str(out_dir)),
        "stac_item": dg.MetadataValue.path(str(item_path)),
        "stac_catalog": dg.MetadataValue.path(str(catalog)),
        "scene_ids": dg.MetadataValue.json(summary["scene_ids"]),
        "rejected_scene_ids": dg.MetadataValue.json(summary["rejected_scene_ids"]),
        "scene_offsets_px": dg.MetadataValue.json(registration.as_dict()),
        "mask_source": f"{ice.source}: {ice.detail}",
        **figures(truth_scores),
    }
    return dg.MaterializeResult(
        metadata=metadata,
        data_version=data_version_of(
            {"probability": file_sha256(paths.probability), "bundle": str(bundle.path)}
        ),
        check_results=[
            checks.check_grid([paths.probability, paths.mask], region),
            checks.check_not_empty([paths.probability]),
            checks.check_maps_valid(paths.probability, paths.mask, bundle.threshold),
        ],
    )


def _truth_consistency(
    layout: DataLayout, region: str, year: int, manifest: DespeckledManifest, mask_path: Path
) -> dict[str, float]:
    """Where the simulator's truth exists, the season map against it (1-pixel tolerance).

    The scenes of this partition may also have been training data, so this is a consistency
    figure, not the held-out evaluation (that is ``icecrack evaluate``).
    """
    truth_name = next((s.truth for s in manifest.scenes if s.truth), None)
    if not truth_name:
        return {}
    truth, _ = read_single_band(layout.partition_dir(Stage.RAW, region, year) / truth_name)
    mask, _ = read_single_band(mask_path)
    scores = consistency_with_truth(mask, truth, tolerance=1)
    return {f"{CONSISTENCY_PREFIX}{k}_tol1": v for k, v in scores.items()}


def _register(
    registrar: SeasonRegistrar,
    scene_id: str,
    image: np.ndarray,
    direction: str,
    despeckled: Path,
    raw_input: bool,
) -> np.ndarray | None:
    """Register a scene on its despeckled image and return the model's input, corrected alike."""
    if not raw_input:
        return registrar(scene_id, image, direction)
    registrar(scene_id, read_single_band(despeckled)[0], direction)
    return registrar.same_correction(image)


def _write_mask_and_backscatter(
    out_dir: Path, stem: str, profile: dict, ice: IceMask, registrar: SeasonRegistrar
) -> dict[str, Path]:
    """The ice mask (uint8, 1 ice) and each pass direction's season mean dB (later seasons register on it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    mask_path = write_raster_atomic(
        out_dir / f"{stem}_icemask.tif",
        ice.ice.astype("uint8"),
        float_profile(profile, dtype="uint8", nodata=255),
        tags={"source": ice.source, "detail": ice.detail, "values": "1=ice 0=not ice"},
    )
    paths = {"ice_mask": Path(mask_path)}
    paths["backscatter"] = Path(
        write_raster_atomic(
            out_dir / f"{stem}_backscatter.tif",
            registrar.season_backscatter(),
            float_profile(profile),
            tags={"units": "dB", "content": "mean of the season's co-registered despeckled scenes"},
            cog=True,
        )
    )
    for direction, mean_db in registrar.backscatter().items():
        paths[f"backscatter_{direction}"] = Path(
            write_raster_atomic(
                out_dir / f"{stem}_backscatter_{direction}.tif",
                mean_db,
                float_profile(profile),
                tags={"units": "dB", "content": f"mean of the season's co-registered {direction} scenes"},
                cog=True,
            )
        )
    return paths


def _pass_counts(used: tuple[str, ...], ids: dict[Path, str], passes: dict[Path, str]) -> dict[str, int]:
    from icecrack_assets.sar.coregister import pass_key

    counts: dict[str, int] = {}
    for path, scene_id in ids.items():
        if scene_id in used:
            key = pass_key(passes[path])
            counts[key] = counts.get(key, 0) + 1
    return counts
