"""A small PNG preview: probability in grey with the crack mask in red, nodata transparent, and the
ice mask's outline in cyan when one is given."""

from __future__ import annotations

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
