"""Tiled inference with overlap and Hann blending, in memory or window by window file to file.

Tiles sit on one *global* grid (starts every ``tile - overlap`` pixels, the last tile flush with
the image edge). A file is processed block by block, and each block gathers exactly the tiles that
touch it, so a map computed window by window equals the whole-image map pixel for pixel, and
memory stays bounded by the block size whatever the scene size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import rasterio
import rasterio.shutil
import torch
from rasterio.windows import Window

from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.bundle import Bundle
from icecrack_assets.ml.normalise import normalise, scene_stats
from icecrack_assets.ml.postprocess import crack_mask, stored_probability
from icecrack_assets.raster import (
    MASK_NODATA,
    atomic_path,
    cog_options,
    iter_blocks,
    open_single_band,
    output_profile,
    read_window_nan,
)

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from icecrack_assets.sar.despeckle.files import DespeckleSettings

STATS_SIDE = 1024  # scene statistics use at most this many rows and columns (regular subsample)
TILE, OVERLAP = 512, 32  # large tiles, small overlap: ~13 % recomputation instead of 78 % at 256/64
# a scene narrower than this is mostly the U-Net's padding: the shipped model flags 75-100 % of a
# 1 x 40 or 2 x 3 patch of pure speckle, nothing of 31 x 700
MIN_SIDE = 32
# input declaring fewer looks than this is smoothed first when the bundle reads raw sigma0: at 1
# look the shipped model's F1 on simulated scenes rose 0.23 -> 0.31, at 1.5 by 0.02, at 2 not at all
FEW_LOOKS = 2.0
FEW_LOOKS_SIGMA = 0.5  # px; a Gaussian moves no edge (a 2x2 boxcar shifts by half a pixel)


def tile_starts(n: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles covering ``n`` pixels; the last tile ends at ``n``."""
    if n <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, n - tile + 1, stride))
    if starts[-1] + tile < n:
        starts.append(n - tile)
    return starts


