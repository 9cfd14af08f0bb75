"""The Dagster UI in a real browser: Debian's Chromium driven by Playwright (no browser download).

``dagster dev`` (webserver + daemon) serves a code location on a coarse grid over a data root
where one partition has been mapped, and ``icecrack serve-previews`` serves its quick-looks. The
tests check the asset graph shows every stage, launch a partition from the UI's materialise dialog
(the UI submits the run; the daemon dequeues it) and wait for it to succeed, see the crack map's
quick-look and caption without a click, see a failed partition's check (thwaites|2024 despeckled
on the wrong grid) that a later pass of jakobshavn|2024 does not hide, and see the statistics
plot. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
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
    """A mapped partition on disk, its quick-looks served, and ``dagster dev`` on 127.0.0.1."""
    from icecrack_assets.commands.serve_previews import make_server

    base = tmp_path_factory.mktemp("ui")
    data, home = base / "data", base / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    sp.simulate(data, ["jakobshavn", "thwaites"], count=1)
    previews = make_server(data, port=free_port())
    threading.Thread(target=previews.serve_forever, daemon=True).start()
    preview_url = f"http://127.0.0.1:{previews.server_address[1]}"
    from icecrack_assets.definitions import build_defs

    job = build_defs(
        data_root=str(data), pixel_size=sp.PIXEL, preview_url=preview_url
    ).resolve_implicit_global_asset_job_def()
    wrong_grid = sp.run_config(ops=("despeckled_scenes",), pixel=2 * sp.PIXEL)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for selection, key, config, ok in (
            # thwaites is despeckled on a different grid than it was ingested on: its grid check fails
            ([dg.AssetKey("raw_scenes")], sp.key("thwaites"), sp.run_config(ops=()), True),
            ([dg.AssetKey("despeckled_scenes")], sp.key("thwaites"), wrong_grid, True),
            # ... and a later pass for jakobshavn must not hide it
            (
                sp.INGEST,
                sp.key("jakobshavn"),
                sp.run_config(ops=("despeckled_scenes", "labelled_samples")),
                True,
            ),
            # the tiny model fails its blocking floor check (the step fails, the bundle is written)
            ([dg.AssetKey("crack_model")], None, sp.run_config(ops=("crack_model",)), False),
            ([dg.AssetKey("crack_maps")], sp.key("jakobshavn"), sp.run_config(ops=("crack_maps",)), True),
            ([dg.AssetKey("crack_statistics")], None, sp.run_config(ops=()), True),
        ):
            result = job.execute_in_process(
                instance=instance,
                partition_key=key,
                asset_selection=selection,
                run_config=config,
                raise_on_error=False,
            )
            assert result.success is ok, selection
    (base / "ui_defs.py").write_text(
        textwrap.dedent(f"""
        from icecrack_assets.definitions import build_defs
        defs = build_defs(data_root={str(data)!r}, pixel_size={sp.PIXEL}, preview_url={preview_url!r})
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
    previews.shutdown()
    previews.server_close()
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
            # the fixture ran this partition in process too: only the run launched from the UI counts
            runs = instance.get_runs(
                filters=dg.RunsFilter(tags={"dagster/partition": key, "dagster/from_ui": "true"})
            )
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


def test_the_crack_map_page_shows_the_quicklook_and_its_caption(page, dagster_ui):
    page.goto(dagster_ui[0] + "/assets/crack_maps", wait_until="networkidle")
    quicklook = page.locator("img[alt^='jakobshavn 2024 season']")
    quicklook.first.wait_for(state="visible")  # inline: no [Show Markdown] click
    quicklook.first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    assert quicklook.first.evaluate("img => img.complete && img.naturalWidth > 400")
    box = quicklook.first.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 50
    caption = page.get_by_text(re.compile(r"jakobshavn 2024 season \(01 Jul–31 Aug 2024\)")).last
    assert caption.is_visible()
    page.screenshot(path=str(ARTIFACTS / "ui-crack-map-quicklook.png"), full_page=True)


def test_a_failed_partition_check_stays_visible_after_a_later_pass(page, dagster_ui):
    url = dagster_ui[0] + "/assets/despeckled_scenes?view=checks&checkDetail=matches_region_grid"
    page.goto(url, wait_until="networkidle")
    page.get_by_text("Latest execution").first.wait_for()
    # the latest execution is jakobshavn's pass, yet the check still reads Failed (thwaites|2024)
    assert page.get_by_text("jakobshavn|2024", exact=True).first.is_visible()
    assert page.get_by_text("Failed", exact=True).first.is_visible()
    page.screenshot(path=str(ARTIFACTS / "ui-partition-check.png"), full_page=True)
    page.get_by_text("Partitions", exact=True).last.click()
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "ui-partition-check-partitions.png"), full_page=True)
    assert page.get_by_text("thwaites", exact=False).count() > 0


def test_the_statistics_plot_is_shown_with_its_caption(page, dagster_ui):
    page.goto(dagster_ui[0] + "/assets/crack_statistics", wait_until="networkidle")
    plot = page.locator("img[alt^='crack density per region']")
    plot.first.wait_for(state="visible")
    plot.first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    assert plot.first.evaluate("img => img.complete && img.naturalWidth > 300")
    assert page.get_by_text("crack density per region, 1 map(s), season 2024").last.is_visible()
    page.screenshot(path=str(ARTIFACTS / "ui-statistics-plot.png"), full_page=True)


def test_the_model_page_leads_with_its_scores_card_and_training_curve(page, dagster_ui):
    page.goto(dagster_ui[0] + "/assets/crack_model", wait_until="networkidle")
    page.get_by_text("Held-out test (1-px)", exact=False).first.wait_for(state="visible")  # the model card
    curve = page.locator("img[alt^='training curve']")
    curve.first.wait_for(state="visible")
    assert curve.first.evaluate("img => img.complete && img.naturalWidth > 300")
    assert page.get_by_text("1-px", exact=True).count() >= 2  # val and test rows of the scores table
    assert page.get_by_text("not held-out", exact=False).count() == 0
    page.screenshot(path=str(ARTIFACTS / "ui-crack-model.png"), full_page=True)
