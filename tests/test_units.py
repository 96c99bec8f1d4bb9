"""Unit tests of the pure parts: time grid, tariffs, PV, fleet segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import car, write_scenario

import gridopt
from gridopt.fleet import build_fleet_plan
from gridopt.supply import pv_power_kw
from gridopt.tariffs import tariff_file_series, tou_series
from gridopt.timeindex import make_grid

START = pd.Timestamp("2026-06-15T00:00:00+02:00")


def test_arrivals_round_up_and_departures_round_down():
    g = make_grid(START, 2, 15, "Europe/Amsterdam")
    times = [START + pd.Timedelta(minutes=m) for m in (0, 5, 15, 29, 30)]
    assert g.arrival_boundary(times).tolist() == [0, 1, 1, 2, 2]
    assert g.departure_boundary(times).tolist() == [0, 0, 1, 1, 2]
    assert g.dt_h == 0.25 and g.n_steps == 8
    assert g.end == START + pd.Timedelta(hours=2)


def test_grid_across_daylight_saving_change_keeps_fixed_steps():
    """On 2026-10-25 Europe/Amsterdam has 25 hours: a 24 h horizon ends at 23:00 local."""
    g = make_grid(pd.Timestamp("2026-10-25T00:00:00+02:00"), 24, 60, "Europe/Amsterdam")
    assert g.n_steps == 24
    assert g.end == pd.Timestamp("2026-10-25T23:00:00+01:00")
    assert (np.diff(g.index.asi8) == np.diff(g.index.asi8)[0]).all()


def test_tou_table_wraps_around_midnight():
    idx = pd.date_range(START, periods=24, freq="1h")
    p = tou_series({"07:00": 0.3, "17:30": 0.5, "22:00": 0.1}, idx, "test")
    assert p.iloc[0] == 0.1 and p.iloc[6] == 0.1  # before 07:00: last entry wraps
    assert p.iloc[7] == 0.3 and p.iloc[17] == 0.3  # 17:00 step starts before 17:30
    assert p.iloc[18] == 0.5 and p.iloc[22] == 0.1


def test_tariff_file_by_season_and_weekday():
    schedule = {
        "schedule": [
            {
                "effective_start": "06-01",
                "effective_end": "09-30",
                "dow_mask": "WEEKDAYS",
                "times": [0, 12, 18],
                "tariffs": [0.05, 0.25, 0.09],
                "demand_charge": 15.5,
            },
            {
                "effective_start": "06-01",
                "effective_end": "09-30",
                "dow_mask": "WEEKENDS",
                "times": [0],
                "tariffs": [0.04],
                "demand_charge": 15.5,
            },
            {
                "effective_start": "10-01",
                "effective_end": "05-31",
                "dow_mask": "ALL",
                "times": [0],
                "tariffs": [0.07],
                "demand_charge": 9.0,
            },
        ]
    }
    # Friday 2026-06-19 and Saturday 2026-06-20
    idx = pd.date_range(pd.Timestamp("2026-06-19T00:00:00-07:00"), periods=48, freq="1h").tz_convert(
        "America/Los_Angeles"
    )
    price, demand = tariff_file_series(schedule, idx, "t.json")
    assert price.iloc[11] == 0.05 and price.iloc[12] == 0.25 and price.iloc[18] == 0.09
    assert (price.iloc[24:] == 0.04).all()
    assert demand == 15.5
    winter = pd.date_range(pd.Timestamp("2026-12-24T00:00:00-08:00"), periods=3, freq="1h")
    p2, d2 = tariff_file_series(schedule, winter, "t.json")
    assert (p2 == 0.07).all() and d2 == 9.0


def test_clear_sky_pv_is_plausible():
    """1 kWp, south, 30 deg tilt in Amsterdam on a clear June day: zero at night, peak near solar
    noon (about 13:40 local), never above the inverter rating, 6-8.5 kWh over the day."""
    idx = pd.date_range(START, periods=96, freq="15min")
    pv = pv_power_kw(idx, 15, latitude=52.37, longitude=4.90, peak_kw=1.0, tilt_deg=30, azimuth_deg=180)
    assert pv.index.equals(idx)
    assert pv.iloc[:12].max() == 0 and pv.iloc[-8:].max() == 0  # 00:00-03:00, 22:00-24:00
    assert pv.max() <= 1.0 / 1.1 + 1e-9
    assert 12.5 <= pv.idxmax().hour + pv.idxmax().minute / 60 <= 15
    assert 6.0 <= pv.sum() * 0.25 <= 8.5


def test_pv_from_weather_follows_measured_ghi():
    """With measured GHI half of clear sky, output drops accordingly (below 70% of clear sky)."""
    idx = pd.date_range(START, periods=96, freq="15min")
    clear = pv_power_kw(idx, 15, latitude=52.37, longitude=4.90, peak_kw=10.0)
    hours = pd.date_range(START, periods=25, freq="1h")
    import pvlib

    cs = pvlib.location.Location(52.37, 4.90, tz="Europe/Amsterdam").get_clearsky(hours)
    weather = pd.DataFrame({"ghi": cs["ghi"] * 0.5, "temp_air": 15.0}, index=hours)
    cloudy = pv_power_kw(idx, 15, latitude=52.37, longitude=4.90, peak_kw=10.0, weather=weather)
    assert 0.2 * clear.sum() < cloudy.sum() < 0.7 * clear.sum()


def test_fleet_segments_link_trips(tmp_path):
    """Two trips: segments [0, 2), [3, 5), [6, 8) with the 2nd and 3rd starting from the trips' returns."""
    at = lambda h: (START + pd.Timedelta(hours=h)).isoformat()  # noqa: E731
    path = write_scenario(
        tmp_path,
        vehicles=[car(min_soc=0.1)],
        trips=[
            {"vehicle_id": "EV1", "departure": at(2.5), "arrival": at(2.9), "energy_kwh": 5},
            {"vehicle_id": "EV1", "departure": at(5), "arrival": at(5.5), "energy_kwh": 7, "departure_soc": 0.8},
        ],
        horizon_hours=8,
    )
    plan = build_fleet_plan(gridopt.load_scenario(path))
    segs = plan.segments
    assert segs[["start", "end"]].values.tolist() == [[0, 2], [3, 5], [6, 8]]
    assert segs["link_req"].tolist() == [-1, 0, 1]
    assert plan.requirements["required_kwh"].tolist() == [5 + 5, 40]
    assert plan.requirements["boundary"].tolist() == [2, 5]
    assert plan.plugged[0].tolist() == [1, 1, 0, 1, 1, 0, 1, 1]
    # 2nd segment starts at >= 10 - 5 = 5 kWh (= min_soc): no low guard needed
    assert segs["lo_kwh"].tolist()[1] == pytest.approx(5.0)
