"""The fast path (LP bound, repair, neighbourhood, branch and bound) against the plain MILP."""

from __future__ import annotations

import highspy
import numpy as np
import pytest
from conftest import matrix_optimum, synthetic_scenarios

import gridopt
from gridopt.fleet import build_fleet_plan
from gridopt.optimizer.fast import _mip, _run
from gridopt.optimizer.matrix import build_matrix
from gridopt.optimizer.solve import relative_gap
from gridopt.synthetic import write_synthetic_fleet

CASES = [(6, 1, False), (6, 2, True), (10, 3, False), (10, 1, True), (10, 4, True), (8, 5, False)]
EXACT = gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-9)


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    return synthetic_scenarios(tmp_path_factory, CASES)


@pytest.fixture(scope="module")
def exact(scenarios):
    """The plain MILP's optimum of every case, solved once."""
    return {k: gridopt.optimize(sc, EXACT, method="milp", baseline=False) for k, sc in scenarios.items()}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n{c[0]}-seed{c[1]}-{'binding' if c[2] else 'plain'}")
def test_fast_path_matches_the_plain_milp_and_its_bound_is_valid(scenarios, exact, case):
    sc = scenarios[case]
    assert exact[case].summary["status"] == "optimal"
    optimum = exact[case].summary["total_cost"]
    for gap in (1e-3, 1e-6):
        fast = gridopt.optimize(sc, gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=gap), baseline=False)
        s = fast.summary
        assert s["status"] == "optimal"
        # the bound is a true lower bound, the plan a true upper bound, and the gap honest
        assert s["lower_bound"] <= optimum + 1e-6 * max(1, abs(optimum))
        assert s["total_cost"] >= optimum - 1e-6 * max(1, abs(optimum))
        assert relative_gap(s["total_cost"], optimum) <= gap + 1e-7
        assert s["mip_gap"] == pytest.approx(relative_gap(s["total_cost"], s["lower_bound"]), abs=1e-9)
        assert s["mip_gap"] <= gap + 1e-9


@pytest.mark.parametrize("case", CASES[:3], ids=lambda c: f"n{c[0]}-seed{c[1]}-{'binding' if c[2] else 'plain'}")
def test_numpy_matrices_are_the_pyomo_model(scenarios, exact, case):
    """The same MILP: HiGHS on the numpy-built matrices finds the Pyomo model's optimum."""
    sc = scenarios[case]
    exact = exact[case]
    mm = build_matrix(sc, build_fleet_plan(sc))
    assert matrix_optimum(mm) == pytest.approx(exact.summary["objective"], rel=1e-7, abs=1e-6)
    assert exact.summary["model"]["binaries"] == len(mm.binary)


def test_binding_case_needs_the_binaries(scenarios, exact):
    """With negative prices and PV that cannot be curtailed, the binary-free LP charges and discharges
    at once to burn energy: its bound is strictly below the MILP optimum, and the fast path still
    closes the gap (so it must have gone beyond the LP)."""
    found = False
    for key, sc in scenarios.items():
        if not key[2]:
            continue
        fast = gridopt.optimize(sc, gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-7), baseline=False)
        lp_gap = fast.summary["stages"].get("repair_gap", 0)
        if lp_gap > 1e-6:
            found = True
            assert fast.summary["method"] != "lp+repair"
            assert fast.summary["total_cost"] == pytest.approx(exact[key].summary["total_cost"], rel=1e-6, abs=1e-5)
    assert found, "no synthetic binding case made the binaries bind"


def test_time_limit_without_a_plan_is_a_solver_error(tmp_path, monkeypatch):
    """Only when the greedy fallback finds no plan either (here: switched off); else see tests/test_cli_solver.py."""
    from gridopt.optimizer import fast

    monkeypatch.setattr(fast, "greedy_plan", lambda *args: None)
    sc = gridopt.load_scenario(write_synthetic_fleet(tmp_path, 400, seed=5))
    with pytest.raises(gridopt.SolverError, match="without any feasible plan"):
        gridopt.optimize(sc, gridopt.SolverOptions(time_limit_s=0.001, mip_rel_gap=1e-3), baseline=False)


