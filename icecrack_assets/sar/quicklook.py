"""Map quick-looks of rasters for people: dB grey panels with scale bar, north arrow and CRS ticks.

Read decimated, so any scene size is cheap. The cartographic furniture (``decorate_map``) is shared
with the crack-map quick-look in ``ml/preview.py``: a glaciologist reads both the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling

from icecrack_assets.raster import atomic_path


@dataclass(frozen=True)
class MapGrid:
    """Where a decimated array sits: extent in the CRS (metres) and the CRS itself."""

    left: float
    right: float
    bottom: float
    top: float
    crs: str  # e.g. "EPSG:3413"

    @property
    def extent_km(self) -> tuple[float, float, float, float]:
        """imshow extent (left, right, bottom, top) in kilometres, so the tick labels stay short."""
        return (self.left / 1e3, self.right / 1e3, self.bottom / 1e3, self.top / 1e3)


def read_decimated(path: str | Path, max_size: int = 512, db: bool = False) -> tuple[np.ndarray, MapGrid]:
    """Band 1 averaged to at most ``max_size`` pixels on its long side (NaN where nodata), and its grid.

    ``db=True`` converts linear intensity to dB (non-positive values become NaN).
    """
    with rasterio.open(path) as ds:
        step = max(1, int(np.ceil(max(ds.height, ds.width) / max_size)))
        shape = (max(1, ds.height // step), max(1, ds.width // step))
        arr = ds.read(1, out_shape=shape, resampling=Resampling.average, masked=True).astype(np.float32)
        b = ds.bounds
        grid = MapGrid(b.left, b.right, b.bottom, b.top, ds.crs.to_string() if ds.crs else "")
    arr = arr.filled(np.nan)
    if db:
        with np.errstate(divide="ignore", invalid="ignore"):
            arr = np.where(arr > 0, 10 * np.log10(arr), np.nan).astype(np.float32)
    return arr, grid


def read_decimated_db(path: str | Path, max_size: int = 512) -> np.ndarray:
    """The scene in dB at most ``max_size`` pixels on its long side (NaN where nodata)."""
    return read_decimated(path, max_size, db=True)[0]


def to_grey(db: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Stretch dB to 8-bit grey between the 2nd and 98th percentiles (or given limits)."""
    finite = db[np.isfinite(db)]
    if finite.size == 0:
        return np.zeros(db.shape, np.uint8)
    lo = np.percentile(finite, 2) if lo is None else lo
    hi = np.percentile(finite, 98) if hi is None else hi
    grey = np.clip((db - lo) / max(hi - lo, 1e-6), 0, 1) * 255
    return np.where(np.isfinite(db), grey, 0).astype(np.uint8)


def stretch(images: Sequence[np.ndarray]) -> tuple[float, float]:
    """2–98 % limits over the first image with data, shared so panels compare like with like."""
    for im in images:
        finite = im[np.isfinite(im)]
        if finite.size:
            return float(np.percentile(finite, 2)), float(np.percentile(finite, 98))
    return 0.0, 1.0


def nice_length_km(width_km: float) -> float:
    """A 1-2-5 scale-bar length close to a fifth of the map width."""
    target = max(width_km / 5, 1e-3)
    exp = np.floor(np.log10(target))
    for m in (5, 2, 1):
        if m * 10**exp <= target:
            return float(m * 10**exp)
    return float(10**exp)


def north_angle_deg(grid: MapGrid) -> float:
    """Direction of true north at the map centre, degrees clockwise from grid up.

    In polar stereographic grids north is not "up": over Antarctica it points away from the pole,
    towards the grid origin only in the Arctic.
    """
    from pyproj import Transformer

    if not grid.crs:
        return 0.0
    x, y = (grid.left + grid.right) / 2, (grid.bottom + grid.top) / 2
    to_ll = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    to_xy = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
    lon, lat = to_ll.transform(x, y)
    step = -0.01 if lat > 89.98 else 0.01
    x2, y2 = to_xy.transform(lon, min(lat + step, 89.999))
    dx, dy = (x2 - x, y2 - y) if step > 0 else (x - x2, y - y2)
    return float(np.degrees(np.arctan2(dx, dy)))


