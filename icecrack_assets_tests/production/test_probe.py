"""A hostile probe kept as tests (issue 15): bad inputs x every command, landing-zone oddities x
several sensor ticks, interrupted and concurrent runs, secrets grepped in logs, run DB and compute logs.

Each case adds to ``tallies.PROBE``; the terminal summary prints
``probe: N bad inputs refused, M sensor oddities skipped, K secrets redacted, 0 inputs overwritten``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from rasterio.transform import from_origin

from icecrack_assets import raster
from icecrack_assets.catalog.base import usable_items
from icecrack_assets.catalog.landing import LandingZoneCatalog
from icecrack_assets.cli import build_parser, main
from icecrack_assets.commands._boundary import INTENSITY_INPUTS, PATHS
from icecrack_assets.dagster_defs.resources import DataRoot, SceneCatalogResource
from icecrack_assets.dagster_defs.sensors import new_acquisition_sensor
from icecrack_assets.raster import write_raster_atomic
from icecrack_assets.regions import get_region
from icecrack_assets.sar.sentinel1.naming import build_name
from icecrack_assets_tests.helpers.rasters import write_tiny_raster
from icecrack_assets_tests.production.tallies import PROBE

REPO = Path(__file__).resolve().parents[2]
JULY = dt.datetime(2024, 7, 10, 10, tzinfo=dt.timezone.utc)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def speckle(shape=(64, 64), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).gamma(4.0, 0.1 / 4.0, shape).astype(np.float32)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Inputs a careless or hostile user would hand to the commands."""
    f = {
        "x": write_tiny_raster(tmp_path / "x.tif", speckle()),
        "db": write_tiny_raster(tmp_path / "db.tif", 10 * np.log10(speckle())),
        "nan": write_tiny_raster(tmp_path / "nan.tif", np.full((64, 64), np.nan, np.float32)),
        "inf": write_tiny_raster(tmp_path / "inf.tif", np.full((64, 64), np.inf, np.float32)),
        "zero": write_tiny_raster(tmp_path / "zero.tif", np.zeros((64, 64), np.float32)),
    }
    cog = write_raster_atomic(
        tmp_path / "cog.tif",
        speckle((600, 600), 1),
        dict(driver="GTiff", crs="EPSG:3413", transform=from_origin(0, 0, 10, 10), compress="deflate"),
        cog=True,
    )
    f["truncated"] = tmp_path / "truncated.tif"
    f["truncated"].write_bytes(cog.read_bytes()[: int(cog.stat().st_size * 0.6)])
    (tmp_path / "d").mkdir()
    f["link"] = tmp_path / "link.tif"
    f["link"].symlink_to(f["x"])
    f["bundle"] = tmp_path / "bundle"
    f["bundle"].mkdir()
    (f["bundle"] / "bundle.json").write_text("{}")
    f["labels"] = tmp_path / "labels.gpkg"
    f["labels"].write_bytes(b"not really")
    f["samples"] = tmp_path / "samples"
    f["samples"].mkdir()
    return f


def refused(capsys, argv: list[str], needle: str, watch: list[Path]) -> str:
    """Run one command line; it must fail with one clear line and leave every watched input intact."""
    before = {p: sha(p) for p in watch if p.is_file()}
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    changed = [p for p, h in before.items() if not p.is_file() or sha(p) != h]
    PROBE["inputs overwritten"] += len(changed)
    assert not changed, f"{argv}: changed {changed}"
    assert rc == 2, (argv, rc, err)
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert needle in err, (needle, err)
    PROBE["bad inputs refused"] += 1
    return err


# --- 1-2: outputs that resolve to an input, outputs that collide ---------------------------------

