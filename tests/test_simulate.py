"""Rolling-horizon simulation: no look into the future, rules within limits, report complete.

Small synthetic sites (written to a temporary folder) and one real day of
Caltech ACN sessions (``tests/data/simulate_acn_day``, history
``tests/data/acn_excerpt.csv``; see ``tests/data/README.md``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import car, one_car_replay, write_scenario

import gridopt
from gridopt import simulate as S
from gridopt.cli import main
from gridopt.io.read import read_table
from gridopt.simulate.engine import build_context, run_policy
from gridopt.simulate.policies import RollingHorizon, RulePolicy
from gridopt.simulate.rules import fill_in_order, water_fill
from gridopt.simulate.world import World

DATA = Path(__file__).resolve().parent / "data"
DAY = DATA / "simulate_acn_day"
TZ = "Europe/Amsterdam"


def t(hhmm: str) -> str:
    return f"2026-06-15T{hhmm}:00+02:00"


# ---------------------------------------------------------------------------
# a small synthetic workplace
# ---------------------------------------------------------------------------


def workplace(tmp_path, *, limit=30.0, demand=2.0, min_charge=0.0, pv=False):
    """Six cars on 11 kW chargers, 07:00-19:00 in 15-minute steps, TOU prices and a demand charge."""
    cars = [
        car(f"C{i}", battery_kwh=60.0, max_charge_kw=11.0, min_charge_kw=min_charge, initial_soc="", min_soc=0.1)
        for i in range(6)
    ]
    if pv:
        cars[0]["max_discharge_kw"] = 7.0
    idx = pd.date_range(t("07:00"), periods=48, freq="15min")
    ts = pd.DataFrame(
        {
            "time": [x.isoformat() for x in idx],
            "import_price": np.where((idx.hour >= 11) & (idx.hour < 15), 0.1, 0.3),
            "base_load_kw": 8.0 + 4.0 * np.sin(np.arange(48) / 8.0),
            "pv_kw": np.clip(20 * np.sin((np.arange(48) - 4) / 30 * np.pi), 0, None) if pv else 0.0,
        }
    )
    sessions = [
        dict(
            vehicle_id="C0", arrival=t("07:10"), departure=t("12:40"), arrival_soc=0.3, target_soc=0.6, session_id="a"
        ),
        dict(
            vehicle_id="C1", arrival=t("07:35"), departure=t("16:50"), arrival_soc=0.2, target_soc=0.8, session_id="b"
        ),
        dict(
            vehicle_id="C2", arrival=t("08:05"), departure=t("11:05"), arrival_soc=0.5, target_soc=0.7, session_id="c"
        ),
        dict(
            vehicle_id="C3", arrival=t("09:20"), departure=t("18:30"), arrival_soc=0.4, target_soc=0.9, session_id="d"
        ),
        dict(
            vehicle_id="C4", arrival=t("12:50"), departure=t("17:05"), arrival_soc=0.25, target_soc=0.55, session_id="e"
        ),
        dict(
            vehicle_id="C5", arrival=t("13:40"), departure=t("18:55"), arrival_soc=0.3, target_soc=0.7, session_id="f"
        ),
        dict(
            vehicle_id="C2", arrival=t("14:10"), departure=t("15:40"), arrival_soc=0.4, target_soc=0.5, session_id="g"
        ),
    ]
    path = write_scenario(
        tmp_path,
        vehicles=cars,
        sessions=sessions,
        timeseries=ts,
        start=t("07:00"),
        horizon_hours=12,
        step_minutes=15,
        timezone=TZ,
        site={"import_limit_kw": limit, "export_limit_kw": 0},
        tariff={"demand_charge_per_kw": demand},
        battery_degradation_cost_per_kwh=0.02,
    )
    sc = gridopt.load_scenario(path)
    actual = pd.DataFrame(sessions)
    # drivers' estimates: some late, some early, one unknown
    actual["estimated_departure"] = [t("12:00"), t("17:30"), "", t("18:00"), t("16:00"), t("18:45"), t("15:40")]
    actual["reported_target_soc"] = actual["target_soc"]
    actual.loc[2, "reported_target_soc"] = np.nan
    return sc, actual


def as_actual(df: pd.DataFrame, sc, tmp_path, name="actual.csv") -> S.Actual:
    p = tmp_path / name
    df.to_csv(p, index=False)
    return S.read_actual(p, sc)


def synthetic_history(n_days=20, seed=1) -> pd.DataFrame:
    """Canonical sessions of a site like :func:`workplace`, for the forecaster."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in pd.date_range("2026-05-18", periods=n_days, freq="D", tz=TZ):
        for _ in range(int(rng.integers(4, 8))):
            arr = d + pd.Timedelta(hours=float(rng.uniform(7, 14)))
            dep = arr + pd.Timedelta(hours=float(rng.uniform(1.5, 9)))
            est = dep + pd.Timedelta(hours=float(rng.normal(0, 1)))
            rows.append(
                dict(
                    session_id=f"h{len(rows)}",
                    arrival=arr,
                    departure=dep,
                    energy_kwh=float(rng.uniform(5, 30)),
                    site="site",
                    station_id=None,
                    user_id=None,
                    claimed=True,
                    estimated_departure=est if est > arr else pd.NaT,
                    requested_energy_kwh=np.nan,
                )
            )
    return pd.DataFrame(rows)


