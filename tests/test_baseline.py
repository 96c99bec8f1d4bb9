"""The like-for-like uncontrolled baseline, the charge-to-full reference and cost per kWh stored (issue 9).

Values in the docstrings are worked out by hand.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import car, write_scenario

import gridopt
from gridopt import analysis, report
from gridopt.check import check_schedule
from gridopt.cli import main
from gridopt.fleet import build_fleet_plan
from gridopt.optimizer import uncontrolled
from gridopt.optimizer.baseline import segment_targets_kwh
from gridopt.optimizer.reach import reachable_kwh

START = pd.Timestamp("2026-06-15T00:00:00+02:00")


def at(hours: float) -> str:
    return (START + pd.Timedelta(hours=hours)).isoformat()


def prices(values) -> pd.DataFrame:
    return pd.DataFrame(
        {"time": [(START + pd.Timedelta(hours=i)).isoformat() for i in range(len(values))], "import_price": values}
    )


def powers(schedule: pd.DataFrame, vid: str, col: str = "charge_kw") -> np.ndarray:
    return schedule.loc[schedule["vehicle_id"] == vid, col].to_numpy(float)


# ---------------------------------------------------------------------------
# One vehicle needing 10 kWh with 50 kWh of room
# ---------------------------------------------------------------------------

TEN_KWH_PRICES = [0.4, 0.3, 0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2]


def ten_kwh_need(folder, **car_kw):
    """100 kWh, SoC 20 kWh = min_soc, max_soc 70 kWh (50 kWh of room), 10 kW at 0.8 (8 kWh per hour);
    a 10 kWh trip leaves at 08:00 and is back after the 10 h horizon: it needs 20 + 10 = 30 kWh."""
    vehicle = car("V", battery_kwh=100, initial_soc=0.2, min_soc=0.2, max_soc=0.7, charge_efficiency=0.8)
    vehicle.update(car_kw)
    path = write_scenario(
        folder,
        vehicles=[vehicle],
        trips=[{"vehicle_id": "V", "departure": at(8), "arrival": at(12), "energy_kwh": 10}],
        timeseries=prices(TEN_KWH_PRICES),
        horizon_hours=10,
    )
    return gridopt.load_scenario(path)


def test_baseline_charges_exactly_the_need_from_plug_in_and_the_full_reference_to_max_soc(tmp_path):
    """Baseline: 10 kWh stored = 12.5 kWh from the grid: 10 kW at 00:00 (8 kWh), 2.5 kW at 01:00 (2 kWh).
    Cost 10 * 0.4 + 2.5 * 0.3 = 4.75, per kWh stored 4.75 / 10 = 0.475.
    Full reference: 50 kWh = 62.5 kWh from the grid: 10 kW for 6 h (48 kWh), 2.5 kW at 06:00 (2 kWh).
    Cost 10 * (0.4 + 0.3 + 4 * 0.1) + 2.5 * 0.2 = 11.5, per kWh stored 11.5 / 50 = 0.23.
    Plan: 12.5 kWh in the 0.1 hours: 1.25, per kWh 0.125.
    Savings against the baseline 4.75 - 1.25 = 3.5 (73.68%), 0.475 - 0.125 = 0.35 per kWh;
    against the full reference 11.5 - 1.25 = 10.25."""
    sc = ten_kwh_need(tmp_path / "sc")
    res = gridopt.optimize(sc, gridopt.SolverOptions(time_limit_s=30, mip_rel_gap=1e-9))
    s = res.summary
    np.testing.assert_allclose(powers(res.baseline_schedule, "V"), [10, 2.5, 0, 0, 0, 0, 0, 0, 0, 0], atol=1e-9)
    full, _, full_unmet = uncontrolled(sc, until="max_soc")
    np.testing.assert_allclose(powers(full, "V"), [10, 10, 10, 10, 10, 10, 2.5, 0, 0, 0], atol=1e-9)
    assert powers(full, "V", "soc_kwh")[7] == pytest.approx(70.0)  # max_soc
    assert full_unmet["unmet_kwh"].sum() == 0.0

    b, f = s["baseline"], s["reference_full"]
    assert b["name"] == "uncontrolled_until_met" and f["name"] == "uncontrolled_to_full"
    assert b["energy_delivered_kwh"] == pytest.approx(12.5) and b["energy_to_batteries_kwh"] == pytest.approx(10.0)
    assert b["unmet_energy_kwh"] == 0.0
    assert b["total_cost"] == pytest.approx(4.75) and b["cost_per_kwh_delivered"] == pytest.approx(0.475)
    assert f["energy_delivered_kwh"] == pytest.approx(62.5) and f["energy_to_batteries_kwh"] == pytest.approx(50.0)
    assert f["total_cost"] == pytest.approx(11.5) and f["cost_per_kwh_delivered"] == pytest.approx(0.23)
    assert s["total_cost"] == pytest.approx(1.25, abs=1e-6)
    assert s["cost_per_kwh_delivered"] == pytest.approx(0.125, abs=1e-6)
    assert s["savings"]["total_cost"] == pytest.approx(3.5, abs=1e-6)
    assert s["savings"]["total_cost_percent"] == pytest.approx(100 * 3.5 / 4.75, abs=1e-6)
    assert s["savings"]["cost_per_kwh_delivered"] == pytest.approx(0.35, abs=1e-6)
    assert s["savings_vs_reference_full"]["total_cost"] == pytest.approx(10.25, abs=1e-6)


@pytest.mark.parametrize(
    ("min_charge_kw", "need_kwh", "expected_kw"),
    [
        # rest 2.5 kW >= 2 kW: as without a minimum
        (2.0, 10.0, [10, 2.5, 0]),
        # rest 2.5 kW < 4 kW: 1.5 kW moves off the full step, 8.5 + 4 kW = 12.5 kWh from the grid, 10 stored
        (4.0, 10.0, [8.5, 4.0, 0]),
        # rest 2.5 kW < 8 kW, and the full step less 5.5 kW is below 8 kW: no shift; 8 kW after the full
        # step stores 8 + 6.4 = 14.4 kWh
        # (4.4 kWh above the need, within max_soc)
        (8.0, 10.0, [10, 8.0, 0]),
        # 2 kWh = 2.5 kW < 4 kW in the first step, no step before: 4 kW, 3.2 kWh stored
        (4.0, 2.0, [4.0, 0, 0]),
    ],
)
def test_minimum_power_is_met_and_the_need_exactly_where_possible(tmp_path, min_charge_kw, need_kwh, expected_kw):
    """10 kW at 0.8 (8 kWh per full hour), from min_soc (20 kWh): a trip of need_kwh at 03:00 needs need_kwh."""
    vehicle = car("V", battery_kwh=100, initial_soc=0.2, min_soc=0.2, max_soc=0.7, charge_efficiency=0.8)
    vehicle["min_charge_kw"] = min_charge_kw
    path = write_scenario(
        tmp_path / "sc",
        vehicles=[vehicle],
        trips=[{"vehicle_id": "V", "departure": at(3), "arrival": at(5), "energy_kwh": need_kwh}],
        horizon_hours=4,
    )
    sc = gridopt.load_scenario(path)
    sched, site, unmet = uncontrolled(sc, until="requirement")
    np.testing.assert_allclose(powers(sched, "V")[:3], expected_kw, atol=1e-9)
    assert unmet["unmet_kwh"].sum() == 0.0
    assert check_schedule(sc, sched, site, unmet, site_limits=False) == []


def test_full_reference_keeps_the_old_minimum_power_rule(tmp_path):
    """To full, what is left below min_charge_kw is not charged (it would pass max_soc):
    room 50 kWh at 8 kWh per hour: 6 full hours (48 kWh), the 2.5 kW rest < 4 kW is dropped."""
    sc = ten_kwh_need(tmp_path / "sc", min_charge_kw=4.0)
    full, _, _ = uncontrolled(sc, until="max_soc")
    np.testing.assert_allclose(powers(full, "V")[:8], [10, 10, 10, 10, 10, 10, 0, 0], atol=1e-9)


# ---------------------------------------------------------------------------
# A trip vehicle with two plug-in segments, and one without any requirement
# ---------------------------------------------------------------------------


def two_trips(folder, **car_kw):
    """50 kWh, empty, 10 kW at 1.0, min_soc 0. Trip A 03:00-04:00 takes 15 kWh, trip B 05:00-06:00
    takes 20 kWh; 8 h horizon. Segments: 00-03 (3 h, needs 15 for A), 04-05 (1 h, needs 20 for B,
    can add 10), 06-08 (2 h, nothing required unless final_soc)."""
    trips = [
        {"vehicle_id": "V", "trip_id": "A", "departure": at(3), "arrival": at(4), "energy_kwh": 15},
        {"vehicle_id": "V", "trip_id": "B", "departure": at(5), "arrival": at(6), "energy_kwh": 20},
    ]
    path = write_scenario(folder, vehicles=[car("V", initial_soc=0.0, **car_kw)], trips=trips, horizon_hours=8)
    return gridopt.load_scenario(path)


def test_a_short_stop_is_charged_for_before_the_trip_ahead_of_it(tmp_path):
    """The 1 h stop can add 10 kWh but trip B needs 20, so the first stop charges 20 - 10 + 15 = 25 kWh:
    10, 10, 5 kW; back from A with 10 kWh, the stop charges 10 kW to 20 kWh; B leaves with 20.
    The last stay has no requirement and charges nothing. (Only the stop's own need, 15 kWh, would leave
    B 10 kWh short.)"""
    sc = two_trips(tmp_path / "sc")
    plan = build_fleet_plan(sc)
    np.testing.assert_allclose(segment_targets_kwh(sc, plan), [25.0, 20.0, np.nan])
    sched, site, unmet = uncontrolled(sc, plan, until="requirement")
    np.testing.assert_allclose(powers(sched, "V"), [10, 10, 5, 0, 10, 0, 0, 0], atol=1e-9)
    assert unmet["unmet_kwh"].tolist() == [0.0, 0.0]
    assert check_schedule(sc, sched, site, unmet, site_limits=False) == []
    # to full: 30 kWh by 03:00, back with 15, 25 at 05:00, back with 5, then 25 more by 08:00
    full, _, full_unmet = uncontrolled(sc, plan, until="max_soc")
    np.testing.assert_allclose(powers(full, "V"), [10, 10, 10, 0, 10, 0, 10, 10], atol=1e-9)
    assert full_unmet["unmet_kwh"].tolist() == [0.0, 0.0]


def test_final_soc_is_the_last_stays_requirement(tmp_path):
    """As above with final_soc 0.3 (15 kWh): back from B with 0, the last stay charges 10 then 5 kW."""
    sc = two_trips(tmp_path / "sc", final_soc=0.3)
    sched, _, unmet = uncontrolled(sc, until="requirement")
    np.testing.assert_allclose(powers(sched, "V"), [10, 10, 5, 0, 10, 0, 10, 5], atol=1e-9)
    assert unmet["unmet_kwh"].tolist() == [0.0, 0.0, 0.0]


def test_a_shortfall_is_carried_as_in_the_model(tmp_path):
    """A stop too short for its own need: trip A needs 40 kWh, 3 h at 10 kW give 30: 10 kWh unmet. As in
    the model the shortfall counts as supplied elsewhere: back with max(30, 40) - 40 = 0 kWh, then the last
    stay charges 10 kWh for final_soc 0.2."""
    trips = [{"vehicle_id": "V", "trip_id": "A", "departure": at(3), "arrival": at(4), "energy_kwh": 40}]
    path = write_scenario(
        tmp_path / "sc", vehicles=[car("V", initial_soc=0.0, final_soc=0.2)], trips=trips, horizon_hours=6
    )
    sc = gridopt.load_scenario(path)
    sched, _, unmet = uncontrolled(sc, until="requirement")
    np.testing.assert_allclose(powers(sched, "V"), [10, 10, 10, 0, 10, 0], atol=1e-9)
    np.testing.assert_allclose(unmet["unmet_kwh"], [10.0, 0.0], atol=1e-9)


def test_no_requirement_no_charging_and_no_cost_per_kwh(tmp_path):
    """A car with no trip, session or final_soc: the baseline charges nothing; nothing is stored, so
    there is no cost per kWh (None), for the plan and the baseline alike; the full reference charges
    25 kWh (50% -> 100%) and costs 0.2 per kWh stored (flat price, efficiency 1)."""
    path = write_scenario(tmp_path / "sc", vehicles=[car("V")])
    sc = gridopt.load_scenario(path)
    res = gridopt.optimize(sc)
    s = res.summary
    assert res.baseline_schedule["charge_kw"].abs().max() == 0.0
    assert s["baseline"]["energy_to_batteries_kwh"] == 0.0 and s["baseline"]["cost_per_kwh_delivered"] is None
    assert s["cost_per_kwh_delivered"] is None and s["savings"]["cost_per_kwh_delivered"] is None
    assert s["reference_full"]["energy_to_batteries_kwh"] == pytest.approx(25.0)
    assert s["reference_full"]["cost_per_kwh_delivered"] == pytest.approx(0.2)


def test_energy_to_batteries_counts_losses_and_v2g(tmp_path):
    """Charge efficiency 0.9, discharge 0.8: 10 kW for 1 h stores 9 kWh; 4 kW discharged for 1 h takes
    4 / 0.8 = 5 kWh out: 4 kWh net. A total cost of 2.0 is then 0.5 per kWh stored."""
    path = write_scenario(
        tmp_path / "sc",
        vehicles=[car("V", max_discharge_kw=10, charge_efficiency=0.9, discharge_efficiency=0.8)],
    )
    sc = gridopt.load_scenario(path)
    schedule = pd.DataFrame({"vehicle_id": ["V"] * 4, "charge_kw": [10.0, 0, 0, 0], "discharge_kw": [0, 0, 4.0, 0]})
    stored = analysis.energy_to_batteries_kwh(sc, schedule)
    assert stored == pytest.approx(4.0)
    assert analysis.cost_per_kwh(2.0, stored) == pytest.approx(0.5)
    assert analysis.cost_per_kwh(2.0, 0.0) is None and analysis.cost_per_kwh(2.0, -3.0) is None
    with pytest.raises(ValueError, match="not in the scenario"):
        analysis.energy_to_batteries_kwh(sc, schedule.assign(vehicle_id="X"))


# ---------------------------------------------------------------------------
# Random fleets on trips: an independent bound (reach.py)
# ---------------------------------------------------------------------------


def random_trip_fleet(folder, seed: int, n: int = 40, min_charge: bool = False):
    """n vehicles, 0-4 trips each over 24 h of 30-min steps, random SoC, limits and efficiencies."""
    rng = np.random.default_rng(seed)
    vehicles, trips = [], []
    for i in range(n):
        vid = f"V{i:02d}"
        B = float(rng.choice([40, 60, 80]))
        pmax = float(rng.choice([3.7, 7.4, 11.0, 22.0]))
        d = car(
            vid,
            battery_kwh=B,
            max_charge_kw=pmax,
            min_soc=float(rng.choice([0.0, 0.1, 0.2])),
            max_soc=float(rng.choice([0.8, 0.9, 1.0])),
            initial_soc=float(rng.uniform(0.05, 0.9)),
            charge_efficiency=float(rng.uniform(0.85, 1.0)),
        )
        d["min_charge_kw"] = float(rng.uniform(0.5, 0.45 * pmax)) if min_charge else 0.0
        d["final_soc"] = float(rng.uniform(0.2, 0.8)) if rng.random() < 0.5 else np.nan
        vehicles.append(d)
        t = float(rng.uniform(0, 4))
        for k in range(int(rng.integers(0, 5))):
            dep = round(t * 2) / 2 + 0.5
            arr = dep + float(rng.choice([0.5, 1.0, 2.0, 4.0]))
            if dep >= 24:
                break
            trips.append(
                {
                    "vehicle_id": vid,
                    "trip_id": f"{vid}-{k}",
                    "departure": at(dep),
                    "arrival": at(arr),
                    "energy_kwh": float(rng.uniform(2, 0.6 * B)),
                }
            )
            t = arr + float(rng.choice([0.5, 1.0, 2.0, 3.0]))
    path = write_scenario(
        folder,
        vehicles=vehicles,
        trips=trips,
        horizon_hours=24,
        step_minutes=30,
        fleet={"vehicles": "vehicles.csv", "trips": "trips.csv", "max_share_outside_horizon": 1.0},
    )
    return gridopt.load_scenario(path)


@pytest.mark.parametrize("seed", range(6))
def test_random_fleets_baseline_leaves_unmet_only_what_full_power_cannot_reach(tmp_path, seed):
    """Without a minimum power, every need the baseline leaves unmet is physically unreachable by
    reach.py's own bound (full power from each plug-in, capped at max_soc), and so for the full
    reference; the baseline never holds more than the full reference; both pass the physics check."""
    sc = random_trip_fleet(tmp_path / "sc", seed)
    plan = build_fleet_plan(sc)
    assert len(plan.requirements) > 20
    reach = reachable_kwh(sc, plan)
    required = plan.requirements["required_kwh"].to_numpy(float)
    base_sched, base_site, base_unmet = uncontrolled(sc, plan, until="requirement")
    full_sched, full_site, full_unmet = uncontrolled(sc, plan, until="max_soc")
    for sched, site, unmet in ((base_sched, base_site, base_unmet), (full_sched, full_site, full_unmet)):
        assert check_schedule(sc, sched, site, unmet, site_limits=False) == []
        short = unmet["unmet_kwh"].to_numpy() > 1e-6
        assert (reach[short] < required[short] - 1e-6).all()
    b_soc, f_soc = base_sched["soc_kwh"].to_numpy(), full_sched["soc_kwh"].to_numpy()
    both = ~np.isnan(b_soc)
    assert (np.isnan(f_soc) == ~both).all() and (b_soc[both] <= f_soc[both] + 1e-9).all()
    assert base_site["ev_charge_kw"].sum() < full_site["ev_charge_kw"].sum()


@pytest.mark.parametrize("seed", range(3))
def test_random_fleets_with_minimum_power_pass_the_check(tmp_path, seed):
    sc = random_trip_fleet(tmp_path / "sc", seed, min_charge=True)
    for until in ("requirement", "max_soc"):
        sched, site, unmet = uncontrolled(sc, until=until)
        assert check_schedule(sc, sched, site, unmet, site_limits=False) == []


# ---------------------------------------------------------------------------
# summary.json and the terminal
# ---------------------------------------------------------------------------


def test_summary_json_and_the_terminal_carry_both_references(tmp_path, capsys):
    sc_dir = tmp_path / "sc"
    ten_kwh_need(sc_dir)
    assert main(["run", str(sc_dir / "scenario.yaml"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["baseline"]["name"] == "uncontrolled_until_met"
    assert s["reference_full"]["name"] == "uncontrolled_to_full"
    for k in (s, s["baseline"], s["reference_full"]):
        assert k["cost_per_kwh_delivered"] == pytest.approx(k["total_cost"] / k["energy_to_batteries_kwh"])
    assert "cost per kWh      0.125/kWh stored (10.0 kWh into the batteries)" in out
    assert "vs uncontrolled   charging until each need is met: cost 4.75 (0.475/kWh), saving 3.50 (73.7%)" in out
    assert "charge to full    (not like for like: 50.0 kWh stored) cost 11.50 (0.230/kWh)" in out


def test_no_baseline_means_no_references(tmp_path):
    sc = ten_kwh_need(tmp_path / "sc")
    s = gridopt.optimize(sc, baseline=False).summary
    assert not {"baseline", "reference_full", "savings", "savings_vs_reference_full"} & set(s)
    assert s["cost_per_kwh_delivered"] == pytest.approx(0.125, abs=1e-6)


def test_the_app_shows_cost_per_kwh_with_three_decimals():
    k = report.KPI_BY_KEY["cost_per_kwh_delivered"]
    assert report.label_with_unit(k) == "Cost per kWh"
    assert report.fmt_value(k, 0.29841) == "0.298"
    assert report.fmt_delta(k, -0.0931) == "-0.093"
    assert report.fmt_value(k, None) == "–"
    assert report.verdict(k, -0.01) == "better"
