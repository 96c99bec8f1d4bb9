"""The learned departure margin (:mod:`gridopt.simulate.learned`): quantiles by hand, no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_simulate import DATA, DAY, _change_after, as_actual, assert_same_before, real_day, run

import gridopt
from gridopt.simulate.learned import LearnedDepartureMargin, critical_ratio, energy_ratio


def test_quantile_of_the_errors_of_cars_still_here():
    """Errors -4..5 h (ten of them), q = 0.25: the third smallest of those a car still here can have."""
    m = LearnedDepartureMargin(np.arange(-4.0, 6.0), q=0.25, min_sessions=3)
    est = pd.Timestamp("2026-06-15T17:00:00+02:00")
    # 10:00: every error is possible; inverted-CDF 0.25-quantile of 10 values is the 3rd: -2 h
    assert m.planned(est, pd.Timestamp("2026-06-15T10:00:00+02:00")) == est - pd.Timedelta(hours=2)
    # 15:30: the car has not left, so errors <= -1.5 h are impossible: {-1, 0, ..., 5}, 0.25-quantile -> 0 h
    assert m.planned(est, pd.Timestamp("2026-06-15T15:30:00+02:00")) == est
    # 21:30: only {5} is left (fewer than min_sessions): the estimate itself
    assert m.planned(est, pd.Timestamp("2026-06-15T21:30:00+02:00")) == est
    with pytest.raises(ValueError):
        LearnedDepartureMargin([], q=0.0)


def test_critical_ratios_from_the_scenario():
    sc = gridopt.load_scenario(DAY / "scenario.yaml")
    price = sc.series["import_price"]
    s, p = price.max() - price.min(), sc.unmet_energy_penalty_per_kwh
    assert critical_ratio(sc) == pytest.approx(s / (s + p))
    assert energy_ratio(sc) == pytest.approx(p / (p + price.mean()))


def _learned_run(sc, df, fc, tmp_path, name):
    m = LearnedDepartureMargin(fc.estimate_error_h, critical_ratio(sc), q_energy=energy_ratio(sc))
    res = run(sc, as_actual(df, sc, tmp_path, name), "rolling", fc, replan=2, lookahead=64, learned=m)
    return res, m


def test_learned_margin_sees_no_future_on_a_real_day(tmp_path):
    """Changing the data after the cut changes no decision before it; the margin learns only from ended sessions."""
    sc, raw, fc, cut, k_cut = real_day()
    base, m = _learned_run(sc, raw.copy(), fc, tmp_path, "a.csv")
    other, m2 = _learned_run(
        sc, _change_after(raw.copy().astype(object), cut, np.random.default_rng(7)), fc, tmp_path, "b.csv"
    )
    assert_same_before(base, other, sc.grid.n_steps, k_cut)
    assert not base.schedule.equals(other.schedule)
    # what it learned before the cut is the same in both runs
    assert [e for e in m.ended if e[0] < cut] == [e for e in m2.ended if e[0] < cut]
    # every learned error is a session whose real departure is within a step of when it was seen
    # leaving (the world's plugged-in steps), error = that boundary - the driver's estimate
    real = raw.dropna(subset=["estimated_departure"])
    dep = pd.to_datetime(real["departure"], utc=True)
    est = pd.to_datetime(real["estimated_departure"], utc=True)
    step = pd.Timedelta(minutes=15)
    assert len(m.ended) >= 5
    for when, err in m.ended:
        gap = when.tz_convert("UTC") - dep
        seen = (gap > -step) & (gap < step)
        hits = ((when.tz_convert("UTC") - est[seen]).dt.total_seconds() / 3600.0 - err).abs() < 1e-9
        assert hits.any(), f"error {err:.2f} h at {when} is no session that ended then"


def test_learned_margin_beats_trusting_the_drivers_on_a_real_day(tmp_path):
    """On the real ACN day it leaves less unmet energy than the plain rolling horizon (same forecasts)."""
    sc, raw, fc, _, _ = real_day()
    learned, _ = _learned_run(sc, raw, fc, tmp_path, "a.csv")
    plain = run(sc, as_actual(raw, sc, tmp_path, "b.csv"), "rolling", fc, replan=2, lookahead=64)
    assert learned.kpis["unmet_energy_kwh"] <= plain.kpis["unmet_energy_kwh"] + 1e-6


def test_cli_learned_margin_is_opt_in(tmp_path):
    from gridopt.cli import main

    base = ["simulate", str(DAY / "scenario.yaml"), "--actual", str(DAY / "actual_sessions.csv")]
    base += ["--history", str(DATA / "acn_excerpt.csv"), "--site", "CA", "--replan-minutes", "60"]
    base += ["--policies", "perfect,rolling"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert pd.read_csv(tmp_path / "a" / "comparison.csv")["policy"].tolist() == ["perfect", "rolling"]
    assert main([*base, "--learned-margin", "--out", str(tmp_path / "b")]) == 0
    comp = pd.read_csv(tmp_path / "b" / "comparison.csv")
    assert comp["policy"].tolist() == ["perfect", "rolling", "rolling_learned_margin"]
    assert "--learned-margin" in (tmp_path / "b" / "report.md").read_text()
