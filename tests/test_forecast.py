"""Forecasts from history: synthetic histories whose right forecast is known, a real ACN excerpt, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import gridopt
from gridopt.cli import main
from gridopt.errors import ScenarioError
from gridopt.forecast import (
    FleetAssumptions,
    SessionModel,
    evaluate,
    forecast_fleet,
    parse_start,
    plugin_view,
    read_arrivals,
    read_history,
)
from gridopt.forecast.metrics import coverage, mae, pinball
from gridopt.forecast.timezones import infer_timezone

TZ = "America/Los_Angeles"
DATA = Path(__file__).parent / "data"
EXCERPT = DATA / "acn_excerpt.csv"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def acn_rows(arrivals, dwell_h, energy_kwh, station="CA-1", est_dwell_h=None, requested=None, claimed=True):
    """ACN-Data rows (times with offsets) from local arrival times [Timestamp], dwell [h], energy [kWh]."""
    n = len(arrivals)
    arr = pd.DatetimeIndex(arrivals)
    dep = arr + pd.to_timedelta(np.asarray(dwell_h, float) * 3600, unit="s").round("s")
    est = dep if est_dwell_h is None else arr + pd.to_timedelta(np.asarray(est_dwell_h) * 3600, unit="s").round("s")
    req = energy_kwh if requested is None else requested
    return pd.DataFrame(
        {
            "arrival": [t.isoformat(sep=" ") for t in arr],
            "departure": [t.isoformat(sep=" ") for t in dep],
            "requested_energy (kWh)": np.broadcast_to(req, n),
            "delivered_energy (kWh)": np.broadcast_to(energy_kwh, n),
            "station_id": np.broadcast_to(station, n),
            "session_id": [f"x{i}" for i in range(n)],
            "estimated_departure": [t.isoformat(sep=" ") for t in est],
            "claimed": np.broadcast_to(claimed, n),
        }
    )


def weekdays(first: str, n_days: int) -> pd.DatetimeIndex:
    days = pd.date_range(first, periods=n_days, freq="D", tz=TZ)
    return days[days.day_of_week < 5]


def write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


def load_fleet(folder: Path, table: pd.DataFrame, vehicles: pd.DataFrame, kind: str, start: str, hours: int):
    """Load a forecast as a gridopt scenario (validates it as fleet input)."""
    from gridopt.forecast.io import table_csv

    (folder / f"{kind}.csv").write_text(table_csv(table))
    (folder / "vehicles.csv").write_text(table_csv(vehicles))
    cfg = {
        "name": "forecast",
        "timezone": TZ,
        "start": start,
        "horizon_hours": hours,
        "step_minutes": 15,
        "tariff": {"import_price": 0.2},
        "fleet": {"vehicles": "vehicles.csv", kind: f"{kind}.csv"},
    }
    (folder / "sc.yaml").write_text(yaml.safe_dump(cfg))
    return gridopt.load_scenario(folder / "sc.yaml")


# ---------------------------------------------------------------------------
# known answers
# ---------------------------------------------------------------------------


def test_every_session_at_eight_for_nine_hours_is_forecast_so(tmp_path):
    """10 sessions every weekday, all 08:00-17:00 with 20 kWh: the forecast week says exactly that."""
    days = weekdays("2026-03-02", 28)
    arr = [d + pd.Timedelta(hours=8) for d in days for _ in range(10)]
    hist = read_history(write(acn_rows(arr, 9.0, 20.0), tmp_path / "h.csv"))
    assert hist.timezone == TZ
    fc = forecast_fleet(hist, parse_start("2026-04-06", hist.timezone), days=7)
    s = fc.table
    local = pd.DatetimeIndex(s["arrival"])
    assert len(s) == 50 and set(local.day_of_week) == {0, 1, 2, 3, 4}  # none on the weekend
    assert (local.hour == 8).all() and (local.minute == 0).all()
    assert ((s["departure"] - s["arrival"]) == pd.Timedelta(hours=9)).all()
    assert (fc.quantiles["energy_kwh"] == 20).all() and (fc.quantiles["energy_kwh_q90"] == 20).all()
    # energy -> SoC: the plan must draw 20 kWh from the grid
    v = fc.vehicles.set_index("vehicle_id").loc[s["vehicle_id"]]
    drawn = (s["target_soc"].to_numpy() - s["arrival_soc"].to_numpy()) * v["battery_kwh"].to_numpy()
    assert drawn / v["charge_efficiency"].to_numpy() == pytest.approx(20.0, abs=0.01)
    sc = load_fleet(tmp_path, s, fc.vehicles, "sessions", "2026-04-06T00:00:00-07:00", 24 * 7)
    assert len(sc.sessions) == 50
    # the per-session model agrees
    m = SessionModel.fit(hist.frame)
    p = m.predict(plugin_view(hist.frame.iloc[:5]))
    assert ((p["departure"] - hist.frame["arrival"].iloc[:5]) == pd.Timedelta(hours=9)).all()
    assert p["energy_kwh"].to_numpy() == pytest.approx(20.0)


def test_energy_proportional_to_dwell_is_learned_and_sampled_jointly(tmp_path):
    """Everyone leaves at ~17:00 and draws 3 kW the whole stay: energy = 3 * dwell, late arrivals stay shorter."""
    rng = np.random.default_rng(1)
    days = weekdays("2026-03-02", 56)
    arr, dwell = [], []
    for d in days:
        h = rng.uniform(6, 12, 12)
        arr += [d + pd.Timedelta(hours=x) for x in h]
        dwell += list(17 - h + rng.normal(0, 0.1, 12))
    dwell = np.array(dwell)
    rows = acn_rows(arr, dwell, np.round(3.0 * dwell, 3), claimed=False)  # no drivers' estimates
    hist = read_history(write(rows, tmp_path / "h.csv"))
    m = SessionModel.fit(hist.frame)
    test_days = weekdays("2026-05-04", 5)
    h = np.linspace(6.2, 11.8, 20)
    arrivals = pd.DataFrame(
        {
            "session_id": [f"t{i}" for i in range(20)],
            "arrival": pd.Series([test_days[0] + pd.Timedelta(hours=x) for x in h]),
            "site": "CA",
            "station_id": "CA-1",
            "user_id": None,
            "claimed": False,
            "estimated_departure": pd.Series(pd.NaT, index=range(20), dtype=f"datetime64[ns, {TZ}]"),
            "requested_energy_kwh": np.nan,
        }
    )
    p = m.predict(arrivals)
    d_pred = (p["departure"] - arrivals["arrival"]).dt.total_seconds().to_numpy() / 3600
    assert mae(17 - h, d_pred) < 0.4
    assert mae(3 * (17 - h), p["energy_kwh"]) < 1.2
    # sampled scenarios keep the joint shape
    fc = forecast_fleet(hist, parse_start("2026-05-04", TZ), days=5, samples=3, seed=7)
    q = fc.quantiles
    dw = (q["departure"] - q["arrival"]).dt.total_seconds().to_numpy() / 3600
    assert q["energy_kwh"].to_numpy() == pytest.approx(3 * dw, abs=0.01)
    ah = pd.DatetimeIndex(q["arrival"]).hour + pd.DatetimeIndex(q["arrival"]).minute / 60
    assert np.corrcoef(ah, dw)[0, 1] < -0.9
    assert sorted(fc.table["sample"].unique()) == [0, 1, 2]
    one = fc.table[fc.table["sample"] == 1].drop(columns="sample")
    veh = fc.vehicles[fc.vehicles["vehicle_id"].isin(one["vehicle_id"])]
    sc = load_fleet(tmp_path, one, veh, "sessions", "2026-05-04T00:00:00-07:00", 24 * 5)
    assert len(sc.sessions) == len(one)


def test_quantiles_cover_about_80_percent_of_noise(tmp_path):
    """Dwell 8 h and energy 15 kWh plus Gaussian noise: the 10-90 % interval covers ~80 % of new sessions."""
    rng = np.random.default_rng(3)
    days = weekdays("2026-01-05", 140)
    arr = [d + pd.Timedelta(hours=float(x)) for d in days for x in rng.uniform(7, 9, 20)]
    n = len(arr)
    dwell = 8 + rng.normal(0, 1, n)
    energy = np.clip(15 + rng.normal(0, 3, n), 0, None)
    df = acn_rows(arr, dwell, energy, claimed=False)
    cut = int(n * 0.7)
    train = read_history(write(df.iloc[:cut], tmp_path / "train.csv"))
    test = read_history(write(df.iloc[cut:], tmp_path / "test.csv"))
    ev = evaluate(train.frame, test.frame)
    t = ev.tables["all test sessions"]["gridopt"]
    assert 0.72 <= t["departure 10-90 % coverage"] <= 0.88
    assert 0.72 <= t["energy 10-90 % coverage"] <= 0.88
    assert t["departure MAE [h]"] == pytest.approx(0.8, abs=0.1)  # E|N(0,1)| = 0.80
    assert t["energy MAE [kWh]"] == pytest.approx(2.4, abs=0.3)  # 3 * 0.80


def test_drivers_estimates_are_used_and_unclaimed_ones_ignored(tmp_path):
    """The estimate is right to +-0.3 h: the model uses it; the same estimate on an unclaimed session is ignored."""
    rng = np.random.default_rng(5)
    days = weekdays("2026-01-05", 49)
    arr = [d + pd.Timedelta(hours=float(x)) for d in days for x in rng.uniform(7, 10, 15)]
    n = len(arr)
    est = rng.uniform(2, 10, n)
    dwell = est + rng.normal(0, 0.3, n)
    req = rng.uniform(5, 40, n)
    df = acn_rows(arr, dwell, 0.5 * req, est_dwell_h=est, requested=req)
    cut = int(n * 0.75)
    train = read_history(write(df.iloc[:cut], tmp_path / "train.csv"))
    test = read_history(write(df.iloc[cut:], tmp_path / "test.csv"))
    m = SessionModel.fit(train.frame)
    ev = evaluate(train.frame, test.frame, model=m)
    t = ev.tables["sessions with a driver's estimate"]
    assert t.at["departure MAE [h]", "gridopt"] < 0.45 < t.at["departure MAE [h]", "historical average"]
    assert t.at["energy MAE [kWh]", "gridopt"] < 1.5 < t.at["energy MAE [kWh]", "drivers' estimate"]
    a = plugin_view(test.frame.iloc[:30])
    unclaimed = a.assign(claimed=False)
    without = a.assign(estimated_departure=pd.NaT, requested_energy_kwh=np.nan, claimed=False)
    pd.testing.assert_frame_equal(m.predict(unclaimed), m.predict(without))


def test_user_history_from_gridopt_sessions(tmp_path):
    """Two cars arrive at the same times; A stays 4 h, B 10 h: the user's own history tells them apart."""
    days = weekdays("2026-03-02", 42)
    rows = []
    for d in days:
        for vid, stay, gain in (("A", 4, 0.2), ("B", 10, 0.5)):
            a = d + pd.Timedelta(hours=8)
            rows.append(
                {
                    "vehicle_id": vid,
                    "arrival": a.isoformat(),
                    "departure": (a + pd.Timedelta(hours=stay)).isoformat(),
                    "arrival_soc": 0.3,
                    "target_soc": 0.3 + gain,
                }
            )
    write(pd.DataFrame(rows), tmp_path / "sessions.csv")
    veh = pd.DataFrame(
        {
            "vehicle_id": ["A", "B"],
            "battery_kwh": [50.0, 50.0],
            "max_charge_kw": 11,
            "max_discharge_kw": 0,
            "min_soc": 0.1,
        }
    )
    write(veh, tmp_path / "vehicles.csv")
    with pytest.raises(ScenarioError, match="--history-vehicles"):
        read_history(tmp_path / "sessions.csv")
    hist = read_history(tmp_path / "sessions.csv", vehicles=tmp_path / "vehicles.csv")
    assert hist.frame["energy_kwh"].groupby(hist.frame["user_id"]).first().to_dict() == pytest.approx(
        {"A": 0.2 * 50 / 0.95, "B": 0.5 * 50 / 0.95}
    )
    write(
        pd.DataFrame({"session_id": ["a", "b"], "vehicle_id": ["A", "B"], "arrival": ["2026-04-13T08:00:00"] * 2}),
        tmp_path / "arrivals.csv",
    )
    p = SessionModel.fit(hist.frame).predict(read_arrivals(tmp_path / "arrivals.csv", hist.timezone))
    stay = (p["departure"] - pd.Timestamp("2026-04-13T08:00:00", tz=TZ)).dt.total_seconds() / 3600
    assert stay.tolist() == pytest.approx([4, 10], abs=0.1)


