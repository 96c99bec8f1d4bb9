"""gridopt's optimal cost against an independent reference MILP (tests/reference_milp.py).

The reference is written from the model's specification, builds dense numpy
matrices and solves them with scipy.optimize.milp; gridopt builds a Pyomo model
solved by HiGHS. Both must find the same optimal cost on seeded random small
scenarios and on a few hand-picked ones (whose cost is also worked out by hand,
to check the reference itself).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import car, write_scenario
from reference_milp import reference_cost

import gridopt

START = pd.Timestamp("2026-06-15T00:00:00+02:00")
OPTIONS = gridopt.SolverOptions(time_limit_s=30, mip_rel_gap=1e-7)
REL_TOL = 1e-4


def at(hours: float) -> str:
    return (START + pd.Timedelta(hours=hours)).isoformat()


def rel_diff(a: float, b: float) -> float:
    return (a - b) / max(abs(b), 1.0)


def compare(path):
    sc = gridopt.load_scenario(path)
    ref = reference_cost(sc)
    got = gridopt.optimize(sc, OPTIONS).summary["total_cost"]
    assert abs(rel_diff(got, ref)) <= REL_TOL, f"gridopt {got!r} vs reference {ref!r} for {path}"


def timeseries(step_minutes, import_price, export_price, base_load_kw, pv_kw):
    n = len(import_price)
    return pd.DataFrame(
        {
            "time": [(START + pd.Timedelta(minutes=step_minutes * i)).isoformat() for i in range(n)],
            "import_price": import_price,
            "export_price": export_price,
            "base_load_kw": base_load_kw,
            "pv_kw": pv_kw,
        }
    )


# ---------------------------------------------------------------------------
# random scenarios
# ---------------------------------------------------------------------------


def _time(rng, lo_h: float, hi_h: float, grain_min: int) -> pd.Timestamp:
    """A random instant between START + lo_h and START + hi_h on a ``grain_min`` grid."""
    k = rng.integers(int(lo_h * 60 / grain_min), int(hi_h * 60 / grain_min) + 1)
    return START + pd.Timedelta(minutes=int(k) * grain_min)


def random_scenario(seed: int) -> dict:
    """Keyword arguments of ``write_scenario`` for a random, feasible-by-construction scenario."""
    rng = np.random.default_rng(seed)
    step = int(rng.choice([15, 60]))
    n = int(rng.integers(4, 13))
    hours = n * step / 60
    end = START + pd.Timedelta(hours=hours)
    grain = int(rng.choice([5, 15, step]))  # event times: on or off the step grid

    vehicles, trips, sessions = [], [], []
    for i in range(int(rng.integers(1, 5))):
        vid = f"V{i}"
        battery = float(rng.choice([20.0, 40.0, 60.0]))
        max_c = float(rng.choice([3.0, 7.0, 11.0, 22.0]))
        v2g = rng.random() < 0.5
        min_soc = float(rng.choice([0.0, 0.1, 0.2, 0.3]))
        max_soc = float(rng.choice([0.7, 0.8, 0.9, 1.0]))
        kw = dict(
            battery_kwh=battery,
            max_charge_kw=max_c,
            max_discharge_kw=float(rng.choice([3.0, 7.0, 11.0])) if v2g else 0.0,
            min_charge_kw=float(rng.choice([0.0, 0.3, 0.6]) * max_c),
            min_soc=min_soc,
            max_soc=max_soc,
            charge_efficiency=float(rng.choice([1.0, 0.95, 0.9, 0.85])),
            discharge_efficiency=float(rng.choice([1.0, 0.95, 0.9, 0.85])),
        )
        if rng.random() < 0.3:
            kw["final_soc"] = round(float(rng.uniform(0, max_soc)), 3)
        if rng.random() < 0.5:  # trip vehicle
            # initial SoC sometimes outside [min_soc, max_soc]
            kw["initial_soc"] = round(float(rng.uniform(0, 1)), 3)
            t_free = START - pd.Timedelta(hours=2)
            for j in range(int(rng.integers(0, 3))):
                dep = max(t_free, _time(rng, -2, hours + 0.5, grain))
                arr = dep + pd.Timedelta(minutes=int(rng.integers(1, 3 * 60 // grain + 1)) * grain)
                energy = round(float(rng.uniform(0, 0.8 * battery)), 2)
                trip = {
                    "vehicle_id": vid,
                    "departure": dep.isoformat(),
                    "arrival": arr.isoformat(),
                    "energy_kwh": energy,
                    "trip_id": f"{vid}-t{j}",
                    "departure_soc": math.nan,
                }
                if rng.random() < 0.3:
                    lo = energy / battery
                    if lo <= max_soc:
                        trip["departure_soc"] = round(min(max_soc, float(rng.uniform(lo, max_soc)) + 1e-3), 3)
                trips.append(trip)
                t_free = arr
        else:  # session vehicle
            kw["initial_soc"] = None
            t_free = START - pd.Timedelta(hours=3)
            for j in range(int(rng.integers(1, 3))):
                arr = max(t_free, _time(rng, -2, hours - 0.25, grain))
                dep = arr + pd.Timedelta(minutes=int(rng.integers(1, 4 * 60 // grain + 1)) * grain)
                if dep == START or arr == end:  # touching the horizon only at an edge: keep clear of it
                    dep += pd.Timedelta(minutes=grain)
                    if arr == end:
                        continue
                sessions.append(
                    {
                        "vehicle_id": vid,
                        "arrival": arr.isoformat(),
                        "departure": dep.isoformat(),
                        "arrival_soc": round(float(rng.uniform(0, 1)), 3),
                        "target_soc": round(float(rng.uniform(0, max_soc)), 3),
                        "session_id": f"{vid}-s{j}",
                    }
                )
                t_free = dep
        vehicles.append(car(vid, **kw))

    import_price = np.round(rng.uniform(-0.1, 0.5, n), 3)
    export_price = np.round(
        np.where(rng.random(n) < 0.3, import_price + rng.uniform(0, 0.2, n), rng.uniform(-0.1, 0.3, n)), 3
    )
    base = np.round(rng.uniform(0, 20, n), 2)
    pv = np.round(np.where(rng.random(n) < 0.5, rng.uniform(0, 40, n), 0.0), 2)
    net = float(np.max(base - pv))
    site = {"export_limit_kw": float(rng.choice([0.0, 5.0, 20.0, 100.0]))}
    r = rng.random()
    if r < 0.4:  # tight: the vehicles cannot all charge at full power
        site["import_limit_kw"] = round(max(net, 0.0) + float(rng.uniform(0, 8)), 2)
    elif r < 0.8:
        site["import_limit_kw"] = 100.0
    tariff = {}
    if rng.random() < 0.5:
        tariff["demand_charge_per_kw"] = round(float(rng.uniform(0, 1.0)), 3)
    fields = dict(
        horizon_hours=hours,
        step_minutes=step,
        site=site,
        tariff=tariff,
        battery_degradation_cost_per_kwh=float(rng.choice([0.0, 0.02, 0.05])),
        unmet_energy_penalty_per_kwh=float(rng.choice([10.0, 10.0, 10.0, 1.0, 0.3])),
    )
    # events outside the horizon are drawn on purpose (the model must ignore them): allow any share
    fleet = {"vehicles": "vehicles.csv", "max_share_outside_horizon": 1.0}
    if trips:
        fleet["trips"] = "trips.csv"
    if sessions:
        fleet["sessions"] = "sessions.csv"
    return dict(
        vehicles=vehicles,
        trips=trips if trips else None,
        sessions=sessions if sessions else None,
        timeseries=timeseries(step, import_price, export_price, base, pv),
        fleet=fleet,
        **fields,
    )


N_RANDOM = 60


@pytest.mark.parametrize("seed", range(N_RANDOM))
def test_random_scenario_matches_reference(tmp_path, seed):
    compare(write_scenario(tmp_path / "sc", **random_scenario(seed)))


# ---------------------------------------------------------------------------
# hand-picked scenarios (cost also worked out by hand)
# ---------------------------------------------------------------------------


def hand(tmp_path, expected, **kw):
    """Check the reference against the hand-worked cost, then gridopt against the reference."""
    kw.setdefault("tariff", {})
    sc = gridopt.load_scenario(write_scenario(tmp_path / "sc", **kw))
    ref = reference_cost(sc)
    assert ref == pytest.approx(expected, abs=1e-6)
    got = gridopt.optimize(sc, OPTIONS).summary["total_cost"]
    assert abs(rel_diff(got, ref)) <= REL_TOL, f"gridopt {got!r} vs reference {ref!r}"


def test_v2g_arbitrage_export_above_import(tmp_path):
    """40 kWh car at 20 kWh (min 0.25 = 10 kWh), 10 kW both ways, efficiencies 0.8, final_soc 0.5.
    Hour 0: import 0.1; hour 1: import 0.2 / export 0.6 (export above import). Charge 10 kW in hour 0
    (stored 8 -> 28 kWh, cost 1.0), discharge in hour 1 down to the 20 kWh final target:
    8 kWh out of the battery = 6.4 kWh at 0.6 = -3.84. Total -2.84."""
    hand(
        tmp_path,
        -2.84,
        vehicles=[
            car(
                battery_kwh=40,
                initial_soc=0.5,
                min_soc=0.25,
                final_soc=0.5,
                max_discharge_kw=10,
                charge_efficiency=0.8,
                discharge_efficiency=0.8,
            )
        ],
        timeseries=timeseries(60, [0.1, 0.2], [0.0, 0.6], [0, 0], [0, 0]),
        horizon_hours=2,
    )


def test_trip_back_after_horizon_end_with_unmet_energy(tmp_path):
    """10 kWh at start, 7 kW charger; trip at 01:30 (hour 1 not plugged) for 30 kWh, back after the end.
    Need 30 kWh (min_soc 0): one hour at 7 kW gives 17 kWh, 13 kWh short at 10/kWh = 130, plus 0.7."""
    hand(
        tmp_path,
        130.7,
        vehicles=[car(initial_soc=0.2, max_charge_kw=7)],
        trips=[{"vehicle_id": "EV1", "departure": at(1.5), "arrival": at(9), "energy_kwh": 30}],
        timeseries=timeseries(60, [0.1, 0.1, 0.1, 0.1], [0] * 4, [0] * 4, [0] * 4),
    )


def test_session_before_start_and_min_charge_with_quarter_hours(tmp_path):
    """15-minute steps. A session that began before the start (20 -> 23 kWh target by 00:45, so
    steps 0-2) with min_charge_kw 8 and max 10: 2..2.5 kWh per charging step, so 3 kWh takes two
    steps, 2 kWh each at least, at the two cheapest prices of steps 0-2 (0.1, 0.2): 0.2 + 0.4 = 0.6
    (one step of 2.5 kWh and 0.5 kWh unmet would cost 0.25 + 5)."""
    hand(
        tmp_path,
        0.6,
        vehicles=[car(initial_soc=None, min_charge_kw=8, max_charge_kw=10)],
        sessions=[
            {"vehicle_id": "EV1", "arrival": at(-1), "departure": at(0.75), "arrival_soc": 0.4, "target_soc": 0.46}
        ],
        timeseries=timeseries(15, [0.3, 0.1, 0.2, 0.05], [0] * 4, [0] * 4, [0] * 4),
        horizon_hours=1,
        step_minutes=15,
    )


def test_pv_curtailed_at_negative_export_and_demand_charge(tmp_path):
    """PV 30 kW in hour 0 with export -0.1: charge 10 kW from PV, curtail the rest (cost 0).
    Hour 1: base 5 kW at import 0.2, demand charge 1/kW: peak 5 -> 1.0 + 5.0 = 6.0. The car
    (10 -> 20 kWh target at 2:00) fills from PV in hour 0."""
    hand(
        tmp_path,
        6.0,
        vehicles=[car(initial_soc=None)],
        sessions=[{"vehicle_id": "EV1", "arrival": at(0), "departure": at(2), "arrival_soc": 0.2, "target_soc": 0.4}],
        timeseries=timeseries(60, [0.2, 0.2], [-0.1, -0.1], [0, 5], [30, 0]),
        tariff={"demand_charge_per_kw": 1.0},
        horizon_hours=2,
    )


def test_above_max_soc_at_negative_price_discharges_first(tmp_path):
    """Trip vehicle at 0.95 > max_soc 0.9 (47.5 vs 45 kWh), V2G 10 kW, import -1, export 0.
    Hour 0 cannot charge (it would end above 45 kWh): discharge 10 kWh (exported at 0) to 37.5;
    hour 1 charges back up to 45 kWh only: 7.5 kWh at -1. Total -7.5."""
    hand(
        tmp_path,
        -7.5,
        vehicles=[car(initial_soc=0.95, max_soc=0.9, max_discharge_kw=10)],
        timeseries=timeseries(60, [-1.0, -1.0], [0.0, 0.0], [0, 0], [0, 0]),
        horizon_hours=2,
    )


def test_two_trips_and_tight_import_limit(tmp_path):
    """Two trip cars share a 10 kW import limit over 3 hours at 0.1; each needs 15 kWh more for a
    trip at 03:00 (min_soc 0, 10 kWh at start, 25 kWh trips): 30 kWh, 30 kWh of capacity: 3.0."""
    hand(
        tmp_path,
        3.0,
        vehicles=[car("A", initial_soc=0.2), car("B", initial_soc=0.2)],
        trips=[{"vehicle_id": v, "departure": at(3), "arrival": at(5), "energy_kwh": 25} for v in "AB"],
        timeseries=timeseries(60, [0.1] * 4, [0] * 4, [0] * 4, [0] * 4),
        site={"import_limit_kw": 10, "export_limit_kw": 0},
    )


def test_two_trips_within_the_last_step(tmp_path):
    """Regression (gridopt once dropped trip B's requirement here). One 60-minute step, 25 kWh at
    start; trip A 00:15-00:30 (5 kWh) and trip B 00:45-03:00 (30 kWh),
    both inside the only step, so the car is never plugged in. A: 25 >= 5, back with 20 kWh;
    B needs 30 kWh, has 20: 10 kWh unmet at 10/kWh = 100."""
    hand(
        tmp_path,
        100.0,
        vehicles=[car(initial_soc=0.5)],
        trips=[
            {"vehicle_id": "EV1", "departure": at(0.25), "arrival": at(0.5), "energy_kwh": 5, "trip_id": "A"},
            {"vehicle_id": "EV1", "departure": at(0.75), "arrival": at(3), "energy_kwh": 30, "trip_id": "B"},
        ],
        timeseries=timeseries(60, [0.1], [0.0], [0.0], [0.0]),
        horizon_hours=1,
    )


def test_negative_price_fills_the_import_limit_with_a_min_power_car_present(tmp_path):
    """One 15-minute step at import price -0.1, base load 4 kW, import limit 10 kW. Car A (3 kW,
    min_charge_kw 1.8) and V2G car B (10 kW charge, 3 kW discharge), both at 25 of 50 kWh.
    Being paid to import, the site imports its 10 kW limit: 6 kW into the cars,
    10 kW * 0.25 h * -0.1 = -0.25."""
    hand(
        tmp_path,
        -0.25,
        vehicles=[car("A", max_charge_kw=3, min_charge_kw=1.8), car("B", max_charge_kw=10, max_discharge_kw=3)],
        timeseries=timeseries(15, [-0.1], [0.0], [4.0], [0.0]),
        horizon_hours=0.25,
        step_minutes=15,
        site={"import_limit_kw": 10, "export_limit_kw": 100},
    )
