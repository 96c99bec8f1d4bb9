"""End to end in a real browser: `streamlit run app.py` on 127.0.0.1, driven by Playwright.

Uses Debian's Chromium (``/usr/bin/chromium``; Playwright's own browser download
is not used). Outside CI the test is skipped when Chromium or Playwright is
missing; with ``CI=true`` it fails instead, so CI always runs it (``.ci/run``
installs Chromium). Screenshots go to ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

import gridopt
from gridopt.io.save import scenario_zip

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("GRIDOPT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() == "true"


def _require(ok: bool, why: str) -> None:
    if not ok:
        if IN_CI:
            pytest.fail(f"{why} (CI=true: the browser test must run)")
        pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: Name of the long solve the Stop test runs (a hard day of gridopt.synthetic, offered as a ready scenario).
HARD = "hard-day"


@pytest.fixture(scope="module")
def app_dirs(tmp_path_factory):
    """The ready scenarios plus a hard day (100 vehicles, one-meter binaries, target gap 0: a long solve),
    and a private folder for the stored runs."""
    import shutil

    from gridopt.synthetic import write_hard_day

    base = tmp_path_factory.mktemp("browser")
    ready = base / "scenarios"
    shutil.copytree(ROOT / "scenarios", ready)
    path = write_hard_day(ready / "hard", 100, "meter", seed=1, time_limit_s=60.0, mip_rel_gap=0.0)
    text = path.read_text().replace("vehicles.csv", "hard/vehicles.csv").replace("sessions.csv", "hard/sessions.csv")
    text = re.sub(r"(?m)^name: .*$", f"name: {HARD}", text.replace("timeseries.csv", "hard/timeseries.csv"))
    (ready / "hard_day.yaml").write_text(text)
    assert gridopt.load_scenario(ready / "hard_day.yaml").name == HARD
    return ready, base / "app-data"


@pytest.fixture(scope="module")
def app_url(app_dirs):
    """The app served by `streamlit run app.py` on a free local port; stopped afterwards."""
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "streamlit.log", "w")
    env = {**os.environ, "GRIDOPT_SCENARIO_DIR": str(app_dirs[0]), "GRIDOPT_APP_DIR": str(app_dirs[1])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start (exit {proc.poll()}); see {ARTIFACTS / 'streamlit.log'}")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture(scope="module")
def page(app_url):
    _require(Path(CHROMIUM).is_file(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _require(False, "the playwright package is not installed (pip install -e '.[test]')")
    expect.set_options(timeout=30_000)  # the first page load imports gridopt and reads the scenarios
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1440, "height": 2400})
        pg.on("request", lambda req: REQUESTS.append(req.url))  # every request of the page, for the last test
        pg.set_default_timeout(60_000)
        pg.goto(app_url)
        yield pg
        browser.close()


#: Every URL the browser requested (the page, its scripts, fonts, icons, websocket, downloads).
REQUESTS: list[str] = []


def _broken_zip() -> bytes:
    src = zipfile.ZipFile(io.BytesIO(scenario_zip(gridopt.load_scenario(ROOT / "scenarios" / "workplace_acn.yaml"))))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith("sessions.csv"):
                data = data.replace(b"2019-10-02T08:14:00-07:00", b"yesterday morning", 1)
            z.writestr(name, data)
    return buf.getvalue()


def test_pick_a_scenario_run_it_and_see_charts_and_kpis(page):
    from playwright.sync_api import expect

    run = page.get_by_role("button", name="Run optimization")
    expect(run).to_be_enabled(timeout=60_000)
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="workplace-acn").click()
    expect(page.locator("h1").first).to_have_text("workplace-acn")

    run.click()
    expect(page.get_by_text(re.compile(r"Run #1\. Optimal plan"))).to_be_visible(timeout=120_000)

    metrics = page.locator('[data-testid="stMetric"]')
    expect(metrics).to_have_count(11)
    total = metrics.filter(has_text="Total cost").locator('[data-testid="stMetricValue"]')
    assert re.fullmatch(r"[\d,]+\.\d\d", total.inner_text().strip())
    peak = metrics.filter(has_text="Peak import [kW]").locator('[data-testid="stMetricValue"]')
    assert 0 < float(peak.inner_text().replace(",", "")) <= 300  # within the site's import limit

    site_chart = page.locator('[data-testid="stPlotlyChart"]').first
    expect(site_chart.locator(".main-svg").first).to_be_visible()
    legend = site_chart.locator(".legendtext")
    expect(legend.filter(has_text="Grid import")).to_have_count(1)
    expect(legend.filter(has_text="EV charging")).to_have_count(1)
    assert site_chart.locator("path.js-fill").count() >= 3  # the stacked areas are drawn
    expect(page.get_by_role("button", name="schedule.csv")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)  # let plotly finish its transitions
    page.screenshot(path=str(ARTIFACTS / "app-results.png"))

    page.get_by_role("tab", name="Charging heatmap").click()
    expect(page.locator('[data-testid="stPlotlyChart"] .heatmaplayer').first).to_be_attached()

    # a second run with a tighter connection, then both side by side
    limit = page.get_by_role("spinbutton", name="Import limit [kW]")
    limit.fill("140")
    limit.press("Enter")
    expect(page.get_by_text("import limit 140 kW")).to_be_visible()
    run.click()
    expect(page.get_by_text(re.compile(r"Run #2\. Optimal plan"))).to_be_visible(timeout=120_000)
    # the page re-renders after the status line: poll the metric until it shows run #2
    deadline = time.monotonic() + 30
    while float(peak.inner_text().replace(",", "")) > 140 and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert float(peak.inner_text().replace(",", "")) <= 140
    page.get_by_role("link", name="Compare runs").click()
    expect(page.get_by_text("Key figures")).to_be_visible()
    charts = page.locator('[data-testid="stPlotlyChart"]')
    expect(charts).to_have_count(2)
    expect(charts.first.locator(".legendtext").filter(has_text=re.compile(r"^import limit 140 kW \("))).to_have_count(1)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "app-compare.png"))


def test_a_broken_upload_shows_the_message_in_the_page(page):
    from playwright.sync_api import expect

    page.get_by_role("link", name="Plan", exact=True).click()
    page.get_by_text("Upload your own scenario").click()
    page.locator('[data-testid="stSidebar"] input[type="file"]').first.set_input_files(
        files=[{"name": "broken.zip", "mimeType": "application/zip", "buffer": _broken_zip()}]
    )
    alert = page.get_by_text(re.compile(r"sessions\.csv line 3: 'arrival' = 'yesterday morning' is not a time"))
    expect(alert).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "app-upload-error.png"))


GRID_VIEWS = [
    # scenario, its sections after the KPI row, a legend entry of each figure, the screenshot
    (
        "grid-feeder-surplus",
        ["Grid load with and without the fleet", "Renewable surplus absorbed", "Flexibility envelope"],
        ["Grid with the plan (peak", "Absorbed by the plan (", "Guaranteed band"],
        "app-grid.png",
    ),
    (
        "grid-workplace-carbon",
        ["Emissions", "Utility events and grid limits", "Flexibility envelope"],
        ["Emissions, plan (", "Import cap 115 kW, 16:00–21:00", "Guaranteed band"],
        "app-grid-events.png",
    ),
    (
        "grid-v2g-dispatch",
        ["Tracking the target", "Utility events and grid limits", "Flexibility envelope"],
        ["Target (target_kw)", "Export requested (below zero)", "Guaranteed band"],
        "app-grid-tracking.png",
    ),
]


def test_the_grid_view_shows_what_each_grid_scenario_does_for_the_grid(page):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1400, "height": 4400})  # the whole Grid page in one screenshot
    try:
        for name, sections, legends, shot in GRID_VIEWS:
            page.get_by_role("link", name="Plan", exact=True).click()
            page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
            page.get_by_role("option", name=name, exact=True).click()
            expect(page.locator("h1").first).to_have_text(name)
            expect(page.get_by_text("Press Run optimization")).to_be_visible()
            # the previous scenario's status is gone (not left stale while the page reruns): the next one is this run's
            expect(page.get_by_text(re.compile(r"Run #\d+\."))).to_have_count(0)
            page.get_by_role("button", name="Run optimization").click()
            expect(page.get_by_text(re.compile(r"Run #\d+\. Optimal plan"))).to_be_visible(timeout=120_000)

            page.get_by_role("link", name="Grid", exact=True).click()
            expect(page.locator("h1").first).to_have_text(f"Grid: {name}")
            headings = page.locator('[data-testid="stHeading"] h3')
            expect(headings).to_have_text(["For the grid", *sections, "Pareto front"])
            charts = page.locator('[data-testid="stPlotlyChart"]')
            expect(charts).to_have_count(len(sections))
            for chart, legend in zip(charts.all(), legends, strict=True):
                expect(chart.locator(".legendtext").filter(has_text=legend).first).to_be_visible()
            assert page.locator('[data-testid="stMetric"]').count() >= 3
            if name == "grid-workplace-carbon":  # the front, on request: cost against emissions, with the run's plan
                page.get_by_role("button", name="Compute the front").click()
                expect(charts).to_have_count(len(sections) + 1, timeout=120_000)
                front = charts.last
                expect(front.locator(".gtitle")).to_contain_text("Cost against emissions")
                expect(front.locator(".legendtext").filter(has_text="This run's plan")).to_have_count(1)
                expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(1)
            expect(page.get_by_text("Traceback")).to_have_count(0)
            page.wait_for_timeout(800)  # let plotly finish its transitions
            page.screenshot(path=str(ARTIFACTS / shot))
    finally:
        page.set_viewport_size({"width": 1440, "height": 2400})


def _pick(page, name: str) -> None:
    """Choose a scenario in the sidebar."""
    from playwright.sync_api import expect

    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=name, exact=True).click()
    expect(page.locator("h1").first).to_have_text(name)


def test_stop_returns_the_best_plan_so_far(page):
    from playwright.sync_api import expect

    page.get_by_role("link", name="Plan", exact=True).click()
    _pick(page, HARD)
    page.get_by_role("button", name="Run optimization").click()
    expect(page.get_by_text(re.compile(rf"Optimizing {HARD}"))).to_be_visible(timeout=30_000)
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    expect(page.get_by_text(re.compile(r"Best plan so far: [\d,.-]+"))).to_be_visible(timeout=30_000)  # live progress
    page.screenshot(path=str(ARTIFACTS / "app-solving.png"))
    t0 = time.monotonic()
    stop.click()
    expect(page.get_by_text(re.compile(r"Run #\d+\. Stopped by you after"))).to_be_visible(timeout=30_000)
    stopped_after = time.monotonic() - t0
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(11)
    expect(page.locator('[class*="st-key-site_power_"] .main-svg').first).to_be_visible()
    assert stopped_after < 20, stopped_after  # the 60 s limit was not waited for
    expect(page.get_by_role("button", name="Run optimization")).to_be_enabled()  # a stopped run may run again


def test_compare_four_runs_of_different_scenarios(page):
    """The last four runs (three grid scenarios and the stopped hard day) are ticked by default."""
    from playwright.sync_api import expect

    page.get_by_role("link", name="Compare runs").click()
    expect(page.get_by_text("Key figures")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Different scenarios \(4\)"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"Different currencies"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"Stopped before the target gap"))).to_be_visible()
    charts = page.locator('[data-testid="stPlotlyChart"]')
    expect(charts).to_have_count(2)
    overlay = charts.first.locator(".legendtext")
    expect(overlay.filter(has_text=re.compile(rf"^#\d+ {HARD}$"))).to_have_count(1)  # short labels in the legend
    for legend in overlay.all():
        assert len(legend.text_content()) <= 80
    tables = page.locator('[data-testid="stDataFrame"]')
    expect(tables).to_have_count(3)  # the runs, their key figures, the differences
    expect(page.get_by_role("button", name="Comparison (.csv)")).to_be_visible()
    with page.expect_download() as dl:
        page.get_by_role("button", name="Comparison (.csv)").click()
    download = dl.value
    assert re.fullmatch(r"compare-runs(-\d+){4}\.csv", download.suggested_filename)
    page.mouse.move(0, 0)  # no tooltip in the screenshots
    text = Path(download.path()).read_text()
    assert text.count("\n") == 5 and HARD in text  # a header and one row per run
    _screenshots(page, "compare")


def test_a_reload_keeps_the_runs_and_the_url_keeps_the_edits(page, app_url):
    from playwright.sync_api import expect

    page.reload()
    expect(page.get_by_text("Key figures")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Different scenarios \(4\)"))).to_be_visible()
    # the second run of the first test: workplace-acn with an import limit of 140 kW, from a link
    page.goto(f"{app_url}/?scenario=workplace_acn&import_limit_kw=140.0")
    expect(page.locator("h1").first).to_have_text("workplace-acn")
    expect(page.get_by_text("import limit 140 kW").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"Run #2\. Optimal plan"))).to_be_visible()
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(11)


def _screenshots(page, name: str) -> None:
    """The page at 1400 and 800 px wide, whole (the viewport as tall as the page's content), in tests/artifacts/."""
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(500)
        height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
        page.set_viewport_size({"width": width, "height": min(max(height, 1000), 8000)})
        page.wait_for_timeout(800)  # let the layout and plotly settle
        page.screenshot(path=str(ARTIFACTS / f"app-{name}-{width}.png"))
    page.set_viewport_size({"width": 1440, "height": 2400})


#: Elements whose text must never be cut: everything inside a KPI card, buttons and their labels.
READABLE = (
    '[data-testid="stMetric"], [data-testid="stMetric"] *, [data-testid="stButton"] button, '
    '[data-testid="stButton"] button *, [data-testid="stDownloadButton"] button, '
    '[data-testid="stDownloadButton"] button *'
)


def _cut_texts(page) -> list[str]:
    """Texts of READABLE elements that overflow their box (scrollWidth > clientWidth)."""
    return page.evaluate(
        """(sel) => [...document.querySelectorAll(sel)]
            .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
            .map(e => e.innerText.trim() + ' (' + e.scrollWidth + ' > ' + e.clientWidth + ')')""",
        READABLE,
    )


def test_800_px_every_kpi_and_button_is_readable_and_screenshots(page, app_url):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/?scenario=workplace_acn&import_limit_kw=140.0")
    expect(page.get_by_text(re.compile(r"Run #2\. Optimal plan"))).to_be_visible()
    for width in (800, 1400):
        page.set_viewport_size({"width": width, "height": 1400})
        page.wait_for_timeout(800)
        metrics = page.locator('[data-testid="stMetric"]')
        expect(metrics).to_have_count(11)
        assert _cut_texts(page) == [], width
        for m in metrics.all():  # every card inside the page's width
            box = m.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
    _screenshots(page, "plan")
    page.get_by_role("link", name="Grid", exact=True).click()
    expect(page.locator("h1").first).to_contain_text("Grid: ")
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible()
    page.set_viewport_size({"width": 800, "height": 1400})
    page.wait_for_timeout(800)
    assert _cut_texts(page) == []
    _screenshots(page, "grid")


def test_the_feeder_page_reads_a_feeder_results_folder(page, app_dirs):
    """A hand-made `gridopt feeder` results folder (tests/test_app_feeder.py): map, loading, voltage, violations."""
    from playwright.sync_api import expect
    from test_app_feeder import write_feeder

    folder = write_feeder(app_dirs[1].parent / "toy-feeder")
    page.set_viewport_size({"width": 1400, "height": 1400})
    page.get_by_role("link", name="Feeder", exact=True).click()
    expect(page.locator("h1").first).to_have_text("Feeder")
    box = page.get_by_role("textbox", name="Feeder results folder")
    box.fill(str(folder))
    box.press("Enter")
    expect(page.get_by_text("Violations (4)")).to_be_visible()
    charts = page.locator('[data-testid="stPlotlyChart"]')
    expect(charts).to_have_count(3)
    expect(charts.first.locator(".legendtext").filter(has_text="loading 90-100%")).to_have_count(1)
    page.set_viewport_size({"width": 800, "height": 1400})
    page.wait_for_timeout(800)
    assert _cut_texts(page) == []
    _screenshots(page, "feeder")


def test_time_from_run_to_charts_for_the_ready_scenarios(page, app_url, app_dirs):
    """Reported in tests/artifacts/timings.json and docs/app.md, not asserted (a shared machine).

    Each ready scenario with a fresh time limit (a new solve, not a run kept from the tests above):
    from the click on Run to the new run's status and every visible chart of it drawn (site power and
    state of charge: their keys carry the run's number).
    """
    import json

    from playwright.sync_api import expect

    from gridopt.ui import store

    page.set_viewport_size({"width": 1400, "height": 1400})
    out = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        page.goto(f"{app_url}/?scenario={path.stem}&time_limit_s=29.0")
        run = page.get_by_role("button", name="Run optimization")
        expect(page.get_by_text("time limit 29 s").first).to_be_visible()  # the link's edit is applied
        expect(run).to_be_enabled()
        os.environ["GRIDOPT_APP_DIR"], before = str(app_dirs[1]), os.environ.get("GRIDOPT_APP_DIR")
        try:
            number = max(store.numbers(), default=0) + 1  # the number the app gives the next run
        finally:
            os.environ.pop("GRIDOPT_APP_DIR") if before is None else os.environ.update(GRIDOPT_APP_DIR=before)
        page.wait_for_timeout(300)  # the page is idle
        t0 = time.monotonic()
        run.click()
        page.wait_for_function(
            """(n) => [...document.querySelectorAll('[data-testid="stAlertContentSuccess"],'
                    + '[data-testid="stAlertContentWarning"]')].some(e => e.innerText.includes('Run #' + n + '.'))
                && document.querySelector('.st-key-site_power_' + n + ' .scatterlayer .trace')
                && document.querySelector('.st-key-soc_' + n + ' .scatterlayer .trace')""",
            arg=number,
            polling="raf",
            timeout=120_000,
        )
        seconds = round(time.monotonic() - t0, 2)
        alerts = page.locator('[data-testid="stAlertContentSuccess"], [data-testid="stAlertContentWarning"]')
        status = alerts.filter(has_text=f"Run #{number}.").first.inner_text()
        waited = re.search(r"You waited ([\d.]+) s", status)  # the server's part: the click's rerun to the plan
        out[path.stem] = {"click_to_charts_s": seconds, "server_s": float(waited.group(1)) if waited else None}
    out["load_average_1min"] = os.getloadavg()[0]
    (ARTIFACTS / "timings.json").write_text(json.dumps(out, indent=1))
    print("click to charts [s]:", out)


def test_no_request_leaves_127_0_0_1(page):
    from urllib.parse import urlparse

    hosts = {urlparse(u).hostname for u in REQUESTS if not u.startswith(("data:", "blob:"))}
    assert REQUESTS and hosts == {"127.0.0.1"}, sorted(hosts)
