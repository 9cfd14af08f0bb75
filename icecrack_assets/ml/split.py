"""Train / validation / test split by spatial blocks, with a buffer so no patch leaks.

Random patch splits put overlapping or adjacent (hence near-identical) patches on both sides and
inflate scores. Here every scene is cut into ``block_size`` squares; whole blocks are assigned to a
split (seeded, stratified so each split gets blocks when there are at least three), and patches
are drawn only at least ``buffer // 2`` pixels inside their block, so any two patches of different
splits are at least ``buffer`` pixels apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SpatialBlock:
    scene_id: str
    row: int  # block top-left, pixels
    col: int
    height: int
    width: int
    split: str

    @property
    def key(self) -> str:
        return f"{self.scene_id}:{self.row}:{self.col}"

    def interior(self, buffer: int) -> tuple[int, int, int, int]:
        """Rows/cols ``(r0, r1, c0, c1)`` where patches may lie: the block shrunk by ``buffer // 2``."""
        m = buffer // 2
        return self.row + m, self.row + self.height - m, self.col + m, self.col + self.width - m


def _stable_rank(key: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big")


def assign_blocks(scene_shapes: dict[str, tuple[int, int]], block_size: int, seed: int = 0,
                  fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> list[SpatialBlock]:
    """Cut scenes into blocks and assign each block to train/val/test deterministically."""
    cells = []
    for scene_id, (h, w) in sorted(scene_shapes.items()):
        for r in range(0, h, block_size):
            for c in range(0, w, block_size):
                cells.append((scene_id, r, c, min(block_size, h - r), min(block_size, w - c)))
    order = sorted(range(len(cells)), key=lambda i: _stable_rank(":".join(map(str, cells[i][:3])), seed))
    n = len(cells)
    if n >= 3:
        n_val = max(1, int(round(fractions[1] * n)))
        n_test = max(1, int(round(fractions[2] * n)))
        n_val = min(n_val, n - 2)
        n_test = min(n_test, n - n_val - 1)
    else:
        n_val, n_test = (0, 0) if n < 2 else (1, 0)
    labels = {}
    for rank, i in enumerate(order):
        labels[i] = "val" if rank < n_val else "test" if rank < n_val + n_test else "train"
    return [SpatialBlock(*cells[i], split=labels[i]) for i in range(n)]


def min_cross_split_gap(patches: list[tuple[str, int, int, int, str]]) -> float:
    """Smallest Chebyshev gap in pixels between patches ``(scene, row, col, size, split)`` of different splits.

    Used by tests and the sample report to prove that no validation or test patch touches training data.
    """
    best = float("inf")
    by_scene: dict[str, list] = {}
    for p in patches:
        by_scene.setdefault(p[0], []).append(p)
    for items in by_scene.values():
        arr = np.array([(r, c, s) for _, r, c, s, _ in items], dtype=np.int64)
        splits = np.array([sp for *_, sp in items])
        for i in range(len(items)):
            other = splits != splits[i]
            if not other.any():
                continue
            r, c, s = arr[i]
            gap_r = np.maximum(arr[other, 0] - (r + s), r - (arr[other, 0] + arr[other, 2]))
            gap_c = np.maximum(arr[other, 1] - (c + s), c - (arr[other, 1] + arr[other, 2]))
            best = min(best, float(np.maximum(gap_r, gap_c).min()))
    return best
