"""The default model shipped inside the package, and how commands find a model.

``icecrack_assets/ml/default_model/`` holds ``weights.pt`` and ``bundle.json`` (lineage, metrics,
training pixel spacing), reproduced by ``icecrack train --default-model``. ``icecrack predict``
falls back to it when the data root holds no bundle, so a fresh install maps cracks before any
demo; training and the ``crack_model`` asset start from it (fine-tuning).
"""

from __future__ import annotations

from pathlib import Path

from icecrack_assets.errors import IceCrackError
from icecrack_assets.ml.bundle import BUNDLE_JSON, WEIGHTS, latest_bundle

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"


def default_model_path() -> Path | None:
    """The shipped bundle's directory, or None when this install has none."""
    d = DEFAULT_MODEL_DIR
    return d if (d / BUNDLE_JSON).is_file() and (d / WEIGHTS).is_file() else None


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
    """A fine-tuning start: ``"default"`` is the shipped model, anything else a bundle directory."""
    if str(init) == "default":
        shipped = default_model_path()
        if shipped is None:
            raise IceCrackError("this install ships no default model (icecrack_assets/ml/default_model/)")
        return shipped
    return Path(init)
