"""Soft SoC checkpoints (Scenario.soft_checkpoints): hand-worked optima, both model forms equal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import car, matrix_optimum, write_scenario

import gridopt
from gridopt.fleet import build_fleet_plan
from gridopt.optimizer.checkpoints import checkpoint_cost, resolve
from gridopt.optimizer.matrix import build_matrix, slim_segments
from gridopt.synthetic import write_synthetic_fleet

EXACT = gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-9)
TZ = "Europe/Amsterdam"


def checkpoints(rows) -> pd.DataFrame:
    return pd.DataFrame(
        [(v, pd.Timestamp(t, tz=TZ), s, p) for v, t, s, p in rows],
        columns=["vehicle_id", "time", "soc_kwh", "penalty_per_kwh"],
    )


def one_car(tmp_path, p_first, p_end):
    """EV1 (10 kW, no losses) at the site 00:00-04:00 from 0 kWh, no requirement; prices 0.1, 0.5, 0.2,
    0.3 per kWh; checkpoints 15 kWh at 02:00 (``p_first`` per kWh short) and 30 kWh at 04:00 (``p_end``)."""
    times = pd.date_range("2026-06-15T00:00", periods=4, freq="1h", tz=TZ)
    prices = pd.DataFrame({"time": [t.isoformat() for t in times], "import_price": [0.1, 0.5, 0.2, 0.3]})
    path = write_scenario(tmp_path, vehicles=[car("EV1", initial_soc=0.0)], timeseries=prices)
    sc = gridopt.load_scenario(path)
    cp = checkpoints([("EV1", "2026-06-15T02:00", 15.0, p_first), ("EV1", "2026-06-15T04:00", 30.0, p_end)])
    return sc.with_built(soft_checkpoints=cp)


@pytest.mark.parametrize(
    "p_first,p_end,charge,total,objective",
    [
        # 30 kWh by 04:00 in the three cheap hours costs 1 + 2 + 3 = 6.00; the 02:00 checkpoint is then
        # 5 kWh short. At 0.4 per kWh short, moving 5 kWh from hour 3 (0.3) to hour 1 (0.5) costs
        # 0.2 per kWh and pays: 1.0 + 2.5 + 2.0 + 1.5 = 7.00, nothing short.
        (0.4, 1.0, [10, 5, 10, 5], 7.0, 7.0),
        # at 0.1 per kWh short it does not: 6.00 plus 5 x 0.1 short = 6.50
        (0.1, 1.0, [10, 0, 10, 10], 6.0, 6.5),
        # at 0.25 per kWh short at the end, hour 3 (0.3) is dearer than the shortfall, and hour 1
        # (0.5) dearer than both shortfalls (0.35): 3.00 energy + 0.5 + 10 x 0.25 = 6.00
        (0.1, 0.25, [10, 0, 10, 0], 3.0, 6.0),
    ],
)
def test_one_car_two_checkpoints_by_hand(tmp_path, p_first, p_end, charge, total, objective):
    sc = one_car(tmp_path, p_first, p_end)
    for method in ("auto", "milp"):
        res = gridopt.optimize(sc, EXACT, method=method, baseline=False)
        s = res.summary
        assert res.schedule["charge_kw"].to_numpy() == pytest.approx(charge, abs=1e-6), method
        assert s["total_cost"] == pytest.approx(total, abs=1e-6)  # the shortfalls are not money paid
        assert s["objective"] == pytest.approx(objective, abs=1e-6)
        assert checkpoint_cost(sc, res.schedule) == pytest.approx(objective - total, abs=1e-6)
        assert s["unmet_energy_kwh"] == 0.0  # checkpoints are not requirements


def test_checkpoint_cost_from_the_schedule_alone():
    """SoC at a boundary = the schedule's soc_kwh of the step ending there."""
    idx = pd.date_range("2026-06-15T00:00", periods=3, freq="1h", tz=TZ)
    schedule = pd.DataFrame({"time": idx, "vehicle_id": "EV1", "soc_kwh": [4.0, 9.0, 12.0]})

    class Sc:
        soft_checkpoints = checkpoints([("EV1", "2026-06-15T01:00", 5.0, 2.0), ("EV1", "2026-06-15T03:00", 20.0, 0.5)])

        class grid:
            step_minutes = 60

    assert checkpoint_cost(Sc, schedule) == pytest.approx(1.0 * 2.0 + 8.0 * 0.5)


