"""Train / validation / test split by spatial blocks, with a buffer so no patch leaks.

Random patch splits put overlapping or adjacent (hence near-identical) patches on both sides and
inflate scores. Here every scene is cut into ``block_size`` squares; whole block *locations* are
assigned to a split (seeded, shared by scenes of the same grid, stratified by crack density so
each split gets crack-bearing blocks), and patches are drawn only at least ``buffer // 2`` pixels
inside their block, so any two patches of different splits are at least ``buffer`` pixels apart.
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


def _split_sequence(n: int, fractions: tuple[float, float, float]) -> list[str]:
    """Largest-deficit apportionment: any run of ~1/min(fraction) consecutive items gets every split."""
    counts = dict.fromkeys(SPLITS, 0)
    out = []
    for i in range(n):
        deficit = {s: f * (i + 1) - counts[s] for s, f in zip(SPLITS, fractions)}
        pick = max(SPLITS[::-1], key=lambda s: deficit[s])  # ties favour test, then val
        counts[pick] += 1
        out.append(pick)
    if n >= 3:  # every split gets at least one block
        for s in ("val", "test"):
            if counts[s] == 0:
                j = max(i for i, x in enumerate(out) if x == "train")
                out[j] = s
                counts[s], counts["train"] = counts[s] + 1, counts["train"] - 1
    elif n == 2:
        out = ["train", "val"]
    return out


def assign_blocks(
    scene_shapes: dict[str, tuple[int, int]],
    block_size: int,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    groups: dict[str, str] | None = None,
    density: dict[tuple[str, int, int], float] | None = None,
) -> list[SpatialBlock]:
    """Cut scenes into blocks and assign each block *location* to train/val/test deterministically.

    ``groups`` maps scene ids to a grid key: scenes of one group (e.g. one region's season, whose
    acquisitions see the same crevasses) share their block locations, and a location lies in one
    split for all of them, otherwise a test block would be a training block under fresh speckle.
    ``density`` (crack fraction per ``(group, row, col)``) stratifies the split: locations are
    sorted by crack density, shuffled (seeded) within runs of similar density, and apportioned so
    each run feeds every split, so val and test see cracks, background and hard terrain in
    proportion instead of whatever a plain shuffle happens to give.
    """
    groups = dict(groups or {})
    shapes_of: dict[str, set[tuple[int, ...]]] = {}
    for sid, shape in scene_shapes.items():
        shapes_of.setdefault(groups.get(sid, sid), set()).add(tuple(shape))
    group_of = {
        sid: (groups.get(sid, sid) if len(shapes_of[groups.get(sid, sid)]) == 1 else sid)
        for sid in scene_shapes
    }
    locs: list[tuple[str, int, int]] = []
    for g in sorted(set(group_of.values())):
        h, w = next(tuple(scene_shapes[s]) for s in sorted(scene_shapes) if group_of[s] == g)
        locs += [(g, r, c) for r in range(0, h, block_size) for c in range(0, w, block_size)]
    density = density or {}
    order = sorted(locs, key=lambda k: (-density.get(k, 0.0), _stable_rank(":".join(map(str, k)), seed)))
    run = max(3, int(round(1 / max(min(fractions[1], fractions[2]), 1e-3))))
    shuffled = []
    for i in range(0, len(order), run):
        chunk = order[i : i + run]
        shuffled += sorted(chunk, key=lambda k: _stable_rank("run:" + ":".join(map(str, k)), seed))
    split_of = dict(zip(shuffled, _split_sequence(len(shuffled), fractions)))
    out = []
    for sid, (h, w) in sorted(scene_shapes.items()):
        g = group_of[sid]
        for r in range(0, h, block_size):
            for c in range(0, w, block_size):
                out.append(
                    SpatialBlock(
                        sid, r, c, min(block_size, h - r), min(block_size, w - c), split=split_of[(g, r, c)]
                    )
                )
    return out


def min_cross_split_gap(patches: list[tuple[str, int, int, int, str]]) -> float:
    """Smallest Chebyshev gap in pixels between patches ``(scene, row, col, size, split)`` of different splits.

    Used by tests and the sample report to prove that no validation or test patch touches training data.
    """
    best = float("inf")
    by_scene: dict[str, list[tuple[str, int, int, int, str]]] = {}
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
