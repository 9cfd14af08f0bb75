"""``icecrack calibrate BUNDLE --image IN.tif --labels A.gpkg``: re-tune a bundle's threshold on whole scenes.

A glaciologist who has annotated a few whole scenes of their own glacier sets the model's
operating point on them (a bundle's threshold comes from validation patches of its training
data). The result is a calibrated copy; the original bundle is never changed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from icecrack_assets.errors import InputError

POOR_F1 = 0.1  # below it, say so: misplaced annotations, or a model that does not see these cracks


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="re-tune a model bundle's threshold on annotated whole scenes")
    p.add_argument("bundle", type=Path, help="model bundle directory")
    p.add_argument(
        "--image",
        type=Path,
        action="append",
        required=True,
        help="sigma0 GeoTIFF of a validation scene (raw, speckled; repeat for more scenes)",
    )
    p.add_argument(
        "--labels",
        type=Path,
        action="append",
        required=True,
        help="crevasse annotations, GeoPackage/shapefile or a folder of them (repeatable)",
    )
    p.add_argument(
        "--out", type=Path, default=None, help="calibrated bundle to write (default: BUNDLE-calibrated)"
    )
    p.add_argument(
        "--despeckled", action="store_true", help="images are already despeckled: skip the bundle's filter"
    )
    p.add_argument(
        "--looks", type=float, default=None, help="equivalent number of looks (default: LOOKS tag)"
    )
    p.add_argument(
        "--line-width", type=float, default=None, help="width (m) of annotated lines without width_m"
    )
    p.add_argument(
        "--tolerance", type=int, choices=(0, 1), default=0, help="F1 tolerance in pixels (default 0)"
    )
    p.add_argument("--operating-point", choices=("f1", "break-even"), default="f1")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=run)


def _annotation_files(paths: list[Path]) -> list[Path]:
    from icecrack_assets.ml.labels import LABEL_SUFFIXES, label_files

    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = label_files(p)
            if not found:
                raise InputError(p, f"folder holds no annotation files ({', '.join(LABEL_SUFFIXES)})")
            files += found
        elif not p.exists():
            raise InputError(p, "file does not exist")
        elif p.suffix.lower() not in LABEL_SUFFIXES:
            raise InputError(p, f"annotations must be {' or '.join(LABEL_SUFFIXES)}")
        else:
            files.append(p)
    return files


def run(args: argparse.Namespace) -> int:
    from icecrack_assets.ml.bundle import load_bundle, read_bundle_json
    from icecrack_assets.ml.calibrate import calibrate_bundle, copy_bundle, scenes_from_files
    from icecrack_assets.ml.device import set_threads

    annotations = _annotation_files(args.labels)
    read_bundle_json(args.bundle)  # one-line error for a missing or foreign bundle before any work
    out = args.out or args.bundle.with_name(args.bundle.name + "-calibrated")
    if out.resolve() == args.bundle.resolve():
        raise InputError(out, "--out would overwrite the original bundle")
    set_threads()
    bundle = load_bundle(args.bundle, args.device)
    images, truths = scenes_from_files(
        bundle, args.image, annotations, args.despeckled, args.looks, args.line_width
    )
    # calibrate a staged copy, so a failure leaves neither a half-written nor a modified bundle
    staged = copy_bundle(args.bundle, out.with_name(f".{out.name}.staging"))
    try:
        work = load_bundle(staged, args.device)
        rec = calibrate_bundle(
            work,
            images,
            truths,
            ", ".join(str(p) for p in args.image),
            tolerance=args.tolerance,
            operating_point=args.operating_point,
        )
        if out.exists():
            shutil.rmtree(out)
        os.replace(staged, out)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    m = rec["val"]
    print(
        f"{out}: threshold {rec['previous']['threshold']:.2f} -> {rec['threshold']:.2f}, minimum crack "
        f"component {rec['previous']['min_component']} -> {rec['min_component']} px; on {len(images)} scene(s) "
        f"P {m['precision']:.3f} R {m['recall']:.3f} F1 {m['f1']:.3f} (tolerance {args.tolerance} px)"
    )
    if m["f1"] < POOR_F1:  # written anyway (the user asked for it), but not silently
        print(
            f"warning: F1 {m['f1']:.3f} at the best threshold: the model and these annotations hardly "
            "agree; check that they overlay the images (CRS, acquisition date, area); if they do, the "
            f"model does not find these cracks and {out} will not either",
            file=sys.stderr,
        )
    return 0
