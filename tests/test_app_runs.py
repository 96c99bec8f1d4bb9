"""The app's solves and runs (issue 14): background solves with progress and Stop, runs kept on disk,
the scenario and edits in the query string, Compare across scenarios, honest headlines.

AppTest drives the pages (no browser); the browser walk is tests/test_browser.py.
"""

from __future__ import annotations

import io
import math
import re
import time

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_app import APP, COMPARE, PLAN, charts, choose, metric, new_app, ok, run, texts

import gridopt
from gridopt.synthetic import write_hard_day
from gridopt.ui import compare, state, store
from gridopt.ui.plan import caveats
from gridopt.ui.sidebar import _query_value


@pytest.fixture(autouse=True)
def _run_store(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDOPT_APP_DIR", str(tmp_path / "app-data"))


# ---------------------------------------------------------------------------
# Progress and Stop
# ---------------------------------------------------------------------------


def test_progress_counts_highs_figures_only_where_they_hold_for_the_whole_model():
    p = state.Progress()
    assert p.snapshot() == {"stage": state.STAGES["starting"], "incumbent": math.inf, "bound": -math.inf, "gap": None}
    p.stage("lp", 120.0, -math.inf)  # the greedy plan
    p.highs(90.0, 80.0)  # a MIP relaxation inside the LP stage: neither a plan nor (here) counted
    assert (p.incumbent, p.bound) == (120.0, -math.inf)
    p.stage("repair", 110.0, 100.0)
    p.stage("neighbourhood", 110.0, 100.0)
    p.highs(105.0, 104.0)  # a restricted model: its plan counts, its bound does not
    assert (p.incumbent, p.bound) == (105.0, 100.0)
    p.stage("mip", 105.0, 100.0)
    p.highs(math.inf, 101.0)  # the whole model: its bound counts
    p.highs(106.0, 99.0)  # never worse than what is known
    snap = p.snapshot()
    assert (snap["incumbent"], snap["bound"]) == (105.0, 101.0)
    assert snap["gap"] == pytest.approx(4.0 / 101.0)  # (incumbent - bound) / |bound|


@pytest.fixture
def hard_ready(tmp_path, monkeypatch):
    """A ready-scenario folder with one hard day (100 vehicles, one-meter binaries, target gap 0: a long solve)."""
    folder = tmp_path / "ready"
    path = write_hard_day(folder, 100, "meter", seed=1, time_limit_s=60.0, mip_rel_gap=0.0)
    path.rename(folder / "hard_day.yaml")
    monkeypatch.setattr(state, "SCENARIO_DIR", folder)
    return folder / "hard_day.yaml"


def test_stop_returns_the_best_checked_plan_so_far(hard_ready):
    at = new_app()
    assert at.selectbox(key="source").value == "ready:hard_day"
    at.button(key="run").click().run()
    ok(at)
    job = at.session_state["job"]
    assert job is not None and not job.done  # still solving after the page's first wait
    assert "Optimizing" in texts(at.markdown) and at.button(key="stop")
    t_stop = time.monotonic()
    at.button(key="stop").click().run()
    while at.session_state["job"] if "job" in at.session_state else None:
        assert time.monotonic() - t_stop < 30, "Stop did not end the solve"
        time.sleep(0.1)
        at.run()
    ok(at)
    r = at.session_state["runs"][-1]
    assert r.stopped and r.result is not None
    s = r.result.summary
    assert s["termination"] in ("Interrupted by user", "time limit before the LP") or s["method"].endswith("greedy")
    assert s["status"] == "time_limit" and r.wall_seconds < 20  # long before the 60 s limit
    assert "Stopped by you after" in texts(at.warning)
    assert len(at.metric) == 11 and metric(at, "Total cost") == pytest.approx(s["total_cost"], abs=0.01)
    # a stopped run can be run again: the button is enabled and the same inputs start a new solve
    assert not at.button(key="run").disabled


# ---------------------------------------------------------------------------
# Runs on disk, labels, the query string
# ---------------------------------------------------------------------------


def test_short_labels():
    assert state.short_label(3, "depot-bus-v2g", []) == "#3 depot-bus-v2g"
    assert state.short_label(4, "depot-bus-v2g", ["import limit 140 kW"]) == "#4 depot-bus-v2g: import limit 140 kW"
    assert state.short_label(5, "depot-bus-v2g", ["import limit 140 kW", "V2G 50%"]) == "#5 depot-bus-v2g: 2 edits"
    long = state.short_label(6, "a" * 60, ["x"])
    assert len(long) == state.LABEL_MAX and long.endswith("…")


def test_a_reload_keeps_the_runs_and_their_labels():
    at = choose(new_app(), "workplace_acn")
    run(at)
    choose(at, "depot_bus_v2g")
    run(at)
    first = at.session_state["runs"]
    state.relabel(first[0], "  ACN   as is ")  # what the Compare page's label column does
    assert [p.name for p in (store.data_dir() / "runs").iterdir()] != []

    again = ok(new_app().switch_page(COMPARE).run())  # a new session: a reload
    runs = again.session_state["runs"]
    assert [r.number for r in runs] == [1, 2]
    assert [r.label for r in runs] == ["ACN as is", "#2 depot-bus-v2g: time limit 5 s"]
    assert runs[1].result.summary["total_cost"] == first[1].result.summary["total_cost"]
    assert again.dataframe[0].value["label"].tolist() == ["ACN as is", "#2 depot-bus-v2g: time limit 5 s"]

    ok(again.button(key=next(b.key for b in again.button if b.label == "Forget all runs")).click().run())
    assert store.numbers() == [] and not again.session_state["runs"]


def test_a_stored_run_that_does_not_load_is_left_out_with_a_warning():
    at = choose(new_app(), "workplace_acn")
    run(at)
    (store.data_dir() / "runs" / "000007.pkl").write_bytes(b"not a pickle")
    again = ok(new_app())
    assert [r.number for r in again.session_state["runs"]] == [1]
    assert "Stored run #7 could not be read (UnpicklingError) and is left out." in texts(again.warning)


def test_the_scenario_and_edits_come_from_the_query_string_and_go_back_into_it():
    at = app_with_query(scenario="workplace_acn", import_limit_kw="140.0", n_vehicles="20", v2g_pct="oops")
    assert at.selectbox(key="source").value == "ready:workplace_acn"
    assert at.number_input(key="edit:ready:workplace_acn:import_limit_kw").value == 140.0
    assert at.number_input(key="edit:ready:workplace_acn:n_vehicles").value == 20
    assert "The link's v2g_pct=oops does not fit that field and is left out." in texts(at.warning)
    assert "import limit 140 kW" in texts(at.markdown)
    q = dict(at.query_params)
    assert q["scenario"] == ["workplace_acn"] or q["scenario"] == "workplace_acn"
    assert "v2g_pct" not in q and "import_limit_kw" in q


def app_with_query(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    return ok(at.run())


def test_query_values_take_their_fields_type():
    assert _query_value("140.0", 0.0) == 140.0 and isinstance(_query_value("140", 0.0), float)
    assert _query_value("20", 1) == 20 and _query_value("20.5", 1) is None
    assert _query_value("true", False) is True and _query_value("1", False) is None
    assert _query_value('"Constant"', "As in the scenario") == "Constant"
    assert _query_value("NaN", 0.0) is None and _query_value("abc", 0.0) is None


# ---------------------------------------------------------------------------
# The Plan page: unmet energy, caveats, quick runs, downloads
# ---------------------------------------------------------------------------


def test_unmet_energy_is_warned_under_the_status_and_counted_on_the_tab():
    at = choose(new_app(), "workplace_acn")
    run(at)
    s = at.session_state["runs"][-1].result.summary
    unmet = s["unmet_energy_kwh"]
    assert unmet > 0.05
    n = len(s["unmet_events"])
    assert f"**{unmet:,.1f} kWh of the energy the vehicles need is not delivered**: {n} requirement" in texts(
        at.warning
    )
    assert [t.label for t in at.tabs] == ["State of charge", "Charging heatmap", f"Unmet needs ({n})", "Inputs"]


def test_caveats_name_the_baseline_its_energy_and_its_limit_breaks():
    base = {"energy_to_batteries_kwh": 100.0, "import_limit_violation_steps": 3, "peak_import_kw": 250.0}
    s = {"currency": "EUR", "energy_to_batteries_kwh": 100.2, "baseline": base, "unmet_energy_kwh": 0.0}
    lines = caveats(s)
    assert "Costs in EUR." in lines[0]
    assert lines[1] == "Like for like: both store 100 kWh in the batteries."
    assert lines[2].startswith("**Uncontrolled charging breaks the import limit** in 3 steps (peak 250 kW)")
    s["energy_to_batteries_kwh"] = 60.0
    assert caveats(s)[1].startswith("**Not like for like:** the plan stores 60 kWh in the batteries, uncontrolled")
    assert caveats({"baseline": None}) == []


def test_a_quick_run_uses_the_quick_gap_and_says_so():
    at = choose(new_app(), "depot_bus_v2g")
    at.segmented_control(key="run_mode").set_value("Quick").run()
    run(at)
    r = at.session_state["runs"][-1]
    assert r.quick and r.scenario.solver.mip_rel_gap == state.QUICK_GAP
    assert "Quick run (target gap 1%)." in texts(at.success) + texts(at.warning)
    assert at.query_params["mode"] in ("quick", ["quick"])


def test_downloads_are_named_after_the_scenario_and_the_run(tmp_path):
    """The file name is part of the download's media id (AppTest does not serve the files): recompute it
    from the files ``write_results`` (what ``gridopt run`` writes) puts on disk, byte for byte."""
    from streamlit.runtime.memory_media_file_storage import _calculate_file_id

    from gridopt.io.write import write_results

    at = choose(new_app(), "depot_bus_v2g")
    run(at)
    res = at.session_state["runs"][-1].result

    def file_id(button) -> str:
        return button.proto.url.rsplit("/", 1)[-1].split(".")[0]

    # the status reports the wait from the click to the page drawn, never less than the solve itself
    # (unless an earlier test in this process solved the same inputs: then it says the plan is reused)
    r = at.session_state["runs"][-1]
    waited = float(re.search(r"You waited ([\d.]+) s \(from the click to this page\)", texts(at.success)).group(1))
    assert waited == round(r.wall_seconds, 1)
    assert r.wall_seconds >= r.outcome.seconds or r.outcome.reused
    assert ("not solved again" in texts(at.success)) == r.outcome.reused

    written = {p.name: p.read_bytes() for p in write_results(res, tmp_path / "cli")}
    buttons = at.download_button[:-1]  # the last one is the scenario's zip
    assert sorted(b.label for b in buttons) == sorted(written)
    for button in buttons:
        mime = "application/json" if button.label.endswith(".json") else "text/csv"
        expected = _calculate_file_id(written[button.label], mime, f"depot-bus-v2g-run1-{button.label}")
        assert file_id(button) == expected, button.label


def test_the_vehicle_tables_show_units_and_soc_in_percent():
    at = choose(new_app(), "depot_bus_v2g")
    sc = gridopt.load_scenario(state.SCENARIO_DIR / "depot_bus_v2g.yaml")
    vehicles = at.dataframe[0].value
    assert vehicles["min_soc"].tolist() == pytest.approx((100 * sc.vehicles["min_soc"]).tolist())
    assert charts(at) == 2 and "**Vehicles plugged in**" in texts(at.markdown)  # the availability strip


# ---------------------------------------------------------------------------
# Compare: four runs of different scenarios
# ---------------------------------------------------------------------------


def test_compare_four_runs_of_different_scenarios_warns_and_downloads_the_table():
    at = new_app()
    stems = ["depot_bus_v2g", "workplace_acn", "pv_tight_grid", "grid_feeder_surplus"]
    for stem in stems:
        choose(at, stem)
        run(at)
    summaries = [r.result.summary for r in at.session_state["runs"]]
    ok(at.switch_page(COMPARE).run())
    warnings = texts(at.warning)
    assert "**Different currencies**" in warnings
    assert "**Different scenarios** (4)" in warnings
    runs_table, values, deltas = (d.value for d in at.dataframe)
    assert runs_table["compare"].tolist() == [True] * 4
    assert len(values) == 4 and "Currency" in values.columns and len(deltas) == 3
    assert all(len(label) <= state.LABEL_MAX for label in values.index)
    assert compare.download_name(at.session_state["runs"]) == "compare-runs-1-2-3-4.csv"
    csv = pd.read_csv(io.BytesIO(_download_bytes(at)), index_col="label")
    assert csv["total_cost"].tolist() == pytest.approx([s["total_cost"] for s in summaries])
    assert csv["currency"].tolist() == [s["currency"] for s in summaries]
    ok(at.switch_page(PLAN).run())


def _download_bytes(at) -> bytes:
    """The comparison CSV as the page builds it (AppTest does not serve downloads)."""
    chosen = [r for r in at.session_state["runs"] if r.result is not None]
    return compare.key_figures(compare._unique_labels(chosen)).to_csv().encode()


def test_computed_messages_give_times_for_people():
    from gridopt.ui.text import human_times

    text = "3 step(s): 2019-10-02T09:00:00-07:00 to 2019-10-02T09:45:00-07:00; first at 2019-10-02T09:00:30Z"
    assert (
        human_times(text)
        == "3 step(s): Wed 02 Oct 2019 09:00 to Wed 02 Oct 2019 09:45; first at Wed 02 Oct 2019 09:00:30"
    )
    at = choose(new_app(), "workplace_acn")
    at.number_input(key="edit:ready:workplace_acn:import_limit_kw").set_value(120.0).run()
    run(at)
    errors = texts(at.error)
    assert "in 3 step(s): Wed 02 Oct 2019 09:00 to Wed 02 Oct 2019 09:45; worst at Wed 02 Oct 2019 09:00:" in errors
    assert "T09:00:00" not in errors


def test_the_price_axis_and_tooltips_carry_the_currency():
    import json as _json

    at = choose(new_app(), "depot_bus_v2g")
    run(at)
    spec = _json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["yaxis2"]["title"]["text"] == "price [EUR/kWh]"
    by_name = {d["name"]: d for d in spec["data"]}
    assert by_name["Import price (right axis)"]["hovertemplate"] == "%{y:.4f} EUR per kWh"
    charging = by_name["EV charging"]
    assert charging["hovertemplate"] == "EV charging: %{customdata:,.1f} kW into the vehicles<extra></extra>"
    power = _array(charging["customdata"])
    assert power.min() >= 0 and power.max() > 0  # positive, though drawn below zero
    assert _array(charging["y"]).max() <= 0


def _array(value):
    """A plotly JSON array: a list, or numpy's bytes ({"dtype", "bdata"}) as plotly 6 writes them."""
    import base64

    import numpy as np

    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value, dtype=float)


def test_a_reloaded_edited_run_still_downloads_its_scenario():
    """An edited scenario's files live in the session's temporary folder: the zip is made with the run."""
    import zipfile

    at = choose(new_app(), "workplace_acn")  # the time limit edit writes an edited scenario into the workspace
    run(at)
    kept = at.session_state["runs"][-1].scenario_zip
    names = zipfile.ZipFile(io.BytesIO(kept)).namelist()
    assert "workplace-acn/workplace-acn.yaml" in names
    at.session_state["_workspace"].cleanup()  # the session ends: its folder is gone

    again = ok(new_app())  # a reload, same link: the stored run and its zip
    choose(again, "workplace_acn")
    assert "Run #1." in texts(again.success) + texts(again.warning)
    assert [b.label for b in again.download_button][-1] == "Scenario (.zip)"


def test_a_second_run_of_the_same_inputs_says_its_plan_is_reused():
    """Unchanged inputs are not solved twice in one process; the status must not pass the earlier solve's
    time off as this run's (the user waited less than it says) without saying so."""
    first_session = choose(new_app(), "depot_bus_v2g")
    run(first_session)
    at = choose(new_app(), "depot_bus_v2g")  # another session (browser tab) in the same process
    run(at)
    first, second = first_session.session_state["runs"][-1], at.session_state["runs"][-1]
    assert second.outcome.reused and second.outcome.seconds == first.outcome.seconds
    assert "Same inputs as an earlier run: its plan is shown, not solved again." in texts(at.success)
