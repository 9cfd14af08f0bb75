"""User annotations (crevasse lines and zones) rasterised onto a scene grid.

Annotations live under ``data/labels/`` (optionally ``data/labels/<region>/``) as GeoPackage or
shapefile layers in any CRS (reprojected to the scene's). Lines are buffered to a width (a
``width_m`` attribute per feature, else ``line_width_m``); polygons are crack zones. A feature
whose ``kind`` (or ``class``) attribute is ``extent`` marks the annotated area: when any extent is
present, pixels outside all extents become 255 (unlabelled) instead of background. A ``kind`` of
``background``/``not_crack`` marks a hard negative zone: 0 even outside every extent, and a crack
drawn inside it stays a crack.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, cast

import numpy as np

from icecrack_assets.errors import InputError
from icecrack_assets.raster import MASK_NODATA as NODATA

if TYPE_CHECKING:
    from affine import Affine
    from geopandas import GeoDataFrame
    from shapely.geometry.base import BaseGeometry

    from icecrack_assets.gcp_pixels import GcpPixels

LABEL_SUFFIXES = (".gpkg", ".shp")
EXTENT_KINDS = {"extent", "aoi", "annotated"}
BACKGROUND_KINDS = {"background", "not_crack", "no_crack", "negative"}


def label_files(labels_dir: Path, region_name: str | None = None) -> list[Path]:
    """Annotation files directly under ``labels_dir`` and under ``labels_dir/<region>/``."""
    labels_dir = Path(labels_dir)
    dirs = [labels_dir] + ([labels_dir / region_name] if region_name else [])
    files: list[Path] = []
    for d in dirs:
        if d.is_dir():
            files += sorted(p for p in d.iterdir() if p.suffix.lower() in LABEL_SUFFIXES and p.is_file())
    return files


def _read_layers(path: Path) -> list[GeoDataFrame]:
    import geopandas as gpd
    import pyogrio

    try:
        layers = [name for name, _ in pyogrio.list_layers(path)] if path.suffix.lower() == ".gpkg" else [None]
        frames = [gpd.read_file(path, layer=layer) if layer else gpd.read_file(path) for layer in layers]
    except Exception as exc:
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise InputError(path, f"not a readable vector file ({first})") from None
    for layer, gdf in zip(layers, frames):
        if len(gdf) and gdf.crs is None:
            raise InputError(path, f"layer {layer or path.stem!r} has no CRS; annotations need one")
    return [g for g in frames if len(g)]


def _kind(gdf: GeoDataFrame) -> np.ndarray:
    for col in ("kind", "class", "label"):
        if col in gdf.columns:
            kinds: np.ndarray = gdf[col].astype(str).str.lower().str.strip().to_numpy()
            return kinds
    return np.full(len(gdf), "crack", dtype=object)


class _Shapes(NamedTuple):
    """Annotation polygons in one CRS, lines already buffered to their width."""

    cracks: list[BaseGeometry]
    negatives: list[BaseGeometry]
    extents: list[BaseGeometry]


def _shapes(files: list[Path], crs: object, clip: BaseGeometry, default_width: float) -> _Shapes:
    """Every annotation that meets ``clip``, in ``crs`` (metres, for the line widths)."""
    found = _Shapes([], [], [])
    for path in files:
        for gdf in _read_layers(Path(path)):
            gdf = gdf.to_crs(crs)
            gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
            gdf = gdf[gdf.intersects(clip)]
            if not len(gdf):
                continue
            kinds = _kind(gdf)
            widths = (
                gdf["width_m"].astype(float).fillna(default_width).to_numpy()
                if "width_m" in gdf.columns
                else np.full(len(gdf), default_width)
            )
            for geom, kind, width in zip(gdf.geometry, kinds, widths):
                if geom.geom_type in ("LineString", "MultiLineString"):
                    geom = geom.buffer(max(width, 1e-6) / 2.0, cap_style="flat")
                if kind in EXTENT_KINDS:
                    found.extents.append(geom)
                elif kind in BACKGROUND_KINDS:
                    found.negatives.append(geom)
                else:
                    found.cracks.append(geom)
    return found


def _burn(found: _Shapes, transform: Affine, shape: tuple[int, int]) -> np.ndarray | None:
    """1 crack, 0 background, 255 outside any extent; None when nothing was found."""
    from rasterio.features import rasterize

    if not found.cracks and not found.negatives and not found.extents:
        return None

    def burn(geoms: list[BaseGeometry], all_touched: bool = False) -> np.ndarray:
        burnt: np.ndarray = rasterize(
            geoms,
            out_shape=shape,
            transform=transform,
            fill=0,
            default_value=1,
            dtype="uint8",
            all_touched=all_touched,
        )
        return burnt

    out = np.zeros(shape, np.uint8)
    if found.extents:
        out[burn(found.extents) == 0] = NODATA
    if found.negatives:  # a zone drawn as background is annotated, inside an extent or not
        out[burn(found.negatives) == 1] = 0
    if found.cracks:
        out[burn(found.cracks, all_touched=True) == 1] = 1
    return out


def rasterise_annotations(
    files: list[Path],
    transform: Affine,
    shape: tuple[int, int],
    crs: object,
    line_width_m: float | None = None,
) -> np.ndarray | None:
    """Burn annotation files onto the grid: 1 crack, 0 background, 255 outside any extent; None if none overlap."""
    from shapely.geometry import box

    h, w = shape
    default_width = line_width_m if line_width_m is not None else 1.5 * abs(transform.a)
    x0, y1 = transform.c, transform.f
    grid_box = box(x0, y1 + transform.e * h, x0 + transform.a * w, y1)
    return _burn(_shapes(files, crs, grid_box, default_width), transform, shape)


def rasterise_annotations_on_gcps(
    files: list[Path], place: GcpPixels, shape: tuple[int, int], line_width_m: float | None = None
) -> np.ndarray | None:
    """``rasterise_annotations`` for an image placed only by GCPs (radar geometry): lines are
    buffered in metres, then every shape is taken to the pixels through the GCPs (``gcp_pixels``)."""
    from affine import Affine

    default_width = line_width_m if line_width_m is not None else 1.5 * place.spacing_m
    found = _shapes(files, place.local, place.footprint, default_width)
    # clipped to the image first: an extent drawn around a whole ice shelf would otherwise be
    # densified into a million vertices for the spline
    clipped = ([g.intersection(place.footprint) for g in kind] for kind in found)
    pixel_shapes = _Shapes(*(place.to_pixels(kind) for kind in clipped))
    return _burn(pixel_shapes, Affine.identity(), shape)


def load_labels_for_scene(
    labels_dir: Path,
    region: object,
    transform: Affine,
    shape: tuple[int, int],
    crs: object,
    line_width_m: float | None = None,
) -> np.ndarray | None:
    """Rasterise the user annotations that overlap a scene grid; None when there are none."""
    name = getattr(region, "name", region if isinstance(region, str) else None)
    files = label_files(Path(labels_dir), name)
    if not files:
        return None
    return rasterise_annotations(files, transform, cast("tuple[int, int]", tuple(shape)), crs, line_width_m)