def run(sc, actual, policy_kind, forecaster=None, **kw):
    world_sc, ctx = build_context(sc, actual, forecaster)
    spec = S.PolicySpec(policy_kind, policy_kind)
    if policy_kind == "rolling":
        pol = RollingHorizon(
            ctx, kw.pop("replan", 1), kw.pop("lookahead", 48), sc.solver, early_bias_per_kwh_h=0.01, **kw
        )
    else:
        pol = RulePolicy(ctx, policy_kind)
    return run_policy(world_sc, actual.info, pol, spec, 0.0)


# ---------------------------------------------------------------------------
# no information from the future
# ---------------------------------------------------------------------------


def trip_fleet(tmp_path, cars: list[dict], plan: list[dict]):
    """A 12-hour trip fleet from 06:00 at 15 minutes behind a 12 kW meter that exports nothing: the scenario."""
    path = write_scenario(
        tmp_path,
        vehicles=cars,
        trips=plan,
        start=t("06:00"),
        horizon_hours=12,
        step_minutes=15,
        timezone=TZ,
        site={"import_limit_kw": 12, "export_limit_kw": 0},
    )
    return gridopt.load_scenario(path)


def real_day():
    """The real ACN day, its sessions, a forecaster from the history, a cut at 11:00 and its step.

    Returns
    -------
    (sc, raw, fc, cut, k_cut)
    """
    sc = gridopt.load_scenario(DAY / "scenario.yaml")
    raw = read_table(DAY / "actual_sessions.csv", "actual_sessions.csv")
    fc = S.forecaster_from_history([DATA / "acn_excerpt.csv"], sc, site="CA")
    cut = pd.Timestamp("2019-10-21T11:00:00-07:00")
    k_cut = int((cut - sc.grid.start) / pd.Timedelta(minutes=15))
    return sc, raw, fc, cut, k_cut


def assert_same_before(base, other, n_steps: int, k_cut: int) -> None:
    """The two runs' charge and discharge powers are equal in every step before ``k_cut``."""
    for col in ("charge_kw", "discharge_kw"):
        a = base.schedule[col].to_numpy().reshape(-1, n_steps)[:, :k_cut]
        b = other.schedule[col].to_numpy().reshape(-1, n_steps)[:, :k_cut]
        assert np.array_equal(a, b)