def test_every_plan_of_the_fast_path_passes_the_check(scenarios):
    from gridopt.check import check_schedule

    for sc in scenarios.values():
        res = gridopt.optimize(sc, gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-3))
        assert check_schedule(sc, res.schedule, res.site, res.unmet) == []
        assert np.isfinite(res.summary["lower_bound"])


# ---------------------------------------------------------------------------
# branching on the one-meter rule (issue 10 item 3)
# ---------------------------------------------------------------------------


def _meter_lp(sc):
    """The hull LP of ``sc``, solved, with its one-meter steps."""
    from gridopt.optimizer.fast import _highs, _pass
    from gridopt.optimizer.matrix import one_meter_steps
    from gridopt.scenario import step_inputs

    lp = build_matrix(sc, build_fleet_plan(sc), modes=False, hull=True)
    h = _highs()
    _pass(h, lp, integral=False)
    _run(h, 60)
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return h, lp, one_meter_steps(sc, step_inputs(sc))


@pytest.mark.parametrize("n,seed", [(20, 1), (30, 2)])
def test_meter_branching_proves_the_one_way_meter_relaxation(tmp_path, n, seed):
    """Finished, the branching's bound is the optimum of the LP that keeps every one-meter binary
    (solved independently by HiGHS's branch and bound), above the hull LP's; its plan uses no meter
    step both ways."""
    from gridopt.optimizer.fast import _both_ways, branch_on_meters
    from gridopt.synthetic import write_hard_day

    sc = gridopt.load_scenario(write_hard_day(tmp_path, n, "meter", seed=seed))
    h, lp, steps = _meter_lp(sc)
    hull = h.getInfo().objective_function_value
    assert np.any(_both_ways(lp, np.array(h.getSolution().col_value), steps) > 1e-6)  # the loose case
    mb = branch_on_meters(h, lp, steps, lambda: 60.0)
    assert mb.finished and mb.one_way and mb.nodes >= 2
    assert np.all(_both_ways(lp, mb.values, steps) <= 1e-6)
    ref = build_matrix(sc, build_fleet_plan(sc), modes=False, hull=True, keep_meters=steps)
    hm = _mip(ref, 1e-9, None)
    _run(hm, 60)
    assert hm.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert mb.bound == pytest.approx(hm.getInfo().objective_function_value, rel=1e-7, abs=1e-6)
    assert mb.bound > hull + 1e-6
    # the LP's own bounds are back as they were
    assert np.array_equal(
        np.array(h.getLp().col_upper_)[lp.col_exp],
        np.where(np.isinf(lp.col_ub), highspy.kHighsInf, lp.col_ub)[lp.col_exp],
    )


def test_meter_branching_bound_is_never_above_the_milp_optimum(tmp_path):
    """Against the plain MILP (solved to 1e-9) on a meter day it solves: finished and cut short after
    one node alike, the bound stays at or below the optimum."""
    from gridopt.optimizer.fast import branch_on_meters
    from gridopt.synthetic import write_hard_day

    sc = gridopt.load_scenario(write_hard_day(tmp_path, 3, "meter", seed=3))
    mm = build_matrix(sc, build_fleet_plan(sc))
    hm = _mip(mm, 1e-9, None)
    _run(hm, 60)
    assert hm.getModelStatus() == highspy.HighsModelStatus.kOptimal
    optimum = hm.getInfo().objective_function_value
    tol = 1e-7 * max(1.0, abs(optimum))
    h, lp, steps = _meter_lp(sc)
    calls = iter([1.0, 1.0, 1.0, 0.0])
    short = branch_on_meters(h, lp, steps, lambda: next(calls, 0.0))
    assert short.bound <= optimum + tol
    h, lp, steps = _meter_lp(sc)
    full = branch_on_meters(h, lp, steps, lambda: 60.0)
    assert full.finished and full.bound <= optimum + tol
    assert full.bound >= short.bound - tol
    # the fast path with the branching still lands on the optimum
    res = gridopt.optimize(sc, EXACT, baseline=False)
    assert res.summary["total_cost"] == pytest.approx(optimum, rel=1e-6, abs=1e-5)


