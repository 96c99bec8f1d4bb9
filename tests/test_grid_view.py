"""The grid view's figures and KPI definitions (gridopt.plots, gridopt.report), on a hand-worked plan.

The scenario (``grid_site``): one car, 4 one-hour steps, plugged in throughout,
50 kWh at 0.5 SoC that must end at 0.9: 20 kWh, two hours at its 10 kW
(efficiency 1). Import price 0.2 flat, carbon 0.5, 0.1, 0.2, 0.4 kg/kWh priced at
1 per kg, so a kWh costs 0.7, 0.3, 0.4, 0.6 in the four hours: the plan charges
in hours 1 and 2 (and the 5 kW import cap of hour 0 forbids hour 0 anyway).
Uncontrolled charging starts at plug-in: hours 0 and 1.

=====================  ===================  ===================
                       plan                 uncontrolled
=====================  ===================  ===================
import [kW]            0, 10, 10, 0         10, 10, 0, 0
net_load_kw            60, 40, 45, 50       60, 40, 45, 50
L = net load + import  60, 50, 55, 50       70, 50, 45, 50
grid peak              60                   70  (reduction 10)
std of L (mean 53.75)  sqrt(68.75/4)=4.146  sqrt(368.75/4)=9.601
emissions              0.1*10+0.2*10 = 3    0.5*10+0.1*10 = 6
surplus 0, 10, 5, 0    min: 0,10,5,0 = 15   0,10,0,0 = 10
share of 20 kWh        75 %                 50 %
target 0, 10, 10, 0    off by 0             10+0+10+0 = 20 kWh
=====================  ===================  ===================
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import car, write_scenario

import gridopt
from gridopt import plots, report

START = "2026-06-15T00:00:00+02:00"


def grid_site(folder, *, grid: bool = True, rising_price: bool = False):
    """Write the hand-worked scenario (see the module docstring).

    ``grid=False``: the same without signals or events. ``rising_price=True``: import
    prices 0.1, 0.2, 0.3, 0.4 and no import cap, for a front with a trade-off (worked
    out in tests/test_app.py).
    """
    folder.mkdir(parents=True, exist_ok=True)
    idx = pd.date_range(START, periods=4, freq="1h")
    fields = {}
    if rising_price:
        fields["timeseries"] = pd.DataFrame(
            {"time": [t.isoformat() for t in idx], "import_price": [0.1, 0.2, 0.3, 0.4]}
        )
    if grid:
        pd.DataFrame(
            {
                "time": [t.isoformat() for t in idx],
                "carbon_kg_per_kwh": [0.5, 0.1, 0.2, 0.4],
                "net_load_kw": [60.0, 40.0, 45.0, 50.0],
                "renewable_surplus_kw": [0.0, 10.0, 5.0, 0.0],
                "target_kw": [0.0, 10.0, 10.0, 0.0],
            }
        ).to_csv(folder / "grid_signals.csv", index=False)
        fields["grid"] = {"signals": "grid_signals.csv", "carbon_price_per_kg": 1.0}
        if not rising_price:
            fields["events"] = [{"kind": "import_cap", "start": START, "end": "2026-06-15T01:00:00+02:00", "kw": 5}]
    return write_scenario(
        folder,
        vehicles=[car("EV1", final_soc=0.9)],
        site={"import_limit_kw": 100, "export_limit_kw": 0, "base_load_kw": 0},
        **fields,
    )


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    sc = gridopt.load_scenario(grid_site(tmp_path_factory.mktemp("grid_view")))
    return gridopt.optimize(sc), gridopt.grid.flexibility(sc)


def trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def steps(t) -> list[float]:
    """A step line's values, without the repeated last one."""
    return [float(v) for v in t.y[:-1]]


def test_the_plan_is_the_hand_worked_one(solved):
    res, _ = solved
    assert res.site["grid_import_kw"].tolist() == pytest.approx([0, 10, 10, 0], abs=1e-6)
    assert res.baseline_site["grid_import_kw"].tolist() == pytest.approx([10, 10, 0, 0], abs=1e-6)


def test_only_figures_whose_signal_exists(solved, tmp_path):
    res, env = solved
    assert list(plots.grid_figures(res, env)) == [
        "grid_load",
        "renewable",
        "emissions",
        "tracking",
        "exchange",
        "envelope",
    ]
    assert list(plots.grid_figures(res)) == ["grid_load", "renewable", "emissions", "tracking", "exchange"]
    plain = gridopt.load_scenario(grid_site(tmp_path / "plain", grid=False))
    res_plain = gridopt.optimize(plain)
    assert list(plots.grid_figures(res_plain, gridopt.grid.flexibility(plain))) == ["envelope"]
    assert plots.grid_figures(res_plain) == {}


