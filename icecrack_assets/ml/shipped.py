"""The default model shipped inside the package, and how commands find a model.

``icecrack_assets/ml/default_model/`` holds ``weights.pt`` and ``bundle.json`` (lineage, metrics,
training pixel spacing), reproduced by ``icecrack train --default-model``. It is trained in two
parts: the simulator + Lai model (stages 1 and 1b, ``default_model_base/``, also shipped: suite
d's leave-one-tile-out runs start from it, since the final model has seen every real tile), then a
short fine-tune with the real tiles' field-level labels (``ml/weak.py``). ``icecrack predict``
uses it when the data root holds no bundle trained on real labels, so a fresh install maps cracks
before any demo, and a model the demo fine-tuned on simulated scenes is not silently applied to a
user's real scene; training and the ``crack_model`` asset start from it (fine-tuning).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.bundle import (
    BUNDLE_JSON,
    WEIGHTS,
    bundle_records,
    latest_bundle,
    simulated_only,
)

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"
BASE_MODEL_DIR = Path(__file__).resolve().parent / "default_model_base"  # stage 1b: no real tiles


def _shipped(d: Path) -> Path | None:
    return d if (d / BUNDLE_JSON).is_file() and (d / WEIGHTS).is_file() else None


def default_model_path() -> Path | None:
    """The shipped bundle's directory, or None when this install has none."""
    return _shipped(DEFAULT_MODEL_DIR)


def base_model_path() -> Path | None:
    """The shipped stage-1 bundle (never trained on real tiles), or None."""
    return _shipped(BASE_MODEL_DIR)


@dataclass(frozen=True)
class ModelChoice:
    path: Path
    note: str = ""  # why this one, when a newer bundle was passed over


def resolve_model(model: Path | None, models_dir: Path) -> ModelChoice:
    """The model of ``icecrack predict``: ``model`` if given; else the newest bundle under
    ``models_dir`` that learnt from more than simulated truth; else the shipped default model.

    A bundle fine-tuned on the demo's simulated scenes maps simulated scenes well and forgot what
    the default model learnt from real Sentinel-1 (on the four real tiles: 2 of 22 crevasse fields
    found, streams flagged more than fields; the default model: 22 of 22, docs/model.md), so it is
    used on a user's scene only when named.
    """
    if model is not None:
        return ModelChoice(Path(model))
    records = bundle_records(models_dir)
    real = next((b for b, meta in records if not simulated_only(meta)), None)  # stops at the first
    bundles = [b for b, _ in records]
    if real is not None:
        return ModelChoice(real)
    shipped = default_model_path()
    if shipped is None:
        return ModelChoice(latest_bundle(models_dir))  # raises when there is none
    if not bundles:
        return ModelChoice(shipped)
    return ModelChoice(
        shipped,
        f"the shipped default model: {bundles[0].name} under {models_dir} learnt from simulated "
        f"scenes only (--model {bundles[0]} to use it)",
    )


def resolve_init(init: str | Path) -> Path:
    """A fine-tuning start: ``"default"`` is the shipped model, ``"base"`` its base, stage 1b (no real
    tiles), anything else a bundle directory."""
    named = {"default": DEFAULT_MODEL_DIR, "base": BASE_MODEL_DIR}
    if str(init) not in named:
        return Path(init)
    shipped = _shipped(named[str(init)])
    if shipped is None:
        rel = named[str(init)].relative_to(Path(__file__).resolve().parents[2])
        raise IceCrackError(f"this install ships no {init!s} model ({rel}/)")
    return shipped
