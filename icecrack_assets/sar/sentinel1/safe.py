"""Read ESA Sentinel-1 SAFE products (a folder or a .zip) without unpacking them.

The manifest says what the product is; each image (swath x polarisation) has an annotation, a
calibration and a noise XML and a measurement TIFF. Files are matched to an image by the
annotation's base name (``calibration-<base>.xml``, ``noise-<base>.xml``, ``<base>.tiff``), which
works both for ESA names and for re-packaged products whose files were renamed. Everything that is
wrong with a product is reported as a one-line :class:`InputError` naming the product.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from lxml import etree

from icecrack_assets.errors import InputError
from icecrack_assets.sar.sentinel1.naming import parse_name

SUPPORTED_IPF_MAJORS = ("002", "003")  # IPF 2.x (2014-2019) and 3.x (2019-)


@dataclass(frozen=True)
class ImageFiles:
    """One image of a product: a swath and polarisation, with its files (paths inside the product)."""

    swath: str
    polarisation: str
    annotation: str
    calibration: str | None
    noise: str | None
    measurement: str | None


@dataclass(frozen=True)
class ProductInfo:
    """What a SAFE product is, from its manifest and annotation."""

    path: Path
    scene_id: str
    mission: str  # S1A | S1B | S1C ...
    mode: str  # IW | EW | SM | WV
    product_type: str  # GRD | SLC
    resolution: str  # H | M | F | '' (SLC)
    polarisations: tuple[str, ...]
    start: dt.datetime
    stop: dt.datetime
    orbit_direction: str  # ASCENDING | DESCENDING
    absolute_orbit: int | None
    relative_orbit: int | None
    footprint: tuple[tuple[float, float], ...]  # lon/lat ring
    ipf_version: str
    range_spacing: float
    azimuth_spacing: float
    lines: int
    samples: int
    images: tuple[ImageFiles, ...] = field(default=())

    @property
    def product(self) -> str:
        """GRDH, GRDM, SLC ...: the product class as catalogues and regions name it."""
        return f"{self.product_type}{self.resolution}"

    def image(self, polarisation: str) -> ImageFiles:
        """The (single, GRD) image of one polarisation, or a clear error listing what exists."""
        pol = polarisation.upper()
        found = [im for im in self.images if im.polarisation == pol]
        if not found:
            have = ", ".join(sorted({im.polarisation for im in self.images})) or "none"
            raise InputError(self.path, f"has no {pol} image (annotated polarisations: {have})")
        return found[0]


class SafeSource:
    """Uniform access to the files of a SAFE folder or zip; paths are relative to the product root."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(self.path, "file does not exist")
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        if self.path.is_dir():
            if not (self.path / "manifest.safe").is_file():
                raise InputError(self.path, "no manifest.safe: not a Sentinel-1 SAFE product folder")
            self._names = sorted(
                str(p.relative_to(self.path)).replace("\\", "/") for p in self.path.rglob("*") if p.is_file()
            )
        elif self.path.suffix.lower() == ".zip":
            if self.path.stat().st_size == 0:
                raise InputError(self.path, "zip file is empty")
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise InputError(self.path, f"truncated or corrupt zip ({exc})") from None
            names = [n for n in self._zip.namelist() if not n.endswith("/")]
            manifests = [n for n in names if PurePosixPath(n).name == "manifest.safe"]
            if not manifests:
                raise InputError(self.path, "zip holds no manifest.safe: not a Sentinel-1 SAFE product")
            manifest = min(manifests, key=len)
            self._prefix = manifest[: -len("manifest.safe")]
            self._names = sorted(n[len(self._prefix) :] for n in names if n.startswith(self._prefix))
        else:
            raise InputError(self.path, "not a SAFE product (expected a .SAFE folder or a .zip)")

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def exists(self, name: str) -> bool:
        return name in self._names

    def read(self, name: str) -> bytes:
        if name not in self._names:
            raise InputError(self.path, f"missing {name}")
        try:
            if self._zip is not None:
                return self._zip.read(self._prefix + name)
            return (self.path / name).read_bytes()
        except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as exc:
            raise InputError(self.path, f"cannot read {name}: truncated or corrupt ({exc})") from None

    def size(self, name: str) -> int:
        if self._zip is not None:
            return self._zip.getinfo(self._prefix + name).file_size
        return (self.path / name).stat().st_size

    def gdal_path(self, name: str) -> str:
        """A path GDAL can open directly (``/vsizip/`` inside zips), so nothing is unpacked."""
        if self._zip is not None:
            return f"/vsizip/{self.path.resolve()}/{self._prefix}{name}"
        return str(self.path / name)

    def xml(self, name: str) -> etree._Element:
        data = self.read(name)
        if not data.strip():
            raise InputError(self.path, f"{name} is empty")
        try:
            return etree.fromstring(
                data, parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
            )
        except etree.XMLSyntaxError as exc:
            raise InputError(self.path, f"{name} is not valid XML, truncated? ({exc})") from None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _first(root: etree._Element, local: str) -> str | None:
    hits = root.xpath(f"//*[local-name()='{local}']")
    return hits[0].text.strip() if hits and hits[0].text else None


