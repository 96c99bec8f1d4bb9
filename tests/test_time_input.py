"""Times, the horizon and events outside it (issue 8).

Every time a scenario reads is read one way only: ISO 8601 (or the scenario's
``date_format``), a ``start``/``end`` whose offset is the timezone's, a
canonical IANA timezone, a horizon of a whole number of steps given as hours,
a duration or an end time. Events wholly outside the horizon are counted,
warned about, and refused when they are most of a file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import car, write_scenario
from test_bad_input import sess, trip, visitor

import gridopt
from gridopt.cli import main
from gridopt.edit import set_horizon
from gridopt.errors import ScenarioError
from gridopt.forecast.timezones import resolve_timezone
from gridopt.io.read import scenario_from_dict
from gridopt.io.save import save_scenario
from gridopt.timeindex import check_timezone

LONDON_START = "2026-03-10T00:00:00+00:00"  # Europe/London is on GMT (+00:00) in March before the 29th


def load(path: Path) -> gridopt.Scenario:
    return gridopt.load_scenario(path)


def refused(path: Path, *fragments: str) -> str:
    """Load ``path``; it must be refused with a message holding every fragment (case-insensitive)."""
    with pytest.raises(ScenarioError) as exc:
        load(path)
    msg = str(exc.value)
    assert "\n" not in msg, msg
    for f in fragments:
        assert f.lower() in msg.lower(), (f, msg)
    return msg


def validate_cli(path: Path, capsys) -> tuple[int, str]:
    code = main(["validate", str(path)])
    return code, capsys.readouterr().err


def uk_trips(folder: Path, date_format: str | None = None, **fields) -> Path:
    """A London van out 06:00-10:00 on 10 March 2026 (needs 30 kWh), with the dates written as an Excel export in the UK does."""
    extra = {"date_format": date_format} if date_format else {}
    return write_scenario(
        folder,
        vehicles=[car("VAN1", initial_soc=0.2)],
        trips=[trip("VAN1", dep="10/03/2026 06:00:00", arr="10/03/2026 10:00:00", energy=30.0)],
        timezone="Europe/London",
        start=LONDON_START,
        horizon_hours=12,
        **extra,
        **fields,
    )


# ---------------------------------------------------------------------------
# 1. ISO 8601 only, unless the scenario names a date_format
# ---------------------------------------------------------------------------


def test_uk_excel_date_is_refused_with_file_line_and_column(tmp_path):
    """Read as 3 October, the trip fell outside a 10 March horizon and the plan said 'optimal' (issue 8)."""
    msg = refused(uk_trips(tmp_path), "trips.csv", "line 2", "'departure'", "10/03/2026 06:00:00", "date_format")
    assert "ISO 8601" in msg


def test_date_format_reads_uk_dates_as_day_first(tmp_path):
    sc = load(uk_trips(tmp_path, date_format="%d/%m/%Y %H:%M:%S"))
    assert sc.trips["departure"].iloc[0] == pd.Timestamp("2026-03-10T06:00:00+00:00")
    assert sc.trips["arrival"].iloc[0] == pd.Timestamp("2026-03-10T10:00:00+00:00")
    res = gridopt.optimize(sc)
    assert res.summary["ignored_trips"] == 0
    req = 30.0  # min_soc 0 + energy: must be charged from 10 to 30 kWh before 06:00
    assert res.summary["unmet_energy_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert res.summary["energy_delivered_kwh"] >= req - 10.0 - 1e-6


def test_date_format_applies_to_timeseries_and_sessions(tmp_path):
    ts = pd.DataFrame(
        {"time": [f"15/06/2026 {h:02d}:00" for h in range(4)], "import_price": [0.1, 0.2, 0.3, 0.4]},
    )
    path = write_scenario(
        tmp_path,
        vehicles=[visitor("V1")],
        sessions=[sess("V1", arr="15/06/2026 00:30", dep="15/06/2026 03:00")],
        timeseries=ts,
        date_format="%d/%m/%Y %H:%M",
    )
    sc = load(path)
    assert list(sc.series["import_price"]) == [0.1, 0.2, 0.3, 0.4]
    assert sc.sessions["arrival"].iloc[0] == pd.Timestamp("2026-06-15T00:30:00+02:00")
    assert sc.config["date_format"] == "%d/%m/%Y %H:%M"


def test_date_format_applies_to_weather(tmp_path):
    hours = pd.date_range("2026-06-15T00:00:00+02:00", periods=5, freq="h")
    weather = pd.DataFrame({"time": [t.strftime("%d/%m/%Y %H:%M") for t in hours], "ghi": [0, 0, 0, 0, 0]})
    tmp_path.mkdir(exist_ok=True)
    weather.to_csv(tmp_path / "weather.csv", index=False)
    pv = {"latitude": 52.0, "longitude": 5.0, "peak_kw": 10.0, "weather": "weather.csv"}
    path = write_scenario(tmp_path, vehicles=[car()], pv=pv, date_format="%d/%m/%Y %H:%M")
    assert (load(path).series["pv_kw"] == 0).all()
    # without the date_format the same file is refused, naming it
    data = yaml.safe_load(path.read_text())
    del data["date_format"]
    path.write_text(yaml.safe_dump(data))
    refused(path, "weather.csv", "line 2", "'time'")


def test_date_format_is_exclusive(tmp_path):
    """With a date_format, an ISO time is not guessed at: one file, one way of writing times."""
    path = write_scenario(
        tmp_path,
        vehicles=[car()],
        trips=[trip(dep="15/06/2026 01:00", arr="2026-06-15T03:00:00+02:00")],
        date_format="%d/%m/%Y %H:%M",
    )
    refused(path, "trips.csv", "line 2", "'arrival'", "date_format", "%d/%m/%Y %H:%M")


def test_date_format_local_times_that_do_not_exist_are_refused(tmp_path):
    path = write_scenario(
        tmp_path,
        vehicles=[car()],
        trips=[trip(dep="29/03/2026 02:30", arr="29/03/2026 05:00")],  # 02:00 -> 03:00 in Amsterdam
        start="2026-03-29T00:00:00+01:00",
        date_format="%d/%m/%Y %H:%M",
    )
    refused(path, "trips.csv", "line 2", "departure", "does not exist")


@pytest.mark.parametrize(
    "fmt, fragment",
    [("%H:%M", "day"), ("%d/%m %H:%M", "year"), ("%d/%m/%Y %Q", "format"), ("", "format")],
)
def test_bad_date_format_is_refused(tmp_path, fmt, fragment):
    path = write_scenario(tmp_path, vehicles=[car()], date_format=fmt)
    refused(path, "scenario.yaml", "date_format", fragment)


@pytest.mark.parametrize(
    "text",
    [
        "2026-06-15T01:00:00+02:00",
        "2026-06-15T01:00+02:00",
        "2026-06-15 01:00",  # space instead of T: our own data write it so
        "2026-06-15 01:00:00",
        "2026-06-15T01:00:00.000",
        "2026-06-14T23:00:00Z",
        "2026-06-15 01:00:00+0200",
    ],
)
def test_iso_8601_forms_are_accepted(tmp_path, text):
    sc = load(write_scenario(tmp_path, vehicles=[car()], trips=[trip(dep=text, arr=3.0)]))
    assert sc.trips["departure"].iloc[0] == pd.Timestamp("2026-06-15T01:00:00+02:00")


@pytest.mark.parametrize(
    "text",
    [
        "15/06/2026 01:00",
        "06/15/2026 01:00",
        "2026/06/15 01:00",
        "15.06.2026 01:00",
        "June 15 2026 1:00",
        "15 Jun 2026 01:00",
        "Mon, 15 Jun 2026 01:00:00 +0200",
        "20260615T010000",
        "1781478000",
        "2026-06-15T01:00:00 CEST",
        "2026-6-15 1:00",
    ],
)
def test_other_time_forms_are_refused(tmp_path, text):
    path = write_scenario(tmp_path, vehicles=[car()], trips=[trip(dep=text, arr=3.0)])
    refused(path, "trips.csv", "line 2", "'departure'", "ISO 8601")


def test_unknown_time_in_timeseries_names_line_and_column(tmp_path):
    ts = pd.DataFrame({"time": ["2026-06-15T00:00:00+02:00", "15/06/2026 01:00"], "import_price": [0.1, 0.2]})
    path = write_scenario(tmp_path, vehicles=[car()], timeseries=ts)
    refused(path, "timeseries.csv", "line 3", "'time'", "15/06/2026 01:00")


# ---------------------------------------------------------------------------
# 2. line numbers are file lines
# ---------------------------------------------------------------------------


def test_bad_time_line_counts_blank_lines_and_multiline_cells(tmp_path):
    path = write_scenario(tmp_path, vehicles=[car(), car("EV2")], trips=[trip()])
    (tmp_path / "trips.csv").write_text(
        "vehicle_id,departure,arrival,energy_kwh,trip_id\n"
        "\n"
        'EV1,2026-06-15T01:00:00+02:00,2026-06-15T02:00:00+02:00,5,"a trip\nover two lines"\n'
        "\n"
        "EV2,2026-06-15T01:00:00+02:00,next tuesday,5,t2\n"
    )
    refused(path, "trips.csv", "line 6", "'arrival'", "next tuesday")


def test_empty_time_line_is_the_file_line(tmp_path):
    path = write_scenario(tmp_path, vehicles=[car()], trips=[trip()])
    (tmp_path / "trips.csv").write_text(
        "vehicle_id,departure,arrival,energy_kwh\n\n\nEV1,,2026-06-15T02:00:00+02:00,5\n"
    )
    refused(path, "trips.csv", "line 4", "'departure'", "empty")


# ---------------------------------------------------------------------------
# 3. times outside the years a plan may use: exit 2, never a traceback
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"start": "9999-12-31T00:00:00+00:00", "timezone": "UTC", "horizon_hours": 48},
        {"start": "2262-04-11T00:00:00+00:00", "timezone": "UTC", "horizon_hours": 24},
        {"start": "1677-09-21T00:00:00+00:00", "timezone": "UTC"},
        {"start": "0001-01-01T00:00:00+00:00", "timezone": "UTC"},
    ],
    ids=["year-9999", "year-2262", "year-1677", "year-1"],
)
def test_start_out_of_range_is_exit_2(tmp_path, capsys, fields):
    path = write_scenario(tmp_path, vehicles=[car()], **fields)
    code, err = validate_cli(path, capsys)
    assert code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert "scenario.yaml" in err and "start" in err, err


def test_trip_time_out_of_range_names_the_line(tmp_path):
    path = write_scenario(tmp_path, vehicles=[car()], trips=[trip(), trip(dep="2299-06-15T01:00:00+02:00", arr=3.0)])
    refused(path, "trips.csv", "line 3", "'departure'", "2299")


# ---------------------------------------------------------------------------
# 4. start's offset must be the timezone's
# ---------------------------------------------------------------------------


def test_start_offset_not_the_zones_is_refused(tmp_path):
    """+02:00 with Europe/London moved the horizon to 22:00-22:00 and dropped a late shift's targets (exit 0)."""
    path = write_scenario(tmp_path, vehicles=[car()], timezone="Europe/London", start="2026-06-15T00:00:00+02:00")
    refused(path, "scenario.yaml", "start", "+02:00", "Europe/London", "+01:00")


