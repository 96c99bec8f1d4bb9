"""Scenario edits: pure config and table edits, and apply_edits through the file checks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gridopt
from gridopt.edit import (
    Edits,
    apply_edits,
    current_edits,
    describe_changes,
    merge_prices,
    parse_tou,
    scale_fleet,
    set_grid_limits,
    set_price,
    set_pv,
    set_v2g_share,
    spread,
    tou_from_series,
    tou_text,
)
from gridopt.errors import ScenarioError
from gridopt.fingerprint import scenario_fingerprint
from gridopt.io.read import read_table

ROOT = Path(__file__).resolve().parents[1]
SCEN = ROOT / "scenarios"


@pytest.fixture(scope="module")
def depot():
    return gridopt.load_scenario(SCEN / "depot_bus_v2g.yaml")


@pytest.fixture(scope="module")
def acn():
    return gridopt.load_scenario(SCEN / "workplace_acn.yaml")


@pytest.fixture(scope="module")
def pv_site():
    return gridopt.load_scenario(SCEN / "pv_tight_grid.yaml")


def raw(text: str) -> pd.DataFrame:
    """A raw table as gridopt reads it (text cells, NaN for blanks, index = file line)."""
    rows = [line.split(",") for line in text.strip().splitlines()]
    df = pd.DataFrame(rows[1:], columns=rows[0], dtype=object).replace("", np.nan)
    df.index = np.arange(len(df)) + 2
    return df


VEHICLES = raw(
    """vehicle_id,battery_kwh,max_charge_kw,max_discharge_kw,min_soc,initial_soc
A,50,10,0,0.1,0.5
B,60,11,11,0.1,0.5
C,70,22,0,0.1,0.5
D,80,7.4,0,0.1,0.5"""
)
TRIPS = raw(
    """vehicle_id,departure,arrival,energy_kwh,trip_id
