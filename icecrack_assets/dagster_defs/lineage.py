"""Hashes, manifests and previews that make every materialisation traceable."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import dagster as dg

from icecrack_assets.raster import atomic_path


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def data_version_of(payload: Any) -> dg.DataVersion:
    """A data version from a JSON-able description of everything an output depends on."""
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return dg.DataVersion(hashlib.sha256(blob).hexdigest()[:24])


def write_json_atomic(path: Path, payload: Any) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    return path


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def prune_partition_dir(folder: Path, keep: set[str]) -> list[str]:
    """Remove outputs of an earlier run that this run no longer produces (idempotent re-runs)."""
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if entry.name not in keep:
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry.name)
    return removed


def png_markdown(path: Path, caption: str = "preview") -> dg.MetadataValue:
    """Embed a small PNG in the UI's metadata panel as a data URI."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return dg.MetadataValue.md(f"![{caption}](data:image/png;base64,{data})")
