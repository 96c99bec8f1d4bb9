"""The Streamlit app, driven by streamlit.testing.v1.AppTest (no browser).

Every page renders for every shipped scenario, before and after a run; a widget
changes the KPIs; broken uploads and bad edits show gridopt's message, never a
traceback. Solves use a short time limit and are cached across tests (the cache
is per process, keyed on the scenario's content).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import gridopt
from gridopt import report
from gridopt.io.save import scenario_zip
from gridopt.scenario import step_inputs

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
STEMS = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
TIME_LIMIT_S = 5.0
COMPARE = "gridopt/ui/pages/compare.py"
PLAN = "gridopt/ui/pages/plan.py"
GRID = "gridopt/ui/pages/grid.py"


@pytest.fixture(autouse=True)
def _run_store(tmp_path, monkeypatch):
    """Each test keeps its runs in its own folder (never the user's data directory)."""
    monkeypatch.setenv("GRIDOPT_APP_DIR", str(tmp_path / "app-data"))


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120).run()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def choose(at: AppTest, stem: str) -> AppTest:
    at.selectbox(key="source").set_value(f"ready:{stem}").run()
    at.number_input(key=f"edit:ready:{stem}:time_limit_s").set_value(TIME_LIMIT_S).run()
    return ok(at)


def run(at: AppTest) -> AppTest:
    """Click Run and rerun the page until the background solve is collected (AppTest does not poll fragments)."""
    at.button(key="run").click().run()
    deadline = time.monotonic() + 120
    while at.session_state["job"] if "job" in at.session_state else None:
        assert time.monotonic() < deadline, "the solve did not finish"
        time.sleep(0.1)
        at.run()
    return ok(at)


def metric(at: AppTest, label: str) -> float:
    """A card's value by its label without the unit (``'Total cost'`` for ``'Total cost [EUR]'``)."""
    m = next(m for m in at.metric if m.label == label or m.label.split(" [")[0] == label)
    return float(m.value.replace(",", ""))


def charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


@pytest.mark.parametrize("stem", STEMS)
def test_every_page_renders_for_every_scenario(stem):
    sc = gridopt.load_scenario(ROOT / "scenarios" / f"{stem}.yaml")
    at = choose(new_app(), stem)
    assert at.title[0].value == sc.name
    assert charts(at) == 2  # the input data and the vehicles plugged in, before any run
    assert not at.metric

    run(at)
    assert len(at.metric) == 11
    status = texts(at.success) + texts(at.warning)
    assert "Run #1." in status
    assert charts(at) == 2  # site power and the open tab's (SoC): closed tabs are not drawn
    assert [b.label for b in at.download_button] == [
        "schedule.csv",
        "site.csv",
        "summary.json",
        "vehicles.csv",
        "setpoints.csv",
        "Scenario (.zip)",
    ]
    assert metric(at, "Total cost") > 0
    assert metric(at, "Cost per kWh") > 0

    ok(at.switch_page(COMPARE).run())
    assert at.title[0].value == "Compare runs"
    assert "Run at least two plans" in texts(at.info)

    ok(at.switch_page(GRID).run())
    check_grid_page(at, sc)

    ok(at.switch_page(PLAN).run())  # back: the edits and the run are still there
    assert at.number_input(key=f"edit:ready:{stem}:time_limit_s").value == TIME_LIMIT_S
    assert len(at.metric) == 11


