"""``gridopt serve`` for fleets with trips: a real server process, real HTTP requests.

The depot: two 50 kWh buses on 10 kW chargers, ideal efficiencies, 06:00-18:00 in hourly steps,
import 0.1 per kWh before 08:00 and from 13:00 to 15:00, 0.3 otherwise, no limit that binds.
BUS1 (40 %, final 60 %) runs route r1 08:00-12:00 (20 kWh, leaving with 80 %); BUS2 (50 %, no
final SoC) has no trip. Every plan below is worked out by hand.

The depot with chargers is the same with three 10 kW chargers C1, C2, C3 (chargers.csv), none named
by vehicles.csv or trips.csv: gridopt assigns them until a delta names one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import schemathesis
import yaml
from conftest import car, write_scenario
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from test_serve import TZ, Server, approx, charge, nonzero, t

CHEAP = {"06:00", "07:00", "13:00", "14:00"}


def depot(folder: Path) -> Path:
    idx = pd.date_range(t("06:00"), periods=12, freq="1h")
    cheap = (idx.hour < 8) | ((idx.hour >= 13) & (idx.hour < 15))
    ts = pd.DataFrame({"time": [x.isoformat() for x in idx], "import_price": np.where(cheap, 0.1, 0.3)})
    trips = [
        dict(
            vehicle_id="BUS1",
            departure=t("08:00"),
            arrival=t("12:00"),
            energy_kwh=20,
            departure_soc=0.8,
            trip_id="r1",
        )
    ]
    return write_scenario(
        folder,
        vehicles=[car("BUS1", initial_soc=0.4, final_soc=0.6), car("BUS2", initial_soc=0.5)],
        trips=trips,
        timeseries=ts,
        name="depot",
        start=t("06:00"),
        horizon_hours=12,
        timezone=TZ,
        site={"import_limit_kw": 100, "export_limit_kw": 0},
        tariff={"export_price": 0.0},
    )


def depot_with_chargers(folder: Path) -> Path:
    path = depot(folder)
    pd.DataFrame([{"charger_id": k, "max_kw": 10} for k in ("C1", "C2", "C3")]).to_csv(
        folder / "chargers.csv", index=False
    )
    cfg = yaml.safe_load(path.read_text())
    cfg["site"]["chargers"] = "chargers.csv"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve_trips")
    depot(root / "depot")
    depot_with_chargers(root / "chargers")
    return root


@pytest.fixture
def server(folder):
    s = Server(folder, preload="depot/scenario")
    yield s
    log = s.stop()
    assert "BUS" not in log  # nothing about vehicles is logged


def post(c, *events):
    return c.post("/events", json={"events": list(events)})


def plan(c):
    p = c.get("/plan").json()
    return p, charge(p, "BUS1"), charge(p, "BUS2")


def plugged(p: dict, vid: str) -> dict:
    return {
        pd.Timestamp(r["time"]).tz_convert(TZ).strftime("%H:%M"): r["plugged_in"]
        for r in p["schedule"]
        if r["vehicle_id"] == vid
    }


def test_depot_replanning_by_hand(server):
    c = server.client
    # loaded: BUS1 20 -> 40 kWh in 06:00 and 07:00 (10 kW, cheap), leaves 08:00, back 12:00 with 20 kWh,
    # then 10 kWh to its final 30 kWh at 13:00 or 14:00 (cheap): 30 kWh at 0.1 = 3.0
    p, b1, b2 = plan(c)
    assert p["summary"]["total_cost"] == pytest.approx(3.0, abs=1e-6)
    assert nonzero(b1) == approx(
        {"06:00": 10.0, "07:00": 10.0, **{k: v for k, v in nonzero(b1).items() if k > "12:00"}}
    )
    assert sum(v for k, v in b1.items() if k > "12:00") == pytest.approx(10.0, abs=1e-5)
    assert set(nonzero(b1)) <= CHEAP and nonzero(b2) == {}
    assert [h for h, on in plugged(p, "BUS1").items() if not on] == ["08:00", "09:00", "10:00", "11:00"]

    # BUS1 leaves late, 08:10, with 78 % (39 kWh): now 09:00; back at 12:00 with 39 - 20 = 19 kWh,
    # 11 kWh to its final 30 at 0.1: 1.1
    r = post(c, {"type": "trip_start", "vehicle_id": "BUS1", "time": t("08:10"), "soc": 0.78})
    assert r.status_code == 200, r.text
    assert r.json()["now"] == pd.Timestamp(t("09:00")).isoformat()
    assert r.json()["total_cost"] == pytest.approx(1.1, abs=1e-6)
    p, b1, _ = plan(c)
    assert sum(b1.values()) == pytest.approx(11.0, abs=1e-5) and set(nonzero(b1)) <= {"13:00", "14:00"}
    assert not plugged(p, "BUS1")["11:00"] and plugged(p, "BUS1")["12:00"]

    # back early, 11:30, with 30 % (15 kWh, less than expected): now 12:00, 15 kWh to charge: 1.5
    r = post(c, {"type": "trip_end", "vehicle_id": "BUS1", "time": t("11:30"), "soc": 0.3})
    assert r.status_code == 200, r.text
    assert r.json()["now"] == pd.Timestamp(t("12:00")).isoformat()
    assert r.json()["total_cost"] == pytest.approx(1.5, abs=1e-6)
    p, b1, _ = plan(c)
    assert sum(b1.values()) == pytest.approx(15.0, abs=1e-5) and set(nonzero(b1)) <= {"13:00", "14:00"}
    first = [x for x in p["schedule"] if x["vehicle_id"] == "BUS1"][0]
    assert first["soc_kwh"] == pytest.approx(15.0 + b1["12:00"], abs=1e-5)  # the reading, plus the first step

    # a new trip for BUS2, 16:00-17:00, 10 kWh, leaving with 70 % (35 kWh): 10 kWh by 16:00 at 0.1: 2.5
    new = {
        "type": "trip",
        "vehicle_id": "BUS2",
        "time": t("12:00"),
        "trip_id": "extra",
        "departure": t("16:00"),
        "arrival": t("17:00"),
        "energy_kwh": 10,
        "departure_soc": 0.7,
    }
    r = post(c, new)
    assert r.status_code == 200, r.text
    assert r.json()["total_cost"] == pytest.approx(2.5, abs=1e-6)
    p, _, b2 = plan(c)
    assert sum(b2.values()) == pytest.approx(10.0, abs=1e-5) and set(nonzero(b2)) <= {"13:00", "14:00"}
    assert not plugged(p, "BUS2")["16:00"] and plugged(p, "BUS2")["17:00"]
    # setpoints: BUS2's blocks stop at its departure and start again at its return
    sp = c.get("/setpoints").json()["setpoints"]
    bus2 = [(s["start"], s["end"]) for s in sp if s["vehicle_id"] == "BUS2"]
    assert (pd.Timestamp(bus2[-1][0]), pd.Timestamp(bus2[-1][1])) == (
        pd.Timestamp(t("17:00")),
        pd.Timestamp(t("18:00")),
    )
    expanded = {}
    for s in sp:
        for h in pd.date_range(s["start"], s["end"], freq="1h", inclusive="left"):
            expanded[(s["vehicle_id"], h.tz_convert(TZ).strftime("%H:%M"))] = s["limit_kw"]
    for vid, d in (("BUS1", b1), ("BUS2", charge(p, "BUS2"))):
        for h, kw in d.items():
            if (vid, h) in expanded:
                assert expanded[(vid, h)] == pytest.approx(kw, abs=1e-4)

    # cancelled: back to 1.5
    r = post(c, {"type": "trip", "vehicle_id": "BUS2", "time": t("12:00"), "trip_id": "extra", "cancel": True})
    assert r.status_code == 200, r.text
    assert r.json()["total_cost"] == pytest.approx(1.5, abs=1e-6)

    # a SoC reading at the depot, 12:30: 40 % (20 kWh): now 13:00, 10 kWh at 0.1: 1.0
    r = post(c, {"type": "soc", "vehicle_id": "BUS1", "time": t("12:30"), "soc": 0.4})
    assert r.status_code == 200, r.text
    assert r.json()["total_cost"] == pytest.approx(1.0, abs=1e-6)
    _, b1, _ = plan(c)
    assert sum(b1.values()) == pytest.approx(10.0, abs=1e-5)


def test_timetable_change_moves_a_trip(server):
    """Route r1 moved to 07:00-11:00 before it leaves (now 06:00): BUS1 has one hour to charge before it
    leaves (10 kW: 10 of the 20 kWh it needs; the rest is unmet) and is away 07:00-11:00."""
    c = server.client
    r = post(
        c,
        {
            "type": "trip",
            "vehicle_id": "BUS1",
            "time": t("06:00"),
            "trip_id": "r1",
            "departure": t("07:00"),
            "arrival": t("11:00"),
        },
    )
    assert r.status_code == 200, r.text
    p, b1, _ = plan(c)
    assert b1["06:00"] == pytest.approx(10.0, abs=1e-5)
    assert [h for h, on in plugged(p, "BUS1").items() if not on] == ["07:00", "08:00", "09:00", "10:00"]


def test_cancel_the_only_trip(server):
    """r1 cancelled (the timetable then has no trip at all): BUS1 stays plugged in all day and charges
    its 10 kWh from 20 to its final 30 kWh in a cheap hour: 1.0 (this was a 500: no trips left)."""
    c = server.client
    r = post(c, {"type": "trip", "vehicle_id": "BUS1", "time": t("06:00"), "trip_id": "r1", "cancel": True})
    assert r.status_code == 200, r.text
    assert r.json()["total_cost"] == pytest.approx(1.0, abs=1e-6)
    p, b1, _ = plan(c)
    assert all(plugged(p, "BUS1").values()) and sum(b1.values()) == pytest.approx(10.0, abs=1e-5)


def chargers_from(c, vid: str, hhmm: str) -> set:
    """The chargers of ``vid``'s setpoint blocks that start at or after ``hhmm`` (at least one block)."""
    sp = c.get("/setpoints").json()["setpoints"]
    out = {s["charger_id"] for s in sp if s["vehicle_id"] == vid and pd.Timestamp(s["start"]) >= pd.Timestamp(t(hhmm))}
    assert out, (vid, hhmm, sp)
    return out


