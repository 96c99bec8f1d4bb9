"""The fast path (LP bound, repair, neighbourhood, branch and bound) against the plain MILP."""

from __future__ import annotations

import highspy
import numpy as np
import pytest

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
    out = {}
    for n, seed, binding in CASES:
        d = tmp_path_factory.mktemp(f"s{n}_{seed}_{binding}")
        out[(n, seed, binding)] = gridopt.load_scenario(write_synthetic_fleet(d, n, seed=seed, binding=binding))
    return out


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
    h = _mip(mm, 1e-9, None)
    _run(h, 60)
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert h.getInfo().objective_function_value == pytest.approx(exact.summary["objective"], rel=1e-7, abs=1e-6)
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