def _change_after(df: pd.DataFrame, cut: pd.Timestamp, rng) -> pd.DataFrame:
    """Rewrite everything the data says about times after ``cut``."""
    out = df.copy()
    arr = pd.to_datetime(out["arrival"], utc=True)
    dep = pd.to_datetime(out["departure"], utc=True)
    cut = cut.tz_convert("UTC")
    later = arr >= cut
    for i in np.flatnonzero(later.to_numpy()):
        shift = pd.Timedelta(minutes=int(rng.integers(-20, 60)))
        a = max(arr.iloc[i] + shift, cut + pd.Timedelta(minutes=1))
        d = a + pd.Timedelta(minutes=int(rng.integers(30, 200)))
        out.iloc[i, out.columns.get_loc("arrival")] = a.isoformat()
        out.iloc[i, out.columns.get_loc("departure")] = d.isoformat()
        out.iloc[i, out.columns.get_loc("arrival_soc")] = round(float(rng.uniform(0.2, 0.5)), 3)
        out.iloc[i, out.columns.get_loc("target_soc")] = round(float(rng.uniform(0.5, 0.9)), 3)
        out.iloc[i, out.columns.get_loc("estimated_departure")] = (d + pd.Timedelta(minutes=30)).isoformat()
        out.iloc[i, out.columns.get_loc("reported_target_soc")] = out.iloc[i]["target_soc"]
    staying = (~later) & (dep > cut)
    for i in np.flatnonzero(staying.to_numpy()):
        # the real departure (unknown at the cut) moves, still after the cut
        new = cut + pd.Timedelta(minutes=int(rng.integers(1, 240)))
        out.iloc[i, out.columns.get_loc("departure")] = new.isoformat()
        # a real need that was not reported is unknown too
        if pd.isna(out.iloc[i]["reported_target_soc"]):
            out.iloc[i, out.columns.get_loc("target_soc")] = round(float(rng.uniform(0.5, 0.95)), 3)
    return out


@pytest.mark.parametrize("policy", ["rolling", "edf", "llf", "round_robin"])
def test_no_decision_uses_information_from_the_future(tmp_path, policy):
    sc, df = workplace(tmp_path, limit=25.0)
    fc = S.SessionForecaster(synthetic_history(), TZ)
    cut = pd.Timestamp(t("12:00"))
    k_cut = int((cut - sc.grid.start) / pd.Timedelta(minutes=15))
    base = run(sc, as_actual(df, sc, tmp_path, "a.csv"), policy, fc)
    for seed in range(2):
        changed = _change_after(df, cut, np.random.default_rng(seed))
        other = run(sc, as_actual(changed, sc, tmp_path, f"b{seed}.csv"), policy, fc)
        for col in ("charge_kw", "discharge_kw"):
            a = base.schedule[col].to_numpy().reshape(-1, sc.grid.n_steps)[:, :k_cut]
            b = other.schedule[col].to_numpy().reshape(-1, sc.grid.n_steps)[:, :k_cut]
            assert np.array_equal(a, b), f"{policy}: a decision before {cut} changed when only later data changed"
        assert not base.schedule.equals(other.schedule)  # the later data did matter after the cut


def test_no_future_information_on_a_real_day(tmp_path):
    """The real ACN day: re-plans with forecasts from the history see nothing after the cut."""
    sc, raw, fc, cut, k_cut = real_day()
    sc = sc.with_built(grid=sc.grid)
    df = raw.copy()
    base = run(sc, as_actual(df, sc, tmp_path, "a.csv"), "rolling", fc, replan=2, lookahead=64)
    changed = _change_after(df.astype(object), cut, np.random.default_rng(7))
    other = run(sc, as_actual(changed, sc, tmp_path, "b.csv"), "rolling", fc, replan=2, lookahead=64)
    assert_same_before(base, other, sc.grid.n_steps, k_cut)
    assert base.kpis["solves"] > 10


