"""Metadata people can read in the UI: rounded figures, typed tables, products and quick-look images.

Images are files in the partition folder. The event log keeps, per image, a short caption entry
(markdown under 1000 characters, which the UI shows inline without a click) and, for the images a
reader needs (crack map, training curve, statistics plot), a small WebP thumbnail as a data URI
(``THUMBNAIL_BYTES`` at most), which the UI renders with no extra process: markdown of 1000
characters or more sits behind the row's *[Show Markdown]* link (dagster-webserver 1.13,
``MetadataEntry.tsx``). The full-resolution PNG is linked from ``icecrack serve-previews`` when its
URL is configured (``ICECRACK_PREVIEW_URL``).
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import dagster as dg

# how to open each kind of product from a shell or QGIS
OPEN_WITH = {
    ".tif": "QGIS: Layer > Add Raster Layer; shell: rio info {p}  /  gdalinfo {p}",
    ".gpkg": "QGIS: drag the file in (layers polygons, centrelines); shell: ogrinfo {p}  /  "
    "ogr2ogr -f GeoJSON cracks.geojson {p} centrelines",
    ".png": "any image viewer",
    ".json": "STAC browser or QGIS (Layer > Add Layer > STAC); shell: python -m json.tool {p}",
    ".csv": "spreadsheet, pandas.read_csv",
}


def rounded(value: float | int | None, digits: int = 3) -> float | None:
    """A float rounded to ``digits`` significant digits (None stays None, NaN becomes None)."""
    if value is None:
        return None
    v = float(value)
    if not math.isfinite(v):
        return None
    if v == 0:
        return 0.0
    return round(v, max(0, digits - 1 - int(math.floor(math.log10(abs(v))))))


def figures(values: Mapping[str, float | int | None], digits: int = 3) -> dict[str, dg.MetadataValue]:
    """Rounded numbers for the metadata panel (keys carry their units: ``_km2``, ``_s``, ...)."""
    out: dict[str, dg.MetadataValue] = {}
    for k, v in values.items():
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int):
            out[k] = dg.MetadataValue.int(v)
        else:
            r = rounded(v, digits)
            if r is not None:
                out[k] = dg.MetadataValue.float(r)
    return out


def table(
    rows: Sequence[Mapping[str, object]], columns: Mapping[str, tuple[str, str]], digits: int = 3
) -> dg.MetadataValue:
    """A ``MetadataValue.table`` with a schema: ``columns`` maps name -> (type, description).

    Types are Dagster's table column types (``string``, ``int``, ``float``, ``bool``); floats are
    rounded to ``digits`` significant digits, missing values left empty.
    """
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name, type=t, description=d) for name, (t, d) in columns.items()]
    )
    records = []
    for row in rows:
        rec: dict[str, str | int | float | bool | None] = {}
        for name, (t, _) in columns.items():
            v = row.get(name)
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                rec[name] = None
            elif t == "float":
                rec[name] = rounded(float(v), digits)  # type: ignore[arg-type]
            elif t == "int":
                rec[name] = int(v)  # type: ignore[call-overload]
            elif t == "bool":
                rec[name] = bool(v)
            else:
                rec[name] = str(v)
        records.append(dg.TableRecord({k: v for k, v in rec.items() if v is not None}))
    return dg.MetadataValue.table(records=records, schema=schema)


def products_table(products: Mapping[str, Path]) -> dg.MetadataValue:
    """Every product of a partition: what it is, where it is and how to open it."""
    from icecrack_assets.stac import PRODUCTS

    rows = []
    for key, path in products.items():
        title = PRODUCTS.get(key, ("", "", key))[2]
        how = OPEN_WITH.get(Path(path).suffix, "").format(p=Path(path).name)
        rows.append({"product": key, "content": title, "path": str(path), "open_with": how})
    return table(
        rows,
        {
            "product": ("string", "product key (also the STAC asset key)"),
            "content": ("string", "what the file holds, with units"),
            "path": ("string", "absolute path on the processing host"),
            "open_with": ("string", "how to open it"),
        },
    )


def image_url(path: Path, data_root: Path, base_url: str) -> str | None:
    """The preview server's URL of an image under the data root (None when no server is configured)."""
    if not base_url:
        return None
    rel = os.path.relpath(Path(path).resolve(), Path(data_root).resolve())
    if rel.startswith(".."):
        return None
    return base_url.rstrip("/") + "/" + quote(Path(rel).as_posix())


