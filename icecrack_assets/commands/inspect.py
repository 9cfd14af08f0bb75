"""``icecrack inspect PRODUCT``: what a Sentinel-1 product is and which region and season it serves."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path

from icecrack_assets.errors import InputError
from icecrack_assets.sar.sentinel1.naming import parse_name


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="describe a Sentinel-1 product (SAFE folder/zip or GeoTIFF)")
    p.add_argument("product", type=Path, nargs="+", help="SAFE folder, SAFE .zip, or GeoTIFF")
    p.set_defaults(func=run)


def describe(path: Path) -> list[str]:
    """Lines describing one product; raises InputError for unreadable input."""
    from icecrack_assets.sar.sentinel1.ingest import is_safe_product

    if not path.exists():
        raise InputError(path, "file does not exist")
    if is_safe_product(path):
        from icecrack_assets.sar.sentinel1.safe import read_product, region_fit

        info = read_product(path)
        hits, reasons = region_fit(info)
        ring = " ".join(f"{lon:.3f},{lat:.3f}" for lon, lat in info.footprint)
        lines = [
            f"product:       {info.scene_id}",
            f"mission:       {info.mission}",
            f"mode:          {info.mode}",
            f"product type:  {info.product_type} ({info.product})",
            f"polarisations: {', '.join(info.polarisations)}",
            f"start:         {info.start.isoformat()}",
            f"stop:          {info.stop.isoformat()}",
            f"orbit:         {info.orbit_direction.lower()}, absolute {info.absolute_orbit}, "
            f"relative {info.relative_orbit}",
            f"footprint:     {ring} (lon,lat)",
            f"pixel spacing: {info.range_spacing:g} m range x {info.azimuth_spacing:g} m azimuth, "
            f"{info.samples} x {info.lines} px",
            f"processor:     Sentinel-1 IPF {info.ipf_version}",
            "images:        "
            + ", ".join(
                f"{im.swath}/{im.polarisation}" + ("" if im.measurement else " (no measurement)")
                for im in info.images
            ),
        ]
        when = info.start
    else:
        lines, hits, reasons, when = _describe_geotiff(path)
    if hits:
        lines.append(
            "region:        "
            + ", ".join(f"{r.name} (season {when.year}, {r.mode} {r.product})" for r in hits)
        )
    else:
        lines.append("region:        none - " + "; ".join(reasons))
    return lines


_LOOSE = re.compile(
    r"(?P<mission>S1[A-D])_+(?P<mode>IW|EW|SM)_+(?:[A-Z]_)?(?P<start>\d{8}T\d{6})"
    r"(?:.*?_(?P<pol>HH|HV|VV|VH)_)?"
)


def _describe_geotiff(path: Path):
    """A processed GeoTIFF: ESA-named (landing-zone rules) or any S1 GeoTIFF (SNAP, pyroSAR, GEE)."""
    from pyproj import Transformer

    from icecrack_assets.raster import open_single_band
    from icecrack_assets.regions import regions_for

    with open_single_band(path) as ds:
        tags, bounds, crs = ds.tags(), ds.bounds, ds.crs
        res, size, nodata = ds.res, (ds.width, ds.height), ds.nodata
    to_ll = Transformer.from_crs(crs, 4326, always_xy=True)
    xs = [bounds.left, bounds.right, bounds.right, bounds.left]
    ys = [bounds.bottom, bounds.bottom, bounds.top, bounds.top]
    ring = list(zip(*to_ll.transform(xs, ys)))
    name = parse_name(path.name)
    loose = _LOOSE.search(path.name)
    if name is not None:
        mission, mode, product, when = name.mission, name.mode, name.product, name.start
        pols = tags.get("POLARISATION", ",".join(name.polarisations))
    elif loose is not None:
        mission, mode, product = loose["mission"], loose["mode"], "GRD (processed)"
        when = dt.datetime.strptime(loose["start"], "%Y%m%dT%H%M%S").replace(tzinfo=dt.timezone.utc)
        pols = tags.get("POLARISATION", loose["pol"] or "unknown")
    else:
        raise InputError(
            path,
            "name carries no Sentinel-1 mission, mode and start time (e.g. S1A_IW_GRDH_1SDH_20200715T...)",
        )
    units = tags.get("UNITS") or (
        "dB (from the file name; pass --units db)"
        if "_db" in path.name.lower()
        else "not declared (assumed linear)"
    )
    hits = regions_for(ring, when, mode)
    reasons = [] if hits else ["footprint overlaps no region's AOI in season for its mode"]
    lines = [
        f"product:       {path.name}",
        f"mission:       {mission}",
        f"mode:          {mode}",
        f"product type:  {product}",
        f"polarisations: {pols}",
        f"start:         {when.isoformat()}",
        f"footprint:     {' '.join(f'{lo:.3f},{la:.3f}' for lo, la in ring)} (lon,lat)",
        f"raster:        {size[0]} x {size[1]} px, {res[0]:g} m, {crs.to_string()}, nodata {nodata}",
        f"units:         {units}",
    ]
    return lines, hits, reasons, when


def run(args: argparse.Namespace) -> int:
    failures = 0
    for i, path in enumerate(args.product):
        if i:
            print()
        try:
            print("\n".join(describe(path)))
        except InputError as exc:
            if len(args.product) == 1:
                raise
            print(f"error: {exc}")
            failures += 1
    return 2 if failures else 0