def _all(root: etree._Element, local: str) -> list[str]:
    return [e.text.strip() for e in root.xpath(f"//*[local-name()='{local}']") if e.text]


def parse_time(text: str) -> dt.datetime:
    """ESA UTC timestamps (``2021-12-23T05:11:22.594441``, no zone) as aware datetimes."""
    return dt.datetime.fromisoformat(text.strip().rstrip("Z")).replace(tzinfo=dt.timezone.utc)


def child_text(el: etree._Element, path: str) -> str:
    """Text of a direct descendant path like ``imageAnnotation/imageInformation/numberOfLines``."""
    found = el.find(path)
    if found is None or found.text is None:
        raise KeyError(path)
    return found.text.strip()


def _images(src: SafeSource) -> list[ImageFiles]:
    annotations = [
        n
        for n in src.names
        if n.startswith("annotation/") and n.count("/") == 1 and n.lower().endswith(".xml")
    ]
    images = []
    for ann in annotations:
        base = PurePosixPath(ann).stem
        root = src.xml(ann)
        header = root.find("adsHeader")
        if header is None:
            raise InputError(src.path, f"{ann} has no adsHeader: unknown annotation format")
        cal = f"annotation/calibration/calibration-{base}.xml"
        noise = f"annotation/calibration/noise-{base}.xml"
        meas = [n for n in src.names if n.startswith("measurement/") and PurePosixPath(n).stem == base]
        images.append(
            ImageFiles(
                swath=(header.findtext("swath") or "").upper(),
                polarisation=(header.findtext("polarisation") or "").upper(),
                annotation=ann,
                calibration=cal if src.exists(cal) else None,
                noise=noise if src.exists(noise) else None,
                measurement=meas[0] if meas else None,
            )
        )
    return images


def read_product(path: str | Path) -> ProductInfo:
    """Describe a SAFE product (folder or zip) from its manifest and first annotation."""
    src = SafeSource(path)
    try:
        return read_info(src)
    finally:
        src.close()


