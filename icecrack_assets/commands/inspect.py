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
            f"terrain:       {_terrain_readiness(path, info)}",
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


def _terrain_readiness(path: Path, info) -> str:
    """Can ``--dem`` terrain-correct this product? (orbit, range polynomials, orbit/GCP agreement)"""
    from icecrack_assets.sar.sentinel1.geocode import parse_gcps
    from icecrack_assets.sar.sentinel1.range_doppler import parse_geometry
    from icecrack_assets.sar.sentinel1.safe import SafeSource
    from icecrack_assets.sar.sentinel1.terrain import orbit_gcp_gap

    if info.product_type != "GRD" or not info.images:
        return "not applicable (GRD only)"
    src = SafeSource(path)
    try:
        ann = src.xml(info.images[0].annotation)
        geometry, gcps = parse_geometry(ann), parse_gcps(ann)
        gap = max(orbit_gcp_gap(gcps, geometry))
    except (ValueError, TypeError, AttributeError) as exc:
        return f"not possible ({exc})"
    finally:
        src.close()
    verdict = "ready for --dem" if gap <= 5 else "NOT possible: orbit and GCPs disagree"
    return (
        f"{verdict} ({len(geometry.orbit_t)} orbit vectors, {len(geometry.conv_t)} range polynomials, "
        f"orbit vs GCPs {gap:.2f} px)"
    )


_LOOSE = re.compile(
    r"(?P<mission>S1[A-D])_+(?P<mode>IW|EW|SM)_+(?:[A-Z]_)?(?:GRD[HMF]?_+1S[DS][HV]_+)?(?P<start>\d{8}T\d{6})"
    r"(?:.*?_(?P<pol>HH|HV|VV|VH)_)?"
)


def _describe_geotiff(path: Path):
    """A processed GeoTIFF: ESA-named (landing-zone rules) or any S1 GeoTIFF (SNAP, pyroSAR, GEE)."""
    from pyproj import Transformer

    from icecrack_assets.raster import gcp_spacing, open_single_band
    from icecrack_assets.regions import regions_for
    from icecrack_assets.sar.sentinel1.other_tools import is_gcp_only

    if is_gcp_only(path):
        import warnings

        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        with warnings.catch_warnings(), rasterio.open(path) as ds:
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            tags, size, nodata, dtype = ds.tags(), (ds.width, ds.height), ds.nodata, ds.dtypes[0]
            gcps, gcp_crs = ds.gcps
            spacing = gcp_spacing(ds)
        corners = [(0, 0), (0, size[0]), (size[1], size[0]), (size[1], 0)]
        picked = [min(gcps, key=lambda g, r=r, c=c: (g.row - r) ** 2 + (g.col - c) ** 2) for r, c in corners]
        to_ll = Transformer.from_crs(gcp_crs, 4326, always_xy=True)
        ring = list(zip(*to_ll.transform([g.x for g in picked], [g.y for g in picked])))
        crs_name = (
            f"EPSG:{gcp_crs.to_epsg()}"
            if gcp_crs.to_epsg()
            else f"custom {gcp_crs.to_dict().get('proj', 'CRS')}"
        )
        fitted = "" if spacing is None else f", about {spacing:.0f} m (fitted to the GCPs)"
        georef = f"{size[0]} x {size[1]} px, GCPs only ({len(gcps)} in {crs_name}){fitted}, nodata {nodata}"
    else:
        with open_single_band(path) as ds:
            tags, bounds, crs = ds.tags(), ds.bounds, ds.crs
            res, size, nodata, dtype = ds.res, (ds.width, ds.height), ds.nodata, ds.dtypes[0]
        to_ll = Transformer.from_crs(crs, 4326, always_xy=True)
        xs = [bounds.left, bounds.right, bounds.right, bounds.left]
        ys = [bounds.bottom, bounds.bottom, bounds.top, bounds.top]
        ring = list(zip(*to_ll.transform(xs, ys)))
        georef = f"{size[0]} x {size[1]} px, {res[0]:g} m, {crs.to_string()}, nodata {nodata}"
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
        f"raster:        {georef}",
        f"units:         {units}",
        f"values:        {_values(dtype, tags)}",
    ]
    return lines, hits, reasons, when


def _values(dtype: str, tags: dict[str, str]) -> str:
    from icecrack_assets.sar.sentinel1.other_tools import INTEGER_MAX

    if dtype in INTEGER_MAX:
        declared = tags.get("VALUE_RANGE")
        how = f"VALUE_RANGE tag {declared}" if declared else "not declared: pass --value-range LO,HI"
        return f"{dtype} scaled DN 1..{INTEGER_MAX[dtype]} (0 = nodata); range {how}"
    return f"{dtype}"


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
