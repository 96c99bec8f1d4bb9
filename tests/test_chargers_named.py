"""Trips may name the charger (issue 13 item 1): a vehicle's bay (vehicles.csv ``charger_id``) and the
charger of the plug-in after a trip (trips.csv ``charger_id``): checked, kept by the plan, in the
outputs, enforced by check.py.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from conftest import car, write_scenario

import gridopt
from gridopt.check import check_schedule
from gridopt.errors import ScenarioError

START = pd.Timestamp("2026-06-15T00:00:00+02:00")
CHARGERS = [
    {"charger_id": "B1", "max_kw": 7},
    {"charger_id": "B2", "max_kw": 3},
    {"charger_id": "B3", "max_kw": 11},
]


def at(hours: float) -> str:
    return (START + pd.Timedelta(hours=hours)).isoformat()


def depot(tmp_path, *, bays=("B1", ""), trip_chargers=("B2", "B1"), bus2_back=4.0, chargers=CHARGERS):
    """BUS1: bay B1, a trip 02:00-03:00 (10 kWh, departure_soc 0.76) after which it plugs into B2.
    BUS2: no bay (pooled before its trip), a trip 01:00-04:00 (5 kWh, departure_soc 0.6), then B1.
    Both 50 kWh, initial_soc 0.5, final_soc 0.7; 6 h at 1 h steps, 0.3 until 03:00, then 0.1."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    cars = [
        car("BUS1", final_soc=0.7, charger_id=bays[0], max_charge_kw=22.0),
        car("BUS2", final_soc=0.7, charger_id=bays[1], max_charge_kw=22.0),
    ]
    trips = [
        {
            "vehicle_id": "BUS1",
            "departure": at(2),
            "arrival": at(3),
            "energy_kwh": 10,
            "departure_soc": 0.76,
            "charger_id": trip_chargers[0],
        },
        {
            "vehicle_id": "BUS2",
            "departure": at(1),
            "arrival": at(bus2_back),
            "energy_kwh": 5,
            "departure_soc": 0.6,
            "charger_id": trip_chargers[1],
        },
    ]
    site = {"import_limit_kw": 100, "export_limit_kw": 0}
    if chargers is not None:
        pd.DataFrame(chargers).to_csv(tmp_path / "chargers.csv", index=False)
        site["chargers"] = "chargers.csv"
    path = write_scenario(
        tmp_path,
        vehicles=cars,
        trips=trips,
        site=site,
        tariff={"import_price": {"00:00": 0.3, "03:00": 0.1}},
        horizon_hours=6,
    )
    return gridopt.load_scenario(path)


def held(res) -> dict:
    sch = res.schedule
    return {
        vid: [k if isinstance(k, str) else None for k in rows.sort_values("time")["charger_id"]]
        for vid, rows in sch.groupby("vehicle_id")
    }


def test_named_chargers_hand_worked(tmp_path):
    """BUS1 needs 38 kWh at 02:00: 13 kWh on B1 (at most 7 kW) at 0.3, then 25 + 13 - 10 = 28 kWh back to
    35 on B2 (3 kW) from 03:00 at 0.1; BUS2 needs 30 at 01:00: 5 kWh on the pooled B3 in hour 0 at 0.3,
    then 10 kWh on B1 (7 kW) from 04:00 at 0.1. 0.3 x 18 + 0.1 x 17 = 7.1, nothing unmet."""
    sc = depot(tmp_path)
    fast = gridopt.optimize(sc, baseline=False, flexibility=False)
    milp = gridopt.optimize(sc, method="milp", baseline=False, flexibility=False)
    for res in (fast, milp):
        assert res.summary["objective"] == pytest.approx(7.1, abs=1e-6)
        assert res.summary["unmet_energy_kwh"] == pytest.approx(0.0, abs=1e-6)
        assert held(res) == {
            "BUS1": ["B1", "B1", None, "B2", "B2", "B2"],
            "BUS2": ["B3", None, None, None, "B1", "B1"],
        }
        p = res.schedule.pivot(index="time", columns="vehicle_id", values="charge_kw")
        assert p["BUS1"].iloc[:2].sum() == pytest.approx(13.0) and p["BUS1"].iloc[:2].max() <= 7 + 1e-9
        assert p["BUS1"].iloc[3:].sum() == pytest.approx(7.0) and p["BUS1"].iloc[3:].max() <= 3 + 1e-9
        assert p["BUS2"].iloc[0] == pytest.approx(5.0)
        assert p["BUS2"].iloc[4:].sum() == pytest.approx(10.0) and p["BUS2"].iloc[4:].max() <= 7 + 1e-9
    # the greedy fallback keeps the named chargers too
    greedy = gridopt.optimize(sc, baseline=False, flexibility=False, deadline=time.monotonic())
    assert greedy.summary["method"] == "greedy"
    assert held(greedy) == held(fast)
    assert check_schedule(sc, greedy.schedule, greedy.site, greedy.unmet, raise_on_violation=False) == []


