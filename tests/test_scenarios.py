"""Every shipped scenario solves, and its plan satisfies the physics rebuilt from the outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli import SUMMARY_KEYS

import gridopt
from gridopt.check import check_schedule, plugged_steps
from gridopt.io.write import write_results

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def test_four_real_uses_are_shipped():
    names = {p.stem for p in SCENARIOS}
    assert {"depot_bus_v2g", "delivery_vans_two_shifts", "workplace_acn", "pv_tight_grid"} <= names


@pytest.fixture(scope="module", params=SCENARIOS, ids=lambda p: p.stem)
def solved(request):
    sc = gridopt.load_scenario(request.param)
    res = gridopt.optimize(sc, gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-4))
    return sc, res


def test_plan_is_optimal_and_passes_the_independent_check(solved):
    sc, res = solved
    assert res.summary["status"] == "optimal"
    assert res.summary["mip_gap"] <= 1e-4
    assert res.summary["lower_bound"] <= res.summary["objective"] + 1e-6  # the bound is on the objective
    assert check_schedule(sc, res.schedule, res.site, res.unmet) == []


def test_energy_balance_rebuilt_from_the_schedule(solved):
    """Per vehicle and plugged-in stretch, SoC change = eta_c*charge*dt - discharge*dt/eta_d."""
    sc, res = solved
    dt = sc.grid.dt_h
    for vid, g in res.schedule.groupby("vehicle_id"):
        veh = sc.vehicles.loc[vid]
        assert (g["plugged_in"].to_numpy() == plugged_steps(sc, vid)).all()
        soc = g["soc_kwh"].to_numpy()
        delta = (
            veh["charge_efficiency"] * g["charge_kw"].to_numpy() * dt
            - g["discharge_kw"].to_numpy() * dt / veh["discharge_efficiency"]
        )
        plug = g["plugged_in"].to_numpy()
        inner = plug[1:] & plug[:-1]  # consecutive plugged steps of one stretch
        assert np.allclose(soc[1:][inner] - soc[:-1][inner], delta[1:][inner], atol=1e-5)
        assert np.isnan(soc[~plug]).all() and not np.isnan(soc[plug]).any()
        assert (g.loc[~g["plugged_in"], ["charge_kw", "discharge_kw"]].to_numpy() == 0).all()
        both = (g["charge_kw"] > 1e-9) & (g["discharge_kw"] > 1e-9)
        assert not both.any()


def test_site_balance_and_limits(solved):
    sc, res = solved
    s = res.site
    assert s.index.equals(sc.grid.index)
    lhs = s["grid_import_kw"] - s["grid_export_kw"]
    rhs = s["base_load_kw"] + s["ev_charge_kw"] - s["ev_discharge_kw"] - s["pv_used_kw"]
    assert np.allclose(lhs, rhs, atol=1e-5)
    assert (s["grid_import_kw"] <= sc.import_limit_kw + 1e-5).all()
    assert (s["grid_export_kw"] <= sc.export_limit_kw + 1e-5).all()
    assert ((s["grid_import_kw"] <= 1e-9) | (s["grid_export_kw"] <= 1e-9)).all()
    assert (s["pv_used_kw"] <= s["pv_kw"] + 1e-6).all()


def test_costs_add_up_and_beat_a_feasible_baseline(solved):
    sc, res = solved
    k = res.summary
    parts = k["energy_cost"] + k["demand_charge_cost"] + k["degradation_cost"] + k["unmet_energy_cost"]
    # utility events are money too (grid_* scenarios); the grid objectives are weighted terms beside it
    parts += (
        k.get("demand_response_cost", 0.0) - k.get("export_request_payment", 0.0) + k.get("export_request_penalty", 0.0)
    )
    weighted = sum(
        k.get(c, 0.0) for c in ("carbon_cost", "grid_peak_cost", "valley_fill_cost", "tracking_cost")
    ) - k.get("renewable_bonus", 0.0)
    assert k["total_cost"] == pytest.approx(parts, rel=1e-9)
    assert k["total_cost"] + weighted == pytest.approx(k["objective"], rel=1e-6, abs=1e-4)
    dt = sc.grid.dt_h
    s = res.site
    assert k["energy_cost"] == pytest.approx(
        ((s["import_price"] * s["grid_import_kw"] - s["export_price"] * s["grid_export_kw"]) * dt).sum()
    )
    b = k["baseline"]
    if b["import_limit_violation_steps"] == 0 and (s["grid_export_kw"].max() <= sc.export_limit_kw):
        # the uncontrolled plan is then feasible for the model: the optimum cannot be worse
        b_obj = b.get("objective", b["total_cost"])
        assert k["objective"] <= b_obj + 1e-4 * max(1, abs(b_obj))
    assert k["savings"]["total_cost"] == pytest.approx(b["total_cost"] - k["total_cost"])


def test_files_written_match_the_result(solved, tmp_path):
    sc, res = solved
    write_results(res, tmp_path / "out")
    sched = pd.read_csv(tmp_path / "out" / "schedule.csv")
    ids = ["charger_id"] * (sc.chargers is not None) + ["station_id"] * ("station_id" in res.schedule)
    flows = ["plugged_in", "charge_kw", "discharge_kw", "soc_kwh", "soc_pct"]
    assert list(sched.columns) == ["time", "vehicle_id", *ids, *flows]
    assert len(sched) == len(sc.vehicles) * sc.grid.n_steps
    assert sched["soc_kwh"].isna().tolist() == (sched["plugged_in"] == 0).tolist()
    assert np.allclose(sched["charge_kw"], res.schedule["charge_kw"], rtol=1e-5, atol=1e-5)
    t = pd.to_datetime(sched["time"].iloc[0], format="ISO8601")
    assert t.tzinfo is not None and t == sc.grid.start
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    expected = SUMMARY_KEYS | {"lower_bound", "method"}
    assert expected <= set(summary), expected - set(summary)
    site = pd.read_csv(tmp_path / "out" / "site.csv")
    assert len(site) == sc.grid.n_steps
