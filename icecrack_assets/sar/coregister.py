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
are recorded for every scene. The offset is measured on the central ``WINDOW`` x ``WINDOW`` pixels
(a translation is global; a full-size scene's FFT would need gigabytes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

MAX_CORRECT_PX = 1.0
ACCEPT_BELOW_PX = 0.2
UPSAMPLE = 20
MIN_OVERLAP = 0.25
MIN_CORRELATION = 0.2  # Pearson r of the aligned dB images
WINDOW = 2048

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

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "magnitude_px": round(self.magnitude, 3)}


def to_db(intensity: np.ndarray) -> np.ndarray:
    """dB of linear intensity (float32: full-size scenes); NaN where not positive or missing."""
    x = np.asarray(intensity, np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        db: np.ndarray = 10.0 * np.log10(np.where(x > 0, x, np.float32(np.nan)))
    return db


def _filled(db: np.ndarray, valid: np.ndarray) -> np.ndarray:
    fill = float(np.median(db[valid])) if valid.any() else 0.0
    return np.where(valid, db, fill) - fill


def _centre(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    r0, c0 = max(0, (h - WINDOW) // 2), max(0, (w - WINDOW) // 2)
    return a[r0 : r0 + WINDOW, c0 : c0 + WINDOW]


def measure_offset(reference_db: np.ndarray, moving_db: np.ndarray) -> tuple[float, float, float, float]:
    """``(row, col, correlation, overlap)``: the shift that moves ``moving`` onto ``reference``."""
    from skimage.registration import phase_cross_correlation

    reference_db, moving_db = _centre(reference_db), _centre(moving_db)
    if reference_db.shape != moving_db.shape:
        return float("nan"), float("nan"), 0.0, 0.0
    ok_ref, ok_mov = np.isfinite(reference_db), np.isfinite(moving_db)
    overlap = float((ok_ref & ok_mov).mean())
    if overlap < MIN_OVERLAP:
        return float("nan"), float("nan"), 0.0, overlap
    shift, _, _ = phase_cross_correlation(  # type: ignore[no-untyped-call]
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


@dataclass(frozen=True)
class SeasonRegistration:
    """Every scene's offset against the season reference; what went into the composite."""

    reference: str
    offsets: tuple[SceneOffset, ...]

    @property
    def used(self) -> tuple[str, ...]:
        return tuple(o.scene_id for o in self.offsets if o.status != REJECTED)

    @property
    def rejected(self) -> tuple[str, ...]:
        return tuple(o.scene_id for o in self.offsets if o.status == REJECTED)

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "max_correct_px": MAX_CORRECT_PX,
            "accept_below_px": ACCEPT_BELOW_PX,
            "offsets": [o.as_dict() for o in self.offsets],
        }


class SeasonRegistrar:
    """Registers a season's scenes one at a time against the first one passed (the reference).

    Call it with each scene's despeckled intensity: it returns the image to composite (corrected
    when needed) or None when the scene is rejected, and accumulates the season's mean dB.
    """

    def __init__(self) -> None:
        self._reference_db: np.ndarray | None = None
        self._offsets: list[SceneOffset] = []
        self._sum: np.ndarray | None = None
        self._count: np.ndarray | None = None

    def __call__(self, scene_id: str, intensity: np.ndarray) -> np.ndarray | None:
        image: np.ndarray | None
        if self._reference_db is None:
            self._reference_db = _centre(to_db(intensity)).astype(np.float32)
            offset, image = reference_offset(scene_id), np.asarray(intensity, np.float32)
        else:
            offset, image = register_scene(scene_id, self._reference_db, intensity)
        self._offsets.append(offset)
        if image is not None:
            self._add(image)
        return image

    def _add(self, image: np.ndarray) -> None:
        db = to_db(image)
        ok = np.isfinite(db)
        if self._sum is None or self._count is None:
            self._sum, self._count = np.zeros(db.shape, np.float32), np.zeros(db.shape, np.int16)
        self._sum[ok] += db[ok]
        self._count[ok] += 1

    def result(self) -> SeasonRegistration:
        if not self._offsets:
            raise ValueError("no scene was registered")
        return SeasonRegistration(self._offsets[0].scene_id, tuple(self._offsets))

    def backscatter(self) -> np.ndarray:
        """Mean dB of the composited scenes (NaN where none): later seasons are registered against it."""
        if self._sum is None or self._count is None:
            raise ValueError("no scene was composited")
        out = np.full(self._sum.shape, np.nan, np.float32)
        seen = self._count > 0
        out[seen] = (self._sum[seen] / self._count[seen]).astype(np.float32)
        return out
