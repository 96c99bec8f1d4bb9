"""The fleet's flexibility envelope (gridopt.grid): hand-worked cases, soundness, privacy, files.

Soundness runs on seeded random fleets; CI runs ``GRIDOPT_ENVELOPE_FLEETS`` (40)
fleets with ``GRIDOPT_ENVELOPE_PROFILES`` (5) profiles each; the full run of the
issue is ``GRIDOPT_ENVELOPE_FLEETS=200 GRIDOPT_ENVELOPE_PROFILES=20``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import car, write_scenario

import gridopt
from gridopt.grid import Envelope, disaggregate, flexibility, verify, write_envelope
from gridopt.grid.cli import run_flex_cli

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
N_FLEETS = int(os.environ.get("GRIDOPT_ENVELOPE_FLEETS", "40"))
N_PROFILES = int(os.environ.get("GRIDOPT_ENVELOPE_PROFILES", "5"))
T0 = pd.Timestamp("2026-06-15T00:00:00+02:00")


def at(hours: float) -> str:
    return (T0 + pd.Timedelta(minutes=round(hours * 60))).isoformat()


def session(vid, arr, dep, arrival_soc, target_soc, **kw) -> dict:
    return {
        "vehicle_id": vid,
        "arrival": at(arr),
        "departure": at(dep),
        "arrival_soc": arrival_soc,
        "target_soc": target_soc,
        **kw,
    }


def assert_bands(env: Envelope, p_min, p_max, e_min, e_max, which="inner"):
    band = getattr(env, which)
    for col, want in zip(("p_min_kw", "p_max_kw", "e_min_kwh", "e_max_kwh"), (p_min, p_max, e_min, e_max), strict=True):
        np.testing.assert_allclose(band[col].to_numpy(), want, atol=1e-9, err_msg=f"{which} {col}")


def profiles_inside(env: Envelope, rng, n: int):
    """``n`` profiles inside both bands: the band's edges, random points, bang-bang and walks hugging the energy band."""
    inner = env.inner
    dt = env.dt_h
    pl, ph = inner["p_min_kw"].to_numpy(), inner["p_max_kw"].to_numpy()
    el, eh = inner["e_min_kwh"].to_numpy(), inner["e_max_kwh"].to_numpy()
    out = []
    for i in range(n):
        kind = i % 5
        e, prof = 0.0, []
        for t in range(len(pl)):
            lo = max(pl[t], (el[t] - e) / dt)
            hi = max(min(ph[t], (eh[t] - e) / dt), lo)
            p = {
                0: lo,
                1: hi,
                2: lo + rng.random() * (hi - lo),
                3: lo if rng.random() < 0.5 else hi,
                4: lo + rng.beta(0.3, 0.3) * (hi - lo),
            }[kind]
            prof.append(p)
            e += p * dt
        out.append(np.array(prof))
    return out


def deliver(sc, env, profile) -> gridopt.grid.Dispatch:
    plan = disaggregate(sc, env, profile)
    problems = verify(sc, plan)
    assert problems == [], problems[:5]
    return plan


# ---------------------------------------------------------------------------
# hand-worked cases
# ---------------------------------------------------------------------------


def test_one_charging_session_by_hand(tmp_path):
    """A 50 kWh car, 10 kW, ideal efficiency, plugged 00:00-04:00 (hourly steps) from 25 kWh, needs 35 kWh.

    Boxes: the all-low path charges as late as possible: nothing, then 10 kWh in the
    last hour. The all-high path charges as early as max_soc (50 kWh) allows, given
    that the last hour must still draw its 10 kWh: 10, 5, 0 kWh (25 + 15 + 10 = 50).
    So the boxes are [0, 10], [0, 5], [0, 0], [10, 10] kW; the energy band is their
    cumulative sum: 0..10, 0..15, 0..15, 10..25 kWh.

    Outer: 0..10 kW every hour; earliest trajectory 10, 20, 25, 25 kWh (full at 50
    kWh), latest 0, 0, 0, 10 kWh. Tightness = (10+15+15+15) / (10+20+25+15) = 55/70.
    """
    path = write_scenario(
        tmp_path,
        vehicles=[car("EV1")],
        sessions=[session("EV1", 0, 4, 0.5, 0.7)],
    )
    sc = gridopt.load_scenario(path)
    env = flexibility(sc)
    assert_bands(env, [0, 0, 0, 10], [10, 5, 0, 10], [0, 0, 0, 10], [10, 15, 15, 25])
    assert_bands(env, [0] * 4, [10] * 4, [0, 0, 0, 10], [10, 20, 25, 25], which="outer")
    assert env.tightness == pytest.approx(55 / 70)
    assert env.power_tightness == pytest.approx(15 / 40)
    assert env.best_effort_requirements == 0
    for prof in ([0, 0, 0, 10], [10, 5, 0, 10], [3, 5, 0, 10], [10, 0, 0, 10]):
        plan = deliver(sc, env, prof)
        assert plan.unmet["unmet_kwh"].sum() == 0
    assert plan.schedule["soc_kwh"].iloc[-1] == pytest.approx(45.0)  # 25 + 10 + 10


