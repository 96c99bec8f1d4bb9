"""The slim form of charge-only segments (one energy sum instead of a SoC per step, issue 10 item 5).

A charge-only segment's SoC never falls, so its bounds hold at every boundary
exactly when they hold at its two ends, and the per-step SoC equalities sum to
one. The slim and the full form must have the same optimum, in Pyomo and in
the numpy matrices, and the SoC read back (running sums) must be the SoC the
full form reports.
"""

from __future__ import annotations

import highspy
import numpy as np
import pandas as pd
import pytest
from conftest import car, write_scenario

import gridopt
from gridopt.check import check_schedule
from gridopt.fleet import build_fleet_plan
from gridopt.optimizer import extract, solve
from gridopt.optimizer.fast import _mip, _run, plan_arrays
from gridopt.optimizer.matrix import build_matrix, slim_segments, soc_after
from gridopt.optimizer.model import build_model
from gridopt.synthetic import write_synthetic_fleet

EXACT = gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-9)
START = pd.Timestamp("2026-06-15T00:00:00+02:00")


def hourly_prices(prices) -> pd.DataFrame:
    times = [(START + pd.Timedelta(hours=i)).isoformat() for i in range(len(prices))]
    return pd.DataFrame({"time": times, "import_price": prices})


def one_car(tmp_path, prices, **kw):
    """One charge-only car (50 kWh, 10 kW, charge efficiency 0.9) over four hourly steps."""
    veh = car(charge_efficiency=0.9, **kw)
    path = write_scenario(
        tmp_path / "sc",
        vehicles=[veh],
        timeseries=hourly_prices(prices),
        tariff={"export_price": 0.0},
    )
    return gridopt.load_scenario(path)


def pyomo_optimum(sc, slim: bool):
    m, data = build_model(sc, build_fleet_plan(sc), slim=slim)
    rep = solve(m, EXACT)
    assert rep.status == "optimal"
    return rep.objective, m, data


def matrix_optimum(sc, slim: bool):
    mm = build_matrix(sc, build_fleet_plan(sc), slim=slim)
    h = _mip(mm, 1e-9, None)
    _run(h, 60)
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return h.getInfo().objective_function_value, mm, np.array(h.getSolution().col_value)


def test_hand_worked_charge_only_car_slim_equals_full(tmp_path):
    """25 -> 43 kWh needs 18 kWh stored, 20 kWh drawn at efficiency 0.9: 10 kW in the cheapest hour
    (0.1) and 10 kW in the next (0.2): cost 3.0. SoC after each step: 25, 34, 43, 43."""
    sc = one_car(tmp_path, [0.3, 0.1, 0.2, 0.4], final_soc=43 / 50)
    plan = build_fleet_plan(sc)
    assert slim_segments(sc, plan).tolist() == [True]
    for slim in (False, True):
        obj, m, data = pyomo_optimum(sc, slim)
        assert obj == pytest.approx(3.0, abs=1e-7)
        schedule, site, unmet = extract(m, data)
        assert schedule["charge_kw"].to_numpy() == pytest.approx([0.0, 10.0, 10.0, 0.0], abs=1e-7)
        assert schedule["soc_kwh"].to_numpy() == pytest.approx([25.0, 34.0, 43.0, 43.0], abs=1e-7)
        obj_m, mm, x = matrix_optimum(sc, slim)
        assert obj_m == pytest.approx(3.0, abs=1e-7)
        assert soc_after(mm, x) == pytest.approx([25.0, 34.0, 43.0, 43.0], abs=1e-7)
    full, slim = build_matrix(sc, plan, slim=False), build_matrix(sc, plan, slim=True)
    # 5 SoC columns and 4 equalities become 2 columns and 1 sum
    assert (len(full.col_e), len(slim.col_e)) == (5, 2)
    assert full.n_rows - slim.n_rows == 3


def test_binding_max_soc_stays_exact_in_the_slim_form(tmp_path):
    """Negative prices: the car charges all it may. max_soc 0.8 caps it at 40 kWh, 15 kWh stored from 25,
    15 / 0.9 = 16.67 kWh drawn at -0.1: cost -1.6667. The slim form bounds only the end SoC, which is
    enough because the SoC never falls; after each step: 34, 40, 40, 40 (charging all it can early is one
    optimum; the SoC at the end is 40 in every optimum)."""
    sc = one_car(tmp_path, [-0.1] * 4, max_soc=0.8)
    for slim in (False, True):
        obj, m, data = pyomo_optimum(sc, slim)
        assert obj == pytest.approx(-15 / 0.9 * 0.1, abs=1e-7)
        schedule, _, _ = extract(m, data)
        soc = schedule["soc_kwh"].to_numpy()
        assert soc[-1] == pytest.approx(40.0, abs=1e-7)
        assert np.all(np.diff(np.r_[25.0, soc]) >= -1e-9) and soc.max() <= 40 + 1e-7
        obj_m, _, _ = matrix_optimum(sc, slim)
        assert obj_m == pytest.approx(-15 / 0.9 * 0.1, abs=1e-7)