def test_grid_load_with_and_without_the_fleet(solved):
    fig = plots.grid_load(solved[0])
    assert steps(trace(fig, "Grid without this site (net_load_kw)")) == [60, 40, 45, 50]
    assert steps(trace(fig, "Grid with the plan (peak 60 kW)")) == pytest.approx([60, 50, 55, 50])
    assert steps(trace(fig, "Grid with uncontrolled charging (peak 70 kW)")) == pytest.approx([70, 50, 45, 50])
    peaks = [t for t in fig.data if t.mode == "markers"]
    assert sorted(float(t.y[0]) for t in peaks) == pytest.approx([60, 70])
    # the import cap's window is shaded, 00:00-01:00 wall clock, and named in the legend
    (shade,) = fig.layout.shapes
    assert (pd.Timestamp(shade.x0), pd.Timestamp(shade.x1)) == (
        pd.Timestamp("2026-06-15 00:00"),
        pd.Timestamp("2026-06-15 01:00"),
    )
    assert shade.name == "Import cap 5 kW, 00:00–01:00" and shade.showlegend


def test_emissions_rate_and_cumulative(solved):
    fig = plots.emissions(solved[0])
    assert steps(trace(fig, "Emissions, plan (3 kg)")) == pytest.approx([0, 1, 2, 0])  # kg/h: 10 kW x 0.1, x 0.2
    assert steps(trace(fig, "Emissions, uncontrolled (6 kg)")) == pytest.approx([5, 1, 0, 0])
    assert list(trace(fig, "cumulative, plan").y) == pytest.approx([0, 0, 1, 3, 3])
    assert list(trace(fig, "cumulative, uncontrolled").y) == pytest.approx([0, 5, 6, 6, 6])
    assert steps(trace(fig, "Carbon intensity (right axis)")) == [0.5, 0.1, 0.2, 0.4]
    assert len(fig.layout.shapes) == 2  # the cap shaded in both panels, one legend entry
    assert [s.showlegend for s in fig.layout.shapes] == [True, False]


def test_renewable_surplus_absorbed(solved):
    fig = plots.renewable_surplus(solved[0])
    assert steps(trace(fig, "Renewable surplus (15 kWh)")) == [0, 10, 5, 0]
    assert steps(trace(fig, "Absorbed by the plan (15 kWh)")) == pytest.approx([0, 10, 5, 0])
    assert steps(trace(fig, "Absorbed by uncontrolled charging (10 kWh)")) == pytest.approx([0, 10, 0, 0])
    assert steps(trace(fig, "EV charging, plan (20 kWh)")) == pytest.approx([0, 10, 10, 0])


def test_tracking_the_target(solved):
    fig = plots.tracking(solved[0])
    assert steps(trace(fig, "Target (target_kw)")) == [0, 10, 10, 0]
    assert steps(trace(fig, "deviation, plan")) == pytest.approx([0, 0, 0, 0])
    assert steps(trace(fig, "deviation, uncontrolled")) == pytest.approx([10, 0, -10, 0])
    assert "Net import, uncontrolled (off target 20.0 kWh)" in [t.name for t in fig.data]
    assert fig.data[-1].name == "Target (target_kw)"  # drawn last: the plan would hide it


def test_site_exchange_shows_the_cap_per_step(solved):
    res = solved[0]
    fig = plots.site_exchange(res)
    assert steps(trace(fig, "Import limit")) == [5, 100, 100, 100]
    assert steps(trace(fig, "Net import, uncontrolled")) == pytest.approx([10, 10, 0, 0])  # breaks the cap
    names = [t.name for t in fig.data]
    assert "Export limit (below zero)" not in names and "Export requested (below zero)" not in names  # none here
    # the Plan page's site chart draws the cap too, not the constant 100 kW
    site = plots.site_power(res)
    assert steps(trace(site, "Import limit, per step (5–100 kW)")) == [5, 100, 100, 100]


def test_envelope_bands_and_the_plan(solved):
    res, env = solved
    fig = plots.flexibility_envelope(env, res)
    plan_p, plan_e = [t for t in fig.data if t.legendgroup == "plan"]
    assert steps(plan_p) == pytest.approx([0, 10, 10, 0])
    assert list(plan_e.y) == pytest.approx([0, 0, 10, 20, 20])  # kWh at step ends, 0 at the start
    # the outer band, by hand: 0..10 kW in every step; energy as late as the 20 kWh need allows
    # (0, 0, 10, 20) and as early as the 25 kWh of room allows (10, 20, 25, 25)
    outer = [t for t in fig.data if t.legendgroup == "outer"]
    assert [steps(t) for t in outer[:2]] == [[0, 0, 0, 0], [10, 10, 10, 10]]
    assert [list(t.y) for t in outer[2:]] == [[0, 0, 0, 10, 20], [0, 10, 20, 25, 25]]
    x_end = [pd.Timestamp(x) for x in outer[2].x]
    assert x_end == list(pd.date_range("2026-06-15 00:00", periods=5, freq="1h"))
    inner = [t for t in fig.data if t.legendgroup == "inner"]
    assert steps(inner[0]) == env.inner["p_min_kw"].tolist() and steps(inner[1]) == env.inner["p_max_kw"].tolist()
    assert list(inner[3].y) == [0.0, *env.inner["e_max_kwh"]]
    assert inner[1].fill == "tonexty" and outer[0].line.dash == "dash"


