"""Per year x region crack products: probability COG, mask, vectors, density, orientation, preview.

The change across years is ``statistics.py``'s job.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from icecrack_assets.ml.density import density_orientation
from icecrack_assets.ml.postprocess import crack_mask, stored_probability
from icecrack_assets.ml.preview import write_preview
from icecrack_assets.ml.vectors import centrelines, polygons
from icecrack_assets.raster import MASK_NODATA, atomic_path, float_profile, write_raster_atomic


def _write_gpkg(path: Path, layers: dict[str, list[Any]], crs: object) -> Path:
    import geopandas as gpd

    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*extension.*", category=RuntimeWarning)
        for name, geoms in layers.items():
            gdf = gpd.GeoDataFrame(
                {"id": np.arange(len(geoms), dtype=np.int64)}, geometry=list(geoms), crs=crs
            )
            if len(geoms):
                gdf["length_m"] = gdf.geometry.length.round(1)
                gdf["area_m2"] = gdf.geometry.area.round(1)
            else:
                gdf["length_m"] = np.array([], float)
                gdf["area_m2"] = np.array([], float)
            gdf.to_file(tmp, layer=name, driver="GPKG", mode="a" if tmp.exists() else "w")
    return path


@dataclass(frozen=True)
class CrackProductPaths:
    """The files of one season's crack map (all on the probability map's grid but density/orientation)."""

    probability: Path  # COG, float32 0..1, NaN nodata
    mask: Path  # GeoTIFF uint8: 1 crack, 0 not, 255 nodata
    vectors: Path  # GeoPackage: layers "polygons" and "centrelines"
    density: Path  # km of crack per km2 on cells of cell_m
    orientation: Path  # degrees counter-clockwise from grid east, [0, 180)
    preview: Path  # PNG quick-look

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class CrackStats:
    """Summary of one season's crack map; areas over the valid pixels: mapped and, with a mask, ice."""

    crack_area_km2: float
    crack_length_km: float
    valid_area_km2: float
    density_km_per_km2: float
    crack_fraction: float
    threshold: float
    min_component: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class CrackProducts:
    paths: CrackProductPaths
    stats: CrackStats


def write_crack_products(
    prob: np.ndarray,
    profile: dict[str, Any],
    threshold: float,
    out_dir: Path,
    stem: str,
    pixel_size: float,
    cell_m: float = 1000.0,
    min_component: int = 0,
    ice: np.ndarray | None = None,
) -> CrackProducts:
    """Write all crack products of one probability map; return their paths and summary statistics.

    ``min_component`` (pass ``bundle.min_component``) drops crack components smaller than that many
    pixels: the mask is always a subset of ``prob >= threshold``. ``ice`` (bool, same grid) is the
    region's ice mask: off it every product is nodata, so areas and densities are per km² of ice.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prob = np.asarray(prob, np.float32)
    if ice is not None:
        if ice.shape != prob.shape:
            raise ValueError(f"ice mask shape {ice.shape} differs from the map's {prob.shape}")
        prob = np.where(ice, prob, np.float32(np.nan))
    valid = np.isfinite(prob)
    mask = crack_mask(prob, threshold, min_component)
    mask_u8 = np.where(valid, mask, MASK_NODATA).astype(np.uint8)
    transform: Affine = profile["transform"]
    crs = profile["crs"]
    tags = {"threshold": f"{threshold:.4f}", "min_component": str(int(min_component)), "product": "icecrack"}
    paths = {
        "probability": write_raster_atomic(
            out_dir / f"{stem}_probability.tif",
            stored_probability(prob),
            float_profile(profile),
            tags=tags,
            cog=True,
        ),
        "mask": write_raster_atomic(
            out_dir / f"{stem}_mask.tif",
            mask_u8,
            float_profile(profile, dtype="uint8", nodata=MASK_NODATA),
            tags=tags,
        ),
    }
    paths["vectors"] = _write_gpkg(
        out_dir / f"{stem}_cracks.gpkg",
        {"polygons": polygons(mask, transform), "centrelines": centrelines(mask, transform)},
        crs,
    )
    cell = max(1, int(round(cell_m / pixel_size)))
    density, orient, length_km = density_orientation(mask, valid, pixel_size, cell)
    grid_prof = dict(
        float_profile(profile),
        transform=transform @ Affine.scale(cell),
        width=density.shape[1],
        height=density.shape[0],
    )
    paths["density"] = write_raster_atomic(
        out_dir / f"{stem}_density.tif",
        density,
        grid_prof,
        tags={"units": "km of crack per km2", "cell_m": str(cell * pixel_size)},
    )
    paths["orientation"] = write_raster_atomic(
        out_dir / f"{stem}_orientation.tif",
        orient,
        grid_prof,
        tags={"units": "degrees counter-clockwise from grid east, [0,180)"},
    )
    paths["preview"] = write_preview(prob, mask_u8, out_dir / f"{stem}_preview.png", title=stem, ice=ice)
    px_km2 = (pixel_size / 1000.0) ** 2
    valid_km2 = float(valid.sum() * px_km2)
    stats = CrackStats(
        crack_area_km2=float(mask.sum() * px_km2),
        crack_length_km=float(length_km),
        valid_area_km2=valid_km2,
        density_km_per_km2=length_km / valid_km2 if valid_km2 else float("nan"),
        crack_fraction=float(mask.sum() / valid.sum()) if valid.any() else float("nan"),
        threshold=float(threshold),
        min_component=int(min_component),
    )
    return CrackProducts(CrackProductPaths(**{k: Path(v) for k, v in paths.items()}), stats)
