"""Representative training samples with provenance, split by spatial blocks.

Training patches, per scene: candidates on a grid inside each training block's buffered interior;
patches with cracks and background patches are balanced; half of the background budget goes to
*hard negatives* (strongest ridge/edge/bright-target response without cracks: rifts' walls, water
edges, rock, bright targets), the rest is random; candidates overlapping an already chosen patch
by more than half are dropped as near-duplicates.

Validation and test are not a selection: their blocks' interiors are tiled completely (kind
``tile``; pixels already covered by an earlier tile are set to 255 so no pixel counts twice). A
balanced selection has far more crack than a map, so a threshold tuned on it buys recall with
precision the map does not have; whole-area tiles make validation scores, the threshold and the
post-processing tuned on them, and the test scores, those of the map itself.
Everything is seeded and recorded in ``index.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from icecrack_assets.errors import IceCrackError, InputError
from icecrack_assets.ml.split import SpatialBlock, assign_blocks
from icecrack_assets.raster import MASK_NODATA as NODATA
from icecrack_assets.raster import atomic_path, read_single_band

MIN_CRACK_FRACTION = 0.002  # a patch with fewer crack pixels is not a positive example
MIN_VALID_FRACTION = 0.5
INDEX_FIELDS = (
    "patch",
    "scene_id",
    "region",
    "year",
    "row",
    "col",
    "size",
    "split",
    "block",
    "kind",
    "crack_fraction",
    "valid_fraction",
    "hardness",
    "label_source",
    "image_path",
)


@dataclass
class SceneForSamples:
    """One labelled scene: despeckled intensity (file or array) and a label on the same grid."""

    scene_id: str
    region: str
    year: int
    image_path: Path | None
    label: np.ndarray  # uint8: 1 crack, 0 background, 255 nodata/unlabelled
    label_source: str  # "simulator" | "annotation:<file>"
    image: np.ndarray | None = None  # optional in-memory intensity (NaN nodata), same grid
    # optional bool ice mask, same grid: training patches must be at least half on the ice and
    # validation/test tiles must touch it; labels are kept (rock and water are true negatives, and the
    # model still learns not to fire on them at the ice edge)
    ice: np.ndarray | None = None


@dataclass
class SampleIndex:
    count: int
    n_train: int
    n_val: int
    n_test: int
    crack_fraction: float
    index_path: Path
    data_path: Path
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["index_path"], d["data_path"] = str(self.index_path), str(self.data_path)
        return d


def _hardness_map(intensity: np.ndarray) -> np.ndarray:
    """Edge + line + brightness response in dB: high where a background patch could fool the model."""
    valid = np.isfinite(intensity) & (intensity > 0)
    db = np.where(valid, 10 * np.log10(np.where(valid, intensity, 1.0)), np.nan)
    fill = np.nanmedian(db) if valid.any() else 0.0
    db = np.where(valid, db, fill).astype(np.float32)
    edges = ndimage.gaussian_gradient_magnitude(db, 1.5)
    lines = np.abs(ndimage.gaussian_laplace(db, 1.5))
    bright = np.maximum(db - fill, 0)
    hardness: np.ndarray = (edges + lines + 0.5 * bright).astype(np.float32)
    return hardness


def _select(
    cands: list[dict[str, Any]], budget: int, patch: int, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Balanced positives / hard negatives / random negatives without near-duplicates."""
    pos = [c for c in cands if c["crack_fraction"] >= MIN_CRACK_FRACTION]
    neg = [c for c in cands if c["crack_fraction"] == 0]
    rng.shuffle(pos)
    n_pos_target = budget // 2
    hard = sorted(neg, key=lambda c: -c["hardness"])
    rand = list(neg)
    rng.shuffle(rand)
    chosen: list[dict[str, Any]] = []
    taken = np.zeros((0, 2), np.int64)
    min_gap = patch // 2

    def take(c: dict[str, Any], kind: str) -> bool:
        nonlocal taken
        if len(taken):
            d = np.abs(taken - np.array([c["row"], c["col"]])).max(axis=1)
            if (d < min_gap).any():
                return False
        chosen.append({**c, "kind": kind})
        taken = np.vstack([taken, [c["row"], c["col"]]])
        return True

    for c in pos:
        if sum(1 for x in chosen if x["kind"] == "crack") >= n_pos_target:
            break
        take(c, "crack")
    n_neg = budget - len(chosen)
    n_hard = n_neg // 2
    for c in hard:
        if sum(1 for x in chosen if x["kind"] == "hard_negative") >= n_hard:
            break
        take(c, "hard_negative")
    for c in rand:
        if len(chosen) >= budget:
            break
        take(c, "negative")
    return chosen


