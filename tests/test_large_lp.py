"""The local repair of large models (gridopt.optimizer.local_repair) against the full repair and the Pyomo MILP."""

from __future__ import annotations

import highspy
import numpy as np
import pytest
from conftest import synthetic_scenarios

import gridopt
from gridopt.check import check_schedule
from gridopt.fleet import build_fleet_plan
from gridopt.optimizer import fast
from gridopt.optimizer.fast import _highs, _pass, _run, conflict_vehicles, fixed_mode_bounds, repair, transfer
from gridopt.optimizer.greedy import FEAS_TOL, max_violation
from gridopt.optimizer.local_repair import local_repair, repair_conflicts, vehicles_to_repair
from gridopt.optimizer.matrix import build_matrix
from gridopt.optimizer.solve import relative_gap

CASES = [(8, 1, False), (8, 2, True), (12, 3, False), (12, 4, True), (40, 5, False), (40, 6, True)]
EXACT = gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-9)
IDS = [f"n{n}-seed{s}-{'binding' if b else 'plain'}" for n, s, b in CASES]


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    return synthetic_scenarios(tmp_path_factory, CASES)


@pytest.fixture(scope="module")
def exact(scenarios):
    """The Pyomo MILP's optimum of every case (``method="milp"``), solved once."""
    out = {}
    for k, sc in scenarios.items():
        res = gridopt.optimize(sc, EXACT, method="milp", baseline=False)
        assert res.summary["status"] == "optimal"
        out[k] = res.summary["total_cost"]
    return out


def _lp_plan(sc):
    """The binary-free LP and the MILP of ``sc``, and the LP's optimal plan in the MILP's layout."""
    plan = build_fleet_plan(sc)
    lp = build_matrix(sc, plan, modes=False, hull=True)
    mm = build_matrix(sc, plan, modes=True)
    h = _highs()
    _pass(h, lp, integral=False, n_rows=lp.n_rows - lp.n_hull_rows)
    _run(h, 60)
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return lp, mm, h, transfer(lp, mm, np.array(h.getSolution().col_value)), h.getInfo().objective_function_value


def _assert_honest(sc, res, optimum: float, gap: float) -> None:
    """``res`` brackets the MILP ``optimum`` (bound below, plan above), reports a gap within ``gap``, and passes the check."""
    s = res.summary
    assert s["lower_bound"] <= optimum + 1e-6 * max(1, abs(optimum))
    assert s["total_cost"] >= optimum - 1e-6 * max(1, abs(optimum))
    assert s["mip_gap"] <= gap + 1e-9
    assert check_schedule(sc, res.schedule, res.site, res.unmet) == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_local_repair_is_a_plan_of_the_milp_no_better_than_the_full_repair(scenarios, exact, case):
    """A restriction of the fixed-mode LP: its plan keeps every row of the MILP, it costs at least the full
    repair's optimum (same modes, fewer free columns) and at least the MILP optimum."""
    lp, mm, h, x, lower = _lp_plan(scenarios[case])
    modes = repair(mm, x, round_up=True)
    bounds = fixed_mode_bounds(lp, mm, modes)
    # the full repair: the same LP with every mode bound, solved by HiGHS
    cols, lb, ub = bounds
    h.changeColsBounds(len(cols), cols.astype(np.int32), lb, np.where(np.isinf(ub), highspy.kHighsInf, ub))
    _run(h, 60)
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    full = h.getInfo().objective_function_value
    got = local_repair(lp, mm, x, conflict_vehicles(mm, x), bounds, 60)
    assert got.status == "Optimal"
    tol = 1e-7 * max(1.0, abs(full))
    assert got.objective >= full - tol
    assert got.objective >= exact[case] - tol
    assert lower <= exact[case] + tol
    plan, cost, stages = repair_conflicts(lp, mm, x, 60)
    assert plan is not None and max_violation(mm, plan) <= FEAS_TOL
    assert cost == pytest.approx(got.objective, rel=1e-9, abs=1e-9)
    assert stages["local_repair_vehicles"] == got.repaired_vehicles
    assert got.repaired_vehicles + got.kept_vehicles == len(build_fleet_plan(scenarios[case]).vehicle_ids)