def test_start_as_yaml_datetime_is_checked_too(tmp_path):
    path = write_scenario(tmp_path, vehicles=[car()], timezone="Europe/London")
    path.write_text(path.read_text().replace("start: '2026-06-15T00:00:00+02:00'", "start: 2026-06-15T00:00:00+02:00"))
    assert "start: 2026-06-15T00:00:00+02:00" in path.read_text()
    refused(path, "scenario.yaml", "start", "Europe/London", "+01:00")


def test_start_offset_of_the_zone_is_accepted_in_winter_and_summer(tmp_path):
    for i, start in enumerate(["2026-01-15T00:00:00+00:00", "2026-06-15T00:00:00+01:00", "2026-01-14T23:00:00Z"]):
        path = write_scenario(tmp_path / str(i), vehicles=[car()], timezone="Europe/London", start=start)
        sc = load(path)
        assert str(sc.grid.tz) == "Europe/London"
        assert sc.grid.start == pd.Timestamp(start)


def test_start_without_offset_is_refused_with_the_zones_offset(tmp_path):
    path = write_scenario(tmp_path, vehicles=[car()], timezone="Europe/London", start="2026-06-15T00:00:00")
    refused(path, "scenario.yaml", "start", "offset", "2026-06-15T00:00:00+01:00")


