"""The scene file every ingest path writes: a float32 COG on the region grid with provenance tags.

Shared by GeoTIFF ingest (``ingest``) and SAFE ingest (``safe_ingest``), so neither imports the other's
internals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from icecrack_assets.errors import InputError
from icecrack_assets.raster import float_profile, write_raster_atomic
from icecrack_assets.regions import Region
from icecrack_assets.sar.sentinel1.naming import parse_name


@dataclass(frozen=True)
class IngestResult:
    """What one ingest wrote: the scene file and the facts downstream stages need."""

    path: str
    scene_id: str
    polarisation: str
    looks: float
    valid_fraction: float
    units_in: str
    region: str
    history: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def region_profile(region: Region, dtype: str = "float32", nodata: float | None = np.nan) -> dict[str, Any]:
    """The output profile for a region's processing grid."""
    base = dict(
        driver="GTiff", width=region.width, height=region.height, crs=region.crs, transform=region.transform
    )
    return float_profile(base, dtype=dtype, nodata=nodata)


def history_of(tags: dict[str, str]) -> list[str]:
    """Processing steps already recorded in a raster's ICECRACK_HISTORY tag (JSON list or text)."""
    raw = tags.get("ICECRACK_HISTORY")
    if not raw:
        return []
    try:
        value = json.loads(raw)
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    except ValueError:
        return [raw]


def write_scene(
    src: Path,
    region: Region,
    dst: Path,
    out: np.ndarray,
    tags: dict[str, str],
    polarisation: str | None,
    step: str,
    units_in: str,
) -> IngestResult:
    valid = float(np.isfinite(out).mean()) if out.size else 0.0
    if valid == 0.0:
        raise InputError(src, f"has no valid pixels inside the {region.name} AOI")
    name = parse_name(src.name)
    scene_id = tags.get("SCENE_ID") or (str(name) if name else src.name.split(".")[0])
    pol = (
        polarisation
        or tags.get("POLARISATION")
        or (name.polarisations[0] if name and len(name.polarisations) == 1 else region.polarisation)
    )
    pol = pol.upper()
    looks = float(tags["LOOKS"]) if tags.get("LOOKS") else region.looks
    history = history_of(tags) + [step, f"region {region.name}"]
    out_tags = {k: v for k, v in tags.items() if k.startswith("ICECRACK_") and k != "ICECRACK_HISTORY"}
    out_tags.update(
        SCENE_ID=scene_id,
        POLARISATION=pol,
        LOOKS=f"{looks:g}",
        UNITS="linear",
        REGION=region.name,
        ICECRACK_HISTORY=json.dumps(history),
    )
    write_raster_atomic(dst, out.astype(np.float32), region_profile(region), tags=out_tags, cog=True)
    return IngestResult(
        path=str(dst),
        scene_id=scene_id,
        polarisation=pol,
        looks=looks,
        valid_fraction=valid,
        units_in=units_in,
        region=region.name,
        history=history,
    )
