"""Hard negative-price days (issue 10): the mode-hull bound against the plain MILP, and plans in time."""

from __future__ import annotations

import time

import numpy as np
import pytest

import gridopt
from gridopt.check import check_schedule
from gridopt.fleet import build_fleet_plan
from gridopt.optimizer.fast import _highs, _pass, _run
from gridopt.optimizer.matrix import build_matrix
from gridopt.optimizer.solve import relative_gap
from gridopt.synthetic import write_hard_day

EXACT = gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-6)
#: (variant, vehicles, seed): small days the plain MILP solves to optimality in a few seconds (the
#: meter variant's big-M rows are hard for it: 4 vehicles take longer than 20 s)
SMALL = [("base", 6, 1), ("uncurtailable", 4, 2), ("meter", 3, 3), ("minpower", 6, 4), ("tight-export", 6, 5)]


def lp_bound(sc, hull: bool) -> float:
    """Optimum of the binary-free LP, with or without the mode-hull rows."""
    lp = build_matrix(sc, build_fleet_plan(sc), modes=False, hull=hull)
    h = _highs()
    _pass(h, lp, integral=False)
    _run(h, 60)
    return h.getInfo().objective_function_value


@pytest.fixture(scope="module")
def small_days(tmp_path_factory):
    out = {}
    for variant, n, seed in SMALL:
        path = write_hard_day(tmp_path_factory.mktemp(f"{variant}{n}"), n, variant, seed=seed)
        sc = gridopt.load_scenario(path)
        out[(variant, n, seed)] = (sc, gridopt.optimize(sc, EXACT, method="milp", baseline=False))
    return out


def test_hard_day_is_reproducible(tmp_path):
    a, b = (write_hard_day(tmp_path / k, 30, "meter", seed=7).parent for k in "ab")
    for name in ("scenario.yaml", "vehicles.csv", "sessions.csv", "timeseries.csv"):
        text_a, text_b = (a / name).read_text(), (b / name).read_text()
        assert text_a.replace("/a/", "/") == text_b.replace("/b/", "/")
    with pytest.raises(ValueError, match="variant"):
        write_hard_day(tmp_path / "c", 3, "easy")


@pytest.mark.parametrize("case", SMALL, ids=lambda c: f"{c[0]}-n{c[1]}")
def test_mode_hull_bound_is_valid_and_no_weaker(small_days, case):
    """plain LP <= LP with the hull rows <= the MILP's optimum (proven by HiGHS to 1e-6)."""
    sc, exact = small_days[case]
    assert exact.summary["status"] == "optimal"
    optimum = exact.summary["total_cost"]
    plain, hull = lp_bound(sc, False), lp_bound(sc, True)
    tol = 1e-6 * max(1.0, abs(optimum))
    assert plain <= hull + tol
    assert hull <= optimum + tol


def test_mode_hull_closes_most_of_the_burning_gap(small_days):
    """On these days the plain LP burns energy by charging and discharging at once; the hull LP far less."""
    closed = []
    for sc, exact in small_days.values():
        optimum = exact.summary["total_cost"]
        plain, hull = lp_bound(sc, False), lp_bound(sc, True)
        if optimum - plain > 1e-6 * max(1.0, abs(optimum)):
            closed.append((hull - plain) / (optimum - plain))
    assert closed, "no small day where the binaries bind"
    assert np.median(closed) > 0.5


def test_mode_hull_cuts_simultaneous_charge_and_discharge(tmp_path):
    """One V2G car, full: at a negative price the plain LP charges and discharges at once; not with the hull."""
    sc = gridopt.load_scenario(write_hard_day(tmp_path, 4, "uncurtailable", seed=3))
    plan = build_fleet_plan(sc)
    for hull in (False, True):
        lp = build_matrix(sc, plan, modes=False, hull=hull)
        h = _highs()
        _pass(h, lp, integral=False)
        _run(h, 60)
        x = np.array(h.getSolution().col_value)
        v2g = lp.col_d >= 0
        c, d = x[lp.col_c[v2g]], x[lp.col_d[v2g]]
        pc = sc.vehicles.loc[plan.vehicle_ids, "max_charge_kw"].to_numpy(float)[lp.pair_v[v2g]]
        pd_ = sc.vehicles.loc[plan.vehicle_ids, "max_discharge_kw"].to_numpy(float)[lp.pair_v[v2g]]
        use = c / pc + d / pd_
        if hull:
            assert use.max() <= 1 + 1e-7
        else:
            assert use.max() > 1.1  # burning: both directions well beyond one step's capacity


