"""Quick-look images reach the UI by URL: the preview server serves PNGs under the data root, nothing
else, and the metadata entry stays short enough to be shown inline (no base64)."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest

from icecrack_assets.commands.serve_previews import make_server
from icecrack_assets.dagster_defs.metadata import image_markdown, rounded, table
from icecrack_assets_tests.helpers.postgres import free_port


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "data"
    (root / "maps" / "a b" / "2024").mkdir(parents=True)
    (root / "maps" / "a b" / "2024" / "quicklook.png").write_bytes(b"\x89PNG fake")
    (root / "models").mkdir()
    (root / "models" / "weights.pt").write_bytes(b"secret weights")
    (tmp_path / "outside.png").write_bytes(b"\x89PNG outside")
    server = make_server(root, port=free_port())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_only_pngs_under_the_root_are_served(served):
    root, base = served
    md = image_markdown(root / "maps" / "a b" / "2024" / "quicklook.png", "a 2024", root, base).value
    url = md[md.index("(") + 1 : md.index(")")]
    assert url == f"{base}/maps/a%20b/2024/quicklook.png"
    assert status(url) == 200
    assert status(f"{base}/models/weights.pt") == 404
    assert status(f"{base}/models/") == 404  # no listings
    assert status(f"{base}/../outside.png") == 404
    assert status(f"{base}/%2e%2e/outside.png") == 404


def test_image_metadata_is_short_and_never_base64(tmp_path):
    png = tmp_path / "maps" / "q.png"
    md = image_markdown(png, "caption", tmp_path, "http://127.0.0.1:3031").value
    assert len(md) < 1000 and "base64" not in md and "**caption**" in md
    without_server = image_markdown(png, "caption", tmp_path, "").value
    assert "](" not in without_server and "serve-previews" in without_server


def test_figures_are_rounded_to_significant_digits_and_tables_typed():
    assert rounded(132.27200000000002) == 132.0
    assert rounded(0.027556666666666667) == 0.0276
    assert rounded(float("nan")) is None
    value = table([{"a": 0.123456, "b": "x"}], {"a": ("float", "a, km"), "b": ("string", "b")})
    assert value.value.records[0].data == {"a": 0.123, "b": "x"}
    assert [c.name for c in value.value.schema.columns] == ["a", "b"]