# ---------------------------------------------------------------------------
# 5. canonical IANA timezones only
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone", ["localtime", "posixrules", "Factory", "posix/Europe/London", "right/Europe/London", "europe/london"]
)
def test_machine_dependent_timezones_are_refused(tmp_path, zone):
    path = write_scenario(tmp_path, vehicles=[car()], timezone=zone)
    refused(path, "scenario.yaml", "timezone", repr(zone))


def test_timezone_hint_names_the_zone_meant(tmp_path):
    msg = refused(write_scenario(tmp_path, vehicles=[car()], timezone="posix/Europe/Amsterdam"), "timezone")
    assert "'Europe/Amsterdam'" in msg


def test_deprecated_alias_is_accepted_with_a_warning_naming_the_canonical_zone(tmp_path, capsys):
    path = write_scenario(tmp_path, vehicles=[car()], timezone="US/Pacific", start="2026-06-15T00:00:00-07:00")
    sc = load(path)
    assert any("US/Pacific" in w and "America/Los_Angeles" in w for w in sc.warnings), sc.warnings
    assert sc.grid.start == pd.Timestamp("2026-06-15T00:00:00-07:00")
    code, err = validate_cli(path, capsys)
    assert code == 0 and "warning:" in err and "America/Los_Angeles" in err


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "Etc/GMT-2", "Europe/Amsterdam", "America/Argentina/Buenos_Aires"])
def test_canonical_timezones_are_accepted_without_warning(tmp_path, zone):
    start = pd.Timestamp("2026-06-15T00:00:00").tz_localize(zone).isoformat()
    sc = load(write_scenario(tmp_path, vehicles=[car()], timezone=zone, start=start))
    assert not [w for w in sc.warnings if "timezone" in w]


