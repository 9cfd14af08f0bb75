"""``icecrack ingest PRODUCT OUT.tif``: a product as a linear sigma0 COG on a region's grid."""

from __future__ import annotations

import argparse
from pathlib import Path

from icecrack_assets.errors import IceCrackError
from icecrack_assets.regions import get_region


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="calibrate and geocode a product onto a region grid (sigma0 COG)")
    p.add_argument("product", type=Path, help="SAFE folder, SAFE .zip, or GeoTIFF")
    p.add_argument("output", type=Path, help="output GeoTIFF (COG)")
    p.add_argument("--region", help="region name (default: the one region the product serves)")
    p.add_argument("--pol", help="polarisation, e.g. HH (default: the region's)")
    p.add_argument(
        "--units",
        choices=["linear", "db"],
        help="units of a GeoTIFF input (default: its UNITS tag, else linear)",
    )
    p.add_argument(
        "--value-range",
        metavar="LO,HI",
        help="for 8/16-bit GeoTIFFs: the range (in --units) DN 1..max was scaled from, e.g. -30,0",
    )
    dem = p.add_mutually_exclusive_group()
    dem.add_argument(
        "--dem", type=Path, help="DEM GeoTIFF (any CRS) for terrain correction of a SAFE product"
    )
    dem.add_argument(
        "--dem-stac",
        metavar="URL",
        help="STAC API with DEM tiles: the region's mosaic is fetched once and cached under <data root>/dem",
    )
    p.add_argument(
        "--dem-collection", default="cop-dem-glo-30", help="STAC collection of DEM tiles (with --dem-stac)"
    )
    p.add_argument(
        "--dem-geoid-offset",
        type=float,
        default=0.0,
        metavar="N",
        help="geoid undulation (m) to add to DEM heights that are not ellipsoidal (e.g. Copernicus GLO-30)",
    )
    p.set_defaults(func=run)


def _pick_region(product: Path):
    from icecrack_assets.sar.sentinel1.ingest import is_safe_product

    if is_safe_product(product):
        from icecrack_assets.sar.sentinel1.safe import read_product, region_fit

        hits, reasons = region_fit(read_product(product))
    else:
        from icecrack_assets.catalog.landing import describe_geotiff
        from icecrack_assets.regions import regions_for

        item = describe_geotiff(product)
        hits = regions_for(list(item.footprint), item.acquired, item.mode)
        reasons = ["footprint, season or mode match no region"]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise IceCrackError(f"{product}: fits no region: {'; '.join(reasons)}")
    raise IceCrackError(f"{product}: fits several regions ({', '.join(r.name for r in hits)}); pass --region")


def run(args: argparse.Namespace) -> int:
    from icecrack_assets.sar.sentinel1.ingest import ingest_to_region

    region = get_region(args.region) if args.region else _pick_region(args.product)
    from icecrack_assets.sar.sentinel1.terrain import Dem

    dem = Dem(args.dem, args.dem_geoid_offset) if args.dem else None
    if args.dem_stac:
        from icecrack_assets.catalog.dem import dem_for_region
        from icecrack_assets.catalog.stac import StacCatalog
        from icecrack_assets.layout import DataLayout

        catalog = StacCatalog(args.dem_stac, collection=args.dem_collection)
        dem = dem_for_region(catalog, region, DataLayout.at().root / "dem", args.dem_geoid_offset)
    info = ingest_to_region(
        args.product,
        region,
        args.output,
        polarisation=args.pol,
        units=args.units,
        dem=dem,
        value_range=args.value_range,
    )
    print(
        f"{info.path}: {info.scene_id} {info.polarisation} on {region.name} grid "
        f"({region.width}x{region.height} px, {region.pixel_size:g} m), "
        f"{info.valid_fraction:.1%} valid, looks {info.looks:g}"
    )
    return 0