def _candidates(
    img: np.ndarray,
    label: np.ndarray,
    hard: np.ndarray,
    blocks: Sequence[SpatialBlock],
    patch: int,
    buffer: int,
    rng: np.random.Generator,
    ice: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stride = max(8, patch // 2)
    finite = np.isfinite(img)
    for b in blocks:
        r0, r1, c0, c1 = b.interior(buffer)
        if r1 - r0 < patch or c1 - c0 < patch:
            continue
        jr, jc = (
            int(rng.integers(0, stride)) if r1 - r0 - patch >= stride else 0,
            int(rng.integers(0, stride)) if c1 - c0 - patch >= stride else 0,
        )
        rows = list(range(r0 + jr, r1 - patch + 1, stride)) or [r0]
        cols = list(range(c0 + jc, c1 - patch + 1, stride)) or [c0]
        for r in rows:
            for c in cols:
                lab = label[r : r + patch, c : c + patch]
                ok = (lab != NODATA) & finite[r : r + patch, c : c + patch]
                vf = float(ok.mean())
                if vf < MIN_VALID_FRACTION:
                    continue
                if ice is not None and ice[r : r + patch, c : c + patch].mean() < MIN_VALID_FRACTION:
                    continue
                cf = float(((lab == 1) & ok).sum() / ok.sum())
                out.append(
                    {
                        "row": r,
                        "col": c,
                        "split": b.split,
                        "block": b.key,
                        "crack_fraction": cf,
                        "valid_fraction": vf,
                        "hardness": float(np.percentile(hard[r : r + patch, c : c + patch][ok], 99)),
                    }
                )
    return out


def _eval_tiles(
    img: np.ndarray,
    label: np.ndarray,
    blocks: Sequence[SpatialBlock],
    patch: int,
    buffer: int,
    ice: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Cover each block's interior with patch-sized tiles; overlaps are labelled 255 after first use.

    With an ice mask, tiles that do not touch the ice are left out."""
    out: list[dict[str, Any]] = []
    finite = np.isfinite(img)
    for b in blocks:
        r0, r1, c0, c1 = b.interior(buffer)
        r1, c1 = min(r1, img.shape[0]), min(c1, img.shape[1])
        if r1 - r0 < patch or c1 - c0 < patch:
            continue
        covered = np.zeros((r1 - r0, c1 - c0), bool)
        for r in _starts(r0, r1, patch):
            for c in _starts(c0, c1, patch):
                lab = label[r : r + patch, c : c + patch].copy()
                ok = (lab != NODATA) & finite[r : r + patch, c : c + patch]
                seen = covered[r - r0 : r - r0 + patch, c - c0 : c - c0 + patch]
                lab[seen] = NODATA
                ok &= ~seen
                covered[r - r0 : r - r0 + patch, c - c0 : c - c0 + patch] = True
                if not ok.any() or (ice is not None and not ice[r : r + patch, c : c + patch].any()):
                    continue
                cf = float(((lab == 1) & ok).sum() / ok.sum())
                out.append(
                    {
                        "row": r,
                        "col": c,
                        "split": b.split,
                        "block": b.key,
                        "crack_fraction": cf,
                        "valid_fraction": float(ok.mean()),
                        "hardness": float("nan"),
                        "kind": "tile",
                        "label": lab,
                    }
                )
    return out


def _starts(lo: int, hi: int, patch: int) -> list[int]:
    starts = list(range(lo, hi - patch + 1, patch))
    if starts and starts[-1] + patch < hi:
        starts.append(hi - patch)
    return starts


def _block_density(
    label: np.ndarray, blocks: Sequence[SpatialBlock], buffer: int
) -> dict[tuple[int, int], float]:
    out: dict[tuple[int, int], float] = {}
    for b in blocks:
        r0, r1, c0, c1 = b.interior(buffer)
        lab = label[r0:r1, c0:c1]
        ok = lab != NODATA
        out[(b.row, b.col)] = float((lab == 1).sum() / ok.sum()) if ok.any() else 0.0
    return out


@dataclass(frozen=True)
class SampleSettings:
    """The platform's sampling defaults (the labelled_samples asset's config mirrors these)."""

    patch: int = 96  # patch side, px
    max_per_scene: int = 192  # training patches per scene; val/test blocks are tiled whole
    block_size: int = 384  # side of the spatial blocks that are assigned to train/val/test
    buffer: int = 32  # px left out around val/test blocks so no patch straddles a split
    seed: int = 0


_SAMPLING = SampleSettings()


def build_samples(
    scenes: list[SceneForSamples],
    out_dir: Path,
    patch: int = _SAMPLING.patch,
    seed: int = _SAMPLING.seed,
    max_per_scene: int = _SAMPLING.max_per_scene,
    block_size: int = _SAMPLING.block_size,
    buffer: int = _SAMPLING.buffer,
    force_split: str | None = None,
) -> SampleIndex:
    """Cut balanced, provenance-tracked patches from labelled scenes; write samples.npz + index.csv.

    ``max_per_scene`` is the training-patch budget per scene; validation and test blocks are tiled
    completely. Scenes of one region and year share block locations (same grid, same crevasses).
    ``force_split`` puts every block in one split, for data sets that come with their own split.
    """
    if not scenes:
        raise IceCrackError("no labelled scenes to sample from")
    if block_size < patch + buffer:
        raise IceCrackError(f"block_size {block_size} must be at least patch + buffer ({patch + buffer})")
    out_dir = Path(out_dir)
    for s in scenes:
        if s.ice is not None and s.ice.shape != s.label.shape:
            raise InputError(
                s.image_path or s.scene_id,
                f"ice mask shape {s.ice.shape} differs from label shape {s.label.shape}",
            )
    images: dict[str, np.ndarray] = {}
    for s in scenes:
        img: np.ndarray
        if s.image is not None:
            img = s.image
        elif s.image_path is not None:
            img = read_single_band(s.image_path)[0]
        else:  # what read_single_band(None) raised before: Path(None) is a TypeError
            raise TypeError(f"scene {s.scene_id} has neither an image nor an image_path")
        if img.shape != s.label.shape:
            raise InputError(
                s.image_path or s.scene_id,
                f"image shape {img.shape} differs from label shape {s.label.shape}",
            )
        images[s.scene_id] = np.asarray(img, np.float32)
    groups = {s.scene_id: f"{s.region}:{s.year}" for s in scenes}
    shapes = {k: v.shape for k, v in images.items()}
    pre = assign_blocks(shapes, block_size, seed, groups=groups)  # block geometry for the density
    dens_sum: dict[tuple[str, int, int], list[float]] = {}
    for s in scenes:
        for (r, c), d in _block_density(
            s.label, [b for b in pre if b.scene_id == s.scene_id], buffer
        ).items():
            dens_sum.setdefault((groups[s.scene_id], r, c), []).append(d)
    density = {k: float(np.mean(v)) for k, v in dens_sum.items()}
    # scenes whose group has mixed shapes fall back to their own id as group (see assign_blocks)
    density.update(
        {
            (s.scene_id, r, c): d
            for s in scenes
            for (r, c), d in _block_density(
                s.label, [b for b in pre if b.scene_id == s.scene_id], buffer
            ).items()
        }
    )
    blocks = assign_blocks(shapes, block_size, seed, groups=groups, density=density)
    if force_split is not None:
        blocks = [replace(b, split=force_split) for b in blocks]
    rng = np.random.default_rng(seed)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    for s in scenes:
        img, label = images[s.scene_id], s.label
        sblocks = [b for b in blocks if b.scene_id == s.scene_id]
        train_blocks = [b for b in sblocks if b.split == "train"]
        chosen: list[dict[str, Any]] = []
        if train_blocks:
            cands = _candidates(img, label, _hardness_map(img), train_blocks, patch, buffer, rng, s.ice)
            chosen = _select(cands, max_per_scene, patch, rng)
        chosen += _eval_tiles(img, label, [b for b in sblocks if b.split != "train"], patch, buffer, s.ice)
        for cand in chosen:
            r, cc = cand["row"], cand["col"]
            xs.append(img[r : r + patch, cc : cc + patch])
            ys.append(cand["label"] if "label" in cand else label[r : r + patch, cc : cc + patch])
            rows.append(
                {
                    "patch": len(rows),
                    "scene_id": s.scene_id,
                    "region": s.region,
                    "year": s.year,
                    "row": r,
                    "col": cc,
                    "size": patch,
                    "split": cand["split"],
                    "block": cand["block"],
                    "kind": cand["kind"],
                    "crack_fraction": round(cand["crack_fraction"], 6),
                    "valid_fraction": round(cand["valid_fraction"], 4),
                    "hardness": "" if np.isnan(cand["hardness"]) else round(cand["hardness"], 4),
                    "label_source": s.label_source,
                    "image_path": str(s.image_path or ""),
                }
            )
    if not rows:
        raise IceCrackError(
            f"no patch of {patch} px fits the valid, labelled area of the scenes "
            f"(block_size {block_size}, buffer {buffer})"
        )
    x = np.stack(xs)[:, None].astype(np.float32)
    y = np.stack(ys)[:, None].astype(np.uint8)
    split = np.array([r["split"] for r in rows])
    out_dir.mkdir(parents=True, exist_ok=True)
    data_path, index_path = out_dir / "samples.npz", out_dir / "index.csv"
    buf = io.BytesIO()
    np.savez(buf, x=x, y=y, split=split, kind=np.array([r["kind"] for r in rows]))
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    with atomic_path(data_path) as tmp:
        tmp.write_bytes(payload)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=INDEX_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(index_path) as tmp:
        tmp.write_text(text.getvalue())
    valid = y != NODATA
    index = SampleIndex(
        count=len(rows),
        n_train=int((split == "train").sum()),
        n_val=int((split == "val").sum()),
        n_test=int((split == "test").sum()),
        crack_fraction=float((y == 1).sum() / max(valid.sum(), 1)),
        index_path=index_path,
        data_path=data_path,
        sha256=digest,
    )
    with atomic_path(out_dir / "samples.json") as tmp:
        tmp.write_text(
            json.dumps(
                {
                    **index.as_dict(),
                    "patch": patch,
                    "seed": seed,
                    "block_size": block_size,
                    "buffer": buffer,
                    "max_per_scene": max_per_scene,
                },
                indent=2,
            )
        )
    return index


def load_samples(sample_dir: Path) -> dict[str, np.ndarray]:
    """Read one samples.npz (x, y, split, kind) with a clear error when it is missing or corrupt."""
    path = Path(sample_dir) / "samples.npz"
    if not Path(sample_dir).exists():
        raise InputError(sample_dir, "does not exist (a sample directory holds samples.npz + index.csv)")
    if not path.is_file():
        raise InputError(sample_dir, "no samples.npz here; build samples first")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in ("x", "y", "split", "kind")}
    except (ValueError, OSError, KeyError) as exc:
        raise InputError(path, f"corrupt sample file ({type(exc).__name__})") from None


def label_sources(sample_dir: Path) -> list[str]:
    """Where a sample directory's labels came from (``simulator``, ``annotation:<file>``), from its index.

    A model that learnt only from simulated truth is kept apart from real scenes by default
    (:func:`icecrack_assets.ml.shipped.resolve_model`); an index without the column says nothing.
    """
    path = Path(sample_dir) / "index.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return sorted({row.get("label_source") or "" for row in csv.DictReader(f)} - {""})