A,2026-06-15T08:00:00+02:00,2026-06-15T12:00:00+02:00,10,A-1
B,2026-06-15T09:00:00+02:00,2026-06-15T13:00:00+02:00,12,B-1
B,2026-06-15T14:00:00+02:00,2026-06-15T16:00:00+02:00,5,B-2
D,2026-06-15T07:00:00+02:00,2026-06-15T09:00:00+02:00,8,D-1"""
)


# --- config edits -----------------------------------------------------------


def test_grid_limits_remove_or_set_the_import_limit_and_leave_the_input_alone():
    cfg = {"site": {"import_limit_kw": 400.0, "base_load_kw": 5.0}}
    assert set_grid_limits(cfg, None, 50) == {"site": {"base_load_kw": 5.0, "export_limit_kw": 50.0}}
    assert set_grid_limits(cfg, 300, 0)["site"]["import_limit_kw"] == 300.0
    assert cfg == {"site": {"import_limit_kw": 400.0, "base_load_kw": 5.0}}


def test_pv_block_is_resized_keeping_the_inverter_ratio_removed_at_zero_and_needs_a_location_to_add():
    cfg = {"pv": {"latitude": 52.0, "longitude": 5.0, "peak_kw": 100.0, "inverter_kw": 80.0}}
    out = set_pv(cfg, 150, 30, 200)
    assert out["pv"] == {
        "latitude": 52.0,
        "longitude": 5.0,
        "peak_kw": 150.0,
        "inverter_kw": 120.0,
        "tilt_deg": 30.0,
        "azimuth_deg": 200.0,
    }
    assert "pv" not in set_pv(cfg, 0, 30, 200)
    with pytest.raises(ScenarioError, match="latitude and longitude"):
        set_pv({}, 50, 20, 180)
    assert set_pv({}, 50, 20, 180, 40.0, -3.7)["pv"]["latitude"] == 40.0


def test_a_new_import_price_replaces_a_tariff_file():
    cfg = {"tariff": {"tariff_file": "t.json", "export_price": 0.0}}
    out = set_price(cfg, "import_price", {"00:00": 0.1, "17:00": 0.3})
    assert out["tariff"] == {"export_price": 0.0, "import_price": {"00:00": 0.1, "17:00": 0.3}}
    assert set_price(cfg, "export_price", 0.05)["tariff"]["tariff_file"] == "t.json"


def test_tou_text_parses_separators_and_names_the_bad_line():
    assert parse_tou("# peak in the evening\n00:00 0.10\n16:00;0.40\n\n21:00,\t0.1") == {
        "00:00": 0.1,
        "16:00": 0.4,
        "21:00": 0.1,
    }
    assert parse_tou(tou_text({"07:00": 0.2, "00:00": 0.1})) == {"00:00": 0.1, "07:00": 0.2}
    for text, msg in [
        ("00:00 0.1\n7 o'clock 0.2", "line 2: .* is not 'HH:MM price'"),
        ("25:00 0.1", "line 1: '25:00' is not a time of day"),
        ("00:00 0.1\n00:00 0.2", "line 2: 00:00 is given twice"),
        ("00:00 abc", "line 1"),
        ("", "no 'HH:MM price' lines"),
    ]:
        with pytest.raises(ScenarioError, match=msg):
            parse_tou(text)


def test_tou_from_a_price_series_keeps_only_the_changes_of_the_first_day():
    idx = pd.date_range("2026-06-15", periods=96 * 2, freq="15min", tz="Europe/Amsterdam")
    price = pd.Series(np.where((idx.hour >= 17) & (idx.hour < 21), 0.4, 0.1), index=idx)
    assert tou_from_series(price) == {"00:00": 0.1, "17:00": 0.4, "21:00": 0.1}


# --- table edits ------------------------------------------------------------


def test_spread_picks_evenly():
    assert spread(10, 3).tolist() == [1, 5, 8]
    assert spread(4, 4).tolist() == [0, 1, 2, 3]
    assert spread(5, 0).tolist() == []


def test_a_smaller_fleet_keeps_an_even_spread_with_their_trips():
    v, t, s = scale_fleet(VEHICLES, TRIPS, None, 2)
    assert v["vehicle_id"].tolist() == ["B", "D"]
    assert t["trip_id"].tolist() == ["B-1", "B-2", "D-1"] and s is None
    assert v.index.tolist() == [2, 3]


def test_a_larger_fleet_is_copies_with_the_same_trips():
    v, t, _ = scale_fleet(VEHICLES, TRIPS, None, 10)
    ids = v["vehicle_id"].tolist()
    assert ids[:4] == ["A", "B", "C", "D"] and ids[4:8] == ["A#2", "B#2", "C#2", "D#2"]
    assert ids[8:] == ["B#3", "D#3"]  # the extra two spread evenly
    assert len(set(ids)) == 10
    assert t[t["vehicle_id"] == "B#3"]["trip_id"].tolist() == ["B-1", "B-2"]
    assert len(t) == 4 * 2 + 2 + 1  # two full copies, plus B (2 trips) and D (1 trip)
    assert v.loc[v["vehicle_id"] == "C#2", "battery_kwh"].item() == "70"


def test_fleet_size_must_be_a_whole_positive_number():
    for n in (0, -1, 2.5):
        with pytest.raises(ScenarioError, match="fleet size"):
            scale_fleet(VEHICLES, TRIPS, None, n)


@pytest.mark.parametrize("share, n_v2g", [(0.0, 0), (0.25, 1), (0.5, 2), (1.0, 4)])
def test_v2g_share_sets_that_many_bidirectional_vehicles(share, n_v2g):
    out = set_v2g_share(VEHICLES, share)
    dis = pd.to_numeric(out["max_discharge_kw"])
    assert int((dis > 0).sum()) == n_v2g
    if n_v2g >= 1:
        assert dis[out["vehicle_id"] == "B"].item() == 11  # an existing V2G vehicle stays as it is
    new = (dis > 0) & (out["vehicle_id"] != "B")
    assert (dis[new] == pd.to_numeric(out["max_charge_kw"])[new]).all()  # new ones discharge at charging power
    assert out["battery_kwh"].tolist() == VEHICLES["battery_kwh"].tolist()


def test_v2g_share_outside_0_1_is_rejected():
    with pytest.raises(ScenarioError, match="V2G share"):
        set_v2g_share(VEHICLES, 1.5)


def test_hourly_prices_merge_with_a_15_minute_series_as_steps():
    ts = raw(
        "time,base_load_kw,import_price\n"
        + "\n".join(f"2026-06-15T00:{m:02d}:00+02:00,{10 + i},0.9" for i, m in enumerate((0, 15, 30, 45)))
        + "\n"
        + "\n".join(f"2026-06-15T01:{m:02d}:00+02:00,{20 + i},0.9" for i, m in enumerate((0, 15, 30, 45)))
    )
    prices = raw("time,import_price\n2026-06-15T00:00:00+02:00,0.1\n2026-06-15T01:00:00+02:00,0.2")
    out = merge_prices(ts, prices, "Europe/Amsterdam")
    assert out.columns.tolist() == ["time", "base_load_kw", "import_price"]
    assert len(out) == 8
    assert out["import_price"].astype(float).tolist() == [0.1] * 4 + [0.2] * 4
    assert out["base_load_kw"].astype(float).tolist() == [10, 11, 12, 13, 20, 21, 22, 23]


# --- apply_edits: through the same checks as files --------------------------


def test_no_edit_gives_back_the_scenario(depot, tmp_path):
    same = apply_edits(depot, current_edits(depot), tmp_path)
    assert scenario_fingerprint(same) == scenario_fingerprint(depot)
    assert same.base_dir == depot.base_dir
    assert not any(tmp_path.iterdir())  # nothing written


def test_config_edits_change_the_scenario(depot, tmp_path):
    e = dataclasses.replace(
        current_edits(depot),
        import_limit_kw=800.0,
        export_limit_kw=0.0,
        demand_charge_per_kw=10.0,
        battery_degradation_cost_per_kwh=0.1,
        horizon_hours=12.0,
        step_minutes=30,
        time_limit_s=7.0,
    )
    sc = apply_edits(depot, e, tmp_path)
    assert (sc.import_limit_kw, sc.export_limit_kw, sc.demand_charge_per_kw) == (800.0, 0.0, 10.0)
    assert sc.battery_degradation_cost_per_kwh == 0.1 and sc.solver.time_limit_s == 7.0
    assert (sc.grid.n_steps, sc.grid.step_minutes) == (24, 30)
    assert describe_changes(current_edits(depot), e) == [
        "import limit 800 kW",
        "export limit 0 kW",
        "demand charge 10 per kW",
        "degradation 0.1 per kWh",
        "12 h in 30-min steps",
        "time limit 7 s",
    ]


def test_bad_edits_get_the_messages_files_get(depot, tmp_path):
    base = current_edits(depot)
    with pytest.raises(ScenarioError, match=r"depot-bus-v2g \(edited\): field 'site.import_limit_kw'"):
        apply_edits(depot, dataclasses.replace(base, import_limit_kw=-5.0), tmp_path)
    with pytest.raises(ScenarioError, match="not a whole number of 45-minute steps"):
        apply_edits(depot, dataclasses.replace(base, horizon_hours=1.0, step_minutes=45), tmp_path)
    with pytest.raises(ScenarioError, match=r"timeseries.csv.*horizon|horizon.*timeseries.csv"):
        apply_edits(depot, dataclasses.replace(base, horizon_hours=48.0), tmp_path)


def test_a_constant_price_replaces_the_day_ahead_column(depot, tmp_path):
    e = dataclasses.replace(current_edits(depot), import_price=0.25, export_price=0.05)
    sc = apply_edits(depot, e, tmp_path)
    assert (sc.series["import_price"] == 0.25).all() and (sc.series["export_price"] == 0.05).all()
    assert sc.warnings == ()  # the column is gone, so nothing is overridden
    assert (sc.series["base_load_kw"] == depot.series["base_load_kw"]).all()
    assert Path(sc.base_dir).parent == tmp_path  # edited tables live in the work folder


def test_a_tou_price_on_a_tariff_file_scenario_keeps_its_demand_charge(acn, tmp_path):
    e = dataclasses.replace(current_edits(acn), import_price={"00:00": 0.1, "16:00": 0.4, "21:00": 0.1})
    sc = apply_edits(acn, e, tmp_path)
    assert sc.demand_charge_per_kw == acn.demand_charge_per_kw > 0
    assert "tariff_file" not in sc.config["tariff"]
    hours = sc.series.index.hour
    assert (sc.series["import_price"][(hours >= 16) & (hours < 21)] == 0.4).all()


def test_day_ahead_prices_from_a_csv(acn, tmp_path):
    rows = "\n".join(f"2019-10-02T{h:02d}:00:00-07:00,{0.05 + h / 100:.2f}" for h in range(24))
    e = dataclasses.replace(current_edits(acn), price_csv="time,import_price\n" + rows, price_csv_name="caiso.csv")
    sc = apply_edits(acn, e, tmp_path)
    assert sc.series["import_price"].iloc[0] == 0.05 and sc.series["import_price"].iloc[-1] == 0.28
    assert (sc.series["base_load_kw"] == acn.series["base_load_kw"]).all()
    bad = dataclasses.replace(e, price_csv="time,import_price\n" + rows.replace("0.10", "ten"))
    with pytest.raises(ScenarioError, match=r"caiso.csv line 7: 'import_price' = 'ten' is not a number"):
        apply_edits(acn, bad, tmp_path)
    short = dataclasses.replace(e, price_csv="time,import_price\n" + "\n".join(rows.splitlines()[:12]))
    with pytest.raises(ScenarioError, match="caiso.csv"):
        apply_edits(acn, short, tmp_path)


def test_fleet_size_and_v2g_share_rewrite_the_tables(depot, tmp_path):
    e = dataclasses.replace(current_edits(depot), n_vehicles=30, v2g_share=0.5)
    sc = apply_edits(depot, e, tmp_path)
    assert len(sc.vehicles) == 30 and int((sc.vehicles["max_discharge_kw"] > 0).sum()) == 15
    assert len(sc.trips) == len(depot.trips) + len(
        depot.trips[depot.trips["vehicle_id"].isin([v.split("#")[0] for v in sc.vehicles.index if "#" in v])]
    )
    again = apply_edits(depot, e, tmp_path)
    assert again.base_dir == sc.base_dir  # same content, same folder, written once
    assert scenario_fingerprint(again) == scenario_fingerprint(sc)


def test_pv_edits_on_a_pv_scenario_and_adding_pv(pv_site, depot, tmp_path):
    bigger = apply_edits(pv_site, dataclasses.replace(current_edits(pv_site), pv_peak_kw=240.0), tmp_path)
    assert bigger.series["pv_kw"].max() > 1.5 * pv_site.series["pv_kw"].max()
    none = apply_edits(pv_site, dataclasses.replace(current_edits(pv_site), pv_peak_kw=0.0), tmp_path)
    assert none.series["pv_kw"].max() == 0
    e = dataclasses.replace(current_edits(depot), pv_peak_kw=300.0)
    with pytest.raises(ScenarioError, match="latitude and longitude"):
        apply_edits(depot, e, tmp_path)
    added = apply_edits(depot, dataclasses.replace(e, pv_latitude=52.37, pv_longitude=4.9), tmp_path)
    assert 150 < added.series["pv_kw"].max() < 300  # clear sky, Amsterdam, June


def test_edits_json_is_a_stable_key(depot):
    e = current_edits(depot)
    assert e.to_json() == current_edits(depot).to_json()
    assert e.to_json() != dataclasses.replace(e, import_limit_kw=1.0).to_json()
    assert isinstance(Edits(**__import__("json").loads(e.to_json())), Edits)


def test_raw_tables_from_files_edit_cleanly(depot):
    vehicles = read_table(SCEN / depot.config["fleet"]["vehicles"], "vehicles.csv")
    out = set_v2g_share(vehicles, 0.0)
    assert (pd.to_numeric(out["max_discharge_kw"]) == 0).all()
    assert out["model"].tolist() == vehicles["model"].tolist()
