"""Chargers (``site.chargers``) and the assignment of vehicles to them (issue 13 item 1).

Hand-worked optima, the Pyomo model and the numpy matrices held equal, a brute-force
reference (every feasible assignment solved with the chargers named, the best kept), the
30-vehicle / 10-charger case checked step by step, the physics check catching broken
plans, and bad chargers files refused with one line.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import car, write_scenario

import gridopt
from gridopt.check import check_schedule
from gridopt.errors import PhysicsViolation, ScenarioError
from gridopt.optimizer.circuit import charger_block
from gridopt.optimizer.matrix import build_matrix

START = pd.Timestamp("2026-06-15T00:00:00+02:00")


def at(hours: float) -> str:
    return (START + pd.Timedelta(hours=hours)).isoformat()


def session(vid, a, d, arrival_soc, target_soc, **kw):
    return {
        "vehicle_id": vid,
        "arrival": at(a),
        "departure": at(d),
        "arrival_soc": arrival_soc,
        "target_soc": target_soc,
        **kw,
    }


def scenario(tmp_path, vehicles, sessions, chargers, *, hours=6, prices=None, site=None, **fields):
    folder = tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(chargers).to_csv(folder / "chargers.csv", index=False)
    site_cfg = {"import_limit_kw": 1000, "export_limit_kw": 0, "chargers": "chargers.csv", **(site or {})}
    tariff = {"import_price": prices or {"00:00": 0.1, "03:00": 0.3}}
    path = write_scenario(
        folder, vehicles=vehicles, sessions=sessions, site=site_cfg, tariff=tariff, horizon_hours=hours, **fields
    )
    return gridopt.load_scenario(path)


def both(sc):
    """The optimum of the fast path and of the Pyomo MILP (they must agree)."""
    fast = gridopt.optimize(sc, baseline=False, flexibility=False)
    milp = gridopt.optimize(sc, method="milp", baseline=False, flexibility=False)
    assert fast.summary["objective"] == pytest.approx(milp.summary["objective"], rel=1e-6, abs=1e-6)
    return fast, milp


def test_three_cars_two_chargers_hand_worked(tmp_path):
    """EV1, EV2 (0-6 h, 20 kWh each) and EV3 (0-3 h, 10 kWh) at 0.1 until 03:00, then 0.3; two 7 kW chargers.

    A car holds its charger from plug-in to unplug, so one car gets none. Leaving EV3 out costs
    10 kWh x 10 = 100 and the others buy 40 kWh at 0.1 (3 h x 7 kW = 21 >= 20): 104. Leaving EV2 out
    costs 200 + 3: worse. Optimum 104, EV3 without a charger and without power.
    """
    cars = [car(v, initial_soc=None, max_charge_kw=11.0) for v in ("EV1", "EV2", "EV3")]
    ses = [session("EV1", 0, 6, 0.2, 0.6), session("EV2", 0, 6, 0.2, 0.6), session("EV3", 0, 3, 0.2, 0.4)]
    chg = [
        {"charger_id": c, "max_kw": 7, "min_kw": 0, "phases": 1, "v2g": "false", "connector": "type2"}
        for c in ("C1", "C2")
    ]
    sc = scenario(tmp_path, cars, ses, chg)
    fast, milp = both(sc)
    assert fast.summary["objective"] == pytest.approx(104.0, abs=1e-6)
    for res in (fast, milp):
        ca = res.charger_assignment
        assert list(ca.columns) == ["vehicle_id", "charger_id", "start", "end"]
        assert sorted(ca["vehicle_id"]) == ["EV1", "EV2"]
        assert sorted(ca["charger_id"]) == ["C1", "C2"]
        assert (ca["start"] == START).all() and (ca["end"] == START + pd.Timedelta(hours=6)).all()
        assert str(ca["start"].dt.tz) == "Europe/Amsterdam"
        ev3 = res.schedule[res.schedule["vehicle_id"] == "EV3"]
        assert ev3["charger_id"].isna().all() and (ev3["charge_kw"] == 0).all()
        assert res.summary["chargers"]["unassigned_occupancies"] == 1
        assert res.schedule["charge_kw"].max() <= 7.0 + 1e-9


def test_enough_chargers_means_no_binaries(tmp_path):
    """Three cars that never overlap more than twice, two identical chargers: no assignment binary."""
    cars = [car(v, initial_soc=None) for v in ("EV1", "EV2", "EV3")]
    ses = [session("EV1", 0, 3, 0.2, 0.4), session("EV2", 0, 6, 0.2, 0.4), session("EV3", 3, 6, 0.2, 0.4)]
    chg = [{"charger_id": c, "max_kw": 7} for c in ("C1", "C2")]
    sc = scenario(tmp_path, cars, ses, chg)
    plan = gridopt.fleet.build_fleet_plan(sc)
    assert charger_block(sc, plan).n_binaries == 0
    res = gridopt.optimize(sc, baseline=False, flexibility=False)
    ca = res.charger_assignment.set_index("vehicle_id")["charger_id"]
    assert ca["EV1"] == ca["EV3"] != ca["EV2"]  # EV3 takes the charger EV1 left


def test_named_station_bounds_the_car(tmp_path):
    """A session naming a 3.7 kW charger charges at most 3.7 kW there, and only that car uses it.

    EV1 needs 10 kWh in 2 h on C-slow (3.7 kW): 7.4 kWh at 0.1, 2.6 kWh short (26.0); EV2 takes C-fast.
    """
    cars = [car("EV1", initial_soc=None), car("EV2", initial_soc=None)]
    ses = [session("EV1", 0, 2, 0.2, 0.4, station_id="C-slow"), session("EV2", 0, 2, 0.2, 0.4)]
    chg = [{"charger_id": "C-slow", "max_kw": 3.7}, {"charger_id": "C-fast", "max_kw": 11}]
    sc = scenario(tmp_path, cars, ses, chg, hours=2)
    fast, milp = both(sc)
    assert fast.summary["objective"] == pytest.approx(0.74 + 26.0 + 1.0, abs=1e-6)
    ca = fast.charger_assignment.set_index("vehicle_id")["charger_id"]
    assert ca["EV1"] == "C-slow" and ca["EV2"] == "C-fast"


def test_charger_min_power_and_v2g_flag(tmp_path):
    """A V2G car on a charger without V2G never discharges; the charger's 4 kW minimum holds.

    Export 0.5 in hour 0 would pay for V2G; the charger forbids it. The car needs 2 kWh: with a
    4 kW minimum it cannot take 2 kWh in one step, so it charges 4 kW in the cheaper hour (0.1 x 4).
    """
    cars = [car("EV1", initial_soc=None, max_discharge_kw=10.0)]
    ses = [session("EV1", 0, 2, 0.5, 0.54)]
    chg = [{"charger_id": "C1", "max_kw": 10, "min_kw": 4, "v2g": "0"}]
    sc = scenario(tmp_path, cars, ses, chg, hours=2, prices={"00:00": 0.2, "01:00": 0.1}, site={"export_limit_kw": 100})
    sc = sc.with_built(series=sc.series.assign(export_price=[0.5, 0.0]))
    fast, milp = both(sc)
    for res in (fast, milp):
        assert (res.schedule["discharge_kw"] == 0).all()
        assert res.schedule["charge_kw"].tolist() == pytest.approx([0.0, 4.0])
    assert fast.summary["objective"] == pytest.approx(0.4, abs=1e-6)


def test_reassign_at_shift_change(tmp_path):
    """One 22 kW and one 3 kW charger; EV1 plugged 0-4 h, EV2 arrives at 2 h; cars may move at 02:00.

    EV1 needs 30 kWh, EV2 needs 40 kWh by 4 h, flat price 0.1, 100 kWh batteries. Without moving,
    EV1 keeps its charger for 4 h: EV1 on FAST (30 kWh, 3.0) leaves EV2 6 kWh on SLOW (0.6) and 34
    short (340): 343.6; EV1 on SLOW (12 kWh, 1.2, 18 short: 180) and EV2 on FAST (40 kWh, 4.0):
    185.2, the optimum. With moves at 02:00: EV1 takes FAST for two hours (30 kWh, 3.0), then EV2
    takes it (40 kWh, 4.0): 7.0.
    """
    cars = [
        car("EV1", initial_soc=0.0, battery_kwh=100.0, max_charge_kw=22.0),
        car("EV2", battery_kwh=100.0, max_charge_kw=22.0),
    ]
    cars = [dict(c, initial_soc=None) for c in cars]
    ses = [session("EV1", 0, 4, 0.0, 0.3), session("EV2", 2, 4, 0.0, 0.4)]
    chg = [{"charger_id": "FAST", "max_kw": 22}, {"charger_id": "SLOW", "max_kw": 3}]
    flat = {"00:00": 0.1}
    fixed = scenario(tmp_path / "fixed", cars, ses, chg, hours=4, prices=flat)
    moved = scenario(tmp_path / "moved", cars, ses, chg, hours=4, prices=flat, site={"reassign_at": ["02:00"]})
    f_fast, _ = both(fixed)
    m_fast, _ = both(moved)
    assert f_fast.summary["objective"] == pytest.approx(1.2 + 180.0 + 4.0, abs=1e-6)
    assert m_fast.summary["objective"] == pytest.approx(7.0, abs=1e-6)
    ca = m_fast.charger_assignment
    ev1 = ca[ca["vehicle_id"] == "EV1"].sort_values("start")
    assert ev1["charger_id"].iloc[0] == "FAST" and ev1["end"].iloc[0] == START + pd.Timedelta(hours=2)
    ev2 = ca[ca["vehicle_id"] == "EV2"]
    assert ev2["charger_id"].tolist() == ["FAST"] and ev2["start"].iloc[0] == START + pd.Timedelta(hours=2)


# --- a brute-force reference ---------------------------------------------------------------


def _random_case(rng, n_cars, chargers, hours):
    cars, ses = [], []
    for i in range(n_cars):
        a = int(rng.integers(0, hours - 1))
        d = int(rng.integers(a + 1, hours + 1))
        vid = f"EV{i + 1}"
        cars.append(
            car(
                vid,
                initial_soc=None,
                max_charge_kw=float(rng.choice([7.0, 11.0])),
                min_charge_kw=float(rng.choice([0.0, 2.0])),
            )
        )
        ses.append(session(vid, a, d, 0.1, round(float(rng.uniform(0.15, 0.5)), 3)))
    prices = {f"{h:02d}:00": round(float(rng.uniform(0.05, 0.5)), 3) for h in range(hours)}
    return cars, ses, prices


def _brute_force(tmp_path, cars, ses, chargers, prices, hours, site):
    """Best over every assignment (each session: a charger or none) without two overlapping sessions
    on one charger, each solved with the chargers named; a session without a charger is left out and
    its whole need priced at the penalty (10 per kWh)."""
    ids = [c["charger_id"] for c in chargers]
    best = np.inf
    for k, choice in enumerate(itertools.product([None, *ids], repeat=len(ses))):
        ok = True
        for i, j in itertools.combinations(range(len(ses)), 2):
            if choice[i] is not None and choice[i] == choice[j]:
                if ses[i]["arrival"] < ses[j]["departure"] and ses[j]["arrival"] < ses[i]["departure"]:
                    ok = False
        if not ok:
            continue
        kept = [dict(s, station_id=c) for s, c in zip(ses, choice, strict=True) if c is not None]
        left = [s for s, c in zip(ses, choice, strict=True) if c is None]
        penalty = sum(10.0 * 50.0 * (s["target_soc"] - s["arrival_soc"]) for s in left)
        if not kept:
            best = min(best, penalty)
            continue
        used = {s["vehicle_id"] for s in kept}
        sc = scenario(
            tmp_path / f"bf{k}",
            [c for c in cars if c["vehicle_id"] in used],
            kept,
            chargers,
            hours=hours,
            prices=prices,
            site=site,
        )
        res = gridopt.optimize(sc, baseline=False, flexibility=False)
        best = min(best, res.summary["objective"] + penalty)
    return best


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_assignment_is_optimal_against_brute_force(tmp_path, seed):
    rng = np.random.default_rng(seed)
    chargers = [
        {"charger_id": "F1", "max_kw": 11, "min_kw": 3},
        {"charger_id": "S1", "max_kw": 4},
    ]
    cars, ses, prices = _random_case(rng, 3, chargers, hours=4)
    site = {"import_limit_kw": 14}
    sc = scenario(tmp_path / "opt", cars, ses, chargers, hours=4, prices=prices, site=site)
    fast, milp = both(sc)
    ref = _brute_force(tmp_path, cars, ses, chargers, prices, 4, site)
    assert fast.summary["objective"] == pytest.approx(ref, rel=1e-6, abs=1e-6)


# --- 30 vehicles, 10 chargers ----------------------------------------------------------------


def _fleet_30(tmp_path, groups):
    rng = np.random.default_rng(30)
    cars, ses = [], []
    for i in range(30):
        a = int(rng.integers(0, 16))
        d = int(min(24, a + rng.integers(3, 10)))
        vid = f"V{i + 1:02d}"
        cars.append(car(vid, initial_soc=None, max_charge_kw=11.0, max_discharge_kw=float(rng.choice([0.0, 7.0]))))
        ses.append(session(vid, a, d, 0.2, round(float(rng.uniform(0.3, 0.6)), 3)))
    prices = {f"{h:02d}:00": round(0.1 + 0.25 * (8 <= h < 20) + 0.01 * (h % 3), 3) for h in range(24)}
    return scenario(
        tmp_path,
        cars,
        ses,
        groups,
        hours=24,
        prices=prices,
        site={"import_limit_kw": 60, "export_limit_kw": 20},
        battery_degradation_cost_per_kwh=0.02,
    )


def ten_chargers(mixed: bool) -> list[dict]:
    """Ten chargers: 11 kW each, or (``mixed``) four 11 kW V2G and six 7.4 kW AC with a 1.4 kW minimum."""
    if not mixed:
        return [{"charger_id": f"C{k:02d}", "max_kw": 11} for k in range(10)]
    chargers = [{"charger_id": f"DC{k}", "max_kw": 11, "v2g": "true"} for k in range(4)]
    return chargers + [{"charger_id": f"AC{k}", "max_kw": 7.4, "min_kw": 1.4} for k in range(6)]


@pytest.mark.parametrize("mixed", [False, True])
def test_thirty_vehicles_ten_chargers_never_share(tmp_path, mixed):
    sc = _fleet_30(tmp_path, ten_chargers(mixed))
    res = gridopt.optimize(
        sc, baseline=False, flexibility=False, options=gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-4)
    )
    assert res.summary["status"] == "optimal"
    sch = res.schedule
    on = sch[sch["charger_id"].notna()]
    assert not on.duplicated(["time", "charger_id"]).any()  # never two vehicles on one charger
    # a vehicle keeps its charger from plug-in to unplug
    for vid, rows in on.groupby("vehicle_id"):
        assert rows["charger_id"].nunique() == 1, vid
    # charger limits hold
    lim = sc.chargers.set_index("charger_id")
    assert (on["charge_kw"] <= on["charger_id"].map(lim["max_kw"]) + 1e-6).all()
    assert (on.loc[on["discharge_kw"] > 0, "charger_id"].map(lim["v2g"])).all()
    assert sch.loc[sch["charger_id"].isna(), ["charge_kw", "discharge_kw"]].to_numpy().max() == 0
    # the assignment table matches the schedule
    ca = res.charger_assignment
    for r in ca.itertuples():
        rows = sch[(sch["vehicle_id"] == r.vehicle_id) & (sch["time"] >= r.start) & (sch["time"] < r.end)]
        assert (rows["charger_id"] == r.charger_id).all()
    assert res.summary["chargers"]["assignment_binaries"] > 0


def test_fast_path_rounds_the_assignment_and_repairs(tmp_path):
    """The fast path rounds the LP's relaxed assignment, repairs modes and minimum powers with it, and
    ends at the optimum of the Pyomo MILP (mixed chargers: V2G 11 kW and 7.4 kW with a 1.4 kW minimum)."""
    chargers = [{"charger_id": f"DC{k}", "max_kw": 11, "v2g": "true"} for k in range(2)]
    chargers += [{"charger_id": f"AC{k}", "max_kw": 7.4, "min_kw": 1.4} for k in range(2)]
    rng = np.random.default_rng(11)
    cars, ses, prices = _random_case(rng, 7, None, hours=6)
    cars = [dict(c, max_discharge_kw=float(rng.choice([0.0, 7.0]))) for c in cars]
    sc = scenario(
        tmp_path, cars, ses, chargers, hours=6, prices=prices, site={"import_limit_kw": 25, "export_limit_kw": 10}
    )
    fast, milp = both(sc)
    assert fast.summary["stages"]["assignment_rounded"] > 0
    assert fast.summary["method"].startswith("lp+repair")
    assert fast.summary["status"] == "optimal"


def test_pyomo_and_matrices_equal_with_assignment(tmp_path):
    """Same optimum from both forms on a mixed fleet: groups, V2G chargers, minimum power, a reassign time."""
    rng = np.random.default_rng(7)
    cars, ses, prices = _random_case(rng, 6, None, hours=6)
    cars = [dict(c, max_discharge_kw=float(rng.choice([0.0, 5.0]))) for c in cars]
    chargers = [
        {"charger_id": "A", "max_kw": 11, "min_kw": 4, "v2g": "true"},
        {"charger_id": "B", "max_kw": 11, "min_kw": 4, "v2g": "true"},
        {"charger_id": "C", "max_kw": 3.7},
        {"charger_id": "D", "max_kw": 7.4, "min_kw": 1.4},
    ]
    sc = scenario(
        tmp_path,
        cars,
        ses,
        chargers,
        hours=6,
        prices=prices,
        site={"import_limit_kw": 20, "export_limit_kw": 10, "reassign_at": ["03:00"]},
    )
    sc = sc.with_built(series=sc.series.assign(export_price=sc.series["import_price"] * 0.8))
    fast, milp = both(sc)
    assert fast.summary["chargers"]["assignment_binaries"] > 0
    mm = build_matrix(sc, gridopt.fleet.build_fleet_plan(sc))
    assert len(mm.col_chg) > 0


# --- the physics check ------------------------------------------------------------------------


def _violations(sc, schedule, site, unmet) -> str:
    return " | ".join(check_schedule(sc, schedule, site, unmet, raise_on_violation=False))


def test_check_catches_two_cars_on_one_charger_and_overpower(tmp_path):
    cars = [car(v, initial_soc=None) for v in ("EV1", "EV2")]
    ses = [session("EV1", 0, 2, 0.2, 0.3), session("EV2", 0, 2, 0.2, 0.3)]
    chg = [{"charger_id": "C1", "max_kw": 7}, {"charger_id": "C2", "max_kw": 7}]
    sc = scenario(tmp_path, cars, ses, chg, hours=2)
    res = gridopt.optimize(sc, baseline=False, flexibility=False)
    assert _violations(sc, res.schedule, res.site, res.unmet) == ""
    bad = res.schedule.assign(charger_id="C1")
    assert "charger 'C1' holds 2 vehicles at once" in _violations(sc, bad, res.site, res.unmet)
    with pytest.raises(PhysicsViolation):
        check_schedule(sc, bad, res.site, res.unmet)
    moved = res.schedule.copy()
    moved.loc[(moved["vehicle_id"] == "EV1") & (moved["time"] == START + pd.Timedelta(hours=1)), "charger_id"] = "C3"
    assert "charger 'C3' is not in chargers.csv" in _violations(sc, moved, res.site, res.unmet)
    first = res.schedule["time"] == START
    ev1 = res.schedule["vehicle_id"] == "EV1"
    swap = res.schedule.assign(charger_id=np.where(ev1 == first, "C1", "C2"))
    assert "moves from charger" in _violations(sc, swap, res.site, res.unmet)
    over = res.schedule.copy()
    over.loc[0, "charge_kw"] = 9.0
    assert "above its charger's max_kw 7" in _violations(sc, over, res.site, res.unmet)
    none = res.schedule.copy()
    none.loc[0, "charger_id"] = None
    none.loc[0, "charge_kw"] = 1.0
    assert "without a charger" in _violations(sc, none, res.site, res.unmet)
    assert "no charger_id column" in _violations(sc, res.schedule.drop(columns="charger_id"), res.site, res.unmet)


# --- files ----------------------------------------------------------------------------------


def test_schedule_csv_has_charger_id(tmp_path):
    cars = [car(v, initial_soc=None) for v in ("EV1", "EV2")]
    ses = [session("EV1", 0, 2, 0.2, 0.3), session("EV2", 0, 2, 0.2, 0.3)]
    sc = scenario(
        tmp_path / "sc", cars, ses, [{"charger_id": "C1", "max_kw": 7}, {"charger_id": "C2", "max_kw": 7}], hours=2
    )
    res = gridopt.optimize(sc)
    gridopt.write_results(res, tmp_path / "out")
    out = pd.read_csv(tmp_path / "out" / "schedule.csv")
    assert list(out.columns[:3]) == ["time", "vehicle_id", "charger_id"]
    assert set(out["charger_id"]) == {"C1", "C2"}


BAD = [
    (
        [{"charger_id": "C1", "max_kw": 7}, {"charger_id": "C1", "max_kw": 7}],
        "chargers.csv line 3: charger_id 'C1' is given twice (first on line 2)",
    ),
    ([{"charger_id": "C1", "max_kw": 0}], "chargers.csv line 2: 'max_kw' = 0 must be > 0"),
    ([{"charger_id": "C1", "max_kw": 7, "min_kw": 8}], "chargers.csv line 2: 'min_kw' 8 is above 'max_kw' 7"),
    ([{"charger_id": "C1", "max_kw": 7, "v2g": "maybe"}], "chargers.csv line 2: 'v2g' = 'maybe' must be true or false"),
    ([{"charger_id": "C1", "max_kw": 7, "phase": "AD"}], "chargers.csv line 2: 'phase' = 'AD' must be one of"),
    (
        [{"charger_id": "C1", "max_kw": 7, "phases": 3, "phase": "AB"}],
        "chargers.csv line 2: 'phases' 3 does not fit 'phase' 'AB'",
    ),
    ([{"charger_id": "C1", "max_kw": 2e6}], "chargers.csv line 2: 'max_kw' = 2e+06 must be > 0 and at most 1000000 kW"),
    ([{"charger_id": "=C1", "max_kw": 7}], "chargers.csv line 2: 'charger_id' = '=C1' starts with a sign"),
    ([{"charger_id": "C1", "max_kw": 7, "watts": 3}], "chargers.csv: unknown column 'watts'"),
]


@pytest.mark.parametrize("rows, message", BAD)
def test_bad_chargers_file(tmp_path, rows, message):
    with pytest.raises(ScenarioError) as e:
        scenario(tmp_path, [car(initial_soc=None)], [session("EV1", 0, 2, 0.2, 0.3)], rows, hours=2)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_station_is_refused_and_cli_exits_2(tmp_path):
    with pytest.raises(ScenarioError, match="sessions.csv line 2: station_id 'X9' is not a charger_id of chargers.csv"):
        scenario(
            tmp_path,
            [car(initial_soc=None)],
            [session("EV1", 0, 2, 0.2, 0.3, station_id="X9")],
            [{"charger_id": "C1", "max_kw": 7}],
            hours=2,
        )
    out = subprocess.run(
        [sys.executable, "-m", "gridopt.cli", "validate", str(tmp_path / "scenario.yaml")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "station_id 'X9'" in out.stderr


def test_bad_reassign_time(tmp_path):
    with pytest.raises(ScenarioError, match=r"site.reassign_at' item 1: '25:00' is not a clock time"):
        scenario(
            tmp_path,
            [car(initial_soc=None)],
            [session("EV1", 0, 2, 0.2, 0.3)],
            [{"charger_id": "C1", "max_kw": 7}],
            hours=2,
            site={"reassign_at": ["25:00"]},
        )