def test_a_vehicle_off_its_mode_bounds_is_repaired_not_kept(scenarios):
    """A kept vehicle (no conflict) whose plan breaks a bound of the fixed-mode LP (here: a charge below
    ``min_charge_kw`` put in by hand, seen only through the bounds) is freed; no other vehicle is."""
    sc = scenarios[(12, 3, False)]
    lp, mm, _, x, _ = _lp_plan(sc)
    modes = repair(mm, x, round_up=True)
    cols, new_lb, new_ub = fixed_mode_bounds(lp, mm, modes)
    lb, ub = lp.col_lb.copy(), lp.col_ub.copy()
    lb[cols], ub[cols] = new_lb, new_ub
    conflict = conflict_vehicles(mm, x)
    free = vehicles_to_repair(lp, mm, x, conflict, lb, ub)
    assert np.all(free[conflict]) and not free.all()
    # a charging step (lower bound min_charge_kw > 0) of a kept vehicle, charged at half its minimum
    k = int(np.flatnonzero((lb[lp.col_c] > 0) & ~free[mm.pair_v])[0])
    y = x.copy()
    y[mm.col_c[k]] = 0.5 * lb[lp.col_c[k]]
    more = vehicles_to_repair(lp, mm, y, conflict, lb, ub)
    assert more[mm.pair_v[k]] and more.sum() == free.sum() + 1


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fast_path_with_the_local_repair_matches_the_pyomo_milp(scenarios, exact, case, monkeypatch):
    """The fast path with the local repair on every model size: a valid bound, a checked plan, an honest gap."""
    monkeypatch.setattr(fast, "LOCAL_REPAIR_MIN_COLUMNS", 0)
    sc = scenarios[case]
    optimum = exact[case]
    for gap in (1e-3, 1e-6):
        res = gridopt.optimize(sc, gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=gap), baseline=False)
        s = res.summary
        assert s["status"] == "optimal"
        assert "local_repair_vehicles" in s["stages"]
        assert relative_gap(s["total_cost"], optimum) <= gap + 1e-7
        _assert_honest(sc, res, optimum, gap)


# ---------------------------------------------------------------------------
# the split into K site shares (gridopt.optimizer.split)
# ---------------------------------------------------------------------------


def _blocks(sc):
    from gridopt.optimizer.split import find_blocks

    plan = build_fleet_plan(sc)
    lp = build_matrix(sc, plan, modes=False, hull=True)
    n_rows = lp.n_rows - lp.n_hull_rows
    return lp, build_matrix(sc, plan, modes=True), n_rows, find_blocks(lp, n_rows)


