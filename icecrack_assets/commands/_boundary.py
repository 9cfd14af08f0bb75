"""The CLI boundary: one table of what every command reads and writes, and what its numbers mean.

The guards run in :func:`icecrack_assets.cli.main` for every command, before the command's own
code, so a new command or option gets them by appearing here (``test_probe`` fails for a
command missing from :data:`PATHS`):

- numbers: an option named here is parsed by its shared validator wherever it appears, so
  ``--looks 1e300`` or ``--epochs 0`` is refused by argparse with one line, in every command;
- paths: no output may resolve to an input (symlinks, ``..``, hard links) or lie inside an
  input folder, and two outputs of one command may not be the same file;
- rasters: the intensity inputs of despeckle, predict and calibrate must have valid, positive,
  linear pixels (not all NaN / inf / zero, not dB), and every pixel must be readable.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from icecrack_assets import guards

NUMBER_RULES: dict[str, guards.NumberRange | object] = {
    "--looks": guards.LOOKS,
    "--epochs": guards.POSITIVE_INT,
    "--batch-size": guards.int_range(1, 4096, what="a batch size between 1 and 4096"),
    "--lr": guards.LEARNING_RATE,
    "--depth": guards.int_range(1, 10, what="a depth between 1 and 10"),
    "--width": guards.int_range(1, 1024, what="a width between 1 and 1024"),
    "--stem": guards.int_range(1, 16, what="a space-to-depth factor between 1 and 16"),
    "--seed": guards.NON_NEGATIVE_INT,
    "--patience": guards.POSITIVE_INT,
    "--crop": guards.int_range(0, 8192, what="0 (whole patches) or a window of at most 8192 pixels"),
    "--max-minutes": guards.MINUTES,
    "--minutes": guards.MINUTES,
    "--steps": guards.POSITIVE_INT,
    "--field-steps": guards.NON_NEGATIVE_INT,
    "--pos-weight": guards.POSITIVE_FLOAT,
    "--iterations": guards.int_range(1, 100, what="between 1 and 100 iterations"),
    "--hw": guards.int_range(1, 1000, what="a half-width between 1 and 1000 pixels"),
    "--hd": guards.int_range(0, 100, what="a half-width between 0 and 100 pixels"),
    "--alpha": guards.OPEN_FRACTION,
    "--T": guards.positive_or_inf,
    "--window": guards.int_range(1, 1001, what="a window between 1 and 1001 pixels"),
    "--block": guards.BLOCK,
    "--tile": guards.int_range(16, 8192, what="a tile size between 16 and 8192 pixels"),
    "--overlap": guards.NON_NEGATIVE_INT,
    "--line-width": guards.POSITIVE_FLOAT,
    "--pixel-size": guards.PIXEL_SIZE,
    "--lai-seeds": guards.int_range(1, 100, what="at least 1 (and at most 100)"),
    "--port": guards.int_range(0, 65535, what="a TCP port between 0 (any free one) and 65535"),
}

# command -> (argument names that are read, argument names that are written)
PATHS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "calibrate": (("bundle", "image", "labels"), ("out",)),
    "demo": ((), ("data_root",)),
    "despeckle": (("src",), ("dst",)),
    "evaluate": (("model", "lai"), ("out", "work")),
    "ingest": (("product",), ("output",)),
    "inspect": (("product",), ()),
    "predict": (("input", "model", "ice_outline"), ("output", "probabilities")),
    "regions": ((), ()),
    "serve-previews": (("data_root",), ()),
    "simulate": ((), ("out",)),
    "train": (("samples", "init", "lai"), ("out", "checkpoint_dir")),
}

# command -> output folders that are replaced wholesale (so no input may live inside them)
REPLACED_FOLDERS: dict[str, tuple[str, ...]] = {"calibrate": ("out",)}

# command -> argument names of linear-intensity rasters whose pixels must be usable
INTENSITY_INPUTS: dict[str, tuple[str, ...]] = {
    "despeckle": ("src",),
    "predict": ("input",),
    "calibrate": ("image",),
}

# commands whose native (libtiff/GDAL) stderr is held until the end: single-file raster writers.
# Orchestrating commands (demo, train, evaluate) stream it: Dagster and torch children write there.
HOLD_NATIVE_STDERR = frozenset({"calibrate", "despeckle", "ingest", "inspect", "predict", "simulate"})


def apply_number_rules(parser: argparse.ArgumentParser) -> None:
    """Give every option named in NUMBER_RULES its shared validator, in every subcommand."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for sub in subs:
        for child in sub.choices.values():
            for action in child._actions:
                for opt in action.option_strings:
                    if opt in NUMBER_RULES:
                        action.type = NUMBER_RULES[opt]


def _values(args: argparse.Namespace, names: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for name in names:
        v = getattr(args, name, None)
        for item in v if isinstance(v, list) else [v]:
            if item is not None and str(item) != "":
                out.append(Path(item))
    return out


def check_paths(command: str, args: argparse.Namespace) -> None:
    reads, writes = PATHS.get(command, ((), ()))
    guards.refuse_overwrite(_values(args, reads), _values(args, writes))
    guards.refuse_replacing_inputs(_values(args, reads), _values(args, REPLACED_FOLDERS.get(command, ())))


def check_intensity(command: str, args: argparse.Namespace) -> None:
    for path in _values(args, INTENSITY_INPUTS.get(command, ())):
        guards.require_linear_intensity(path)


def check(command: str, args: argparse.Namespace) -> None:
    """All boundary guards of one parsed command line; raises a one-line IceCrackError."""
    check_paths(command, args)
    check_intensity(command, args)