def test_check_timezone_keeps_serving_forecast_and_simulate():
    assert check_timezone("America/Los_Angeles", "x") == "America/Los_Angeles"
    assert resolve_timezone("Europe/Amsterdam", "--timezone") == "Europe/Amsterdam"
    with pytest.raises(ScenarioError, match="--timezone.*localtime"):
        resolve_timezone("localtime", "--timezone")


# ---------------------------------------------------------------------------
# 6. the horizon: hours, a duration or an end
# ---------------------------------------------------------------------------


def test_horizon_hours_rounded_to_the_step_is_accepted_with_a_warning(tmp_path):
    """10.1667 h with 10-minute steps is 61.0002 steps: 61, and the user is told."""
    sc = load(write_scenario(tmp_path / "a", vehicles=[car()], horizon_hours=10.1667, step_minutes=10))
    assert sc.grid.n_steps == 61
    assert any("horizon_hours" in w and "61" in w for w in sc.warnings), sc.warnings
    exact = load(write_scenario(tmp_path / "b", vehicles=[car()], horizon_hours=10.166666666666666, step_minutes=10))
    assert exact.grid.n_steps == 61 and not [w for w in exact.warnings if "horizon" in w]


def test_horizon_hours_more_than_a_second_off_is_refused(tmp_path):
    path = write_scenario(tmp_path, vehicles=[car()], horizon_hours=10.17, step_minutes=10)  # 12 s off
    refused(path, "scenario.yaml", "horizon_hours", "whole number", "10-minute")


def test_zero_steps_is_said_with_file_and_field(tmp_path):
    path = write_scenario(tmp_path, vehicles=[car()], horizon_hours=1e-300, step_minutes=15)
    refused(path, "scenario.yaml", "horizon_hours", "zero steps")


@pytest.mark.parametrize(
    "horizon, step, n",
    [("10h10min", 10, 61), ("24h", 60, 24), ("2d", 60, 48), ("PT10H10M", 10, 61), ("1 day 6 hours", 30, 60)],
)
def test_horizon_as_a_duration(tmp_path, horizon, step, n):
    path = write_scenario(tmp_path, vehicles=[car()], horizon=horizon, step_minutes=step)
    data = yaml.safe_load(path.read_text())
    del data["horizon_hours"]
    path.write_text(yaml.safe_dump(data))
    sc = load(path)
    assert sc.grid.n_steps == n
    assert sc.config["horizon"] == horizon and "horizon_hours" not in sc.config