def test_checkpoints_must_sit_inside_a_plug_in_segment(tmp_path):
    sc = one_car(tmp_path, 0.1, 1.0)
    plan = build_fleet_plan(sc)
    r = resolve(sc, plan)
    assert list(r.t) == [1, 3]
    for when, what in (("2026-06-15T00:00", "boundary"), ("2026-06-15T02:30", "boundary")):
        bad = sc.with_built(soft_checkpoints=checkpoints([("EV1", when, 1.0, 1.0)]))
        with pytest.raises(ValueError, match=what):
            resolve(bad, plan)
    with pytest.raises(ValueError, match="unknown vehicle"):
        resolve(sc.with_built(soft_checkpoints=checkpoints([("EVX", "2026-06-15T01:00", 1.0, 1.0)])), plan)
    with pytest.raises(ValueError, match="penalty"):
        resolve(sc.with_built(soft_checkpoints=checkpoints([("EV1", "2026-06-15T01:00", 1.0, -1.0)])), plan)


@pytest.mark.parametrize("seed,binding", [(1, False), (2, True)])
def test_numpy_matrices_are_the_pyomo_model_with_checkpoints(tmp_path, seed, binding):
    """Same optimum from the Pyomo model (HiGHS branch and bound) and from the numpy matrices, on
    synthetic fleets (V2G, minimum powers, binding limits) with checkpoints at plugged-in steps of
    every vehicle, some on charge-only segments that would otherwise be slim."""
    path = write_synthetic_fleet(tmp_path, 4, seed=seed, binding=binding, step_minutes=60)
    sc = gridopt.load_scenario(path)
    plan = build_fleet_plan(sc)
    rng = np.random.default_rng(seed)
    rows = []
    for s in plan.segments.itertuples():
        if s.end - s.start < 2:
            continue
        vid = plan.vehicle_ids[s.vehicle]
        B = float(sc.vehicles.loc[vid, "battery_kwh"])
        for b in sorted(rng.choice(np.arange(s.start + 1, s.end + 1), size=2, replace=False)):
            rows.append((vid, sc.grid.boundary_time(int(b)), float(rng.uniform(0.3, 1.0) * B), rng.uniform(0.05, 2.0)))
    cp = pd.DataFrame(rows, columns=["vehicle_id", "time", "soc_kwh", "penalty_per_kwh"])
    sc = sc.with_built(soft_checkpoints=cp)
    assert not slim_segments(sc, plan)[resolve(sc, plan).seg].any()
    milp = gridopt.optimize(sc, EXACT, method="milp", baseline=False)
    assert milp.summary["status"] == "optimal"
    mm = build_matrix(sc, plan)
    assert len(mm.col_cp) == len(cp)
    assert matrix_optimum(mm) == pytest.approx(milp.summary["objective"], rel=1e-7, abs=1e-6)
    fast = gridopt.optimize(sc, EXACT, baseline=False)
    assert fast.summary["objective"] == pytest.approx(milp.summary["objective"], rel=1e-6, abs=1e-6)
    # some checkpoint is short at the optimum, so the term is exercised, and it is outside total_cost
    short = checkpoint_cost(sc, fast.schedule)
    assert short > 0
    s = fast.summary
    assert s["objective"] == pytest.approx(s["total_cost"] + short + s.get("carbon_cost", 0.0), rel=1e-9)


def test_checkpoints_survive_a_replace(tmp_path):
    """Scenario.replace rebuilds from the YAML config: the Python-level checkpoints are carried over
    (never silently dropped), and still priced."""
    sc = one_car(tmp_path, 0.1, 1.0).replace(import_limit_kw=50)
    assert sc.soft_checkpoints is not None and len(sc.soft_checkpoints) == 2
    res = gridopt.optimize(sc, EXACT, baseline=False)
    assert res.summary["objective"] == pytest.approx(6.5, abs=1e-6)
