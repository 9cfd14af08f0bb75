"""The model bundle: one directory holding everything needed to reproduce a prediction.

``weights.pt`` (state dict) and ``bundle.json`` (architecture, input normalisation, despeckling
settings, decision threshold, training lineage, metrics, code version). Bundles are written to a
temporary directory and renamed into place, so a killed training leaves no half bundle behind.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from icecrack_assets import __version__
from icecrack_assets.errors import IceCrackError, InputError
from icecrack_assets.ml.device import resolve_device
from icecrack_assets.ml.unet import UNet, build_model

BUNDLE_JSON = "bundle.json"
WEIGHTS = "weights.pt"
FORMAT = "icecrack-unet-bundle/1"


@dataclass
class Bundle:
    """A loaded bundle: the model in eval mode plus the settings its predictions depend on."""

    model: UNet
    config: dict[str, Any]
    normalisation: dict[str, Any]
    despeckle: dict[str, Any]
    threshold: float
    lineage: dict[str, Any]
    metrics: dict[str, Any]
    path: Path
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    min_component: int = 0  # crack components smaller than this (px) are dropped from masks
    weights_sha256: str = ""  # as bundle.json records it (checked on load)
    int8: bool = False  # CPU only: run an 8-bit quantised copy (ml/quantise.py; opt-in, predict --int8)
    _runners: dict[tuple[int, ...], torch.nn.Module] = field(default_factory=dict, repr=False)
    _quantised: torch.nn.Module | None = field(default=None, repr=False)

    @property
    def model_id(self) -> str:
        """What a map's numbers depend on: the weights, the threshold, the component floor and int8 (a
        re-calibrated bundle is another model for year-over-year comparisons)."""
        int8 = "+int8" if self.int8 else ""  # the quantised copy maps a little differently
        return f"{self.weights_sha256[:16] or self.path.name}@{self.threshold:.4f}/{self.min_component}{int8}"

    def runner(self, shape: tuple[int, int, int, int]) -> torch.nn.Module:
        """A frozen, channels-last TorchScript copy per tile shape on CPU (about 2x faster).

        ``check_trace=False``: the check re-runs the model on the example batch, which took 7 of
        the 14 s of a demo partition's two scene predictions; the trace of a fixed-shape U-Net
        has nothing data-dependent for it to find. One copy serves every batch size: only the
        tile's height and width are baked into the trace (its padding and crop), so a scene's
        last, partial batch does not pay for a second trace (~1.3 s each on 2 cores). With
        ``int8`` the copy traced is the quantised one (``int8_model``).
        """
        if self.device.type != "cpu":
            return self.model
        key = (int(self.int8), *shape[1:])
        if key not in self._runners:
            try:
                with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
                    warnings.simplefilter("ignore")
                    ex = torch.zeros(shape).contiguous(memory_format=torch.channels_last)
                    if self.int8:
                        m = self.int8_model()
                        ex = ex.contiguous()
                    else:  # Module.to accepts memory_format at runtime; torch's overloads omit it
                        m = self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
                    traced = torch.jit.trace(m, ex, check_trace=False)  # type: ignore[no-untyped-call]
                    self._runners[key] = torch.jit.freeze(traced)
            except Exception:
                self._runners[key] = self.int8_model() if self.int8 else self.model
        return self._runners[key]

    def int8_model(self) -> torch.nn.Module:
        """The quantised copy, calibrated once per loaded bundle (a few seconds)."""
        if self._quantised is None:
            from icecrack_assets.ml.quantise import calibration_tiles, quantise_unet

            self._quantised = quantise_unet(self.model, calibration_tiles(self.despeckle, self.normalisation))
        return self._quantised


def _half(v: torch.Tensor) -> torch.Tensor:
    """float16 where it holds the values; float32 where it would overflow to inf (> 65504).

    BatchNorm running variances of the deep decoder reach 84 000 in the shipped base: as float16
    those channels became inf, i.e. silent in evaluation (measured harmless there: held-out
    groups and probe equal to the float32 weights, docs/model.md), and 0 * inf is NaN for any
    later weight arithmetic."""
    if not v.is_floating_point():
        return v
    h = v.half()
    return h if bool(torch.isfinite(h).all()) or not bool(torch.isfinite(v).all()) else v


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_bundle(
    models_dir: Path,
    model: UNet,
    normalisation: dict[str, Any],
    despeckle: dict[str, Any],
    threshold: float,
    lineage: dict[str, Any],
    metrics: dict[str, Any],
    name: str | None = None,
    extra: dict[str, Any] | None = None,
    weights_dtype: str = "float32",
) -> Path:
    """Write ``models_dir/<name>/`` atomically and return its path.

    ``weights_dtype="float16"`` stores floating weights at half precision (half the size: the
    shipped models); loading converts them back to the model's float32.
    """
    if weights_dtype not in ("float32", "float16"):
        raise ValueError(f"weights_dtype must be float32 or float16, got {weights_dtype!r}")
    half = weights_dtype == "float16"
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    tmp = Path(tempfile.mkdtemp(prefix=".bundle.", dir=models_dir))
    try:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        if half:
            state = {k: _half(v) for k, v in state.items()}
        torch.save(state, tmp / WEIGHTS)
        digest = sha256_file(tmp / WEIGHTS)
        name = name or f"unet-{now:%Y%m%dT%H%M%SZ}-{digest[:8]}"
        meta = {
            "format": FORMAT,
            "created": now.isoformat(),
            "code_version": __version__,
            "architecture": model.config.as_dict(),
            "normalisation": normalisation,
            "despeckle": despeckle,
            "threshold": float(threshold),
            "lineage": lineage,
            "metrics": metrics,
            "weights_sha256": digest,
            "weights_dtype": weights_dtype,
            **(extra or {}),
        }
        (tmp / BUNDLE_JSON).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        final = models_dir / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return final
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_bundle_json(path: Path) -> dict[str, Any]:
    path = Path(path)
    meta_path = path / BUNDLE_JSON
    if not path.exists():
        raise InputError(path, "model bundle does not exist")
    if not path.is_dir() or not meta_path.is_file():
        raise InputError(path, f"not a model bundle (expected a directory with {BUNDLE_JSON} and {WEIGHTS})")
    try:
        meta: dict[str, Any] = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(meta_path, f"corrupt bundle metadata ({exc.__class__.__name__})") from None
    if meta.get("format") != FORMAT:
        raise InputError(meta_path, f"unsupported bundle format {meta.get('format')!r}; expected {FORMAT}")
    return meta


def architecture_diff(arch: dict[str, Any], want: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{key: (bundle's, wanted)}`` for each key of ``want`` that a bundle's ``architecture``
    does not match: weights only load into a U-Net of the same shape."""
    return {k: (arch.get(k), v) for k, v in want.items() if arch.get(k) != v}


