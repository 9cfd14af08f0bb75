"""Data versions that make every materialisation traceable in the UI.

File helpers (hashes, atomic JSON, pruning) are ``icecrack_assets.files``'; this module only turns
them into Dagster metadata.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from icecrack_assets.files import payload_sha256


def data_version_of(payload: Any) -> dg.DataVersion:
    """A data version from a JSON-able description of everything an output depends on."""
    return dg.DataVersion(payload_sha256(payload)[:24])