OVERWRITES = [
    ("despeckle {x} {x} --looks 4", "would overwrite the input"),
    ("despeckle {x} {link} --looks 4", "would overwrite the input"),
    ("despeckle {x} {d}/../x.tif --looks 4", "would overwrite the input"),
    ("despeckle {link} {x} --looks 4", "would overwrite the input"),
    ("ingest {x} {x}", "would overwrite the input"),
    ("ingest {x} {d}/../link.tif", "would overwrite the input"),
    ("predict {x} {x}", "would overwrite the input"),
    ("predict {x} {m} --probabilities {m}", "two outputs are the same file"),
    ("predict {x} {m} --probabilities {d}/../m.tif", "two outputs are the same file"),
    ("predict {x} {m} --probabilities {link}", "would overwrite the input"),
    ("predict {x} {bundle}/m.tif --model {bundle}", "inside the input folder"),
    ("calibrate {bundle} --image {x} --labels {labels} --out {bundle}", "would overwrite the input"),
    ("calibrate {bundle} --image {x} --labels {labels} --out {bundle}/sub", "inside the input folder"),
    ("calibrate {bundle} --image {x} --labels {labels} --out {x}", "would overwrite the input"),
    ("calibrate {bundle} --image {x} --labels {labels} --out {d}/..", "holds the input"),
    ("train {samples} --out {samples}", "would overwrite the input"),
    ("evaluate --suite b --lai {samples} --out {samples}/e.md", "inside the input folder"),
]


@pytest.mark.parametrize("template,needle", OVERWRITES)
def test_no_command_writes_over_its_inputs(template, needle, files, capsys, tmp_path):
    names = {k: str(v) for k, v in files.items()} | {"d": str(tmp_path / "d"), "m": str(tmp_path / "m.tif")}
    refused(capsys, template.format(**names).split(), needle, [files["x"], files["bundle"] / "bundle.json"])
    assert not (tmp_path / "m.tif").exists()


def test_every_command_declares_what_it_reads_and_writes():
    """A new command must say which arguments are inputs and outputs, so the shared guard covers it."""
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(PATHS)
    for command, (reads, writes) in PATHS.items():
        dests = {a.dest for a in sub.choices[command]._actions}
        assert set(reads) | set(writes) <= dests, command
    for command, names in INTENSITY_INPUTS.items():
        assert set(names) <= set(PATHS[command][0])


# --- 3: rasters with nothing usable in them -------------------------------------------------------

BAD_RASTERS = [
    ("db", "looks like dB"),
    ("nan", "no valid pixels"),
    ("inf", "no valid pixels"),
    ("zero", "all zero"),
    ("truncated", "truncated or corrupt pixels"),
]
INTENSITY_COMMANDS = [
    "despeckle {src} {out} --looks 4",
    "predict {src} {out}",
    "calibrate {bundle} --image {src} --labels {labels} --out {out}",
]


@pytest.mark.parametrize("kind,needle", BAD_RASTERS)
@pytest.mark.parametrize("template", INTENSITY_COMMANDS)
def test_rasters_without_linear_intensity_are_refused(template, kind, needle, files, capsys, tmp_path):
    out = tmp_path / "out.tif"
    argv = template.format(src=files[kind], out=out, bundle=files["bundle"], labels=files["labels"]).split()
    err = refused(capsys, argv, needle, [files[kind]])
    assert str(files[kind]) in err  # the line names the file
    assert not out.exists()


# --- 4: absurd numbers, refused by argparse with one line, in every command ----------------------

NUMBERS = [
    "despeckle {x} {o} --looks 1e300",
    "despeckle {x} {o} --looks 1e-300",
    "despeckle {x} {o} --looks nan",
    "despeckle {x} {o} --looks inf",
    "despeckle {x} {o} --looks 4 --block 0",
    "despeckle {x} {o} --looks 4 --iterations 0",
    "despeckle {x} {o} --looks 4 --alpha 0",
    "despeckle {x} {o} --looks 4 --T nan",
    "despeckle {x} {o} --looks 4 --hw -1",
    "predict {x} {o} --looks 1e300",
    "predict {x} {o} --tile 0",
    "predict {x} {o} --block 0",
    "predict {x} {o} --overlap -5",
    "predict {x} {o} --pixel-size nan",
    "train --epochs 0",
    "train --batch-size 0",
    "train --lr nan",
    "train --lr 0",
    "train --max-minutes 0",
    "train --patience 0",
    "train --crop -1",
    "train --pos-weight -1",
    "train --looks 0",
    "train --depth 99",
    "train --default-model --steps 0",
    "train --default-model --field-steps -1",
    "evaluate --field-steps -1",
    "calibrate {bundle} --image {x} --labels {labels} --looks 0",
    "calibrate {bundle} --image {x} --labels {labels} --line-width -3",
    "evaluate --max-minutes 0",
    "evaluate --lai-seeds 0",
    "demo --epochs 0",
    "demo --max-minutes nan",
    "demo --pixel-size -10",
    "simulate --region amery --year 2020 --looks 1e300",
    "simulate --region amery --year 2020 --seed -1",
]


