"""The switching penalty (site.switching_penalty_per_kw): hand-worked optima, both model forms equal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import car, matrix_optimum, write_scenario

import gridopt
from gridopt.errors import ScenarioError
from gridopt.export.setpoints import charging_blocks
from gridopt.fleet import build_fleet_plan
from gridopt.optimizer.early import charging_time_h
from gridopt.optimizer.matrix import build_matrix
from gridopt.optimizer.switching import previous_pair, total_variation_kw
from gridopt.synthetic import write_synthetic_fleet

EXACT = gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-9)


def hourly_prices(values) -> pd.DataFrame:
    times = pd.date_range("2026-06-15T00:00", periods=len(values), freq="1h", tz="Europe/Amsterdam")
    return pd.DataFrame({"time": [t.isoformat() for t in times], "import_price": values})


def one_car(tmp_path, prices, need_kwh, w, **kw):
    """EV1 (10 kW, no losses) at the site all 4 hours, from 0 kWh, needing ``need_kwh`` by the end."""
    path = write_scenario(
        tmp_path,
        vehicles=[car("EV1", initial_soc=0.0, final_soc=need_kwh / 50.0, **kw)],
        timeseries=hourly_prices(prices),
        site={"import_limit_kw": 100, "export_limit_kw": 100, "base_load_kw": 0, "switching_penalty_per_kw": w},
    )
    return gridopt.load_scenario(path)


def test_flat_price_gives_one_flat_block(tmp_path):
    """20 kWh in 4 hours at one price: every plan costs 4.00; the penalty picks the one of least
    variation, 5 kW in all four hours (0 -> 5 -> 0: 10 kW of change, 10 w)."""
    sc = one_car(tmp_path, [0.2] * 4, 20.0, 0.01)
    for method in ("auto", "milp"):
        res = gridopt.optimize(sc, EXACT, method=method, baseline=False)
        s = res.summary
        assert s["total_cost"] == pytest.approx(4.0, abs=1e-6)  # the money is unchanged
        assert s["switching_cost"] == pytest.approx(0.1, abs=1e-6)
        assert s["objective"] == pytest.approx(4.1, abs=1e-6)
        assert res.schedule["charge_kw"].to_numpy() == pytest.approx([5.0] * 4, abs=1e-6)
        assert s["operator"]["charging_blocks"]["max_per_vehicle"] == 1


def test_penalty_trades_against_price(tmp_path):
    """10 kWh, prices 0.1 / 0.3 / 0.1 / 0.3. Without the penalty: 1.00 in the cheap hours.
    w = 0.02: still 1.00 + 20 kW of change x 0.02 = 1.40 (flat over all four: 2.00 + 0.10).
    w = 0.5: the flat 2.5 kW plan, 2.00 + 5 x 0.5 = 4.50, beats 1.00 + 20 x 0.5 = 11.00 and
    10/3 kW over the first three hours, 1.667 + 6.667 x 0.5 = 5.00."""
    for w, objective, total in ((0.0, 1.0, 1.0), (0.02, 1.4, 1.0), (0.5, 4.5, 2.0)):
        sc = one_car(tmp_path / f"w{w}", [0.1, 0.3, 0.1, 0.3], 10.0, w)
        for method in ("auto", "milp"):
            s = gridopt.optimize(sc, EXACT, method=method, baseline=False).summary
            assert s["objective"] == pytest.approx(objective, abs=1e-6), (w, method)
            assert s["total_cost"] == pytest.approx(total, abs=1e-6), (w, method)


def test_total_variation_counts_plug_in_unplug_and_v2g():
    times = pd.date_range("2026-06-15", periods=5, freq="1h", tz="UTC")
    s = pd.DataFrame(
        {
            "time": list(times) * 2,
            "vehicle_id": ["A"] * 5 + ["B"] * 5,
            "plugged_in": [True, True, False, True, True] + [True] * 5,
            "charge_kw": [3.0, 3.0, 0.0, 0.0, 2.0] + [0.0, 4.0, 0.0, 0.0, 0.0],
            "discharge_kw": [0.0, 0.0, 0.0, 1.0, 0.0] + [0.0, 0.0, 5.0, 0.0, 0.0],
        }
    )
    # A: 0->3 (3), 3->3, 3->0 at the unplug (3), 0->-1 (1), -1->2 (3), 2->0 after the horizon (2): 12
    # B: 0->4 (4), 4->-5 (9), -5->0 (5): 18
    assert total_variation_kw(s) == pytest.approx(30.0)
    assert list(previous_pair(np.array([0, 0, 0, 1]), np.array([0, 1, 3, 1]))) == [-1, 0, -1, -1]


@pytest.mark.parametrize("seed,binding", [(1, False), (2, True), (4, True)])
def test_numpy_matrices_are_the_pyomo_model_with_the_penalty(tmp_path, seed, binding):
    """Same optimum from the Pyomo model (HiGHS branch and bound) and from the numpy matrices,
    on synthetic fleets with V2G, minimum powers and, when binding, negative prices (seed 2: a V2G
    vehicle unplugs while discharging, so the rise back to 0 after it counts)."""
    path = write_synthetic_fleet(tmp_path, 4, seed=seed, binding=binding, step_minutes=60)
    sc = gridopt.load_scenario(path).replace(switching_penalty_per_kw=0.02)
    milp = gridopt.optimize(sc, EXACT, method="milp", baseline=False)
    assert milp.summary["status"] == "optimal"
    mm = build_matrix(sc, build_fleet_plan(sc))
    assert len(mm.col_sw) >= len(mm.col_c)
    assert matrix_optimum(mm) == pytest.approx(milp.summary["objective"], rel=1e-7, abs=1e-6)
    fast = gridopt.optimize(sc, EXACT, baseline=False)
    assert fast.summary["objective"] == pytest.approx(milp.summary["objective"], rel=1e-6, abs=1e-6)
    # the objective holds the penalty as recomputed from the schedule, apart from total_cost
    s = fast.summary
    assert s["switching_cost"] == pytest.approx(0.02 * total_variation_kw(fast.schedule), rel=1e-9)
    assert s["objective"] == pytest.approx(s["total_cost"] + s["switching_cost"] + s.get("carbon_cost", 0.0), rel=1e-9)


def test_fewer_blocks_at_the_same_cost_on_a_ready_scenario():
    """Two-shift vans: many optimal plans cost the same; a small penalty picks one with fewer blocks."""
    sc = gridopt.load_scenario("scenarios/delivery_vans_two_shifts.yaml")
    plain = gridopt.optimize(sc, baseline=False, flexibility=False)
    steady = gridopt.optimize(sc.replace(switching_penalty_per_kw=0.001), baseline=False, flexibility=False)
    assert steady.summary["total_cost"] == pytest.approx(plain.summary["total_cost"], rel=1e-4)
    before, after = charging_blocks(plain.schedule), charging_blocks(steady.schedule)
    assert after["median_per_vehicle"] < before["median_per_vehicle"]
    assert after["max_per_vehicle"] < before["max_per_vehicle"]


def test_a_negative_penalty_is_bad_input(tmp_path):
    sc = one_car(tmp_path, [0.2] * 4, 20.0, 0.0)
    with pytest.raises(ScenarioError, match="switching_penalty_per_kw"):
        sc.replace(switching_penalty_per_kw=-1)


# --- site.prefer_early_charging: a lexicographic polish, the cost never rises -----------------


def test_early_preference_on_a_flat_price(tmp_path):
    """10 kWh at one price over 4 hours: every plan costs 2.00; the preferred one charges 10 kW in the first hour."""
    path = write_scenario(
        tmp_path,
        vehicles=[car("EV1", initial_soc=0.0, final_soc=0.2)],
        timeseries=hourly_prices([0.2] * 4),
        site={"import_limit_kw": 100, "export_limit_kw": 100, "base_load_kw": 0, "prefer_early_charging": True},
    )
    res = gridopt.optimize(gridopt.load_scenario(path), EXACT, baseline=False)
    assert res.summary["total_cost"] == pytest.approx(2.0, abs=1e-6)
    assert res.schedule["charge_kw"].to_numpy() == pytest.approx([10.0, 0.0, 0.0, 0.0], abs=1e-6)
    assert res.summary["method"].endswith("+early")


@pytest.mark.parametrize("name", ["delivery_vans_two_shifts", "depot_bus_v2g", "workplace_acn"])
def test_early_preference_keeps_the_cost_and_moves_charging_earlier(name):
    """The same solve with and without the polish: the objective never rises (so the proven gap holds
    against the same bound) and the energy-weighted charging time never moves later."""
    sc = gridopt.load_scenario(f"scenarios/{name}.yaml")
    opts = gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-4)
    plain = gridopt.optimize(sc, opts, baseline=False, flexibility=False)
    early = gridopt.optimize(sc.replace(prefer_early_charging=True), opts, baseline=False, flexibility=False)
    a, b = plain.summary, early.summary
    assert b["objective"] <= a["objective"] + 1e-6 * max(1.0, abs(a["objective"]))
    assert b["lower_bound"] == pytest.approx(a["lower_bound"], rel=1e-12)
    assert b["mip_gap"] <= 1e-4 + 1e-9
    assert b["total_cost"] == pytest.approx(a["total_cost"], rel=1e-4)  # equal within the gap
    assert charging_time_h(early.schedule, sc.grid.start) <= charging_time_h(plain.schedule, sc.grid.start) + 1e-6