def test_blocks_are_the_vehicles_and_the_site_balance_couples_them(scenarios):
    """Every row of a vehicle touches only that vehicle's columns; on these days (no peak, no grid terms)
    the coupling rows are exactly the site balance, one per step."""
    sc = scenarios[(12, 3, False)]
    lp, _, n_rows, b = _blocks(sc)
    row_of = np.repeat(np.arange(n_rows), np.diff(lp.a_start[: n_rows + 1]))
    cols = lp.a_index[: lp.a_start[n_rows]]
    own = b.row_vehicle[row_of] >= 0
    assert np.all(b.col_vehicle[cols[own]] == b.row_vehicle[row_of[own]])
    assert np.sum(b.row_vehicle < 0) == sc.grid.n_steps
    balance = np.unique(row_of[np.isin(cols, lp.col_pv)])
    assert set(np.flatnonzero(b.row_vehicle < 0)) == set(balance)
    assert set(np.flatnonzero(b.col_vehicle < 0)) == set(np.concatenate([lp.col_imp, lp.col_exp, lp.col_pv]))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_lagrangian_bound_is_below_the_lp_for_any_multipliers(scenarios, exact, case):
    """Weak duality: L(y) <= the LP optimum <= the MILP optimum, for the LP's own duals (then equal)
    and for random multipliers of either sign."""
    from gridopt.optimizer.split import lagrangian_bound

    lp, _, n_rows, b = _blocks(scenarios[case])
    h = _highs()
    _pass(h, lp, integral=False, n_rows=n_rows)
    _run(h, 60)
    optimum = h.getInfo().objective_function_value
    coup = np.flatnonzero(b.row_vehicle < 0)
    groups = [np.arange(b.n_vehicles)]
    tol = 1e-7 * max(1.0, abs(optimum))
    y_lp = np.array(h.getSolution().row_dual)[coup]
    assert lagrangian_bound(lp, b, n_rows, y_lp, groups, lambda: 60) == pytest.approx(optimum, rel=1e-7, abs=1e-6)
    rng = np.random.default_rng(case[1])
    for scale in (0.01, 0.1, 1.0):
        y = y_lp + scale * rng.normal(size=len(coup))
        bound = lagrangian_bound(lp, b, n_rows, y, groups, lambda: 60)
        assert bound <= optimum + tol
        assert bound <= exact[case] + tol


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_split_plan_keeps_every_row_and_its_bound_is_valid(scenarios, exact, case):
    """The shares' summed, repaired plan is a plan of the MILP (every row, physics check) costing at least
    the Pyomo optimum; the bound at the shares' mean duals is at most the optimum."""
    from gridopt.optimizer.split import split_solve

    sc = scenarios[case]
    lp, mm, _, b = _blocks(sc)
    tol = 1e-7 * max(1.0, abs(exact[case]))
    for k in (2, 3):
        got = split_solve(lp, mm, k, lambda: 60)
        assert got.plan is not None, got.stages
        assert max_violation(mm, got.plan) <= FEAS_TOL
        assert got.upper >= exact[case] - tol
        assert np.isfinite(got.lower) and got.lower <= exact[case] + tol


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fast_path_with_the_split_matches_the_pyomo_milp(scenarios, exact, case, monkeypatch):
    """The split forced on small fleets (groups of 20: two shares of the 40-vehicle days, none below):
    a valid bound, a checked plan, an honest gap. At a 10% target the 40-vehicle days end with the
    split's plan (their split gaps: 6.6% and 0.9%); at 0.1% the whole LP follows as before."""
    from gridopt.optimizer import split

    monkeypatch.setattr(split, "SPLIT_MIN_VEHICLES", 0)
    monkeypatch.setattr(split, "SPLIT_VEHICLES_PER_GROUP", 20)
    monkeypatch.setattr(split, "SPLIT_MIN_GAP", 0.0)
    sc = scenarios[case]
    optimum = exact[case]
    for gap in (1e-1, 1e-3):
        res = gridopt.optimize(sc, gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=gap), baseline=False)
        s = res.summary
        assert s["status"] == "optimal"
        assert ("split_groups" in s["stages"]) == (case[0] >= 40)
        # the split's plan alone at 10%; the whole LP after it at 0.1% (method "split+lp+...": its plan was the incumbent)
        assert (s["method"] == "split") == (case[0] >= 40 and gap == 1e-1)
        assert ("lp" in s["method"].split("+")) == (case[0] < 40 or gap == 1e-3)
        _assert_honest(sc, res, optimum, gap)


def test_split_is_not_tried_for_a_gap_target_it_does_not_reach(scenarios, monkeypatch):
    """Below SPLIT_MIN_GAP (0.2%) the split would only add its time before the whole LP: not tried."""
    from gridopt.optimizer import split

    monkeypatch.setattr(split, "SPLIT_MIN_VEHICLES", 0)
    monkeypatch.setattr(split, "SPLIT_VEHICLES_PER_GROUP", 20)
    sc = scenarios[(40, 6, True)]
    for gap, tried in ((1e-3, False), (split.SPLIT_MIN_GAP, True)):
        res = gridopt.optimize(sc, gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=gap), baseline=False)
        assert ("split_groups" in res.summary["stages"]) == tried
