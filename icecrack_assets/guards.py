"""Shared guards every command runs before it writes: outputs that would clobber inputs, numbers
out of range, rasters with no usable pixels.

One implementation per class of bad input, so a new command cannot forget a case that another
command already refuses (issue 15). Dagster-free: the CLI and the assets both call these.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from icecrack_assets.errors import InputError

# --- paths -----------------------------------------------------------------------------------------


def _identity(path: Path) -> tuple[str, ...]:
    """What a path finally points at: the resolved path, plus the inode when the file exists.

    ``resolve()`` follows symlinks and ``..``; the inode also catches hard links and bind mounts.
    """
    real = Path(os.path.realpath(path))
    try:
        st = real.stat()
    except OSError:
        return (str(real),)
    return (str(real), f"{st.st_dev}:{st.st_ino}")


def _within(child: Path, parent: Path) -> bool:
    try:
        Path(os.path.realpath(child)).relative_to(os.path.realpath(parent))
    except ValueError:
        return False
    return True


def refuse_overwrite(inputs: Iterable[Path | str | None], outputs: Iterable[Path | str | None]) -> None:
    """Raise a one-line InputError if an output is (or lies inside) an input, or two outputs collide.

    Paths are compared after following symlinks and ``..`` and by inode, so ``x.tif``,
    ``./d/../x.tif`` and a link to ``x.tif`` are all the same file.
    """
    ins = [Path(p) for p in inputs if p is not None]
    outs = [Path(p) for p in outputs if p is not None]
    seen: dict[str, Path] = {}
    for out in outs:
        out_ids = set(_identity(out))
        for src in ins:
            if out_ids & set(_identity(src)):
                raise InputError(out, f"output would overwrite the input {src}")
            if src.is_dir() and _within(out, src):
                raise InputError(out, f"output would be written inside the input folder {src}")
        for ident in out_ids:
            if ident in seen:
                raise InputError(out, f"two outputs are the same file ({seen[ident]} and {out})")
            seen[ident] = out


def refuse_replacing_inputs(
    inputs: Iterable[Path | str | None], folders: Iterable[Path | str | None]
) -> None:
    """Raise if an output folder that is replaced wholesale holds an input (``--out`` = the parent)."""
    for folder in (Path(f) for f in folders if f is not None):
        for src in (Path(p) for p in inputs if p is not None):
            if _within(src, folder):
                raise InputError(folder, f"output folder would be replaced, but it holds the input {src}")


# --- numbers (argparse ``type=`` validators) -----------------------------------------------------


@dataclass(frozen=True)
class NumberRange:
    """A parser for one numeric option: finite, within [low, high] (bounds optional, open or closed)."""

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    what: str = "a number"

    def __call__(self, text: str) -> int | float:
        try:
            value: int | float = int(text) if self.kind is int else float(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be {self.what}, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be {self.what}, got {text!r}")
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and value > self.high
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be {self.what}, got {text!r}")
        return value

    @property
    def __name__(self) -> str:  # argparse names the type in its messages
        return self.what


def int_range(low: int | None = None, high: int | None = None, what: str | None = None) -> NumberRange:
    if what is None:
        what = f"an integer {_span(low, high, False)}"
    return NumberRange(int, low, high, False, what)


def float_range(
    low: float | None = None, high: float | None = None, low_open: bool = False, what: str | None = None
) -> NumberRange:
    if what is None:
        what = f"a finite number {_span(low, high, low_open)}"
    return NumberRange(float, low, high, low_open, what)


def _span(low: float | None, high: float | None, low_open: bool) -> str:
    if low is not None and high is not None:
        return f"{'>' if low_open else '>='} {low:g} and <= {high:g}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"<= {high:g}"
    return ""


# Shared meanings, so ``--looks`` means the same range in every command.
LOOKS = float_range(0.1, 10000.0, what="a positive number of looks between 0.1 and 10000")
POSITIVE_INT = int_range(1, what="a positive integer")
NON_NEGATIVE_INT = int_range(0, what="a non-negative integer")
POSITIVE_FLOAT = float_range(0.0, low_open=True, what="a positive finite number")
NON_NEGATIVE_FLOAT = float_range(0.0, what="a non-negative finite number")
MINUTES = float_range(0.0, 60.0 * 24 * 30, low_open=True, what="a positive number of minutes (at most 43200)")
LEARNING_RATE = float_range(0.0, 10.0, low_open=True, what="a learning rate > 0 and <= 10")
BLOCK = int_range(16, 1 << 16, what="between 16 and 65536 pixels")
FRACTION = float_range(0.0, 1.0, what="a number between 0 and 1")
OPEN_FRACTION = float_range(0.0, 1.0, low_open=True, what="a number > 0 and <= 1")
PIXEL_SIZE = float_range(0.0, 100000.0, what="a pixel size in metres between 0 and 100000 (0: the default)")


def positive_or_inf(text: str) -> float:
    """A strength that may be ``inf`` (meaning: off), but never NaN, zero or negative."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number or inf, got {text!r}") from None
    if math.isnan(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number or inf, got {text!r}")
    return value


# --- raster contents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PixelCensus:
    """How many pixels of a raster are usable linear intensity."""

    total: int
    finite: int
    positive: int
    negative: int


STRIP_PIXELS = 1 << 22  # 16 MB of float32 per read: bounded memory on 16k-wide scenes
# Above this many pixels the census reads an evenly spaced sample of full-width strips (about
# FULL_CENSUS_PIXELS in all) instead of every pixel: a full read cost ~30 % of predict's time on a
# 16k² scene. The proportions it judges (valid, negative, positive) survive sampling; a truncated
# block the sample misses still fails the processing read with one line, and outputs are atomic.
FULL_CENSUS_PIXELS = 1 << 26


def pixel_census(
    path: Path | str, open_fn: Callable[[Path], Any] | None = None, sample: bool = True
) -> PixelCensus:
    """Count finite / positive / negative pixels strip by strip; unreadable pixels raise InputError.

    Small rasters are read whole (a truncated file is found before a long run starts writing);
    big ones by a sample of strips, read whole only when the sample finds nothing usable, so a
    scene whose data sit in a few unsampled rows is never refused for it.
    """
    census = _census(Path(path), open_fn, sample)
    if (
        sample
        and census.total < _pixels(Path(path), open_fn)
        and (census.finite == 0 or census.positive == 0)
    ):
        census = _census(Path(path), open_fn, False)
    return census


def _open_for_census(path: Path) -> Any:
    """Any single-band raster, however it is placed (GCPs, or not at all): the census judges pixels
    only; each command then asks of the georeferencing what it needs."""
    from icecrack_assets.raster import open_single_band

    return open_single_band(path, allow_gcps=True, allow_unplaced=True)


def _pixels(path: Path, open_fn: Callable[[Path], Any] | None) -> int:
    with (open_fn or _open_for_census)(path) as ds:
        return int(ds.height * ds.width)


def _census(path: Path, open_fn: Callable[[Path], Any] | None, sample: bool) -> PixelCensus:
    import rasterio
    from rasterio.windows import Window

    from icecrack_assets.raster import effective_nodata

    total = finite = positive = negative = 0
    with rasterio.Env(GDAL_CACHEMAX=64), (open_fn or _open_for_census)(path) as ds:
        rows = max(1, STRIP_PIXELS // max(ds.width, 1))
        starts = list(range(0, ds.height, rows))
        stride = (
            max(1, -(-ds.height * ds.width // FULL_CENSUS_PIXELS)) if sample else 1
        )  # 1 strip in `stride`
        nodata = effective_nodata(ds)
        for r0 in starts[::stride]:
            h = min(rows, ds.height - r0)
            try:
                a = ds.read(1, window=Window(0, r0, ds.width, h))
            except rasterio.errors.RasterioError as exc:
                first = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
                raise InputError(path, f"truncated or corrupt pixels ({first})") from None
            a = a.astype(np.float32, copy=False)
            ok = np.isfinite(a)
            if nodata is not None and not np.isnan(nodata):
                ok &= a != nodata
            v = a[ok]
            total += a.size
            finite += int(v.size)
            positive += int(np.count_nonzero(v > 0))
            negative += int(np.count_nonzero(v < 0))
    return PixelCensus(total, finite, positive, negative)


def require_linear_intensity(path: Path | str) -> PixelCensus:
    """Refuse a raster that is not linear intensity: no valid pixels, all zero, or mostly negative (dB)."""
    from icecrack_assets.raster import DB_TO_LINEAR_ADVICE

    c = pixel_census(path)
    if c.finite == 0:
        raise InputError(path, "has no valid pixels (all nodata, NaN or infinite)")
    if c.negative > 0.5 * c.finite:
        raise InputError(
            path,
            f"{c.negative / c.finite:.0%} of pixels are negative: looks like dB; "
            f"expected linear sigma0 intensity; {DB_TO_LINEAR_ADVICE}",
        )
    if c.positive == 0:
        raise InputError(path, "no pixel is positive (all zero): not linear sigma0 intensity")
    return c
