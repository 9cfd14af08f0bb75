"""Scene-level prediction: the scene's normalisation statistics and the model's pixel spacing.

``predict_scene`` wraps ``inference.predict_file`` with the two things that depend on the whole
scene rather than on a window:

- robust normalisation (``robust-db``) takes the median and spread of the *scene*, measured once
  on a regular subsample and bound into the bundle's normalisation, so every window and tile is
  normalised alike (windowed maps still equal whole-image maps);
- a bundle records the pixel spacing it was trained at (``pixel_size``: nominal, min, max). An
  input whose spacing lies outside [min, max] is resampled to the nearest bound (area-averaged
  when shrinking, bilinear when enlarging), predicted there, and the probability is resampled
  back to the input's grid, where the mask is thresholded: outputs are always on the input grid.
  A raster placed only by GCPs (radar geometry) has its spacing fitted from them and is predicted
  on its own grid when that lies in the range, refused with advice otherwise (resampling needs a
  map grid); other rasters without a projected CRS (or with an identity transform) are not
  resampled unless the caller gives their spacing.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from icecrack_assets.errors import IceCrackError, InputError
from icecrack_assets.ml.bundle import Bundle, read_bundle_json
from icecrack_assets.ml.inference import (
    PredictResult,
    ice_on_window,
    predict_file,
    probability_scratch_profile,
    publish_probability,
    scene_looks,
)
from icecrack_assets.ml.postprocess import crack_mask, stored_probability
from icecrack_assets.raster import (
    MASK_NODATA,
    atomic_path,
    effective_nodata,
    float_profile,
    gcp_spacing,
    iter_blocks,
    on_map_grid,
    open_single_band,
    placed_by_gcps_only,
    read_window_nan,
)

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

SPACING_TOLERANCE = 0.05  # inputs within 5 % of the trained range are not resampled


def bundle_spacing(bundle: Bundle) -> dict[str, Any] | None:
    """``{"nominal_m", "min_m", "max_m"}`` the bundle was trained at, or None (older bundles)."""
    try:
        return read_bundle_json(bundle.path).get("pixel_size")
    except Exception:
        return None


def raster_spacing(ds: rasterio.io.DatasetReader) -> float | None:
    """Ground pixel spacing (m) of a projected, georeferenced raster or of one placed by GCPs, else None."""
    if placed_by_gcps_only(ds):
        return gcp_spacing(ds)
    if ds.crs is None or not ds.crs.is_projected or ds.transform.is_identity:
        return None
    t = ds.transform
    return math.sqrt(abs(t.a * t.e - t.b * t.d))


def target_spacing(spacing: float | None, trained: dict[str, Any] | None) -> float | None:
    """The spacing to predict at, or None when the input needs no resampling."""
    if spacing is None or not trained:
        return None
    lo, hi = float(trained["min_m"]), float(trained["max_m"])
    if lo * (1 - SPACING_TOLERANCE) <= spacing <= hi * (1 + SPACING_TOLERANCE):
        return None
    return lo if spacing < lo else hi


def predict_scene(
    bundle: Bundle,
    src: Path,
    dst_mask: Path,
    dst_prob: Path | None = None,
    *,
    despeckled: bool = False,
    looks: float | None = None,
    pixel_size: float | None = None,
    ice: BaseGeometry | None = None,
    **kwargs: Any,
) -> PredictResult:
    """``predict_file`` with scene statistics bound and the input resampled to the model's spacing;
    ``ice`` (polygons in the input's CRS) limits the outputs on the input's grid."""
    src, dst_mask = Path(src), Path(dst_mask)
    t0 = time.time()
    # with its spacing given, a plain image (no georeferencing) is predicted on its pixel grid
    with open_single_band(src, allow_gcps=True, allow_unplaced=pixel_size is not None) as ds:
        spacing = pixel_size if pixel_size is not None else raster_spacing(ds)
        target = target_spacing(spacing, bundle_spacing(bundle))
        if target is not None and not on_map_grid(ds):
            placed, advice = (
                ("placed only by GCPs", "warp it onto a map grid at that spacing first (rio warp --res)")
                if placed_by_gcps_only(ds)
                else ("not georeferenced", "georeference it, or resample it to that spacing first")
            )
            raise InputError(
                src,
                f"at {spacing:.3g} m it needs resampling to the model's {target:g} m, and it is {placed}; {advice}",
            )
        # on the input's own grid predict_file binds the scene statistics itself (once per scene)
        file_looks = looks if looks is not None else scene_looks(ds)
    if target is None:
        res = predict_file(
            bundle, src, dst_mask, dst_prob, despeckled=despeckled, looks=looks, ice=ice, **kwargs
        )
        return replace(res, pixel_size_m=spacing, predicted_at_m=spacing)
    if spacing is None:  # pragma: no cover - target_spacing returns None then
        raise IceCrackError("no spacing")
    factor = spacing / target  # output pixels per input pixel along each axis
    dst_mask.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".icecrack-scaled.", dir=dst_mask.parent) as scratch:
        tmp_in = Path(scratch) / "input.tif"
        _resample_to(src, tmp_in, factor)
        # averaging n x n pixels multiplies the looks by about n^2 (fewer when speckle is correlated)
        new_looks = None if file_looks is None else file_looks * max(1.0, 1.0 / factor**2)
        tmp_mask, tmp_prob = Path(scratch) / "mask.tif", Path(scratch) / "prob.tif"
        res = predict_scene(
            bundle,
            tmp_in,
            tmp_mask,
            tmp_prob,
            despeckled=despeckled,
            looks=new_looks,
            pixel_size=target,
            **kwargs,
        )
        n_valid, n_crack = _back_to_grid(bundle, src, tmp_prob, dst_mask, dst_prob, factor, ice)
    seconds = time.time() - t0
    with rasterio.open(src) as ds:
        h, w = ds.height, ds.width
    return replace(
        res,
        mask=str(dst_mask),
        probability=str(dst_prob) if dst_prob else None,
        valid_pixels=n_valid,
        crack_pixels=n_crack,
        crack_fraction=n_crack / n_valid if n_valid else 0.0,
        seconds=seconds,
        mpix_per_s=h * w / 1e6 / seconds if seconds > 0 else math.inf,
        pixel_size_m=spacing,
        predicted_at_m=target,
    )


def _resample_to(src: Path, dst: Path, factor: float) -> None:
    """Write ``src`` resampled by ``factor`` (pixels per input pixel) as a tiled float32 GeoTIFF."""
    with rasterio.open(src) as ds:
        w, h = max(1, round(ds.width * factor)), max(1, round(ds.height * factor))
        transform = ds.transform @ Affine.scale(ds.width / w, ds.height / h)
        prof = float_profile(ds.profile)
        prof.update(width=w, height=h, transform=transform)
        nodata = effective_nodata(ds)
        src_nodata = np.nan if nodata is None else nodata
        with (
            WarpedVRT(
                ds,
                crs=ds.crs,
                transform=transform,
                width=w,
                height=h,
                src_nodata=src_nodata,
                nodata=np.nan,
                dtype="float32",
                resampling=Resampling.average if factor < 1 else Resampling.bilinear,
            ) as vrt,
            rasterio.open(dst, "w", **prof) as out,
        ):
            for b in iter_blocks(h, w, 2048, 0):
                arr = vrt.read(1, window=b.write).astype(np.float32)
                arr[~np.isfinite(arr) | (arr <= 0)] = np.nan
                out.write(arr, 1, window=b.write)
            out.update_tags(**{k: v for k, v in ds.tags().items() if k not in ("LOOKS", "ENL")})


def _back_to_grid(
    bundle: Bundle,
    src: Path,
    prob_small: Path,
    dst_mask: Path,
    dst_prob: Path | None,
    factor: float,
    ice: BaseGeometry | None = None,
) -> tuple[int, int]:
    """Resample the model-grid probability onto the input grid (bilinear) and threshold it there;
    the probability map is published as ``predict_file`` publishes its own (steps of 1/4096, COG)."""
    min_comp = int(round(bundle.min_component / factor**2))
    n_valid = n_crack = 0
    with rasterio.open(src) as ds, rasterio.open(prob_small) as ps:
        h, w = ds.height, ds.width
        mask_prof = float_profile(ds.profile, dtype="uint8", nodata=MASK_NODATA)
        prob_prof = probability_scratch_profile(ds)
        blocks = list(iter_blocks(h, w, 2048, 0))
        with (
            WarpedVRT(
                ps,
                crs=ds.crs,
                transform=ds.transform,
                width=w,
                height=h,
                src_nodata=np.nan,
                nodata=np.nan,
                resampling=Resampling.bilinear,
            ) as vrt,
            atomic_path(dst_mask) as tmp_mask,
            tempfile.TemporaryDirectory(prefix=".icecrack-prob.", dir=dst_mask.parent) as scratch,
        ):
            tmp_prob = Path(scratch) / "prob.tif" if dst_prob else None
            with contextlib.ExitStack() as writers:  # both closed (complete) before the COG copy
                mds = writers.enter_context(rasterio.open(tmp_mask, "w", **mask_prof))
                pds = writers.enter_context(rasterio.open(tmp_prob, "w", **prob_prof)) if tmp_prob else None
                for b in blocks:
                    valid = np.isfinite(read_window_nan(ds, b.write, src))
                    if ice is not None:
                        valid &= ice_on_window(ice, ds, b.write)
                    p = vrt.read(1, window=b.write).astype(np.float32)
                    p[~valid] = np.nan
                    cm = crack_mask(p, bundle.threshold, min_comp, keep_edge=len(blocks) > 1)
                    m = np.where(valid & np.isfinite(p), cm.astype(np.uint8), MASK_NODATA).astype(np.uint8)
                    n_valid += int(valid.sum())
                    n_crack += int((m == 1).sum())
                    mds.write(m, 1, window=b.write)
                    if pds is not None:
                        pds.write(stored_probability(p), 1, window=b.write)
            if dst_prob and tmp_prob:
                publish_probability(tmp_prob, dst_prob)
    return n_valid, n_crack
