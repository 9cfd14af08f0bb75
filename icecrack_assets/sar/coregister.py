"""Co-registration of a season's scenes before they are composited.

Scenes of one season come from different tracks and passes; geocoding from GCPs alone leaves
residual offsets. Each scene's offset against the season reference (the first scene, by the
manifest's order, unless another is given) is measured by phase correlation of the despeckled dB
images (scikit-image ``phase_cross_correlation``, 1/20-pixel upsampling, NaN filled with the
median). The rule:

* ``|offset| < ACCEPT_BELOW_PX`` (0.2 px): **accepted** as is. Perfectly registered simulated
  seasons measure 0.05-0.15 px (look-dependent backscatter moves the peak), so smaller offsets
  are noise, and resampling for them would only blur;
* ``|offset| <= MAX_CORRECT_PX`` (1 pixel, Euclidean): the scene is **corrected** by a sub-pixel
  bilinear shift (``scipy.ndimage.shift``, order 1; pixels touching NaN become NaN);
* larger offsets: the scene is **rejected** from the composite (a > 1 px error means its geocoding
  is wrong, and shifting it would hide that), and the offset is recorded;
* a measurement with too few valid pixels (< ``MIN_OVERLAP``), or whose images correlate weakly
  once aligned (Pearson r of the dB images < ``MIN_CORRELATION``: different areas or a failed
  scene), is **rejected** as unmeasurable.

Offsets are (row, column) pixels to *add* to a scene's coordinates to land on the reference, and
are recorded for every scene.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

MAX_CORRECT_PX = 1.0
ACCEPT_BELOW_PX = 0.2
UPSAMPLE = 20
MIN_OVERLAP = 0.25
MIN_CORRELATION = 0.2  # Pearson r of the aligned dB images

ACCEPTED, CORRECTED, REJECTED, REFERENCE = "accepted", "corrected", "rejected", "reference"


@dataclass(frozen=True)
class SceneOffset:
    """A scene's measured offset against the season reference and what was done with it."""

    scene_id: str
    row_px: float
    col_px: float
    correlation: float  # Pearson r of the dB images after alignment
    overlap: float  # fraction of pixels valid in both
    status: str  # reference | accepted (below 0.2 px) | corrected | rejected
    reason: str = ""

    @property
    def magnitude(self) -> float:
        return float(np.hypot(self.row_px, self.col_px))

    def as_dict(self) -> dict:
        return {**asdict(self), "magnitude_px": round(self.magnitude, 3)}


def to_db(intensity: np.ndarray) -> np.ndarray:
    """dB of linear intensity; NaN where not positive or missing."""
    x = np.asarray(intensity, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x > 0, 10.0 * np.log10(np.where(x > 0, x, 1.0)), np.nan)


def _filled(db: np.ndarray, valid: np.ndarray) -> np.ndarray:
    fill = float(np.median(db[valid])) if valid.any() else 0.0
    return np.where(valid, db, fill) - fill


def measure_offset(reference_db: np.ndarray, moving_db: np.ndarray) -> tuple[float, float, float, float]:
    """``(row, col, correlation, overlap)``: the shift that moves ``moving`` onto ``reference``."""
    from skimage.registration import phase_cross_correlation

    ok_ref, ok_mov = np.isfinite(reference_db), np.isfinite(moving_db)
    overlap = float((ok_ref & ok_mov).mean())
    if overlap < MIN_OVERLAP:
        return float("nan"), float("nan"), 0.0, overlap
    shift, _, _ = phase_cross_correlation(
        _filled(reference_db, ok_ref), _filled(moving_db, ok_mov), upsample_factor=UPSAMPLE
    )
    aligned = shift_image(moving_db, float(shift[0]), float(shift[1]))
    both = ok_ref & np.isfinite(aligned)
    r = float(np.corrcoef(reference_db[both], aligned[both])[0, 1]) if both.sum() > 2 else 0.0
    return float(shift[0]), float(shift[1]), r if np.isfinite(r) else 0.0, overlap


def shift_image(image: np.ndarray, row_px: float, col_px: float) -> np.ndarray:
    """``image`` moved by (row, col) pixels, bilinear; pixels touching NaN or the border become NaN."""
    img = np.asarray(image, np.float32)
    valid = np.isfinite(img)
    moved = ndimage.shift(np.where(valid, img, 0.0), (row_px, col_px), order=1, mode="constant", cval=0.0)
    moved_valid = ndimage.shift(
        valid.astype(np.float32), (row_px, col_px), order=1, mode="constant", cval=0.0
    )
    return np.where(moved_valid > 0.999, moved, np.nan).astype(np.float32)


def register_scene(
    scene_id: str, reference_db: np.ndarray, intensity: np.ndarray
) -> tuple[SceneOffset, np.ndarray | None]:
    """Measure one scene against the reference and apply the rule; return (offset, image or None if rejected)."""
    row, col, corr, overlap = measure_offset(reference_db, to_db(intensity))

    def rejected(reason: str) -> tuple[SceneOffset, None]:
        return SceneOffset(scene_id, row, col, corr, overlap, REJECTED, reason), None

    if not np.isfinite(row):
        return rejected(f"overlap {overlap:.0%} with the reference is below {MIN_OVERLAP:.0%}")
    if corr < MIN_CORRELATION:
        return rejected(f"aligned images correlate weakly (r {corr:.2f} < {MIN_CORRELATION})")
    magnitude = float(np.hypot(row, col))
    if magnitude > MAX_CORRECT_PX:
        return rejected(f"offset {magnitude:.2f} px exceeds {MAX_CORRECT_PX:g} px")
    if magnitude < ACCEPT_BELOW_PX:
        return SceneOffset(scene_id, row, col, corr, overlap, ACCEPTED), np.asarray(intensity, np.float32)
    return SceneOffset(scene_id, row, col, corr, overlap, CORRECTED), shift_image(intensity, row, col)


def reference_offset(scene_id: str) -> SceneOffset:
    return SceneOffset(scene_id, 0.0, 0.0, 1.0, 1.0, REFERENCE)


def season_backscatter(images: list[np.ndarray]) -> np.ndarray:
    """Mean dB of a season's co-registered scenes: the image later seasons are registered against."""
    total = count = None
    for img in images:
        db = to_db(img)
        ok = np.isfinite(db)
        if total is None or count is None:
            total, count = np.zeros(db.shape), np.zeros(db.shape, np.int32)
        total[ok] += db[ok]
        count[ok] += 1
    if total is None or count is None:
        raise ValueError("season_backscatter needs at least one image")
    out = np.full(total.shape, np.nan, np.float32)
    out[count > 0] = (total[count > 0] / count[count > 0]).astype(np.float32)
    return out


def map_offset(previous: Path, current: Path) -> float:
    """Offset (px, Euclidean) between two seasons' mean-backscatter GeoTIFFs (dB) on one grid.

    NaN when their grids differ or they overlap too little to measure.
    """
    from icecrack_assets.raster import read_single_band

    a, pa = read_single_band(previous)
    b, pb = read_single_band(current)
    if a.shape != b.shape or pa.get("transform") != pb.get("transform"):
        return float("nan")
    row, col, corr, _ = measure_offset(a, b)
    if not np.isfinite(row) or corr < MIN_CORRELATION:
        return float("nan")
    return float(np.hypot(row, col))
