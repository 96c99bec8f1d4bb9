"""The greedy plan on sites with chargers and a circuit tree (issue 13: always a plan on charger sites).

When the LP does not finish within the time limit, the fast path returns its greedy plan
(gridopt/optimizer/greedy.py, greedy_chargers.py for chargers). These tests force that (a
deadline already reached) and check the plan: against every row of the MILP
(``max_violation``), against the independent check (``check_schedule``: one car per charger,
charger limits, the circuit's exact phasor currents) and, on the Caltech network, against
acnportal's own constraint evaluation.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from conftest import car, write_scenario
from test_caltech_network import DAYS, SCENARIO, evse_currents, load_day, overloads
from test_chargers import _fleet_30, session, ten_chargers

import gridopt
from gridopt.check import check_schedule
from gridopt.fleet import build_fleet_plan
from gridopt.optimizer.greedy import FEAS_TOL, greedy_plan, max_violation
from gridopt.optimizer.matrix import build_matrix

START = pd.Timestamp("2026-06-15T00:00:00+02:00")


def at(hours: float) -> str:
    return (START + pd.Timedelta(hours=hours)).isoformat()


def forced_greedy(sc):
    """``gridopt.optimize`` with its deadline already reached: the greedy plan, checked."""
    res = gridopt.optimize(sc, baseline=False, flexibility=False, deadline=time.monotonic())
    assert res.summary["method"] == "greedy", res.summary["method"]
    assert res.summary["status"] in ("time_limit", "optimal")
    # the independent check (optimize ran it too; here it must find nothing)
    assert check_schedule(sc, res.schedule, res.site, res.unmet, raise_on_violation=False) == []
    return res


def greedy_columns(sc):
    plan = build_fleet_plan(sc)
    mm = build_matrix(sc, plan, modes=True)
    x = greedy_plan(sc, plan, mm)
    assert x is not None
    assert max_violation(mm, x) <= FEAS_TOL
    return mm, x


def never_shared(res) -> None:
    on = res.schedule[res.schedule["charger_id"].notna()]
    assert not on.duplicated(["time", "charger_id"]).any()
    off = res.schedule[res.schedule["charger_id"].isna()]
    assert off[["charge_kw", "discharge_kw"]].to_numpy().max(initial=0.0) == 0.0


# --- the Caltech network and a 30-car assignment case ------------------------------------------


@pytest.mark.parametrize("day", DAYS)
def test_caltech_network_greedy_plan_keeps_acnportal_limits(tmp_path, day):
    """No time for the LP: the greedy plan comes back, passes the check and acnportal's evaluation."""
    from acnportal.acnsim.network.sites import caltech_acn

    network = caltech_acn(basic_evse=False, voltage=208.0, transformer_cap=150)
    sc = load_day(day, tmp_path)
    res = forced_greedy(sc)
    never_shared(res)
    amps = evse_currents(res, list(network.station_ids))
    assert network.is_feasible(amps), overloads(network, amps)
    assert max(overloads(network, amps).values()) <= 1e-9
    assert amps.max() <= 32 + 1e-6
    assert not ((amps > 1e-6) & (amps < 6 - 1e-6)).any()  # nothing between 0 and the EVSEs' lowest rate
    assert res.summary["energy_delivered_kwh"] > 100  # it charges (the day's sessions ask for ~250 kWh)


def test_caltech_network_two_second_run(tmp_path):
    """The ready scenario with a 2 s limit returns a checked plan, whatever the machine's load."""
    sc = gridopt.load_scenario(SCENARIO)
    res = gridopt.optimize(sc, options=gridopt.SolverOptions(time_limit_s=2.0), baseline=False, flexibility=False)
    assert res.summary["status"] in ("optimal", "time_limit")
    assert check_schedule(sc, res.schedule, res.site, res.unmet, raise_on_violation=False) == []


@pytest.mark.parametrize("mixed", [False, True])
def test_thirty_cars_ten_chargers_greedy(tmp_path, mixed):
    """First come first served on 10 chargers: never two cars on one, a car keeps its charger."""
    sc = _fleet_30(tmp_path, ten_chargers(mixed))
    greedy_columns(sc)
    res = forced_greedy(sc)
    never_shared(res)
    on = res.schedule[res.schedule["charger_id"].notna()]
    for vid, rows in on.groupby("vehicle_id"):
        assert rows["charger_id"].nunique() == 1, vid
    lim = sc.chargers.set_index("charger_id")
    assert (on["charge_kw"] <= on["charger_id"].map(lim["max_kw"]) + 1e-9).all()
    low = (on["charge_kw"] > 0) & (on["charge_kw"] < on["charger_id"].map(lim["min_kw"]) - 1e-9)
    assert not low.any()
    # first come first served: at each arrival, a car gets a charger if one is free
    ca = res.charger_assignment
    assert len(ca) + res.summary["chargers"]["unassigned_occupancies"] == 30
    assert res.summary["chargers"]["unassigned_occupancies"] > 0  # 30 cars, 10 chargers: some wait
    if mixed:  # V2G cars on V2G chargers first
        v2g_cars = set(sc.vehicles.index[sc.vehicles["max_discharge_kw"] > 0])
        on_dc = ca[ca["charger_id"].str.startswith("DC")]
        assert on_dc["vehicle_id"].isin(v2g_cars).mean() > 0.5