def test_v2g_vehicle_by_hand(tmp_path):
    """A V2G car at the site for 2 hourly steps: 10 kWh, +-4 kW, SoC 2..8 kWh, 5 kWh now and at the end,
    charge efficiency 0.9, discharge efficiency 0.8.

    All-low path: discharge to min_soc (3 kWh of SoC = 2.4 kWh to the grid), then
    charge back to 5 kWh: 3 kWh of SoC = 3.333 kWh from the grid. All-high path:
    raised early as far as max_soc allows with the last step's 3.333 kWh still to
    come: step 1 from -2.4 up to 0 (SoC 5, then 5 + 3 = 8 = max_soc). Boxes
    [-2.4, 0] and [3.333, 3.333] kWh; energy band -2.4..0 and 0.933..3.333 kWh.

    Outer: -4..4 kW; earliest trajectory charges to 8 kWh at once (3.333 kWh),
    latest discharges to 2 kWh (-2.4 kWh) and is back at 5 kWh at the end: the
    least energy that ends at 5 kWh is 0 (no round trip). Tightness
    (2.4 + 2.4) / (5.733 + 3.333).
    """
    v = car("EV1", battery_kwh=10, max_charge_kw=4, max_discharge_kw=4, min_soc=0.2, max_soc=0.8)
    v.update(initial_soc=0.5, final_soc=0.5, charge_efficiency=0.9, discharge_efficiency=0.8)
    sc = gridopt.load_scenario(write_scenario(tmp_path, vehicles=[v], horizon_hours=2))
    env = flexibility(sc)
    assert_bands(env, [-2.4, 10 / 3], [0, 10 / 3], [-2.4, 10 / 3 - 2.4], [0, 10 / 3])
    assert_bands(env, [-4, -4], [4, 4], [-2.4, 0], [10 / 3, 10 / 3], which="outer")
    assert env.tightness == pytest.approx(4.8 / (2.4 + 10 / 3 + 10 / 3))
    for prof in ([-2.4, 10 / 3], [0, 10 / 3], [-1.0, 10 / 3]):
        plan = deliver(sc, env, prof)
        s = plan.schedule
        assert ((s["charge_kw"] > 0) & (s["discharge_kw"] > 0)).sum() == 0
    # -1 kW for an hour takes 1 / 0.8 kWh out; 10/3 kWh in puts 3 kWh in: 5 -> 3.75 -> 6.75 (>= 5, <= 8)
    assert plan.schedule["soc_kwh"].to_numpy() == pytest.approx([3.75, 6.75])


def test_minimum_power_by_hand(tmp_path):
    """10 kW charger with a 4 kW minimum, 50 kWh car plugged 00:00-04:00 from 25 kWh, needs 30 kWh.

    Each step's box must lie in [4, 10] (charge) or be [0, 0]. Charge steps in the
    first 3 hours, off in the last (the layout with the largest energy range):
    all-low path 4, 4, 4, 0 (37 kWh >= 30); all-high path raised early while
    max_soc allows: 10, 10, 5, 0 (50 kWh). Boxes [4, 10], [4, 10], [4, 5], [0, 0];
    energy band 4..10, 8..20, 12..25, 12..25 kWh. Outer: latest trajectory charges
    5 kWh in the last hour (0, 0, 0, 5), earliest 10, 20, 25, 25. Tightness 44/75.
    Every profile in the band charges at 0 or >= 4 kW.
    """
    v = car("EV1", min_charge_kw=4.0)
    sc = gridopt.load_scenario(write_scenario(tmp_path, vehicles=[v], sessions=[session("EV1", 0, 4, 0.5, 0.6)]))
    env = flexibility(sc)
    assert_bands(env, [4, 4, 4, 0], [10, 10, 5, 0], [4, 8, 12, 12], [10, 20, 25, 25])
    assert_bands(env, [0] * 4, [10] * 4, [0, 0, 0, 5], [10, 20, 25, 25], which="outer")
    assert env.tightness == pytest.approx(44 / 75)
    for prof in ([4, 4, 4, 0], [10, 10, 5, 0], [4, 10, 4.5, 0]):
        plan = deliver(sc, env, prof)
        c = plan.schedule["charge_kw"].to_numpy()
        assert ((c == 0) | (c >= 4 - 1e-9)).all()


