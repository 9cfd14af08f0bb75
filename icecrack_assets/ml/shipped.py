"""The default model shipped inside the package, and how commands find a model.

``icecrack_assets/ml/default_model/`` holds ``weights.pt`` and ``bundle.json`` (lineage, metrics,
training pixel spacing), reproduced by ``icecrack train --default-model``. It is trained in two
stages: the simulator + Lai model (``default_model_base/``, also shipped: suite d's leave-one-tile-
out runs start from it, since the final model has seen every real tile), then a short fine-tune
with the real tiles' field-level labels (``ml/weak.py``). ``icecrack predict``
falls back to it when the data root holds no bundle, so a fresh install maps cracks before any
demo; training and the ``crack_model`` asset start from it (fine-tuning).
"""

from __future__ import annotations

from pathlib import Path

from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.bundle import BUNDLE_JSON, WEIGHTS, latest_bundle

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"
BASE_MODEL_DIR = Path(__file__).resolve().parent / "default_model_base"  # stage 1: no real tiles


def _shipped(d: Path) -> Path | None:
    return d if (d / BUNDLE_JSON).is_file() and (d / WEIGHTS).is_file() else None


def default_model_path() -> Path | None:
    """The shipped bundle's directory, or None when this install has none."""
    return _shipped(DEFAULT_MODEL_DIR)


def base_model_path() -> Path | None:
    """The shipped stage-1 bundle (never trained on real tiles), or None."""
    return _shipped(BASE_MODEL_DIR)


def resolve_model(model: Path | None, models_dir: Path) -> Path:
    """``model`` if given, else the newest bundle under ``models_dir``, else the shipped default."""
    if model is not None:
        return Path(model)
    try:
        return latest_bundle(models_dir)
    except IceCrackError:
        shipped = default_model_path()
        if shipped is None:
            raise
        return shipped


def resolve_init(init: str | Path) -> Path:
    """A fine-tuning start: ``"default"`` is the shipped model, ``"base"`` its stage 1 (no real
    tiles), anything else a bundle directory."""
    named = {"default": DEFAULT_MODEL_DIR, "base": BASE_MODEL_DIR}
    if str(init) not in named:
        return Path(init)
    shipped = _shipped(named[str(init)])
    if shipped is None:
        rel = named[str(init)].relative_to(Path(__file__).resolve().parents[2])
        raise IceCrackError(f"this install ships no {init!s} model ({rel}/)")
    return shipped