def _without_hours(path: Path, **fields) -> Path:
    data = yaml.safe_load(path.read_text())
    del data["horizon_hours"]
    data.update(fields)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "horizon, fragment",
    [
        ("P1M", "month"),
        ("1M", "month"),
        ("10m", "min"),
        ("24", "unit"),
        (24, "unit"),
        ("-2h", "positive"),
        ("0h", "zero steps"),
        ("10h7min", "whole number"),
        ("soon", "duration"),
        ("40d", "31 days"),
    ],
)
def test_bad_horizon_duration_is_refused(tmp_path, horizon, fragment):
    path = _without_hours(write_scenario(tmp_path, vehicles=[car()], step_minutes=10), horizon=horizon)
    refused(path, "scenario.yaml", "horizon", fragment)


def test_horizon_as_an_end_time(tmp_path):
    path = _without_hours(write_scenario(tmp_path, vehicles=[car()], step_minutes=15), end="2026-06-15T10:15:00+02:00")
    sc = load(path)
    assert sc.grid.n_steps == 41 and sc.grid.end == pd.Timestamp("2026-06-15T10:15:00+02:00")


def test_end_across_a_dst_change_counts_real_hours(tmp_path):
    """Amsterdam, 29 March 2026: midnight to midnight is 23 hours."""
    path = _without_hours(
        write_scenario(tmp_path, vehicles=[car()], start="2026-03-29T00:00:00+01:00"),
        end="2026-03-30T00:00:00+02:00",
    )
    assert load(path).grid.n_steps == 23


@pytest.mark.parametrize(
    "end, fragments",
    [
        ("2026-06-15T10:00:00+01:00", ["end", "+01:00", "Europe/Amsterdam", "+02:00"]),
        ("2026-06-15T10:00:00", ["end", "offset"]),
        ("2026-06-14T10:00:00+02:00", ["end", "before", "start"]),
        ("2026-06-15T00:00:00+02:00", ["end", "zero steps"]),
        ("2026-06-15T10:10:00+02:00", ["end", "whole number"]),
        ("tomorrow", ["end", "not a time"]),
    ],
)
def test_bad_end_is_refused(tmp_path, end, fragments):
    path = _without_hours(write_scenario(tmp_path, vehicles=[car()], step_minutes=15), end=end)
    refused(path, "scenario.yaml", *fragments)


@pytest.mark.parametrize(
    "fields, fragment",
    [
        ({"horizon": "4h"}, "horizon_hours"),
        ({"end": "2026-06-15T04:00:00+02:00"}, "end"),
    ],
)
def test_exactly_one_horizon_field(tmp_path, fields, fragment):
    path = write_scenario(tmp_path, vehicles=[car()], **fields)
    refused(path, "scenario.yaml", "exactly one", fragment)


def test_no_horizon_field_is_refused(tmp_path):
    refused(_without_hours(write_scenario(tmp_path, vehicles=[car()])), "scenario.yaml", "horizon_hours", "horizon")


def test_duration_parser():
    from gridopt.timeindex import parse_duration

    assert parse_duration("10h10min", "x") == pd.Timedelta(hours=10, minutes=10)
    assert parse_duration("PT1H30M", "x") == pd.Timedelta(minutes=90)
    assert parse_duration("P1DT2H", "x") == pd.Timedelta(hours=26)
    assert parse_duration("1.5h", "x") == pd.Timedelta(minutes=90)
    assert parse_duration("90 minutes", "x") == pd.Timedelta(minutes=90)


