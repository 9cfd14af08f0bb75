"""Suite d: real Sentinel-1 at crevasse-field level (4 IW crops, West Greenland, hand-drawn fields).

The labels are coarse polygons around crevasse *fields* and around supraglacial streams/lakes, not
crevasse traces, so the suite asks field-level questions of a crack mask:

- the flagged fraction inside fields, on background, and on streams/lakes, and the ratios
  inside/background and inside/streams (a detector of crevasses flags fields far more);
- fields hit: the share of fields (8-connected components of the field label) with at least 1 %
  of their pixels flagged.

The tiles are 8-bit rescaled dB with an unrecorded range (0 = nodata). They are converted to
linear sigma0 with an assumed range (``DB_RANGE``) and written as GeoTIFFs, then predicted by
``scaled.predict_scene`` exactly as ``icecrack predict`` would (resampled to the model's pixel
spacing, mask written back on the 10 m grid). The robust normalisation makes the assumed range
irrelevant to the model. The Sato ridge runs on the same linear image at native resolution with
its threshold tuned on randomised-simulator validation scenes (it has no real pixel truth either).
The same tiles can be weak, field-level training labels (``ml/weak.py``); suite d then scores each
tile with a model that never saw it (leave one tile out), and says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from scipy import ndimage

from icecrack_assets.errors import IceCrackError, InputError

FIELD, BACKGROUND, STREAM, NODATA_CLASS = 1, 2, 3, 0
DB_RANGE = (-25.0, 0.0)  # assumed dB of 8-bit values 1 and 255 (the source does not record it)
IW_LOOKS = 4.4  # the despeckling looks given to filtered bundles (the tiles do not record theirs)
HIT_FRACTION = 0.01  # a field is hit when at least 1 % of its pixels are flagged
TARGETS = {"fields_hit": 0.6, "inside_over_background": 2.5, "inside_over_streams": 1.5}


@dataclass(frozen=True)
class FieldTile:
    name: str
    image_path: Path
    mask_path: Path


def field_tiles(root: Path) -> list[FieldTile]:
    root = Path(root)
    tiles = [
        FieldTile(p.stem, p, p.with_name(p.stem + "_mask.tif"))
        for p in sorted(root.glob("a*.tif"))
        if not p.stem.endswith("_mask") and p.with_name(p.stem + "_mask.tif").is_file()
    ]
    if not tiles:
        raise IceCrackError(
            f"{root}: no aN.tif / aN_mask.tif pairs (expected the s1-gris-crevasse-fields-naureen folder)"
        )
    return tiles


def _open(path: Path):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(path, f"not a readable raster ({str(exc)[:100]})") from None


def load_field_tile(tile: FieldTile) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(linear sigma0 float32 NaN nodata, classes uint8 0/1/2/3, profile)`` of one tile."""
    with _open(tile.image_path) as ds:
        img = ds.read(1)
        prof = {"crs": ds.crs, "transform": ds.transform, "width": ds.width, "height": ds.height}
    with _open(tile.mask_path) as ds:
        onehot = ds.read()
    if onehot.shape != (3, *img.shape):
        raise InputError(tile.mask_path, f"expected 3 bands of shape {img.shape}, got {onehot.shape}")
    lo, hi = DB_RANGE
    db = lo + (img.astype(np.float32) - 1.0) * (hi - lo) / 254.0
    sigma0 = np.where(img > 0, np.power(10.0, db / 10.0), np.nan).astype(np.float32)
    classes = np.zeros(img.shape, np.uint8)
    for band, cls in ((1, BACKGROUND), (0, FIELD), (2, STREAM)):
        classes[onehot[band] > 0] = cls
    classes[img == 0] = NODATA_CLASS
    return sigma0, classes, prof


def field_counts(mask: np.ndarray, classes: np.ndarray) -> dict:
    """Flagged and total pixels per class and the per-field hit list, for pooling across tiles."""
    flagged = np.asarray(mask) == 1
    out: dict = {}
    for name, cls in (("field", FIELD), ("background", BACKGROUND), ("stream", STREAM)):
        sel = classes == cls
        out[name] = [int((flagged & sel).sum()), int(sel.sum())]
    lab, n = ndimage.label(classes == FIELD, structure=np.ones((3, 3), bool))
    if n:
        size = np.bincount(lab.ravel(), minlength=n + 1)[1:]
        hit = np.bincount(lab.ravel(), weights=flagged.ravel(), minlength=n + 1)[1:]
        out["field_fractions"] = [round(float(h / s), 5) for h, s in zip(hit, size)]
    else:
        out["field_fractions"] = []
    return out


def field_metrics(counts: list[dict]) -> dict:
    """Pooled field-level scores of several tiles' ``field_counts``."""

    def frac(name: str) -> float:
        a = sum(c[name][0] for c in counts)
        b = sum(c[name][1] for c in counts)
        return a / b if b else 0.0

    inside, bg, st = frac("field"), frac("background"), frac("stream")
    fields = [f for c in counts for f in c["field_fractions"]]
    hits = sum(f >= HIT_FRACTION for f in fields)

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else (float("inf") if a > 0 else 0.0)

    return {
        "inside": inside,
        "background": bg,
        "streams": st,
        "inside_over_background": ratio(inside, bg),
        "inside_over_streams": ratio(inside, st),
        "fields": len(fields),
        "fields_hit_count": int(hits),
        "fields_hit": hits / len(fields) if fields else 0.0,
    }


def write_linear(sigma0: np.ndarray, prof: dict, path: Path) -> Path:
    """The tile as a float32 linear-sigma0 GeoTIFF (NaN nodata), what a user would hand to predict."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path, "w", driver="GTiff", count=1, dtype="float32", nodata=np.nan, tiled=True, **prof
    ) as ds:
        ds.write(sigma0, 1)
    return path


def model_on_fields(bundle, tiles: list[FieldTile], work: Path, pixel_size: float | None = None) -> dict:
    """Field-level scores of a bundle on the tiles, predicted as ``icecrack predict`` does.

    ``counts`` (one ``field_counts`` per tile) lets callers pool tiles scored by different models
    (leave-one-tile-out).
    """
    from icecrack_assets.ml.scaled import predict_scene

    counts, per_tile = [], {}
    for t in tiles:
        sigma0, classes, prof = load_field_tile(t)
        src = write_linear(sigma0, prof, Path(work) / f"{t.name}_sigma0.tif")
        dst = Path(work) / f"{t.name}_mask.tif"
        # the tiles record no looks (probably a multi-date median): filtered bundles get IW GRDH's ENL
        looks = None if bundle.despeckle.get("filter", "none") == "none" else IW_LOOKS
        res = predict_scene(bundle, src, dst, None, despeckled=False, looks=looks, pixel_size=pixel_size)
        with rasterio.open(dst) as ds:
            mask = ds.read(1)
        c = field_counts(mask, classes)
        counts.append(c)
        per_tile[t.name] = {**field_metrics([c]), "predicted_at_m": res.predicted_at_m}
    return {**field_metrics(counts), "per_tile": per_tile, "counts": counts}


def ridge_on_fields(threshold: float, tiles: list[FieldTile]) -> dict:
    """Field-level scores of the Sato ridge (native resolution, a fixed threshold)."""
    from icecrack_assets.ml.evaluation.ridge import ridge_response

    counts = []
    for t in tiles:
        sigma0, classes, _ = load_field_tile(t)
        r = ridge_response(sigma0)
        counts.append(field_counts((np.nan_to_num(r, nan=-np.inf) >= threshold).astype(np.uint8), classes))
    return field_metrics(counts)