class _Clocks:
    """A wall clock that advances 1 ms per reading; the thread gets ``share`` of it as CPU time."""

    def __init__(self, share: float):
        self.wall, self.share = 0.0, share

    def monotonic(self) -> float:
        self.wall += 1e-3
        return self.wall

    def thread_time(self) -> float:
        return self.wall * self.share


def test_slowdown_is_wall_over_cpu_time_of_a_spin_within_its_bounds(monkeypatch):
    """A thread that gets a third of the wall time as CPU runs 3 times slower than idle; the factor
    stays within 1 and MAX_SLOWDOWN, and is measured again only after CACHE_S."""
    from gridopt.optimizer import pace

    for share, factor in ((1 / 3, 3.0), (1.0, 1.0), (1.5, 1.0), (0.01, pace.MAX_SLOWDOWN), (0.0, pace.MAX_SLOWDOWN)):
        clocks = _Clocks(share)
        monkeypatch.setattr(pace.time, "monotonic", clocks.monotonic)
        monkeypatch.setattr(pace.time, "thread_time", clocks.thread_time)
        assert pace.measure() == pytest.approx(factor, rel=1e-6)
        assert clocks.wall >= pace.SAMPLE_S  # it spun for its sample
    clocks = _Clocks(0.5)
    monkeypatch.setattr(pace.time, "monotonic", clocks.monotonic)
    monkeypatch.setattr(pace.time, "thread_time", clocks.thread_time)
    monkeypatch.setattr(pace, "_cache", None)
    assert pace.slowdown() == pytest.approx(2.0)
    clocks.share = 0.25
    assert pace.slowdown() == pytest.approx(2.0)  # cached
    clocks.wall += pace.CACHE_S
    assert pace.slowdown() == pytest.approx(4.0)


def test_an_estimate_is_scaled_only_where_it_can_matter(monkeypatch):
    """0.1 s of work with 60 s left stays 0.1 s without measuring; with 2 s left it is scaled."""
    from gridopt.optimizer import pace

    calls = []
    monkeypatch.setattr(pace, "slowdown", lambda: calls.append(1) or 3.0)
    assert pace.scaled(0.1, 60.0) == 0.1 and not calls
    assert pace.scaled(0.1, 2.0) == pytest.approx(0.3) and calls == [1]


def test_slowdown_on_this_machine_is_a_factor_within_bounds():
    from gridopt.optimizer import pace

    assert 1.0 <= pace.measure(0.02) <= pace.MAX_SLOWDOWN


def test_whole_model_branch_and_bound_is_skipped_when_its_root_cannot_finish(scenarios, exact, monkeypatch):
    """Stage 5 on a model whose root node cannot finish in the time left is skipped (HiGHS checks no
    interrupt while separating cuts at the root, so it would overrun the limit): the run returns its
    checked plan at once, status time_limit, with the bound it had, which is still valid."""
    from gridopt.optimizer import fast

    options = gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-7)
    reached = [
        k for k, sc in scenarios.items() if "mip" in gridopt.optimize(sc, options, baseline=False).summary["method"]
    ]
    assert reached, "no case reached the whole-model branch and bound"
    monkeypatch.setattr(fast, "MIP_ROOT_MIN_BINARIES", 0)
    monkeypatch.setattr(fast, "MIP_ROOT_S_PER_BINARY", 1e6)  # no model's root fits in 60 s now
    for key in reached:
        res = gridopt.optimize(scenarios[key], options, baseline=False)  # the plan passes gridopt.check inside
        s = res.summary
        assert "mip" not in s["method"].split("+") and s["stages"]["mip_skipped_s_left"] > 50
        assert s["status"] == "time_limit" and "too little time left" in s["termination"]
        best = exact[key].summary["total_cost"]
        assert s["total_cost"] >= best - 1e-6 and s["lower_bound"] <= best + 1e-6