@pytest.mark.parametrize("template", NUMBERS)
def test_absurd_numbers_are_refused_at_the_boundary(template, files, capsys, tmp_path):
    argv = template.format(**{k: str(v) for k, v in files.items()}, o=tmp_path / "o.tif").split()
    option = next(a for a in reversed(argv) if a.startswith("--"))
    refused(capsys, argv, f"{option} must be", [files["x"]])
    assert not (tmp_path / "o.tif").exists()


# --- 4: read-only folders and full disks: one line naming the output ------------------------------


@contextlib.contextmanager
def small_fs(path: Path, options: str):
    """A real tmpfs (root in CI); None where mounting is not allowed, and the caller simulates."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    try:
        yield path if done.returncode == 0 else None
    finally:
        if done.returncode == 0:
            subprocess.run(["umount", str(path)], check=True)


@pytest.mark.parametrize("fault", ["read-only file system", "no space left on device"])
def test_unwritable_outputs_are_one_line_naming_the_output(fault, files, capsys, tmp_path, monkeypatch):
    options = "ro,size=64k" if fault.startswith("read-only") else "size=12k"
    with small_fs(tmp_path / "mnt", options) as mnt:
        if mnt is None:  # no mount privilege: the same OSError the kernel would give, injected
            code = errno.EROFS if fault.startswith("read-only") else errno.ENOSPC
            real_replace = os.replace

            def failing_replace(a, b):
                if str(b).endswith("out.tif"):
                    raise OSError(code, os.strerror(code), str(a))
                return real_replace(a, b)

            monkeypatch.setattr(raster.os, "replace", failing_replace)
            mnt = tmp_path / "mnt"
        target = mnt / "out.tif"
        x = write_tiny_raster(tmp_path / "big.tif", speckle((300, 300), 2))
        err = refused(capsys, ["despeckle", str(x), str(target), "--looks", "4", "--quiet"], fault, [x])
        assert err.endswith(f"{target}: cannot write: {fault}")
        assert ".part" not in err
        assert not [p for p in mnt.iterdir()]  # no temp file, no half output


# --- 5: interruption: SIGTERM cleans up like SIGINT; stale temps of dead runs go -----------------


def _start_despeckle(src: Path, dst: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "icecrack_assets.cli",
            "despeckle",
            str(src),
            str(dst),
            "--looks",
            "4",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _wait_for_part(folder: Path, proc: subprocess.Popen, timeout: float = 180.0) -> Path | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        parts = [p for p in folder.iterdir() if p.name.endswith(".part")]
        if parts:
            return parts[0]
        time.sleep(0.01)
    return None


def _stopped_mid_write(src: Path, dst: Path) -> tuple[subprocess.Popen, Path]:
    """A despeckle run frozen (SIGSTOP) while its temp file exists: signalled at once instead, a run
    at the end of its write could finish in between and the test would race it."""
    for _ in range(3):
        proc = _start_despeckle(src, dst)
        part = _wait_for_part(dst.parent, proc)
        assert part is not None, proc.communicate()
        proc.send_signal(signal.SIGSTOP)
        if part.exists():
            return proc, part
        proc.kill()
        proc.communicate(timeout=60)
        dst.unlink(missing_ok=True)
    pytest.fail("despeckle finished before it could be stopped mid-write, three times")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_terminated_command_leaves_no_temp_file_and_no_output(signum, tmp_path):
    src = write_tiny_raster(tmp_path / "in.tif", speckle((1200, 1200), 3))
    dst = tmp_path / "out" / "despeckled.tif"
    dst.parent.mkdir()
    proc, _ = _stopped_mid_write(src, dst)
    proc.send_signal(signum)
    proc.send_signal(signal.SIGCONT)  # it handles the signal once it runs again
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.decode().strip().splitlines()[-1] == "icecrack despeckle: interrupted"
    assert list(dst.parent.iterdir()) == []
    PROBE["interruptions cleaned"] += 1


@pytest.mark.slow
def test_a_killed_runs_temp_file_is_removed_by_the_next_success_but_a_live_one_is_kept(tmp_path, capsys):
    src = write_tiny_raster(tmp_path / "in.tif", speckle((1200, 1200), 4))
    dst = tmp_path / "out" / "despeckled.tif"
    dst.parent.mkdir()
    proc, dead = _stopped_mid_write(src, dst)
    proc.send_signal(signal.SIGKILL)
    proc.wait(60)
    assert dead.exists()  # SIGKILL cannot clean up: the next success must
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        live = dst.parent / f"{raster.temp_name(dst).rsplit('-', 1)[0]}-{sleeper.pid}.abcd1234.part"
        live.write_bytes(b"another run is writing this right now")
        small = write_tiny_raster(tmp_path / "small.tif", speckle((64, 64), 5))
        assert main(["despeckle", str(small), str(dst), "--looks", "4", "--quiet"]) == 0
        capsys.readouterr()
        assert not dead.exists()
        assert live.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    PROBE["interruptions cleaned"] += 1


# --- 6-12: landing-zone oddities over several sensor ticks ----------------------------------------


def s1_name(when: dt.datetime, uid: str, product: str = "GRDH") -> str:
    r = get_region("jakobshavn")
    return build_name(
        "S1A", r.mode, product, ("HH",), when, when + dt.timedelta(seconds=25), 54321, "06A1B2", uid
    )


def scene(path: Path, value: float = 0.1) -> Path:
    r = get_region("jakobshavn")
    return write_tiny_raster(
        path,
        np.full((16, 16), value, np.float32),
        epsg=r.epsg,
        origin=(r.bounds[0] + 1000, r.bounds[3] - 1000),
        pixel=r.pixel_size,
    )


class Ticks:
    """Evaluate the sensor tick after tick, carrying the cursor, collecting its warning lines.

    The sensor context logs through Dagster's console handler, so its lines are read from stderr.
    """

    def __init__(self, root: Path, instance, capsys) -> None:
        self.resources = {"data": DataRoot(root=str(root)), "scene_catalog": SceneCatalogResource()}
        self.instance, self.capsys, self.cursor = instance, capsys, None
        self.lines: list[str] = []

    def __call__(self):
        self.capsys.readouterr()
        ctx = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources)
        result = new_acquisition_sensor(ctx)
        if isinstance(result, dg.SensorResult):
            self.cursor = result.cursor or self.cursor
        self.lines = self.capsys.readouterr().err.splitlines()
        return result, [line for line in self.lines if " - WARNING - " in line]


def test_landing_zone_oddities_over_several_ticks(tmp_path, capsys, monkeypatch):
    landing = tmp_path / "landing"
    landing.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    good = scene(landing / f"{s1_name(JULY, 'AAAA')}.tif")
    oddities = {
        "copy name": landing / f"{s1_name(JULY, 'AAAA')} (copy).tif",
        "same bytes, other id": landing / f"{s1_name(JULY, 'BBBB')}.tif",
        "not Sentinel-1": landing / "holiday-photo.tif",
        "SLC-named GeoTIFF": landing / f"{s1_name(JULY, 'CCCC', 'SLC')}.tif",
        "newline in name": landing / f"{s1_name(JULY, 'DDDD')}.tif\nINFO forged line.tif",
        "link outside": landing / f"{s1_name(JULY, 'EEEE')}.tif",
    }
    for key, path in oddities.items():
        if key == "link outside":
            path.symlink_to(scene(outside / f"{s1_name(JULY, 'EEEE')}.tif", 0.3))
        elif key == "newline in name":
            scene(path, 0.4)
        elif key == "SLC-named GeoTIFF":
            scene(path, 0.5)
        else:
            shutil.copy(good, path)
    with dg.instance_for_test() as instance:
        tick = Ticks(tmp_path, instance, capsys)
        first, warned = tick()
        assert [str(r.partition_key) for r in first.run_requests] == ["jakobshavn|2024"]
        seen = json.loads(first.cursor)
        assert [k for k in seen if not k.startswith("!")] == [good.stem]  # only the real scene
        assert first.run_requests[0].tags["icecrack/new_scenes"] == "1"
        tokens = {
            "copy name": "(copy)",
            "same bytes, other id": "BBBB",
            "not Sentinel-1": "holiday-photo",
            "SLC-named GeoTIFF": "CCCC",
            "newline in name": "DDDD",
            "link outside": "EEEE",
        }
        for key, token in tokens.items():
            assert len([w for w in warned if token in w]) == 1, (key, warned)
        assert not [line for line in tick.lines if "forged" in line and " - WARNING - " not in line]
        assert len(warned) == len(oddities)
        PROBE["sensor oddities skipped"] += len(oddities)

        # the ingesting asset sees the same single scene (it used to ingest all three copies)
        jak = get_region("jakobshavn")
        usable, _ = usable_items(LandingZoneCatalog(landing).search(jak, *jak.season(2024)))
        assert [it.scene_id for it in usable] == [good.stem]

        again, warned = tick()  # nothing changed: no run, and each oddity is not logged again
        assert not again.run_requests and warned == []

        for _ in range(2):  # same size, other content: a new version of the scene
            scene(good, 0.2)
            changed, _ = tick()
            assert [str(r.partition_key) for r in changed.run_requests] == ["jakobshavn|2024"]
            scene(good, 0.1)
            tick()
        PROBE["sensor oddities skipped"] += 1

        def unreadable(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))

        # root reads any folder, so an unreadable landing zone is simulated at the listing call
        monkeypatch.setattr("icecrack_assets.catalog.landing.list_entries", unreadable)
        skipped, _ = tick()
        assert isinstance(skipped, dg.SkipReason) and "Permission denied" in skipped.skip_message
        PROBE["sensor oddities skipped"] += 1


def test_following_links_out_of_the_landing_zone_is_an_explicit_choice(tmp_path):
    landing, outside = tmp_path / "landing", tmp_path / "archive"
    landing.mkdir()
    outside.mkdir()
    target = scene(outside / f"{s1_name(JULY, 'FFFF')}.tif")
    (landing / target.name).symlink_to(target)
    items, problems = LandingZoneCatalog(landing).scan()
    assert items == [] and "outside the landing zone" in problems[0].reason
    items, problems = LandingZoneCatalog(landing, follow_external_links=True).scan()
    assert [i.scene_id for i in items] == [target.stem] and problems == []
    PROBE["sensor oddities skipped"] += 1


# --- 14-15: secrets never reach logs, errors, the run database or compute logs -------------------

SECRET = "SECRETs3cr3t-0123456789abcdef"


def _footprint_of(region: str) -> list[tuple[float, float]]:
    from pyproj import Transformer

    r = get_region(region)
    to_ll = Transformer.from_crs(r.epsg, 4326, always_xy=True)
    x0, y0, x1, y1 = r.bounds
    return [to_ll.transform(x, y) for x, y in [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]]


def _grep(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_catalogue_clients_redact_echoed_headers_userinfo_and_query_tokens(monkeypatch, caplog):
    """Every error path of the STAC and ASF clients, with DEBUG logging on for the HTTP libraries."""
    from icecrack_assets.catalog.asf import AsfCatalog
    from icecrack_assets.catalog.stac import StacCatalog
    from icecrack_assets.errors import IceCrackError
    from icecrack_assets_tests.helpers.catalog_server import CatalogServer

    caplog.set_level(logging.DEBUG)
    for name in ("pystac_client", "urllib3", "requests"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    jak = get_region("jakobshavn")
    monkeypatch.setenv("ICECRACK_STAC_TOKEN", SECRET)
    monkeypatch.setenv("ICECRACK_ASF_TOKEN", SECRET)
    messages = []
    with CatalogServer() as srv:
        srv.add_scene(s1_name(JULY, "AAAA"), _footprint_of("jakobshavn"), b"zip")
        srv.search_token = "the-right-token"  # the server answers 401 and echoes our header
        for catalog in (
            StacCatalog(srv.stac_url),
            StacCatalog(srv.stac_url.replace("http://", f"http://user:{SECRET}@") + f"?token={SECRET}"),
            AsfCatalog(base_url=srv.url),
            AsfCatalog(base_url=f"{srv.url}/?apikey={SECRET}&sig={SECRET}"),
        ):
            with pytest.raises(IceCrackError) as err:
                catalog.search(jak, *jak.season(2024))
            messages.append(str(err.value))
        assert any("Bearer" in str(entry[2]) for entry in srv.log)  # the header was really sent
        # the ASF client keeps its path before the base URL's query (it used to append it after)
        srv.search_token = None
        monkeypatch.delenv("ICECRACK_ASF_TOKEN")
        found = AsfCatalog(base_url=f"{srv.url}/?apikey={SECRET}").search(jak, *jak.season(2024))
        assert [it.scene_id for it in found] == [s1_name(JULY, "AAAA")]
        assert srv.log[-1][1].startswith("/services/search/param?")
    assert all("401" in m or "Unauthorized" in m or "unauthorized" in m for m in messages), messages
    assert not [m for m in messages if SECRET in m], messages
    debug_text = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET not in debug_text
    PROBE["secrets redacted"] += len(messages) + 1


def test_redaction_covers_every_form_of_credential():
    from icecrack_assets.redaction import redact, safe_for_log

    forms = [
        f"Authorization: Bearer {SECRET}",
        f'{{"received": {{"Authorization": "Bearer {SECRET}"}}}}',
        f"{{'Authorization': 'Basic {SECRET}'}}",
        f"GET https://user:{SECRET}@host/path?x=1",
        f"https://host/a?token={SECRET}&limit=10",
        f"https://bucket/k?X-Amz-Signature={SECRET}&X-Amz-Credential={SECRET}",
        f"https://host/a?sig={SECRET}",
        f'{{"access_token": "{SECRET}"}}',
        f"bearer {SECRET}",
    ]
    for text in forms:
        assert SECRET not in redact(text), text
        assert SECRET not in safe_for_log(text + "\nforged"), text
    assert redact("https://host/a?limit=10&page=2") == "https://host/a?limit=10&page=2"
    assert "\n" not in safe_for_log("a\nb")
    PROBE["secrets redacted"] += len(forms)


@pytest.mark.slow
@pytest.mark.parametrize("url_from", ["EnvVar", "string"])
def test_no_secret_in_sensor_logs_run_database_or_compute_logs(url_from, tmp_path, monkeypatch, capfd):
    """A sensor tick and a raw_scenes run against a catalogue that echoes credentials on 401.

    The bearer token comes from ICECRACK_STAC_TOKEN; the catalogue URL carries a ``?token=`` too,
    configured as a Dagster EnvVar (what docs/production.md asks for) or as a plain string.
    """
    from icecrack_assets.definitions import build_defs
    from icecrack_assets_tests.helpers.catalog_server import CatalogServer

    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("ICECRACK_STAC_TOKEN", SECRET)
    logging.getLogger("pystac_client").setLevel(logging.DEBUG)
    with CatalogServer() as srv:
        srv.add_scene(s1_name(JULY, "AAAA"), _footprint_of("jakobshavn"), b"zip")
        srv.search_token = "the-right-token"
        monkeypatch.setenv("ICECRACK_TEST_CATALOG_URL", srv.stac_url + f"?token={SECRET}")
        url = (
            dg.EnvVar("ICECRACK_TEST_CATALOG_URL")
            if url_from == "EnvVar"
            else srv.stac_url + f"?token={SECRET}"
        )
        catalog = SceneCatalogResource(kind="stac", url=url)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            ctx = dg.build_sensor_context(
                instance=instance, resources={"data": DataRoot(root=str(tmp_path)), "scene_catalog": catalog}
            )
            tick = new_acquisition_sensor(ctx)
            job = build_defs(data_root=str(tmp_path), catalog=catalog).resolve_implicit_global_asset_job_def()
            result = job.execute_in_process(
                instance=instance,
                partition_key=str(sp_key("jakobshavn")),
                asset_selection=[dg.AssetKey("raw_scenes")],
                raise_on_error=False,
            )
            assert not result.success
            failure = next(e for e in result.all_events if e.is_failure)
            assert "STAC search at" in str(failure.event_specific_data.error)
            if url_from == "EnvVar":  # a launched run: steps in subprocesses, with captured compute logs
                launched = dg.execute_job(
                    dg.reconstructable(sp_season_job),
                    instance=instance,
                    asset_selection=[dg.AssetKey("raw_scenes")],
                    tags=sp_tags("jakobshavn"),
                    run_config={
                        "resources": {
                            "data": {"config": {"root": str(tmp_path)}},
                            "scene_catalog": {
                                "config": {"kind": "stac", "url": {"env": "ICECRACK_TEST_CATALOG_URL"}}
                            },
                        }
                    },
                )
                assert not launched.success
                logs = [p for p in (home / "storage").rglob("*") if p.is_file() and p.stat().st_size]
                assert any(b"STAC search at" in p.read_bytes() for p in logs), logs  # compute logs exist
    out, err = capfd.readouterr()
    assert any("Bearer" in str(entry[2]) for entry in srv.log)
    assert SECRET not in out + err + json.dumps(tick.cursor or "") + str(getattr(tick, "skip_message", ""))
    stored = _grep(home, b"STAC search at")  # the failure was stored: the grep below is meaningful
    assert stored, sorted(p.relative_to(home) for p in home.rglob("*"))
    assert _grep(home, SECRET.encode()) == []
    assert _grep(tmp_path, SECRET.encode()) == []
    PROBE["secrets redacted"] += 3


def sp_season_job():
    from icecrack_assets_tests.helpers import small_pipeline as sp

    return sp.season_job_def()


def sp_tags(region: str) -> dict[str, str]:
    from icecrack_assets_tests.helpers import small_pipeline as sp

    return sp.partition_tags(region)


def sp_key(region: str):
    from icecrack_assets_tests.helpers import small_pipeline as sp

    return sp.key(region)


# --- 13: two runs of one partition at once --------------------------------------------------------

CONCURRENT_RUN = """
import json, sys, time
from pathlib import Path
import dagster as dg
from icecrack_assets.definitions import build_defs
from icecrack_assets_tests.helpers import small_pipeline as sp
import contextlib
from icecrack_assets import raster
data, go, after = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
real_atomic_path = raster.atomic_path

