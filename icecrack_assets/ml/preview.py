"""PNG previews of crack maps: a small overlay (``write_preview``: probability grey, cracks red,
ice-mask outline cyan) and the cartographic quick-look people read (``write_map_quicklook``)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from icecrack_assets.raster import atomic_path


def write_preview(
    prob: np.ndarray,
    mask: np.ndarray,
    path: Path,
    max_size: int = 1024,
    title: str = "",
    ice: np.ndarray | None = None,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    step = max(1, int(np.ceil(max(prob.shape) / max_size)))
    p = prob[::step, ::step]
    m = mask[::step, ::step]
    if step > 1:  # keep thin cracks visible when subsampling: max over each step x step cell
        h, w = (mask.shape[0] // step) * step, (mask.shape[1] // step) * step
        if h and w:
            mm = (mask[:h, :w] == 1).reshape(h // step, step, w // step, step).any(axis=(1, 3))
            m = np.zeros(p.shape, np.uint8)
            m[: mm.shape[0], : mm.shape[1]] = mm
    rgba = np.zeros(p.shape + (4,), np.float32)
    g = np.nan_to_num(p, nan=0.0)
    rgba[..., 0] = rgba[..., 1] = rgba[..., 2] = 0.15 + 0.6 * g
    rgba[..., 3] = np.isfinite(p)
    rgba[m == 1] = (1.0, 0.1, 0.1, 1.0)
    if ice is not None:  # outline of the subsampled ice mask, drawn over everything
        from scipy import ndimage

        small = np.asarray(ice, bool)[::step, ::step][: p.shape[0], : p.shape[1]]
        edge = small & ~ndimage.binary_erosion(small, border_value=1)
        rgba[edge] = (0.0, 0.9, 1.0, 1.0)
    fig = plt.figure(figsize=(p.shape[1] / 100 + 0.01, p.shape[0] / 100 + 0.01), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(rgba, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.text(4, 12, title, color="yellow", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def _mask_any(path: Path, shape: tuple[int, int], value: int = 1) -> np.ndarray:
    """Where any full-resolution pixel of a block equals ``value``: thin cracks survive decimation."""
    import rasterio

    with rasterio.open(path) as ds:
        full = ds.read(1) == value
    h, w = full.shape
    sy, sx = max(1, h // shape[0]), max(1, w // shape[1])
    hh, ww = shape[0] * sy, shape[1] * sx
    out = np.zeros(shape, bool)
    if hh <= h and ww <= w:
        out = full[:hh, :ww].reshape(shape[0], sy, shape[1], sx).any(axis=(1, 3))
    return out


def write_map_quicklook(
    backscatter: Path,
    probability: Path,
    mask: Path,
    png: Path,
    caption: str,
    threshold: float,
    ice: Path | None = None,
    max_size: int = 600,
) -> Path:
    """The crack map as a map: cracks (red) over the season's backscatter (dB, grey), probability below.

    Both panels carry CRS ticks, a scale bar and a true-north arrow; the legend names every colour
    and the caption (region, season, scenes, model) is drawn into the image, so it travels with it.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from icecrack_assets.sar.quicklook import decorate_map, pyplot, read_decimated, save_figure, stretch

    plt = pyplot()
    db, grid = read_decimated(backscatter, max_size)
    prob, _ = read_decimated(probability, max_size)
    cracks = _mask_any(mask, prob.shape)
    lo, hi = stretch([db])
    aspect = db.shape[0] / max(db.shape[1], 1)
    # stacked: the UI's metadata column is ~450 px wide
    fig, (left, right) = plt.subplots(
        2, 1, figsize=(5, 2 * (3.9 * aspect + 0.6) + 0.7), dpi=90, layout="constrained"
    )
    left.set_facecolor("#333333")
    right.set_facecolor("#333333")
    left.imshow(db, cmap="gray", vmin=lo, vmax=hi, extent=grid.extent_km, interpolation="nearest")
    overlay = np.zeros(cracks.shape + (4,), np.float32)
    overlay[cracks] = (1.0, 0.1, 0.1, 1.0)
    left.imshow(overlay, extent=grid.extent_km, interpolation="nearest")
    handles = [Patch(color=(1.0, 0.1, 0.1), label=f"crack (p ≥ {threshold:.2f})")]
    if ice is not None and Path(ice).exists():
        ice_small = _mask_any(Path(ice), db.shape)
        left.contour(ice_small[::-1], levels=[0.5], colors="cyan", linewidths=0.8, extent=grid.extent_km)
        handles.append(Line2D([], [], color="cyan", lw=1, label="ice-mask edge"))
    handles.append(Patch(color="#333333", label="no data / not ice"))
    left.set_title("cracks over season backscatter (dB)", fontsize=8)
    left.legend(handles=handles, loc="upper left", fontsize=6, framealpha=0.8)
    decorate_map(left, grid)
    shown = right.imshow(prob, cmap="magma", vmin=0, vmax=1, extent=grid.extent_km, interpolation="nearest")
    right.set_title("crack probability", fontsize=8)
    decorate_map(right, grid)
    cbar = fig.colorbar(shown, ax=right, shrink=0.8, pad=0.02)
    cbar.set_label("probability", fontsize=7)
    cbar.ax.tick_params(labelsize=6)
    cbar.ax.axhline(threshold, color="red", lw=1)
    # wrapped to the figure's width (~75 characters at 8 pt): a long bundle name must not be cropped
    fig.suptitle("\n".join(textwrap.fill(line, 72) for line in caption.splitlines()), fontsize=8)
    return save_figure(fig, png)


def write_training_curve(
    epochs: list[int], losses: list[float], val_f1: list[float], best_epoch: int, png: Path
) -> Path:
    """Training loss and validation F1 per epoch, the kept (best) epoch marked."""
    from icecrack_assets.sar.quicklook import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3), dpi=100, layout="constrained")
    ax.plot(epochs, losses, color="tab:red", marker=".", label="training loss")
    ax.set_xlabel("epoch", fontsize=8)
    ax.set_ylabel("loss (BCE + Dice)", fontsize=8, color="tab:red")
    ax.tick_params(labelsize=7)
    ax.xaxis.get_major_locator().set_params(integer=True)
    f1_ax = ax.twinx()
    f1_ax.plot(epochs, val_f1, color="tab:blue", marker=".", label="validation F1 (1-px tolerance)")
    f1_ax.set_ylabel("validation F1", fontsize=8, color="tab:blue")
    f1_ax.set_ylim(0, 1)
    f1_ax.tick_params(labelsize=7)
    if best_epoch:
        ax.axvline(best_epoch, color="grey", ls="--", lw=1)
        ax.text(best_epoch, ax.get_ylim()[1], f"kept: epoch {best_epoch} ", fontsize=7, va="top", ha="right")
    ax.set_title("U-Net training", fontsize=9)
    return save_figure(fig, png)