def test_segments_that_need_the_soc_per_step_keep_the_full_form(tmp_path):
    """V2G (the SoC can fall: min_soc binds inside the segment) and a start above max_soc (its rule
    reads the SoC after each charging step) keep a SoC column and an equality per step."""
    v2g = car("V2G", max_discharge_kw=8.0, initial_soc=0.5, final_soc=0.5)
    above = car("HIGH", initial_soc=0.95, max_soc=0.9)
    plain = car("PLAIN", initial_soc=0.2, final_soc=0.6)
    short = write_scenario(
        tmp_path / "sc",
        vehicles=[v2g, above, plain],
        timeseries=hourly_prices([0.3, -0.1, 0.2, 0.4]),
        tariff={"export_price": 0.1},
    )
    sc = gridopt.load_scenario(short)
    plan = build_fleet_plan(sc)
    assert slim_segments(sc, plan).tolist() == [False, False, True]
    mm = build_matrix(sc, plan, slim=True)
    # per-step SoC columns for the V2G and the high car (4 steps each), the plain car only at its end
    has = mm.col_e_after >= 0
    assert has.tolist() == [True] * 8 + [False, False, False, True]
    for slim in (False, True):
        obj, _, _ = pyomo_optimum(sc, slim)
        obj_m, _, _ = matrix_optimum(sc, slim)
        assert obj_m == pytest.approx(obj, rel=1e-8, abs=1e-7)
    assert pyomo_optimum(sc, True)[0] == pytest.approx(pyomo_optimum(sc, False)[0], rel=1e-8, abs=1e-7)


CASES = [(8, 1, False), (8, 2, True), (12, 3, False)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n{c[0]}-seed{c[1]}-{'binding' if c[2] else 'plain'}")
def test_slim_and_full_have_one_optimum_in_both_forms(tmp_path, case):
    """Synthetic fleets (40% V2G, minimum power, trips and sessions): the full Pyomo model (the
    reference), the slim Pyomo model and the slim and full matrices all have the same optimum; the
    fast path's plan (slim matrices) passes the physics check, which replays the SoC it reports."""
    n, seed, binding = case
    sc = gridopt.load_scenario(write_synthetic_fleet(tmp_path, n, seed=seed, binding=binding))
    plan = build_fleet_plan(sc)
    assert slim_segments(sc, plan).any()
    ref, _, _ = pyomo_optimum(sc, False)
    slim_py, m, data = pyomo_optimum(sc, True)
    assert slim_py == pytest.approx(ref, rel=1e-7, abs=1e-6)
    assert check_schedule(sc, *extract(m, data)) == []
    for slim in (False, True):
        assert matrix_optimum(sc, slim)[0] == pytest.approx(ref, rel=1e-7, abs=1e-6)
    res = gridopt.optimize(sc, EXACT, baseline=False)
    assert res.summary["total_cost"] == pytest.approx(ref, rel=1e-6, abs=1e-5)
    assert check_schedule(sc, res.schedule, res.site, res.unmet) == []


def test_slim_soc_is_the_full_forms_soc_for_the_same_powers(tmp_path):
    """Same charge and discharge in both layouts: the SoC the slim plan reports (running sums) is
    the full form's SoC column by column."""
    sc = gridopt.load_scenario(write_synthetic_fleet(tmp_path, 10, seed=4))
    plan = build_fleet_plan(sc)
    full = build_matrix(sc, plan, slim=False)
    slim = build_matrix(sc, plan, slim=True)
    h = _mip(full, 1e-9, None)
    _run(h, 60)
    x_full = np.array(h.getSolution().col_value)
    # the full plan in the slim layout: powers, SoC at start and end of each segment, the rest alike
    x_slim = np.zeros(slim.n_cols)
    for name in ("col_c", "col_u", "col_imp", "col_exp", "col_pv", "col_x", "col_y", "col_z", "col_peak"):
        a, b = getattr(full, name), getattr(slim, name)
        ok = a >= 0
        x_slim[b[ok]] = x_full[a[ok]]
    hd = full.col_d >= 0
    x_slim[slim.col_d[hd]] = x_full[full.col_d[hd]]
    x_slim[slim.col_e_start] = x_full[full.col_e_start]
    last = slim.col_e_after >= 0
    x_slim[slim.col_e_after[last]] = x_full[full.col_e_after[last]]
    from gridopt.optimizer.greedy import max_violation

    assert max_violation(slim, x_slim) <= 1e-6
    assert soc_after(slim, x_slim) == pytest.approx(x_full[full.col_e_after], abs=1e-6)
    a = plan_arrays(sc, plan, full, x_full)
    b = plan_arrays(sc, plan, slim, x_slim)
    for u, w in zip(a, b, strict=True):
        assert np.allclose(u, w, atol=1e-6, equal_nan=True)
