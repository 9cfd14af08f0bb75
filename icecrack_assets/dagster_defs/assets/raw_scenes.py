"""raw_scenes: the season's acquisitions over the AOI, calibrated sigma0 on the region grid."""

import time
from pathlib import Path

import dagster as dg
from pydantic import Field

from icecrack_assets.catalog.base import usable_items
from icecrack_assets.dagster_defs import checks
from icecrack_assets.dagster_defs.assets.common import partition_of
from icecrack_assets.dagster_defs.concurrency import one_writer_per_partition
from icecrack_assets.dagster_defs.lineage import data_version_of
from icecrack_assets.dagster_defs.metadata import figures, image_markdown, table
from icecrack_assets.dagster_defs.partitions import year_region_partitions
from icecrack_assets.dagster_defs.resources import (
    DataRoot,
    PreviewServer,
    ProcessingGrid,
    SceneCatalogResource,
)
from icecrack_assets.errors import IceCrackError
from icecrack_assets.files import file_sha256, prune_dir
from icecrack_assets.layout import MANIFEST, QUICKLOOK, RawManifest, RawScene, Stage
from icecrack_assets.redaction import redact, safe_for_log
from icecrack_assets.regions import Region, get_region
from icecrack_assets.sar.quicklook import write_quicklook
from icecrack_assets.sar.sentinel1.ingest import ingest_mask_to_region, ingest_to_region, is_safe_product
from icecrack_assets.sar.sentinel1.terrain import Dem

RAW = "raw_scenes"


class RawScenesConfig(dg.Config):
    """Terrain correction of SAFE products with a DEM (GeoTIFF inputs are already geocoded)."""

    dem: str = Field(
        "",
        description="DEM GeoTIFF (any CRS) for range-Doppler terrain correction of SAFE products; "
        "empty: a DEM from dem_stac_url, else the GCP heights only",
    )
    dem_stac_url: str = Field(
        "",
        description="STAC API root whose dem_collection tiles are mosaicked on the region grid and "
        "cached under <data root>/dem (e.g. Copernicus DEM GLO-30)",
    )
    dem_collection: str = Field("cop-dem-glo-30", description="STAC collection of the DEM tiles")
    dem_geoid_offset_m: float = Field(
        0.0,
        description="geoid undulation N (m) added to the DEM heights: 0 for ellipsoidal DEMs (ArcticDEM, "
        "REMA), the region's N for EGM2008 heights (GLO-30)",
    )

    def resolve(self, region: Region, cache: Path) -> Dem | None:
        if self.dem:
            return Dem(Path(self.dem), self.dem_geoid_offset_m)
        if self.dem_stac_url:
            from icecrack_assets.catalog.dem import dem_for_region
            from icecrack_assets.catalog.stac import StacCatalog

            catalog = StacCatalog(self.dem_stac_url, collection=self.dem_collection)
            return dem_for_region(catalog, region, cache, self.dem_geoid_offset_m)
        return None