def test_fleet_trips_planned_departures_with_learned_delays(tmp_path):
    """Buses leave at 07:00 plus a 0-20 min delay, run 8 h and use 40 kWh (route A) or 60 kWh (route B)."""
    rng = np.random.default_rng(2)
    rows = []
    for d in weekdays("2026-01-05", 98):
        for vid, route, e in (("BUS-1", "A", 40.0), ("BUS-2", "B", 60.0)):
            plan = d + pd.Timedelta(hours=7)
            dep = plan + pd.Timedelta(minutes=float(rng.uniform(0, 20)))
            rows.append(
                {
                    "vehicle_id": vid,
                    "departure": dep.isoformat(),
                    "arrival": (dep + pd.Timedelta(hours=8)).isoformat(),
                    "energy_kwh": e,
                    "route": route,
                    "planned_departure": plan.isoformat(),
                }
            )
    hist = read_history(write(pd.DataFrame(rows), tmp_path / "trips.csv"))
    assert hist.kind == "trips"
    fc = forecast_fleet(hist, parse_start("2026-04-13", TZ), days=7, assumptions=FleetAssumptions(battery_kwh=80))
    t = fc.table
    assert len(t) == 10 and set(pd.DatetimeIndex(t["departure"]).day_of_week) == {0, 1, 2, 3, 4}
    delay_min = (pd.DatetimeIndex(t["departure"]).hour - 7) * 60 + pd.DatetimeIndex(t["departure"]).minute
    assert np.all(np.abs(delay_min - 10) <= 6)  # median of 14 delays ~ U(0, 20) min
    q = fc.quantiles
    assert (q["departure_q10"] < q["departure"]).all() and (q["departure"] < q["departure_q90"]).all()
    assert t.groupby("vehicle_id")["energy_kwh"].first().to_dict() == {"BUS-1": 40.0, "BUS-2": 60.0}
    sc = load_fleet(tmp_path, t, fc.vehicles, "trips", "2026-04-13T00:00:00-07:00", 24 * 7)
    assert len(sc.trips) == 10
    # a schedule of planned trips: each gets the learned delay
    write(
        pd.DataFrame({"vehicle_id": ["BUS-1"], "planned_departure": ["2026-04-14T06:00:00-07:00"], "route": ["A"]}),
        tmp_path / "plan.csv",
    )
    from gridopt.forecast import read_schedule

    one = forecast_fleet(hist, parse_start("2026-04-14", TZ), 1, schedule=read_schedule(tmp_path / "plan.csv", TZ))
    dep = one.table["departure"].iloc[0]
    assert pd.Timedelta(minutes=5) < dep - pd.Timestamp("2026-04-14T06:00:00-07:00") < pd.Timedelta(minutes=15)
    assert one.table["arrival"].iloc[0] - dep == pd.Timedelta(hours=8)