def test_unreachable_requirement_becomes_best_effort(tmp_path):
    """A 7.4 kW car plugged for one hour that needs 20 kWh: it charges flat out and the 12.6 kWh it misses is reported."""
    v = car("EV1", max_charge_kw=7.4)
    sc = gridopt.load_scenario(write_scenario(tmp_path, vehicles=[v], sessions=[session("EV1", 1, 2, 0.2, 0.6)]))
    env = flexibility(sc)
    assert env.best_effort_requirements == 1
    assert env.best_effort_shortfall_kwh == pytest.approx(20 - 7.4)
    assert_bands(env, [0, 7.4, 0, 0], [0, 7.4, 0, 0], [0, 7.4, 7.4, 7.4], [0, 7.4, 7.4, 7.4])
    plan = deliver(sc, env, [0, 7.4, 0, 0])
    assert plan.unmet["unmet_kwh"].tolist() == pytest.approx([12.6])


def test_trip_chain_keeps_enough_for_the_next_trip(tmp_path):
    """Two trips: the first departure must leave enough for the second, whose return leaves little time to charge."""
    v = car("EV1", battery_kwh=60, max_charge_kw=11, initial_soc=0.5)
    trips = [
        {"vehicle_id": "EV1", "departure": at(2), "arrival": at(4), "energy_kwh": 20.0},
        {"vehicle_id": "EV1", "departure": at(5), "arrival": at(7), "energy_kwh": 25.0},
    ]
    sc = gridopt.load_scenario(write_scenario(tmp_path, vehicles=[v], trips=trips, horizon_hours=8))
    env = flexibility(sc)
    assert env.best_effort_requirements == 0  # the optimizer meets both as well
    rng = np.random.default_rng(3)
    for prof in profiles_inside(env, rng, 10):
        assert deliver(sc, env, prof).unmet["unmet_kwh"].sum() == 0


# ---------------------------------------------------------------------------
# soundness on random fleets
# ---------------------------------------------------------------------------


