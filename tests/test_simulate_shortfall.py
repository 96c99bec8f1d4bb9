"""Planning against the expected shortfall (:mod:`gridopt.simulate.shortfall`): points by hand, no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import car
from test_simulate import (
    DATA,
    DAY,
    TZ,
    _change_after,
    as_actual,
    assert_same_before,
    real_day,
    run,
    synthetic_history,
    t,
    trip_fleet,
    workplace,
)

from gridopt import simulate as S
from gridopt.simulate.shortfall import ExpectedShortfall, midpoints


def test_departure_points_of_a_car_still_here():
    """Errors -4..5 h (ten), K = 5: the inverted-CDF quantiles at 0.1, 0.3, ..., 0.9 of the errors a car
    still here can have, each of weight 1/5."""
    m = ExpectedShortfall(np.arange(-4.0, 6.0), 10.0, n_departures=5, min_sessions=3)
    assert midpoints(5) == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9])
    est = pd.Timestamp(t("17:00"))
    pool = m.errors.pool()
    pts = m.departure_points(est, pd.Timestamp(t("08:00")), pd.Timestamp(t("10:00")), pool, None, None)
    assert [d for d, _ in pts] == [est + pd.Timedelta(hours=h) for h in (-4, -2, 0, 2, 4)]
    assert [w for _, w in pts] == pytest.approx([0.2] * 5)
    # 15:30: errors <= -1.5 h are impossible, {-1, ..., 5} are left: 1/7, 3/7 ... -> -1, 1, 2, 3, 5 h
    pts = m.departure_points(est, pd.Timestamp(t("08:00")), pd.Timestamp(t("15:30")), pool, None, None)
    assert [d for d, _ in pts] == [est + pd.Timedelta(hours=h) for h in (-1, 1, 2, 3, 5)]
    # 21:30: only {5} is left, fewer than min_sessions: the estimate alone, weight 1
    pts = m.departure_points(est, pd.Timestamp(t("08:00")), pd.Timestamp(t("21:30")), pool, None, None)
    assert pts == [(est, 1.0)]
    # no estimate, no forecaster: the fallback
    soon = pd.Timestamp(t("21:45"))
    assert m.departure_points(pd.NaT, pd.Timestamp(t("08:00")), pd.Timestamp(t("21:30")), pool, None, soon) == [
        (soon, 1.0)
    ]


def _shortfall_run(sc, actual, fc, **kw):
    m = ExpectedShortfall(fc.estimate_error_h, sc.unmet_energy_penalty_per_kwh, min_sessions=5)
    return run(sc, actual, "rolling", fc, shortfall=m, **kw), m


def test_checkpoints_carry_the_whole_penalty_of_each_car(tmp_path, monkeypatch):
    """At every re-plan each plugged-in car's checkpoints weigh at most the unmet penalty in all (exactly
    it when every need point is above its SoC), at step boundaries after now, and the planning scenario
    holds them all (the plugged-in cars' and the forecast arrivals')."""
    sc, df = workplace(tmp_path, limit=25.0)
    fc = S.SessionForecaster(synthetic_history(), TZ)
    seen = []
    original = ExpectedShortfall.apply

    def spy(self, sessions, obs, ctx):
        out, cps = original(self, sessions, obs, ctx)
        seen.append((obs.now, sessions, cps))
        return out, cps

    monkeypatch.setattr(ExpectedShortfall, "apply", spy)
    import gridopt.simulate.planning as planning

    built = []
    original_build = planning.build_plan_scenario

    def spy_build(*a, **kw):
        res = original_build(*a, **kw)
        built.append(res[0])
        return res

    monkeypatch.setattr("gridopt.simulate.policies.build_plan_scenario", spy_build)
    res, _ = _shortfall_run(sc, as_actual(df, sc, tmp_path), fc)
    assert res.kpis["solves"] > 10 and len(seen) == res.kpis["solves"]
    p = sc.unmet_energy_penalty_per_kwh
    step = pd.Timedelta(minutes=15)
    spread = 0
    for now, sessions, cps in seen:
        assert (cps["time"] > now).all()
        assert all(((x - sc.grid.start) % step) == pd.Timedelta(0) for x in cps["time"])
        for s in sessions.itertuples():
            mine = cps[cps["v"] == s.v]
            assert mine["penalty_per_kwh"].sum() <= p + 1e-9
            if len(mine) and (mine["soc_kwh"] > s.soc_kwh).all() and mine["time"].nunique() > 1:
                spread += 1
    assert spread > 0  # some cars were planned over several departure points
    held = [b.soft_checkpoints for b in built if b.soft_checkpoints is not None]
    assert len(held) > len(built) / 2
    assert any(c["vehicle_id"].str.startswith("~").any() for c in held)  # forecast arrivals have theirs


def test_no_decision_uses_information_from_the_future(tmp_path):
    sc, df = workplace(tmp_path, limit=25.0)
    fc = S.SessionForecaster(synthetic_history(), TZ)
    cut = pd.Timestamp(t("12:00"))
    k_cut = int((cut - sc.grid.start) / pd.Timedelta(minutes=15))
    base, _ = _shortfall_run(sc, as_actual(df, sc, tmp_path, "a.csv"), fc)
    for seed in (0,):
        changed = _change_after(df, cut, np.random.default_rng(seed))
        other, _ = _shortfall_run(sc, as_actual(changed, sc, tmp_path, f"b{seed}.csv"), fc)
        for col in ("charge_kw", "discharge_kw"):
            a = base.schedule[col].to_numpy().reshape(-1, sc.grid.n_steps)[:, :k_cut]
            b = other.schedule[col].to_numpy().reshape(-1, sc.grid.n_steps)[:, :k_cut]
            assert np.array_equal(a, b), f"a decision before {cut} changed when only later data changed"
        assert not base.schedule.equals(other.schedule)


def test_no_future_information_on_a_real_day(tmp_path):
    """The real ACN day: nothing after the cut changes a decision before it; errors learned only from ended sessions."""
    sc, raw, fc, cut, k_cut = real_day()
    base, m = _shortfall_run(sc, as_actual(raw.copy(), sc, tmp_path, "a.csv"), fc, replan=2, lookahead=64)
    changed = _change_after(raw.copy().astype(object), cut, np.random.default_rng(7))
    other, m2 = _shortfall_run(sc, as_actual(changed, sc, tmp_path, "b.csv"), fc, replan=2, lookahead=64)
    assert_same_before(base, other, sc.grid.n_steps, k_cut)
    assert not base.schedule.equals(other.schedule)
    assert [e for e in m.errors.ended if e[0] < cut] == [e for e in m2.errors.ended if e[0] < cut]
    assert base.kpis["solves"] > 10


def test_cli_shortfall_is_opt_in(tmp_path):
    from gridopt.cli import main

    base = ["simulate", str(DAY / "scenario.yaml"), "--actual", str(DAY / "actual_sessions.csv")]
    base += ["--history", str(DATA / "acn_excerpt.csv"), "--site", "CA", "--replan-minutes", "60"]
    base += ["--no-replan-on-events", "--policies", "perfect,rolling", "--quiet"]
    assert main([*base, "--shortfall", "--out", str(tmp_path / "b")]) == 0
    comp = pd.read_csv(tmp_path / "b" / "comparison.csv")
    assert comp["policy"].tolist() == ["perfect", "rolling", "rolling_shortfall"]
    assert "--shortfall" in (tmp_path / "b" / "report.md").read_text()
    row = comp.set_index("policy").loc["rolling_shortfall"]
    assert (
        row["import_limit_violation_steps"] == 0
        and row["total_cost"] >= comp.set_index("policy").at["perfect", "total_cost"]
    )


def test_a_trip_fleet_is_planned_as_before(tmp_path):
    """No sessions, no forecast arrivals: no checkpoint, the schedule of the plain rolling horizon."""
    cars = [car("V1", initial_soc=0.4, min_soc=0.1), car("V2", initial_soc=0.3, min_soc=0.1)]
    plan = [
        dict(vehicle_id="V1", departure=t("08:00"), arrival=t("11:00"), energy_kwh=15.0, trip_id="v1a"),
        dict(vehicle_id="V2", departure=t("10:00"), arrival=t("14:00"), energy_kwh=20.0, trip_id="v2a"),
    ]
    sc = trip_fleet(tmp_path, cars, plan)
    real = pd.DataFrame(plan)
    real.loc[0, "arrival"] = t("11:40")
    actual = as_actual(real, sc, tmp_path)
    plain = run(sc, actual, "rolling")
    ours = run(sc, actual, "rolling", shortfall=ExpectedShortfall([], sc.unmet_energy_penalty_per_kwh))
    assert ours.schedule.equals(plain.schedule)