def test_horizon_duration_round_trips_through_save_and_edit(tmp_path):
    path = _without_hours(write_scenario(tmp_path / "in", vehicles=[car()], step_minutes=10), horizon="10h10min")
    sc = load(path)
    again = load(save_scenario(sc, tmp_path / "out"))
    assert again.grid.index.equals(sc.grid.index) and again.config["horizon"] == "10h10min"
    assert "horizon_hours" not in again.config and "max_share_outside_horizon" not in again.config["fleet"]
    cfg = set_horizon(sc.config, 6.0, 30)
    edited = scenario_from_dict(cfg, sc.base_dir, "edited")
    assert edited.grid.n_steps == 12
    cfg = set_horizon(load(_without_hours(write_scenario(tmp_path / "e", vehicles=[car()]), end=LATE)).config, 2, 60)
    assert scenario_from_dict(cfg, tmp_path / "e", "edited").grid.n_steps == 2


LATE = "2026-06-15T04:00:00+02:00"


# ---------------------------------------------------------------------------
# 7. events outside the horizon: counted, warned about, refused when most are
# ---------------------------------------------------------------------------


def four_trips(year_of_last_three: int = 2026) -> list[dict]:
    """One trip inside the 4-hour horizon, then three at the same hours of the day in ``year_of_last_three``."""
    out = [trip("EV1", dep=0.5, arr=1.0, energy=1.0, trip_id="t1")]
    for k, h in enumerate((1.5, 2.5, 3.5)):
        when = pd.Timestamp("2026-06-15T00:00:00+02:00") + pd.Timedelta(hours=h)
        when = when.replace(year=year_of_last_three)
        out.append(
            trip(
                "EV1",
                dep=when.isoformat(),
                arr=(when + pd.Timedelta(minutes=20)).isoformat(),
                energy=1.0,
                trip_id=f"t{k + 2}",
            )
        )
    return out


def test_mistyped_year_is_counted_warned_and_refused(tmp_path, capsys):
    """Three of four trips typed with 2025 for 2026: they returned before the start and were not even counted."""
    path = write_scenario(tmp_path, vehicles=[car()], trips=four_trips(2025))
    msg = refused(path, "trips.csv", "3 of 4", "75%", "line 3", "fleet.max_share_outside_horizon", "0.5")
    code, err = validate_cli(path, capsys)
    assert code == 2 and err.count("\n") == 1 and msg in err


def test_events_outside_allowed_by_the_option_are_counted_and_warned(tmp_path, capsys):
    fleet = {"vehicles": "vehicles.csv", "trips": "trips.csv", "max_share_outside_horizon": 1.0}
    path = write_scenario(tmp_path, vehicles=[car()], trips=four_trips(2025), fleet=fleet)
    sc = load(path)
    assert sc.config["fleet"]["max_share_outside_horizon"] == 1.0  # written back as given
    (w,) = [w for w in sc.warnings if "outside" in w]
    assert "trips.csv" in w and "3 of 4" in w and "line 3" in w
    res = gridopt.optimize(sc)
    assert res.summary["ignored_trips"] == 3
    code, err = validate_cli(path, capsys)
    assert code == 0 and "warning: trips.csv" in err


def test_a_share_below_the_limit_warns(tmp_path):
    trips = four_trips()  # all in 2026: the last departs 03:30, inside the 4-hour horizon
    trips.append(trip("EV1", dep=5.0, arr=6.0, energy=1.0, trip_id="t5"))  # departs after the end
    sc = load(write_scenario(tmp_path, vehicles=[car()], trips=trips))
    (w,) = [w for w in sc.warnings if "outside" in w]
    assert "1 of 5" in w and "line 6" in w
    assert gridopt.optimize(sc).summary["ignored_trips"] == 1


def test_trips_returned_before_the_start_are_counted(tmp_path):
    trips = [
        trip(dep=-5.0, arr=-4.0, trip_id="old"),
        trip(dep=1.0, arr=2.0, trip_id="t"),
        trip(dep=2.5, arr=3.0, trip_id="u"),
    ]
    sc = load(write_scenario(tmp_path, vehicles=[car()], trips=trips))
    assert gridopt.optimize(sc).summary["ignored_trips"] == 1
    assert any("1 of 3" in w and "line 2" in w for w in sc.warnings), sc.warnings