def test_trip_chargers_named_live(folder):
    """``charger_id`` on ``trip`` and ``trip_start``: a new trip's charger, an existing trip's charger moved
    (before it leaves, on leaving, and under way), refused when unknown or taken by another vehicle (422 on
    the field, nothing changed); the re-plan's setpoints after each return are on the named charger."""
    s = Server(folder, preload="chargers/scenario")
    try:
        c = s.client
        # a new trip of BUS2, 09:00-10:00, back onto C3
        new = {
            "type": "trip",
            "vehicle_id": "BUS2",
            "time": t("06:00"),
            "trip_id": "extra",
            "departure": t("09:00"),
            "arrival": t("10:00"),
            "energy_kwh": 5,
            "charger_id": "C3",
        }
        r = post(c, new)
        assert r.status_code == 200, r.text
        assert chargers_from(c, "BUS2", "10:00") == {"C3"}
        # route r1 of BUS1 (back 12:00) onto C2, then moved to C1
        for k in ("C2", "C1"):
            r = post(c, {"type": "trip", "vehicle_id": "BUS1", "time": t("06:00"), "trip_id": "r1", "charger_id": k})
            assert r.status_code == 200, r.text
            assert chargers_from(c, "BUS1", "12:00") == {k}
        # refused, nothing changed: C3 is BUS2's from 10:00 on; C9 is no charger of the site
        before = c.get("/plan").json()
        for k, words in (("C3", "is taken by vehicle 'BUS2'"), ("C9", "'C9' is not a charger_id of chargers.csv")):
            r = post(c, {"type": "trip", "vehicle_id": "BUS1", "time": t("06:00"), "trip_id": "r1", "charger_id": k})
            assert r.status_code == 422, r.text
            detail = r.json()["detail"][0]
            assert detail["loc"] == ["body", "events", 0, "charger_id"], r.text
            assert words in detail["msg"] and "trip 'r1'" in detail["msg"], r.text
            assert c.get("/plan").json() == before
        assert chargers_from(c, "BUS1", "12:00") == {"C1"}
        # r1 leaves on time, to come back onto C2; under way, it is told C1 after all
        r = post(c, {"type": "trip_start", "vehicle_id": "BUS1", "time": t("08:00"), "charger_id": "C2"})
        assert r.status_code == 200, r.text
        assert chargers_from(c, "BUS1", "12:00") == {"C2"}
        r = post(c, {"type": "trip", "vehicle_id": "BUS1", "time": t("09:00"), "trip_id": "r1", "charger_id": "C1"})
        assert r.status_code == 200, r.text
        assert chargers_from(c, "BUS1", "12:00") == {"C1"}
        # an unplanned trip of BUS2, 11:00-12:00, back onto C2
        r = post(
            c,
            {
                "type": "trip_start",
                "vehicle_id": "BUS2",
                "time": t("11:00"),
                "arrival": t("12:00"),
                "energy_kwh": 5,
                "charger_id": "C2",
            },
        )
        assert r.status_code == 200, r.text
        assert chargers_from(c, "BUS2", "12:00") == {"C2"}
        # BUS2 has left C3: r1, under way, comes back onto it
        r = post(c, {"type": "trip", "vehicle_id": "BUS1", "time": t("11:00"), "trip_id": "r1", "charger_id": "C3"})
        assert r.status_code == 200, r.text
        assert chargers_from(c, "BUS1", "12:00") == {"C3"}
        # both back at 12:00, now 12:00 (the trips are over): the plan keeps them on the chargers their trips name
        r = post(c, {"type": "trip_end", "vehicle_id": "BUS1", "time": t("12:00"), "soc": 0.4})
        assert r.status_code == 200, r.text
        assert r.json()["now"] == pd.Timestamp(t("12:00")).isoformat()
        assert chargers_from(c, "BUS1", "12:00") == {"C3"} and chargers_from(c, "BUS2", "12:00") == {"C2"}
    finally:
        s.stop()


