"""vehicles.csv (the ready-by report) and soc_pct in schedule.csv, on hand-worked plans."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import car, write_scenario

from gridopt.cli import main


@pytest.fixture
def depot(scenario_dir):
    """Three cars, 1-hour steps, 00:00-04:00, 10 kW chargers, no losses.

    EV1 leaves 02:00-03:00 needing 90% (45 kWh) from 25 kWh: both steps before at 10 kW.
    EV2 never leaves: no requirement, no reason to charge (a price on every kWh).
    EV3 leaves at 01:00 needing 100% (50 kWh) from 25 kWh: 10 kWh in one step, 15 kWh unmet.
    """
    return write_scenario(
        scenario_dir,
        vehicles=[car("EV1"), car("EV2"), car("EV3")],
        trips=[
            {
                "vehicle_id": "EV1",
                "departure": "2026-06-15T02:00:00+02:00",
                "arrival": "2026-06-15T03:00:00+02:00",
                "energy_kwh": 20.0,
                "departure_soc": 0.9,
                "trip_id": "T1",
            },
            {
                "vehicle_id": "EV3",
                "departure": "2026-06-15T01:00:00+02:00",
                "arrival": "2026-06-15T05:00:00+02:00",
                "energy_kwh": 20.0,
                "departure_soc": 1.0,
                "trip_id": "T3",
            },
        ],
    )


def run(path, out) -> None:
    assert main(["run", str(path), "--out", str(out), "--quiet", "--no-baseline"]) == 0


def test_ready_by_report_of_a_hand_worked_plan(depot, tmp_path):
    out = tmp_path / "out"
    run(depot, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["schedule.csv", "site.csv", "summary.json", "vehicles.csv", "setpoints.csv"]
    )
    v = pd.read_csv(out / "vehicles.csv", keep_default_na=False, na_values=[""])
    assert list(v.columns) == [
        "vehicle_id",
        "kind",
        "event_id",
        "departure",
        "ready_by",
        "need_kwh",
        "soc_kwh",
        "soc_pct",
        "unmet_kwh",
        "charger_id",
        "first_charge_start",
        "last_charge_end",
    ]
    assert v["vehicle_id"].tolist() == ["EV1", "EV2", "EV3"]
    ev1, ev2, ev3 = (v.iloc[i] for i in range(3))
    assert (ev1["kind"], ev1["event_id"]) == ("trip", "T1")
    assert ev1["ready_by"] == "2026-06-15T02:00:00+02:00"
    assert ev1["need_kwh"] == pytest.approx(45.0) and ev1["soc_kwh"] == pytest.approx(45.0)
    assert ev1["soc_pct"] == pytest.approx(90.0) and ev1["unmet_kwh"] == pytest.approx(0.0, abs=1e-9)
    assert ev1["charger_id"] == "EV1"  # a trip-based depot: one charger per vehicle
    assert (ev1["first_charge_start"], ev1["last_charge_end"]) == (
        "2026-06-15T00:00:00+02:00",
        "2026-06-15T02:00:00+02:00",
    )
    # EV2: no requirement in the horizon, SoC at the end of its last plugged-in step, never charged
    assert ev2["kind"] == "none" and pd.isna(ev2["departure"])
    assert ev2["ready_by"] == "2026-06-15T04:00:00+02:00"
    assert ev2["soc_kwh"] == pytest.approx(25.0) and ev2["soc_pct"] == pytest.approx(50.0)
    assert pd.isna(ev2["first_charge_start"]) and pd.isna(ev2["last_charge_end"])
    # EV3: 35 of 50 kWh reachable, 15 kWh unmet
    assert ev3["need_kwh"] == pytest.approx(50.0) and ev3["soc_kwh"] == pytest.approx(35.0)
    assert ev3["soc_pct"] == pytest.approx(70.0) and ev3["unmet_kwh"] == pytest.approx(15.0)
    assert (
        ev3["first_charge_start"] == "2026-06-15T00:00:00+02:00"
        and ev3["last_charge_end"] == "2026-06-15T01:00:00+02:00"
    )


def test_schedule_csv_has_soc_in_percent(depot, tmp_path):
    out = tmp_path / "out"
    run(depot, out)
    s = pd.read_csv(out / "schedule.csv")
    assert list(s.columns)[-2:] == ["soc_kwh", "soc_pct"]
    assert ((s["soc_pct"] - s["soc_kwh"] / 50.0 * 100).dropna().abs() < 1e-4).all()  # both written to 6 digits
    assert s["soc_pct"].isna().equals(s["soc_kwh"].isna())  # empty while away, like soc_kwh


def test_sessions_name_their_station_as_charger(scenario_dir, tmp_path):
    path = write_scenario(
        scenario_dir,
        vehicles=[car("EV1"), car("EV2")],
        sessions=[
            {
                "vehicle_id": "EV1",
                "station_id": "CA-1",
                "arrival": "2026-06-15T00:00:00+02:00",
                "departure": "2026-06-15T02:00:00+02:00",
                "arrival_soc": 0.5,
                "target_soc": 0.7,
            },
            {
                "vehicle_id": "EV2",
                "station_id": "CA-1",
                "arrival": "2026-06-15T02:00:00+02:00",
                "departure": "2026-06-15T04:00:00+02:00",
                "arrival_soc": 0.2,
                "target_soc": 0.6,
            },
        ],
    )
    out = tmp_path / "out"
    run(path, out)
    v = pd.read_csv(out / "vehicles.csv")
    assert v["charger_id"].tolist() == ["CA-1", "CA-1"]
    assert v["soc_pct"].tolist() == pytest.approx([70.0, 60.0])
    sp = pd.read_csv(out / "setpoints.csv")
    assert set(sp["charger_id"]) == {"CA-1"} and set(sp["vehicle_id"]) == {"EV1", "EV2"}
