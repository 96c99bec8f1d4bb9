"""Event-driven re-planning and the fast rule policies of ``gridopt simulate``.

* a car that plugs in between two interval re-plans is planned at once (a
  hand-worked one-car case), and re-plans happen exactly where a car plugged in
  or out;
* event re-plans still see nothing of the future;
* :class:`gridopt.simulate.fastneeds.NeedTracker` (numpy, cached) gives exactly
  what :func:`gridopt.simulate.picture.needs` (pandas, the reference) gives, at
  every step of a real ACN day and of a fleet with trips, with and without margins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import car, write_scenario
from test_simulate import (
    DATA,
    DAY,
    TZ,
    _change_after,
    as_actual,
    run,
    synthetic_history,
    t,
    trip_fleet,
    workplace,
)

import gridopt
from gridopt import simulate as S
from gridopt.io.read import read_table
from gridopt.simulate.engine import build_context
from gridopt.simulate.fastneeds import NeedTracker
from gridopt.simulate.picture import Margins, needs
from gridopt.simulate.policies import RulePolicy
from gridopt.simulate.world import World


def one_car(tmp_path):
    """One car, 07:10-08:40 (plugged 07:15-08:30 on the 15-minute grid), 15 kWh to add at 11 kW, flat price."""
    path = write_scenario(
        tmp_path / "sc",
        vehicles=[car("A", battery_kwh=60.0, max_charge_kw=11.0, initial_soc="")],
        sessions=[
            dict(
                vehicle_id="A",
                arrival=t("07:10"),
                departure=t("08:40"),
                arrival_soc=0.25,
                target_soc=0.5,
                session_id="a",
            )
        ],
        start=t("07:00"),
        horizon_hours=4,
        step_minutes=15,
        timezone=TZ,
        site={"import_limit_kw": 50, "export_limit_kw": 0},
    )
    sc = gridopt.load_scenario(path)
    df = read_table(path.parent / "sessions.csv", "sessions.csv")
    df["estimated_departure"] = df["departure"]
    df["reported_target_soc"] = df["target_soc"]
    return sc, as_actual(df, sc, tmp_path)


def test_a_car_plugging_in_between_replans_is_planned_at_once(tmp_path):
    sc, actual = one_car(tmp_path)
    # re-plans every 2 h: at 07:00 (nobody there) and 09:00 (gone): the car is never charged
    late = run(sc, actual, "rolling", replan=8, lookahead=16, replan_on_events=False)
    assert late.unmet["unmet_kwh"].sum() == pytest.approx(15.0)
    assert late.kpis["solves"] == 0
    # on its plug-in the plan is made at once: 5 steps (07:15-08:30) at 11 kW = 13.75 kWh, 1.25 kWh short
    now = run(sc, actual, "rolling", replan=8, lookahead=16)
    assert now.unmet["unmet_kwh"].sum() == pytest.approx(15.0 - 11.0 * 1.25, abs=1e-6)
    c = now.schedule.set_index("time")["charge_kw"]
    assert c[pd.Timestamp(t("07:15")) : pd.Timestamp(t("08:15"))].to_numpy() == pytest.approx([11.0] * 5)
    assert [(s["time"], s["reason"]) for s in now.solves] == [(pd.Timestamp(t("07:15")).isoformat(), "plug-in")]


def test_replans_happen_where_cars_plug_in_or_out(tmp_path):
    sc, df = workplace(tmp_path, limit=25.0)
    actual = as_actual(df, sc, tmp_path)
    out = run(sc, actual, "rolling", S.SessionForecaster(synthetic_history(), TZ), replan=8, lookahead=24)
    n = sc.grid.n_steps
    plugged = out.schedule["plugged_in"].to_numpy(bool).reshape(-1, n)
    # boundaries where the set of plugged-in cars changes, from the world's own plug-in table
    changed = {k for k in range(1, n) if not np.array_equal(plugged[:, k], plugged[:, k - 1])}
    starts = {pd.Timestamp(sc.grid.index[k]).isoformat() for k in changed if plugged[:, k].any()}
    by_event = {s["time"] for s in out.solves if s["reason"] not in ("start", "interval")}
    assert by_event <= starts  # (an unplug that leaves nobody plugged in needs no solve)
    assert starts <= {s["time"] for s in out.solves}  # at an interval re-plan the reason says "interval"
    assert {s["reason"] for s in out.solves} >= {"plug-in", "unplug"}
    ks = [s["k"] for s in out.solves]
    assert max(np.diff(ks)) <= 8  # the interval is the fallback


def test_event_replans_see_nothing_of_the_future(tmp_path):
    sc, df = workplace(tmp_path, limit=25.0)
    fc = S.SessionForecaster(synthetic_history(), TZ)
    cut = pd.Timestamp(t("12:00"))
    k_cut = int((cut - sc.grid.start) / pd.Timedelta(minutes=15))
    base = run(sc, as_actual(df, sc, tmp_path, "a.csv"), "rolling", fc, replan=4, lookahead=24)
    for seed in range(2):
        changed = _change_after(df, cut, np.random.default_rng(seed))
        other = run(sc, as_actual(changed, sc, tmp_path, f"b{seed}.csv"), "rolling", fc, replan=4, lookahead=24)
        for col in ("charge_kw", "discharge_kw"):
            a = base.schedule[col].to_numpy().reshape(-1, sc.grid.n_steps)[:, :k_cut]
            b = other.schedule[col].to_numpy().reshape(-1, sc.grid.n_steps)[:, :k_cut]
            assert np.array_equal(a, b)
        before = [(s["time"], s["reason"]) for s in base.solves if s["k"] < k_cut]
        assert before == [(s["time"], s["reason"]) for s in other.solves if s["k"] < k_cut]


def _compare_needs_every_step(world_sc, ctx, info, margins_list):
    """Step the world with EDF; at every step the tracker's needs equal picture.needs exactly."""
    trackers = {m: NeedTracker(ctx, m) for m in margins_list}
    world = World(world_sc, info)
    policy = RulePolicy(ctx, "edf")
    steps = 0
    while not world.done:
        obs = world.observe()
        for m, tr in trackers.items():
            ref = needs(obs, ctx, m)
            v, soc, target, deadline = tr.needs(obs)
            assert v.tolist() == ref["v"].astype(int).tolist()
            assert np.array_equal(soc, ref["soc_kwh"].to_numpy(float))
            assert np.array_equal(target, ref["target_kwh"].to_numpy(float))
            assert deadline.tolist() == [pd.Timestamp(d).value for d in ref["deadline"]]
            steps += len(v) > 0
        world.apply(*policy.decide(obs))
    return steps