def test_trip_fleet_sees_no_future_trips(tmp_path):
    """A fleet: how trips really run after the cut changes nothing before it."""
    cars = [car("V1", initial_soc=0.4, min_soc=0.1), car("V2", initial_soc=0.3, min_soc=0.1)]
    plan = [
        dict(vehicle_id="V1", departure=t("08:00"), arrival=t("11:00"), energy_kwh=15.0, trip_id="v1a"),
        dict(vehicle_id="V1", departure=t("13:00"), arrival=t("16:00"), energy_kwh=15.0, trip_id="v1b"),
        dict(vehicle_id="V2", departure=t("10:00"), arrival=t("14:00"), energy_kwh=20.0, trip_id="v2a"),
    ]
    sc = trip_fleet(tmp_path, cars, plan)
    real = pd.DataFrame(plan)
    real.loc[0, "arrival"] = t("11:40")  # back late
    real.loc[2, "energy_kwh"] = 24.0  # took more than planned
    cut = pd.Timestamp(t("12:30"))
    k_cut = int((cut - sc.grid.start) / pd.Timedelta(minutes=15))
    changed = real.copy()
    changed.loc[1, "departure"] = t("12:45")  # leaves early (after the cut)
    changed.loc[1, "energy_kwh"] = 25.0
    changed.loc[2, "arrival"] = t("15:10")
    for policy in ("rolling", "edf"):
        a = run(sc, as_actual(real, sc, tmp_path, "a.csv"), policy)
        b = run(sc, as_actual(changed, sc, tmp_path, "b.csv"), policy)
        for col in ("charge_kw", "discharge_kw"):
            x = a.schedule[col].to_numpy().reshape(-1, sc.grid.n_steps)[:, :k_cut]
            y = b.schedule[col].to_numpy().reshape(-1, sc.grid.n_steps)[:, :k_cut]
            assert np.array_equal(x, y), policy
        # unmet is counted against the real trips
        u = b.unmet.set_index("event_id")
        assert u.at["v1b", "required_kwh"] == pytest.approx(0.1 * 50 + 25.0)


# ---------------------------------------------------------------------------
# the online rules
# ---------------------------------------------------------------------------


def test_allocation_helpers():
    want = np.array([5.0, 3.0, 8.0, 0.5])
    pmin = np.array([1.0, 1.0, 4.0, 1.0])
    p = fill_in_order(np.array([2, 0, 1, 3]), 12.0, want, pmin)
    assert p.tolist() == [4.0, 0.0, 8.0, 0.0]  # vehicle 1 would get 0 < its minimum; 3 wants less than its minimum
    q = water_fill(9.0, want, pmin)
    assert np.allclose(q, [2.5, 2.5, 4.0, 0.0])  # equal shares, vehicle 2 lifted to its minimum
    r = water_fill(3.0, np.array([5.0, 5.0, 5.0]), np.array([1.5, 1.5, 1.5]))
    assert sorted(r.tolist()) == [0.0, 1.5, 1.5]
    assert water_fill(math.inf, want, pmin).tolist() == [5.0, 3.0, 8.0, 0.0]


@pytest.mark.parametrize("rule", ["edf", "llf", "round_robin"])
@pytest.mark.parametrize("limit,min_charge,pv", [(20.0, 0.0, False), (26.0, 4.1, True)])
def test_rules_respect_limits_and_never_exceed_a_need(tmp_path, rule, limit, min_charge, pv):
    sc, df = workplace(tmp_path, limit=limit, min_charge=min_charge, pv=pv)
    df["reported_target_soc"] = df["target_soc"]  # every need reported: the rule knows it
    out = run(sc, as_actual(df, sc, tmp_path), rule)
    s, sch = out.site, out.schedule
    assert (s["grid_import_kw"] <= limit + 1e-6).all()
    assert (sch["charge_kw"] <= 11.0 + 1e-9).all() and (sch["discharge_kw"] == 0).all()
    charging = sch["charge_kw"] > 0
    assert (sch.loc[charging, "charge_kw"] >= min_charge - 1e-9).all()
    # never beyond the need: SoC at each departure at most max(target, arrival SoC)
    u = out.unmet.set_index("event_id")
    ses = df.set_index("session_id")
    for sid, row in ses.iterrows():
        cap = max(row["target_soc"], row["arrival_soc"]) * 60.0
        assert u.at[sid, "soc_kwh"] <= cap + 1e-6, (rule, sid)
    assert out.kpis["import_limit_violation_steps"] == 0


def test_rules_differ_when_the_limit_binds(tmp_path):
    sc, df = workplace(tmp_path, limit=14.0)
    charge = {
        r: run(sc, as_actual(df, sc, tmp_path), r).schedule["charge_kw"].to_numpy()
        for r in ("edf", "llf", "round_robin")
    }
    assert not np.allclose(charge["edf"], charge["round_robin"])
    assert not np.allclose(charge["edf"], charge["llf"])


# ---------------------------------------------------------------------------
# policies against each other, and the report
# ---------------------------------------------------------------------------