@contextlib.contextmanager
def slow_disk(target):  # each output's temp file lives 0.5 s longer: a slow disk, so writes overlap
    with real_atomic_path(target) as tmp:
        yield tmp
        time.sleep(0.5)

raster.atomic_path = slow_disk
job = build_defs(data_root=data, pixel_size=sp.PIXEL).resolve_implicit_global_asset_job_def()
print("ready", flush=True)
while not go.exists():
    time.sleep(0.01)
folder = Path(data) / "raw" / "jakobshavn" / str(sp.YEAR)
while after == "first-file" and not (folder.is_dir() and any(folder.glob("S1*.tif"))):
    time.sleep(0.005)  # start while the other run is half-way through its writes
t0 = time.time()
with dg.DagsterInstance.ephemeral() as instance:
    result = job.execute_in_process(
        instance=instance, partition_key=sp.key("jakobshavn"), raise_on_error=False,
        asset_selection=[dg.AssetKey("raw_scenes")],
        run_config={"resources": {"grid": {"config": {"pixel_size": sp.PIXEL}}}},
    )
kinds = [e.event_type for e in result.all_events]
print(json.dumps({"success": result.success, "start": t0, "end": time.time(),
                  "retries": kinds.count(dg.DagsterEventType.STEP_UP_FOR_RETRY)}), flush=True)