@dg.asset(
    partitions_def=year_region_partitions,
    code_version="raw-1",
    group_name="sar",
    kinds={"sentinel1", "geotiff", "raster"},
    owners=["team:sar"],
    tags={"domain": "sar", "stage": "ingest"},
    check_specs=checks.specs(RAW, checks.GRID, checks.NOT_EMPTY, partitions_def=year_region_partitions),
    retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
    description="Season's Sentinel-1 acquisitions over the AOI from the scene catalog, as linear "
    "sigma0 on the region grid, with a manifest of scene ids, times and footprints.",
)
@one_writer_per_partition(Stage.RAW)
def raw_scenes(
    context: dg.AssetExecutionContext,
    config: RawScenesConfig,
    data: DataRoot,
    grid: ProcessingGrid,
    scene_catalog: SceneCatalogResource,
    previews: PreviewServer,
) -> dg.MaterializeResult:
    year, region = partition_of(context, grid)
    catalog = scene_catalog.build(data)
    start, end = region.season(year)
    # catalogues match against the published AOI, whatever the processing spacing
    usable, refused = usable_items(catalog.search(get_region(region.name), start, end))
    for bad in refused:
        context.log.warning(
            safe_for_log(
                f"refused catalogue item {bad.href}: id {bad.scene_id!r} is not a Sentinel-1 "
                "product name (it would not be a safe file name)"
            )
        )
    items = sorted(usable, key=lambda it: it.acquired)
    if not items:
        raise dg.Failure(
            f"no Sentinel-1 {region.mode} scenes for {region.name} {year} "
            f"({start:%Y-%m-%d}..{end:%Y-%m-%d}) in the {scene_catalog.kind} catalog"
        )
    layout = data.layout
    out_dir = layout.partition_dir(Stage.RAW, region.name, year)
    out_dir.mkdir(parents=True, exist_ok=True)
    scenes: list[RawScene] = []
    keep, t0 = {MANIFEST}, time.perf_counter()
    dem = config.resolve(region, layout.root / "dem")
    for item in items:
        local = catalog.fetch(item, layout.landing)
        dst = out_dir / f"{item.scene_id}.tif"
        try:
            info = ingest_to_region(
                local,
                region,
                dst,
                polarisation=region.polarisation,
                dem=dem if is_safe_product(Path(local)) else None,
            )
        except IceCrackError as exc:
            context.log.warning(safe_for_log(f"skipping {item.scene_id}: {exc}"))
            continue
        keep.add(dst.name)
        truth = None
        if item.truth_href:
            truth = out_dir / f"{item.scene_id}.truth.tif"
            ingest_mask_to_region(item.truth_href, region, truth)
            keep.add(truth.name)
        scenes.append(
            RawScene(
                scene_id=item.scene_id,
                acquired=item.acquired.isoformat(),
                mode=item.mode,
                product=item.product,
                footprint=[list(p) for p in item.footprint],
                source=item.source,
                href=redact(item.href),  # signed catalogue URLs carry tokens in their query
                path=dst.name,
                looks=float(info.looks),
                sha256=file_sha256(dst),
                truth=truth.name if truth else None,
            )
        )
        context.log.info(f"ingested {item.scene_id} ({len(scenes)}/{len(items)})")
    if not scenes:
        raise dg.Failure(f"none of the {len(items)} scenes for {region.name} {year} could be ingested")
    RawManifest(
        region=region.name,
        year=year,
        crs=region.crs,
        bounds=region.bounds,
        pixel_size=region.pixel_size,
        catalog=scene_catalog.kind,
        scenes=tuple(scenes),
    ).write(out_dir)
    paths = [out_dir / s.path for s in scenes]
    caption = f"{region.name} {year}: first of {len(scenes)} scene(s), sigma0 dB\n{scenes[0].scene_id}"
    preview = write_quicklook(
        paths[:1],
        out_dir / QUICKLOOK,
        labels=[f"{scenes[0].acquired[:10]} {scenes[0].mode}"],
        caption=caption,
    )
    keep.add(preview.name)
    removed = prune_dir(out_dir, keep)
    return dg.MaterializeResult(
        metadata={
            "quicklook": image_markdown(
                preview,
                f"{region.name} {year}: first of {len(scenes)} scene(s) (dB)",
                layout.root,
                previews.base_url,
            ),
            **figures(
                {
                    "scene_count": len(scenes),
                    "seconds": time.perf_counter() - t0,
                    "stale_files_removed": len(removed),
                }
            ),
            "scenes": table(
                [vars(s) for s in scenes],
                {
                    "scene_id": ("string", "Sentinel-1 product name"),
                    "acquired": ("string", "acquisition start, UTC"),
                    "product": ("string", "product type"),
                    "looks": ("float", "equivalent number of looks of the product"),
                },
            ),
            "catalog": scene_catalog.kind,
            "terrain_correction": f"DEM {dem.path.name} (N {dem.geoid_undulation_m:g} m)"
            if dem
            else "GCP heights",
            "path": dg.MetadataValue.path(str(out_dir)),
            "scene_ids": dg.MetadataValue.json([s.scene_id for s in scenes]),
        },
        data_version=data_version_of([s.sha256 for s in scenes]),
        check_results=[checks.check_grid(paths, region), checks.check_not_empty(paths)],
    )
