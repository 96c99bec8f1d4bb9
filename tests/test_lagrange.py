"""The Lagrangian bound (gridopt.optimizer.lagrange): never above the MILP's optimum, never below the LP's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import car, write_scenario

import gridopt
from gridopt.check import check_schedule
from gridopt.fleet import build_fleet_plan
from gridopt.optimizer.fast import _highs, _pass, _run, conflict_vehicles, transfer
from gridopt.optimizer.lagrange import COUPLING, SITE, lagrangian_bound, owners, priced_cost
from gridopt.optimizer.matrix import build_matrix
from gridopt.synthetic import write_hard_day

EXACT = gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-9)
START = pd.Timestamp("2026-06-15T00:00:00+02:00")


def lp_and_lagrange(sc, finish=True):
    """(LP bound, Lagrangian bound, its LagrangeBound) of ``sc``, every conflicting vehicle solved
    (to optimality unless ``finish`` is False)."""
    plan = build_fleet_plan(sc)
    lp = build_matrix(sc, plan, modes=False, hull=True)
    mm = build_matrix(sc, plan, modes=True)
    h = _highs()
    _pass(h, lp, integral=False)
    _run(h, 60)
    assert h.getModelStatus().name == "kOptimal"
    x = np.array(h.getSolution().col_value)
    y = np.array(h.getSolution().row_dual)
    lower = h.getInfo().objective_function_value
    conflicts = conflict_vehicles(mm, transfer(lp, mm, x))
    out = lagrangian_bound(lp, mm, x, y, lower, conflicts, lambda: 60.0, transfer)
    assert out.unfinished == 0 or not finish
    return lower, out.bound, out


def test_minimum_power_bound_by_hand(tmp_path):
    """One car, 25 kWh, needs 28 kWh at its 02:00 departure: 3 kWh in hours 0-1 (0.1 and 0.3 per kWh,
    import = export price, so the site's balance is priced at exactly that). Its charger's minimum is
    6 kW (max 10). LP (hull of {0} u [6, 10] is [0, 10]): 3 kW in hour 0, 0.30. MILP: 6 kW in hour 0,
    0.60. The Lagrangian bound prices the balance at 0.1, 0.3 and solves the car exactly: 0.60."""
    ts = pd.DataFrame(
        {
            "time": [(START + pd.Timedelta(hours=i)).isoformat() for i in range(4)],
            "import_price": [0.1, 0.3, 0.5, 0.5],
            "export_price": [0.1, 0.3, 0.5, 0.5],
        }
    )
    path = write_scenario(
        tmp_path / "sc",
        vehicles=[car(min_charge_kw=6.0)],
        trips=[
            {
                "vehicle_id": "EV1",
                "departure": (START + pd.Timedelta(hours=2)).isoformat(),
                "arrival": (START + pd.Timedelta(hours=3)).isoformat(),
                "energy_kwh": 28.0,
            }
        ],
        timeseries=ts,
        tariff={},
    )
    sc = gridopt.load_scenario(path)
    lower, bound, out = lp_and_lagrange(sc)
    assert lower == pytest.approx(0.30, abs=1e-7)
    assert bound == pytest.approx(0.60, abs=1e-7)
    assert out.vehicles == 1 and out.raised == pytest.approx(0.30, abs=1e-7)
    exact = gridopt.optimize(sc, EXACT, method="milp", baseline=False).summary
    assert exact["total_cost"] == pytest.approx(0.60, abs=1e-7)


def test_owners_split_the_rows_into_vehicles_site_and_coupling(tmp_path):
    """Each charge column is its vehicle's; the site's balance rows hold several vehicles (coupling);
    every SoC row one vehicle; ``c - A^T y`` with every row priced is HiGHS's reduced cost."""
    sc = gridopt.load_scenario(write_hard_day(tmp_path, 5, "tight-export", seed=3))
    plan = build_fleet_plan(sc)
    for hull, modes in ((True, False), (False, True)):
        m = build_matrix(sc, plan, modes=modes, hull=hull)
        col, row = owners(m)
        assert np.array_equal(col[m.col_c], m.pair_v)
        assert np.all(col[m.col_imp] == SITE) and np.all(col[m.col_exp] == SITE)
        assert np.all(col[m.col_e] >= 0)  # every SoC column belongs to a vehicle
        assert (row == COUPLING).any() and (row >= 0).any()
        for r in np.flatnonzero(row >= 0)[:50]:
            cols = m.a_index[m.a_start[r] : m.a_start[r + 1]]
            assert np.all(col[cols] == row[r])
    lp = build_matrix(sc, plan, modes=False, hull=True)
    h = _highs()
    _pass(h, lp, integral=False)
    _run(h, 60)
    sol = h.getSolution()
    everything = np.full(lp.n_rows, COUPLING)
    reduced = priced_cost(lp, everything, np.array(sol.row_dual))
    assert reduced == pytest.approx(np.array(sol.col_dual), abs=1e-9)


#: (variant, vehicles, seed): hard days the plain MILP solves to 1e-9 in seconds
SMALL = [
    ("base", 6, 1),
    ("uncurtailable", 4, 2),
    ("minpower", 6, 4),
    ("tight-export", 6, 5),
    ("minpower", 10, 4),
    ("uncurtailable", 10, 6),
    ("base", 20, 1),
    ("meter", 3, 3),
]


@pytest.mark.parametrize("case", SMALL, ids=lambda c: f"{c[0]}-n{c[1]}-s{c[2]}")
def test_lagrangian_bound_is_between_the_lp_bound_and_the_milp_optimum(tmp_path, case, monkeypatch):
    """Every subproblem solved; and every subproblem cut short at 10 ms (its dual bound counts)."""
    from gridopt.optimizer import lagrange

    variant, n, seed = case
    sc = gridopt.load_scenario(write_hard_day(tmp_path, n, variant, seed=seed))
    lower, bound, out = lp_and_lagrange(sc)
    exact = gridopt.optimize(sc, EXACT, method="milp", baseline=False).summary
    assert exact["status"] == "optimal"
    optimum = exact["total_cost"]
    tol = 1e-7 * max(1.0, abs(optimum))
    assert lower <= bound + tol
    assert bound <= optimum + tol, f"bound {bound} above the optimum {optimum}"
    if out.vehicles:
        assert bound > lower + 1e-5  # a vehicle that broke a binary rule raised it
    monkeypatch.setattr(lagrange, "SUB_MAX_S", 0.0)  # each subproblem gets HiGHS's 10 ms minimum
    lower_cut, bound_cut, _ = lp_and_lagrange(sc, finish=False)
    assert lower_cut <= bound_cut + tol and bound_cut <= optimum + tol


def test_lagrange_stage_proves_the_gap_where_the_lp_bound_cannot(tmp_path):
    """uncurtailable, 10 vehicles: LP bound -87.0096, optimum -86.9240 (0.1% apart): with a 1e-4 target
    the LP bound and the repair cannot prove it; the Lagrangian bound (which reaches the optimum here)
    does (the stage stops as soon as it does), and the plan passes the check."""
    sc = gridopt.load_scenario(write_hard_day(tmp_path, 10, "uncurtailable", seed=6))
    res = gridopt.optimize(sc, gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-4), baseline=False)
    s = res.summary
    assert s["status"] == "optimal" and s["mip_gap"] <= 1e-4
    assert "lagrange" in s["method"] and "neighbourhood" not in s["method"]
    assert -87.0096 + 0.05 < s["lower_bound"] <= -86.9240 + 1e-4  # raised well above the LP's, below the optimum
    check_schedule(res.scenario, res.schedule, res.site, res.unmet)


def test_two_second_limit_on_the_tight_export_day_of_1000_vehicles_returns_a_checked_plan(tmp_path):
    sc = gridopt.load_scenario(write_hard_day(tmp_path, 1000, "tight-export", time_limit_s=2))
    res = gridopt.optimize(sc, baseline=False)
    s = res.summary
    assert s["status"] in ("optimal", "time_limit")
    assert s["total_cost"] == s["total_cost"]  # a plan with a cost
    bound = s["lower_bound"]
    assert bound != bound or bound <= s["total_cost"] + 1e-6  # no bound (the LP did not finish), or a valid one
    check_schedule(res.scenario, res.schedule, res.site, res.unmet)
