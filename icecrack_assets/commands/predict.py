"""``icecrack predict IN.tif OUT.tif``: raw speckled sigma0 in, binary crack mask out (1 crack, 255 nodata)."""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from icecrack_assets.errors import InputError
from icecrack_assets.layout import DataLayout

if TYPE_CHECKING:
    import rasterio
    from shapely.geometry.base import BaseGeometry


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="map cracks in a sigma0 GeoTIFF with a model bundle")
    p.add_argument("input", type=Path, help="linear sigma0 GeoTIFF (raw, speckled)")
    p.add_argument("output", type=Path, help="crack mask GeoTIFF to write (uint8: 1 crack, 0, 255 nodata)")
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help="bundle directory (default: the newest under DATA_ROOT/models trained on more than simulated "
        "scenes, else the shipped default model)",
    )
    p.add_argument("--probabilities", type=Path, default=None, help="also write the probability map as a COG")
    p.add_argument(
        "--despeckled", action="store_true", help="input is already despeckled: skip the bundle's filter"
    )
    p.add_argument(
        "--looks",
        type=float,
        default=None,
        help="equivalent number of looks of the input (default: its LOOKS tag, else the bundle's); "
        "under 2 a raw-sigma0 model smooths the input lightly first",
    )
    p.add_argument(
        "--pixel-size",
        type=float,
        default=None,
        help="input pixel spacing in metres (default: from its projected CRS); used to resample it to the "
        "model's; with it, an image with no georeferencing is mapped on its pixel grid",
    )
    p.add_argument(
        "--ice-outline",
        type=Path,
        default=None,
        help="polygons of ice (GeoPackage, shapefile, GeoJSON; any CRS): pixels whose centre lies "
        "outside are nodata in both outputs (open water, sea ice, rock)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="crack probability threshold (default: the bundle's, chosen on its validation tiles); "
        "higher trades faint cracks for fewer false alarms",
    )
    p.add_argument(
        "--min-component",
        type=int,
        default=None,
        help="drop crack components smaller than this many pixels (default: the bundle's)",
    )
    p.add_argument("--tile", type=int, default=None, help="tile size in px (default: inference.TILE, 512)")
    p.add_argument(
        "--overlap", type=int, default=None, help="tile overlap in px (default: inference.OVERLAP, 32)"
    )
    p.add_argument("--block", type=int, default=2048, help="pixels per processing window (bounds memory)")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--int8",
        action="store_true",
        help="run the model in 8-bit integers on CPU: 2-2.5x faster where the CPU has VNNI, F1 within "
        "0.012 on the evaluation suites, slightly more pixels flagged (docs/model.md); calibrated "
        "once per run, a few seconds",
    )
    p.set_defaults(func=run)


def _outline_on(ds: rasterio.io.DatasetReader, outline: Path) -> BaseGeometry:
    """The ice outline's polygons clipped to ``ds``, in its CRS, or in pixel coordinates (what its
    identity transform reads) for a raster placed only by GCPs."""
    from shapely.geometry import box

    from icecrack_assets.gcp_pixels import of_raster
    from icecrack_assets.masks.icemask import read_outline
    from icecrack_assets.raster import on_map_grid

    if on_map_grid(ds):
        return read_outline(outline, ds.crs).intersection(box(*ds.bounds))
    place = of_raster(ds)
    if place is None:
        raise InputError(outline, "an ice outline needs an input on a map grid or placed by usable GCPs")
    on_ground = read_outline(outline, place.local).intersection(place.footprint)
    (in_pixels,) = place.to_pixels([on_ground])
    return in_pixels.intersection(box(0, 0, ds.width, ds.height))


