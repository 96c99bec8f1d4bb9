"""KPI formatting and comparisons, and the figures drawn from a solved plan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import car, write_scenario

import gridopt
from gridopt import plots, report


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """A small site with PV (more than it can use), V2G, export, a trip and an evening price peak."""
    folder = tmp_path_factory.mktemp("plots")
    idx = pd.date_range("2026-06-15T00:00:00+02:00", periods=24, freq="1h")
    ts = pd.DataFrame(
        {
            "time": [t.isoformat() for t in idx],
            "import_price": np.where((idx.hour >= 17) & (idx.hour < 21), 0.40, 0.15),
            "export_price": np.where((idx.hour >= 17) & (idx.hour < 21), 0.30, 0.02),
            "base_load_kw": 5.0,
            "pv_kw": np.clip(40 * np.sin((idx.hour - 6) / 14 * np.pi), 0, None).round(2),
        }
    )
    path = write_scenario(
        folder,
        vehicles=[car("EV1", max_discharge_kw=10.0), car("EV2", initial_soc=0.2, final_soc=0.6)],
        trips=[
            {
                "vehicle_id": "EV2",
                "departure": "2026-06-15T07:00:00+02:00",
                "arrival": "2026-06-15T16:00:00+02:00",
                "energy_kwh": 5.0,
            }
        ],
        timeseries=ts,
        horizon_hours=24,
        site={"import_limit_kw": 30, "export_limit_kw": 10},
        tariff={"demand_charge_per_kw": 1.0},
    )
    sc = gridopt.load_scenario(path)
    return gridopt.optimize(sc)


def trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_site_power_stacks_balance_in_every_step(solved):
    fig = plots.site_power(solved, baseline=True)
    names = [t.name for t in fig.data]
    for expected in (
        "Grid import",
        "PV used",
        "V2G discharge",
        "PV curtailed (not used)",
        "Base load",
        "EV charging",
        "Grid export",
        "Grid import, uncontrolled",
        "Import price (right axis)",
    ):
        assert expected in names
    assert any(n.startswith("Import limit 30 kW") for n in names)
    supply = sum(np.asarray(t.y) for t in fig.data if t.stackgroup == "supply" and not t.name.startswith("PV curt"))
    use = sum(np.asarray(t.y) for t in fig.data if t.stackgroup == "use")
    assert np.allclose(supply, -use, atol=1e-6)  # what comes in goes somewhere
    n = solved.scenario.grid.n_steps
    assert len(trace(fig, "Grid import").x) == n + 1  # steps drawn to the end of the last one
    assert trace(fig, "Import price (right axis)").yaxis == "y2"


def test_soc_panels_mark_trips_and_requirements(solved):
    fig = plots.soc(solved, ["EV1", "EV2"])
    names = {t.name for t in fig.data}
    assert {"SoC, optimized", "SoC, uncontrolled", "On a trip", "Requirement met"} <= names
    soc = [t for t in fig.data if t.name == "SoC, optimized"]
    assert len(soc) == 2 and all(np.nanmax(np.asarray(t.y, dtype=float)) <= 100 for t in soc)
    req = [t for t in fig.data if t.name == "Requirement met"]
    assert any(np.isclose(y, 100 * (0.0 * 50 + 5.0) / 50) for t in req for y in t.y)  # EV2's trip needs 5 kWh


def test_heatmap_is_vehicles_by_steps_and_blank_while_away(solved):
    fig = plots.charging_heatmap(solved)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (2, solved.scenario.grid.n_steps)
    away = ~solved.schedule["plugged_in"].to_numpy(bool).reshape(2, -1)
    assert np.isnan(z[away]).all() and not np.isnan(z[~away]).any()
    assert (z < 0).any() and (z > 0).any()  # V2G and charging both appear


def test_inputs_overlay_and_cost_bars_build(solved):
    sc = solved.scenario
    assert {t.name for t in plots.inputs(sc).data} >= {"Base load", "PV available", "Import price (right axis)"}
    fig = plots.import_overlay([("a", solved.site, 60, 30.0), ("b", solved.baseline_site, 60, float("inf"))])
    assert [t.name for t in fig.data] == ["a", "import limit 30 kW (a)", "b"]
    bars = plots.cost_bars({"a": solved.summary}, baseline_of="a")
    assert list(bars.data[0].y) == ["a: uncontrolled", "a"]


def test_kpi_text():
    k = report.KPI_BY_KEY
    assert report.fmt_value(k["total_cost"], 12345.678) == "12,346"
    assert report.fmt_value(k["total_cost"], 2764.876) == "2,764.88"
    assert report.fmt_value(k["peak_import_kw"], 345.64) == "345.6 kW"
    assert report.fmt_value(k["pv_self_consumption"], None) == "–"
    assert report.fmt_delta(k["total_cost"], -10134.2) == "-10,134"
    assert report.fmt_delta(k["peak_import_kw"], 0.01) == "0"
    assert report.fmt_delta(k["pv_self_consumption"], 6.3) == "+6.3 pp"
    assert report.label_with_unit(k["v2g_energy_kwh"]) == "V2G energy [kWh]"
    assert report.fmt_gap(3e-9) == "below 0.01%" and report.fmt_gap(0.0123) == "1.23%"
    assert report.status_text({"status": "optimal", "mip_gap": 0.0}, 2.04).startswith("Optimal plan")
    assert "time limit" in report.status_text({"status": "time_limit", "mip_gap": 0.02, "solve_seconds": 30})


def test_comparison_table_and_verdicts(solved):
    a = solved.summary
    b = dict(a, total_cost=a["total_cost"] + 10, peak_import_kw=a["peak_import_kw"] - 5, pv_self_consumption=None)
    table = report.compare_table({"A": a, "B": b}, "A")
    assert table.loc["Total cost", "Δ B"] == pytest.approx(10)
    assert table.loc["Peak import", "Δ B"] == pytest.approx(-5)
    assert table.loc["PV self-use", "Δ B"] is None or np.isnan(table.loc["PV self-use", "Δ B"])
    verdicts = report.compare_verdicts({"A": a, "B": b}, "A")
    assert verdicts.loc["Total cost", "Δ B"] == "worse" and verdicts.loc["Peak import", "Δ B"] == "better"
    assert verdicts.loc["V2G energy", "Δ B"] == "same"  # neither direction is better
