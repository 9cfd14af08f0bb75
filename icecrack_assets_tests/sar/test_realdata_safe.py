"""SAFE reading (folder and zip), windowed reads, geocoding, and one-line errors for bad products."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from icecrack_assets.cli import main
from icecrack_assets.errors import InputError
from icecrack_assets.regions import get_region
from icecrack_assets.sar.sentinel1.ingest import ingest_to_region
from icecrack_assets.sar.sentinel1.safe import SafeSource, read_product, region_fit
from icecrack_assets_tests.helpers.safe_builder import EW_GRDM, IW_GRDH_OLD_ZIP, build_tiny_safe

UTC = dt.timezone.utc
AMERY, JAK = get_region("amery"), get_region("jakobshavn")
REAL = [
    "s1-safe-xarray-sentinel/S1A_EW_SLC__1SDH_20210403T122536_20210403T122630_037286_046484_8152.SAFE",
    "s1-safe-xarray-sentinel/S1B_IW_GRDH_1SDV_20210401T052623_20210401T052648_026269_032297_ECC8.SAFE",
    "s1-safe-xarray-sentinel/S1A_IW_SLC__1SDH_20220414T102209_20220414T102236_042768_051AA4_E677.SAFE",
    "s1-safe-xarray-sentinel/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE",
    "s1-safe-sarsen/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE",
    "s1-safe-sarsen/S1A_IW_SLC__1SDV_20220104T170557_20220104T170624_041314_04E951_F1F1.SAFE",
    EW_GRDM,
    "s1-safe-stactools/S1A_IW_SL1__1_SH_20141031T095929_20141031T100002_003072_003842_91FC.SAFE",
    IW_GRDH_OLD_ZIP,
    "s1-grd-pyrosar/S1A_IW_GRDH_1SDV_20210119T031653_20210119T031718_036201_043ED0_8255.zip",
]


@pytest.mark.parametrize("rel", REAL, ids=lambda r: r.split("/")[-1][:32])
def test_every_real_product_is_described(shared_data: Path, rel: str, capsys) -> None:
    info = read_product(shared_data / rel)
    name = rel.split("/")[-1]
    assert info.mission == name[:3] and info.mode == name[4:6]
    assert info.product_type == ("SLC" if name[7:10] in ("SLC", "SL1") else "GRD")
    named = dt.datetime.strptime(name.split("_")[-5], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    assert info.start < info.stop and abs((info.start - named).total_seconds()) < 5  # SL1: name 2 s early
    assert len(info.footprint) >= 4 and info.ipf_version[:3] in ("002", "003")
    hits, reasons = region_fit(info)
    assert hits == [] and reasons, "no shared product lies in a region in season"
    assert main(["inspect", str(shared_data / rel)]) == 0
    out = capsys.readouterr().out
    assert (
        f"mode:          {info.mode}" in out
        and info.start.isoformat() in out
        and "region:        none - " in out
    )


def test_ew_grdm_metadata(shared_data: Path) -> None:
    info = read_product(shared_data / EW_GRDM)
    assert info.product == "GRDM" and info.polarisations == ("HH", "HV")
    assert info.orbit_direction == "DESCENDING" and info.ipf_version == "003.52"
    assert (info.range_spacing, info.samples, info.lines) == (40.0, 10487, 10708)
    assert {im.polarisation for im in info.images} == {"HH", "HV"} and all(im.noise for im in info.images)


def test_zip_and_folder_read_the_same(shared_data: Path, tmp_path: Path) -> None:
    z = shared_data / IW_GRDH_OLD_ZIP
    with zipfile.ZipFile(z) as zf:
        zf.extractall(tmp_path)
    folder = next(tmp_path.iterdir())
    a, b = read_product(z), read_product(folder)
    assert (a.scene_id, a.start, a.footprint, a.images) == (b.scene_id, b.start, b.footprint, b.images)


def test_dummy_measurements_read_by_window_only(shared_data: Path) -> None:
    info = read_product(shared_data / REAL[1])  # 25788 x 16685 uint16 GRD, constant 1
    src = SafeSource(info.path)
    with rasterio.open(src.gdal_path(info.image("VV").measurement)) as ds:
        assert (ds.width, ds.height, ds.dtypes[0]) == (info.samples, info.lines, "uint16")
        block = ds.read(1, window=Window(20000, 15000, 64, 64))
    assert block.shape == (64, 64) and (block == 1).all()


@pytest.mark.parametrize("zipped", [False, True])
def test_tiny_ew_product_geocodes_where_it_should(shared_data: Path, tmp_path: Path, zipped: bool) -> None:
    lines, samples = 500, 600
    dn = np.full((lines, samples), 400, np.uint16)
    dn[:, :20] = 0  # border already zeroed by the processor
    tiny = build_tiny_safe(
        shared_data / EW_GRDM,
        tmp_path,
        AMERY,
        dt.datetime(2022, 1, 15, 3, tzinfo=UTC),
        lines=lines,
        samples=samples,
        dn=dn,
        pols=("HH",),
        zipped=zipped,
    )
    info = ingest_to_region(tiny.path, AMERY, tmp_path / "out.tif")
    with rasterio.open(tmp_path / "out.tif") as ds:
        out = ds.read(1)
        tags = ds.tags()
    # independent expectation at image (line 250, pixel 300): (400^2 - N) / A^2 from the real XML
    from lxml import etree

    from icecrack_assets.sar.sentinel1.calibration import interpolate_lut, parse_calibration
    from icecrack_assets.sar.sentinel1.noise import noise_power, parse_noise

    cal = parse_calibration(
        etree.parse(str(shared_data / EW_GRDM / "annotation/calibration/calibration-ew-hh.xml")).getroot()
    )
    noi = parse_noise(
        etree.parse(str(shared_data / EW_GRDM / "annotation/calibration/noise-ew-hh.xml")).getroot()
    )
    a = interpolate_lut(cal, np.array([250]), np.array([300]))[0, 0]
    n = noise_power(noi, np.array([250]), np.array([300]))[0, 0]
    x, y = tiny.xy(250, 300)
    row, col = int((AMERY.bounds[3] - y) // 40), int((x - AMERY.bounds[0]) // 40)
    assert out[row, col] == pytest.approx((400.0**2 - n) / a**2, rel=2e-3)
    # the zeroed border strip (pixels 0..19) is nodata in the output
    xb, yb = tiny.xy(250, 5)
    assert np.isnan(out[int((AMERY.bounds[3] - yb) // 40), int((xb - AMERY.bounds[0]) // 40)])
    expected_valid = (lines * 40 * (samples - 21) * 40) / (AMERY.width * AMERY.height * 1600)
    assert info.valid_fraction == pytest.approx(expected_valid, rel=0.03)
    assert tags["SCENE_ID"] == tiny.path.name.split(".")[0] and tags["LOOKS"] == "10.7"
    assert "range+azimuth" in tags["ICECRACK_HISTORY"]


def test_old_noise_format_iw_zip_ingests(shared_data: Path, tmp_path: Path) -> None:
    tiny = build_tiny_safe(
        shared_data / IW_GRDH_OLD_ZIP,
        tmp_path,
        JAK,
        dt.datetime(2020, 7, 10, 10, tzinfo=UTC),
        lines=800,
        samples=900,
        dn=250,
        zipped=True,
    )
    info = ingest_to_region(tiny.path, JAK, tmp_path / "out.tif", polarisation="VV")
    assert info.polarisation == "VV" and info.looks == 4.4 and info.valid_fraction > 0
    assert any("range-only" in h for h in info.history)


# ---- bad input: one line naming the product and the problem, no output ------------------------


def _tiny(shared_data, tmp_path, **kw):
    return build_tiny_safe(
        shared_data / EW_GRDM,
        tmp_path,
        AMERY,
        dt.datetime(2022, 1, 15, 3, tzinfo=UTC),
        lines=300,
        samples=300,
        pols=("HH",),
        **kw,
    )


def _meas(p):
    return next((p / "measurement").glob("*.tiff"))


CASES = {
    "empty measurement": (lambda p: _meas(p).write_bytes(b""), "is empty"),
    "truncated measurement": (
        lambda p: _meas(p).write_bytes(_meas(p).read_bytes()[:300]),
        "truncated or unreadable",
    ),
    "missing annotation": (lambda p: [f.unlink() for f in (p / "annotation").glob("*.xml")], "no annotation"),
    "missing calibration": (
        lambda p: [f.unlink() for f in (p / "annotation/calibration").glob("calibration-*")],
        "missing calibration",
    ),
    "truncated calibration": (
        lambda p: [
            f.write_bytes(f.read_bytes()[:5000]) for f in (p / "annotation/calibration").glob("calibration-*")
        ],
        "not valid XML",
    ),
    "unknown noise format": (
        lambda p: [
            f.write_text("<noise><adsHeader/><future/></noise>")
            for f in (p / "annotation/calibration").glob("noise-*")
        ],
        "unknown noise format",
    ),
    "unknown processor": (
        lambda p: (p / "manifest.safe").write_text(
            (p / "manifest.safe").read_text().replace('version="003.52"', 'version="009.10"')
        ),
        "unknown processor format",
    ),
    "other mission": (
        lambda p: (p / "manifest.safe").write_text(
            (p / "manifest.safe").read_text().replace(">SENTINEL-1<", ">SENTINEL-2<")
        ),
        "SENTINEL-2 product",
    ),
    "no manifest": (lambda p: (p / "manifest.safe").unlink(), "no manifest.safe"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_product_gives_one_line_and_no_output(
    shared_data: Path, tmp_path: Path, case: str, capsys
) -> None:
    tiny = _tiny(shared_data, tmp_path)
    damage, message = CASES[case]
    damage(tiny.path)
    out = tmp_path / "out.tif"
    with pytest.raises(InputError, match=message) as err:
        ingest_to_region(tiny.path, AMERY, out)
    assert str(tiny.path) in str(err.value) and "\n" not in str(err.value)
    assert main(["ingest", str(tiny.path), str(out), "--region", "amery"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not out.exists() and not list(tmp_path.glob(".out.tif*"))


def test_truncated_zip(shared_data: Path, tmp_path: Path) -> None:
    bad = tmp_path / Path(IW_GRDH_OLD_ZIP).name
    bad.write_bytes((shared_data / IW_GRDH_OLD_ZIP).read_bytes()[:500_000])
    with pytest.raises(InputError, match="truncated or corrupt zip"):
        read_product(bad)
    empty = tmp_path / "S1A_empty.zip"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_product(empty)


@pytest.mark.parametrize(
    "region, when, message",
    [
        (JAK, dt.datetime(2022, 7, 15, tzinfo=UTC), "is an EW product, but region jakobshavn uses IW"),
        (AMERY, dt.datetime(2022, 6, 15, tzinfo=UTC), "outside the amery season"),
    ],
)
def test_wrong_mode_or_season(shared_data: Path, tmp_path: Path, region, when, message) -> None:
    tiny = build_tiny_safe(shared_data / EW_GRDM, tmp_path, AMERY, when, lines=200, samples=200, pols=("HH",))
    with pytest.raises(InputError, match=message):
        ingest_to_region(tiny.path, region, tmp_path / "out.tif")
    assert not (tmp_path / "out.tif").exists()


def test_slc_is_refused_with_reason(shared_data: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is an SLC product; only GRD"):
        ingest_to_region(shared_data / REAL[0], JAK, tmp_path / "out.tif")