def test_perfect_foresight_is_never_beaten(tmp_path):
    sc, df = workplace(tmp_path, limit=30.0, pv=True)
    res = S.simulate(
        sc,
        as_actual(df, sc, tmp_path),
        forecaster=S.SessionForecaster(synthetic_history(), TZ),
        settings=S.SimulationSettings(replan_minutes=30, lookahead_hours=8, early_bias_per_kwh_h=0.01),
        policies=[
            S.PolicySpec("perfect", "perfect"),
            S.PolicySpec("rolling", "rolling"),
            S.PolicySpec("rolling", "margins", S.Margins(0.2, 30)),
            S.PolicySpec("rolling", "worst", samples=4, stochastic="worst"),
            S.PolicySpec("rolling", "mean", samples=3, stochastic="mean"),
            S.PolicySpec("uncontrolled", "uncontrolled"),
            S.PolicySpec("edf", "edf"),
        ],
    )
    perfect = res.outcomes["perfect"].kpis["total_cost"]
    for name, out in res.outcomes.items():
        if name != "uncontrolled":  # it ignores the import limit
            assert perfect <= out.kpis["total_cost"] * (1 + 1e-4) + 1e-6, name
    assert res.outcomes["rolling"].kpis["total_cost"] < res.outcomes["uncontrolled"].kpis["total_cost"]
    assert res.outcomes["rolling"].kpis["solves"] > 0


def test_world_replays_the_optimizer_exactly(tmp_path):
    """The perfect plan's powers applied in the world give gridopt's own shortfalls and costs."""
    sc, df = workplace(tmp_path, limit=25.0, pv=True)
    actual = as_actual(df, sc, tmp_path)
    world_sc = S.truth(sc, actual)
    res = gridopt.optimize(world_sc, baseline=False)
    w = World(world_sc, actual.info)
    c = res.schedule["charge_kw"].to_numpy().reshape(-1, sc.grid.n_steps)
    d = res.schedule["discharge_kw"].to_numpy().reshape(-1, sc.grid.n_steps)
    while not w.done:
        w.apply(c[:, w.k], d[:, w.k])
    _, site, unmet = w.frames()
    assert np.allclose(unmet["unmet_kwh"], res.unmet["unmet_kwh"], atol=1e-6)
    assert np.allclose(site["grid_import_kw"], res.site["grid_import_kw"], atol=1e-6)
    assert w.guard_steps == 0


def test_report_has_every_column(tmp_path):
    sc, df = workplace(tmp_path, limit=30.0)
    res = S.simulate(
        sc,
        as_actual(df, sc, tmp_path),
        forecaster=S.SessionForecaster(synthetic_history(), TZ),
        settings=S.SimulationSettings(replan_minutes=60, lookahead_hours=6),
        policies=S.default_policies(0.1, 15),
    )
    out = tmp_path / "out"
    files = S.write_report(res, out, "gridopt simulate ...")
    assert set(files) == {
        "report.md",
        "comparison.csv",
        "summary.json",
        "daily.csv",
        "solves.csv",
        "site.csv",
        "unmet.csv",
    }
    comp = pd.read_csv(out / "comparison.csv")
    assert list(comp.columns) == S.COMPARISON_COLUMNS
    names = [
        "perfect",
        "rolling",
        "rolling_energy_margin",
        "rolling_departure_margin",
        "rolling_both_margins",
        "uncontrolled",
        "edf",
        "llf",
        "round_robin",
    ]
    assert comp["policy"].tolist() == names
    for col in (
        "total_cost",
        "energy_cost",
        "demand_charge_cost",
        "degradation_cost",
        "unmet_energy_cost",
        "peak_import_kw",
        "energy_needed_kwh",
        "energy_delivered_kwh",
        "unmet_energy_kwh",
    ):
        assert comp[col].notna().all(), col
    parts = comp["energy_cost"] + comp["demand_charge_cost"] + comp["degradation_cost"] + comp["unmet_energy_cost"]
    assert np.allclose(parts, comp["total_cost"])
    assert comp.loc[comp["policy"] == "perfect", "solves"].item() == 1
    assert (comp.loc[comp["policy"].str.startswith("rolling"), "solves"] > 0).all()
    summary = json.loads((out / "summary.json").read_text())
    assert [r["policy"] for r in summary["comparison"]] == names
    assert len(summary["robustness"]) == 4
    report = (out / "report.md").read_text()
    for name in names:
        assert f"| {name} |" in report
    solves = pd.read_csv(out / "solves.csv")
    assert {"policy", "time", "solve_seconds", "wall_seconds", "status"} <= set(solves.columns)
    site = pd.read_csv(out / "site.csv")
    assert len(site) == len(names) * sc.grid.n_steps