def tile_grid(n: int, tile: int, overlap: int, multiple: int = 1) -> tuple[int, list[int]]:
    """Tile size and starts along one axis: as many tiles as ``tile`` would need, each shrunk
    (to a multiple of ``multiple``, the U-Net's) until they overlap by little more than ``overlap``.

    With fixed 512-px tiles a 2048-px scene needs 5 tiles per axis overlapping by up to 450 px:
    1.56x the pixels recomputed (a 2000 x 1500 demo scene 1.75x). Balanced tiles of 448 px: 1.2x.
    """
    if n <= tile:
        return n, [0]
    k = len(tile_starts(n, tile, overlap))
    size = -(-(n + (k - 1) * overlap) // k)  # k tiles of this size overlap by >= ``overlap``
    size = min(tile, -(-size // multiple) * multiple)
    return size, tile_starts(n, size, overlap)


def hann_weight(h: int, w: int) -> np.ndarray:
    """Separable sin^2 window, never exactly zero so image-edge pixels keep a weight."""

    def one(n: int) -> np.ndarray:
        win: np.ndarray = np.maximum(np.sin(np.pi * (np.arange(n) + 0.5) / n) ** 2, 1e-3)
        return win

    return np.outer(one(h), one(w)).astype(np.float32)


def _run(bundle: Bundle, batch: np.ndarray) -> np.ndarray:
    """Probabilities for a batch [B,1,h,w]. (Test-time flips are ``predict_with_spread``'s only: on
    suite c's scenes 2-8 flips gave +0.01-0.02 F1 for 2-8x the cost, docs/model.md.)"""
    with torch.inference_mode():
        x = torch.from_numpy(batch).to(bundle.device)
        if bundle.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        net = bundle.runner(cast("tuple[int, int, int, int]", tuple(x.shape)))  # x is [B,1,h,w]
        return torch.sigmoid(net(x)).float().cpu().numpy()


def _tile_probs(
    bundle: Bundle,
    x: np.ndarray,
    pos: list[tuple[int, int]],
    th: int,
    tw: int,
    batch_size: int = 8,
) -> list[np.ndarray]:
    """Probabilities of the tiles at local offsets ``pos`` of the normalised array ``x``, batched."""
    out: list[np.ndarray] = []
    for i in range(0, len(pos), batch_size):
        chunk = pos[i : i + batch_size]
        batch = np.stack([x[r : r + th, c : c + tw] for r, c in chunk])[:, None]
        out += [p[0] for p in _run(bundle, np.ascontiguousarray(batch, dtype=np.float32))]
    return out


def _blend(
    bundle: Bundle,
    x: np.ndarray,
    rows: list[int],
    cols: list[int],
    th: int,
    tw: int,
    batch_size: int = 8,
) -> np.ndarray:
    """Blend tiles at local offsets ``rows`` x ``cols`` over the normalised array ``x``."""
    acc = np.zeros(x.shape, np.float64)
    wsum = np.zeros(x.shape, np.float64)
    weight = hann_weight(th, tw)
    pos = [(r, c) for r in rows for c in cols]
    for (r, c), p in zip(pos, _tile_probs(bundle, x, pos, th, tw, batch_size)):
        acc[r : r + th, c : c + tw] += p * weight
        wsum[r : r + th, c : c + tw] += weight
    return (acc / np.maximum(wsum, 1e-12)).astype(np.float32)


def _blend_window(
    tiles: dict[tuple[int, int], np.ndarray],
    keys: list[tuple[int, int]],
    weight: np.ndarray,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
) -> np.ndarray:
    """Blend cached tile probabilities (keyed by global tile start) over the window [r0:r1, c0:c1]."""
    th, tw = weight.shape
    acc = np.zeros((r1 - r0, c1 - c0), np.float64)
    wsum = np.zeros_like(acc)
    for r, c in keys:
        a, b = max(r, r0), min(r + th, r1)
        e, f = max(c, c0), min(c + tw, c1)
        tile_w = weight[a - r : b - r, e - c : f - c]
        acc[a - r0 : b - r0, e - c0 : f - c0] += tiles[(r, c)][a - r : b - r, e - c : f - c] * tile_w
        wsum[a - r0 : b - r0, e - c0 : f - c0] += tile_w
    return (acc / np.maximum(wsum, 1e-12)).astype(np.float32)


def predict_probability(
    bundle: Bundle, intensity: np.ndarray, tile: int = TILE, overlap: int = OVERLAP
) -> np.ndarray:
    """Crack probability of a despeckled intensity array (NaN nodata in, NaN nodata out)."""
    intensity = np.asarray(intensity, dtype=np.float32)
    if intensity.ndim != 2:
        raise ValueError(f"expected a 2-D intensity array, got shape {intensity.shape}")
    h, w = intensity.shape
    (th, rows), (tw, cols) = (tile_grid(n, tile, overlap, bundle.model.multiple) for n in (h, w))
    x = normalise(intensity, bundle.normalisation)
    prob = _blend(bundle, x, rows, cols, th, tw)
    prob[~np.isfinite(intensity)] = np.nan
    return prob


def predict_with_spread(
    bundle: Bundle, intensity: np.ndarray, tile: int = TILE, overlap: int = OVERLAP
) -> tuple[np.ndarray, np.ndarray]:
    """Test-time-flip mean probability and the spread (std) across the four flips: an uncertainty map."""
    maps = []
    intensity = np.asarray(intensity, dtype=np.float32)
    for flip in ((), (1,), (0,), (0, 1)):
        arr = np.flip(intensity, flip) if flip else intensity
        p = predict_probability(bundle, np.ascontiguousarray(arr), tile, overlap)
        maps.append(np.flip(p, flip) if flip else p)
    stack = np.stack(maps)
    return stack.mean(0), stack.std(0)


def _span(starts: list[int], size: int, lo: int, hi: int) -> tuple[list[int], int, int]:
    """Tiles (by start) touching [lo, hi) and the extent [a, b) they cover."""
    sel = [s for s in starts if s < hi and s + size > lo]
    return sel, sel[0], sel[-1] + size


def settings_from_dict(settings: dict[str, Any], looks: float | None = None) -> DespeckleSettings:
    """Rebuild the SAR core's DespeckleSettings from a bundle dict; ``looks`` fills a per-scene value
    (PPB parameters that follow the looks are re-resolved for it: DespeckleSettings.from_dict)."""
    from icecrack_assets.sar.despeckle.files import DespeckleSettings

    d = dict(settings)
    if looks is None and d.get("looks") in (None, "scene") and d.get("filter") not in ("none", "boxcar"):
        raise IceCrackError(
            "the bundle's despeckling takes the number of looks from each scene; "
            "the input has no LOOKS tag, so pass --looks"
        )
    if d.get("looks") in (None, "scene"):
        d.pop("looks", None)
    return DespeckleSettings.from_dict(d, looks)


def despeckler_for(
    settings: dict[str, Any], looks: float | None
) -> tuple[Callable[[np.ndarray], np.ndarray] | None, int]:
    """A function applying the bundle's despeckling and its halo, or (None, 0) for ``none``.

    A bundle that reads raw sigma0 (``none``) gets a light Gaussian instead when the input
    declares fewer than ``FEW_LOOKS`` looks: chosen on the simulator with the looks forced, it
    lifts single-look F1 and leaves 2 looks and more alone (docs/model.md, "Single-look input")."""
    if not settings or settings.get("filter", "none") == "none":
        if looks is not None and looks < FEW_LOOKS:
            from icecrack_assets.sar.despeckle.filters import gaussian, gaussian_radius

            return (lambda arr: gaussian(arr, FEW_LOOKS_SIGMA, valid=np.isfinite(arr))), gaussian_radius(
                FEW_LOOKS_SIGMA
            )
        return None, 0
    from icecrack_assets.sar.despeckle.files import despeckle

    s = settings_from_dict(settings, looks)
    return (lambda arr: despeckle(arr, s, valid=np.isfinite(arr))), int(s.halo())


def ice_on_window(ice: BaseGeometry, ds: rasterio.io.DatasetReader, window: Window) -> np.ndarray:
    """Pixels of ``window`` of ``ds`` whose centre lies in ``ice`` (polygons in ``ds``'s CRS)."""
    from icecrack_assets.masks.icemask import rasterise_on

    return rasterise_on(ice, (int(window.height), int(window.width)), ds.window_transform(window))


def scene_looks(ds: rasterio.io.DatasetReader) -> float | None:
    """The number of looks a raster declares in its tags (LOOKS, ENL), or None."""
    for key in ("LOOKS", "ENL", "looks"):
        val = ds.tags().get(key)
        if val:
            try:
                return float(val)
            except ValueError:
                return None
    return None


def file_stats(
    bundle: Bundle, ds: rasterio.io.DatasetReader, looks: float | None, despeckled: bool
) -> dict[str, float]:
    """The scene statistics of the model input: a regular subsample, or a despeckled centre crop."""
    fn = None
    if not despeckled:
        fn, _ = despeckler_for(bundle.despeckle, looks if looks is not None else scene_looks(ds))
    if fn is None:
        step = max(1, math.ceil(max(ds.height, ds.width) / STATS_SIDE))
        arr = read_window_nan(
            ds, None, ds.name, out_shape=(math.ceil(ds.height / step), math.ceil(ds.width / step))
        )
    else:
        h, w = min(ds.height, STATS_SIDE), min(ds.width, STATS_SIDE)
        arr = fn(read_window_nan(ds, Window((ds.width - w) // 2, (ds.height - h) // 2, w, h), ds.name))
    return scene_stats(arr, bundle.normalisation)


def bind_stats(bundle: Bundle, stats: dict[str, float]) -> Bundle:
    """A view of ``bundle`` whose normalisation carries fixed scene statistics."""
    return dataclasses.replace(
        bundle, normalisation={**bundle.normalisation, **stats}, _runners=bundle._runners
    )


@dataclass(frozen=True)
class PredictResult:
    """What one prediction wrote and found (crack pixels counted after post-processing)."""

    mask: str
    probability: str | None
    threshold: float
    valid_pixels: int
    crack_pixels: int
    crack_fraction: float
    seconds: float
    mpix_per_s: float
    despeckled_here: bool  # a filter ran on the input here: the bundle's, or the few-looks Gaussian
    pixel_size_m: float | None = None  # the input's pixel spacing (scene-level prediction)
    predicted_at_m: float | None = None  # the spacing the model saw (differs when resampled)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def probability_scratch_profile(ds: rasterio.io.DatasetReader) -> dict[str, Any]:
    """The profile of a probability map on ``ds``'s grid, written window by window before
    ``publish_probability``: ZSTD level 1, which writes 5x faster than DEFLATE level 1 (the COG
    recompresses it anyway)."""
    return {**output_profile(ds), "compress": "zstd", "zstd_level": 1, "predictor": 1}


def publish_probability(scratch: Path, dst: Path) -> None:
    """Copy a scratch probability map (values already ``stored_probability``) to ``dst`` as a COG,
    atomically; GDAL compresses its blocks on every core."""
    with atomic_path(dst) as tmp_cog:
        rasterio.shutil.copy(scratch, tmp_cog, driver="COG", NUM_THREADS="ALL_CPUS", **cog_options("float32"))


def predict_file(
    bundle: Bundle,
    src: Path,
    dst_mask: Path,
    dst_prob: Path | None = None,
    despeckled: bool = False,
    block: int = 2048,
    tile: int = TILE,
    overlap: int = OVERLAP,
    looks: float | None = None,
    progress: Callable[[str], object] | None = None,
    ice: BaseGeometry | None = None,
) -> PredictResult:
    """Predict a whole scene window by window; writes the uint8 mask (1 crack, 0, 255 nodata) and a probability COG.

    ``despeckled=False`` means ``src`` is raw speckled sigma0 and the bundle's despeckling is applied
    to each window with a halo first; its number of looks comes from ``looks``, else the file's
    LOOKS tag, else the bundle. Outputs appear only when complete. The bundle's minimum crack
    component size is applied per window, keeping components that touch a window edge (their
    full size is unknown there), so windowing can only keep, never invent, crack pixels.
    ``ice`` (polygons in the raster's CRS) limits both outputs to the pixels whose centre lies
    inside; the model still sees the whole input, so scene statistics do not depend on it.
    """
    src, dst_mask = Path(src), Path(dst_mask)
    dst_prob = Path(dst_prob) if dst_prob else None
    t0 = time.time()
    thr = float(bundle.threshold)
    n_valid = n_crack = 0
    with open_single_band(src, allow_gcps=True, allow_unplaced=True) as ds:  # works on any pixel grid
        if bundle.normalisation.get("kind") == "robust-db" and "median_db" not in bundle.normalisation:
            bundle = bind_stats(bundle, file_stats(bundle, ds, looks, despeckled))  # once per scene
        if despeckled:
            despeckle_fn, halo = None, 0
        else:
            despeckle_fn, halo = despeckler_for(
                bundle.despeckle, looks if looks is not None else scene_looks(ds)
            )
        h, w = ds.height, ds.width
        (th, rows_all), (tw, cols_all) = (tile_grid(n, tile, overlap, bundle.model.multiple) for n in (h, w))
        prob_prof = probability_scratch_profile(ds)
        mask_prof = output_profile(ds, dtype="uint8", nodata=MASK_NODATA)
        block = max(block, tile)
        blocks = list(iter_blocks(h, w, block, 0))
        dst_mask.parent.mkdir(parents=True, exist_ok=True)
        with (
            atomic_path(dst_mask) as tmp_mask,
            tempfile.TemporaryDirectory(prefix=".icecrack-prob.", dir=dst_mask.parent) as scratch,
        ):
            tmp_prob = Path(scratch) / "prob.tif"
            # tiles straddling two windows are predicted once and kept until no window needs them
            tiles: dict[tuple[int, int], np.ndarray] = {}
            weight = hann_weight(th, tw)
            with contextlib.ExitStack() as stack:
                mds = stack.enter_context(rasterio.open(tmp_mask, "w", **mask_prof))
                pds = stack.enter_context(rasterio.open(tmp_prob, "w", **prob_prof)) if dst_prob else None
                for i, b in enumerate(blocks):
                    r0, c0 = b.write.row_off, b.write.col_off
                    r1, c1 = r0 + b.write.height, c0 + b.write.width
                    rsel, _, _ = _span(rows_all, th, r0, r1)
                    csel, _, _ = _span(cols_all, tw, c0, c1)
                    keys = [(r, c) for r in rsel for c in csel]
                    todo = [k for k in keys if k not in tiles]
                    # read (and despeckle) only the window plus the tiles still to predict: the
                    # cached ones' pixels left and above need no second pass of the filter
                    ra, rb = min([r0] + [r for r, _ in todo]), max([r1] + [r + th for r, _ in todo])
                    ca, cb = min([c0] + [c for _, c in todo]), max([c1] + [c + tw for _, c in todo])
                    hr0, hr1 = max(ra - halo, 0), min(rb + halo, h)
                    hc0, hc1 = max(ca - halo, 0), min(cb + halo, w)
                    arr = read_window_nan(ds, Window(hc0, hr0, hc1 - hc0, hr1 - hr0), src)
                    if despeckle_fn is not None:
                        arr = despeckle_fn(arr)
                    arr = arr[ra - hr0 : rb - hr0, ca - hc0 : cb - hc0]
                    if todo:
                        x = normalise(arr, bundle.normalisation)
                        local = [(r - ra, c - ca) for r, c in todo]
                        tiles.update(zip(todo, _tile_probs(bundle, x, local, th, tw)))
                    p = _blend_window(tiles, keys, weight, r0, r1, c0, c1)
                    # a tile that no later window touches (not below, not to the right) is done
                    for k in [k for k in tiles if k[0] + th <= r1 and k[1] + tw <= c1]:
                        del tiles[k]
                    valid = np.isfinite(arr[r0 - ra : r1 - ra, c0 - ca : c1 - ca])
                    if ice is not None:
                        valid &= ice_on_window(ice, ds, b.write)
                    p[~valid] = np.nan
                    cm = crack_mask(p, thr, bundle.min_component, keep_edge=len(blocks) > 1)
                    m = np.where(valid, cm.astype(np.uint8), MASK_NODATA).astype(np.uint8)
                    n_valid += int(valid.sum())
                    n_crack += int((m == 1).sum())
                    mds.write(m, 1, window=b.write)
                    if pds is not None:
                        pds.write(stored_probability(p), 1, window=b.write)
                    if progress:
                        progress(f"block {i + 1}/{len(blocks)}")
            if dst_prob:
                publish_probability(tmp_prob, dst_prob)
    seconds = time.time() - t0
    return PredictResult(
        mask=str(dst_mask),
        probability=str(dst_prob) if dst_prob else None,
        threshold=thr,
        valid_pixels=n_valid,
        crack_pixels=n_crack,
        crack_fraction=n_crack / n_valid if n_valid else 0.0,
        seconds=seconds,
        mpix_per_s=h * w / 1e6 / seconds if seconds > 0 else math.inf,
        despeckled_here=despeckle_fn is not None,
    )