_INT8 = contextvars.ContextVar("icecrack_int8_inference", default=False)


@contextlib.contextmanager
def int8_inference(on: bool = True) -> Iterator[None]:
    """Within it, every bundle ``load_bundle`` loads on CPU runs its int8 copy: how ``icecrack
    evaluate --int8`` scores ``predict --int8`` through suites that load bundles in many places."""
    token = _INT8.set(on)
    try:
        yield
    finally:
        _INT8.reset(token)


def int8_inference_active() -> bool:
    """Whether bundles loaded now run their int8 copy (inside ``int8_inference``)."""
    return _INT8.get()


def load_bundle(path: Path, device: str = "auto") -> Bundle:
    """Load a bundle directory; a missing, corrupt or tampered bundle is a one-line InputError."""
    path = Path(path)
    meta = read_bundle_json(path)
    weights = path / WEIGHTS
    if not weights.is_file():
        raise InputError(path, f"model bundle has no {WEIGHTS}")
    if meta.get("weights_sha256") and sha256_file(weights) != meta["weights_sha256"]:
        raise InputError(
            weights, "weights do not match the checksum recorded in bundle.json (corrupt or replaced)"
        )
    dev = resolve_device(device)
    try:
        model = build_model(meta["architecture"])
        state = torch.load(weights, map_location=dev, weights_only=True)
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError, EOFError) as exc:
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise InputError(path, f"cannot rebuild the model from the bundle ({first})") from None
    model.to(dev).eval()
    return Bundle(
        model=model,
        config=meta["architecture"],
        normalisation=meta["normalisation"],
        despeckle=meta.get("despeckle", {"filter": "none"}),
        threshold=float(meta["threshold"]),
        lineage=meta.get("lineage", {}),
        metrics=meta.get("metrics", {}),
        path=path,
        device=dev,
        min_component=int(meta.get("postprocess", {}).get("min_component", 0)),
        weights_sha256=str(meta.get("weights_sha256", "")),
        int8=_INT8.get() and dev.type == "cpu",
    )


def bundle_records(models_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The valid bundles under ``models_dir`` with their bundle.json, newest first (by its ``created``).

    Each bundle.json is read once, so choosing a model by its lineage reads no file twice.
    """
    models_dir = Path(models_dir)
    found: list[tuple[str, str, Path, dict[str, Any]]] = []
    if models_dir.is_dir():
        for d in models_dir.iterdir():
            if d.is_dir() and not d.name.startswith(".") and (d / BUNDLE_JSON).is_file():
                try:
                    meta = json.loads((d / BUNDLE_JSON).read_text())
                except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                    continue
                if isinstance(meta, dict):
                    found.append((str(meta.get("created", "")), d.name, d, meta))
    found.sort(key=lambda r: (r[0], r[1]), reverse=True)
    return [(d, meta) for _, _, d, meta in found]


def learnt_from_real_labels(bundle: Path) -> bool:
    """Whether a bundle's lineage holds labels beyond simulated truth (False if its bundle.json is
    unreadable). Lenient like ``bundle_records``: no format check, so any bundle.json is judged."""
    try:
        meta = json.loads((Path(bundle) / BUNDLE_JSON).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(meta, dict) and not simulated_only(meta)


def bundles_newest_first(models_dir: Path) -> list[Path]:
    """The valid bundles under ``models_dir``, newest first (by creation time recorded in bundle.json)."""
    return [d for d, _ in bundle_records(models_dir)]


def latest_bundle(models_dir: Path) -> Path:
    """The newest valid bundle under ``models_dir`` (by creation time recorded in bundle.json)."""
    found = bundles_newest_first(models_dir)
    if not found:
        raise IceCrackError(
            f"no model bundle found under {models_dir}; train one with "
            "`icecrack train --simulate` or pass --model BUNDLE"
        )
    return found[0]


def simulated_only(meta: dict[str, Any]) -> bool:
    """Whether a bundle learnt from simulated truth alone (its bundle.json lineage's ``label_sources``).

    Bundles from before that record, or from the default-model recipe, say nothing and count as not.
    """
    lineage = meta.get("lineage")
    sources = (lineage.get("label_sources") if isinstance(lineage, dict) else None) or []
    return bool(sources) and all(s == "simulator" for s in sources)