def check_grid_page(at: AppTest, sc) -> None:
    """The Grid page of the last run: a card for every grid KPI the summary has, a figure for every signal."""
    summary = at.session_state["runs"][-1].result.summary
    assert at.title[0].value == f"Grid: {sc.name}"
    st_ = step_inputs(sc)
    expected = [
        k
        for k in report.GRID_KPIS
        if summary.get(k.key) is not None and (k.key != "export_request_shortfall_kwh" or len(st_.request_steps))
    ]
    expected += [k for k in report.FLEX_KPIS if summary.get(k.key) is not None]
    assert [m.label for m in at.metric] == [report.label_with_unit(k) for k in expected]
    for m, k in zip(at.metric, expected, strict=True):
        assert m.value == report.fmt_number(k, report.kpi_value(summary, k.key))
    sections = [
        title
        for title, present in (
            ("Grid load with and without the fleet", st_.has_net_load),
            ("Renewable surplus absorbed", st_.renewable_surplus_kw is not None),
            ("Emissions", st_.carbon_kg_per_kwh is not None),
            ("Tracking the target", st_.target_kw is not None),
            ("Utility events and grid limits", bool(sc.events) or "import_limit_kw" in sc.series),
            ("Flexibility envelope", sc.chargers is None),  # refused with chargers (gridopt.grid.flexibility)
        )
        if present
    ]
    assert [h.value for h in at.subheader] == ["For the grid", *sections, "Pareto front"]
    assert charts(at) == len(sections)  # the front only when asked for


def test_changing_the_import_limit_changes_the_kpis_and_runs_compare():
    at = choose(new_app(), "workplace_acn")
    run(at)
    peak, cost = metric(at, "Peak import [kW]"), metric(at, "Total cost")
    assert peak > 150

    at.number_input(key="edit:ready:workplace_acn:import_limit_kw").set_value(140.0).run()
    ok(at)
    assert "import limit 140 kW" in texts(at.markdown)
    assert "The inputs changed since run #1" in texts(at.info)
    run(at)
    peak2 = metric(at, "Peak import [kW]")
    assert peak2 <= 140.0 + 1e-6
    assert metric(at, "Total cost") != cost
    assert "Run #2." in texts(at.success) + texts(at.warning)

    ok(at.switch_page(COMPARE).run())
    runs_table, values, deltas = (d.value for d in at.dataframe)
    labels = ["#1 workplace-acn: time limit 5 s", "#2 workplace-acn: 2 edits"]  # short; the edits in their column
    assert runs_table["label"].tolist() == labels and runs_table["compare"].all()
    assert runs_table["edits"].tolist()[1] == "import limit 140 kW, time limit 5 s"
    assert values.index.tolist() == labels  # one row per run
    assert values["Peak import [kW]"].tolist() == [f"{peak:,.1f}", f"{peak2:,.1f}"]
    assert values["Total cost [USD]"].iloc[0] == f"{cost:,.2f}"
    assert deltas.index.tolist() == [labels[1]]
    assert not at.warning  # one scenario, one currency, horizon and step
    assert charts(at) == 2 and [b.label for b in at.download_button] == ["Comparison (.csv)"]


def test_an_import_limit_below_the_base_load_explains_why_there_is_no_plan():
    at = choose(new_app(), "workplace_acn")
    at.number_input(key="edit:ready:workplace_acn:import_limit_kw").set_value(120.0).run()
    run(at)
    errors = texts(at.error)
    assert "No plan can keep to the site's import limit." in errors
    assert "base load 134.6 kW" in errors  # gridopt's own diagnosis, naming the step and the figures
    assert not at.metric


def _zip_with(sc, edit) -> bytes:
    """The zip of ``sc`` with ``edit(name, bytes) -> bytes`` applied to every entry."""
    src = zipfile.ZipFile(io.BytesIO(scenario_zip(sc)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in src.namelist():
            z.writestr(name, edit(name, src.read(name)))
    return buf.getvalue()


@pytest.fixture(scope="module")
def acn():
    return gridopt.load_scenario(ROOT / "scenarios" / "workplace_acn.yaml")


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="upload_file").upload(name, data, "application/zip").run()
    return ok(at)


def test_a_broken_upload_shows_gridopts_message_not_a_traceback(acn):
    def bad_number(name, data):
        if name.endswith("vehicles.csv"):
            lines = data.decode().splitlines()
            lines[2] = lines[2].replace("58.0", "fifty-eight", 1)
            return ("\n".join(lines) + "\n").encode()
        return data

    at = upload(new_app(), "broken.zip", _zip_with(acn, bad_number))
    errors = texts(at.error)
    assert "Your upload broken.zip was not loaded." in errors
    assert "vehicles.csv line 3: 'battery_kwh' = 'fifty-eight' is not a number" in errors
    assert at.selectbox(key="source").value == "ready:depot_bus_v2g"  # still the scenario it had


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("notes.zip", b"just text", "notes.zip: not a zip file"),
        ("escape.zip", None, "points outside"),
        ("yaml.zip", None, "points outside the scenario's folder"),
    ],
)
def test_unsafe_uploads_are_refused_with_a_message(acn, name, data, message):
    if name == "escape.zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("s.yaml", "name: x\n")
            z.writestr("../../../tmp/evil.csv", "x\n")
        data = buf.getvalue()
    elif name == "yaml.zip":
        data = _zip_with(
            acn, lambda n, d: d.replace(b"data/vehicles.csv", b"../../../etc/passwd") if n.endswith(".yaml") else d
        )
    at = upload(new_app(), name, data)
    assert message in texts(at.error)