def test_trips_still_under_way_or_back_after_the_end_are_inside(tmp_path):
    trips = [trip(dep=-2.0, arr=1.0, trip_id="a"), trip(dep=3.0, arr=9.0, trip_id="b")]
    sc = load(write_scenario(tmp_path, vehicles=[car()], trips=trips))
    assert not [w for w in sc.warnings if "outside" in w]
    assert gridopt.optimize(sc).summary["ignored_trips"] == 0


def test_trips_after_a_trip_that_returns_after_the_end_are_counted(tmp_path):
    """The vehicle is away to the end; its later trips are outside and must be counted too."""
    trips = [trip(dep=1.0, arr=5.0, trip_id="a"), trip(dep=6.0, arr=7.0, trip_id="b")]
    sc = load(write_scenario(tmp_path, vehicles=[car()], trips=trips))
    assert gridopt.optimize(sc).summary["ignored_trips"] == 1


def test_sessions_outside_are_refused_beyond_the_share(tmp_path):
    sessions = [
        sess("V1", arr=0.0, dep=2.0, session_id="s1"),
        sess("V1", arr=-6.0, dep=-5.0, session_id="s0"),  # before the start
        sess("V1", arr=4.0, dep=5.0, session_id="s2"),  # arrives at the end
    ]
    path = write_scenario(tmp_path, vehicles=[visitor("V1")], sessions=sessions)
    refused(path, "sessions.csv", "2 of 3", "66.7%", "line 3", "max_share_outside_horizon")
    fleet = {"vehicles": "vehicles.csv", "sessions": "sessions.csv", "max_share_outside_horizon": 0.7}
    sc = load(write_scenario(tmp_path / "ok", vehicles=[visitor("V1")], sessions=sessions, fleet=fleet))
    assert any("sessions.csv" in w and "2 of 3" in w for w in sc.warnings), sc.warnings
    assert gridopt.optimize(sc).summary["ignored_sessions"] == 2


@pytest.mark.parametrize(
    "value, fragment", [(1.5, "less than or equal to 1"), (-0.1, "greater than"), (True, "number")]
)
def test_bad_max_share_is_refused(tmp_path, value, fragment):
    fleet = {"vehicles": "vehicles.csv", "max_share_outside_horizon": value}
    path = write_scenario(tmp_path, vehicles=[car()], fleet=fleet)
    refused(path, "scenario.yaml", "fleet.max_share_outside_horizon", fragment)


def test_shipped_scenarios_have_no_events_outside(tmp_path):
    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "scenarios").glob("**/*.yaml")) + [root / "tests/data/simulate_acn_day/scenario.yaml"]:
        if path.parent.name == "sweeps" and "\nparameters:" in path.read_text():
            continue  # a sweep file (gridopt sweep), not a scenario; its base scenario is checked
        if path.parent.name == "feeders" and "\nnetwork:" in path.read_text():
            continue  # a feeder file (gridopt feeder), not a scenario; its site scenarios (feeders/data) are checked
        sc = load(path)
        assert not [w for w in sc.warnings if "outside the horizon" in w], (path, sc.warnings)


def test_cli_prints_the_outside_warning_once(tmp_path):
    fleet = {"vehicles": "vehicles.csv", "trips": "trips.csv", "max_share_outside_horizon": 1.0}
    path = write_scenario(tmp_path, vehicles=[car()], trips=four_trips(2025), fleet=fleet)
    out = subprocess.run(
        [sys.executable, "-m", "gridopt.cli", "run", str(path), "--out", str(tmp_path / "res")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("outside the horizon") == 1, out.stderr
    summary = json.loads((tmp_path / "res" / "summary.json").read_text())
    assert summary["ignored_trips"] == 3


def test_a_shorter_horizon_chosen_in_the_app_warns_but_is_not_refused(tmp_path):
    """Six hours of the depot's day leave 21 of its 28 trips out: the edit means it, so it is warned about only."""
    import dataclasses

    from gridopt.edit import apply_edits, current_edits

    root = Path(__file__).resolve().parents[1]
    depot = load(root / "scenarios" / "depot_bus_v2g.yaml")
    sc = apply_edits(depot, dataclasses.replace(current_edits(depot), horizon_hours=6.0), tmp_path)
    assert sc.grid.n_steps == 24
    assert any("21 of 28 trips" in w for w in sc.warnings), sc.warnings
