"""Build tiny, real-format SAFE products in a test's tmp folder from real ESA XML.

The manifest, calibration and noise XML are the real files from ../shared/data; the annotation's image
size, times and geolocation grid are rewritten so the product lies over a study region in season,
and a small measurement TIFF with known DN values is written. The geometry is an exact affine map
from (line, pixel) to polar stereographic metres, so tests know where every pixel must land.
"""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from lxml import etree
from pyproj import Transformer

from icecrack_assets.regions import Region

EW_GRDM = "s1-safe-stactools/S1A_EW_GRDM_1SDH_20221130T014342_20221130T014446_046117_058549_BB15"
IW_GRDH_OLD_ZIP = "s1-grd-pyrosar/S1A_IW_GRDH_1SDV_20150203T043109_20150203T043134_004454_00574F_6D00.zip"
IW_GRDH_NEW = "s1-safe-sarsen/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"


@dataclass
class TinyProduct:
    path: Path
    lines: int
    samples: int
    spacing: float
    origin: tuple[float, float]  # polar x, y of line 0 pixel 0
    polarisations: tuple[str, ...]

    def xy(self, line: float, pixel: float) -> tuple[float, float]:
        """Polar stereographic position of an image coordinate (pixel along +x, line along -y)."""
        return self.origin[0] + pixel * self.spacing, self.origin[1] - line * self.spacing


def _set(root, path: str, value: str) -> None:
    el = root.find(path)
    el.text = value


def build_tiny_safe(
    source: Path,
    out_dir: Path,
    region: Region,
    when: dt.datetime,
    lines: int = 600,
    samples: int = 800,
    dn: np.ndarray | int | None = 300,
    pols: tuple[str, ...] | None = None,
    zipped: bool = False,
    write_measurement: bool = True,
) -> TinyProduct:
    """Copy ``source`` (SAFE folder or zip) XML into ``out_dir`` as a small product over ``region``."""
    work = out_dir / "_src"
    if source.suffix == ".zip":
        with zipfile.ZipFile(source) as zf:
            zf.extractall(work)
        source = next(work.iterdir())
    spacing = 10.0 if region.mode == "IW" else 40.0
    cx = (region.bounds[0] + region.bounds[2]) / 2
    cy = (region.bounds[1] + region.bounds[3]) / 2
    origin = (cx - samples * spacing / 2, cy + lines * spacing / 2)
    stop = when + dt.timedelta(seconds=25)
    old = source.name.split(".")[0]
    parts = old.split("_")
    new_name = (
        "_".join(parts[:4] + [when.strftime("%Y%m%dT%H%M%S"), stop.strftime("%Y%m%dT%H%M%S")] + parts[6:])
        + ".SAFE"
    )
    dst = out_dir / new_name
    shutil.copytree(source, dst, ignore=shutil.ignore_patterns("*.tiff", "*.pdf", "*.png", "*.html"))
    product = TinyProduct(dst, lines, samples, spacing, origin, ())
    to_ll = Transformer.from_crs(region.epsg, 4326, always_xy=True)

    # manifest: times and footprint
    mpath = dst / "manifest.safe"
    manifest = etree.parse(str(mpath))
    ns_any = "//*[local-name()='{}']"
    manifest.xpath(ns_any.format("startTime"))[0].text = when.strftime("%Y-%m-%dT%H:%M:%S.%f")
    manifest.xpath(ns_any.format("stopTime"))[0].text = stop.strftime("%Y-%m-%dT%H:%M:%S.%f")
    corners = [
        product.xy(0, 0),
        product.xy(0, samples - 1),
        product.xy(lines - 1, samples - 1),
        product.xy(lines - 1, 0),
    ]
    ll = [to_ll.transform(x, y) for x, y in corners]
    manifest.xpath(ns_any.format("coordinates"))[0].text = " ".join(f"{lat:.6f},{lon:.6f}" for lon, lat in ll)
    manifest.write(str(mpath), xml_declaration=True, encoding="UTF-8")

    kept = []
    for ann in sorted((dst / "annotation").glob("*.xml")):
        root = etree.parse(str(ann))
        pol = root.findtext("adsHeader/polarisation")
        if pols is not None and pol not in pols:
            for f in [
                ann,
                dst / "annotation/calibration" / f"calibration-{ann.name}",
                dst / "annotation/calibration" / f"noise-{ann.name}",
            ]:
                f.unlink(missing_ok=True)
            continue
        kept.append(pol)
        _set(root, "imageAnnotation/imageInformation/numberOfLines", str(lines))
        _set(root, "imageAnnotation/imageInformation/numberOfSamples", str(samples))
        grid = root.find("geolocationGrid/geolocationGridPointList")
        template = grid[0]
        for child in list(grid):
            grid.remove(child)
        count = 0
        for li in np.linspace(0, lines - 1, 5):
            for pi in np.linspace(0, samples - 1, 7):
                pt = etree.fromstring(etree.tostring(template))
                lon, lat = to_ll.transform(*product.xy(li, pi))
                pt.find("line").text = str(int(round(li)))
                pt.find("pixel").text = str(int(round(pi)))
                pt.find("latitude").text = repr(lat)
                pt.find("longitude").text = repr(lon)
                grid.append(pt)
                count += 1
        grid.set("count", str(count))
        root.write(str(ann), xml_declaration=True, encoding="UTF-8")
        if write_measurement:
            meas = dst / "measurement" / (ann.stem + ".tiff")
            meas.parent.mkdir(exist_ok=True)
            arr = np.full((lines, samples), dn, dtype=np.uint16) if np.isscalar(dn) else dn.astype(np.uint16)
            with rasterio.open(
                meas,
                "w",
                driver="GTiff",
                width=samples,
                height=lines,
                count=1,
                dtype="uint16",
                compress="deflate",
                tiled=True,
            ) as ds:
                ds.write(arr, 1)
    product.polarisations = tuple(kept)
    shutil.rmtree(work, ignore_errors=True)
    if zipped:
        zpath = out_dir / (dst.name.replace(".SAFE", "") + ".zip")
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(dst.rglob("*")):
                zf.write(f, f"{dst.name}/{f.relative_to(dst)}")
        shutil.rmtree(dst)
        product.path = zpath
    return product
