"""Generic file helpers: content hashes, atomic JSON, pruning a partition folder.

They used to live in the Dagster layer; the CLI, the core and the benchmarks need them too, so they
sit beside ``raster.py`` and know nothing of Dagster.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from icecrack_assets.raster import atomic_path, is_live_temp


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (scenes are hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def payload_sha256(payload: Any) -> str:
    """Hex SHA-256 of a JSON-able description (keys sorted, so the order of a dict does not count)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def write_json_atomic(path: Path, payload: Any) -> Path:
    """Write JSON through a temporary file and a rename: readers never see half a manifest."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    return path


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def prune_dir(folder: Path, keep: set[str]) -> list[str]:
    """Remove entries of an earlier run that this run no longer produces (idempotent re-runs)."""
    removed: list[str] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if entry.name not in keep and not is_live_temp(entry):  # another process is writing it now
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry.name)
    return removed