def random_fleet(folder: Path, seed: int) -> Path:
    """A small random fleet: trips, sessions, always-present cars, V2G, minimum power, efficiencies, odd times."""
    rng = np.random.default_rng(seed)
    step = int(rng.choice([15, 30, 60]))
    hours = int(rng.integers(2, 9))
    n = int(rng.integers(1, 6))
    vehicles, trips, sessions = [], [], []
    r2 = lambda x: float(round(x, 3))  # noqa: E731
    for i in range(n):
        vid = f"CAR-{seed}-{i}"
        B = float(rng.choice([20.0, 40.0, 64.0, 90.0]))
        pc = float(rng.choice([3.7, 7.4, 11.0, 22.0]))
        v2g = rng.random() < 0.5
        min_soc = r2(rng.uniform(0, 0.3))
        max_soc = r2(rng.uniform(max(0.7, min_soc), 1.0))
        veh = {
            "vehicle_id": vid,
            "battery_kwh": B,
            "max_charge_kw": pc,
            "max_discharge_kw": r2(pc * rng.choice([0.5, 1.0])) if v2g else 0.0,
            "min_soc": min_soc,
            "max_soc": max_soc,
            "charge_efficiency": r2(rng.uniform(0.85, 1.0)),
            "discharge_efficiency": r2(rng.uniform(0.85, 1.0)),
            "min_charge_kw": r2(pc * rng.choice([0.1, 0.3, 0.5])) if rng.random() < 0.6 else 0.0,
            "initial_soc": r2(rng.uniform(0.05, 1.0)),
            "final_soc": np.nan,
        }
        role = rng.choice(["session", "trip", "home"])
        if role == "session":  # every session overlaps the horizon (some start before it or end after it)
            t = float(rng.uniform(-1.5, hours * 0.6))
            for k in range(int(rng.integers(1, 3))):
                arr = min(t + float(rng.uniform(0, 1.0)), hours - 0.1)
                dep = max(arr + float(rng.uniform(0.2, hours)), 0.1)
                if k and arr <= t:
                    break
                sessions.append(
                    {
                        "vehicle_id": vid,
                        "arrival": at(arr),
                        "departure": at(dep),
                        "arrival_soc": r2(rng.uniform(0.02, 1.0)),
                        "target_soc": r2(rng.uniform(0.0, max_soc)),
                        "session_id": f"s{k}",
                    }
                )
                t = dep + 0.1
        else:
            if rng.random() < 0.4:
                veh["final_soc"] = r2(rng.uniform(min_soc, max_soc))
            if role == "trip":  # every trip departs inside the horizon or is under way at its start
                t = float(rng.uniform(-1.0, hours * 0.5))
                for k in range(int(rng.integers(1, 3))):
                    dep = t + float(rng.uniform(0, 2.0))
                    if dep >= hours - 0.05:
                        break
                    arr = max(dep + float(rng.uniform(0.2, 2.5)), 0.05)
                    energy = r2(rng.uniform(0, 0.5) * B)
                    trip = {"vehicle_id": vid, "departure": at(dep), "arrival": at(arr), "energy_kwh": energy}
                    if rng.random() < 0.3:
                        trip["departure_soc"] = r2(rng.uniform(min(energy / B + 0.01, max_soc), max_soc))
                    trip["trip_id"] = f"t{k}"
                    trips.append(trip)
                    t = arr + 0.1
        vehicles.append(veh)
    for tr in trips:
        tr.setdefault("departure_soc", np.nan)
    return write_scenario(
        folder,
        vehicles=vehicles,
        trips=trips if trips else None,
        sessions=sessions if sessions else None,
        horizon_hours=hours,
        step_minutes=step,
    )


@pytest.mark.parametrize("seed", range(N_FLEETS))
def test_every_profile_inside_is_delivered(tmp_path, seed):
    """Profiles inside the envelope of a random fleet (edges, random, bang-bang) are delivered with every rule kept."""
    sc = gridopt.load_scenario(random_fleet(tmp_path, seed))
    env = flexibility(sc)
    inner, outer = env.inner, env.outer
    tol = 1e-6
    assert (inner["p_min_kw"] <= inner["p_max_kw"] + tol).all()
    assert (inner["e_min_kwh"] <= inner["e_max_kwh"] + tol).all()
    assert (inner["p_min_kw"] >= outer["p_min_kw"] - tol).all() and (inner["p_max_kw"] <= outer["p_max_kw"] + tol).all()
    assert (inner["e_min_kwh"] >= outer["e_min_kwh"] - tol).all()
    assert (inner["e_max_kwh"] <= outer["e_max_kwh"] + tol).all()
    assert 0.0 <= env.tightness <= 1.0 + 1e-12
    rng = np.random.default_rng(1000 + seed)
    for prof in profiles_inside(env, rng, N_PROFILES):
        plan = deliver(sc, env, prof)
        unmet = plan.unmet["unmet_kwh"].to_numpy()
        assert unmet.sum() <= env.best_effort_shortfall_kwh + 1e-6  # only what is out of physical reach


# ---------------------------------------------------------------------------
# shipped scenarios, privacy, files, errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenarios(path):
    sc = gridopt.load_scenario(path)
    if sc.chargers is not None:  # caltech_acn_network: refused, not promised (no charger or circuit in the bands)
        with pytest.raises(gridopt.ScenarioError, match="does not model site.chargers"):
            flexibility(sc)
        return
    env = flexibility(sc)
    assert 0.0 < env.tightness <= 1.0
    assert env.inner.index.equals(sc.grid.index) and env.inner.index.tz is not None
    for prof in profiles_inside(env, np.random.default_rng(7), 3):
        deliver(sc, env, prof)


