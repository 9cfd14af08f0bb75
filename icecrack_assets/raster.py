"""GeoTIFF reading and atomic writing shared by the SAR and ML cores.

Every output goes to a temporary name beside its target and is renamed only when complete, so a
killed run leaves the previous good file or nothing, never a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from icecrack_assets.errors import InputError

Profile = dict[str, Any]


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers (GDAL, torch) want to create the file themselves
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"{target}: writer produced no file")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
        aux = tmp.with_name(tmp.name + ".aux.xml")
        if aux.exists():
            aux.unlink()


def open_single_band(path: str | Path) -> rasterio.io.DatasetReader:
    """Open a single-band, real-valued, georeferenced raster or raise a one-line InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file does not exist")
    if path.is_dir():
        raise InputError(path, "is a directory, not a raster file")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    try:
        ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(path, f"not a readable raster ({str(exc).splitlines()[0][:120]})") from None
    if ds.count != 1:
        ds.close()
        raise InputError(path, f"has {ds.count} bands; expected a single band")
    if np.dtype(ds.dtypes[0]).kind == "c" or ds.dtypes[0].startswith("complex"):
        ds.close()
        raise InputError(path, f"is complex ({ds.dtypes[0]}); expected detected intensity")
    if ds.crs is None:
        ds.close()
        raise InputError(path, "has no CRS; expected a georeferenced raster")
    return ds


def read_single_band(path: str | Path) -> tuple[np.ndarray, Profile]:
    """Read a whole single-band raster as float32 with nodata (and non-finite) set to NaN."""
    with open_single_band(path) as ds:
        try:
            arr = ds.read(1).astype(np.float32)
        except RasterioIOError as exc:
            raise InputError(path, f"truncated or corrupt pixels ({str(exc)[:100]})") from None
        nodata = ds.nodata
        profile = dict(ds.profile)
    if nodata is not None and not np.isnan(nodata):
        arr[arr == nodata] = np.nan
    arr[~np.isfinite(arr)] = np.nan
    return arr, profile


def float_profile(profile: Profile, dtype: str = "float32", nodata: float | None = np.nan) -> Profile:
    """A tiled, compressed single-band profile derived from an input profile."""
    out = {k: v for k, v in profile.items() if k in ("driver", "width", "height", "crs", "transform")}
    out.update(
        driver="GTiff",
        count=1,
        dtype=dtype,
        nodata=nodata,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
        predictor=3 if dtype.startswith("float") else 2,
        BIGTIFF="IF_SAFER",
    )
    return out


def write_raster_atomic(
    path: str | Path,
    array: np.ndarray,
    profile: Profile,
    tags: dict[str, str] | None = None,
    cog: bool = False,
) -> Path:
    """Write one band atomically; ``cog=True`` writes a Cloud Optimized GeoTIFF with overviews."""
    path = Path(path)
    prof = dict(profile)
    prof.update(count=1, height=array.shape[0], width=array.shape[1], dtype=str(array.dtype))
    with atomic_path(path) as tmp:
        if cog:
            prof.pop("tiled", None)
            prof.pop("blockxsize", None)
            prof.pop("blockysize", None)
            prof.pop("BIGTIFF", None)
            prof.update(driver="COG", BLOCKSIZE=256)
            with rasterio.MemoryFile() as mem:
                gtiff = dict(prof, driver="GTiff")
                gtiff.pop("BLOCKSIZE", None)
                with mem.open(**gtiff) as ds:
                    ds.write(array, 1)
                    if tags:
                        ds.update_tags(**tags)
                with mem.open() as src:
                    rasterio.shutil.copy(
                        src,
                        tmp,
                        driver="COG",
                        BLOCKSIZE=256,
                        COMPRESS=str(prof.get("compress", "deflate")).upper(),
                    )
        else:
            with rasterio.open(tmp, "w", **prof) as ds:
                ds.write(array, 1)
                if tags:
                    ds.update_tags(**tags)
    return path


@dataclass(frozen=True)
class Block:
    """One processing window: ``read`` includes the halo, ``write`` is the core it produces.

    ``inner`` slices the core out of the array read through ``read``.
    """

    read: Window
    write: Window
    inner: tuple[slice, slice]


def iter_blocks(height: int, width: int, block: int, halo: int) -> Iterator[Block]:
    """Tile an image into ``block``-sized cores with ``halo`` pixels of context, clipped at edges."""
    if block <= 0:
        raise ValueError("block must be positive")
    for r0 in range(0, height, block):
        r1 = min(r0 + block, height)
        rr0, rr1 = max(r0 - halo, 0), min(r1 + halo, height)
        for c0 in range(0, width, block):
            c1 = min(c0 + block, width)
            cc0, cc1 = max(c0 - halo, 0), min(c1 + halo, width)
            yield Block(
                read=Window(cc0, rr0, cc1 - cc0, rr1 - rr0),
                write=Window(c0, r0, c1 - c0, r1 - r0),
                inner=(slice(r0 - rr0, r0 - rr0 + (r1 - r0)), slice(c0 - cc0, c0 - cc0 + (c1 - c0))),
            )
