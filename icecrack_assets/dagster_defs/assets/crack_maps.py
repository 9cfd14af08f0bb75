"""crack_maps: the season's crack map per region and year from the latest trained bundle."""

import time

import dagster as dg
import numpy as np

from icecrack_assets.dagster_defs import checks
from icecrack_assets.dagster_defs.assets.common import partition_of
from icecrack_assets.dagster_defs.lineage import (
    data_version_of,
    file_sha256,
    png_markdown,
    prune_partition_dir,
    read_json,
    write_json_atomic,
)
from icecrack_assets.dagster_defs.partitions import year_region_partitions
from icecrack_assets.dagster_defs.resources import ComputeResource, DataRoot, ProcessingGrid
from icecrack_assets.ml.bundle import latest_bundle, load_bundle
from icecrack_assets.ml.inference import predict_probability
from icecrack_assets.ml.metrics import crack_metrics
from icecrack_assets.ml.products import write_crack_products
from icecrack_assets.raster import read_single_band

MAPS = "crack_maps"


@dg.asset(
    partitions_def=year_region_partitions,
    deps=["despeckled_scenes", "crack_model"],
    code_version="maps-2",
    group_name="products",
    kinds={"pytorch", "geotiff", "geopackage"},
    check_specs=checks.specs(MAPS, checks.GRID, checks.NOT_EMPTY, checks.MAPS_VALID),
    description="Season composite of crack probability (mean over scenes), binary mask, crack "
    "polygons and centre lines (GeoPackage), density and orientation grids, preview.",
)
def crack_maps(
    context: dg.AssetExecutionContext, data: DataRoot, grid: ProcessingGrid, compute: ComputeResource
) -> dg.MaterializeResult:
    year, region = partition_of(context, grid)
    desp_dir = data.partition_dir("despeckled", region.name, year)
    manifest = read_json(desp_dir / "manifest.json")
    bundle = load_bundle(latest_bundle(data.models), device=compute.device)
    t0 = time.perf_counter()
    total = count = profile = None
    for scene in manifest["scenes"]:
        intensity, profile = read_single_band(desp_dir / scene["path"])
        prob = predict_probability(bundle, intensity)
        if total is None:
            total = np.zeros(prob.shape, np.float64)
            count = np.zeros(prob.shape, np.int32)
        ok = np.isfinite(prob)
        total[ok] += prob[ok]
        count[ok] += 1
        context.log.info(f"predicted {scene['scene_id']}")
    composite = np.full(total.shape, np.nan, np.float32)
    composite[count > 0] = (total[count > 0] / count[count > 0]).astype(np.float32)
    out_dir = data.partition_dir("maps", region.name, year)
    stem = f"{region.name}_{year}"
    products = write_crack_products(
        composite,
        profile,
        bundle.threshold,
        out_dir,
        stem,
        region.pixel_size,
        min_component=bundle.min_component,
    )
    seconds = time.perf_counter() - t0
    stats = {k: v for k, v in products.items() if isinstance(v, (int, float))}
    paths = {k: str(v) for k, v in products.items() if isinstance(v, str) or hasattr(v, "suffix")}
    truth_scores = _score_against_truth(data, region.name, year, manifest, products)
    summary = {
        "region": region.name,
        "year": year,
        "bundle": str(bundle.path),
        "scene_ids": [s["scene_id"] for s in manifest["scenes"]],
        **stats,
        **truth_scores,
    }
    write_json_atomic(out_dir / "stats.json", summary)
    keep = {"stats.json"} | {p.rsplit("/", 1)[-1] for p in paths.values()}
    prune_partition_dir(out_dir, keep)
    prob_path, mask_path = out_dir / f"{stem}_probability.tif", out_dir / f"{stem}_mask.tif"
    metadata = {
        "path": dg.MetadataValue.path(str(out_dir)),
        "probability": dg.MetadataValue.path(str(prob_path)),
        "mask": dg.MetadataValue.path(str(mask_path)),
        "bundle": dg.MetadataValue.path(str(bundle.path)),
        "scene_ids": dg.MetadataValue.json(summary["scene_ids"]),
        "seconds": round(seconds, 2),
        **{k: float(v) for k, v in {**stats, **truth_scores}.items()},
    }
    preview = out_dir / f"{stem}_preview.png"
    if preview.exists():
        metadata["preview"] = png_markdown(preview, f"crack map {region.name} {year}")
    return dg.MaterializeResult(
        metadata=metadata,
        data_version=data_version_of({"probability": file_sha256(prob_path), "bundle": str(bundle.path)}),
        check_results=[
            checks.check_grid([prob_path, mask_path], region),
            checks.check_not_empty([prob_path]),
            checks.check_maps_valid(prob_path, mask_path, bundle.threshold),
        ],
    )


def _score_against_truth(data: DataRoot, region: str, year: int, manifest: dict, products: dict) -> dict:
    """Where the simulator's truth exists, score the season map against it (1-pixel tolerance).

    The scenes of this partition may also have been training data, so this is a consistency
    figure, not the held-out evaluation (that is ``icecrack evaluate``).
    """
    truth_name = next((s.get("truth") for s in manifest["scenes"] if s.get("truth")), None)
    if not truth_name:
        return {}
    truth, _ = read_single_band(data.partition_dir("raw", region, year) / truth_name)
    mask, _ = read_single_band(products["mask"])
    truth_u8 = np.where(np.isfinite(truth), truth, 255).astype(np.uint8)
    pred = np.where(np.isfinite(mask), mask, 255).astype(np.uint8)
    m = crack_metrics(pred, truth_u8, tolerance=1)
    return {f"truth_{k}_tol1": float(v) for k, v in m.items() if k in ("precision", "recall", "f1", "oa")}