# a thumbnail's budget in the event log: 32 000 bytes of WebP (~42 700 characters as base64). A
# demo crack-map quick-look (450 x 697 px) fits at full width with WebP quality 60 (~30 kB).
THUMBNAIL_BYTES = 32_000
THUMBNAIL_WIDTH = 456  # the quick-looks are drawn for the UI's ~450 px metadata column
THUMBNAIL_MIN_WIDTH = 240
THUMBNAIL_QUALITIES = (80, 70, 60, 50)
THUMBNAIL_SUFFIX = "_thumbnail"


@dataclass(frozen=True)
class Thumbnail:
    """A reduced copy of an image, encoded for a markdown data URI."""

    data_uri: str
    width: int
    height: int
    nbytes: int  # the WebP's size before base64
    quality: int


def thumbnail(path: Path, max_bytes: int = THUMBNAIL_BYTES, max_width: int = THUMBNAIL_WIDTH) -> Thumbnail:
    """The largest WebP of ``path`` (up to ``max_width`` px wide) under ``max_bytes``.

    Tries qualities 80 → 50 at full width, then narrower steps of 15 % down to 240 px; if nothing
    fits, the smallest attempt. Deterministic for a given image.
    """
    from PIL import Image

    with Image.open(path) as im:
        rgba = im.convert("RGBA")
    flat = Image.new("RGB", rgba.size, "white")  # no alpha channel to pay for
    flat.paste(rgba, mask=rgba.getchannel("A"))
    width = min(max_width, flat.width)
    best: tuple[bytes, int, int, int] | None = None
    while True:
        height = max(1, round(flat.height * width / flat.width))
        small = flat if width == flat.width else flat.resize((width, height), Image.Resampling.LANCZOS)
        for quality in THUMBNAIL_QUALITIES:
            buf = io.BytesIO()
            small.save(buf, format="WEBP", quality=quality, method=6)
            data = buf.getvalue()
            if best is None or len(data) < len(best[0]):
                best = (data, width, height, quality)
            if len(data) <= max_bytes:
                return _thumb(data, width, height, quality)
        if width <= THUMBNAIL_MIN_WIDTH:
            assert best is not None  # THUMBNAIL_QUALITIES is not empty
            data, width, height, quality = best
            return _thumb(data, width, height, quality)
        width = max(THUMBNAIL_MIN_WIDTH, int(width * 0.85))


def _thumb(data: bytes, width: int, height: int, quality: int) -> Thumbnail:
    uri = "data:image/webp;base64," + base64.b64encode(data).decode("ascii")
    return Thumbnail(uri, width, height, len(data), quality)


def image_markdown(
    path: Path, caption: str, data_root: Path, base_url: str, thumbnail_key: str | None = None
) -> dg.MetadataValue:
    """A short markdown block: the caption (always) and the image by URL (when a server is set).

    Kept under the UI's 1000-character inline limit, so it shows without a click; never base64.
    Without a server it says where the image is: the ``thumbnail_key`` entry, and the file.
    """
    url = image_url(path, data_root, base_url)
    name = Path(path).name
    text = f"**{caption}**"
    if url:
        text = f"![{caption}]({url})\n\n{text}"
    elif thumbnail_key:
        text += (
            f"  \nthe image: *[Show Markdown]* on `{thumbnail_key}`  \nfull size: `{name}`, with the files"
        )
    else:
        text += f"  \n(image: `{name}`; run `icecrack serve-previews` with ICECRACK_PREVIEW_URL set to see it here)"
    if len(text) >= 1000:
        text = text[:990] + "…"
    return dg.MetadataValue.md(text)


def thumbnail_markdown(path: Path, caption: str, max_bytes: int = THUMBNAIL_BYTES) -> dg.MetadataValue:
    """The image itself, reduced to a WebP data URI (rendered by the UI with no image server)."""
    thumb = thumbnail(Path(path), max_bytes=max_bytes)
    return dg.MetadataValue.md(
        f"![{caption}]({thumb.data_uri})\n\n**{caption}**  \n{thumb.width} × {thumb.height} px WebP "
        f"thumbnail ({thumb.nbytes / 1000:.0f} kB) of `{Path(path).name}`"
    )


def image_entries(
    key: str, path: Path, caption: str, data_root: Path, base_url: str, with_thumbnail: bool = True
) -> dict[str, dg.MetadataValue]:
    """``key``: the caption (inline, and the full image when a server is set); ``key_thumbnail``:
    the image as a small WebP in the event log, so the UI shows it with no other process."""
    if not with_thumbnail:
        return {key: image_markdown(path, caption, data_root, base_url)}
    thumb_key = key + THUMBNAIL_SUFFIX
    return {
        key: image_markdown(path, caption, data_root, base_url, thumbnail_key=thumb_key),
        thumb_key: thumbnail_markdown(path, caption),
    }
