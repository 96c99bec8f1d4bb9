"""What the operator is told in advance: the drivers' reports, or everything exactly (``--told exact``).

``--told exact`` is ACN-Sim's information (each car's real departure and need at
plug-in). One car worked by hand shows what it changes; trips get their real
runs as the timetable; the command line records the mode.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import car, one_car_replay, write_scenario

import gridopt
from gridopt import simulate as S
from gridopt.cli import main

TZ = "Europe/Amsterdam"


def t(hhmm: str) -> str:
    return f"2026-06-15T{hhmm}:00+02:00"


def one_late_estimate(tmp_path):
    """One 50 kWh car on a 10 kW charger (efficiency 1), 07:00-13:00 in 15-minute steps.

    It plugs in at 07:00 at 20 % and needs 60 % (20 kWh); it really leaves at
    10:00 but its driver said 12:00. Import costs 0.30 before 11:00 and 0.10
    from 11:00; no demand charge, unmet energy 10 per kWh.
    """
    session = dict(
        vehicle_id="C0", arrival=t("07:00"), departure=t("10:00"), arrival_soc=0.2, target_soc=0.6, session_id="s0"
    )
    hours = pd.date_range(t("07:00"), periods=24, freq="15min").hour
    return one_car_replay(tmp_path, session, np.where(hours >= 11, 0.10, 0.30), t("12:00"))


def test_exact_information_by_hand(tmp_path):
    """Told 12:00, the plan keeps 10 kWh for the cheap hour and the car leaves without it; told 10:00, it does not.

    Reported: the plan charges 10 kWh at once (07:00-08:00, 0.30; the delay cost
    puts the dear kWh first) and 10 kWh in 11:00-12:00 (0.10 + 0.04 delay cost <
    0.30); the car leaves at 10:00 at 40 %: 10 kWh unmet, energy 3.00, unmet
    penalty 100.00. Exact: 20 kWh in 07:00-09:00 at 0.30 = 6.00, nothing unmet,
    which is also perfect foresight's cost.
    """
    sc, actual = one_late_estimate(tmp_path)
    policies = [S.PolicySpec("perfect", "perfect"), S.PolicySpec("rolling", "rolling")]
    rep = S.simulate(sc, actual, policies=policies)
    exact_actual = S.told_exactly(actual)
    exact = S.simulate(sc, exact_actual, policies=policies)

    assert actual.told == "reported" and exact_actual.told == "exact"
    assert rep.info["told"] == "reported" and exact.info["told"] == "exact"
    r = rep.outcomes["rolling"].kpis
    assert r["unmet_energy_kwh"] == pytest.approx(10.0, abs=1e-6)
    assert r["energy_cost"] == pytest.approx(3.0, abs=1e-6)
    assert r["unmet_energy_cost"] == pytest.approx(100.0, abs=1e-6)
    e = exact.outcomes["rolling"].kpis
    assert e["unmet_energy_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert e["energy_cost"] == pytest.approx(6.0, abs=1e-6)
    assert e["total_cost"] == pytest.approx(exact.outcomes["perfect"].kpis["total_cost"], abs=1e-6)
    # the real world is the same: perfect foresight does not depend on what is told
    assert rep.outcomes["perfect"].kpis["total_cost"] == pytest.approx(6.0, abs=1e-6)


def test_exact_sessions_and_trips_carry_the_real_movements(tmp_path):
    sc, actual = one_late_estimate(tmp_path)
    ex = S.told_exactly(actual)
    assert (ex.info["estimated_departure"] == actual.table["departure"]).all()
    assert np.allclose(ex.info["reported_target_soc"], actual.table["target_soc"])
    assert (actual.info["estimated_departure"] != actual.table["departure"]).all()  # the input is untouched

    cars = [car("V1", initial_soc=0.6)]
    plan = [dict(vehicle_id="V1", departure=t("09:00"), arrival=t("11:00"), energy_kwh=10.0, trip_id="a")]
    path = write_scenario(
        tmp_path / "f", vehicles=cars, trips=plan, start=t("06:00"), horizon_hours=12, step_minutes=15, timezone=TZ
    )
    fsc = gridopt.load_scenario(path)
    ran = pd.DataFrame([dict(plan[0], departure=t("08:30"), arrival=t("12:15"), energy_kwh=14.5)])
    p = tmp_path / "ran.csv"
    ran.to_csv(p, index=False)
    trips = S.read_actual(p, fsc)
    assert trips.info["planned_energy_kwh"].iloc[0] == 10.0  # the timetable, from the scenario
    ex = S.told_exactly(trips)
    assert ex.info["planned_departure"].iloc[0] == pd.Timestamp(t("08:30"))
    assert ex.info["planned_arrival"].iloc[0] == pd.Timestamp(t("12:15"))
    assert ex.info["planned_energy_kwh"].iloc[0] == 14.5


def test_cli_told_exact_is_recorded(tmp_path, capsys):
    sc, _ = one_late_estimate(tmp_path)
    out = tmp_path / "sim"
    args = ["simulate", str(tmp_path / "scenario.yaml"), "--actual", str(tmp_path / "actual.csv")]
    code = main([*args, "--told", "exact", "--policies", "perfect,rolling", "--out", str(out)])
    assert code == 0
    capsys.readouterr()
    comp = pd.read_csv(out / "comparison.csv").set_index("policy")
    assert comp.loc["rolling", "unmet_energy_kwh"] == pytest.approx(0.0, abs=1e-6)
    report = (out / "report.md").read_text()
    assert "Told exactly" in report and "--told exact" in report
    assert json.loads((out / "summary.json").read_text())["told"] == "exact"
    with pytest.raises(SystemExit) as exc:
        main([*args, "--told", "maybe", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert "--told" in capsys.readouterr().err


def test_told_exactly_the_real_day_is_planned_within_5_percent_of_perfect_and_beats_the_rules():
    """The real Caltech day (Mon 21 Oct 2019, 15-minute steps), ACN-Sim's information, defaults.

    Measured: perfect 371.52, rolling 378.54 (+1.9 %), EDF 393.09 (+5.8 %),
    LLF 393.07, round robin 406.67; the thresholds are the issue's (5 %, better
    than EDF), not the measured values.
    """
    day = Path(__file__).resolve().parent / "data" / "simulate_acn_day"
    sc = gridopt.load_scenario(day / "scenario.yaml")
    actual = S.told_exactly(S.read_actual(day / "actual_sessions.csv", sc))
    fc = S.forecaster_from_history([day.parent / "acn_excerpt.csv"], sc, site="CA")
    kinds = ("perfect", "rolling", "edf", "llf", "round_robin")
    res = S.simulate(sc, actual, forecaster=fc, policies=[S.PolicySpec(k, k) for k in kinds])
    cost = {k: res.outcomes[k].kpis["total_cost"] for k in kinds}
    assert cost["rolling"] <= 1.05 * cost["perfect"]
    assert cost["rolling"] < min(cost["edf"], cost["llf"], cost["round_robin"])
    assert cost["perfect"] <= cost["rolling"] * (1 + 1e-4)