def test_a_good_upload_becomes_the_scenario(acn):
    renamed = _zip_with(
        acn, lambda n, d: d.replace(b"name: workplace-acn", b"name: my-car-park") if n.endswith(".yaml") else d
    )
    at = upload(new_app(), "mine.zip", renamed)
    assert at.selectbox(key="source").value.startswith("upload:")
    assert at.title[0].value == "my-car-park"
    assert not at.error


def test_a_bad_edit_shows_the_message_and_blocks_the_run():
    at = choose(new_app(), "depot_bus_v2g")
    at.number_input(key="edit:ready:depot_bus_v2g:horizon_hours").set_value(48.0).run()
    ok(at)
    assert "This edit cannot be used." in texts(at.error) and "timeseries.csv" in texts(at.error)
    assert at.button(key="run").disabled


def test_a_tou_table_that_does_not_parse_names_its_line():
    at = choose(new_app(), "pv_tight_grid")
    at.radio(key="edit:ready:pv_tight_grid:import_mode").set_value("Time-of-use table").run()
    ok(at)
    at.text_area(key="edit:ready:pv_tight_grid:import_tou").set_value("00:00 0.12\n25:00 0.30").run()
    ok(at)
    assert "Time-of-use table line 2: '25:00' is not a time of day" in texts(at.error)
    assert at.button(key="run").disabled


def test_the_grid_page_before_any_run_points_to_the_plan_page():
    at = ok(new_app().switch_page(GRID).run())
    assert at.title[0].value == "Grid"
    assert "Run a plan on the **Plan** page first" in texts(at.info)
    assert charts(at) == 0 and not at.metric


def test_the_grid_page_shows_the_hand_worked_grid_kpis(tmp_path, monkeypatch):
    """The scenario and its figures are worked out in tests/test_grid_view.py's docstring.

    It is offered as a ready scenario (an upload cannot be run in AppTest: the
    scenario picker's labels need the session, which AppTest's widget lookup lacks).
    """
    from test_grid_view import grid_site

    from gridopt.ui import state

    path = grid_site(tmp_path / "ready")  # writes ready/scenario.yaml
    monkeypatch.setattr(state, "SCENARIO_DIR", tmp_path / "ready")
    at = choose(new_app(), "scenario")
    run(at)
    ok(at.switch_page(GRID).run())
    # the flexibility left within the guaranteed band, step by step, for the plan's fleet power
    # 0, 10, 10, 0 and uncontrolled charging's 10, 10, 0, 0
    band = gridopt.grid.flexibility(gridopt.load_scenario(path)).inner
    lo, hi = band["p_min_kw"].to_numpy(), band["p_max_kw"].to_numpy()

    def flex(p):
        p = np.array(p, dtype=float)
        return np.maximum(0, hi - p).sum(), np.maximum(0, p - lo).sum()  # kWh: 1-hour steps

    (up, down), (b_up, b_down) = flex([0, 10, 10, 0]), flex([10, 10, 0, 0])
    cards = {m.label: (m.value, m.delta) for m in at.metric}
    assert cards.pop("Flexibility up [kWh]") == (f"{up:.1f}", f"{up - b_up:+.1f}" if up != b_up else "0")
    assert cards.pop("Flexibility down [kWh]") == (f"{down:.1f}", f"{down - b_down:+.1f}" if down != b_down else "0")
    assert cards == {
        "Emissions [kg]": ("3.0", "-3.0"),  # 0.1 x 10 + 0.2 x 10 against 0.5 x 10 + 0.1 x 10
        "Grid peak [kW]": ("60.0", "-10.0"),  # 60 against 70
        "Peak reduction [kW]": ("10.0", ""),
        "Surplus used [kWh]": ("15.0", "+5.0"),
        "Surplus share [%]": ("75.0", "+25.0"),  # 15 of 20 kWh against 10 of 20
        "Load std [kW]": ("4.1", "-5.5"),  # sqrt(68.75 / 4) - sqrt(368.75 / 4)
        "Off target [kWh]": ("0.0", "-20.0"),
    }
    assert "**Events:** Import cap 5 kW, 00:00–01:00" in texts(at.markdown)
    assert "carbon cost 3.00" in texts(at.caption)  # 1 per kg x 3 kg
    assert charts(at) == 6


