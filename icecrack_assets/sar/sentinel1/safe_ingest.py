"""SAFE GRD product -> linear sigma0 on a region grid: calibrate, remove noise, mask borders, geocode.

Only the measurement window that covers the region AOI is ever read (windowed reads through GDAL,
``/vsizip/`` for zips), so a 25 000 x 17 000 GRD costs a region-sized read, not 860 MB.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError

from icecrack_assets.errors import InputError
from icecrack_assets.regions import GRD_LOOKS, Region
from icecrack_assets.sar.sentinel1.calibration import calibrate, interpolate_lut, parse_calibration
from icecrack_assets.sar.sentinel1.geocode import covering_window, image_coords, parse_gcps, sample_bilinear
from icecrack_assets.sar.sentinel1.noise import UnknownNoiseFormat, noise_power, parse_noise
from icecrack_assets.sar.sentinel1.range_doppler import parse_geometry
from icecrack_assets.sar.sentinel1.safe import ImageFiles, ProductInfo, SafeSource, read_info
from icecrack_assets.sar.sentinel1.scene_file import IngestResult, write_scene
from icecrack_assets.sar.sentinel1.terrain import Dem, dem_on_grid, orbit_gcp_gap, terrain_image_coords

MAX_ORBIT_GCP_PX = 5.0  # real products agree to < 1 px; more means the annotation is inconsistent
BORDER_SEARCH = 0.05  # fraction of the swath width searched for old-IPF border noise at each side


def check_fits(info: ProductInfo, region: Region) -> None:
    """Refuse, with the reason, a product that cannot serve ``region`` (the test is the region's)."""
    problems = region.fit_problems(info.start, info.mode, info.product_type, list(info.footprint))
    if problems:
        raise InputError(info.path, problems[0])


def _parse(src: SafeSource, name: str, what: str, parser):
    try:
        return parser(src.xml(name))
    except InputError:
        raise
    except UnknownNoiseFormat as exc:
        raise InputError(src.path, f"unknown noise format in {name}: {exc}") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(src.path, f"{what} {name} is malformed ({exc})") from None


def border_mask(dn: np.ndarray, ipf: str, noise: np.ndarray) -> np.ndarray:
    """True where a pixel is GRD border noise or no data.

    IPF >= 2.90 already sets border noise to DN 0, so zero is nodata. Older products keep a strip of
    low, noise-dominated values at both range edges: in the outer ``BORDER_SEARCH`` of each line, the
    run of pixels from the edge up to the last one whose power does not exceed the thermal noise is
    masked too.
    """
    bad = dn == 0
    if _ipf_number(ipf) >= 2.90:
        return bad
    power = dn.astype(np.float64) ** 2
    weak = bad | (power <= noise)
    width = dn.shape[1]
    limit = max(int(width * BORDER_SEARCH), 1)
    for edge in (slice(0, limit), slice(width - limit, width)):
        part = weak[:, edge]
        if edge.start == 0:
            # cumulative "all weak so far" from the left edge
            run = np.logical_and.accumulate(part, axis=1)
        else:
            run = np.logical_and.accumulate(part[:, ::-1], axis=1)[:, ::-1]
        bad[:, edge] |= run
    return bad


def _ipf_number(ipf: str) -> float:
    try:
        return float(ipf)
    except ValueError:
        return 0.0


def ingest_safe(
    path: Path, region: Region, dst: Path, polarisation: str | None = None, dem: Dem | None = None
) -> IngestResult:
    """Calibrated, noise-removed, border-masked sigma0 of one polarisation on the region grid.

    With ``dem``, pixels are placed by range-Doppler at the DEM heights (terrain correction) and
    layover/shadow become nodata; without, at the GCP heights.
    """
    src = SafeSource(path)
    try:
        info = read_info(src)
        check_fits(info, region)
        pol = (polarisation or region.polarisation).upper()
        image = info.image(pol)
        out, steps = _geocoded_sigma0(src, info, image, region, dem)
    finally:
        src.close()
    looks = GRD_LOOKS.get((info.mode, info.product), region.looks)
    tags = {
        "SCENE_ID": info.scene_id,
        "POLARISATION": pol,
        "LOOKS": f"{looks:g}",
        "ICECRACK_HISTORY": json.dumps(steps),
        "ICECRACK_SOURCE_IPF": info.ipf_version,
        "ICECRACK_ACQUIRED": info.start.isoformat(),
        "ICECRACK_ORBIT_DIRECTION": info.orbit_direction,
    }
    src_name = Path(info.scene_id + ".SAFE")
    try:
        return write_scene(
            src_name,
            region,
            dst,
            out,
            tags,
            pol,
            f"geocoded to {region.crs} {region.pixel_size:g} m (bilinear on intensity)",
            "linear",
        )
    except InputError as exc:
        raise InputError(path, exc.problem) from None


def _geocoded_sigma0(
    src: SafeSource, info: ProductInfo, image: ImageFiles, region: Region, dem: Dem | None = None
) -> tuple[np.ndarray, list[str]]:
    p = src.path
    for what, name in (
        ("calibration", image.calibration),
        ("noise", image.noise),
        ("measurement", image.measurement),
    ):
        if name is None:
            raise InputError(p, f"missing {what} file for {image.swath} {image.polarisation}")
    annotation = src.xml(image.annotation)
    gcps = _parse(src, image.annotation, "annotation", parse_gcps)
    sigma_lut = _parse(src, image.calibration, "calibration", parse_calibration)
    noise = _parse(src, image.noise, "noise", parse_noise)
    n_lines = int(annotation.findtext("imageAnnotation/imageInformation/numberOfLines"))
    n_samples = int(annotation.findtext("imageAnnotation/imageInformation/numberOfSamples"))

    if dem is None:
        rows, cols = image_coords(gcps, region.crs, region.transform, region.width, region.height)
        placed = "placed with the GCP grid (GCP heights, no DEM)"
    else:
        heights = dem_on_grid(dem, region.crs, region.transform, region.width, region.height)
        geometry = _parse(src, image.annotation, "annotation", parse_geometry)
        gap = max(orbit_gcp_gap(gcps, geometry))
        if gap > MAX_ORBIT_GCP_PX:
            raise InputError(
                p,
                f"annotation orbit and geolocation grid disagree by {gap:.0f} px; "
                "cannot terrain-correct (was the annotation edited?)",
            )
        terrain = terrain_image_coords(
            gcps, geometry, region.crs, region.transform, region.width, region.height, heights
        )
        rows, cols = terrain.lines, terrain.pixels
        placed = f"{terrain.summary()} ({Path(dem.path).name}, geoid offset {dem.geoid_undulation_m:g} m)"
    window = covering_window(rows, cols, n_lines, n_samples)
    if window is None:
        raise InputError(p, f"image does not cover the {region.name} AOI")
    if src.size(image.measurement) == 0:
        raise InputError(p, f"measurement {image.measurement} is empty (0 bytes)")
    dn = _read_measurement(src, image.measurement, window, n_lines, n_samples)

    r_idx = np.arange(window.row_off, window.row_off + window.height)
    c_idx = np.arange(window.col_off, window.col_off + window.width)
    a = interpolate_lut(sigma_lut, r_idx, c_idx)
    n = noise_power(noise, r_idx, c_idx)
    sigma0 = calibrate(dn, a, n)
    sigma0[border_mask(dn, info.ipf_version, n)] = np.nan
    out = sample_bilinear(sigma0, rows - window.row_off, cols - window.col_off)
    steps = [
        f"read {info.scene_id} {image.swath} {image.polarisation} (IPF {info.ipf_version}), "
        f"window lines {window.row_off}-{window.row_off + window.height}, "
        f"pixels {window.col_off}-{window.col_off + window.width}",
        "calibrated to sigma0 with the sigmaNought LUT (bilinear over lines and pixels)",
        f"thermal noise removed ({noise.format} format)",
        "border noise and zero DN masked as nodata",
        placed,
    ]
    return out, steps


def _read_measurement(src: SafeSource, name: str, window, n_lines: int, n_samples: int) -> np.ndarray:
    p = src.path
    try:
        with warnings.catch_warnings(), rasterio.open(src.gdal_path(name)) as ds:
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # GRD TIFFs carry GCPs or nothing
            if ds.dtypes[0].startswith("complex") or np.dtype(ds.dtypes[0]).kind == "c":
                raise InputError(p, f"measurement {name} is complex (SLC); only GRD can be ingested")
            if (ds.height, ds.width) != (n_lines, n_samples):
                raise InputError(
                    p,
                    f"measurement {name} is {ds.width}x{ds.height} but the annotation "
                    f"says {n_samples}x{n_lines}",
                )
            return ds.read(1, window=window).astype(np.float32)
    except InputError:
        raise
    except (RasterioIOError, RasterioError) as exc:
        raise InputError(
            p, f"measurement {name} is truncated or unreadable ({str(exc).splitlines()[0][:100]})"
        ) from None