BAD = [
    ({"type": "trip_end", "vehicle_id": "BUS2", "time": t("09:00"), "soc": 0.5}, ["body", "events", 0, "vehicle_id"]),
    (
        {"type": "plug_in", "vehicle_id": "BUS1", "time": t("09:00"), "soc": 0.5, "departure": t("10:00")},
        ["body", "events", 0, "vehicle_id"],
    ),
    ({"type": "unplug", "vehicle_id": "BUS1", "time": t("09:00")}, ["body", "events", 0, "vehicle_id"]),
    ({"type": "soc", "vehicle_id": "BUS1", "time": t("09:00"), "soc": 0.5}, ["body", "events", 0, "vehicle_id"]),
    (
        {"type": "trip", "vehicle_id": "BUS2", "time": t("09:00"), "departure": t("10:00"), "energy_kwh": 3},
        ["body", "events", 0, "arrival"],
    ),
    (
        {
            "type": "trip",
            "vehicle_id": "BUS1",
            "time": t("06:00"),
            "departure": t("11:00"),
            "arrival": t("13:00"),
            "energy_kwh": 3,
        },
        ["body", "events", 0],
    ),
    ({"type": "trip_start", "vehicle_id": "BUS2", "time": t("09:00")}, ["body", "events", 0, "arrival"]),
    (
        {"type": "trip", "vehicle_id": "BUS2", "time": t("09:00"), "trip_id": "zz", "cancel": True},
        ["body", "events", 0, "trip_id"],
    ),
    ({"type": "trip_start", "vehicle_id": "NOPE", "time": t("09:00")}, ["body", "events", 0, "vehicle_id"]),
    # the depot has no chargers.csv: no trip can name a charger
    (
        {"type": "trip", "vehicle_id": "BUS1", "time": t("06:00"), "trip_id": "r1", "charger_id": "C1"},
        ["body", "events", 0, "charger_id"],
    ),
    (
        {"type": "trip_start", "vehicle_id": "BUS1", "time": t("08:00"), "charger_id": "C1"},
        ["body", "events", 0, "charger_id"],
    ),
]