def test_the_grid_page_shows_the_run_the_plan_page_shows():
    at = choose(new_app(), "grid_v2g_dispatch")
    run(at)
    choose(at, "grid_feeder_surplus")
    run(at)
    ok(at.switch_page(GRID).run())
    assert at.title[0].value == "Grid: grid-feeder-surplus"
    assert at.selectbox(key="grid_run").value == 2

    ok(at.switch_page(PLAN).run())
    choose(at, "grid_v2g_dispatch")  # its run #1 again: nothing changed
    assert "Run #1." in texts(at.success) + texts(at.warning)
    ok(at.switch_page(GRID).run())
    assert at.title[0].value == "Grid: grid-v2g-dispatch"
    assert "Tracking the target" in [h.value for h in at.subheader]

    at.selectbox(key="grid_run").set_value(2).run()  # another run of the session
    ok(at)
    assert at.title[0].value == "Grid: grid-feeder-surplus"


def test_the_pareto_front_on_the_grid_page_is_the_hand_worked_one(tmp_path, monkeypatch):
    """One car needs 20 kWh in 4 hours at up to 10 kW; import 0.1, 0.2, 0.3, 0.4 per kWh, carbon 0.5, 0.1,
    0.2, 0.4 kg/kWh. Point 0 (no carbon price): hours 0 and 1, cost 3.0, 6 kg. Least emissions: hours 1
    and 2, 3 kg, cost 5.0. Point 1, capped at 6 - (6 - 3) / 2 = 4.5 kg: moving a kWh from hour 0 to hour 2
    costs 0.2 and saves 0.3 kg (to hour 3: 0.3 for 0.1 kg), so 5 kWh move: cost 4.0. The run (1 per kg)
    charges hours 1 and 2: the star at (3 kg, 5.0).
    """
    from test_grid_view import grid_site

    from gridopt.ui import state

    grid_site(tmp_path / "ready", rising_price=True)
    monkeypatch.setattr(state, "SCENARIO_DIR", tmp_path / "ready")
    at = run(choose(new_app(), "scenario"))
    ok(at.switch_page(GRID).run())
    assert "Pareto front" in [h.value for h in at.subheader]
    assert at.radio(key="pareto_trade").options == ["Cost vs emissions", "Cost vs grid peak"]
    assert charts(at) == 5  # no events here; and no front before the button
    at.number_input(key="pareto_points").set_value(3).run()
    at.button(key="pareto_run").click().run()
    ok(at)
    table = at.dataframe[0].value
    assert table["emissions [kg]"].tolist() == pytest.approx([6.0, 4.5, 3.0], abs=1e-4)
    assert table["cost"].tolist() == pytest.approx([3.0, 4.0, 5.0], abs=1e-4)
    assert table["status"].tolist() == ["optimal"] * 3 and not table["dominated"].any()
    spec = json.loads(at.get("plotly_chart")[-1].proto.spec)
    star = next(d for d in spec["data"] if d.get("name") == "This run's plan")
    assert [*star["x"], *star["y"]] == pytest.approx([3.0, 5.0])