def run(args: argparse.Namespace) -> int:
    from rasterio.errors import NotGeoreferencedWarning

    from icecrack_assets.ml.bundle import load_bundle
    from icecrack_assets.ml.device import set_threads
    from icecrack_assets.ml.inference import MIN_SIDE, OVERLAP, TILE
    from icecrack_assets.ml.scaled import predict_scene
    from icecrack_assets.ml.shipped import resolve_model
    from icecrack_assets.raster import on_map_grid, open_single_band, placed_by_gcps_only

    tile = TILE if args.tile is None else args.tile
    overlap = OVERLAP if args.overlap is None else args.overlap
    if tile < 16 or not (0 <= overlap < tile):
        raise InputError("--tile/--overlap", f"need tile >= 16 and 0 <= overlap < tile, got {tile}/{overlap}")
    for out in (args.output, args.probabilities):
        if out is not None and out.resolve() == args.input.resolve():
            raise InputError(out, "output would overwrite the input")
    with open_single_band(args.input, allow_gcps=True, allow_unplaced=True) as ds:  # validate first
        if min(ds.height, ds.width) < MIN_SIDE:
            raise InputError(
                args.input,
                f"is {ds.width} x {ds.height} pixels; too small to map cracks in (at least "
                f"{MIN_SIDE} x {MIN_SIDE}: the model needs context around each pixel)",
            )
        plain = not on_map_grid(ds) and not placed_by_gcps_only(ds)
        if plain and args.pixel_size is None:
            raise InputError(
                args.input,
                "has no CRS or GCPs; give its pixel spacing (--pixel-size METRES) to map cracks on "
                "its pixel grid (the outputs are then not georeferenced either), or georeference it",
            )
        ice = None
        if args.ice_outline is not None:
            # clipped once to the scene, so no window rasterises a whole ice sheet's outline again
            ice = _outline_on(ds, args.ice_outline)
            if ice.is_empty:  # a wrong file, not a map with no ice: say so
                raise InputError(args.ice_outline, f"ice outline does not overlap {args.input}")
    set_threads()
    if args.pixel_size is not None and not (args.pixel_size > 0 and math.isfinite(args.pixel_size)):
        raise InputError("--pixel-size", f"must be a positive number of metres, got {args.pixel_size}")
    if args.threshold is not None and not 0 < args.threshold < 1:
        raise InputError("--threshold", f"must lie strictly between 0 and 1, got {args.threshold}")
    if args.min_component is not None and args.min_component < 0:
        raise InputError("--min-component", f"must be 0 or more pixels, got {args.min_component}")
    choice = resolve_model(args.model, DataLayout.at().models)
    model = choice.path
    bundle = load_bundle(model, args.device)
    int8_note = ""
    if args.int8:
        if bundle.device.type != "cpu":
            raise InputError("--int8", f"runs on CPU only, the model is on {bundle.device}; add --device cpu")
        bundle.int8 = True
        t0 = time.perf_counter()
        bundle.int8_model()  # calibrated here, so the speed below is the mapping's own
        int8_note = f" (int8, calibrated in {time.perf_counter() - t0:.1f} s)"
    if args.threshold is not None:
        bundle.threshold = args.threshold
    if args.min_component is not None:
        bundle.min_component = args.min_component
    with warnings.catch_warnings():
        if plain:  # said once in the summary below, not at every file the prediction writes
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
        res = predict_scene(
            bundle,
            args.input,
            args.output,
            args.probabilities,
            despeckled=args.despeckled,
            pixel_size=args.pixel_size,
            block=args.block,
            tile=tile,
            overlap=overlap,
            looks=args.looks,
            ice=ice,
        )
    print(
        f"{args.output}: {res.crack_pixels} crack pixels ({100 * res.crack_fraction:.2f} % of "
        f"{res.valid_pixels} valid), threshold {res.threshold:.2f}, model {Path(model).name}"
        f"{int8_note}, "
        f"{res.mpix_per_s:.2f} Mpix/s"
        + (
            f"; predicted at {res.predicted_at_m:.0f} m, written on the input's {res.pixel_size_m:.0f} m grid"
            if res.predicted_at_m != res.pixel_size_m
            else ""
        )
        + (f"; probabilities {args.probabilities}" if args.probabilities else "")
        + ("; not georeferenced, like the input" if plain else "")
        + (f"; only inside {args.ice_outline}" if ice is not None else "")
        + (f"\nmodel: {choice.note}" if choice.note else "")
    )
    return 0