def test_fast_needs_equal_the_reference_on_a_real_day():
    sc = gridopt.load_scenario(DAY / "scenario.yaml")
    actual = S.read_actual(DAY / "actual_sessions.csv", sc)
    fc = S.forecaster_from_history([DATA / "acn_excerpt.csv"], sc, site="CA")
    world_sc, ctx = build_context(sc, actual, fc)
    assert _compare_needs_every_step(world_sc, ctx, actual.info, [Margins(), Margins(0.5, 180)]) > 40


def test_fast_needs_equal_the_reference_for_a_fleet(tmp_path):
    cars = [car("V1", initial_soc=0.4, min_soc=0.1, final_soc=0.6), car("V2", initial_soc=0.3, min_soc=0.1)]
    plan = [
        dict(vehicle_id="V1", departure=t("08:00"), arrival=t("11:00"), energy_kwh=15.0, trip_id="v1a"),
        dict(vehicle_id="V1", departure=t("13:00"), arrival=t("16:00"), energy_kwh=15.0, trip_id="v1b"),
        dict(vehicle_id="V2", departure=t("10:00"), arrival=t("14:00"), energy_kwh=20.0, trip_id="v2a"),
        dict(vehicle_id="V2", departure=t("15:00"), arrival=t("16:30"), energy_kwh=5.0, trip_id="v2b"),
    ]
    sc = trip_fleet(tmp_path, cars, plan)
    real = pd.DataFrame(plan)
    real.loc[0, "arrival"] = t("11:40")  # back late
    real.loc[2, "departure"] = t("10:20")  # leaves late
    real.loc[2, "energy_kwh"] = 24.0
    actual = as_actual(real, sc, tmp_path)
    world_sc, ctx = build_context(sc, actual, None)
    assert _compare_needs_every_step(world_sc, ctx, None, [Margins(), Margins(0.15, 30)]) > 20


def test_command_line_keeps_the_replanning_options():
    import argparse

    from gridopt.simulate import cli as simulate_cli

    parser = argparse.ArgumentParser()
    simulate_cli.add_parser(parser.add_subparsers(dest="command"))
    base = ["simulate", "s.yaml", "--actual", "a.csv", "--out", "o"]
    args = parser.parse_args(base)
    assert args.replan_minutes is None and args.replan_on_events is True
    assert simulate_cli.command_line(args) == "gridopt simulate s.yaml --actual a.csv --out o"
    args = parser.parse_args([*base, "--replan-minutes", "60", "--no-replan-on-events"])
    assert simulate_cli.command_line(args) == (
        "gridopt simulate s.yaml --actual a.csv --replan-minutes 60 --no-replan-on-events --out o"
    )
    settings = S.SimulationSettings()
    assert settings.interval_minutes(5) == 5 and settings.replan_on_events
