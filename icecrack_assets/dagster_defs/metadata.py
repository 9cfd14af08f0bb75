"""Metadata people can read in the UI: rounded figures, typed tables, products and quick-look images.

Images are files in the partition folder; the event log only keeps a short markdown link to them
(served by ``icecrack serve-previews``), so 84 partitions x years do not bloat the instance. Short
markdown (< 1000 characters) is shown inline by the UI, a caption included, without a click.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
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


def image_markdown(path: Path, caption: str, data_root: Path, base_url: str) -> dg.MetadataValue:
    """A short markdown block: the caption (always) and the image by URL (when a server is set).

    Kept under the UI's 1000-character inline limit, so it shows without a click; never base64.
    """
    url = image_url(path, data_root, base_url)
    text = f"**{caption}**"
    if url:
        text = f"![{caption}]({url})\n\n{text}"
    else:
        text += f"  \n(image: `{Path(path).name}`; run `icecrack serve-previews` to see it here)"
    if len(text) >= 1000:
        text = text[:990] + "…"
    return dg.MetadataValue.md(text)