# --- small cases worked by hand ------------------------------------------------------------------


def small(tmp_path, cars, ses, chargers, circuit=None, *, hours=3, prices=None, **site):
    pd.DataFrame(chargers).to_csv(tmp_path / "chargers.csv", index=False)
    site_cfg = {"import_limit_kw": 1000, "export_limit_kw": 0, "chargers": "chargers.csv", **site}
    if circuit is not None:
        site_cfg["circuit"] = circuit
    path = write_scenario(
        tmp_path,
        vehicles=cars,
        sessions=ses,
        site=site_cfg,
        tariff={"import_price": prices or 0.1},
        horizon_hours=hours,
    )
    return gridopt.load_scenario(path)


def test_two_cars_on_one_phase_share_the_pod_hand_worked(tmp_path):
    """Two chargers on phase A at 230 V under a 32 A pod: at most 32 x 0.23 = 7.36 kW together.

    Prices 0.1, 0.2, 0.3 (hours 0-3). EV1 leaves at 2 h needing 14 kWh, EV2 at 3 h needing 10 kWh;
    both 7 kW cars with a 2 kW minimum. Earliest departure first: EV1 takes 7 kW in hours 0 and 1;
    EV2 is offered 0.36 kW there (below its minimum: nothing) and charges 7 kW in hour 2, leaving
    3 kWh unmet. A plan charging EV2 0.36 kW would break its minimum; one charging both at 7 kW
    would draw 60.9 A.
    """
    cars = [car(f"EV{i}", initial_soc=None, max_charge_kw=7.0, min_charge_kw=2.0) for i in (1, 2)]
    ses = [session("EV1", 0, 2, 0.0, 0.28), session("EV2", 0, 3, 0.0, 0.2)]
    chg = [{"charger_id": f"C{k}", "max_kw": 7, "phase": "A", "voltage_v": 230, "node": "POD"} for k in (1, 2)]
    sc = small(
        tmp_path, cars, ses, chg, [{"node_id": "POD", "limit_a": 32}], prices={"00:00": 0.1, "01:00": 0.2, "02:00": 0.3}
    )
    greedy_columns(sc)
    res = forced_greedy(sc)
    p = res.schedule.pivot(index="time", columns="vehicle_id", values="charge_kw")
    assert p["EV1"].tolist() == pytest.approx([7.0, 7.0, 0.0])
    assert p["EV2"].tolist() == pytest.approx([0.0, 0.0, 7.0])
    assert res.summary["unmet_energy_kwh"] == pytest.approx(3.0)
    assert (p.sum(axis=1) * 1000 / 230 <= 32 + 1e-9).all()


def test_named_charger_and_reassign(tmp_path):
    """EV1 names C1 (3 kW); EV2 and EV3 share the pooled 7 kW charger C2, moving at 01:00 (reassign_at).

    EV2 (0-1 h) arrives with EV3 (0-3 h): EV2 is first (same start, lower number), so EV3 waits
    until 01:00 and then takes C2.
    """
    cars = [car(f"EV{i}", initial_soc=None, max_charge_kw=11.0) for i in (1, 2, 3)]
    ses = [
        session("EV1", 0, 3, 0.0, 0.3, station_id="C1"),
        session("EV2", 0, 1, 0.0, 0.1),
        session("EV3", 0, 3, 0.0, 0.2),
    ]
    chg = [{"charger_id": "C1", "max_kw": 3}, {"charger_id": "C2", "max_kw": 7}]
    sc = small(tmp_path, cars, ses, chg, reassign_at=["01:00"])
    greedy_columns(sc)
    res = forced_greedy(sc)
    sch = res.schedule
    assert set(sch.loc[sch["vehicle_id"] == "EV1", "charger_id"]) == {"C1"}
    p = sch.pivot(index="time", columns="vehicle_id", values="charge_kw")
    assert p["EV1"].tolist() == pytest.approx([3.0, 3.0, 3.0])
    assert p["EV2"].tolist() == pytest.approx([5.0, 0.0, 0.0])
    assert p["EV3"].tolist() == pytest.approx([0.0, 7.0, 3.0])
    ev3 = sch[sch["vehicle_id"] == "EV3"]["charger_id"].tolist()
    assert pd.isna(ev3[0])  # no charger in the first hour
    assert ev3[1:] == ["C2", "C2"]


