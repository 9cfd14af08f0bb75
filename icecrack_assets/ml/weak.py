"""Weak, field-level supervision from real Sentinel-1 tiles with crevasse-field and stream polygons.

The real labels (``s1-gris-crevasse-fields-naureen``) are coarse polygons around crevasse *fields*
and around supraglacial streams and lakes, not crack traces, so they are never pixel truth. They
still say what no simulator can about real Sentinel-1:

- **streams and lakes hold no crevasses**: a certain negative, and on these winter composites the
  hardest one (thin, bright, meandering lines that a crack detector fires on);
- **a field holds cracks somewhere**: a multiple-instance positive. In each crop only the most
  crack-like ``field_top`` share of the field's pixels is pushed towards crack; which pixels those
  are is the model's own call, so it is never told where a crack runs;
- **background holds unlabelled crevasses too** (the data's README says so), so it is only a weak
  negative with a small weight.

Crops are drawn around field and stream pixels more often than chance, with the eight
flips/rotations and sometimes a coarser grid (area-averaged, as 20-40 m products look). The input
normalisation is the scene-robust one of the default model, with statistics from the whole tile,
as ``icecrack predict`` takes them from the whole scene.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from icecrack_assets.ml.augment import dihedral
from icecrack_assets.ml.evaluation.fields import BACKGROUND, FIELD, STREAM, FieldTile, load_field_tile
from icecrack_assets.ml.normalise import ROBUST_NORMALISATION, normalise, scene_stats


@dataclass(frozen=True)
class WeakConfig:
    """How field-level labels enter training; stored in the bundle's lineage."""

    weight: float = 0.1  # of the weak loss beside the pixel-truth loss (from stage 1b: 0.25 cost
    # simulated precision for no gain on unseen real tiles; docs/model.md)
    batch: int = 8  # weak crops per training step
    patch: int = 128
    field_top: float = 0.15  # share of a crop's field pixels pushed towards crack (multiple instance)
    min_field_pixels: int = 64  # fewer field pixels in a crop: no positive term from it
    stream_weight: float = 1.0
    background_weight: float = 0.05
    zooms: tuple[float, ...] = (1.0, 1.0, 0.75, 0.5)  # grids drawn from, equally often (1 = native)
    centre_on: tuple[float, float] = (0.45, 0.35)  # P(crop centred on a field / stream pixel)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _zoomed(sigma0: np.ndarray, classes: np.ndarray, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """The tile on a coarser grid: intensity area-averaged, classes by nearest neighbour."""
    if zoom == 1.0:
        return sigma0, classes
    valid = np.isfinite(sigma0)
    k = max(1, int(round(1 / zoom)))
    num = ndimage.uniform_filter(np.where(valid, sigma0, 0.0).astype(np.float32), size=k)
    den = ndimage.uniform_filter(valid.astype(np.float32), size=k)
    avg = np.where(den > 0.5, num / np.maximum(den, 1e-6), np.nan)
    out = ndimage.zoom(np.nan_to_num(avg, nan=0.0), zoom, order=1)
    ok = ndimage.zoom(den, zoom, order=1) > 0.5
    cls = ndimage.zoom(classes, zoom, order=0)
    cls = cls[: out.shape[0], : out.shape[1]]
    return np.where(ok & (out > 0), out, np.nan).astype(np.float32), np.where(ok, cls, 0).astype(np.uint8)


class WeakFieldSampler:
    """Crops of normalised real tiles with their field/background/stream classes (0 = nodata)."""

    def __init__(self, tiles: Sequence[FieldTile], cfg: WeakConfig, seed: int = 0) -> None:
        self.cfg = cfg
        self.names = [t.name for t in tiles]
        self.rng = np.random.default_rng(seed)
        norm = dict(ROBUST_NORMALISATION)
        self.grids: list[tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]] = []
        for t in tiles:
            sigma0, classes, _ = load_field_tile(t)
            for zoom in sorted(set(cfg.zooms)):
                s, c = _zoomed(sigma0, classes, zoom)
                x = normalise(s, norm, scene_stats(s, norm))
                x[~np.isfinite(s)] = 0.0
                where = {k: np.flatnonzero(c.ravel() == k) for k in (FIELD, STREAM)}
                self.grids.append((x, c, where))
        self.zoom_of = [z for _ in tiles for z in sorted(set(cfg.zooms))]
        self.zoom_weights = np.array([cfg.zooms.count(z) for z in self.zoom_of], float)
        self.zoom_weights /= self.zoom_weights.sum()

    def reseed(self, key: Sequence[int]) -> None:
        """Restart the generator from ``key`` (the run's weak seed and step), as ``MixedSampler.reseed``."""
        self.rng = np.random.default_rng(list(key))

    def _crop(self) -> tuple[np.ndarray, np.ndarray]:
        cfg, rng = self.cfg, self.rng
        x, c, where = self.grids[int(rng.choice(len(self.grids), p=self.zoom_weights))]
        h, w = x.shape
        p = min(cfg.patch, h, w)
        u = rng.random()
        pool = where[FIELD] if u < cfg.centre_on[0] else where[STREAM] if u < sum(cfg.centre_on) else None
        if pool is not None and pool.size:
            r, col = divmod(int(pool[int(rng.integers(pool.size))]), w)
            r0 = int(np.clip(r - p // 2 + rng.integers(-p // 4, p // 4 + 1), 0, h - p))
            c0 = int(np.clip(col - p // 2 + rng.integers(-p // 4, p // 4 + 1), 0, w - p))
        else:
            r0, c0 = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
        xi, ci = dihedral(x[r0 : r0 + p, c0 : c0 + p], c[r0 : r0 + p, c0 : c0 + p], int(rng.integers(8)))
        return np.ascontiguousarray(xi), np.ascontiguousarray(ci)

    def batch(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(x [n,1,p,p] float32, classes [n,1,p,p] uint8)``."""
        crops = [self._crop() for _ in range(n or self.cfg.batch)]
        return np.stack([a for a, _ in crops])[:, None], np.stack([b for _, b in crops])[:, None]


def weak_loss(logits: torch.Tensor, classes: torch.Tensor, cfg: WeakConfig) -> torch.Tensor:
    """Streams towards no crack, background weakly so, and the top of each crop's field towards crack."""
    zero = logits.new_zeros(())
    terms = []
    for cls, weight in ((STREAM, cfg.stream_weight), (BACKGROUND, cfg.background_weight)):
        sel = classes == cls
        if weight > 0 and bool(sel.any()):
            lo = logits[sel]
            terms.append(weight * F.binary_cross_entropy_with_logits(lo, torch.zeros_like(lo)))
    tops = []
    for lo, cl in zip(logits.flatten(1), classes.flatten(1)):
        f = lo[cl == FIELD]
        if f.numel() >= cfg.min_field_pixels:
            k = max(1, int(np.ceil(cfg.field_top * f.numel())))
            tops.append(torch.topk(f, k).values)
    if tops:
        top = torch.cat(tops)
        terms.append(F.binary_cross_entropy_with_logits(top, torch.ones_like(top)))
    return torch.stack(terms).sum() if terms else zero