# ---------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------


def test_cli_simulates_the_real_test_day(tmp_path, capsys):
    out = tmp_path / "sim"
    code = main(
        [
            "simulate",
            str(DAY / "scenario.yaml"),
            "--actual",
            str(DAY / "actual_sessions.csv"),
            "--history",
            str(DATA / "acn_excerpt.csv"),
            "--site",
            "CA",
            "--replan-minutes",
            "60",
            "--policies",
            "perfect,rolling,uncontrolled,edf",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "rolling" in printed and "vs perfect" in printed
    comp = pd.read_csv(out / "comparison.csv")
    assert comp["policy"].tolist() == ["perfect", "rolling", "uncontrolled", "edf"]
    assert "--replan-minutes 60" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--replan-minutes", "20"], "multiple of the scenario's 15-minute step"),
        (["--policies", "rolling,magic"], "unknown 'magic'"),
        (["--samples", "3"], "needs a session history"),
    ],
)
def test_cli_bad_options_exit_2_with_one_line(tmp_path, capsys, extra, message):
    code = main(
        [
            "simulate",
            str(DAY / "scenario.yaml"),
            "--actual",
            str(DAY / "actual_sessions.csv"),
            "--out",
            str(tmp_path / "o"),
            *extra,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_bad_actual_file_names_the_line(tmp_path, capsys):
    df = pd.read_csv(DAY / "actual_sessions.csv")
    df.loc[3, "estimated_departure"] = "soon"
    p = tmp_path / "actual.csv"
    df.to_csv(p, index=False)
    code = main(["simulate", str(DAY / "scenario.yaml"), "--actual", str(p), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "actual.csv line 5" in err and "estimated_departure" in err


def test_history_inside_the_period_is_refused(tmp_path):
    sc, df = workplace(tmp_path)
    hist = pd.DataFrame(
        {
            "arrival": ["2026-06-15T08:00:00+02:00"] * 25,
            "departure": ["2026-06-15T12:00:00+02:00"] * 25,
            "delivered_energy (kWh)": [10.0] * 25,
        }
    )
    hist.to_csv(tmp_path / "h.csv", index=False)
    with pytest.raises(gridopt.ScenarioError, match="inside the simulated period"):
        S.forecaster_from_history([tmp_path / "h.csv"], sc)


def test_a_car_leaving_after_the_period_is_planned_for_its_whole_need(tmp_path):
    """The period is scored with the whole target of a car still plugged in at its end; so is the plan that reaches it.

    One 50 kWh car on a 10 kW charger (efficiency 1) plugs in at 11:00 at 20 %,
    needs 60 % (20 kWh) and leaves the next morning, after the period ends at
    13:00. Two hours at 10 kW give exactly 20 kWh: perfect foresight charges
    them at 0.30, nothing unmet (6.00). A plan that asked only the share of the
    stay inside the period (re-planned at every step) left 12.7 kWh unmet.
    """
    session = dict(
        vehicle_id="C0",
        arrival=t("11:00"),
        departure="2026-06-16T08:00:00+02:00",
        arrival_soc=0.2,
        target_soc=0.6,
        session_id="s0",
    )
    sc, actual = one_car_replay(tmp_path, session, 0.30, session["departure"])
    res = S.simulate(sc, actual, policies=[S.PolicySpec("perfect", "perfect"), S.PolicySpec("rolling", "rolling")])
    for name in ("perfect", "rolling"):
        k = res.outcomes[name].kpis
        assert k["unmet_energy_kwh"] == pytest.approx(0.0, abs=1e-6), name
        assert k["energy_cost"] == pytest.approx(6.0, abs=1e-6), name