def test_bad_fleet_deltas_get_422_naming_the_field(folder):
    s = Server(folder, preload="depot/scenario")
    try:
        for event, loc in BAD:
            r = post(s.client, event)
            assert r.status_code == 422, (event, r.text)
            assert r.json()["detail"][0]["loc"] == loc, (event, r.text)
        # nothing changed: the loaded plan, now still 06:00
        assert s.client.get("/plan").json()["summary"]["now"] == pd.Timestamp(t("06:00")).isoformat()
        # on a trip already reported, a second start is refused
        assert post(s.client, {"type": "trip_start", "vehicle_id": "BUS1", "time": t("08:00")}).status_code == 200
        r = post(s.client, {"type": "trip_start", "vehicle_id": "BUS1", "time": t("09:00")})
        assert r.status_code == 422 and "on a trip" in r.json()["detail"][0]["msg"]
    finally:
        s.stop()


@pytest.mark.parametrize("name", ["depot/scenario", "chargers/scenario"])
def test_property_based_api_on_a_depot(folder, name):
    """schemathesis against a running depot server (without and with chargers): no 5xx, responses as the
    schema says."""
    s = Server(folder, preload=name)
    try:
        schema = schemathesis.openapi.from_url(f"{s.base}/openapi.json")
        for result in schema.get_all_operations():
            op = result.ok()
            if op.path != "/events":
                continue

            @settings(
                max_examples=int(os.environ.get("GRIDOPT_SERVE_EXAMPLES", "30")),
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=op.as_strategy())
            def check(case):
                case.call_and_validate(base_url=s.base, excluded_checks=[positive_data_acceptance])

            check()
    finally:
        s.stop()


