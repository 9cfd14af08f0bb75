"""Co-registration of a season's scenes before they are composited.

Scenes of one season come from different tracks and passes; geocoding from GCPs alone leaves
residual offsets. Each scene's offset against its reference is measured by phase correlation of the
despeckled dB images (scikit-image ``phase_cross_correlation``, 1/20-pixel upsampling, nodata filled
with the median, a Hann window so the window's edges do not pin the peak at zero shift, no spectral
whitening so residual speckle does not bias the sub-pixel peak).

**One reference per pass direction**: the first ascending scene for the ascending ones, the first
descending scene for the descending ones (manifest order). Across passes, crevasse walls, ice cliffs
and rock slopes are lit from opposite sides, and that moves the correlation peak: perfectly
registered simulated seasons measure 0.2-4.7 px between opposite passes (0.00-0.11 px within one;
``benchmarks/coregistration.py``),
so an image offset across passes is a property of the scene, not a registration error. It is
measured between the two references and recorded (``cross_pass_offset_px``) but neither corrected
nor used to reject; cross-pass geometry comes from the orbit and DEM (terrain correction).

The rule against the scene's reference:

* ``|offset| < ACCEPT_BELOW_PX`` (0.2 px): **accepted** as is (same-pass noise on simulated
  seasons is up to 0.11 px, known shifts are recovered to 0.16 px; resampling for that would only blur);
* ``|offset| <= MAX_CORRECT_PX`` (1 pixel, Euclidean): **corrected** by a sub-pixel bilinear shift
  (``scipy.ndimage.shift``, order 1; pixels touching nodata become nodata);
* larger offsets: **rejected** from the composite (a > 1 px error means the scene's geocoding is
  wrong, and shifting it would hide that);
* too few valid pixels in common (< ``MIN_OVERLAP``), or weak correlation once aligned (Pearson r
  of the dB images < ``MIN_CORRELATION``: different areas or a failed scene): **rejected**.

Offsets are (row, column) pixels to *add* to a scene's coordinates to land on the reference, and
are recorded for every scene. They are measured on the central ``WINDOW`` x ``WINDOW`` pixels (a
translation is global; a full-size scene's FFT would need gigabytes).
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
    """Zero-mean float64 copy with nodata at the median (complex64 FFTs lose the sub-pixel peak)."""
    fill = float(np.median(db[valid])) if valid.any() else 0.0
    out: np.ndarray = np.where(valid, db, fill).astype(np.float64) - fill
    return out


def _hann(shape: tuple[int, ...]) -> np.ndarray:
    window: np.ndarray = np.outer(np.hanning(shape[0]), np.hanning(shape[1]))
    return window


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
    # a Hann window: the crop's edges are not periodic, and unwindowed their spectral cross, the same
    # in both images, pins the peak at zero shift. No phase normalisation: whitening the spectrum
    # lets residual speckle bias the sub-pixel peak (up to 0.3 px on simulated scenes; 0.05 without)
    taper = _hann(reference_db.shape)
    shift, _, _ = phase_cross_correlation(  # type: ignore[no-untyped-call]
        _filled(reference_db, ok_ref) * taper,
        _filled(moving_db, ok_mov) * taper,
        upsample_factor=UPSAMPLE,
        normalization=None,
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


def pass_key(direction: str) -> str:
    """``ascending`` | ``descending`` | ``unknown`` from any spelling of a pass direction."""
    d = (direction or "").strip().lower()
    return "ascending" if d.startswith("asc") else "descending" if d.startswith("desc") else "unknown"


@dataclass(frozen=True)
class SeasonRegistration:
    """Every scene's offset against its pass direction's reference; what went into the composite."""

    references: dict[str, str]  # pass direction -> reference scene id
    offsets: tuple[SceneOffset, ...]
    cross_pass_offset_px: float | None  # ascending vs descending reference, informative only

    @property
    def used(self) -> tuple[str, ...]:
        return tuple(o.scene_id for o in self.offsets if o.status != REJECTED)

    @property
    def rejected(self) -> tuple[str, ...]:
        return tuple(o.scene_id for o in self.offsets if o.status == REJECTED)

    def as_dict(self) -> dict[str, Any]:
        cross = self.cross_pass_offset_px
        return {
            "references": dict(self.references),
            "max_correct_px": MAX_CORRECT_PX,
            "accept_below_px": ACCEPT_BELOW_PX,
            "cross_pass_offset_px": None if cross is None or not np.isfinite(cross) else round(cross, 3),
            "offsets": [o.as_dict() for o in self.offsets],
        }


class SeasonRegistrar:
    """Registers a season's scenes one at a time, each against its pass direction's first scene.

    Call it with each scene's despeckled intensity and pass direction: it returns the image to
    composite (corrected when needed) or None when the scene is rejected, and accumulates each pass
    direction's mean dB (what later seasons are registered against).
    """

    def __init__(self) -> None:
        self._references: dict[str, tuple[str, np.ndarray]] = {}
        self._offsets: list[SceneOffset] = []
        self._sum: dict[str, np.ndarray] = {}
        self._count: dict[str, np.ndarray] = {}

    def __call__(self, scene_id: str, intensity: np.ndarray, direction: str = "") -> np.ndarray | None:
        key = pass_key(direction)
        image: np.ndarray | None
        if key not in self._references:
            self._references[key] = (scene_id, _centre(to_db(intensity)).astype(np.float32))
            offset, image = reference_offset(scene_id), np.asarray(intensity, np.float32)
        else:
            offset, image = register_scene(scene_id, self._references[key][1], intensity)
        self._offsets.append(offset)
        if image is not None:
            self._add(key, image)
        return image

    def same_correction(self, image: np.ndarray) -> np.ndarray | None:
        """The correction of the scene registered last, applied to another image of that scene (its
        raw sigma0, for a model trained on raw input): None if that scene was rejected. Offsets are
        measured on the despeckled scenes, where speckle does not weaken the correlation."""
        if not self._offsets:
            raise ValueError("no scene was registered")
        last = self._offsets[-1]
        if last.status == REJECTED:
            return None
        if last.status == CORRECTED:
            return shift_image(image, last.row_px, last.col_px)
        return np.asarray(image, np.float32)

    def _add(self, key: str, image: np.ndarray) -> None:
        db = to_db(image)
        ok = np.isfinite(db)
        if key not in self._sum:
            self._sum[key], self._count[key] = np.zeros(db.shape, np.float32), np.zeros(db.shape, np.int16)
        self._sum[key][ok] += db[ok]
        self._count[key][ok] += 1

    def result(self) -> SeasonRegistration:
        if not self._offsets:
            raise ValueError("no scene was registered")
        cross = None
        if "ascending" in self._references and "descending" in self._references:
            row, col, _, _ = measure_offset(
                self._references["descending"][1], self._references["ascending"][1]
            )
            cross = float(np.hypot(row, col))
        refs = {k: sid for k, (sid, _) in self._references.items()}
        return SeasonRegistration(refs, tuple(self._offsets), cross)

    def season_backscatter(self) -> np.ndarray:
        """Mean dB of every composited scene, both passes (for display; registration uses one pass)."""
        if not self._sum:
            raise ValueError("no scene was composited")
        keys = list(self._sum)
        total = self._sum[keys[0]].copy()  # summed in place: no stack of full-size arrays
        count = self._count[keys[0]].astype(np.int32)
        for key in keys[1:]:
            total += self._sum[key]
            count += self._count[key]
        mean = np.full(np.shape(total), np.nan, np.float32)
        seen = count > 0
        mean[seen] = (total[seen] / count[seen]).astype(np.float32)
        return mean

    def backscatter(self) -> dict[str, np.ndarray]:
        """Mean dB per pass direction of the composited scenes (NaN where none)."""
        if not self._sum:
            raise ValueError("no scene was composited")
        out = {}
        for key, total in self._sum.items():
            mean = np.full(total.shape, np.nan, np.float32)
            seen = self._count[key] > 0
            mean[seen] = (total[seen] / self._count[key][seen]).astype(np.float32)
            out[key] = mean
        return out
