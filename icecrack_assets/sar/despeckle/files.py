"""Despeckling front: one settings object, one function on arrays, one on files.

PPB (iterative probabilistic patch-based weights) is the default; Lee, refined Lee, Frost and
boxcar are cheap baselines for ablations, and "none" passes the intensity through. The settings
go into Dagster metadata and the model bundle (``as_dict``) and into code versions
(``fingerprint``), so a change of filter or parameter invalidates what was computed with it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from icecrack_assets.errors import IceCrackError, InputError
from icecrack_assets.raster import (
    DB_TO_LINEAR_ADVICE,
    atomic_path,
    iter_blocks,
    open_single_band,
    output_profile,
    read_window_nan,
)
from icecrack_assets.sar.despeckle import filters
from icecrack_assets.sar.despeckle.looks import enl_at, h_from_scene, h_white, homogeneous_blocks
from icecrack_assets.sar.despeckle.ppb import Stage, halo_for, ppb, schedule
from icecrack_assets.sar.despeckle.settings import (
    BLEND_WINDOW,
    GUARD_WINDOW,
    REFERENCE,
    RULE_VERSION,
    PpbParams,
    params_for_looks,
)

FILTERS = ("ppb", "lee", "refined-lee", "frost", "boxcar", "none")
CALIBRATIONS = ("white", "scene")
GDAL_CACHE_MB = 128  # GDAL block cache during despeckle_file (MB)
ENL_BLOCK = 32  # side of the homogeneous blocks the ENL is measured on (looks.homogeneous_blocks)


PRESETS = ("looks", "reference", "custom")
PPB_FIELDS = ("hw", "hd", "alpha", "T", "iterations", "guard", "blend")


@dataclass(frozen=True)
class DespeckleSettings:
    """What to run and with which parameters.

    ``preset`` says where PPB's hw, hd, alpha, T and iterations come from: "looks" (default) the
    calibrated rule for this number of looks (``settings.params_for_looks``), "reference"
    Deledalle's single-look defaults (hW=10, hD=3, alpha=0.92, T=0.2, 4 iterations). A field set
    explicitly overrides the preset; the result is then "custom" (fixed values) in ``as_dict``.
    ``calibration``: "white" takes h for white speckle with ``looks`` (table or seeded
    Monte-Carlo); "scene" measures it on homogeneous areas of the input itself, which suits
    spatially correlated GRD speckle (see docs/despeckling.md).
    """

    filter: str = "ppb"
    looks: float = 1.0
    preset: str = "looks"
    hw: int | None = None
    hd: int | None = None
    alpha: float | None = None
    T: float | None = None
    iterations: int | None = None
    guard: float | None = None
    blend: float | None = None
    staged: bool = False
    window: int = 7
    calibration: str = "white"

    def __post_init__(self) -> None:
        if self.filter not in FILTERS:
            raise IceCrackError(f"unknown filter {self.filter!r}; choose one of {', '.join(FILTERS)}")
        if not (isinstance(self.looks, (int, float)) and math.isfinite(self.looks) and self.looks > 0):
            raise IceCrackError(f"looks must be a positive number, got {self.looks}")
        if self.preset not in PRESETS:
            raise IceCrackError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        p = self.ppb_params()
        if p.hw < 1 or p.hd < 0 or p.iterations < 1:
            raise IceCrackError(
                f"need hw >= 1, hd >= 0, iterations >= 1 (got {p.hw}, {p.hd}, {p.iterations})"
            )
        if not 0 < p.alpha < 1:
            raise IceCrackError(f"alpha must be in (0, 1), got {p.alpha}")
        if not p.T > 0:
            raise IceCrackError(f"T must be positive (inf disables the refinement), got {p.T}")
        if not 0 <= p.guard <= 1:
            raise IceCrackError(f"guard must be in [0, 1], got {p.guard}")
        if not 0 <= p.blend <= 1:
            raise IceCrackError(f"blend must be in [0, 1], got {p.blend}")
        if self.window < 3 or self.window % 2 == 0:
            raise IceCrackError(f"window must be an odd integer >= 3, got {self.window}")
        if self.calibration not in CALIBRATIONS:
            raise IceCrackError(f"calibration must be one of {CALIBRATIONS}, got {self.calibration!r}")

    def _preset_params(self) -> PpbParams:
        return REFERENCE if self.preset == "reference" else params_for_looks(self.looks)

    def ppb_params(self) -> PpbParams:
        """PPB's resolved parameters: the preset's row with the explicitly set fields on top."""
        base = self._preset_params()
        given = {k: getattr(self, k) for k in PPB_FIELDS if getattr(self, k) is not None}
        return dataclasses.replace(base, **given) if given else base

    def effective_preset(self) -> str:
        """The preset as written to metadata: "custom" once a field departs from the preset's row."""
        if self.preset == "custom" or self.ppb_params() != self._preset_params():
            return "custom"
        return self.preset

    def as_dict(self) -> dict[str, Any]:
        """JSON-able parameters; only those that matter for the chosen filter (PPB's resolved)."""
        d: dict[str, Any] = {"filter": self.filter, "looks": self.looks, "window": self.window}
        if self.filter == "ppb":
            d.pop("window")
            d.update(self.ppb_params().as_dict())
            d.update(staged=self.staged, calibration=self.calibration, preset=self.effective_preset())
            if d["preset"] == "looks":
                d["rule"] = RULE_VERSION
        if self.filter in ("boxcar", "none"):
            d.pop("looks")
        if self.filter == "none":
            d.pop("window")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], looks: float | None = None) -> DespeckleSettings:
        """Rebuild settings from ``as_dict`` output (metadata, bundles), at ``looks`` if given.

        "looks" re-resolves the parameters from the rule at the (new) number of looks, as was done
        per scene when the data were despeckled; it refuses a dict written by another version of
        the rule, whose parameters this code cannot reproduce. "reference" and "custom" keep their
        values. Dicts written before presets existed carry explicit values: "custom" (and no guard, no
        blend).
        """
        known = cls.__dataclass_fields__
        kw = {k: v for k, v in d.items() if k in known}
        if kw.get("T") == "inf":
            kw["T"] = math.inf
        if looks is not None:
            kw["looks"] = float(looks)
        preset = kw.setdefault("preset", "custom" if any(k in d for k in PPB_FIELDS) else "looks")
        if (
            preset == "looks"
            and d.get("filter", "ppb") == "ppb"
            and d.get("rule", RULE_VERSION) != RULE_VERSION
        ):
            raise IceCrackError(
                f"despeckling settings follow rule {d.get('rule')!r} but this code has {RULE_VERSION!r}; "
                "replay them with preset 'custom' and explicit parameters, or re-run"
            )
        if preset in ("looks", "reference"):
            for k in PPB_FIELDS:
                kw.pop(k, None)
        else:  # written before the guard / the blend existed, or without them: plain PPB
            kw.setdefault("guard", 0.0)
            kw.setdefault("blend", 0.0)
        return cls(**kw)

    def fingerprint(self) -> str:
        """Short stable hash of ``as_dict`` (12 hex digits)."""
        blob = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def schedule(self) -> list[Stage]:
        p = self.ppb_params()
        return schedule(p.hw, p.hd, p.iterations, self.staged)

    def halo(self) -> int:
        """Pixels of context an output pixel depends on (for exact block-wise processing)."""
        if self.filter == "ppb":
            p = self.ppb_params()
            guard = GUARD_WINDOW // 2 if p.guard > 0 else 0
            blend = BLEND_WINDOW // 2 if p.blend > 0 else 0  # Frost reads the input, in parallel
            return max(halo_for(self.schedule()) + guard, blend)
        if self.filter == "none":
            return 0
        return self.window  # refined Lee reaches window//2 for stats + window//2 for sub-means