def decorate_map(ax, grid: MapGrid, show_y: bool = True) -> None:
    """CRS ticks (km), a scale bar and a true-north arrow on a map axis drawn with ``grid.extent_km``."""
    from matplotlib.patches import FancyArrow, Rectangle

    crs = grid.crs or "grid"
    ax.set_xlabel(f"x (km, {crs})", fontsize=7)
    if show_y:
        ax.set_ylabel(f"y (km, {crs})", fontsize=7)
    else:
        ax.set_yticklabels([])
    ax.tick_params(labelsize=6)
    left, right, bottom, top = grid.extent_km
    width, height = right - left, top - bottom
    bar = nice_length_km(width)
    x0, y0 = left + 0.05 * width, bottom + 0.05 * height
    thick = 0.015 * height
    ax.add_patch(Rectangle((x0, y0), bar, thick, facecolor="white", edgecolor="black", lw=0.6, zorder=5))
    ax.add_patch(Rectangle((x0, y0), bar / 2, thick, facecolor="black", edgecolor="black", lw=0.6, zorder=5))
    label = f"{bar:g} km" if bar >= 1 else f"{bar * 1000:g} m"
    ax.text(
        x0 + bar / 2,
        y0 + 3 * thick,
        label,
        ha="center",
        va="bottom",
        fontsize=7,
        color="white",
        bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "lw": 0},
        zorder=6,
    )
    angle = np.radians(north_angle_deg(grid))
    cx, cy, length = right - 0.08 * width, top - 0.2 * height, 0.1 * min(width, height)
    dx, dy = length * np.sin(angle), length * np.cos(angle)
    ax.add_patch(
        FancyArrow(
            cx - dx / 2,
            cy - dy / 2,
            dx,
            dy,
            width=length * 0.12,
            head_width=length * 0.35,
            head_length=length * 0.35,
            length_includes_head=True,
            color="white",
            ec="black",
            lw=0.6,
            zorder=6,
        )
    )
    ax.text(
        cx + 0.65 * dx,
        cy + 0.65 * dy,
        "N",
        ha="center",
        va="center",
        fontsize=8,
        color="white",
        fontweight="bold",
        zorder=6,
        bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "lw": 0},
    )
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)


def save_figure(fig, png: str | Path) -> Path:
    """Write a figure atomically as PNG and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(Path(png)) as tmp:
        fig.savefig(tmp, format="png", dpi=fig.dpi)
    plt.close(fig)
    return Path(png)


def pyplot():
    """matplotlib's pyplot on the non-interactive backend (assets run without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_quicklook(
    paths: Sequence[str | Path],
    png: str | Path,
    max_size: int = 512,
    labels: Sequence[str] = (),
    caption: str = "",
) -> Path:
    """Labelled dB panels of one or more scenes, stacked (the UI's metadata column is narrow),
    sharing one stretch: e.g. raw above despeckled on one grey scale, so the speckle is what differs.
    """
    plt = pyplot()
    images = [read_decimated(p, max_size, db=True) for p in paths]
    lo, hi = stretch([im for im, _ in images])
    n = len(images)
    aspect = images[0][0].shape[0] / max(images[0][0].shape[1], 1)
    fig, axes = plt.subplots(
        n, 1, figsize=(4.8, (3.7 * aspect + 0.6) * n + 0.6), dpi=95, squeeze=False, layout="constrained"
    )
    shown = None
    for i, (ax, (im, grid)) in enumerate(zip(axes[:, 0], images)):
        shown = ax.imshow(im, cmap="gray", vmin=lo, vmax=hi, extent=grid.extent_km, interpolation="nearest")
        ax.set_facecolor("#333333")
        title = labels[i] if i < len(labels) else Path(paths[i]).stem
        ax.set_title(title, fontsize=8)
        decorate_map(ax, grid)
    cbar = fig.colorbar(shown, ax=list(axes[:, 0]), shrink=0.6, pad=0.02)
    cbar.set_label("sigma0 (dB)", fontsize=7)
    cbar.ax.tick_params(labelsize=6)
    if caption:
        fig.suptitle(caption, fontsize=7.5)
    return save_figure(fig, png)