# --- random small circuits: every row of the MILP and the independent check ----------------------


def _random_circuit_case(tmp_path, seed):
    rng = np.random.default_rng(seed)
    hours = 6
    n_cars = int(rng.integers(4, 9))
    cars, ses = [], []
    for i in range(n_cars):
        a = int(rng.integers(0, hours - 1))
        d = int(rng.integers(a + 1, hours + 1))
        vid = f"EV{i + 1}"
        v2g = bool(rng.random() < 0.4)
        cars.append(
            car(
                vid,
                initial_soc=None,
                max_charge_kw=float(rng.choice([7.0, 11.0, 22.0])),
                min_charge_kw=float(rng.choice([0.0, 1.4, 4.0])),
                max_discharge_kw=7.0 if v2g else 0.0,
                min_soc=0.1,
            )
        )
        ses.append(session(vid, a, d, round(float(rng.uniform(0.1, 0.3)), 3), round(float(rng.uniform(0.3, 0.8)), 3)))
    phases = ["A", "B", "C", "AB", "BC", "CA", "ABC"]
    chargers = []
    for k in range(int(rng.integers(2, 6))):
        ph = str(rng.choice(phases))
        chargers.append(
            {
                "charger_id": f"K{k}",
                "max_kw": float(rng.choice([7.4, 11.0, 22.0])),
                "min_kw": float(rng.choice([0.0, 1.4])),
                "v2g": bool(rng.random() < 0.4),
                "phase": ph,
                "node": str(rng.choice(["P1", "P2"])),
            }
        )
    circuit = [
        {"node_id": "T", "limit_a": float(rng.uniform(20, 60)), "voltage_v": 400}
        | ({"delta_wye_ratio": 2.0} if seed % 2 else {}),
        {"node_id": "P1", "parent": "T", "limit_a": float(rng.uniform(10, 40)), "limit_kw": float(rng.uniform(5, 20))},
        {"node_id": "P2", "parent": "T", "limit_kw": float(rng.uniform(5, 20))},
    ]
    if seed % 2:  # the transformer's secondary then runs at 400 V line to line too; its primary is the delta
        circuit[0]["limit_a"] = float(rng.uniform(10, 30))
    prices = {f"{h:02d}:00": round(float(rng.uniform(0.05, 0.5)), 3) for h in range(hours)}
    reassign = ["02:00", "04:00"] if seed % 3 == 0 else []
    return small(tmp_path, cars, ses, chargers, circuit, hours=hours, prices=prices, reassign_at=reassign)


@pytest.mark.parametrize("seed", range(12))
def test_random_small_circuits_greedy_is_feasible(tmp_path, seed):
    sc = _random_circuit_case(tmp_path, seed)
    greedy_columns(sc)
    res = forced_greedy(sc)
    never_shared(res)


def test_v2g_through_the_circuit_when_the_site_needs_it(tmp_path):
    """Base load 30 kW over an import limit of 25 kW in hour 1: the V2G car discharges 5 kW through its
    charger (step by step rule), within its pod's 10 kW."""
    cars = [car("EV1", initial_soc=None, max_discharge_kw=7.0), car("EV2", initial_soc=None)]
    ses = [session("EV1", 0, 3, 0.8, 0.5), session("EV2", 0, 3, 0.2, 0.3)]
    chg = [
        {"charger_id": "V", "max_kw": 11, "v2g": "true", "node": "POD"},
        {"charger_id": "N", "max_kw": 11, "node": "POD"},
    ]
    folder = tmp_path
    ts = pd.DataFrame(
        {"time": [at(h) for h in range(3)], "base_load_kw": [10.0, 30.0, 10.0], "import_price": [0.1, 0.2, 0.3]}
    )
    pd.DataFrame(chg).to_csv(folder / "chargers.csv", index=False)
    path = write_scenario(
        folder,
        vehicles=cars,
        sessions=ses,
        timeseries=ts,
        site={
            "import_limit_kw": 25,
            "export_limit_kw": 0,
            "chargers": "chargers.csv",
            "circuit": [{"node_id": "POD", "limit_kw": 10}],
        },
        tariff={},
        horizon_hours=3,
    )
    sc = gridopt.load_scenario(path)
    greedy_columns(sc)
    res = forced_greedy(sc)
    p = res.schedule.pivot(index="time", columns="vehicle_id", values="discharge_kw")
    assert p["EV1"].iloc[1] == pytest.approx(5.0)
    assert res.site["grid_import_kw"].max() <= 25 + 1e-9
