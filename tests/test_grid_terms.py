"""The grid block, events, time-varying limits and the grid objective terms (issue 9), end to end.

Small cases of four hourly steps whose optimum is worked out by hand in each
docstring (cars with ideal efficiency unless stated); the Pyomo model and the
numpy matrices held equal with every term on; the physics check catching a plan
that breaks each new limit; bad input for each new field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import highspy
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import car, write_scenario

import gridopt
from gridopt.check import check_schedule
from gridopt.cli import main
from gridopt.fleet import build_fleet_plan
from gridopt.optimizer.extract import frames
from gridopt.optimizer.fast import _mip, _run, plan_arrays
from gridopt.optimizer.greedy import FEAS_TOL, greedy_plan, max_violation
from gridopt.optimizer.matrix import build_matrix

START = pd.Timestamp("2026-06-15T00:00:00+02:00")
EXACT = gridopt.SolverOptions(time_limit_s=30, mip_rel_gap=1e-9)


def at(hours: float) -> str:
    return (START + pd.Timedelta(hours=hours)).isoformat()


def hourly(values: dict, hours: int = 4, minutes: int = 60) -> pd.DataFrame:
    n = hours * 60 // minutes
    return pd.DataFrame({"time": [(START + pd.Timedelta(minutes=minutes * i)).isoformat() for i in range(n)], **values})


def write(tmp_path, *, signals: pd.DataFrame | None = None, prices=None, grid=None, **kw):
    """A scenario with an optional signals CSV (named in ``grid.signals``) and hourly import prices."""
    folder = tmp_path / "sc"
    folder.mkdir(parents=True, exist_ok=True)
    if signals is not None:
        signals.to_csv(folder / "signals.csv", index=False)
        grid = {"signals": "signals.csv", **(grid or {})}
    if grid is not None:
        kw["grid"] = grid
    if prices is not None:
        kw["timeseries"] = hourly({"import_price": prices})
    kw.setdefault("tariff", {"import_price": 0.2, "export_price": 0.0} if prices is None else {"export_price": 0.0})
    kw.setdefault("vehicles", [car()])
    return write_scenario(folder, **kw)


def solve(path, method="auto", baseline=True):
    sc = gridopt.load_scenario(path)
    res = gridopt.optimize(sc, EXACT, method=method, baseline=baseline)
    assert res.summary["status"] == "optimal"
    return sc, res


def net(res) -> np.ndarray:
    return (res.site["grid_import_kw"] - res.site["grid_export_kw"]).to_numpy()


def charge(res, vid="EV1") -> np.ndarray:
    s = res.schedule
    return (
        s.loc[s["vehicle_id"] == vid, "charge_kw"].to_numpy() - s.loc[s["vehicle_id"] == vid, "discharge_kw"].to_numpy()
    )


def need(kwh: float, **kw) -> dict:
    """A 50 kWh car starting empty-ish (10 kWh) that must hold 10 + kwh at the end."""
    return car(initial_soc=0.2, final_soc=(10 + kwh) / 50, **kw)


def v2g(**kw) -> dict:
    """A V2G car at 25 of 50 kWh that must end where it started (10 kW charge, 8 kW discharge)."""
    return car(**{"max_discharge_kw": 8.0, "initial_soc": 0.5, "final_soc": 0.5, **kw})


# ---------------------------------------------------------------------------
# objective terms, by hand
# ---------------------------------------------------------------------------


def test_carbon_price_moves_charging_to_the_cleanest_hour(tmp_path):
    """10 kWh, flat price 0.2, carbon 0.5, 0.1, 0.3, 0.2 kg/kWh at 1.0/kg: all 10 kWh in hour 1
    (1 kg). total_cost 2.0 (money only), carbon_cost 1.0, objective 3.0."""
    sig = hourly({"carbon_kg_per_kwh": [0.5, 0.1, 0.3, 0.2]})
    sc, res = solve(write(tmp_path, signals=sig, grid={"carbon_price_per_kg": 1.0}, vehicles=[need(10)]))
    s = res.summary
    assert charge(res) == pytest.approx([0, 10, 0, 0], abs=1e-6)
    assert s["emissions_kg"] == pytest.approx(1.0, abs=1e-6)
    assert s["carbon_cost"] == pytest.approx(1.0, abs=1e-6)
    assert s["total_cost"] == pytest.approx(2.0, abs=1e-6)
    assert s["objective"] == pytest.approx(3.0, abs=1e-6)
    # the baseline charges at plug-in (hour 0): 10 kWh x 0.5 kg/kWh
    assert s["baseline"]["emissions_kg"] == pytest.approx(5.0, abs=1e-6)
    assert s["savings"]["emissions_kg"] == pytest.approx(4.0, abs=1e-6)


def test_carbon_credit_for_export_pays_v2g_shifting(tmp_path):
    """V2G car (25 kWh, must end at 25), import = export price 0.2, carbon 0.5, 0.1, 0.3, 0.2 at 1.0/kg.
    With export credited: net n_t in [-8, 10], sum 0, minimise sum c_t n_t: discharge 8 in hours 0 and 2
    (the dirtiest), charge 10 in hour 1 (the cleanest) and the other 6 in hour 3: emissions -4.0 + 1.0
    - 2.4 + 1.2 = -4.2 kg (SoC 17, 27, 19, 25), money 0, objective -4.2.
    Without the credit export earns nothing and the car stays idle: emissions 0, objective 0."""
    sig = hourly({"carbon_kg_per_kwh": [0.5, 0.1, 0.3, 0.2]})
    kw = dict(signals=sig, vehicles=[v2g()], tariff={"import_price": 0.2, "export_price": 0.2})
    sc, res = solve(write(tmp_path / "a", grid={"carbon_price_per_kg": 1.0, "carbon_credit_export": True}, **kw))
    assert res.summary["objective"] == pytest.approx(-4.2, abs=1e-6)
    assert res.summary["emissions_kg"] == pytest.approx(-4.2, abs=1e-6)
    assert res.summary["total_cost"] == pytest.approx(0.0, abs=1e-6)
    assert charge(res) == pytest.approx([-8, 10, -8, 6], abs=1e-6)
    sc, res = solve(write(tmp_path / "b", grid={"carbon_price_per_kg": 1.0}, **kw))
    assert res.summary["objective"] == pytest.approx(0.0, abs=1e-6)
    assert res.summary["emissions_kg"] == pytest.approx(0.0, abs=1e-6)


def test_peak_weight_shaves_the_grid_peak_with_v2g(tmp_path):
    """Net load 100, 150, 120, 90 kW; V2G car (8 kW out, must end where it started), import = export
    price 0.1, peak weight 1.0/kW: discharge 8 kW in hour 1 (peak 150 -> 142), recharge 8 kWh where the
    load stays below 142. grid_peak_kw 142, grid_peak_cost 142, money 0; the baseline leaves it at 150."""
    sig = hourly({"net_load_kw": [100, 150, 120, 90]})
    sc, res = solve(
        write(
            tmp_path,
            signals=sig,
            grid={"peak_weight_per_kw": 1.0},
            vehicles=[v2g()],
            tariff={"import_price": 0.1, "export_price": 0.1},
        )
    )
    s = res.summary
    assert s["grid_peak_kw"] == pytest.approx(142.0, abs=1e-6)
    assert s["grid_peak_cost"] == pytest.approx(142.0, abs=1e-6)
    assert s["objective"] == pytest.approx(142.0, abs=1e-6)
    assert charge(res)[1] == pytest.approx(-8.0, abs=1e-6)
    assert s["baseline"]["grid_peak_kw"] == pytest.approx(150.0)
    assert s["grid_peak_reduction_kw"] == pytest.approx(8.0, abs=1e-6)


def test_valley_fill_flattens_the_grid_load(tmp_path):
    """Net load 100, 150, 120, 90 kW, V2G car as above (8 kW out, 10 kW in, at least 25 kWh at the end),
    import = export price 0.1, valley weight 1.0/kW. L = load + n, mean m = 115 + sum(n) / 4. Hour 1 comes
    down by 8 kW at most (142); charging elsewhere raises the mean (valleys filled): n = 10, -8, 10, 10
    gives m = 120.5, L = 110, 142, 130, 100, deviation max(21.5, 20.5) = 21.5 (SoC 35, 27, 37, 47).
    A kWh less in any hour lowers m by 0.25 and saves 0.1 only. Money 0.1 x (30 - 8) = 2.2, objective 23.7."""
    sig = hourly({"net_load_kw": [100, 150, 120, 90]})
    sc, res = solve(
        write(
            tmp_path,
            signals=sig,
            grid={"valley_fill_weight_per_kw": 1.0},
            vehicles=[v2g()],
            tariff={"import_price": 0.1, "export_price": 0.1},
        )
    )
    s = res.summary
    assert charge(res) == pytest.approx([10, -8, 10, 10], abs=1e-6)
    assert s["grid_valley_deviation_kw"] == pytest.approx(21.5, abs=1e-6)
    assert s["valley_fill_cost"] == pytest.approx(21.5, abs=1e-6)
    assert s["total_cost"] == pytest.approx(2.2, abs=1e-6)
    assert s["objective"] == pytest.approx(23.7, abs=1e-6)
    load = np.array([110, 142, 130, 100])
    assert s["net_load_std_kw"] == pytest.approx(load.std(), abs=1e-6)


def test_soft_tracking_pays_for_following_the_target(tmp_path):
    """20 kWh, prices 0.3, 0.1, 0.3, 0.1, target 15, -, 15, - (no target in hours 1 and 3), penalty
    0.5/kWh. Following: n = 10, 0, 10, 0 (the charger's limit), error 5 + 5 = 10 kWh: energy 6.0 +
    tracking 5.0 = 11.0. Charging at the cheap hours instead: 2.0 + 0.5 x 30 = 17.0; anything between is
    worse (a kWh moved from hour 0 to hour 1 saves 0.2 and costs 0.5)."""
    sig = hourly({"target_kw": [15, None, 15, None]})
    sc, res = solve(
        write(
            tmp_path,
            signals=sig,
            grid={"tracking_penalty_per_kwh": 0.5},
            vehicles=[need(20)],
            prices=[0.3, 0.1, 0.3, 0.1],
        )
    )
    s = res.summary
    assert charge(res) == pytest.approx([10, 0, 10, 0], abs=1e-6)
    assert s["tracking_error_kwh"] == pytest.approx(10.0, abs=1e-6)
    assert s["tracking_cost"] == pytest.approx(5.0, abs=1e-6)
    assert s["total_cost"] == pytest.approx(6.0, abs=1e-6)
    assert s["objective"] == pytest.approx(11.0, abs=1e-6)


def test_exact_tracking_is_a_constraint_and_the_greedy_steps_aside(tmp_path):
    """20 kWh, prices 0.1, 0.3, 0.1, 0.3; exact target -, 10, -, 10: hours 1 and 3 must import exactly
    10 kW, which already gives the 20 kWh: cost 3 + 3 = 6.0 (not the 2.0 of the cheap hours). No rule of
    the greedy fallback guarantees an exact profile, so it returns none and the LP decides."""
    sig = hourly({"target_kw": [None, 10, None, 10]})
    path = write(tmp_path, signals=sig, grid={"tracking": "exact"}, vehicles=[need(20)], prices=[0.1, 0.3, 0.1, 0.3])
    sc, res = solve(path)
    assert net(res) == pytest.approx([0, 10, 0, 10], abs=1e-6)
    assert res.summary["total_cost"] == pytest.approx(6.0, abs=1e-6)
    assert res.summary["tracking_error_kwh"] == pytest.approx(0.0, abs=1e-6)
    plan = build_fleet_plan(sc)
    assert greedy_plan(sc, plan, build_matrix(sc, plan)) is None
    _, milp = solve(path, method="milp")
    assert milp.summary["objective"] == pytest.approx(6.0, abs=1e-6)


def test_renewable_bonus_charges_within_the_surplus(tmp_path):
    """10 kWh, flat price 0.2, surplus 0, 6, 0, 4 kW, bonus 0.1/kWh: 6 kWh in hour 1 and 4 in hour 3,
    all inside the surplus: absorbed 10 kWh (share 1.0), bonus 1.0, total 2.0, objective 1.0."""
    sig = hourly({"renewable_surplus_kw": [0, 6, 0, 4]})
    sc, res = solve(write(tmp_path, signals=sig, grid={"renewable_use_bonus_per_kwh": 0.1}, vehicles=[need(10)]))
    s = res.summary
    assert charge(res) == pytest.approx([0, 6, 0, 4], abs=1e-6)
    assert s["renewable_surplus_absorbed_kwh"] == pytest.approx(10.0, abs=1e-6)
    assert s["renewable_surplus_share"] == pytest.approx(1.0, abs=1e-6)
    assert s["renewable_bonus"] == pytest.approx(1.0, abs=1e-6)
    assert s["objective"] == pytest.approx(1.0, abs=1e-6)
    # the baseline charges 10 kW in hour 0, where there is no surplus
    assert s["baseline"]["renewable_surplus_absorbed_kwh"] == pytest.approx(0.0)


# ---------------------------------------------------------------------------
# events and time-varying limits, by hand
# ---------------------------------------------------------------------------


def test_import_cap_event_lowers_the_limit_in_its_window(tmp_path):
    """20 kWh, prices 0.1, 0.1, 0.3, 0.3, import capped at 4 kW in hour 0: 4 + 10 + 6 kWh,
    cost 0.4 + 1.0 + 1.8 = 3.2 (without the cap 2.0)."""
    ev = [{"kind": "import_cap", "start": at(0), "end": at(1), "kw": 4}]
    sc, res = solve(write(tmp_path, events=ev, vehicles=[need(20)], prices=[0.1, 0.1, 0.3, 0.3]))
    assert charge(res) == pytest.approx([4, 10, 6, 0], abs=1e-6)
    assert res.summary["total_cost"] == pytest.approx(3.2, abs=1e-6)
    assert sc.series["import_limit_kw"].tolist() == [4, 100, 100, 100]
    # the baseline ignores limits and counts the step it breaks (10 kW in hour 0)
    assert res.summary["baseline"]["import_limit_violation_steps"] == 1


def test_limit_columns_override_the_constant_and_finer_ones_take_the_minimum(tmp_path):
    """Half-hourly import_limit_kw 100, 3, 100, ... on hourly steps: hour 0's limit is min(100, 3) = 3
    (a constant power within the hour must respect both halves); export_limit_kw column of 0 forbids
    export. 20 kWh at prices 0.1, 0.1, 0.3, 0.3: 3 + 10 + 7, cost 0.3 + 1.0 + 2.1 = 3.4."""
    lim = [100, 3] + [100] * 6
    ts = hourly({"import_price": [0.1, 0.1, 0.1, 0.1, 0.3, 0.3, 0.3, 0.3], "import_limit_kw": lim}, minutes=30)
    ts["export_limit_kw"] = 0.0
    path = write(tmp_path, vehicles=[need(20)], timeseries=ts)
    sc, res = solve(path)
    assert sc.series["import_limit_kw"].tolist() == [3, 100, 100, 100]
    assert sc.series["import_price"].tolist() == [0.1, 0.1, 0.3, 0.3]
    assert any("site.import_limit_kw is ignored" in w for w in sc.warnings)
    assert charge(res) == pytest.approx([3, 10, 7, 0], abs=1e-6)
    assert res.summary["total_cost"] == pytest.approx(3.4, abs=1e-6)


def test_soft_export_request_is_paid_and_worth_recharging_for(tmp_path):
    """V2G car 25 kWh, final_soc 0.4 (20 kWh, so 5 kWh to spare), price 0.2 / export 0; request 8 kW in
    hour 2, paid 0.3, penalty 1.0 per kWh short: export 8 (paid 2.4) and recharge 3 kWh elsewhere (0.6):
    total -1.8, no shortfall. (Short by a kWh would cost 1.3 in payment and penalty, recharging it 0.2.)"""
    ev = [
        {
            "kind": "export_request",
            "start": at(2),
            "end": at(3),
            "kw": 8,
            "payment_per_kwh": 0.3,
            "penalty_per_kwh": 1.0,
        }
    ]
    veh = [car(max_discharge_kw=10.0, initial_soc=0.5, final_soc=0.4)]
    sc, res = solve(write(tmp_path, events=ev, vehicles=veh))
    s = res.summary
    assert net(res)[2] == pytest.approx(-8.0, abs=1e-6)
    assert s["export_request_payment"] == pytest.approx(2.4, abs=1e-6)
    assert s["export_request_penalty"] == pytest.approx(0.0, abs=1e-6)
    assert s["total_cost"] == pytest.approx(-1.8, abs=1e-6)
    # the baseline exports nothing: penalised 8 kWh x 1.0
    assert s["baseline"]["export_request_penalty"] == pytest.approx(8.0, abs=1e-6)


def test_hard_export_request_is_a_constraint(tmp_path):
    """As above, request hard, no payment: export exactly 8 kW in hour 2 (nothing pays more), recharge
    3 kWh at 0.2: cost 0.6."""
    ev = [{"kind": "export_request", "start": at(2), "end": at(3), "kw": 8, "hard": True}]
    veh = [car(max_discharge_kw=10.0, initial_soc=0.5, final_soc=0.4)]
    sc, res = solve(write(tmp_path, events=ev, vehicles=veh))
    assert net(res)[2] == pytest.approx(-8.0, abs=1e-6)
    assert res.summary["total_cost"] == pytest.approx(0.6, abs=1e-6)


def test_shift_away_prices_import_extra_and_reports_it_apart(tmp_path):
    """10 kWh, prices 0.1, 0.1, 0.2, 0.2, shift_away +0.5 in hours 0-1: charge in hour 2 or 3, energy
    2.0, demand response 0. The baseline charges 10 kW in hour 0: energy 1.0 and demand response 5.0,
    total 6.0; site.csv shows the price with the extra."""
    ev = [{"kind": "shift_away", "start": at(0), "end": at(2), "extra_price_per_kwh": 0.5}]
    sc, res = solve(write(tmp_path, events=ev, vehicles=[need(10)], prices=[0.1, 0.1, 0.2, 0.2]))
    s, b = res.summary, res.summary["baseline"]
    assert s["total_cost"] == pytest.approx(2.0, abs=1e-6) and s["demand_response_cost"] == pytest.approx(0.0)
    assert b["energy_cost"] == pytest.approx(1.0, abs=1e-6)
    assert b["demand_response_cost"] == pytest.approx(5.0, abs=1e-6)
    assert b["total_cost"] == pytest.approx(6.0, abs=1e-6)
    assert res.site["import_price"].tolist() == pytest.approx([0.6, 0.6, 0.2, 0.2])


def test_emissions_cap_and_grid_peak_cap_bound_the_plan(tmp_path):
    """Emissions cap: 10 kWh, prices 0.1, 0.4, 0.2, 0.3, carbon 0.5, 0.1, 0.3, 0.2, no carbon price.
    Uncapped: hour 0 (cost 1.0, 5 kg). Cap 2 kg: min cost s.t. sum c n <= 2: with multiplier 1 the
    reduced prices are 0.6, 0.5, 0.5, 0.5, so hours 1-3 mix at cost 0.5 x 10 - 1 x 2 = 3.0, 2 kg.
    Grid peak cap: net load 100, 150, 120, 90, V2G car, cap 145: hour 1 discharges at least 5 kW."""
    sig = hourly({"carbon_kg_per_kwh": [0.5, 0.1, 0.3, 0.2]})
    kw = dict(signals=sig, vehicles=[need(10)], prices=[0.1, 0.4, 0.2, 0.3])
    _, free = solve(write(tmp_path / "a", grid={}, **kw))
    assert free.summary["total_cost"] == pytest.approx(1.0, abs=1e-6)
    assert free.summary["emissions_kg"] == pytest.approx(5.0, abs=1e-6)
    _, capped = solve(write(tmp_path / "b", grid={"emissions_cap_kg": 2.0}, **kw))
    assert capped.summary["total_cost"] == pytest.approx(3.0, abs=1e-6)
    assert capped.summary["emissions_kg"] <= 2.0 + 1e-6
    sig = hourly({"net_load_kw": [100, 150, 120, 90]})
    vkw = dict(signals=sig, vehicles=[v2g()], tariff={"import_price": 0.1, "export_price": 0.1})
    _, peak = solve(write(tmp_path / "c", grid={"grid_peak_cap_kw": 145}, **vkw))
    assert peak.summary["grid_peak_kw"] <= 145 + 1e-6
    assert charge(peak)[1] <= -5 + 1e-6


# ---------------------------------------------------------------------------
# the two model forms, the greedy, the check
# ---------------------------------------------------------------------------


def _all_terms(tmp_path, exact: bool):
    """Two cars (min power, V2G), PV, every grid term, every event kind; exact or soft tracking."""
    sig = hourly(
        {
            "carbon_kg_per_kwh": [0.4, 0.1, 0.3, 0.5],
            "renewable_surplus_kw": [0, 5, 8, 0],
            "net_load_kw": [100, 80, 120, 140],
            "target_kw": [None, 6, None, -5] if exact else [None, 10, None, -5],
        }
    )
    grid = {
        "carbon_price_per_kg": 0.2,
        "carbon_credit_export": exact,
        "peak_weight_per_kw": 0.05,
        "valley_fill_weight_per_kw": 0.03,
        "renewable_use_bonus_per_kwh": 0.04,
        "emissions_cap_kg": 20,
        "grid_peak_cap_kw": 160,
    }
    grid.update({"tracking": "exact"} if exact else {"tracking_penalty_per_kwh": 0.5})
    events = [
        {"kind": "import_cap", "start": at(1), "end": at(2), "kw": 12},
        {
            "kind": "export_request",
            "start": at(3),
            "end": at(4),
            "kw": 3,
            "payment_per_kwh": 0.3,
            "penalty_per_kwh": 1.0,
        }
        | ({"hard": True} if exact else {}),
        {"kind": "shift_away", "start": at(2), "end": at(3), "extra_price_per_kwh": 0.25},
    ]
    ts = hourly({"import_price": [0.2, 0.1, 0.3, 0.2], "export_price": [0.05, 0.3, 0.05, 0.1], "pv_kw": [0, 3, 6, 1]})
    return write(
        tmp_path,
        signals=sig,
        grid=grid,
        events=events,
        timeseries=ts,
        vehicles=[
            car("A", initial_soc=0.2, min_charge_kw=2, final_soc=0.5, charge_efficiency=0.9),
            car("B", max_discharge_kw=8, initial_soc=0.6, final_soc=0.5, discharge_efficiency=0.92),
        ],
        site={"import_limit_kw": 30, "export_limit_kw": 20},
        battery_degradation_cost_per_kwh=0.02,
    )


@pytest.mark.parametrize("exact", [False, True], ids=["soft", "exact"])
def test_numpy_matrices_are_the_pyomo_model_with_every_term(tmp_path, exact):
    """Same optimum from HiGHS on the Pyomo model, on the numpy matrices, and by the fast path; the
    objective recomputed from the written plan (analysis.kpis) is the solver's."""
    sc, milp = solve(_all_terms(tmp_path, exact), method="milp")
    _, fast = solve(_all_terms(tmp_path, exact))
    mm = build_matrix(sc, build_fleet_plan(sc))
    h = _mip(mm, 1e-9, None)
    _run(h, 30)
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    opt = h.getInfo().objective_function_value
    assert milp.summary["objective"] == pytest.approx(opt, rel=1e-7, abs=1e-6)
    assert fast.summary["objective"] == pytest.approx(opt, rel=1e-7, abs=1e-6)
    assert milp.summary["model"]["binaries"] == len(mm.binary)
    s = fast.summary
    parts = s["carbon_cost"] + s["grid_peak_cost"] + s["valley_fill_cost"] + s["tracking_cost"] - s["renewable_bonus"]
    assert s["objective"] == pytest.approx(s["total_cost"] + parts, abs=1e-9)
    for key in ("carbon_cost", "grid_peak_cost", "valley_fill_cost", "renewable_bonus", "export_request_payment"):
        assert abs(s[key]) > 1e-6, key  # every term is live in this case
    if exact:
        assert fast.summary["tracking_error_kwh"] == pytest.approx(0.0, abs=1e-6)
        assert net(fast)[3] <= -3 + 1e-6  # the hard request


def test_fast_path_bound_stays_tight_when_a_request_pays_for_export(tmp_path):
    """Base load 10 kW, no PV, no V2G: the site cannot export. Request 5 kW in hour 2, paid 0.3, penalty 1.0
    per kWh short, import 0.2: the plan pays 4 x 10 x 0.2 = 8.0 and the penalty 5.0, total 13.0. The LP
    without meter binaries would import 15 and export 5 in hour 2 (bound 8 + 1.0 - 1.5 = 7.5); the fast
    path keeps that step's one-meter binary in its relaxation and proves the optimum without branching."""
    ev = [
        {
            "kind": "export_request",
            "start": at(2),
            "end": at(3),
            "kw": 5,
            "payment_per_kwh": 0.3,
            "penalty_per_kwh": 1.0,
        }
    ]
    sc, res = solve(
        write(tmp_path, events=ev, site={"import_limit_kw": 100, "export_limit_kw": 50, "base_load_kw": 10})
    )
    s = res.summary
    assert s["total_cost"] == pytest.approx(13.0, abs=1e-6)
    assert s["export_request_penalty"] == pytest.approx(5.0, abs=1e-6)
    assert s["lower_bound"] == pytest.approx(13.0, abs=1e-6)
    assert s["stages"]["lp_binaries"] == 1
    assert "mip" not in s["method"] and "neighbourhood" not in s["method"]


def test_a_grid_block_with_nothing_in_it_leaves_the_model_as_it_was(tmp_path):
    """No grid block, and a grid block whose weights are all 0 with a signals file: identical matrices."""
    sig = hourly({"carbon_kg_per_kwh": [0.5, 0.1, 0.3, 0.2], "net_load_kw": [1, 2, 3, 4]})
    vehicles = [need(20, min_charge_kw=2), v2g(vehicle_id="B")]
    kw = dict(vehicles=vehicles, prices=[0.1, 0.4, 0.2, 0.3], tariff={"export_price": 0.25})
    a = gridopt.load_scenario(write(tmp_path / "a", **kw))
    b = gridopt.load_scenario(write(tmp_path / "b", signals=sig, grid={}, **kw))
    ma, mb = (build_matrix(s, build_fleet_plan(s)) for s in (a, b))
    for name in ("cost", "col_lb", "col_ub", "row_lb", "row_ub", "a_start", "a_index", "a_value", "binary"):
        np.testing.assert_array_equal(getattr(ma, name), getattr(mb, name), err_msg=name)


def test_greedy_fallback_respects_caps_and_hard_requests(tmp_path):
    """The greedy plan of a site with an import cap below its base load (V2G must cover it) and a hard
    export request (V2G must deliver it) passes every MILP row and the physics check."""
    ts = hourly({"import_price": [0.2] * 4, "base_load_kw": [5, 5, 5, 2]})
    events = [
        {"kind": "import_cap", "start": at(1), "end": at(2), "kw": 2},
        {"kind": "export_request", "start": at(3), "end": at(4), "kw": 4, "hard": True},
    ]
    path = write(tmp_path, timeseries=ts, events=events, vehicles=[v2g(final_soc=0.2), need(10, vehicle_id="A")])
    sc = gridopt.load_scenario(path)
    plan = build_fleet_plan(sc)
    mm = build_matrix(sc, plan)
    x = greedy_plan(sc, plan, mm)
    assert x is not None and max_violation(mm, x) <= FEAS_TOL
    schedule, site, unmet = frames(sc, plan, *plan_arrays(sc, plan, mm, x))
    assert check_schedule(sc, schedule, site, unmet) == []
    imp, exp = site["grid_import_kw"].to_numpy(), site["grid_export_kw"].to_numpy()
    assert imp[1] <= 2 + 1e-9 and exp[3] >= 4 - 1e-9


def _solved(tmp_path, exact=True):
    sc, res = solve(_all_terms(tmp_path, exact), baseline=False)
    assert check_schedule(sc, res.schedule, res.site, res.unmet) == []
    return sc, res


def _broken(sc, res, step, d_import=0.0, d_export=0.0):
    """The plan's site table with import/export moved at one step (the check's grid rules read them)."""
    site = res.site.copy()
    site.iloc[step, site.columns.get_loc("grid_import_kw")] += d_import
    site.iloc[step, site.columns.get_loc("grid_export_kw")] += d_export
    return check_schedule(sc, res.schedule, site, res.unmet, raise_on_violation=False)


def test_check_catches_a_plan_that_breaks_each_new_limit(tmp_path):
    sc, res = _solved(tmp_path)
    imp = res.site["grid_import_kw"].to_numpy()
    exp = res.site["grid_export_kw"].to_numpy()
    # the import cap of 12 kW in hour 1
    msgs = _broken(sc, res, 1, d_import=12.5 - imp[1])
    assert any("above import_limit_kw 12" in m for m in msgs), msgs
    # the hard export request of 3 kW in hour 3
    msgs = _broken(sc, res, 3, d_export=2.0 - exp[3])
    assert any("below the hard export_request of 3 kW" in m for m in msgs), msgs
    # exact tracking (target 6 kW in hour 1)
    msgs = _broken(sc, res, 1, d_import=0.5)
    assert any("differs from the exact target_kw 6" in m for m in msgs), msgs
    # the emissions cap and the grid peak cap, tightened below the plan
    s = res.summary
    tight = dataclasses.replace(
        sc, grid_terms=dataclasses.replace(sc.grid_terms, emissions_cap_kg=s["emissions_kg"] - 0.1)
    )
    msgs = check_schedule(tight, res.schedule, res.site, res.unmet, raise_on_violation=False)
    assert any("above emissions_cap_kg" in m for m in msgs), msgs
    tight = dataclasses.replace(
        sc, grid_terms=dataclasses.replace(sc.grid_terms, grid_peak_cap_kw=s["grid_peak_kw"] - 1)
    )
    msgs = check_schedule(tight, res.schedule, res.site, res.unmet, raise_on_violation=False)
    assert any("above grid_peak_cap_kw" in m for m in msgs), msgs
    # the baseline is not held to them
    assert check_schedule(tight, res.schedule, res.site, res.unmet, site_limits=False, raise_on_violation=False) == []


# ---------------------------------------------------------------------------
# infeasible grid rules: exit 3 naming the step
# ---------------------------------------------------------------------------


def _exit(path, capsys, command="run"):
    args = [command, str(path)] + (["--out", str(path.parent / "out")] if command == "run" else [])
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_exact_target_beyond_the_fleets_power_names_the_step(tmp_path, capsys):
    """Target 25 kW in hour 2 with one 10 kW charger: at most 10 kW net import then."""
    sig = hourly({"target_kw": [None, None, 25, None]})
    path = write(tmp_path, signals=sig, grid={"tracking": "exact"})
    for command in ("validate", "run"):
        code, err = _exit(path, capsys, command)
        assert code == 3 and len(err) == 1, err
        assert at(2) in err[0] and "target_kw of 25 kW" in err[0] and "0.0 to 10.0 kW" in err[0], err


def test_exact_target_beyond_the_fleets_energy_names_the_step(tmp_path):
    """V2G car with 25 kWh above min_soc 0 asked to export 8 kW for four hours (32 kWh): it runs out in
    hour 3 (8 + 8 + 8 = 24 kWh, 1 left), found by the elastic model."""
    sig = hourly({"target_kw": [-8, -8, -8, -8]})
    sc = gridopt.load_scenario(write(tmp_path, signals=sig, grid={"tracking": "exact"}, vehicles=[v2g(final_soc=None)]))
    with pytest.raises(
        gridopt.InfeasibleError, match="exact target_kw cannot be followed from " + at(3).replace("+", r"\+")
    ):
        gridopt.optimize(sc, EXACT)


def test_hard_export_request_beyond_the_export_limit_or_the_fleet(tmp_path, capsys):
    ev = [{"kind": "export_request", "start": at(1), "end": at(2), "kw": 30, "hard": True}]
    code, err = _exit(write(tmp_path / "a", events=ev, vehicles=[v2g()], site={"export_limit_kw": 20}), capsys)
    assert code == 3 and at(1) in err[0] and "above the export limit of 20 kW" in err[0], err
    ev[0]["kw"] = 12
    code, err = _exit(write(tmp_path / "b", events=ev, vehicles=[v2g()]), capsys)
    assert code == 3 and at(1) in err[0] and "at most 8.0 kW" in err[0], err


def test_hard_export_request_beyond_the_stored_energy_names_the_step(tmp_path):
    """V2G car with 25 kWh (min_soc 0) and a hard request of 8 kW for all four hours (32 kWh): hours 0-2
    take 24 kWh, hour 3 can give 1 kWh: 7 kW short there (the elastic model puts the slack last)."""
    ev = [{"kind": "export_request", "start": at(0), "end": at(4), "kw": 8, "hard": True}]
    sc = gridopt.load_scenario(write(tmp_path, events=ev, vehicles=[v2g(final_soc=None)]))
    with pytest.raises(gridopt.InfeasibleError, match=re.escape(f"cannot be met at {at(3)}") + ".*7.0 kW short"):
        gridopt.optimize(sc, EXACT)


def test_caps_below_what_the_site_can_reach_are_infeasible(tmp_path):
    """Grid peak cap 140 with net load 150 in hour 1 and 8 kW of V2G: 142 at best."""
    sig = hourly({"net_load_kw": [100, 150, 120, 90]})
    path = write(tmp_path, signals=sig, grid={"grid_peak_cap_kw": 140}, vehicles=[v2g()])
    with pytest.raises(gridopt.InfeasibleError, match="grid_peak_cap_kw 140 kW .*about 142.0 kW"):
        gridopt.optimize(gridopt.load_scenario(path), EXACT)
    # unmet energy is soft, so only the base load forces emissions: 5 kW x 4 h x 0.1 kg/kWh = 2 kg
    sig = hourly({"carbon_kg_per_kwh": [0.1] * 4})
    path = write(tmp_path / "e", signals=sig, grid={"emissions_cap_kg": 1.0}, site={"base_load_kw": 5})
    with pytest.raises(gridopt.InfeasibleError, match="emissions_cap_kg 1 kg .*about 2.0 kg"):
        gridopt.optimize(gridopt.load_scenario(path), EXACT)


# ---------------------------------------------------------------------------
# bad input: exit 2, one line naming the file and field or line
# ---------------------------------------------------------------------------

BAD = {
    "lb_per_mwh": (
        dict(signals=hourly({"carbon_lb_per_mwh": [900.0] * 4})),
        ["signals.csv", "'carbon_lb_per_mwh'", "'carbon_kg_per_kwh'", "0.000453592"],
    ),
    "moer": (dict(signals=hourly({"moer": [900.0] * 4})), ["signals.csv", "'moer'", "'carbon_kg_per_kwh'"]),
    "net_load_mw": (
        dict(signals=hourly({"net_load_mw": [1.0] * 4})),
        ["signals.csv", "'net_load_mw'", "'net_load_kw'"],
    ),
    "negative_carbon": (
        dict(signals=hourly({"carbon_kg_per_kwh": [0.1, -0.2, 0.1, 0.1]})),
        ["signals.csv line 3", "carbon_kg_per_kwh", "outside 0..10"],
    ),
    "exact_without_target": (
        dict(signals=hourly({"carbon_kg_per_kwh": [0.1] * 4}), grid={"tracking": "exact"}),
        ["scenario.yaml", "grid.tracking", "target_kw"],
    ),
    "cap_without_carbon": (
        dict(signals=hourly({"net_load_kw": [1.0] * 4}), grid={"emissions_cap_kg": 3}),
        ["scenario.yaml", "grid.emissions_cap_kg", "carbon_kg_per_kwh"],
    ),
    "event_outside": (
        dict(events=[{"kind": "import_cap", "start": at(5), "end": at(6), "kw": 3}]),
        ["scenario.yaml", "events.0", "outside the horizon"],
    ),
    "event_off_grid": (
        dict(events=[{"kind": "shift_away", "start": at(0.5), "end": at(2), "extra_price_per_kwh": 0.1}]),
        ["scenario.yaml", "events.0.start", "not on the 60-minute step grid"],
    ),
    "event_backwards": (
        dict(events=[{"kind": "import_cap", "start": at(2), "end": at(1), "kw": 3}]),
        ["scenario.yaml", "events.0", "at or before it starts"],
    ),
    "event_without_offset": (
        dict(events=[{"kind": "import_cap", "start": "2026-06-15T01:00:00", "end": at(2), "kw": 3}]),
        ["scenario.yaml", "events.0.start", "UTC offset"],
    ),
    "overlapping_caps": (
        dict(
            events=[
                {"kind": "import_cap", "start": at(0), "end": at(2), "kw": 3},
                {"kind": "export_request", "start": at(1), "end": at(3), "kw": 3},
                {"kind": "import_cap", "start": at(1), "end": at(3), "kw": 5},
            ]
        ),
        ["scenario.yaml", "'events.0' and 'events.2'", "import_cap", "overlap", "contradictory"],
    ),
    "unknown_kind": (
        dict(events=[{"kind": "brownout", "start": at(0), "end": at(1)}]),
        ["scenario.yaml", "field 'events.0'", "'brownout'", "import_cap"],
    ),
    "negative_cap": (
        dict(events=[{"kind": "import_cap", "start": at(0), "end": at(1), "kw": -3}]),
        ["scenario.yaml", "field 'events.0.kw'", "greater than or equal to 0"],
    ),
    "bool_weight": (dict(grid={"peak_weight_per_kw": True}), ["scenario.yaml", "grid.peak_weight_per_kw", "boolean"]),
    "tracking_mode": (dict(grid={"tracking": "loose"}), ["scenario.yaml", "grid.tracking"]),
    "limit_column_empty": (
        dict(timeseries=hourly({"import_price": [0.2] * 4, "import_limit_kw": [5, None, 5, 5]})),
        ["timeseries.csv line 3", "import_limit_kw", "empty"],
    ),
    "limit_column_negative": (
        dict(timeseries=hourly({"import_price": [0.2] * 4, "export_limit_kw": [5, -1, 5, 5]})),
        ["timeseries.csv line 3", "export_limit_kw", ">= 0"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_grid_input_exits_2_with_one_line(tmp_path, capsys, case):
    kw, fragments = BAD[case]
    path = write(tmp_path, **kw)
    code = main(["validate", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    for f in fragments:
        assert f in err[0], (f, err[0])


def test_fingerprint_sees_the_grid_weights(tmp_path):
    """A cached solve must not be reused when only a grid weight changes."""
    from gridopt.fingerprint import scenario_fingerprint

    sig = hourly({"carbon_kg_per_kwh": [0.5, 0.1, 0.3, 0.2]})
    a = gridopt.load_scenario(write(tmp_path / "a", signals=sig, grid={"carbon_price_per_kg": 0.1}))
    b = gridopt.load_scenario(write(tmp_path / "b", signals=sig, grid={"carbon_price_per_kg": 0.2}))
    c = gridopt.load_scenario(write(tmp_path / "c", signals=sig, grid={"carbon_price_per_kg": 0.1}))
    assert scenario_fingerprint(a) != scenario_fingerprint(b)
    assert scenario_fingerprint(a) == scenario_fingerprint(c)


def test_export_request_may_overlap_an_import_cap_and_warnings_name_missing_signals(tmp_path):
    events = [
        {"kind": "import_cap", "start": at(0), "end": at(2), "kw": 3},
        {"kind": "export_request", "start": at(1), "end": at(3), "kw": 0},
        {"kind": "shift_away", "start": at(3), "end": at(5), "extra_price_per_kwh": 0.1},
    ]
    sc = gridopt.load_scenario(write(tmp_path, events=events, grid={"peak_weight_per_kw": 1, "carbon_price_per_kg": 1}))
    text = " | ".join(sc.warnings)
    assert "net load is taken as 0" in text and "carbon_kg_per_kwh" in text and "beyond the horizon" in text
    assert sc.series["shift_away_price_per_kwh"].tolist() == [0, 0, 0, 0.1]
    assert [e["kind"] for e in sc.events] == ["import_cap", "export_request", "shift_away"]


def test_summary_json_carries_the_grid_kpis_for_plan_and_baseline(tmp_path):
    sig = hourly({"carbon_kg_per_kwh": [0.5, 0.1, 0.3, 0.2], "net_load_kw": [100, 150, 120, 90]})
    path = write(tmp_path, signals=sig, grid={"carbon_price_per_kg": 0.1}, vehicles=[need(10)])
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    keys = (
        "emissions_kg",
        "renewable_surplus_absorbed_kwh",
        "renewable_surplus_share",
        "grid_peak_kw",
        "net_load_std_kw",
        "tracking_error_kwh",
        "carbon_cost",
        "grid_peak_cost",
        "valley_fill_cost",
        "tracking_cost",
        "renewable_bonus",
        "export_request_payment",
        "export_request_penalty",
        "demand_response_cost",
        "objective",
    )
    for k in keys:
        assert k in s and k in s["baseline"], k
    assert s["renewable_surplus_absorbed_kwh"] is None and s["tracking_error_kwh"] is None
    assert s["grid_peak_reduction_kw"] == pytest.approx(s["baseline"]["grid_peak_kw"] - s["grid_peak_kw"])
    assert math.isclose(s["objective"], s["total_cost"] + s["carbon_cost"], abs_tol=1e-9)


def test_the_readmes_grid_and_events_example_loads_and_solves(tmp_path):
    """The README's scenario-format block: its grid: and events: parts, as written, on a day of 15-minute steps."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "\ngrid:" in b)
    example = yaml.safe_load(block)
    folder = tmp_path / "sc"
    (folder / "data").mkdir(parents=True)
    times = [(START + pd.Timedelta(minutes=15 * i)).isoformat() for i in range(96)]
    pd.DataFrame(
        {
            "time": times,
            "carbon_kg_per_kwh": 0.3,
            "renewable_surplus_kw": 5.0,
            "net_load_kw": 1000.0,
            "target_kw": 2.0,
        }
    ).to_csv(folder / "data" / "grid_signals.csv", index=False)
    path = write_scenario(
        folder,
        vehicles=[need(20)],
        horizon_hours=24,
        step_minutes=15,
        grid=example["grid"],
        events=example["events"],
    )
    sc, res = solve(path)
    assert [e["kind"] for e in sc.events] == ["import_cap", "export_request", "shift_away"]
    assert res.summary["emissions_kg"] <= example["grid"]["emissions_cap_kg"]
    assert res.summary["grid_peak_kw"] <= example["grid"]["grid_peak_cap_kw"]
