"""Quick-look images reach the UI two ways: a small WebP thumbnail in the event log (no other process
needed) and, when ``ICECRACK_PREVIEW_URL`` is set, the full-resolution PNG by URL from the preview
server, which serves PNGs under the data root and nothing else. Caption entries stay short enough to
be shown inline."""

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
    assert "ICECRACK_PREVIEW_URL" in without_server


def test_figures_are_rounded_to_significant_digits_and_tables_typed():
    assert rounded(132.27200000000002) == 132.0
    assert rounded(0.027556666666666667) == 0.0276
    assert rounded(float("nan")) is None
    value = table([{"a": 0.123456, "b": "x"}], {"a": ("float", "a, km"), "b": ("string", "b")})
    assert value.value.records[0].data == {"a": 0.123, "b": "x"}
    assert [c.name for c in value.value.schema.columns] == ["a", "b"]


def _busy_png(path, width=456, height=700):
    """A quick-look-like PNG with noise (compresses badly, like speckle) and a caption band."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    grey = 128 + rng.integers(-32, 32, (height, width, 1))
    pixels = np.concatenate([grey.repeat(3, axis=2), np.full((height, width, 1), 255)], axis=2)
    image = Image.fromarray(pixels.astype(np.uint8), "RGBA")
    ImageDraw.Draw(image).rectangle((0, 0, width, 30), fill="white")
    image.save(path)
    return path


def test_thumbnail_is_a_webp_data_uri_within_budget(tmp_path):
    import base64
    import io

    from PIL import Image

    from icecrack_assets.dagster_defs.metadata import THUMBNAIL_BYTES, thumbnail

    png = _busy_png(tmp_path / "quicklook.png")
    thumb = thumbnail(png)
    assert thumb.data_uri.startswith("data:image/webp;base64,")
    data = base64.b64decode(thumb.data_uri.split(",", 1)[1])
    assert len(data) == thumb.nbytes <= THUMBNAIL_BYTES
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "WEBP" and im.size == (thumb.width, thumb.height)
    # noise does not fit at full width: the thumbnail shrinks, keeping the aspect ratio
    assert 240 <= thumb.width < 456
    assert abs(thumb.height / thumb.width - 700 / 456) < 0.01
    assert thumbnail(png) == thumb  # deterministic: a re-run stores the same bytes
    small = thumbnail(png, max_bytes=4_000)
    assert small.width == 240 and small.nbytes > 4_000  # nothing fits: the smallest attempt


def test_image_entries_keep_the_caption_inline_and_the_thumbnail_in_the_event_log(tmp_path):
    from icecrack_assets.dagster_defs.metadata import image_entries

    (tmp_path / "maps").mkdir()
    png = _busy_png(tmp_path / "maps" / "q.png")
    entries = image_entries("quicklook", png, "jakobshavn 2024 season", tmp_path, "")
    assert list(entries) == ["quicklook", "quicklook_thumbnail"]
    caption = entries["quicklook"].value
    assert len(caption) < 1000  # the UI shows it inline, without a click
    assert caption.startswith("**jakobshavn 2024 season**") and "quicklook_thumbnail" in caption
    assert "](" not in caption  # no server configured: no link that would show a broken image
    thumb = entries["quicklook_thumbnail"].value
    assert thumb.startswith("![jakobshavn 2024 season](data:image/webp;base64,")
    assert "**jakobshavn 2024 season**" in thumb
    assert len(thumb) < 43_500  # 32 000 bytes as base64 plus the caption
    served = image_entries("quicklook", png, "c", tmp_path, "http://127.0.0.1:3031")
    assert "](http://127.0.0.1:3031/maps/q.png)" in served["quicklook"].value
    assert "quicklook_thumbnail" in served  # the event log keeps the image whatever the server does
    assert list(image_entries("quicklook", png, "c", tmp_path, "", with_thumbnail=False)) == ["quicklook"]


def test_the_preview_url_is_unset_by_default(monkeypatch):
    from icecrack_assets.dagster_defs.resources import PREVIEW_URL_ENV, PreviewServer

    monkeypatch.delenv(PREVIEW_URL_ENV, raising=False)
    assert PreviewServer().base_url == ""
    monkeypatch.setenv(PREVIEW_URL_ENV, "http://127.0.0.1:3031")
    assert PreviewServer().base_url == "http://127.0.0.1:3031"