def test_soc_on_return_when_now_is_the_return(tmp_path):
    """No delta about the trip: a price update at 11:30 moves now to 12:00, when BUS1 is just back. Its
    SoC then is the plan's SoC on leaving minus the trip: 15 kWh + 25 kWh charged at 06:00-07:00 (15 kW)
    = 40 kWh, minus 20 = 20 kWh (not its initial 15 kWh): 10 kWh to its final 30 at 0.1 = 1.0."""
    from gridopt import load_scenario
    from gridopt.serve.state import LiveSite

    path = depot(tmp_path)
    vehicles = pd.read_csv(tmp_path / "vehicles.csv")
    vehicles.loc[vehicles["vehicle_id"] == "BUS1", ["initial_soc", "max_charge_kw"]] = [0.3, 15.0]
    vehicles.to_csv(tmp_path / "vehicles.csv", index=False)
    live = LiveSite(load_scenario(path), "depot")
    b1 = live.plan.schedule[live.plan.schedule["vehicle_id"] == "BUS1"]
    assert b1["charge_kw"].iloc[:2].sum() == pytest.approx(25.0, abs=1e-5)
    live.prices(0, pd.Timestamp(t("11:30")), [0.3], None)
    live.advance(live.boundary_at_or_after(pd.Timestamp(t("11:30")), ()))
    live.replan()
    assert live.plan_start_soc["BUS1"] == pytest.approx(20.0, abs=1e-6)
    assert live.plan.summary["total_cost"] == pytest.approx(1.0, abs=1e-6)
