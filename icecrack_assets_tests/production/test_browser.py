"""The Dagster UI in a real browser: Debian's Chromium driven by Playwright (no browser download).

``dagster dev`` (webserver + daemon) serves a code location on a coarse grid over a data root
where one partition has been mapped. The test checks the asset graph shows every stage, launches
a partition from the UI's materialise dialog (the UI submits the run; the daemon dequeues it) and waits for it
to succeed, and finds the crack-map preview image in the asset's metadata. Screenshots go to
test-artifacts/.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from icecrack_assets_tests.helpers import small_pipeline as sp
from icecrack_assets_tests.helpers.postgres import find_chromium, free_port, unavailable

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
STAGES = [
    "raw_scenes",
    "despeckled_scenes",
    "labelled_samples",
    "crack_model",
    "crack_maps",
    "crack_statistics",
]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        unavailable("Chromium not installed (Debian package 'chromium')")
    try:
        import playwright  # noqa: F401
    except ImportError:
        unavailable("the playwright Python package is not installed")
    return path


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory):
    """A mapped partition on disk, and ``dagster dev`` on 127.0.0.1 serving it."""
    base = tmp_path_factory.mktemp("ui")
    data, home = base / "data", base / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    sp.simulate(data, ["jakobshavn", "thwaites"], count=1)
    from icecrack_assets.definitions import build_defs

    job = build_defs(data_root=str(data), pixel_size=sp.PIXEL).resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for selection, key, ops in (
            (sp.INGEST, sp.key("jakobshavn"), ("despeckled_scenes", "labelled_samples")),
            ([dg.AssetKey("crack_model")], None, ("crack_model",)),
            ([dg.AssetKey("crack_maps")], sp.key("jakobshavn"), ()),
        ):
            assert job.execute_in_process(
                instance=instance,
                partition_key=key,
                asset_selection=selection,
                run_config=sp.run_config(ops=ops),
            ).success
    (base / "ui_defs.py").write_text(
        textwrap.dedent(f"""
        from icecrack_assets.definitions import build_defs
        defs = build_defs(data_root={str(data)!r}, pixel_size={sp.PIXEL})
    """)
    )
    (base / "workspace.yaml").write_text(
        "load_from:\n  - python_file:\n      relative_path: ui_defs.py\n"
        "      working_directory: .\n      location_name: icecrack\n"
    )
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO)}
    dagster = Path(sys.executable).with_name("dagster")
    log = open(base / "dagster-dev.log", "w")
    proc = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=base,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "/server_info", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGTERM)
            pytest.fail(f"dagster dev did not come up: {(base / 'dagster-dev.log').read_text()[-3000:]}")
        time.sleep(0.5)
    yield url, home, data
    os.killpg(proc.pid, signal.SIGINT)  # dagster dev shuts down cleanly on Ctrl-C, not on SIGTERM
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever of its process group is left
    except ProcessLookupError:
        pass
    log.close()


@pytest.fixture(scope="module")
def page(chromium, dagster_ui):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1600, "height": 1000})
        pg.set_default_timeout(30_000)
        pg.goto(dagster_ui[0] + "/overview", wait_until="networkidle")
        skip = pg.get_by_role("button", name="Skip")  # the first-visit community dialog
        try:
            skip.click(timeout=5_000)
        except Exception:
            pass
        yield pg
        browser.close()


def test_the_asset_graph_shows_every_stage(page, dagster_ui):
    page.goto(dagster_ui[0] + "/asset-groups", wait_until="networkidle")
    page.get_by_text("products", exact=True).last.wait_for()
    for group in ("sar", "ml", "products"):  # expand the collapsed group nodes of the graph
        page.get_by_text(group, exact=True).last.click()
        page.wait_for_timeout(400)
    zoom_out = page.locator("button:has([aria-label=zoom_out])")
    for _ in range(3):
        zoom_out.click()
    seen: set[str] = set()
    for shot in range(3):  # the graph renders only what is in view: pan across the chain
        page.wait_for_timeout(600)
        seen |= {n for n in STAGES if page.get_by_text(n, exact=True).count() > 0}
        page.screenshot(path=str(ARTIFACTS / f"ui-asset-graph-{shot}.png"))
        page.mouse.move(800, 300)
        page.mouse.down()
        page.mouse.move(1300, 300, steps=10)
        page.mouse.up()
    assert seen == set(STAGES)


def test_a_partition_launched_from_the_ui_succeeds(page, dagster_ui):
    url, home, data = dagster_ui
    page.goto(url + "/assets/raw_scenes", wait_until="networkidle")
    page.get_by_role("button", name="Materialize…").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Partition selection").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "ui-launch-dialog-empty.png"))
    dialog.get_by_text("Select a partition or create one").first.click()
    page.keyboard.type("thwaites")
    page.locator(":text-is('thwaites'):visible").last.click()  # tick the option in the dropdown
    page.keyboard.press("Escape")
    page.screenshot(path=str(ARTIFACTS / "ui-launch-dialog-region.png"))
    year = dialog.get_by_placeholder("ex: 2015", exact=False)
    year.fill("2024")
    year.press("Enter")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "ui-launch-dialog.png"))
    dialog.get_by_text(re.compile(r"^1 partitions?$")).first.wait_for()
    dialog.get_by_role("button", name="Launch", exact=False).last.click()
    key = str(sp.key("thwaites"))
    deadline = time.monotonic() + 180
    with dg.DagsterInstance.from_config(str(home)) as instance:
        while True:  # the queued run is started by the daemon; wait for it to finish
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": key}))
            if runs and runs[0].is_finished:
                break
            assert time.monotonic() < deadline, "the run launched from the UI did not finish in 3 minutes"
            time.sleep(1)
        assert runs[0].status == dg.DagsterRunStatus.SUCCESS, f"run {runs[0].run_id} {runs[0].status}"
        assert runs[0].tags.get("dagster/from_ui") == "true"  # launched from the browser
        assert key in instance.get_materialized_partitions(dg.AssetKey("raw_scenes"))
    assert (data / "raw" / "thwaites" / "2024" / "manifest.json").exists()
    page.goto(url + "/runs", wait_until="networkidle")
    page.get_by_text("Success", exact=False).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "ui-run-succeeded.png"))


def test_the_crack_map_preview_is_in_the_asset_metadata(page, dagster_ui):
    page.goto(dagster_ui[0] + "/assets/crack_maps", wait_until="networkidle")
    row = page.locator("tr", has=page.get_by_text("preview", exact=True))
    row.first.wait_for()
    row.first.get_by_text("Show Markdown", exact=False).click()  # markdown metadata opens in a dialog
    preview = page.locator("img[alt^='crack map jakobshavn']")
    preview.first.wait_for(state="visible")
    preview.first.scroll_into_view_if_needed()
    box = preview.first.bounding_box()
    assert box and box["width"] > 20 and box["height"] > 20
    assert preview.first.evaluate("img => img.complete && img.naturalWidth > 0")
    page.screenshot(path=str(ARTIFACTS / "ui-crack-map-preview.png"))