def test_outputs_carry_the_named_charger(tmp_path):
    sc = depot(tmp_path / "sc")
    res = gridopt.optimize(sc, baseline=False, flexibility=False)
    gridopt.write_results(res, tmp_path / "out")
    sch = pd.read_csv(tmp_path / "out" / "schedule.csv")
    assert set(sch.loc[sch["vehicle_id"] == "BUS1", "charger_id"].dropna()) == {"B1", "B2"}
    ready = pd.read_csv(tmp_path / "out" / "vehicles.csv")
    bus1 = ready[ready["vehicle_id"] == "BUS1"].set_index("kind")
    assert bus1.at["trip", "charger_id"] == "B1" and bus1.at["final", "charger_id"] == "B2"
    sp = pd.read_csv(tmp_path / "out" / "setpoints.csv")
    assert set(zip(sp["vehicle_id"], sp["charger_id"], strict=True)) == {
        ("BUS1", "B1"),
        ("BUS1", "B2"),
        ("BUS2", "B3"),
        ("BUS2", "B1"),
    }


def test_check_enforces_the_named_charger(tmp_path):
    sc = depot(tmp_path)
    res = gridopt.optimize(sc, baseline=False, flexibility=False)
    bad = res.schedule.copy()
    moved = (bad["vehicle_id"] == "BUS1") & (bad["charger_id"] == "B2")
    bad.loc[moved, "charger_id"] = "B3"  # B3 is free then: only the naming rule can object
    found = check_schedule(sc, bad, res.site, res.unmet, raise_on_violation=False)
    assert any("BUS1" in m and "holds 'B3', but it is named 'B2'" in m for m in found), found
    assert len(found) == 3  # one per step after the trip


def test_bay_without_trip_charger_is_used_after_the_trip(tmp_path):
    """No trips.csv charger_id for BUS1: it comes back to its bay B1 (BUS2 then returns to B2 instead)."""
    sc = depot(tmp_path, trip_chargers=("", "B2"))
    res = gridopt.optimize(sc, baseline=False, flexibility=False)
    h = held(res)
    assert h["BUS1"] == ["B1", "B1", None, "B1", "B1", "B1"]
    assert h["BUS2"][4:] == ["B2", "B2"]
    assert np.isfinite(res.summary["objective"])


BAD = [
    ({"bays": ("B9", "")}, "vehicles.csv line 2: charger_id 'B9' is not a charger_id of chargers.csv"),
    ({"trip_chargers": ("B2", "X")}, "trips.csv line 3: charger_id 'X' is not a charger_id of chargers.csv"),
    (
        {"bus2_back": 1.5},  # BUS2 back on B1 at 01:30, while BUS1 holds its bay B1 until 02:00
        "trips.csv line 3: charger 'B1' is taken by vehicle 'BUS1' until 2026-06-15T02:00:00+02:00 "
        "(vehicles.csv line 2), but vehicle 'BUS2' is plugged in there from 2026-06-15T01:30:00+02:00: "
        "one charger charges one vehicle at a time",
    ),
    (
        {"bays": ("B1", "B1"), "trip_chargers": ("", "")},  # two buses with one bay, both at the depot at 00:00
        "charger 'B1' is taken by vehicle",
    ),
    ({"chargers": None}, "vehicles.csv line 2: charger_id 'B1' given, but the scenario has no site.chargers"),
    ({"bays": ("=B1", "")}, "vehicles.csv line 2: 'charger_id' = '=B1' starts with a sign"),
]


@pytest.mark.parametrize("kw, message", BAD)
def test_bad_named_chargers(tmp_path, kw, message):
    with pytest.raises(ScenarioError) as e:
        depot(tmp_path, **kw)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_cli_exits_2_on_a_taken_charger(tmp_path):
    with pytest.raises(ScenarioError):
        depot(tmp_path, bus2_back=1.5)
    out = subprocess.run(
        [sys.executable, "-m", "gridopt.cli", "validate", str(tmp_path / "scenario.yaml")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "charger 'B1' is taken" in out.stderr
