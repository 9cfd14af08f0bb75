"""The "speckled Lai" suite: real human fracture masks (Lai et al. 2020) under synthetic speckle.

The MODIS (optical) tiles are read in place from the shared data folder (GPL-3.0: never copied
into the repository), turned into a linear intensity (brightness / 65535; 0 is nodata),
multiplied by unit-mean gamma speckle of ``looks`` looks with a fixed seed per tile, and
despeckled with the settings under test. Labels: mask 255 = fracture.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from icecrack_assets.errors import IceCrackError, InputError

SPLIT_DIRS = {"train": "data_trainset", "val": "data_validset", "test": "data_testset"}


@dataclass(frozen=True)
class LaiTile:
    name: str
    split: str
    image_path: Path
    mask_path: Path


def lai_tiles(root: Path, split: str) -> list[LaiTile]:
    """Image/mask pairs of one split of the Lai et al. data set."""
    d = Path(root) / SPLIT_DIRS[split]
    if not d.is_dir():
        raise IceCrackError(
            f"{d}: Lai et al. 2020 {split} split not found (expected the "
            "fracture-lai2020-moa folder of the shared data)"
        )
    tiles = []
    for img in sorted(d.glob("*.tif")):
        if img.stem.endswith("_mask"):
            continue
        mask = img.with_name(img.stem + "_mask.tif")
        if mask.is_file():
            tiles.append(LaiTile(img.stem, split, img, mask))
    if not tiles:
        raise InputError(d, "no image/mask pairs (*.tif with *_mask.tif)")
    return tiles


def _read(path: Path) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(path) as ds:
                return ds.read(1)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(path, f"not a readable raster ({str(exc)[:100]})") from None


def load_tile(tile: LaiTile, crop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(clean intensity float32 with NaN nodata, truth uint8 1/0/255)``, optionally centre-cropped."""
    img = _read(tile.image_path).astype(np.float32)
    mask = _read(tile.mask_path)
    if img.shape != mask.shape:
        raise InputError(tile.mask_path, f"shape {mask.shape} differs from its image {img.shape}")
    if crop and min(img.shape) > crop:
        r0, c0 = (img.shape[0] - crop) // 2, (img.shape[1] - crop) // 2
        img, mask = img[r0 : r0 + crop, c0 : c0 + crop], mask[r0 : r0 + crop, c0 : c0 + crop]
    valid = img > 0
    intensity = np.where(valid, img / 65535.0, np.nan).astype(np.float32)
    truth = np.where(valid, (mask > 127).astype(np.uint8), 255).astype(np.uint8)
    return intensity, truth


def speckle(clean: np.ndarray, looks: float, seed: int) -> np.ndarray:
    """Multiplicative unit-mean gamma speckle of ``looks`` looks (NaN stays NaN)."""
    rng = np.random.default_rng(seed)
    return (clean * rng.gamma(looks, 1.0 / looks, clean.shape)).astype(np.float32)


def tile_seed(tile: LaiTile, base: int = 0) -> int:
    import zlib

    return base * 1_000_003 + zlib.crc32(f"{tile.split}/{tile.name}".encode())
