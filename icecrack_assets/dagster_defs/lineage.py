"""Data versions and previews that make every materialisation traceable in the UI.

File helpers (hashes, atomic JSON, pruning) are ``icecrack_assets.files``'; this module only turns
them into Dagster metadata.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import dagster as dg

from icecrack_assets.files import payload_sha256


def data_version_of(payload: Any) -> dg.DataVersion:
    """A data version from a JSON-able description of everything an output depends on."""
    return dg.DataVersion(payload_sha256(payload)[:24])


def png_markdown(path: Path, caption: str = "preview") -> dg.MetadataValue:
    """Embed a small PNG in the UI's metadata panel as a data URI."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return dg.MetadataValue.md(f"![{caption}](data:image/png;base64,{data})")