# ---------------------------------------------------------------------------
# real data
# ---------------------------------------------------------------------------


def test_real_acn_excerpt_beats_drivers_estimates(tmp_path):
    """Two weeks of real Caltech sessions: learn the first 10 days, forecast the rest at plug-in."""
    hist = read_history(EXCERPT)
    assert hist.timezone == TZ and set(hist.frame["site"]) == {"CA", "AG"}
    f = hist.frame
    cut = pd.Timestamp("2019-10-17", tz=TZ)
    ev = evaluate(f[f["arrival"] < cut], f[(f["arrival"] >= cut) & (f["site"] == "CA")])
    t = ev.tables["sessions with a driver's estimate"]
    assert ev.counts["sessions with a driver's estimate"] > 50
    assert t.at["departure MAE [h]", "gridopt"] < t.at["departure MAE [h]", "drivers' estimate"]
    assert t.at["energy MAE [kWh]", "gridopt"] < t.at["energy MAE [kWh]", "drivers' estimate"]
    assert t.at["energy MAE [kWh]", "gridopt"] < t.at["energy MAE [kWh]", "historical average"]
    md = ev.to_markdown()
    assert "| departure MAE [h] |" in md and "2019-10" in md


def test_cli_forecast_sessions_and_evaluate_on_real_excerpt(tmp_path, capsys):
    out = tmp_path / "forecast.csv"
    rc = main(
        [
            "forecast", str(EXCERPT), "--start", "2019-10-21", "--days", "2", "--site", "CA",
            "--out", str(out), "--vehicles-out", str(tmp_path / "vehicles.csv"),
            "--quantiles-out", str(tmp_path / "q.csv"),
        ]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    s = pd.read_csv(out)
    assert list(s.columns) == ["vehicle_id", "arrival", "departure", "arrival_soc", "target_soc", "session_id"]
    assert 30 < len(s) < 120 and s["vehicle_id"].str.startswith("FCA-2019102").all()
    cfg = {
        "name": "fc",
        "timezone": TZ,
        "start": "2019-10-21T00:00:00-07:00",
        "horizon_hours": 48,
        "step_minutes": 15,
        "tariff": {"import_price": 0.2},
        "fleet": {"vehicles": "vehicles.csv", "sessions": "forecast.csv"},
    }
    (tmp_path / "sc.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["validate", str(tmp_path / "sc.yaml")]) == 0
    q = pd.read_csv(tmp_path / "q.csv")
    assert (q["energy_kwh_q10"] <= q["energy_kwh_q90"]).all()

    md = tmp_path / "table.md"
    small = write(pd.read_csv(EXCERPT).iloc[:150], tmp_path / "small.csv")
    assert main(["forecast", "evaluate", "--history", str(small), "--test", str(EXCERPT), "--out", str(md)]) == 0
    assert "historical average" in md.read_text()


def test_arrivals_without_departure_or_estimate_columns(tmp_path, capsys):
    """ARRIVALS with only what is known at plug-in (or even only arrival times); outcome columns are never read."""
    raw = pd.read_csv(EXCERPT)
    history = write(raw.iloc[:200], tmp_path / "history.csv")
    plug = raw[["session_id", "arrival", "station_id", "estimated_departure", "requested_energy (kWh)", "claimed"]]
    variants = {
        "full": plug,
        "no_estimates": plug[["session_id", "arrival", "station_id"]],
        "bare": plug[["arrival"]],
        "with_outcomes": raw,
    }
    hist = read_history(history)
    model = SessionModel.fit(hist.frame)
    preds = {}
    for name, df in variants.items():
        write(df.iloc[200:240], tmp_path / f"{name}.csv")
        preds[name] = model.predict(read_arrivals(tmp_path / f"{name}.csv", hist.timezone))
        assert len(preds[name]) == 40 and preds[name]["departure"].notna().all()
    pd.testing.assert_frame_equal(preds["full"], preds["with_outcomes"])  # outcomes ignored
    assert preds["bare"]["session_id"].tolist()[:2] == ["s2", "s3"]  # opaque ids: file lines
    out = tmp_path / "p.csv"
    rc = main(["forecast", "sessions", "--history", str(history), "--arrivals", str(tmp_path / "bare.csv"), "--out", str(out)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    p = pd.read_csv(out)
    assert list(p.columns) == [
        "session_id", "departure", "energy_kwh", "departure_q10", "departure_q90", "energy_kwh_q10", "energy_kwh_q90",
    ]  # fmt: skip
    assert p["energy_kwh"].to_numpy() == pytest.approx(preds["bare"]["energy_kwh"].to_numpy(), rel=1e-5)
    p = preds["no_estimates"]
    assert (p["departure_q10"] <= p["departure"]).all() and (p["departure"] <= p["departure_q90"]).all()
    assert (p["energy_kwh_q10"] <= p["energy_kwh"]).all() and (p["energy_kwh"] <= p["energy_kwh_q90"]).all()


# ---------------------------------------------------------------------------
# pieces
# ---------------------------------------------------------------------------


def test_metrics():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert mae(y, y) == 0 and mae(y, y + 1) == 1
    assert pinball(y, y - 1, 0.1) == pytest.approx(0.1) and pinball(y, y + 1, 0.1) == pytest.approx(0.9)
    assert pinball(y, y, 0.5) == 0
    assert coverage(y, y - 0.5, np.array([0.0, 9, 9, 9])) == 0.75


def test_timezone_inferred_from_offsets():
    def infer(times):
        s = pd.Series(pd.to_datetime(times, utc=True))
        off = np.array([float(t[-6:-3]) * 60 for t in times])
        return infer_timezone(s, off, "test")

    assert infer(["2019-05-01 08:00:00-07:00", "2019-12-01 08:00:00-08:00"]) == "America/Los_Angeles"
    assert infer(["2026-06-15T08:00:00+02:00", "2026-01-15T08:00:00+01:00"]) == "Europe/Amsterdam"
    with pytest.raises(ScenarioError, match="--timezone"):
        infer(["2026-06-15T08:00:00+02:00", "2026-06-15T09:00:00-07:00"])


# ---------------------------------------------------------------------------
# bad input: one line naming the file, the line or column and the problem; exit code 2
# ---------------------------------------------------------------------------

GOOD = acn_rows([pd.Timestamp("2026-03-02 08:00", tz=TZ)] * 3, 9.0, 20.0)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.drop(columns="departure"), "h.csv: missing column 'departure'"),
        (lambda d: d.assign(colour="red"), "h.csv: unknown column 'colour'"),
        (lambda d: d.assign(arrival=["2026-03-02 08:00:00-08:00", "yesterday", "x"]), "h.csv line 3: 'arrival'"),
        (lambda d: d.assign(departure=d["departure"].str.replace("17:", "07:")), "h.csv line 2: session 'departure'"),
        (lambda d: d.assign(**{"delivered_energy (kWh)": ["1", "-2", "3"]}), "h.csv line 3: 'delivered_energy"),
        (lambda d: d.assign(**{"delivered_energy (kWh)": ["1", "lots", "3"]}), "h.csv line 3: 'delivered_energy"),
        (lambda d: d.assign(claimed=["True", "maybe", "False"]), "h.csv line 3: 'claimed' = 'maybe'"),
        (lambda d: d.assign(arrival=d["arrival"].str[:19]), "h.csv line 2: 'arrival' .* has no UTC offset"),
        (lambda d: pd.DataFrame({"when": d["arrival"]}), "h.csv: not a history gridopt knows"),
    ],
)
def test_bad_history(tmp_path, capsys, edit, message):
    write(edit(GOOD.copy()), tmp_path / "h.csv")
    rc = main(["forecast", str(tmp_path / "h.csv"), "--start", "2026-03-09", "--days", "1", "--out", str(tmp_path / "o.csv")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert pd.Series([err]).str.contains(message).iloc[0], err
    assert not (tmp_path / "o.csv").exists()


def test_bad_arguments_and_arrivals(tmp_path, capsys):
    h = write(acn_rows([pd.Timestamp("2026-03-02 08:00", tz=TZ) + pd.Timedelta(days=i) for i in range(30)], 9.0, 20.0), tmp_path / "h.csv")  # fmt: skip
    o = str(tmp_path / "o.csv")
    cases = [
        (["forecast", str(h), "--start", "2026-04-01", "--days", "0", "--out", o], "--days must be >= 1"),
        (["forecast", str(h), "--start", "someday", "--days", "1", "--out", o], "--start: 'someday' is not a date"),
        (["forecast", str(h), "--start", "2026-04-01", "--days", "1", "--site", "XX", "--out", o], "unknown site 'XX'"),
        (["forecast", str(h), "--start", "2026-04-01", "--days", "1", "--target-soc", "1.5", "--out", o], "--target-soc"),
        (["forecast", str(tmp_path / "nope.csv"), "--start", "2026-04-01", "--days", "1", "--out", o], "file not found"),
        (["forecast", str(h), "--start", "2026-04-01", "--days", "1", "--timezone", "Mars/Base", "--out", o], "unknown timezone"),
    ]  # fmt: skip
    write(pd.DataFrame({"session_id": ["a", "a"], "arrival": ["2026-04-01T08:00:00-07:00"] * 2}), tmp_path / "dup.csv")
    write(pd.DataFrame({"session_id": ["a"], "arival": ["2026-04-01T08:00:00-07:00"]}), tmp_path / "typo.csv")
    write(pd.DataFrame({"session_id": ["a"], "arrival": ["2026-04-01T08:00:00-07:00"], "claimed": ["sure"]}), tmp_path / "cl.csv")  # fmt: skip
    for name, msg in (
        ("dup.csv", "dup.csv line 3: duplicate session_id 'a'"),
        ("typo.csv", "typo.csv: missing column 'arrival'"),
        ("cl.csv", "cl.csv line 2: 'claimed' = 'sure'"),
    ):
        cases.append(
            (["forecast", "sessions", "--history", str(h), "--arrivals", str(tmp_path / name), "--out", o], msg)
        )
    trips = write(
        pd.DataFrame(
            {
                "vehicle_id": ["V"],
                "departure": ["2026-03-02T08:00:00-07:00"],
                "arrival": ["2026-03-02T09:00:00-07:00"],
                "energy_kwh": [5],
            }
        ),  # fmt: skip
        tmp_path / "trips.csv",
    )
    cases.append((["forecast", str(h), str(trips), "--start", "2026-04-01", "--days", "1", "--out", o], "mixes session and trip"))  # fmt: skip
    cases.append(
        (["forecast", "evaluate", "--history", str(trips), "--test", str(trips)], "scores sessions, not trips")
    )
    for argv, msg in cases:
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, (argv, err)
