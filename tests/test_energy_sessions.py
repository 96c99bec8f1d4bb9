"""Sessions as a workplace or ACN user has them: requested energy in kWh, a station, no battery data.

A session may give ``energy_kwh`` (energy into the battery) instead of
``arrival_soc``/``target_soc``. A session whose vehicle is not in vehicles.csv
(or of a scenario without vehicles.csv) is a *visitor*: its own vehicle with a
battery that starts empty and holds exactly ``energy_kwh``, so ``soc_kwh`` is
the energy delivered so far. ``station_id`` names the charger: one car at a
time, and a ``station_id`` column in schedule.csv.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import car, write_scenario
from test_bad_input import _has, at, sess

import gridopt
from gridopt.cli import main
from gridopt.scenario import SESSION_MAX_ENERGY_KWH

OLD_SCHEDULE_COLUMNS = ["time", "vehicle_id", "plugged_in", "charge_kw", "discharge_kw", "soc_kwh", "soc_pct"]
STATION_SCHEDULE_COLUMNS = [
    "time",
    "vehicle_id",
    "station_id",
    "plugged_in",
    "charge_kw",
    "discharge_kw",
    "soc_kwh",
    "soc_pct",
]
#: Hourly prices of the hand-worked cases: the cheapest hour is 01:00, then 02:00.
TOU = {"00:00": 0.30, "01:00": 0.10, "02:00": 0.20, "03:00": 0.30}
DATA = Path(__file__).parent / "data"


def esess(energy=10.0, arr=0.0, dep=3.0, **kw) -> dict:
    """An energy session (no SoC): ``energy_kwh`` from ``arr`` to ``dep`` hours after the start."""
    d = {"arrival": at(arr) if isinstance(arr, (int, float)) else arr}
    d["departure"] = at(dep) if isinstance(dep, (int, float)) else dep
    d["energy_kwh"] = energy
    d.update(kw)
    return d


def energy_scenario(
    folder: Path,
    sessions: list[dict],
    vehicles: list[dict] | None = None,
    defaults: dict | None = None,
    **fields,
) -> Path:
    """A scenario whose fleet is ``sessions`` (and ``vehicles`` if given; no vehicles.csv otherwise)."""
    fleet = {"sessions": "sessions.csv"}
    if vehicles:
        fleet["vehicles"] = "vehicles.csv"
    if defaults is not None:
        fleet["session_defaults"] = defaults
    fields.setdefault("tariff", {"import_price": TOU, "export_price": 0.0})
    path = write_scenario(folder, vehicles=vehicles or [car()], sessions=sessions, fleet=fleet, **fields)
    if not vehicles:
        (folder / "vehicles.csv").unlink()
    return path


def column(schedule: pd.DataFrame, vid: str, col: str) -> np.ndarray:
    return schedule.loc[schedule["vehicle_id"] == vid, col].to_numpy(dtype=float)


# ---------------------------------------------------------------------------
# Hand-worked plans
# ---------------------------------------------------------------------------


def test_visitor_session_is_charged_in_the_cheapest_hours(tmp_path):
    """7 kW for 3 h, 10 kWh into the battery at 0.95: 10 / 0.95 kWh from the grid, cheapest hours first.

    Prices 0.30, 0.10, 0.20 while plugged in: 7 kW at 01:00 (6.65 kWh stored),
    the rest, 10 / 0.95 - 7 = 3.526 kW, at 02:00. Cost 7 * 0.10 + 3.526 * 0.20 = 1.4053.
    Uncontrolled: 7 kW at 00:00 (0.30), 3.526 kW at 01:00 (0.10) = 2.4526.
    """
    path = energy_scenario(tmp_path / "sc", [esess(10.0, 0, 3, vehicle_id="CAR-A", max_charge_kw=7.0)])
    sc = gridopt.load_scenario(path)
    assert list(sc.vehicles.index) == ["CAR-A"]
    v = sc.vehicles.loc["CAR-A"]
    assert v["battery_kwh"] == 10.0 and v["max_discharge_kw"] == 0.0 and v["min_soc"] == 0.0
    assert v["charge_efficiency"] == 0.95  # the default, as for vehicles.csv
    res = gridopt.optimize(sc)
    rest = 10.0 / 0.95 - 7.0
    np.testing.assert_allclose(column(res.schedule, "CAR-A", "charge_kw"), [0.0, 7.0, rest, 0.0], atol=1e-6)
    # soc_kwh of a visitor is the energy delivered into the battery so far (step end)
    soc = column(res.schedule, "CAR-A", "soc_kwh")
    np.testing.assert_allclose(soc[:3], [0.0, 6.65, 10.0], atol=1e-6)
    assert math.isnan(soc[3])
    assert res.summary["total_cost"] == pytest.approx(7.0 * 0.10 + rest * 0.20, abs=1e-6)
    assert res.summary["unmet_energy_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert res.summary["energy_delivered_kwh"] == pytest.approx(10.0 / 0.95, abs=1e-6)
    assert res.summary["baseline"]["total_cost"] == pytest.approx(7.0 * 0.30 + rest * 0.10, abs=1e-6)


def test_energy_out_of_reach_in_the_window_is_unmet_not_an_error(tmp_path):
    """30 kWh in 3 h at 7 kW and 0.95: at most 19.95 kWh, 10.05 kWh unmet (priced), exit 0."""
    path = energy_scenario(tmp_path / "sc", [esess(30.0, 0, 3, session_id="S1")], defaults={"max_charge_kw": 7.0})
    sc = gridopt.load_scenario(path)
    res = gridopt.optimize(sc)
    np.testing.assert_allclose(column(res.schedule, "S1", "charge_kw"), [7.0, 7.0, 7.0, 0.0], atol=1e-6)
    assert res.summary["unmet_energy_kwh"] == pytest.approx(30.0 - 3 * 7.0 * 0.95, abs=1e-6)
    [event] = res.summary["unmet_events"]
    assert event["vehicle_id"] == "S1" and event["event_id"] == "S1"
    assert event["required_kwh"] == pytest.approx(30.0)


def test_energy_session_of_a_known_vehicle_starts_from_its_arrival_soc(tmp_path):
    """A car in vehicles.csv (50 kWh) arriving at 0.2 with energy_kwh 10 must leave with 20 kWh."""
    path = energy_scenario(
        tmp_path / "sc",
        [esess(10.0, 0, 3, vehicle_id="EV1", arrival_soc=0.2)],
        vehicles=[car("EV1", initial_soc=None, charge_efficiency=0.95, max_charge_kw=7.0)],
    )
    sc = gridopt.load_scenario(path)
    assert list(sc.vehicles.index) == ["EV1"]
    assert sc.sessions["target_soc"].iloc[0] == pytest.approx(0.4)
    res = gridopt.optimize(sc)
    rest = 10.0 / 0.95 - 7.0
    np.testing.assert_allclose(column(res.schedule, "EV1", "charge_kw"), [0.0, 7.0, rest, 0.0], atol=1e-6)
    assert column(res.schedule, "EV1", "soc_kwh")[2] == pytest.approx(20.0, abs=1e-6)


def test_soc_and_energy_sessions_in_one_file(tmp_path):
    """A fleet car with SoC and a visitor with kWh side by side; per-session limits for the visitor."""
    path = energy_scenario(
        tmp_path / "sc",
        [
            sess("EV1", 0, 3, arrival_soc=0.2, target_soc=0.3),
            esess(5.0, 1, 3, vehicle_id="GUEST", max_charge_kw=3.7, min_charge_kw=1.4),
        ],
        vehicles=[car("EV1", initial_soc=None)],
        defaults={"max_charge_kw": 11.0, "charge_efficiency": 1.0},
    )
    sc = gridopt.load_scenario(path)
    assert list(sc.vehicles.index) == ["EV1", "GUEST"]
    g = sc.vehicles.loc["GUEST"]
    assert (g["max_charge_kw"], g["min_charge_kw"], g["charge_efficiency"]) == (3.7, 1.4, 1.0)
    res = gridopt.optimize(sc)
    # EV1: 5 kWh at 1.0 in the 0.10 hour. GUEST: 3.7 kWh at 0.10 would leave 1.3 kWh, below its
    # 1.4 kW minimum for the 0.20 hour: 3.6 kWh at 0.10 and 1.4 kWh at 0.20 instead.
    np.testing.assert_allclose(column(res.schedule, "EV1", "charge_kw"), [0.0, 5.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(column(res.schedule, "GUEST", "charge_kw"), [0.0, 3.6, 1.4, 0.0], atol=1e-6)
    assert res.summary["total_cost"] == pytest.approx(8.6 * 0.10 + 1.4 * 0.20, abs=1e-6)


def test_a_visitor_with_two_sessions_gets_one_row_set_per_session(tmp_path):
    """Each visit starts empty and holds only its own energy (battery unknown): ids vehicle_id/session_id."""
    path = energy_scenario(
        tmp_path / "sc",
        [esess(2.0, 0, 1, vehicle_id="U1", session_id="a"), esess(3.0, 2, 4, vehicle_id="U1", session_id="b")],
        defaults={"max_charge_kw": 7.0, "charge_efficiency": 1.0},
        tariff={"import_price": -0.1},  # paid to draw: a visitor still takes no more than its request
    )
    sc = gridopt.load_scenario(path)
    assert list(sc.vehicles.index) == ["U1/a", "U1/b"]
    res = gridopt.optimize(sc)
    s = res.schedule
    assert np.nansum(column(s, "U1/a", "charge_kw")) == pytest.approx(2.0, abs=1e-6)
    assert np.nansum(column(s, "U1/b", "charge_kw")) == pytest.approx(3.0, abs=1e-6)


@pytest.mark.parametrize(
    "row, expected",
    [
        ({"vehicle_id": "CAR-9", "session_id": "S7", "station_id": "ST1"}, "CAR-9"),
        ({"session_id": "S7", "station_id": "ST1"}, "S7"),
        ({"station_id": "ST1"}, f"ST1@{at(0)}"),
        ({}, "session-1"),
    ],
)
def test_visitor_ids_come_from_vehicle_session_or_station(tmp_path, row, expected):
    path = energy_scenario(tmp_path / "sc", [esess(1.0, **row)], defaults={"max_charge_kw": 7.0})
    sc = gridopt.load_scenario(path)
    assert list(sc.vehicles.index) == [expected]
    assert list(sc.sessions["vehicle_id"]) == [expected]


def test_zero_energy_session_loads_and_draws_nothing(tmp_path):
    path = energy_scenario(
        tmp_path / "sc", [esess(0.0, session_id="Z"), esess(1.0, session_id="A")], defaults={"max_charge_kw": 7.0}
    )
    sc = gridopt.load_scenario(path)
    res = gridopt.optimize(sc, baseline=True)
    assert np.nansum(column(res.schedule, "Z", "charge_kw")) == 0.0
    assert np.nansum(column(res.baseline_schedule, "Z", "charge_kw")) == 0.0
    assert res.summary["unmet_energy_kwh"] == pytest.approx(0.0, abs=1e-6)


def test_unused_session_defaults_are_a_warning(tmp_path):
    path = energy_scenario(
        tmp_path / "sc",
        [sess("EV1", 0, 3)],
        vehicles=[car("EV1", initial_soc=None)],
        defaults={"max_charge_kw": 7.0},
    )
    sc = gridopt.load_scenario(path)
    assert any("session_defaults" in w and "visitor" in w for w in sc.warnings), sc.warnings


# ---------------------------------------------------------------------------
# Stations
# ---------------------------------------------------------------------------


def test_station_column_in_schedule_only_when_sessions_name_stations(tmp_path, capsys):
    with_st = energy_scenario(
        tmp_path / "st",
        [
            esess(5.0, 0, 2, session_id="S1", station_id="EVSE-1"),
            esess(5.0, 2, 4, session_id="S2", station_id="EVSE-1"),
        ],
        defaults={"max_charge_kw": 7.0},
    )
    assert main(["run", str(with_st), "--out", str(tmp_path / "out_st"), "--quiet"]) == 0
    sched = pd.read_csv(tmp_path / "out_st" / "schedule.csv", dtype=str, keep_default_na=False)
    assert list(sched.columns) == STATION_SCHEDULE_COLUMNS
    s1 = sched[sched["vehicle_id"] == "S1"]
    assert s1["station_id"].tolist() == ["EVSE-1", "EVSE-1", "", ""]
    assert s1["plugged_in"].tolist() == ["1", "1", "0", "0"]
    s2 = sched[sched["vehicle_id"] == "S2"]
    assert s2["station_id"].tolist() == ["", "", "EVSE-1", "EVSE-1"]

    without = energy_scenario(tmp_path / "nost", [esess(5.0, 0, 2, session_id="S1")], defaults={"max_charge_kw": 7.0})
    assert main(["run", str(without), "--out", str(tmp_path / "out_nost"), "--quiet"]) == 0
    sched = pd.read_csv(tmp_path / "out_nost" / "schedule.csv", dtype=str, keep_default_na=False)
    assert list(sched.columns) == OLD_SCHEDULE_COLUMNS


def test_energy_scenario_through_the_cli(tmp_path, capsys):
    path = energy_scenario(tmp_path / "sc", [esess(10.0, 0, 3, vehicle_id="CAR-A", max_charge_kw=7.0)])
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "1 vehicles" in out and "1 sessions" in out and err == ""
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["total_cost"] == pytest.approx(0.7 + (10.0 / 0.95 - 7.0) * 0.2, abs=1e-6)
    assert summary["unmet_energy_kwh"] == pytest.approx(0.0, abs=1e-6)
    sched = pd.read_csv(tmp_path / "out" / "schedule.csv")
    assert list(sched.columns) == OLD_SCHEDULE_COLUMNS
    assert sched["soc_kwh"].max() == pytest.approx(10.0, abs=1e-6)


# ---------------------------------------------------------------------------
# ACN-like data end to end
# ---------------------------------------------------------------------------


def acn_day(folder: Path, day: str = "2019-10-10") -> tuple[Path, pd.DataFrame]:
    """A workplace day from real ACN-Data rows (tests/data/acn_excerpt.csv): kWh delivered at each station."""
    raw = pd.read_csv(DATA / "acn_excerpt.csv")
    local = pd.to_datetime(raw["arrival"], utc=True).dt.tz_convert("America/Los_Angeles")
    rows = raw[local.dt.strftime("%Y-%m-%d") == day]
    sessions = pd.DataFrame(
        {
            "session_id": rows["session_id"],
            "station_id": rows["station_id"],
            "arrival": rows["arrival"],
            "departure": rows["departure"],
            "energy_kwh": rows["delivered_energy (kWh)"],
        }
    )
    path = energy_scenario(
        folder,
        sessions.to_dict("records"),
        defaults={"max_charge_kw": 6.6, "charge_efficiency": 1.0},  # kWhDelivered is metered at the charger
        timezone="America/Los_Angeles",
        start=f"{day}T00:00:00-07:00",
        horizon_hours=24,
        step_minutes=15,
        site={"import_limit_kw": 400, "base_load_kw": 20},
        tariff={"import_price": {"00:00": 0.08, "08:00": 0.12, "12:00": 0.30, "18:00": 0.12}},
    )
    return path, sessions


def test_acn_day_end_to_end(tmp_path, capsys):
    path, sessions = acn_day(tmp_path / "acn")
    assert len(sessions) > 30
    sc = gridopt.load_scenario(path)
    assert list(sc.vehicles.index) == sessions["session_id"].tolist()
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    sched = pd.read_csv(out / "schedule.csv", dtype={"station_id": str}, keep_default_na=False)
    assert list(sched.columns) == STATION_SCHEDULE_COLUMNS
    summary = json.loads((out / "summary.json").read_text())
    grid = sc.grid
    start, end = grid.start, grid.end
    step = pd.Timedelta(minutes=15)
    total = unmet = 0.0
    for s in sessions.itertuples():
        rows = sched[sched["vehicle_id"] == s.session_id]
        arr = max(pd.Timestamp(s.arrival), start)
        dep = min(pd.Timestamp(s.departure), end)
        # plugged in from the arrival rounded up to the departure rounded down
        first = math.ceil((arr - start) / step)
        last = math.floor((dep - start) / step)
        plugged = rows["plugged_in"].to_numpy(int)
        assert plugged.sum() == max(0, last - first), s.session_id
        assert set(rows.loc[plugged == 1, "station_id"]) <= {s.station_id}
        assert (rows.loc[plugged == 0, "station_id"] == "").all()
        # the loose import limit never binds: every session gets its energy or all 6.6 kW can give
        reach = 6.6 * 0.25 * max(0, last - first)
        got = rows["charge_kw"].astype(float).sum() * 0.25
        assert got == pytest.approx(min(s.energy_kwh, reach), abs=1e-4), s.session_id
        total += got
        unmet += max(0.0, s.energy_kwh - reach)
    assert unmet > 1.0  # some real sessions asked for more than 6.6 kW could give in their window
    assert summary["energy_delivered_kwh"] == pytest.approx(total, abs=1e-3)
    assert summary["unmet_energy_kwh"] == pytest.approx(unmet, abs=1e-3)
    assert summary["total_cost"] <= summary["baseline"]["total_cost"] + 1e-6
    # no station ever holds two cars at once
    busy = sched[sched["station_id"] != ""].groupby(["time", "station_id"]).size()
    assert busy.max() == 1


# ---------------------------------------------------------------------------
# Bad input: one line naming the file, the line or field, and the problem
# ---------------------------------------------------------------------------

V = [car("EV1", initial_soc=None)]
D = {"max_charge_kw": 7.0}
BAD = [
    pytest.param(
        [esess(10.0, vehicle_id="EV1", arrival_soc=0.2, target_soc=0.8)],
        V,
        None,
        ["sessions.csv", "line 2", "target_soc", "energy_kwh", "both"],
        id="both-forms",
    ),
    pytest.param(
        [esess(10.0, session_id="A"), esess(None, session_id="B")],
        None,
        D,
        ["sessions.csv", "line 3", "energy_kwh", "target_soc"],
        id="neither-form",
    ),
    pytest.param(
        [{"vehicle_id": "EV1", "arrival": at(0), "departure": at(3), "arrival_soc": 0.2}],
        V,
        None,
        ["sessions.csv", "missing column", "target_soc", "energy_kwh"],
        id="no-target-column",
    ),
    pytest.param([esess(-1.0)], None, D, ["sessions.csv", "line 2", "energy_kwh", ">= 0"], id="negative-energy"),
    pytest.param([esess("nan")], None, D, ["sessions.csv", "line 2", "energy_kwh", "not a number"], id="nan-energy"),
    pytest.param([esess("inf")], None, D, ["sessions.csv", "line 2", "energy_kwh", "finite"], id="inf-energy"),
    pytest.param(
        [esess(SESSION_MAX_ENERGY_KWH * 10)],
        None,
        D,
        ["sessions.csv", "line 2", "energy_kwh", "at most"],
        id="huge-energy",
    ),
    pytest.param([esess("ten")], None, D, ["sessions.csv", "line 2", "energy_kwh", "not a number"], id="text-energy"),
    pytest.param(
        [esess(10.0)],
        None,
        None,
        ["sessions.csv", "line 2", "max_charge_kw", "session_defaults"],
        id="visitor-without-power",
    ),
    pytest.param(
        [esess(10.0, max_charge_kw=-3)], None, None, ["sessions.csv", "line 2", "max_charge_kw", ">"], id="neg-power"
    ),
    pytest.param(
        [esess(10.0, max_charge_kw=0)], None, None, ["sessions.csv", "line 2", "max_charge_kw", ">"], id="zero-power"
    ),
    pytest.param(
        [esess(10.0, max_charge_kw=1e9)],
        None,
        None,
        ["sessions.csv", "line 2", "max_charge_kw", "at most"],
        id="huge-power",
    ),
    pytest.param(
        [esess(10.0, max_charge_kw=3.0, min_charge_kw=4.0)],
        None,
        None,
        ["sessions.csv", "line 2", "min_charge_kw", "above", "max_charge_kw"],
        id="min-above-max",
    ),
    pytest.param(
        [esess(10.0, max_charge_kw=3.0, min_charge_kw=-1.0)],
        None,
        None,
        ["sessions.csv", "line 2", "min_charge_kw", ">= 0"],
        id="negative-min-power",
    ),
    pytest.param(
        [esess(10.0, vehicle_id="GUEST", arrival_soc=0.3)],
        V,
        D,
        ["sessions.csv", "line 2", "GUEST", "arrival_soc", "not in vehicles.csv"],
        id="visitor-with-arrival-soc",
    ),
    pytest.param(
        [esess(10.0, vehicle_id="EV1")],
        V,
        None,
        ["sessions.csv", "line 2", "EV1", "arrival_soc", "vehicles.csv"],
        id="known-vehicle-without-arrival-soc",
    ),
    pytest.param(
        [esess(10.0, vehicle_id="EV1", arrival_soc=0.2, max_charge_kw=3.0)],
        V,
        None,
        ["sessions.csv", "line 2", "EV1", "max_charge_kw", "vehicles.csv"],
        id="known-vehicle-with-session-power",
    ),
    pytest.param(
        [esess(45.0, vehicle_id="EV1", arrival_soc=0.2)],
        V,
        None,
        ["sessions.csv", "line 2", "EV1", "energy_kwh", "max_soc"],
        id="known-vehicle-energy-beyond-battery",
    ),
    pytest.param(
        [sess("EV9", 0, 3)],
        None,
        D,
        ["sessions.csv", "line 2", "EV9", "fleet.vehicles"],
        id="soc-session-without-vehicles-table",
    ),
    pytest.param(
        [esess(1.0, 0, 2, session_id="A", station_id="ST"), esess(1.0, 1, 3, session_id="B", station_id="ST")],
        None,
        D,
        ["sessions.csv", "line 3", "line 2", "ST", "station"],
        id="station-double-booked",
    ),
    pytest.param(
        [esess(1.0, 0, 2, vehicle_id="S2"), esess(1.0, 2, 3, session_id="S2")],
        None,
        D,
        ["sessions.csv", "line 3", "line 2", "S2"],
        id="derived-id-collides",
    ),
    pytest.param(
        [esess(1.0, 0, 1, session_id="EV1"), sess("EV1", 2, 3)],
        V,
        D,
        ["sessions.csv", "line 2", "EV1", "vehicles.csv"],
        id="derived-id-is-a-known-vehicle",
    ),
    pytest.param(
        [
            esess(1.0, 0, 2, vehicle_id="U", session_id="a", max_charge_kw=3),
            esess(1.0, 1, 3, vehicle_id="U", session_id="b", max_charge_kw=3),
        ],
        None,
        None,
        ["sessions.csv", "line 3", "overlaps", "line 2"],
        id="visitor-overlaps-itself",
    ),
    pytest.param([esess(1.0, 3, 1)], None, D, ["sessions.csv", "line 2", "before"], id="departs-before-arrival"),
]


@pytest.mark.parametrize("sessions, vehicles, defaults, fragments", BAD)
def test_bad_energy_sessions_are_refused(tmp_path, capsys, sessions, vehicles, defaults, fragments):
    path = energy_scenario(tmp_path / "sc", sessions, vehicles=vehicles, defaults=defaults)
    with pytest.raises(gridopt.ScenarioError) as exc:
        gridopt.load_scenario(path)
    msg = str(exc.value)
    missing = [f for f in fragments if not _has(msg, f)]
    assert not missing, f"message {msg!r} lacks {missing}"
    assert "\n" not in msg
    capsys.readouterr()
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"error: {msg}"]
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    "fleet, fragments",
    [
        ({"trips": "trips.csv"}, ["scenario.yaml", "fleet.trips", "need fleet.vehicles"]),
        ({}, ["scenario.yaml", "fleet", "vehicles", "sessions"]),
        (
            {"sessions": "sessions.csv", "session_defaults": {"max_charge_kw": -1}},
            ["scenario.yaml", "fleet.session_defaults.max_charge_kw"],
        ),
        (
            {"sessions": "sessions.csv", "session_defaults": {"max_charge_kw": 7, "charge_efficiency": 1.5}},
            ["scenario.yaml", "fleet.session_defaults.charge_efficiency"],
        ),
        (
            {"sessions": "sessions.csv", "session_defaults": {"max_charge_kw": 7, "min_charge_kw": 8}},
            ["scenario.yaml", "session_defaults", "min_charge_kw", "max_charge_kw"],
        ),
        (
            {"sessions": "sessions.csv", "session_defaults": {"max_kw": 7}},
            ["scenario.yaml", "unknown key", "max_kw"],
        ),
    ],
    ids=[
        "trips-without-vehicles",
        "empty-fleet",
        "neg-default-power",
        "bad-default-eff",
        "default-min-above-max",
        "unknown-default-key",
    ],
)
def test_bad_fleet_blocks_are_refused(tmp_path, capsys, fleet, fragments):
    path = energy_scenario(tmp_path / "sc", [esess(1.0)], defaults=D)
    pd.DataFrame([{"vehicle_id": "EV1", "departure": at(1), "arrival": at(2), "energy_kwh": 1.0}]).to_csv(
        tmp_path / "sc" / "trips.csv", index=False
    )
    data = yaml.safe_load(path.read_text())
    data["fleet"] = fleet
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(gridopt.ScenarioError) as exc:
        gridopt.load_scenario(path)
    msg = str(exc.value)
    missing = [f for f in fragments if not _has(msg, f)]
    assert not missing, f"message {msg!r} lacks {missing}"
    assert main(["validate", str(path)]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_readme_acn_example_loads(tmp_path):
    """The sessions.csv and fleet block the README shows for ACN-Data load as three visitors on stations."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("```csv\nsession_id,station_id", 1)[1].split("```", 1)[0]
    folder = tmp_path / "sc"
    path = energy_scenario(
        folder,
        [],
        defaults={"max_charge_kw": 6.6, "charge_efficiency": 1.0},
        timezone="America/Los_Angeles",
        start="2019-10-10T00:00:00-07:00",
        horizon_hours=24,
        step_minutes=15,
    )
    (folder / "sessions.csv").write_text("session_id,station_id" + block)  # in place of the empty table
    sc = gridopt.load_scenario(path)
    assert list(sc.vehicles.index) == ["acn-0250", "acn-0251", "acn-0252"]
    assert list(sc.sessions["station_id"]) == ["CA-489", "CA-494", "CA-317"]
    assert sc.vehicles["battery_kwh"].tolist() == [1.432, 8.75, 23.139]
    res = gridopt.optimize(sc, baseline=False)
    assert res.summary["unmet_energy_kwh"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("change", [{"n_vehicles": 4}, {"v2g_share": 0.5}])
@pytest.mark.parametrize("with_vehicles", [False, True])
def test_app_fleet_edits_refuse_visitors(tmp_path, change, with_vehicles):
    """Fleet size and V2G share scale vehicles.csv: with visitors they would get the fleet wrong."""
    from gridopt.edit import apply_edits, current_edits

    sessions = [esess(5.0, 0, 2, session_id="S1"), esess(5.0, 2, 4, session_id="S2")]
    vehicles = None
    if with_vehicles:
        sessions.append(sess("EV1", 0, 3))
        vehicles = [car("EV1", initial_soc=None)]
    sc = gridopt.load_scenario(energy_scenario(tmp_path / "sc", sessions, vehicles=vehicles, defaults=D))
    edits = current_edits(sc)
    with pytest.raises(gridopt.ScenarioError, match="visitors.*sessions file"):
        apply_edits(sc, dataclasses.replace(edits, **change), tmp_path / "work")
    # other edits still work
    edited = apply_edits(sc, dataclasses.replace(edits, import_limit_kw=5.0), tmp_path / "work")
    assert edited.import_limit_kw == 5.0 and list(edited.vehicles.index) == list(sc.vehicles.index)
