"""Where every product lives: the data root, stage folders, file names and typed manifests.

One module owns the layout so that assets, commands and benchmarks never type a folder name or
read a manifest by dict key. Dagster-free: ``dagster_defs.resources.DataRoot`` only hands out a
:class:`DataLayout`.

``<root>/landing/`` incoming scenes → ``raw/<region>/<year>/`` → ``despeckled/<region>/<year>/`` →
``samples/<region>/<year>/`` → ``models/unet-<time>/`` → ``maps/<region>/<year>/`` → ``stats/``;
``labels/`` user annotations, ``masks/`` ice-mask overrides, ``evaluation/`` reports,
``dagster_home/`` the local instance used by ``icecrack demo``.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from icecrack_assets.files import read_json, write_json_atomic

DATA_ROOT_ENV = "ICECRACK_DATA_ROOT"
DEFAULT_DATA_ROOT = "data"
MANIFEST = "manifest.json"
PREVIEW = "preview.png"
MAP_SUMMARY = "stats.json"
QUICKLOOK = "quicklook.png"  # the labelled map figure the UI shows, per partition folder
STAC_ITEM = "item.json"  # the STAC item of a crack-map partition
TRAINING_CURVE = "training_curve.png"  # inside a model bundle: loss and validation F1 per epoch
MODEL_CARD = "model_card.md"  # inside a model bundle: data, split, operating point, limits
_T = TypeVar("_T")


def data_root(root: str | Path | None = None) -> Path:
    """The data root: ``root`` if given, else ``$ICECRACK_DATA_ROOT``, else ``./data``."""
    return Path(root if root else os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT)


class Stage(str, enum.Enum):
    """A partitioned stage of the chain and its folder name under the data root."""

    RAW = "raw"
    DESPECKLED = "despeckled"
    SAMPLES = "samples"
    MAPS = "maps"


@dataclass(frozen=True)
class DataLayout:
    """Paths of every folder and file the platform reads or writes under one data root."""

    root: Path

    @classmethod
    def at(cls, root: str | Path | None = None) -> DataLayout:
        return cls(data_root(root).resolve())

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def labels(self) -> Path:
        return self.root / "labels"

    @property
    def masks(self) -> Path:
        return self.root / "masks"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def stats(self) -> Path:
        return self.root / "stats"

    @property
    def evaluation(self) -> Path:
        return self.root / "evaluation"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    def partition_dir(self, stage: Stage, region: str, year: int) -> Path:
        """``<root>/<stage>/<region>/<year>``: one folder per asset partition."""
        return self.root / Stage(stage).value / region / str(year)

    def manifest(self, stage: Stage, region: str, year: int) -> Path:
        return self.partition_dir(stage, region, year) / MANIFEST

    def map_summary(self, region: str, year: int) -> Path:
        return self.partition_dir(Stage.MAPS, region, year) / MAP_SUMMARY

    def quicklook(self, stage: Stage, region: str, year: int) -> Path:
        return self.partition_dir(stage, region, year) / QUICKLOOK

    def stac_item(self, region: str, year: int) -> Path:
        return self.partition_dir(Stage.MAPS, region, year) / STAC_ITEM

    @property
    def stac_catalog(self) -> Path:
        """The STAC catalogue over every crack-map partition (items link relative to it)."""
        return self.root / Stage.MAPS.value / "catalog.json"


def map_stem(region: str, year: int) -> str:
    """File-name stem of a season's crack products: ``<region>_<year>``."""
    return f"{region}_{year}"


def _from_dict(cls: type[_T], payload: dict[str, Any]) -> _T:
    """Build a dataclass from JSON, ignoring keys written by newer versions."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in payload.items() if k in names})


@dataclass(frozen=True)
class RawScene:
    """One ingested acquisition in ``raw/<region>/<year>/manifest.json``."""

    scene_id: str
    acquired: str  # ISO 8601, UTC
    mode: str
    product: str
    footprint: list[list[float]]
    source: str
    href: str
    path: str  # file name inside the partition folder
    looks: float
    sha256: str
    truth: str | None = None  # simulator truth mask beside the scene, when the catalogue has one


@dataclass(frozen=True)
class RawManifest:
    """The raw_scenes partition: grid facts and the scenes it holds."""

    region: str
    year: int
    crs: str
    bounds: tuple[float, float, float, float]
    pixel_size: float
    catalog: str
    scenes: tuple[RawScene, ...] = field(default_factory=tuple)

    def write(self, folder: Path) -> Path:
        return write_json_atomic(folder / MANIFEST, dataclasses.asdict(self))

    @classmethod
    def read(cls, folder: Path) -> RawManifest:
        d = read_json(folder / MANIFEST)
        d["bounds"] = tuple(d["bounds"])
        d["scenes"] = tuple(_from_dict(RawScene, s) for s in d["scenes"])
        return _from_dict(cls, d)


@dataclass(frozen=True)
class DespeckledScene:
    """One filtered scene in ``despeckled/<region>/<year>/manifest.json``."""

    scene_id: str
    path: str
    seconds: float
    mean_ratio: float | None
    sha256: str
    looks: float
    truth: str | None = None  # the raw partition's truth file name, passed along for sampling
    enl_input: float | None = None  # ENL measured on homogeneous blocks of the input
    enl_output: float | None = None  # the same blocks after filtering
    settings_fingerprint: str = ""


@dataclass(frozen=True)
class DespeckledManifest:
    """The despeckled_scenes partition: the filter settings (as written into each file) and scenes."""

    region: str
    year: int
    settings: dict[str, Any]
    scenes: tuple[DespeckledScene, ...] = field(default_factory=tuple)

    def write(self, folder: Path) -> Path:
        return write_json_atomic(folder / MANIFEST, dataclasses.asdict(self))

    @classmethod
    def read(cls, folder: Path) -> DespeckledManifest:
        d = read_json(folder / MANIFEST)
        d["scenes"] = tuple(_from_dict(DespeckledScene, s) for s in d["scenes"])
        return _from_dict(cls, d)