"""


@pytest.mark.slow
def test_two_runs_of_one_partition_at_once_both_succeed_without_retries(tmp_path):
    from icecrack_assets.layout import Stage
    from icecrack_assets_tests.helpers import small_pipeline as sp

    sp.simulate(tmp_path, ["jakobshavn"], count=4)
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_RUN, str(tmp_path), str(go), after],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for after in ("now", "first-file")
    ]
    for proc in procs:  # both have imported everything: start one, the other once it is half-way
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    go.touch()
    outcomes, logs = [], []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
        logs.append(err)
    assert all(o["success"] for o in outcomes), logs
    assert [o["retries"] for o in outcomes] == [0, 0], logs  # not rescued by the retry policy
    first, second = sorted(outcomes, key=lambda o: o["start"])
    assert second["start"] < first["end"]  # the runs really overlapped
    assert any("waiting for it to finish" in log for log in logs), outcomes  # and one waited
    folder = tmp_path / Stage.RAW.value / "jakobshavn" / str(sp.YEAR)
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {s["path"]: s["sha256"] for s in manifest["scenes"]}
    assert len(listed) == 4 and all(sha(folder / name) == digest for name, digest in listed.items())
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]
    PROBE["concurrent runs"] += 2


def test_pruning_keeps_live_temp_files_and_a_dead_holder_releases_the_folder_lock(tmp_path):
    from icecrack_assets.files import prune_dir
    from icecrack_assets.locks import folder_lock

    folder = tmp_path / "raw" / "jakobshavn" / "2024"
    folder.mkdir(parents=True)
    host = raster.temp_name(folder / "x.tif").rsplit("-", 1)[0]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from icecrack_assets.locks import folder_lock\n"
            "with folder_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        live = folder / f"{host}-{holder.pid}.abcd1234.part"
        dead = folder / f"{host}-999999999.abcd1234.part"
        live.write_bytes(b"being written")
        dead.write_bytes(b"left by a SIGKILL")
        assert prune_dir(folder, keep=set()) == [dead.name]
        assert live.exists()
        waits: list[str] = []
        holder.kill()  # the kernel drops a dead holder's lock: the next writer does not wait long
        holder.wait(30)
        with folder_lock(folder, on_wait=waits.append) as waited:
            assert waited < 5
    finally:
        holder.kill()
        holder.wait(30)


@pytest.mark.slow
def test_a_signed_asset_href_leaves_no_token_in_logs_events_or_the_manifest(tmp_path, capfd):
    """A STAC asset href signed in its query (SAS-style ``?sig=``) is fetched, ingested and recorded."""
    from icecrack_assets.definitions import build_defs
    from icecrack_assets_tests.helpers import small_pipeline as sp
    from icecrack_assets_tests.helpers.catalog_server import CatalogServer

    sid = s1_name(JULY, "ABCD")
    (tmp_path / "src").mkdir()
    tif = scene(tmp_path / "src" / f"{sid}.tif")
    with CatalogServer() as srv:
        srv.add_scene(sid, _footprint_of("jakobshavn"), b"unused")
        data = tif.read_bytes()
        srv.files[f"{sid}.tif"] = data
        asset = srv.stac_items[-1]["assets"]["product"]
        asset.update(
            href=f"{srv.url}/files/{sid}.tif?se=2099-01-01&sig={SECRET}",
            **{"file:size": len(data), "file:checksum": "1220" + hashlib.sha256(data).hexdigest()},
        )
        catalog = SceneCatalogResource(kind="stac", url=srv.stac_url)
        job = build_defs(data_root=str(tmp_path / "data"), catalog=catalog, pixel_size=sp.PIXEL)
        with dg.instance_for_test() as instance:
            result = job.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance,
                partition_key=sp.key("jakobshavn"),
                asset_selection=[dg.AssetKey("raw_scenes")],
            )
            assert result.success
            events = json.dumps([str(e) for e in instance.all_logs(result.run_id)])
        assert any(SECRET in entry[1] for entry in srv.log)  # the signed URL was really used
    manifest = tmp_path / "data" / "raw" / "jakobshavn" / str(sp.YEAR) / "manifest.json"
    href = json.loads(manifest.read_text())["scenes"][0]["href"]
    assert href.endswith("sig=***") and "se=2099-01-01" in href
    out, err = capfd.readouterr()
    assert SECRET not in out + err + events
    assert _grep(tmp_path / "data", SECRET.encode()) == []
    PROBE["secrets redacted"] += 1