def _valid_mask(intensity: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    if valid is None:
        return np.isfinite(intensity) & (intensity > 0)
    return np.asarray(valid, bool) & np.isfinite(intensity)


def scene_h(
    intensity: np.ndarray, settings: DespeckleSettings, valid: np.ndarray | None = None
) -> dict[int, float]:
    """h per patch width D of the PPB schedule, measured on the scene's homogeneous areas."""
    return {
        2 * st.hd + 1: h_from_scene(intensity, 2 * st.hd + 1, settings.ppb_params().alpha, valid)
        for st in settings.schedule()
    }


def despeckle(
    intensity: np.ndarray,
    settings: DespeckleSettings,
    valid: np.ndarray | None = None,
    *,
    h: dict[int, float] | None = None,
    backend: str = "numba",
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """Despeckle linear intensity; float32 out with NaN at nodata.

    Nodata is NaN or <= 0 unless ``valid`` is given. ``h`` (per patch width D) overrides the
    calibration, e.g. one scene-wide calibration shared by all blocks of a file. ``backend``
    "torch" runs the PyTorch path (CUDA when present), "auto" picks it only when CUDA is present.
    """
    I = np.asarray(intensity, dtype=np.float32)
    if I.ndim != 2:
        raise IceCrackError(f"expected a 2-D intensity array, got shape {I.shape}")
    v = _valid_mask(I, valid)
    s = settings
    if s.filter == "none":
        return np.where(v, I, np.nan).astype(np.float32)
    if s.filter == "boxcar":
        return filters.boxcar(I, s.window, v)
    if s.filter == "lee":
        return filters.lee(I, s.looks, s.window, v)
    if s.filter == "refined-lee":
        return filters.refined_lee(I, s.looks, s.window, v)
    if s.filter == "frost":
        return filters.frost(I, s.looks, s.window, v)
    p = s.ppb_params()
    if h is None and s.calibration == "scene":
        h = scene_h(I, s, v)
    h_of = (lambda D: h[D]) if h is not None else None
    if backend == "auto":
        from icecrack_assets.sar.despeckle.ppb_torch import cuda_available

        backend = "torch" if cuda_available() else "numba"
    R: np.ndarray
    if backend == "torch":
        from icecrack_assets.sar.despeckle.ppb_torch import ppb_torch

        R = ppb_torch(I, s.looks, p.hw, p.hd, p.alpha, p.T, p.iterations, s.staged, v, h_of)
    elif backend == "numba":
        R = ppb(I, s.looks, p.hw, p.hd, p.alpha, p.T, p.iterations, s.staged, v, h_of, progress)
    else:
        raise IceCrackError(f"unknown backend {backend!r}; choose numba, torch or auto")
    if p.guard > 0:
        R = filters.residual_guard(I, R, s.looks, p.guard, GUARD_WINDOW, v)
    if p.blend > 0:
        F = filters.frost(I, s.looks, BLEND_WINDOW, v)
        R = ((1.0 - p.blend) * R.astype(np.float64) + p.blend * F.astype(np.float64)).astype(np.float32)
    return R


def _central_window(ds: rasterio.io.DatasetReader, size: int = 2048) -> rasterio.windows.Window:
    """A central window of the scene (bounded memory) for the scene-wide h calibration and ENL."""
    h, w = min(size, ds.height), min(size, ds.width)
    return rasterio.windows.Window((ds.width - w) // 2, (ds.height - h) // 2, w, h)


def _enl_pair(sample: np.ndarray, out_path: Path, window) -> tuple[float | None, float | None]:
    """ENL of the input and of the output on the same homogeneous blocks of the input's central
    window: the first checks the looks used, the second says how much the filter smoothed."""
    corners = homogeneous_blocks(sample, np.isfinite(sample) & (sample > 0), ENL_BLOCK)
    if not corners:
        return None, None
    with rasterio.open(out_path) as ds:
        filtered = ds.read(1, window=window).astype(np.float64)
    enl_in, enl_out = enl_at(sample, corners, ENL_BLOCK), enl_at(filtered, corners, ENL_BLOCK)
    return (
        round(enl_in, 3) if math.isfinite(enl_in) else None,
        round(enl_out, 3) if math.isfinite(enl_out) else None,
    )


@dataclass(frozen=True)
class DespeckleResult:
    """What one despeckled file holds and cost: settings as written into its tags, and the ratio check."""

    path: str
    filter: str
    settings: dict[str, Any]
    fingerprint: str
    seconds: float
    mpix_per_s: float | None
    mean_ratio: float | None  # mean of noisy / filtered over valid pixels: 1 when radiometry is kept
    n_valid: int
    blocks: int
    halo: int
    h: dict[str, float] | None
    width: int
    height: int
    looks: float  # number of looks the filter was told (PPB's parameters follow it)
    enl_input: float | None  # ENL measured on homogeneous blocks of the input (None: no such block)
    enl_output: float | None  # ENL of the output on the same blocks: how strongly it smoothed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def despeckle_file(
    src: str | Path,
    dst: str | Path,
    settings: DespeckleSettings,
    block: int = 1024,
    progress: Callable[[float], None] | None = None,
    *,
    backend: str = "numba",
) -> DespeckleResult:
    """Despeckle a single-band linear-intensity GeoTIFF window by window (bounded memory).

    Each ``block``² core is read with ``settings.halo()`` pixels of context so the result equals
    whole-image processing; dst is written atomically, keeps CRS and transform, nodata = NaN.
    Returns what was done, with the mean of I/Î over valid pixels (1 when radiometry is preserved).
    """
    src, dst = Path(src), Path(dst)
    t0 = time.perf_counter()
    halo = settings.halo()
    h_used: dict[int, float] | None = None
    # GDAL's block cache defaults to 5 % of RAM and fills up over a big scene (1.3 GB peak RSS on
    # a 16k² scene); blocks are read once, so a small cache costs nothing and bounds memory.
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        with open_single_band(src, allow_gcps=True) as ds:  # a filter needs no map grid
            H, W = ds.height, ds.width
            sample_window = _central_window(ds)
            sample = read_window_nan(ds, sample_window, src)
            if settings.filter == "ppb":
                if settings.calibration == "scene":
                    try:
                        h_used = scene_h(sample, settings)
                    except ValueError as exc:
                        raise InputError(src, f"cannot calibrate h from the scene: {exc}") from None
                else:
                    h_used = {
                        2 * st.hd + 1: h_white(settings.looks, 2 * st.hd + 1, settings.ppb_params().alpha)
                        for st in settings.schedule()
                    }
            profile = output_profile(ds)
            blocks = list(iter_blocks(H, W, block, halo))
            ratio_sum, n_valid, checked = 0.0, 0, False
            with atomic_path(dst) as tmp:
                with rasterio.open(tmp, "w", **profile) as out:
                    for k, blk in enumerate(blocks):
                        a = read_window_nan(ds, blk.read, src)
                        if not checked and np.isfinite(a).any():
                            fin = a[np.isfinite(a)]
                            if (fin < 0).mean() > 0.5:
                                raise InputError(
                                    src,
                                    "mostly negative values: looks like dB; expected linear sigma0 "
                                    f"intensity; {DB_TO_LINEAR_ADVICE}",
                                )
                            checked = True

                        def sub(f: float, k: int = k) -> None:
                            if progress is not None:
                                progress((k + f) / len(blocks))

                        res = despeckle(
                            a,
                            settings,
                            h=h_used,
                            backend=backend,
                            progress=sub if settings.filter == "ppb" else None,
                        )
                        core = res[blk.inner]
                        inp = a[blk.inner]
                        ok = np.isfinite(core) & np.isfinite(inp) & (core > 0)
                        ratio_sum += float(np.sum(inp[ok].astype(np.float64) / core[ok]))
                        n_valid += int(ok.sum())
                        out.write(core, 1, window=blk.write)
                        if progress is not None:
                            progress((k + 1) / len(blocks))
                enl_input, enl_output = _enl_pair(sample, tmp, sample_window)
                with rasterio.open(tmp, "r+") as out:
                    out.update_tags(
                        despeckle=json.dumps(settings.as_dict(), sort_keys=True),
                        despeckle_fingerprint=settings.fingerprint(),
                        despeckle_looks=f"{settings.looks:g}",
                        despeckle_enl_input="" if enl_input is None else f"{enl_input:g}",
                        despeckle_enl_output="" if enl_output is None else f"{enl_output:g}",
                    )
    seconds = time.perf_counter() - t0
    return DespeckleResult(
        path=str(dst),
        filter=settings.filter,
        settings=settings.as_dict(),
        fingerprint=settings.fingerprint(),
        seconds=round(seconds, 3),
        mpix_per_s=round(H * W / seconds / 1e6, 4) if seconds > 0 else None,
        mean_ratio=ratio_sum / n_valid if n_valid else None,
        n_valid=n_valid,
        blocks=len(blocks),
        halo=halo,
        h={str(k): round(v, 6) for k, v in h_used.items()} if h_used else None,
        width=W,
        height=H,
        looks=settings.looks,
        enl_input=enl_input,
        enl_output=enl_output,
    )