def test_the_plan_stays_inside_the_outer_band_on_a_ready_scenario():
    """Fleet power recomputed from the schedule (not the site table the figure uses) within the outer band."""
    from pathlib import Path

    sc = gridopt.load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "grid_v2g_dispatch.yaml")
    res = gridopt.optimize(sc, gridopt.SolverOptions(time_limit_s=10, mip_rel_gap=1e-3))
    env = gridopt.grid.flexibility(sc)
    by_t = res.schedule.groupby("time")
    p = (by_t["charge_kw"].sum() - by_t["discharge_kw"].sum()).to_numpy()
    fig = plots.flexibility_envelope(env, res)
    plan_p, plan_e = [t for t in fig.data if t.legendgroup == "plan"]
    assert steps(plan_p) == pytest.approx(p, abs=1e-6)
    o = env.outer
    assert (p <= o["p_max_kw"].to_numpy() + 1e-6).all() and (p >= o["p_min_kw"].to_numpy() - 1e-6).all()
    e = np.cumsum(p * sc.grid.dt_h)
    assert (e <= o["e_max_kwh"].to_numpy() + 1e-6).all() and (e >= o["e_min_kwh"].to_numpy() - 1e-6).all()
    # the export request's window is shaded in both panels
    assert {s.name for s in fig.layout.shapes} == {"Export request 65 kW, 19:00–21:00"}


def test_grid_kpis_read_and_format_as_worked_out(solved):
    s = solved[0].summary
    k = report.KPI_BY_KEY
    assert [g.key for g in report.GRID_KPIS] == [
        "emissions_kg",
        "grid_peak_kw",
        "grid_peak_reduction_kw",
        "renewable_surplus_absorbed_kwh",
        "renewable_surplus_share",
        "net_load_std_kw",
        "tracking_error_kwh",
        "export_request_shortfall_kwh",
    ]
    assert report.fmt_value(k["emissions_kg"], report.kpi_value(s, "emissions_kg")) == "3.0 kg"
    assert report.kpi_value(s, "renewable_surplus_share") == pytest.approx(75.0)
    assert report.delta(s, s["baseline"], "renewable_surplus_share") == pytest.approx(25.0)
    assert report.fmt_delta(k["renewable_surplus_share"], 25.0) == "+25.0 pp"
    assert report.delta(s, s["baseline"], "net_load_std_kw") == pytest.approx(
        math.sqrt(68.75 / 4) - math.sqrt(368.75 / 4)
    )
    assert report.verdict(k["grid_peak_kw"], report.delta(s, s["baseline"], "grid_peak_kw")) == "better"
    assert report.verdict(k["renewable_surplus_absorbed_kwh"], 5.0) == "better"
    assert report.label_with_unit(k["net_load_std_kw"]) == "Load std [kW]"


def test_a_plan_on_the_pareto_front_is_counted_as_the_front_counts_cost(solved):
    """The front's cost is the objective without the traded term: here total_cost 4.0 (20 kWh at 0.2)
    + carbon_cost 3.0 (3 kg at 1 per kg) - 3.0; its x is the 3 kg."""
    import plotly.graph_objects as go

    s = solved[0].summary
    assert s["objective"] == pytest.approx(7.0) and s["total_cost"] == pytest.approx(4.0)
    fig = go.Figure(go.Scatter(x=[6.0, 3.0], y=[3.0, 5.0], mode="lines"))
    plots.mark_plan_on_front(fig, s, "cost:carbon")
    star = trace(fig, "This run's plan")
    assert [*star.x, *star.y] == pytest.approx([3.0, 4.0])
    assert fig.data[0].showlegend is False  # the front's unnamed line
    plots.mark_plan_on_front(fig, s, "cost:peak", label="peak")
    assert [*trace(fig, "peak").x, *trace(fig, "peak").y] == pytest.approx([60.0, 7.0])
    assert len(plots.mark_plan_on_front(go.Figure(), {"objective": 1.0}, "cost:carbon").data) == 0  # no emissions


def test_event_labels():
    t = pd.Timestamp
    cap = {"kind": "import_cap", "start": t("2026-06-15 16:00+02:00"), "end": t("2026-06-16 00:00+02:00"), "kw": 115.0}
    assert plots.event_label(cap) == "Import cap 115 kW, 16:00–00:00"
    night = {**cap, "end": t("2026-06-16 06:00+02:00")}
    assert plots.event_label(night) == "Import cap 115 kW, Mon 16:00–Tue 06:00"
    shift = {"kind": "shift_away", "start": t("2026-06-15 07:00+02:00"), "end": t("2026-06-15 09:00+02:00")}
    assert (
        plots.event_label({**shift, "extra_price_per_kwh": 0.3}, "EUR")
        == "Shift away: import +0.3 EUR/kWh, 07:00–09:00"
    )
    assert plots.event_label({**shift, "extra_price_per_kwh": 0.3}) == "Shift away: import +0.3 per kWh, 07:00–09:00"
    req = {"kind": "export_request", "start": t("2026-06-15 19:00+02:00"), "end": t("2026-06-15 21:00+02:00")}
    assert plots.event_label({**req, "kw": 30.0, "hard": True}) == "Export request 30 kW (hard), 19:00–21:00"