def test_envelope_holds_no_vehicle_data(tmp_path):
    path = random_fleet(tmp_path / "sc", 5)
    sc = gridopt.load_scenario(path)
    env = flexibility(sc)
    assert {f.name for f in dataclasses.fields(Envelope)} == {
        "inner",
        "outer",
        "tightness",
        "power_tightness",
        "method",
        "step_minutes",
        "n_vehicles",
        "best_effort_requirements",
        "best_effort_shortfall_kwh",
    }
    written = write_envelope(env, tmp_path / "out")
    assert sorted(p.name for p in written) == ["envelope.csv", "envelope.json", "envelope_outer.csv"]
    text = "".join(p.read_text() for p in written)
    for vid in sc.vehicles.index:
        assert vid not in text
    assert "CAR-" not in text
    summary = json.loads((tmp_path / "out" / "envelope.json").read_text())
    assert set(summary) == {
        "method",
        "tightness",
        "power_tightness",
        "horizon_start",
        "horizon_end",
        "step_minutes",
        "n_steps",
        "n_vehicles",
        "best_effort_requirements",
        "best_effort_shortfall_kwh",
    }
    band = pd.read_csv(tmp_path / "out" / "envelope.csv")
    assert list(band.columns) == ["time", "p_min_kw", "p_max_kw", "e_min_kwh", "e_max_kwh"]
    assert band["time"].iloc[0] == sc.grid.index[0].isoformat()  # ISO 8601 with offset
    np.testing.assert_allclose(band["p_max_kw"], env.inner["p_max_kw"], rtol=1e-5, atol=1e-6)


def test_flex_command(tmp_path, capsys):
    path = write_scenario(tmp_path / "sc", vehicles=[car("EV1")], sessions=[session("EV1", 0, 4, 0.5, 0.7)])
    assert run_flex_cli(path, tmp_path / "out", quiet=False) == 0
    out = capsys.readouterr().out
    assert "tightness" in out and "EV1" not in out
    assert (tmp_path / "out" / "envelope_outer.csv").exists()
    assert run_flex_cli(path, tmp_path / "out2", quiet=True) == 0
    assert capsys.readouterr().out == ""
    (tmp_path / "afile").write_text("x")
    with pytest.raises(gridopt.ScenarioError, match="not a folder"):
        run_flex_cli(path, tmp_path / "afile", quiet=True)
    with pytest.raises(gridopt.ScenarioError):
        run_flex_cli(tmp_path / "missing.yaml", tmp_path / "out3", quiet=True)


def test_profile_outside_is_refused_with_the_step(tmp_path):
    sc = gridopt.load_scenario(
        write_scenario(tmp_path, vehicles=[car("EV1")], sessions=[session("EV1", 0, 4, 0.5, 0.7)])
    )
    env = flexibility(sc)
    with pytest.raises(gridopt.ScenarioError, match=r"01:00:00\+02:00 .*above p_max_kw 5"):
        disaggregate(sc, env, [10, 6, 0, 10])
    with pytest.raises(gridopt.ScenarioError, match=r"03:00:00\+02:00 .*below p_min_kw 10"):
        disaggregate(sc, None, [0, 0, 0, 9])
    with pytest.raises(gridopt.ScenarioError, match="3 values for 4 steps"):
        disaggregate(sc, env, [0, 0, 10])
    other = gridopt.load_scenario(
        write_scenario(tmp_path / "b", vehicles=[car("EV1")], sessions=[session("EV1", 0, 4, 0.5, 0.6)])
    )
    with pytest.raises(gridopt.ScenarioError, match="not the flexibility envelope of this scenario"):
        disaggregate(sc, flexibility(other), [0, 0, 0, 10])
    with pytest.raises(gridopt.ScenarioError, match="unknown method"):
        flexibility(sc, method="zonotope")


def test_verify_catches_a_broken_plan(tmp_path):
    """The independent check is not vacuous: a plan pushed past the band is caught."""
    sc = gridopt.load_scenario(
        write_scenario(tmp_path, vehicles=[car("EV1")], sessions=[session("EV1", 0, 4, 0.5, 0.7)])
    )
    env = flexibility(sc)
    plan = disaggregate(sc, env, [0, 0, 0, 10])
    broken = plan.schedule.copy()
    broken.loc[3, "charge_kw"] = 5.0  # short of the target, and the SoC no longer replays
    problems = verify(sc, dataclasses.replace(plan, schedule=broken))
    assert any("needs 35.000 kWh" in m for m in problems)
    assert any("deliver" in m for m in problems)