def read_info(src: SafeSource) -> ProductInfo:
    p = src.path
    manifest = src.xml("manifest.safe")
    family = _first(manifest, "familyName")
    if family is None:
        raise InputError(p, "manifest.safe names no platform: unknown product format")
    if family.upper() != "SENTINEL-1":
        raise InputError(p, f"is a {family} product; only Sentinel-1 is supported")
    number = _first(manifest, "number") or "?"
    mission = f"S1{number}"
    mode = (_first(manifest, "mode") or "").upper()
    ptype = (_first(manifest, "productType") or "").upper()
    if not mode or not ptype:
        raise InputError(p, "manifest.safe lacks the instrument mode or product type: unknown product format")
    versions = [
        e.get("version")
        for e in manifest.xpath("//*[local-name()='software']")
        if (e.get("name") or "").strip() == "Sentinel-1 IPF"
    ]
    ipf = versions[0] if versions else ""
    if not ipf or ipf.split(".")[0].zfill(3) not in SUPPORTED_IPF_MAJORS:
        raise InputError(
            p,
            f"unknown processor format (IPF version {ipf or 'missing'}); "
            f"supported: IPF {', '.join(m.lstrip('0') + '.x' for m in SUPPORTED_IPF_MAJORS)}",
        )
    pols = tuple(_all(manifest, "transmitterReceiverPolarisation"))
    start_text, stop_text = _first(manifest, "startTime"), _first(manifest, "stopTime")
    if not start_text or not stop_text:
        raise InputError(p, "manifest.safe has no acquisition period")
    start, stop = parse_time(start_text), parse_time(stop_text)
    direction = (_first(manifest, "pass") or "").upper()
    coords = _first(manifest, "coordinates")
    if not coords:
        raise InputError(p, "manifest.safe has no footprint")
    footprint = []
    for pair in coords.split():
        lat, lon = (float(v) for v in pair.split(","))
        footprint.append((lon, lat))
    orbits = manifest.xpath("//*[local-name()='orbitNumber']")
    rel = manifest.xpath("//*[local-name()='relativeOrbitNumber']")
    images = _images(src)
    if not images:
        raise InputError(p, "has no annotation XML (annotation/*.xml): incomplete product")
    first = src.xml(images[0].annotation)
    try:
        info = first.find("imageAnnotation/imageInformation")
        rng = float(child_text(info, "rangePixelSpacing"))
        azi = float(child_text(info, "azimuthPixelSpacing"))
        lines = int(child_text(info, "numberOfLines"))
        samples = int(child_text(info, "numberOfSamples"))
    except (AttributeError, KeyError, ValueError):
        raise InputError(
            p, f"{images[0].annotation} lacks imageInformation: unknown annotation format"
        ) from None
    name = parse_name(p.name)
    if name is not None:
        scene_id = p.name.split(".")[0]
        resolution = name.resolution
    else:
        resolution = "" if ptype != "GRD" else ("H" if rng < 20 else "M")
        scene_id = p.name.split(".")[0]
    return ProductInfo(
        path=p,
        scene_id=scene_id,
        mission=mission,
        mode=mode,
        product_type=ptype,
        resolution=resolution if ptype == "GRD" else "",
        polarisations=pols,
        start=start,
        stop=stop,
        orbit_direction=direction,
        absolute_orbit=int(orbits[0].text) if orbits else None,
        relative_orbit=int(rel[0].text) if rel else None,
        footprint=tuple(footprint),
        ipf_version=ipf,
        range_spacing=rng,
        azimuth_spacing=azi,
        lines=lines,
        samples=samples,
        images=tuple(images),
    )


def region_fit(info: ProductInfo) -> tuple[list, list[str]]:
    """The regions a product serves, and, when none, every reason why (for ``inspect`` and sensors)."""
    from icecrack_assets.regions import REGIONS

    reasons = []
    if info.product_type != "GRD":
        reasons.append(
            f"{info.product_type} products are not supported; the pipeline reads GRD "
            "(detected, multi-looked) products"
        )
    if info.mission[:2] != "S1":
        reasons.append(f"mission {info.mission} is not Sentinel-1")
    footprint = list(info.footprint)
    in_aoi = [r for r in REGIONS.values() if r.overlaps_footprint(footprint)]
    hits = [r for r in in_aoi if not r.fit_problems(info.start, info.mode)]
    if hits and not reasons:
        return hits, []
    if hits:
        return [], reasons + [f"(it lies in {', '.join(r.name for r in hits)} in season)"]
    anywhere = [r for r in in_aoi if r.in_season(info.start)]
    if anywhere:
        names = ", ".join(r.name for r in anywhere)
        modes = ", ".join(sorted({r.mode for r in anywhere}))
        reasons.append(
            f"wrong mode: it is {info.mode}, but {names} use{'s' if len(anywhere) == 1 else ''} {modes}"
        )
        return [], reasons
    for r in in_aoi:
        s0, s1 = r.season(info.start.year)
        reasons.append(f"outside the {r.name} season ({s0:%d %b}-{s1:%d %b}; acquired {info.start:%d %b %Y})")
        if r.mode != info.mode:
            reasons.append(f"and wrong mode for {r.name}: {info.mode}, region uses {r.mode}")
    if not in_aoi:
        reasons.append("footprint overlaps no region's AOI")
    return [], reasons
