"""Despeckling front: one settings object, one function on arrays, one on files.

PPB (iterative probabilistic patch-based weights) is the default; Lee, refined Lee, Frost and
boxcar are cheap baselines for ablations, and "none" passes the intensity through. The settings
go into Dagster metadata and the model bundle (``as_dict``) and into code versions
(``fingerprint``), so a change of filter or parameter invalidates what was computed with it.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import rasterio

from icecrack_assets.errors import IceCrackError, InputError
from icecrack_assets.raster import atomic_path, float_profile, iter_blocks, open_single_band
from icecrack_assets.sar.despeckle import filters
from icecrack_assets.sar.despeckle.looks import h_from_scene, h_white
from icecrack_assets.sar.despeckle.ppb import halo_for, ppb, schedule

FILTERS = ("ppb", "lee", "refined-lee", "frost", "boxcar", "none")
CALIBRATIONS = ("white", "scene")
GDAL_CACHE_MB = 128  # GDAL block cache during despeckle_file (MB)


@dataclass(frozen=True)
class DespeckleSettings:
    """What to run and with which parameters (defaults = Deledalle's iterative PPB).

    ``calibration``: "white" takes h for white speckle with ``looks`` (table or seeded
    Monte-Carlo); "scene" measures it on homogeneous areas of the input itself, which suits
    spatially correlated GRD speckle (see docs/despeckling.md).
    """

    filter: str = "ppb"
    looks: float = 1.0
    hw: int = 10
    hd: int = 3
    alpha: float = 0.92
    T: float = 0.2
    iterations: int = 4
    staged: bool = False
    window: int = 7
    calibration: str = "white"

    def __post_init__(self) -> None:
        if self.filter not in FILTERS:
            raise IceCrackError(f"unknown filter {self.filter!r}; choose one of {', '.join(FILTERS)}")
        if not (isinstance(self.looks, (int, float)) and math.isfinite(self.looks) and self.looks > 0):
            raise IceCrackError(f"looks must be a positive number, got {self.looks}")
        if self.hw < 1 or self.hd < 0 or self.iterations < 1:
            raise IceCrackError(
                f"need hw >= 1, hd >= 0, iterations >= 1 (got {self.hw}, {self.hd}, {self.iterations})"
            )
        if not 0 < self.alpha < 1:
            raise IceCrackError(f"alpha must be in (0, 1), got {self.alpha}")
        if not self.T > 0:
            raise IceCrackError(f"T must be positive (inf disables the refinement), got {self.T}")
        if self.window < 3 or self.window % 2 == 0:
            raise IceCrackError(f"window must be an odd integer >= 3, got {self.window}")
        if self.calibration not in CALIBRATIONS:
            raise IceCrackError(f"calibration must be one of {CALIBRATIONS}, got {self.calibration!r}")

    def as_dict(self) -> dict:
        """JSON-able parameters; only those that matter for the chosen filter."""
        d = asdict(self)
        if self.filter == "ppb":
            d.pop("window")
            if math.isinf(self.T):
                d["T"] = "inf"
        else:
            for k in ("hw", "hd", "alpha", "T", "iterations", "staged", "calibration"):
                d.pop(k)
            if self.filter in ("boxcar", "none"):
                d.pop("looks")
            if self.filter == "none":
                d.pop("window")
        return d

    def fingerprint(self) -> str:
        """Short stable hash of ``as_dict`` (12 hex digits)."""
        blob = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def halo(self) -> int:
        """Pixels of context an output pixel depends on (for exact block-wise processing)."""
        if self.filter == "ppb":
            return halo_for(schedule(self.hw, self.hd, self.iterations, self.staged))
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
        2 * st.hd + 1: h_from_scene(intensity, 2 * st.hd + 1, settings.alpha, valid)
        for st in schedule(settings.hw, settings.hd, settings.iterations, settings.staged)
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
    if h is None and s.calibration == "scene":
        h = scene_h(I, s, v)
    h_of = (lambda D: h[D]) if h is not None else None
    if backend == "auto":
        from icecrack_assets.sar.despeckle import ppb_torch

        backend = "torch" if ppb_torch.cuda_available() else "numba"
    if backend == "torch":
        from icecrack_assets.sar.despeckle.ppb_torch import ppb_torch

        return ppb_torch(I, s.looks, s.hw, s.hd, s.alpha, s.T, s.iterations, s.staged, v, h_of)
    if backend != "numba":
        raise IceCrackError(f"unknown backend {backend!r}; choose numba, torch or auto")
    return ppb(I, s.looks, s.hw, s.hd, s.alpha, s.T, s.iterations, s.staged, v, h_of, progress)


def _read_block(ds: rasterio.io.DatasetReader, window, path: Path) -> np.ndarray:
    try:
        a = ds.read(1, window=window).astype(np.float32)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(path, f"truncated or corrupt pixels ({str(exc)[:100]})") from None
    if ds.nodata is not None and not np.isnan(ds.nodata):
        a[a == ds.nodata] = np.nan
    a[~np.isfinite(a)] = np.nan
    return a


def _calibration_sample(ds: rasterio.io.DatasetReader, path: Path, size: int = 2048) -> np.ndarray:
    """A central window of the scene (bounded memory) for the scene-wide h calibration."""
    h, w = min(size, ds.height), min(size, ds.width)
    r0, c0 = (ds.height - h) // 2, (ds.width - w) // 2
    return _read_block(ds, rasterio.windows.Window(c0, r0, w, h), path)


def despeckle_file(
    src: str | Path,
    dst: str | Path,
    settings: DespeckleSettings,
    block: int = 1024,
    progress: Callable[[float], None] | None = None,
    *,
    backend: str = "numba",
) -> dict:
    """Despeckle a single-band linear-intensity GeoTIFF window by window (bounded memory).

    Each ``block``² core is read with ``settings.halo()`` pixels of context so the result equals
    whole-image processing; dst is written atomically, keeps CRS and transform, nodata = NaN.
    Returns stats: seconds, mpix_per_s, mean_ratio (mean of I/Î over valid pixels), n_valid, h...
    """
    src, dst = Path(src), Path(dst)
    t0 = time.perf_counter()
    halo = settings.halo()
    h_used: dict[int, float] | None = None
    # GDAL's block cache defaults to 5 % of RAM and fills up over a big scene (1.3 GB peak RSS on
    # a 16k² scene); blocks are read once, so a small cache costs nothing and bounds memory.
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        with open_single_band(src) as ds:
            H, W = ds.height, ds.width
            if settings.filter == "ppb":
                if settings.calibration == "scene":
                    sample = _calibration_sample(ds, src)
                    try:
                        h_used = scene_h(sample, settings)
                    except ValueError as exc:
                        raise InputError(src, f"cannot calibrate h from the scene: {exc}") from None
                else:
                    h_used = {
                        2 * st.hd + 1: h_white(settings.looks, 2 * st.hd + 1, settings.alpha)
                        for st in schedule(settings.hw, settings.hd, settings.iterations, settings.staged)
                    }
            profile = float_profile(ds.profile)
            blocks = list(iter_blocks(H, W, block, halo))
            ratio_sum, n_valid, checked = 0.0, 0, False
            with atomic_path(dst) as tmp:
                with rasterio.open(tmp, "w", **profile) as out:
                    for k, blk in enumerate(blocks):
                        a = _read_block(ds, blk.read, src)
                        if not checked and np.isfinite(a).any():
                            fin = a[np.isfinite(a)]
                            if (fin < 0).mean() > 0.5:
                                raise InputError(
                                    src,
                                    "mostly negative values: looks like dB; expected linear sigma0 intensity",
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
                    out.update_tags(
                        despeckle=json.dumps(settings.as_dict(), sort_keys=True),
                        despeckle_fingerprint=settings.fingerprint(),
                    )
    seconds = time.perf_counter() - t0
    return {
        "filter": settings.filter,
        "settings": settings.as_dict(),
        "fingerprint": settings.fingerprint(),
        "seconds": round(seconds, 3),
        "mpix_per_s": round(H * W / seconds / 1e6, 4) if seconds > 0 else None,
        "mean_ratio": ratio_sum / n_valid if n_valid else None,
        "n_valid": n_valid,
        "blocks": len(blocks),
        "halo": halo,
        "h": {str(k): round(v, 6) for k, v in h_used.items()} if h_used else None,
        "width": W,
        "height": H,
    }
