"""Small cases whose optimal cost is worked out by hand (in each docstring)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import car, write_scenario

import gridopt
from gridopt.check import check_schedule

START = pd.Timestamp("2026-06-15T00:00:00+02:00")


def ts(import_price, export_price=None, base_load_kw=None, pv_kw=None, step_minutes=60):
    n = len(import_price)
    d = {
        "time": [(START + pd.Timedelta(minutes=step_minutes * i)).isoformat() for i in range(n)],
        "import_price": import_price,
    }
    if export_price is not None:
        d["export_price"] = export_price
    if base_load_kw is not None:
        d["base_load_kw"] = base_load_kw
    if pv_kw is not None:
        d["pv_kw"] = pv_kw
    return pd.DataFrame(d)


def at(hours: float) -> str:
    return (START + pd.Timedelta(hours=hours)).isoformat()


def run(tmp_path, **kw):
    kw.setdefault("tariff", {})
    path = write_scenario(tmp_path / "sc", **kw)
    sc = gridopt.load_scenario(path)
    res = gridopt.optimize(sc, gridopt.SolverOptions(time_limit_s=30, mip_rel_gap=1e-9))
    assert res.summary["status"] == "optimal"
    return sc, res


def powers(res, vid, col="charge_kw"):
    s = res.schedule
    return s.loc[s["vehicle_id"] == vid, col].to_numpy()


def test_trip_charges_in_cheapest_hours_before_departure(tmp_path):
    """10 kWh at start, min_soc 0.2 (10 kWh), trip of 20 kWh at 03:00: needs 30 kWh, so 20 kWh
    from a 10 kW charger in hours 0-2 priced 0.3, 0.1, 0.2: hours 1 and 2, cost 1.0 + 2.0 = 3.0."""
    sc, res = run(
        tmp_path,
        vehicles=[car(initial_soc=0.2, min_soc=0.2)],
        trips=[{"vehicle_id": "EV1", "departure": at(3), "arrival": at(6), "energy_kwh": 20}],
        timeseries=ts([0.3, 0.1, 0.2, 0.4]),
    )
    assert res.summary["total_cost"] == pytest.approx(3.0, abs=1e-6)
    assert powers(res, "EV1") == pytest.approx([0, 10, 10, 0], abs=1e-6)
    assert res.schedule["plugged_in"].tolist() == [True, True, True, False]
    assert math.isnan(res.schedule["soc_kwh"].iloc[3])  # away: empty
    assert res.schedule["soc_kwh"].iloc[2] == pytest.approx(30.0)


def test_charge_efficiency_draws_more_from_the_grid(tmp_path):
    """As above with charge_efficiency 0.9: 20 kWh stored needs 22.22 kWh drawn:
    10 at 0.1 + 10 at 0.2 + 2.222 at 0.3 = 3.6667."""
    sc, res = run(
        tmp_path,
        vehicles=[car(initial_soc=0.2, min_soc=0.2, charge_efficiency=0.9)],
        trips=[{"vehicle_id": "EV1", "departure": at(3), "arrival": at(6), "energy_kwh": 20}],
        timeseries=ts([0.3, 0.1, 0.2, 0.4]),
    )
    assert res.summary["total_cost"] == pytest.approx(1.0 + 2.0 + 0.3 * (20 / 0.9 - 20), abs=1e-6)
    assert res.summary["energy_delivered_kwh"] == pytest.approx(20 / 0.9, abs=1e-6)


def test_minimum_charge_power_makes_small_top_ups_impossible(tmp_path):
    """25 kWh at start, max_soc 0.56 (28 kWh), departure_soc 0.54 (27 kWh) at 01:00: 2 kWh needed,
    only 3 kWh of room. Without a minimum: 2 kWh at 0.1 = 0.2. With min_charge_kw 5 over a one-hour
    step the smallest top-up is 5 kWh > 3 kWh of room: nothing can be charged, 2 kWh unmet at 10/kWh = 20."""
    common = dict(
        trips=[{"vehicle_id": "EV1", "departure": at(1), "arrival": at(3), "energy_kwh": 5, "departure_soc": 0.54}],
        timeseries=ts([0.1, 0.1, 0.1]),
        horizon_hours=3,
    )
    _, free = run(tmp_path / "a", vehicles=[car(max_soc=0.56)], **common)
    assert free.summary["total_cost"] == pytest.approx(0.2, abs=1e-6)
    _, res = run(tmp_path / "b", vehicles=[car(max_soc=0.56, min_charge_kw=5)], **common)
    # solver feasibility tolerance (1e-7 kWh) times the penalty of 10/kWh
    assert res.summary["total_cost"] == pytest.approx(20.0, abs=1e-5)
    assert res.summary["unmet_energy_kwh"] == pytest.approx(2.0, abs=1e-6)
    assert res.summary["unmet_energy_by_vehicle"] == {"EV1": pytest.approx(2.0, abs=1e-6)}
    assert powers(res, "EV1").max() == 0


def test_minimum_charge_power_with_half_hour_steps(tmp_path):
    """Same need with 30-minute steps: 5 kW for half an hour is 2.5 kWh <= 3 kWh of room,
    so the vehicle charges 2.5 kWh at 0.1: cost 0.25 (more than the 0.2 it needs, less than unmet)."""
    _, res = run(
        tmp_path,
        vehicles=[car(max_soc=0.56, min_charge_kw=5)],
        trips=[{"vehicle_id": "EV1", "departure": at(1), "arrival": at(3), "energy_kwh": 5, "departure_soc": 0.54}],
        timeseries=ts([0.1, 0.1, 0.1]),
        horizon_hours=3,
        step_minutes=30,
    )
    assert res.summary["total_cost"] == pytest.approx(0.25, abs=1e-6)
    c = powers(res, "EV1")
    assert sorted(c[:2]) == pytest.approx([0.0, 5.0], abs=1e-6)


def test_v2g_arbitrage_with_efficiencies(tmp_path):
    """50 kWh car at 25 kWh, final_soc 0.5, 10 kW both ways, efficiencies 0.9, degradation 0.03.
    Hour 0 at 0.5, hour 1 at 0.1 (import = export). Discharging d in hour 0 must be replaced:
    0.9 c = d / 0.9, and c <= 10 so d <= 8.1. Each kWh earns 0.5 - 0.1/0.81 - 0.03 > 0, so
    d = 8.1: cost = -0.5*8.1 + 0.1*10 + 0.03*8.1 = -2.807."""
    _, res = run(
        tmp_path,
        vehicles=[
            car(
                initial_soc=0.5,
                min_soc=0.2,
                final_soc=0.5,
                max_discharge_kw=10,
                charge_efficiency=0.9,
                discharge_efficiency=0.9,
            )
        ],
        timeseries=ts([0.5, 0.1], export_price=[0.5, 0.1]),
        horizon_hours=2,
        battery_degradation_cost_per_kwh=0.03,
    )
    assert res.summary["total_cost"] == pytest.approx(-2.807, abs=1e-6)
    assert powers(res, "EV1", "discharge_kw") == pytest.approx([8.1, 0], abs=1e-6)
    assert powers(res, "EV1") == pytest.approx([0, 10], abs=1e-6)
    assert res.summary["degradation_cost"] == pytest.approx(0.243, abs=1e-6)
    assert res.summary["v2g_energy_kwh"] == pytest.approx(8.1, abs=1e-6)


def test_demand_charge_spreads_charging(tmp_path):
    """Two cars need 10 kWh each within 2 hours (trips at 02:00), base load 5 kW, flat 0.2,
    demand charge 1/kW. Spread: 5 kW each per hour, peak 15 kW.
    Cost = (20 kWh EV + 4 h * 5 kW base) * 0.2 + 15 * 1 = 23 (stacking would peak at 25 kW: 33)."""
    trips = [{"vehicle_id": v, "departure": at(2), "arrival": at(4), "energy_kwh": 10} for v in ("A", "B")]
    _, res = run(
        tmp_path,
        vehicles=[car("A", initial_soc=0.0), car("B", initial_soc=0.0)],
        trips=trips,
        timeseries=ts([0.2] * 4, base_load_kw=[5.0] * 4),
        tariff={"demand_charge_per_kw": 1.0},
    )
    assert res.summary["total_cost"] == pytest.approx(23.0, abs=1e-6)
    assert res.summary["peak_import_kw"] == pytest.approx(15.0, abs=1e-6)
    assert res.summary["demand_charge_cost"] == pytest.approx(15.0, abs=1e-6)
    assert res.summary["baseline"]["peak_import_kw"] == pytest.approx(25.0)


def test_pv_is_curtailed_rather_than_exported_at_a_negative_price(tmp_path):
    """PV 20 kW, base load 5 kW, export price -0.1 (exporting costs), one hour, car full.
    Best: use 5 kW of PV and curtail 15: cost 0 (exporting all would cost 1.5)."""
    _, res = run(
        tmp_path,
        vehicles=[car(initial_soc=1.0)],
        timeseries=ts([0.3], export_price=[-0.1], base_load_kw=[5.0], pv_kw=[20.0]),
        horizon_hours=1,
    )
    assert res.summary["total_cost"] == pytest.approx(0.0, abs=1e-6)
    assert res.site["grid_export_kw"].iloc[0] == pytest.approx(0.0, abs=1e-6)
    assert res.site["pv_used_kw"].iloc[0] == pytest.approx(5.0, abs=1e-6)
    assert res.summary["pv_curtailed_kwh"] == pytest.approx(15.0, abs=1e-6)


def test_negative_import_price_is_used_to_charge(tmp_path):
    """Import price -0.05 in hour 0, 0.2 in hour 1; a car with room charges 10 kWh in hour 0 and
    is paid 0.5: cost -0.5."""
    _, res = run(tmp_path, vehicles=[car(initial_soc=0.5)], timeseries=ts([-0.05, 0.2]), horizon_hours=2)
    assert res.summary["total_cost"] == pytest.approx(-0.5, abs=1e-6)
    assert powers(res, "EV1") == pytest.approx([10, 0], abs=1e-6)


def test_one_meter_never_imports_and_exports_at_once(tmp_path):
    """Export 0.2 > import 0.1. Car B needs 10 kWh now; V2G car A can give 10 kWh.
    Importing for B while A exports would 'earn' 1.0 but a site has one meter: best is A
    supplying B (cost 0), better than importing for B (1.0) or leaving B short (100).
    Hour 1 (B away) has no export value."""
    _, res = run(
        tmp_path,
        vehicles=[car("A", initial_soc=0.8, max_discharge_kw=10), car("B", initial_soc=0.0)],
        trips=[{"vehicle_id": "B", "departure": at(1), "arrival": at(3), "energy_kwh": 10}],
        timeseries=ts([0.1, 0.1], export_price=[0.2, 0.0]),
        horizon_hours=2,
    )
    assert res.summary["total_cost"] == pytest.approx(0.0, abs=1e-6)
    assert res.site["grid_import_kw"].iloc[0] == pytest.approx(0.0, abs=1e-6)
    assert res.site["grid_export_kw"].iloc[0] == pytest.approx(0.0, abs=1e-6)


def test_unmet_energy_is_priced_reported_and_carried_through_the_trip(tmp_path):
    """30 kWh needed (min_soc 0 + 30) with 1 hour of 10 kW from 0: 10 kWh bought at 0.2, 20 kWh unmet
    at 10/kWh: cost 202. Back at 02:00 with 10 + 20 - 30 = 0 kWh, it charges nothing more (no need)."""
    _, res = run(
        tmp_path,
        vehicles=[car(initial_soc=0.0)],
        trips=[{"vehicle_id": "EV1", "departure": at(1), "arrival": at(2), "energy_kwh": 30, "trip_id": "route-7"}],
        timeseries=ts([0.2, 0.2, 0.2]),
        horizon_hours=3,
    )
    assert res.summary["total_cost"] == pytest.approx(202.0, abs=1e-6)
    ev = res.summary["unmet_events"]
    assert len(ev) == 1 and ev[0]["event_id"] == "route-7" and ev[0]["unmet_kwh"] == pytest.approx(20.0)
    assert res.schedule["soc_kwh"].iloc[2] == pytest.approx(0.0, abs=1e-6)


def test_session_arrival_and_departure_snap_inwards(tmp_path):
    """Arrives 00:40 (plugged from 01:00), leaves 03:20 (ready by 03:00): steps 1 and 2 only.
    10 -> 30 kWh needs 20 kWh at 10 kW: both steps, at 0.5 and 0.2: cost 7.0."""
    _, res = run(
        tmp_path,
        vehicles=[car(initial_soc=None)],
        sessions=[
            {
                "vehicle_id": "EV1",
                "arrival": at(40 / 60),
                "departure": at(3 + 20 / 60),
                "arrival_soc": 0.2,
                "target_soc": 0.6,
            }
        ],
        timeseries=ts([0.1, 0.5, 0.2, 0.1]),
    )
    assert res.schedule["plugged_in"].tolist() == [False, True, True, False]
    assert res.summary["total_cost"] == pytest.approx(7.0, abs=1e-6)
    soc = res.schedule["soc_kwh"]
    assert math.isnan(soc.iloc[0]) and math.isnan(soc.iloc[3])


def test_sessions_crossing_the_horizon(tmp_path):
    """One session began before the start (present from 00:00 with its arrival_soc), one ends after
    the end (its target is due at 04:00), one lies wholly outside (ignored, counted).
    A: 10 -> 20 kWh: one hour at the cheapest price 0.1 = 1.0; B arrives 02:00, 0 -> 15 kWh by 04:00:
    10 at 0.1 (hour 3) + 5 at 0.3 (hour 2) = 2.5. Total 3.5."""
    sessions = [
        {"vehicle_id": "A", "arrival": at(-2), "departure": at(2), "arrival_soc": 0.2, "target_soc": 0.4},
        {"vehicle_id": "B", "arrival": at(2), "departure": at(9), "arrival_soc": 0.0, "target_soc": 0.3},
        {"vehicle_id": "B", "arrival": at(10), "departure": at(12), "arrival_soc": 0.0, "target_soc": 0.3},
    ]
    _, res = run(
        tmp_path,
        vehicles=[car("A", initial_soc=None), car("B", initial_soc=None)],
        sessions=sessions,
        timeseries=ts([0.2, 0.1, 0.3, 0.1]),
    )
    assert res.summary["total_cost"] == pytest.approx(3.5, abs=1e-6)
    assert res.summary["ignored_sessions"] == 1


def test_vehicle_away_at_start_returns_with_initial_soc(tmp_path):
    """A trip that left before the start returns at 01:30 (plugged from 02:00) with initial_soc 0.1;
    final_soc 0.5 needs 20 kWh in hours 2-3: cost 10*0.3 + 10*0.4 = 7.0."""
    _, res = run(
        tmp_path,
        vehicles=[car(initial_soc=0.1, final_soc=0.5)],
        trips=[{"vehicle_id": "EV1", "departure": at(-5), "arrival": at(1.5), "energy_kwh": 30}],
        timeseries=ts([0.1, 0.1, 0.3, 0.4]),
    )
    assert res.schedule["plugged_in"].tolist() == [False, False, True, True]
    assert res.summary["total_cost"] == pytest.approx(7.0, abs=1e-6)


def test_no_charging_while_above_max_soc(tmp_path):
    """initial_soc 0.95 above max_soc 0.9, negative price (charging would be paid): it may not
    charge, so the cost is 0."""
    _, res = run(tmp_path, vehicles=[car(initial_soc=0.95, max_soc=0.9)], timeseries=ts([-0.1, -0.1]), horizon_hours=2)
    assert res.summary["total_cost"] == pytest.approx(0.0, abs=1e-6)
    assert powers(res, "EV1").max() == 0


def test_no_discharge_while_below_min_soc(tmp_path):
    """5 kWh at start, min_soc 0.2 (10 kWh), V2G. Hour 0 at 0.1, hour 1 at 1.0 (import = export).
    It may not discharge below 10 kWh: charge 10 kWh in hour 0 (cost 1.0) to reach 15, then
    discharge 5 kWh at 1.0 (earn 5.0): cost -4.0."""
    _, res = run(
        tmp_path,
        vehicles=[car(initial_soc=0.1, min_soc=0.2, max_discharge_kw=10)],
        timeseries=ts([0.1, 1.0], export_price=[0.1, 1.0]),
        horizon_hours=2,
    )
    assert res.summary["total_cost"] == pytest.approx(-4.0, abs=1e-6)
    assert powers(res, "EV1", "discharge_kw") == pytest.approx([0, 5], abs=1e-6)


def test_infeasible_site_names_the_steps_and_the_limit(tmp_path):
    path = write_scenario(
        tmp_path / "sc",
        vehicles=[car()],
        timeseries=ts([0.2] * 4, base_load_kw=[5, 50, 50, 5]),
        site={"import_limit_kw": 10, "export_limit_kw": 0},
    )
    sc = gridopt.load_scenario(path)
    with pytest.raises(gridopt.InfeasibleError) as err:
        gridopt.optimize(sc)
    msg = str(err.value)
    assert "import limit of 10 kW" in msg
    assert at(1) in msg and at(3) in msg  # the conflicting period 01:00-03:00
    assert [c["time"] for c in err.value.conflicts] == [at(1), at(2)]


def test_infeasible_when_v2g_energy_runs_out(tmp_path):
    """Base load 20 kW against a 10 kW limit for two hours; a V2G car holds only 15 kWh above
    min_soc, enough for 1.5 of the 2 hours of 10 kW: infeasible, and the explanation says so."""
    path = write_scenario(
        tmp_path / "sc",
        vehicles=[car(initial_soc=0.5, min_soc=0.2, max_discharge_kw=10)],
        timeseries=ts([0.2, 0.2], base_load_kw=[20, 20]),
        site={"import_limit_kw": 10, "export_limit_kw": 0},
        horizon_hours=2,
    )
    sc = gridopt.load_scenario(path)
    with pytest.raises(gridopt.InfeasibleError, match="stored energy"):
        gridopt.optimize(sc)


def test_the_checker_catches_broken_plans(tmp_path):
    """The independent check must fail on plans that break the physics."""
    sc, res = run(
        tmp_path,
        vehicles=[car(initial_soc=0.2, min_soc=0.2, max_discharge_kw=5)],
        trips=[{"vehicle_id": "EV1", "departure": at(3), "arrival": at(6), "energy_kwh": 20}],
        timeseries=ts([0.3, 0.1, 0.2, 0.4]),
    )
    assert check_schedule(sc, res.schedule, res.site, res.unmet) == []

    def broken(mutate_schedule=None, mutate_site=None, mutate_unmet=None):
        s, site, u = res.schedule.copy(), res.site.copy(), res.unmet.copy()
        if mutate_schedule:
            mutate_schedule(s)
        if mutate_site:
            mutate_site(site)
        if mutate_unmet:
            mutate_unmet(u)
        return check_schedule(sc, s, site, u, raise_on_violation=False)

    def over_power(s):
        s.loc[1, "charge_kw"] = 12.0

    def while_away(s):
        s.loc[3, "charge_kw"] = 1.0

    def soc_lie(s):
        s.loc[2, "soc_kwh"] = 35.0

    def both(s):
        s.loc[0, "discharge_kw"] = 1.0
        s.loc[0, "charge_kw"] = 1.0

    def over_limit(site):
        site.iloc[0, site.columns.get_loc("grid_import_kw")] = 500.0
        site.iloc[0, site.columns.get_loc("base_load_kw")] = 500.0

    def hide_unmet(u):
        u.loc[0, "unmet_kwh"] = 0.0

    assert any("outside [0, 10" in v for v in broken(over_power))
    assert any("not plugged in" in v for v in broken(while_away))
    assert any("replay" in v for v in broken(soc_lie))
    assert any("charges (" in v for v in broken(both))
    assert any("import_limit_kw" in v for v in broken(mutate_site=over_limit))
    # a plan that leaves the trip short but reports nothing unmet is caught
    s2 = res.schedule.copy()
    s2["charge_kw"] = 0.0
    s2.loc[s2["plugged_in"], "soc_kwh"] = 10.0
    site2 = res.site.copy()
    site2["ev_charge_kw"] = 0.0
    site2["grid_import_kw"] = 0.0
    out = check_schedule(sc, s2, site2, res.unmet, raise_on_violation=False)
    assert any("reports only" in v for v in out)
    with pytest.raises(gridopt.PhysicsViolation):
        check_schedule(sc, s2, site2, res.unmet)


def test_baseline_is_uncontrolled_full_power_until_max_soc(tmp_path):
    """Uncontrolled to full (reference_full): full power from plug-in to max_soc (0.8 -> 40 kWh from
    25 kWh: 10, 5 kW), no V2G, and the import limit is ignored but counted: base 8 kW + 10 kW > 15 kW
    limit in hour 0. Nothing requires energy, so the like-for-like baseline charges nothing."""
    sc, res = run(
        tmp_path,
        vehicles=[car(initial_soc=0.5, max_soc=0.8, max_discharge_kw=10)],
        timeseries=ts([0.2, 0.2, 0.2], base_load_kw=[8, 8, 8]),
        site={"import_limit_kw": 15, "export_limit_kw": 10},
        horizon_hours=3,
    )
    b, _, _ = gridopt.optimizer.uncontrolled(sc, until="max_soc")
    assert b["charge_kw"].tolist() == pytest.approx([10, 5, 0])
    assert b["discharge_kw"].max() == 0
    assert res.summary["reference_full"]["import_limit_violation_steps"] == 1
    assert res.summary["reference_full"]["total_cost"] == pytest.approx((18 + 13 + 8) * 0.2)
    assert res.baseline_schedule["charge_kw"].tolist() == pytest.approx([0, 0, 0])
    assert res.summary["baseline"]["total_cost"] == pytest.approx(3 * 8 * 0.2)


def test_result_site_table_balances(tmp_path):
    sc, res = run(
        tmp_path,
        vehicles=[car("A", initial_soc=0.3, max_discharge_kw=7), car("B", initial_soc=0.6)],
        trips=[{"vehicle_id": "B", "departure": at(2), "arrival": at(3), "energy_kwh": 12}],
        timeseries=ts([0.3, 0.1, 0.2, 0.4], export_price=[0.25, 0.05, 0.05, 0.35], pv_kw=[0, 5, 12, 3]),
    )
    site = res.site
    lhs = site["grid_import_kw"] - site["grid_export_kw"]
    rhs = site["base_load_kw"] + site["ev_charge_kw"] - site["ev_discharge_kw"] - site["pv_used_kw"]
    assert np.allclose(lhs, rhs, atol=1e-6)
    assert str(site.index.tz) == "Europe/Amsterdam"


def test_pv_that_cannot_be_curtailed_must_be_exported(tmp_path):
    """As the curtailment case, but site.pv_curtailable false: the 15 kW surplus is exported at
    -0.1 (cost 1.5), unless a car with room absorbs it: with a car at 0.5 SoC, 10 kW go into the car
    and 5 kW are exported: cost 0.5."""
    site = {"import_limit_kw": 100, "export_limit_kw": 100, "pv_curtailable": False}
    series = ts([0.3], export_price=[-0.1], base_load_kw=[5.0], pv_kw=[20.0])
    _, full = run(tmp_path / "a", vehicles=[car(initial_soc=1.0)], timeseries=series, horizon_hours=1, site=site)
    assert full.summary["total_cost"] == pytest.approx(1.5, abs=1e-6)
    _, room = run(tmp_path / "b", vehicles=[car(initial_soc=0.5)], timeseries=series, horizon_hours=1, site=site)
    assert room.summary["total_cost"] == pytest.approx(0.5, abs=1e-6)
    assert room.site["pv_used_kw"].iloc[0] == pytest.approx(20.0)


def test_uncurtailable_pv_above_the_export_limit_is_explained(tmp_path):
    path = write_scenario(
        tmp_path / "sc",
        vehicles=[car(initial_soc=1.0)],
        timeseries=ts([0.3, 0.3], base_load_kw=[5.0, 5.0], pv_kw=[0.0, 40.0]),
        site={"import_limit_kw": 100, "export_limit_kw": 10, "pv_curtailable": False},
        horizon_hours=2,
    )
    with pytest.raises(gridopt.InfeasibleError, match="export limit of 10 kW") as err:
        gridopt.optimize(gridopt.load_scenario(path))
    assert at(1) in str(err.value)


def test_sessions_of_a_vehicle_need_not_be_consecutive_rows(tmp_path):
    """Sessions listed A, B, A: each vehicle keeps its own sessions. A: two visits of 10 kWh need each
    in hours 0 and 2 (price 0.1 and 0.3); B: 10 kWh in hour 1 (0.2). Cost 1.0 + 2.0 + 3.0 = 6.0."""
    sessions = [
        {
            "vehicle_id": "A",
            "arrival": at(0),
            "departure": at(1),
            "arrival_soc": 0.2,
            "target_soc": 0.4,
            "session_id": "a1",
        },
        {
            "vehicle_id": "B",
            "arrival": at(1),
            "departure": at(2),
            "arrival_soc": 0.2,
            "target_soc": 0.4,
            "session_id": "b1",
        },
        {
            "vehicle_id": "A",
            "arrival": at(2),
            "departure": at(3),
            "arrival_soc": 0.2,
            "target_soc": 0.4,
            "session_id": "a2",
        },
    ]
    _, res = run(
        tmp_path,
        vehicles=[car("A", initial_soc=None), car("B", initial_soc=None)],
        sessions=sessions,
        timeseries=ts([0.1, 0.2, 0.3, 0.4]),
    )
    assert res.summary["total_cost"] == pytest.approx(6.0, abs=1e-6)
    assert powers(res, "A") == pytest.approx([10, 0, 10, 0], abs=1e-6)
    assert powers(res, "B") == pytest.approx([0, 10, 0, 0], abs=1e-6)