@pytest.mark.parametrize("case", SMALL, ids=lambda c: f"{c[0]}-n{c[1]}")
def test_fast_path_on_hard_days_matches_the_plain_milp(small_days, case):
    sc, exact = small_days[case]
    optimum = exact.summary["total_cost"]
    gap = 1e-3
    s = gridopt.optimize(sc, gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=gap), baseline=False).summary
    assert s["status"] == "optimal"
    tol = 1e-6 * max(1.0, abs(optimum))
    assert s["lower_bound"] <= optimum + tol
    assert s["total_cost"] >= optimum - tol
    assert relative_gap(s["total_cost"], optimum) <= gap + 1e-6


@pytest.mark.parametrize("variant", ["base", "uncurtailable"])
def test_hard_day_at_200_vehicles_proves_its_gap(tmp_path, variant):
    """200 vehicles: the hull LP's bound and the repair prove 0.1% in seconds (before: the greedy, 26-80% gap)."""
    sc = gridopt.load_scenario(write_hard_day(tmp_path, 200, variant, time_limit_s=30))
    res = gridopt.optimize(sc, baseline=False)
    s = res.summary
    assert s["status"] == "optimal" and s["mip_gap"] <= 1e-3
    check_schedule(res.scenario, res.schedule, res.site, res.unmet)


def test_two_second_limit_on_a_hard_day_of_1000_vehicles_returns_a_checked_plan(tmp_path):
    sc = gridopt.load_scenario(write_hard_day(tmp_path, 1000, "uncurtailable", time_limit_s=2))
    t0 = time.monotonic()
    res = gridopt.optimize(sc, baseline=False)
    wall = time.monotonic() - t0
    s = res.summary
    assert s["status"] in ("optimal", "time_limit")
    assert s["total_cost"] == s["total_cost"]  # a plan with a cost
    check_schedule(res.scenario, res.schedule, res.site, res.unmet)
    assert wall <= 2.0 * 1.1 + 3.0, f"{wall:.1f} s"  # plus the fleet plan, build, extraction and check


def test_a_warm_resolve_after_a_long_solve_gets_its_own_time_limit(tmp_path):
    """HiGHS's time limit counts every run of an instance; run_until gives each run its own seconds.

    Before: after a 73 s LP (10,000 vehicles on a busy machine) the repair's warm re-solve on the same
    instance, given the 44 s left, stopped at once and the greedy plan came back (55% gap).
    """
    from gridopt.optimizer.highs import run_until
    from gridopt.synthetic import write_synthetic_fleet

    sc = gridopt.load_scenario(write_synthetic_fleet(tmp_path, 300, seed=2))
    lp = build_matrix(sc, build_fleet_plan(sc), modes=False)
    h = _highs()
    _pass(h, lp, integral=False)
    run_until(h, 60)
    first = h.getRunTime()
    assert h.getModelStatus().name == "kOptimal" and first > 0
    cols = lp.col_c.astype(np.int32)  # every charge capped: a warm re-solve of some hundred iterations
    h.changeColsBounds(len(cols), cols, np.zeros(len(cols)), 0.6 * lp.col_ub[cols])
    run_until(h, 0.5 * first)
    assert h.getModelStatus().name == "kOptimal"  # before: kTimeLimit after 0 iterations


def test_only_well_scaled_lps_go_unscaled(tmp_path):
    """Realistic coefficients span about 1e3 and go unscaled; a 1e-9 efficiency (2.5e8 in a SoC row) does not:
    unscaled, HiGHS called a plan optimal whose SoC was 15 kWh off the replay, with an invalid bound."""
    from gridopt.optimizer.fast import well_scaled

    sc = gridopt.load_scenario(write_hard_day(tmp_path, 20, "meter"))
    lp = build_matrix(sc, build_fleet_plan(sc), modes=False, hull=True)
    assert well_scaled(lp)
    lp.a_value[0] = 2.5e8
    assert not well_scaled(lp)
