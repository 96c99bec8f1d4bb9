"""Bad input is refused with one clear message; tolerated input loads.

Every bad scenario must raise :class:`gridopt.ScenarioError` whose message names
the file, the line or field, and the problem; ``gridopt validate`` must then exit
with code 2 and print exactly one ``error:`` line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import car, write_scenario

import gridopt
from gridopt.cli import main

START = pd.Timestamp("2026-06-15T00:00:00+02:00")


def at(hours: float, start: pd.Timestamp = START) -> str:
    return (start + pd.Timedelta(hours=hours)).isoformat()


def trip(vid="EV1", dep=1.0, arr=3.0, energy=10.0, **kw) -> dict:
    d = {"vehicle_id": vid, "departure": at(dep) if isinstance(dep, (int, float)) else dep}
    d["arrival"] = at(arr) if isinstance(arr, (int, float)) else arr
    d["energy_kwh"] = energy
    d.update(kw)
    return d


def sess(vid="V1", arr=0.0, dep=3.0, arrival_soc=0.2, target_soc=0.8, **kw) -> dict:
    d = {"vehicle_id": vid, "arrival": at(arr) if isinstance(arr, (int, float)) else arr}
    d["departure"] = at(dep) if isinstance(dep, (int, float)) else dep
    d.update(arrival_soc=arrival_soc, target_soc=target_soc, **kw)
    return d


def visitor(vid="V1", **kw) -> dict:
    """A car that only comes for sessions (no initial_soc)."""
    return car(vid, initial_soc=None, **kw)


def series(hours, start=START, **cols) -> pd.DataFrame:
    """A timeseries table with rows at ``start + hours``."""
    d = {"time": [at(h, start) for h in hours]}
    d.update(cols)
    return pd.DataFrame(d)


# ---------------------------------------------------------------------------
# Builders: each returns a function folder -> scenario YAML path
# ---------------------------------------------------------------------------


def sc(**kw):
    """A scenario from write_scenario (one plain car unless ``vehicles`` is given)."""

    def build(d: Path) -> Path:
        args = dict(kw)
        args.setdefault("vehicles", [car()])
        return write_scenario(d, **args)

    return build


def sc_yaml(edit, **kw):
    """As :func:`sc`, then ``edit(data)`` changes the parsed YAML in place."""

    def build(d: Path) -> Path:
        path = sc(**kw)(d)
        data = yaml.safe_load(path.read_text())
        edit(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return build


def sc_file(name: str, content: str | bytes, **kw):
    """As :func:`sc`, then file ``name`` gets ``content`` (text or bytes)."""

    def build(d: Path) -> Path:
        path = sc(**kw)(d)
        f = d / name
        if isinstance(content, bytes):
            f.write_bytes(content)
        else:
            f.write_text(content)
        return path

    return build


def drop(*keys):
    def edit(data):
        node = data
        for k in keys[:-1]:
            node = node[k]
        del node[keys[-1]]

    return edit


def put(keys: str, value):
    def edit(data):
        node = data
        parts = keys.split(".")
        for k in parts[:-1]:
            node = node.setdefault(k, {})
        node[parts[-1]] = value

    return edit


def without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


GARBAGE = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\xff\xfe\xfd" + bytes(range(256))
TARIFF = {"import_price": None, "tariff_file": "tariff.json"}
DST_START = "2026-03-29T00:00:00+01:00"  # Europe/Amsterdam: 02:00 -> 03:00 that night
AUTUMN_START = "2026-10-25T00:00:00+02:00"  # Europe/Amsterdam: 03:00 -> 02:00 that night

# Each case: (builder, fragments). A fragment is a string that must occur in the
# message (case-insensitive) or a tuple of alternatives of which one must occur.
CASES = [
    # --- the scenario YAML -------------------------------------------------------
    pytest.param(sc_yaml(drop("timezone")), ["scenario.yaml", "timezone", "missing"], id="yaml-missing-key"),
    pytest.param(
        sc_yaml(drop("fleet", "vehicles")), ["scenario.yaml", "fleet.vehicles", "missing"], id="yaml-missing-nested-key"
    ),
    pytest.param(sc_yaml(put("colour", "red")), ["scenario.yaml", "colour", "unknown"], id="yaml-unknown-key"),
    pytest.param(sc_yaml(put("site.foo", 1)), ["scenario.yaml", "site.foo", "unknown"], id="yaml-unknown-nested-key"),
    pytest.param(
        sc_yaml(put("tariff.import_prise", 0.2)),
        ["scenario.yaml", "tariff.import_prise", "unknown"],
        id="yaml-unknown-tariff-key",
    ),
    pytest.param(sc(horizon_hours="abc"), ["scenario.yaml", "horizon_hours", "abc", "number"], id="yaml-type-horizon"),
    pytest.param(sc(step_minutes=15.5), ["scenario.yaml", "step_minutes", "integer"], id="yaml-type-step-fraction"),
    pytest.param(
        sc(site={"import_limit_kw": "lots"}), ["scenario.yaml", "site.import_limit_kw", "number"], id="yaml-type-nested"
    ),
    pytest.param(
        sc(fleet="vehicles.csv"),
        ["scenario.yaml", "fleet", ("dictionary", "mapping")],
        id="yaml-type-fleet-not-mapping",
    ),
    pytest.param(
        sc(site={"import_limit_kw": -5}),
        ["scenario.yaml", "site.import_limit_kw", ("greater than or equal to 0", ">= 0")],
        id="yaml-negative-import-limit",
    ),
    pytest.param(
        sc(site={"export_limit_kw": -1}),
        ["scenario.yaml", "site.export_limit_kw", ("greater than or equal to 0", ">= 0")],
        id="yaml-negative-export-limit",
    ),
    pytest.param(
        sc(site={"base_load_kw": -3}),
        ["scenario.yaml", "site.base_load_kw", ("greater than or equal to 0", ">= 0")],
        id="yaml-negative-base-load",
    ),
    pytest.param(
        sc(unmet_energy_penalty_per_kwh=-1),
        ["scenario.yaml", "unmet_energy_penalty_per_kwh", ("greater than or equal to 0", ">= 0")],
        id="yaml-negative-penalty",
    ),
    pytest.param(sc(step_minutes=0), ["scenario.yaml", "step_minutes", ("greater than 0", "> 0")], id="yaml-zero-step"),
    pytest.param(
        sc(horizon_hours=4.5), ["scenario.yaml", "horizon_hours", "whole number"], id="yaml-horizon-not-whole-steps"
    ),
    pytest.param(
        sc(horizon_hours=1, step_minutes=45),
        ["scenario.yaml", "horizon_hours", "whole number"],
        id="yaml-step-not-dividing",
    ),
    pytest.param(sc(start="2026-06-15T00:00:00"), ["scenario.yaml", "start", "offset"], id="yaml-start-without-offset"),
    pytest.param(sc(start="next monday"), ["scenario.yaml", "start", "not a time"], id="yaml-start-not-a-time"),
    pytest.param(
        sc(timezone="Mars/Olympus_Mons"),
        ["scenario.yaml", "timezone", "Mars/Olympus_Mons", "unknown"],
        id="yaml-unknown-timezone",
    ),
    pytest.param(sc(tariff={}), ["scenario.yaml", "import_price", "no import_price"], id="yaml-no-import-price"),
    pytest.param(
        sc(tariff={"import_price": {"00:00": 0.1, "25:00": 0.3}}),
        ["scenario.yaml", "tariff.import_price", "25:00", "HH:MM"],
        id="yaml-tou-bad-key",
    ),
    pytest.param(
        sc(tariff={"import_price": 0.2, "export_price": {"7h": 0.1}}),
        ["scenario.yaml", "tariff.export_price", "7h", "HH:MM"],
        id="yaml-tou-bad-export-key",
    ),
    pytest.param(
        sc(tariff={"import_price": {}}), ["scenario.yaml", "tariff.import_price", "empty"], id="yaml-tou-empty"
    ),
    pytest.param(
        sc(tariff={"import_price": {"00:00": "cheap"}}),
        ["scenario.yaml", "tariff.import_price", "number"],
        id="yaml-tou-bad-price",
    ),
    pytest.param(
        sc_file("tariff.json", json.dumps({"rates": [0.1, 0.2]}), tariff={"tariff_file": "tariff.json"}),
        ["tariff.json", "not a tariff schedule"],
        id="tariff-file-not-schedule",
    ),
    pytest.param(
        sc_file("tariff.json", json.dumps([1, 2, 3]), tariff={"tariff_file": "tariff.json"}),
        ["tariff.json", "not a tariff schedule"],
        id="tariff-file-a-list",
    ),
    pytest.param(
        sc_file(
            "tariff.json",
            json.dumps(
                {
                    "schedule": [
                        {
                            "effective_start": "01-01",
                            "effective_end": "12-31",
                            "dow_mask": "MONDAYS",
                            "times": [0],
                            "tariffs": [0.1],
                        }
                    ]
                }
            ),
            tariff={"tariff_file": "tariff.json"},
        ),
        ["tariff.json", "not a tariff schedule", "MONDAYS"],
        id="tariff-file-bad-dow-mask",
    ),
    pytest.param(
        sc_file("tariff.json", "{not json", tariff={"tariff_file": "tariff.json"}),
        ["tariff.json", "JSON"],
        id="tariff-file-not-json",
    ),
    pytest.param(
        sc(tariff={"tariff_file": "nope.json"}),
        ["scenario.yaml", "tariff.tariff_file", "nope.json", "not found"],
        id="tariff-file-missing",
    ),
    pytest.param(
        sc_yaml(put("fleet.trips", "nope.csv")),
        ["scenario.yaml", "fleet.trips", "nope.csv", "not found"],
        id="missing-trips-file",
    ),
    pytest.param(
        sc_yaml(put("fleet.vehicles", "nope.csv")),
        ["scenario.yaml", "fleet.vehicles", "nope.csv", "not found"],
        id="missing-vehicles-file",
    ),
    pytest.param(
        sc_yaml(put("timeseries", "prices.csv")),
        ["scenario.yaml", "timeseries", "prices.csv", "not found"],
        id="missing-timeseries-file",
    ),
    pytest.param(sc_file("scenario.yaml", "- name\n- timezone\n"), ["scenario.yaml", "mapping"], id="yaml-a-list"),
    pytest.param(sc_file("scenario.yaml", "just some text\n"), ["scenario.yaml", "mapping"], id="yaml-a-string"),
    pytest.param(sc_file("scenario.yaml", ""), ["scenario.yaml", "mapping"], id="yaml-empty"),
    pytest.param(
        sc_file("scenario.yaml", "name: x\nsite: {import_limit_kw: 10\ntimezone: UTC\n"),
        ["scenario.yaml", "line", "expected"],
        id="yaml-syntax-error",
    ),
    pytest.param(
        sc_file("scenario.yaml", "name: x\n  timezone: UTC\n bad: [\n"),
        ["scenario.yaml", "line"],
        id="yaml-bad-indentation",
    ),
    pytest.param(
        sc_file("scenario.yaml", GARBAGE), ["scenario.yaml", ("cannot read", "not text", "utf-8")], id="yaml-binary"
    ),
    # --- vehicles.csv ---------------------------------------------------------------
    pytest.param(
        sc(vehicles=[car(battery_kwh=-50)]), ["vehicles.csv", "line 2", "battery_kwh", "> 0"], id="veh-negative-battery"
    ),
    pytest.param(
        sc(vehicles=[car(battery_kwh=0)]), ["vehicles.csv", "line 2", "battery_kwh", "> 0"], id="veh-zero-battery"
    ),
    pytest.param(
        sc(vehicles=[car(), car("EV2", max_charge_kw=-1)]),
        ["vehicles.csv", "line 3", "max_charge_kw", ">= 0"],
        id="veh-negative-max-charge",
    ),
    pytest.param(
        sc(vehicles=[car(max_discharge_kw=-7)]),
        ["vehicles.csv", "line 2", "max_discharge_kw", ">= 0"],
        id="veh-negative-max-discharge",
    ),
    pytest.param(
        sc(vehicles=[car(min_soc=1.5)]), ["vehicles.csv", "line 2", "min_soc", "0..1"], id="veh-min-soc-above-1"
    ),
    pytest.param(
        sc(vehicles=[car(min_soc=-0.1)]), ["vehicles.csv", "line 2", "min_soc", "0..1"], id="veh-min-soc-negative"
    ),
    pytest.param(
        sc(vehicles=[car(max_soc=1.2)]), ["vehicles.csv", "line 2", "max_soc", "0..1"], id="veh-max-soc-above-1"
    ),
    pytest.param(
        sc(vehicles=[car(), car("EV2", initial_soc=-0.1)]),
        ["vehicles.csv", "line 3", "initial_soc", "0..1"],
        id="veh-initial-soc-negative",
    ),
    pytest.param(
        sc(vehicles=[car(initial_soc=1.01)]),
        ["vehicles.csv", "line 2", "initial_soc", "0..1"],
        id="veh-initial-soc-above-1",
    ),
    pytest.param(
        sc(vehicles=[car(final_soc=2)]), ["vehicles.csv", "line 2", "final_soc", "0..1"], id="veh-final-soc-above-1"
    ),
    pytest.param(
        sc(vehicles=[car(min_soc=0.8, max_soc=0.6)]),
        ["vehicles.csv", "line 2", "min_soc", "max_soc", "above"],
        id="veh-min-soc-above-max-soc",
    ),
    pytest.param(
        sc(vehicles=[car(min_charge_kw=11)]),
        ["vehicles.csv", "line 2", "min_charge_kw", "max_charge_kw", "above"],
        id="veh-min-charge-above-max",
    ),
    pytest.param(
        sc(vehicles=[car(charge_efficiency=0)]),
        ["vehicles.csv", "line 2", "charge_efficiency", ("[0.5, 1]", "0..1")],
        id="veh-charge-efficiency-zero",
    ),
    pytest.param(
        sc(vehicles=[car(charge_efficiency=1.05)]),
        ["vehicles.csv", "line 2", "charge_efficiency", ("[0.5, 1]", "0..1")],
        id="veh-charge-efficiency-above-1",
    ),
    pytest.param(
        sc(vehicles=[car(discharge_efficiency=0)]),
        ["vehicles.csv", "line 2", "discharge_efficiency", ("[0.5, 1]", "0..1")],
        id="veh-discharge-efficiency-zero",
    ),
    pytest.param(
        # fuzz finding F2: at 1e-9 a solver-tolerance discharge became a 1,000 kWh SoC error (exit 70)
        sc(vehicles=[car(discharge_efficiency=1e-9, max_discharge_kw=5)]),
        ["vehicles.csv", "line 2", "discharge_efficiency", "[0.5, 1]"],
        id="veh-discharge-efficiency-tiny",
    ),
    pytest.param(
        sc(vehicles=[car(charge_efficiency=0.09)]),
        ["vehicles.csv", "line 2", "charge_efficiency", "[0.5, 1]", "fraction"],
        id="veh-charge-efficiency-percent-typo",
    ),
    pytest.param(
        sc(vehicles=[car(max_soc=0.9, final_soc=0.95)]),
        ["vehicles.csv", "line 2", "final_soc", "above max_soc"],
        id="veh-final-soc-above-max-soc",
    ),
    pytest.param(
        sc(vehicles=[car(), car("EV2"), car("EV1")]),
        ["vehicles.csv", "line 4", "duplicate", "EV1"],
        id="veh-duplicate-id",
    ),
    pytest.param(
        sc(vehicles=[without(car(), "min_soc")]), ["vehicles.csv", "missing column", "min_soc"], id="veh-missing-column"
    ),
    pytest.param(
        sc(vehicles=[car(colour="red")]), ["vehicles.csv", "unknown column", "colour"], id="veh-unknown-column"
    ),
    pytest.param(
        sc(vehicles=[car(battery_kwh="fifty")]),
        ["vehicles.csv", "line 2", "battery_kwh", "not a number"],
        id="veh-non-numeric",
    ),
    pytest.param(
        sc(vehicles=[car(), car("EV2", max_charge_kw=None)]),
        ["vehicles.csv", "line 3", "max_charge_kw", "empty"],
        id="veh-empty-required-cell",
    ),
    pytest.param(sc(vehicles=[car(), car(None)]), ["vehicles.csv", "line 3", "vehicle_id", "empty"], id="veh-empty-id"),
    pytest.param(
        sc(vehicles=[car(battery_kwh="inf")]), ["vehicles.csv", "line 2", "battery_kwh", "finite"], id="veh-infinite"
    ),
    pytest.param(
        sc_file("vehicles.csv", ",".join(car()) + "\n"), ["vehicles.csv", "no vehicles"], id="veh-header-only"
    ),
    pytest.param(sc_file("vehicles.csv", ""), ["vehicles.csv", "empty"], id="veh-empty-file"),
    pytest.param(
        sc_file("vehicles.csv", GARBAGE), ["vehicles.csv", ("cannot read", "missing column")], id="veh-binary-file"
    ),
    pytest.param(
        sc_file("vehicles.csv", "a,b\n1,2,3,4\n5\n"),
        ["vehicles.csv", ("cannot read", "missing column")],
        id="veh-ragged-csv",
    ),
    # --- trips.csv ---------------------------------------------------------------
    pytest.param(sc(trips=[trip(dep=3, arr=1)]), ["trips.csv", "line 2", "before"], id="trip-returns-before-leaving"),
    pytest.param(sc(trips=[trip(dep=1, arr=1)]), ["trips.csv", "line 2", "before"], id="trip-returns-when-leaving"),
    pytest.param(
        sc(trips=[trip(dep=1, arr=3), trip(dep=2, arr=4)]),
        ["trips.csv", "line 3", "overlaps", "line 2"],
        id="trip-overlap",
    ),
    pytest.param(
        sc(
            vehicles=[car(), car("EV2")],
            trips=[trip(dep=0, arr=1), trip("EV2", dep=0.5, arr=2), trip(dep=2, arr=4), trip(dep=3, arr=3.5)],
        ),
        ["trips.csv", "line 5", "overlaps", "line 4", "EV1"],
        id="trip-overlap-among-others",
    ),
    pytest.param(
        sc(trips=[trip(energy=30, departure_soc=0.4)]),
        ["trips.csv", "line 2", "departure_soc", "cover"],
        id="trip-departure-soc-short",
    ),
    pytest.param(
        sc(vehicles=[car(max_soc=0.9)], trips=[trip(departure_soc=0.95)]),
        ["trips.csv", "line 2", "departure_soc", "above max_soc"],
        id="trip-departure-soc-above-max-soc",
    ),
    pytest.param(
        sc(trips=[trip(departure_soc=1.2)]),
        ["trips.csv", "line 2", "departure_soc", "0..1"],
        id="trip-departure-soc-above-1",
    ),
    pytest.param(
        sc(trips=[trip(), trip("EV9", dep=4, arr=5)]),
        ["trips.csv", "line 3", "EV9", "unknown"],
        id="trip-unknown-vehicle",
    ),
    pytest.param(
        sc(trips=[trip(dep=0, arr=1, trip_id="T1"), trip(dep=2, arr=3, trip_id="T1")]),
        ["trips.csv", "line 3", "duplicate", "T1"],
        id="trip-duplicate-id",
    ),
    pytest.param(sc(trips=[trip(energy=-5)]), ["trips.csv", "line 2", "energy_kwh", ">= 0"], id="trip-negative-energy"),
    pytest.param(
        sc(trips=[trip(energy="ten")]), ["trips.csv", "line 2", "energy_kwh", "not a number"], id="trip-non-numeric"
    ),
    pytest.param(
        sc(trips=[trip(dep=0, arr=1), trip(dep=2, arr=3, energy=None)]),
        ["trips.csv", "line 3", "energy_kwh", "empty"],
        id="trip-empty-energy",
    ),
    pytest.param(
        sc(trips=[trip(dep=0, arr=1), trip(dep=None, arr=3)]),
        ["trips.csv", "line 3", "departure", "empty"],
        id="trip-empty-time",
    ),
    pytest.param(
        sc(trips=[trip(dep="tomorrow morning")]),
        ["trips.csv", "line 2", "departure", "not a time"],
        id="trip-unparseable-time",
    ),
    pytest.param(
        sc(trips=[trip(dep=0, arr=1), trip(dep=2, arr="2026-06-15T25:00:00+02:00")]),
        ["trips.csv", "line 3", "arrival", "not a time"],
        id="trip-unparseable-time-with-offset",
    ),
    pytest.param(
        sc(start=DST_START, trips=[trip(dep="2026-03-29T02:30:00", arr="2026-03-29T05:00:00")]),
        ["trips.csv", "line 2", "departure", "does not exist"],
        id="trip-time-in-dst-gap",
    ),
    pytest.param(
        sc(start=AUTUMN_START, trips=[trip(dep="2026-10-25T00:30:00", arr="2026-10-25T02:30:00")]),
        ["trips.csv", "line 2", "arrival", "ambiguous"],
        id="trip-time-ambiguous",
    ),
    pytest.param(
        sc(trips=[without(trip(), "arrival")]), ["trips.csv", "missing column", "arrival"], id="trip-missing-column"
    ),
    pytest.param(
        sc(trips=[trip(distance_km=40)]), ["trips.csv", "unknown column", "distance_km"], id="trip-unknown-column"
    ),
    pytest.param(sc_file("trips.csv", "", trips=[trip()]), ["trips.csv", "empty"], id="trip-empty-file"),
    pytest.param(
        sc_file("trips.csv", GARBAGE, trips=[trip()]),
        ["trips.csv", ("cannot read", "missing column")],
        id="trip-binary-file",
    ),
    pytest.param(
        sc(vehicles=[car(initial_soc=None)], trips=[trip()]),
        ["vehicles.csv", "line 2", "EV1", "initial_soc"],
        id="trip-vehicle-without-initial-soc",
    ),
    pytest.param(
        sc(vehicles=[car(), car("EV2", initial_soc=None)]),
        ["vehicles.csv", "line 3", "EV2", "initial_soc"],
        id="idle-vehicle-without-initial-soc",
    ),
    pytest.param(
        sc(trips=[trip(dep=0, arr=1)], sessions=[sess("EV1", arr=2, dep=3)]),
        [("trips.csv", "sessions.csv", "vehicles.csv"), "line", "EV1", "both trips and sessions"],
        id="vehicle-with-trips-and-sessions",
    ),
    # --- sessions.csv --------------------------------------------------------------
    pytest.param(
        sc(vehicles=[visitor()], sessions=[sess(arrival_soc=1.2)]),
        ["sessions.csv", "line 2", "arrival_soc", "0..1"],
        id="sess-arrival-soc-above-1",
    ),
    pytest.param(
        sc(vehicles=[visitor()], sessions=[sess(target_soc=-0.1)]),
        ["sessions.csv", "line 2", "target_soc", "0..1"],
        id="sess-target-soc-negative",
    ),
    pytest.param(
        sc(vehicles=[visitor(max_soc=0.8)], sessions=[sess(target_soc=0.9)]),
        ["sessions.csv", "line 2", "target_soc", "above max_soc"],
        id="sess-target-soc-above-max-soc",
    ),
    pytest.param(
        sc(vehicles=[visitor()], sessions=[sess(arr=0, dep=2), sess(arr=1, dep=3)]),
        ["sessions.csv", "line 3", "overlaps", "line 2"],
        id="sess-overlap",
    ),
    pytest.param(
        sc(vehicles=[visitor()], sessions=[sess(), sess("V9", arr=3, dep=4)]),
        ["sessions.csv", "line 3", "V9", "unknown"],
        id="sess-unknown-vehicle",
    ),
    pytest.param(
        sc(vehicles=[visitor()], sessions=[sess(arr=3, dep=1)]),
        ["sessions.csv", "line 2", "before"],
        id="sess-departs-before-arriving",
    ),
    pytest.param(
        sc(vehicles=[visitor()], sessions=[sess(arr=0, dep=1, session_id="S"), sess(arr=2, dep=3, session_id="S")]),
        ["sessions.csv", "line 3", "duplicate", "S"],
        id="sess-duplicate-id",
    ),
    pytest.param(
        sc(vehicles=[visitor()], sessions=[without(sess(), "target_soc")]),
        ["sessions.csv", "missing column", "target_soc"],
        id="sess-missing-column",
    ),
    pytest.param(
        sc(vehicles=[visitor()], sessions=[sess(arrival_soc="half")]),
        ["sessions.csv", "line 2", "arrival_soc", "not a number"],
        id="sess-non-numeric",
    ),
    pytest.param(
        sc(vehicles=[visitor()], sessions=[sess(), sess(arr=3, dep=4, target_soc=None)]),
        ["sessions.csv", "line 3", "target_soc", "empty"],
        id="sess-empty-cell",
    ),
    pytest.param(
        sc(vehicles=[visitor()], sessions=[sess(arr="half past two")]),
        ["sessions.csv", "line 2", "arrival", "not a time"],
        id="sess-unparseable-time",
    ),
    # --- timeseries.csv ------------------------------------------------------------
    pytest.param(
        sc(timeseries=series([0, 1, 2], import_price=[0.1] * 3)),
        ["timeseries.csv", "covers", "horizon"],
        id="ts-ends-early",
    ),
    pytest.param(
        sc(timeseries=series([1, 2, 3, 4], import_price=[0.1] * 4)),
        ["timeseries.csv", "covers", "horizon"],
        id="ts-starts-late",
    ),
    pytest.param(
        sc(timeseries=series([0, 1, 3, 4], import_price=[0.1] * 4)), ["timeseries.csv", "line 4", "gap"], id="ts-gap"
    ),
    pytest.param(
        sc(timeseries=series([0, 2, 1, 3], import_price=[0.1] * 4)),
        ["timeseries.csv", "line 4", "not after"],
        id="ts-unsorted",
    ),
    pytest.param(
        sc(timeseries=series([0, 1, 1, 2, 3], import_price=[0.1] * 5)),
        ["timeseries.csv", "line 4", "not after"],
        id="ts-duplicate-row",
    ),
    pytest.param(
        sc(timeseries=series(range(4), base_load_kw=[1, -2, 3, 4])),
        ["timeseries.csv", "line 3", "base_load_kw", ">= 0"],
        id="ts-negative-base-load",
    ),
    pytest.param(
        sc(timeseries=series(range(4), pv_kw=[0, 0, -1, 0])),
        ["timeseries.csv", "line 4", "pv_kw", ">= 0"],
        id="ts-negative-pv",
    ),
    pytest.param(
        sc(timeseries=series(range(4), import_price=[0.1, "cheap", 0.1, 0.1])),
        ["timeseries.csv", "line 3", "import_price", "not a number"],
        id="ts-non-numeric",
    ),
    pytest.param(
        sc(timeseries=series(range(4), import_price=[0.1, 0.1, None, 0.1])),
        ["timeseries.csv", "line 4", "import_price", "empty"],
        id="ts-empty-cell",
    ),
    pytest.param(
        sc(timeseries=series(range(4), price=[0.1] * 4)),
        ["timeseries.csv", "unknown column", "price"],
        id="ts-unknown-column",
    ),
    pytest.param(
        sc(timeseries=series(range(4)).rename(columns={"time": "timestamp"}).assign(import_price=0.1)),
        ["timeseries.csv", "missing column", "time"],
        id="ts-missing-time-column",
    ),
    pytest.param(sc(timeseries=series(range(4))), ["timeseries.csv", "no data column"], id="ts-no-data-column"),
    pytest.param(
        sc(timeseries=series(range(4), import_price=[0.1] * 4).replace({at(2): "noon"})),
        ["timeseries.csv", "line 4", "time", "not a time"],
        id="ts-unparseable-time",
    ),
    pytest.param(
        sc(
            start=DST_START,
            timeseries=pd.DataFrame(
                {"time": [f"2026-03-29T{h:02d}:00:00" for h in range(5)], "import_price": [0.1] * 5}
            ),
        ),
        ["timeseries.csv", "line 4", "time", "does not exist"],
        id="ts-naive-time-in-dst-gap",
    ),
    pytest.param(
        sc_file("timeseries.csv", "", timeseries=series(range(4), import_price=[0.1] * 4)),
        ["timeseries.csv", "empty"],
        id="ts-empty-file",
    ),
    pytest.param(
        sc_file("timeseries.csv", "time,import_price\n", timeseries=series(range(4), import_price=[0.1] * 4)),
        ["timeseries.csv", ("no rows", "empty")],
        id="ts-header-only",
    ),
    pytest.param(
        sc_file("timeseries.csv", GARBAGE, timeseries=series(range(4), import_price=[0.1] * 4)),
        ["timeseries.csv", ("cannot read", "missing column")],
        id="ts-binary-file",
    ),
    # --- file line numbers survive blank lines -------------------------------------
    pytest.param(
        sc_file(
            "vehicles.csv", ",".join(car()) + "\n\n" + ",".join(str(v) for v in car(battery_kwh="x").values()) + "\n"
        ),
        ["vehicles.csv", "line 3", "battery_kwh", "not a number"],
        id="veh-line-number-after-blank-line",
    ),
    pytest.param(
        sc_file(
            "vehicles.csv",
            pd.DataFrame([car(model="line one\nline two"), car("EV2", battery_kwh="x")]).to_csv(index=False),
        ),
        ["vehicles.csv", "line 4", "battery_kwh", "not a number"],
        id="veh-line-number-after-multiline-cell",
    ),
    # --- times pandas cannot hold (beyond 2262) ------------------------------------
    pytest.param(
        sc(trips=[trip(dep="3000-01-01T08:00:00", arr="3000-01-01T09:00:00")]),
        ["trips.csv", "line 2", "departure", ("range", "bounds", "not a time", "too far")],
        id="trip-naive-time-out-of-range",
    ),
    pytest.param(
        sc(timeseries=series(range(4), import_price=[0.1] * 4).replace({at(3): "3000-01-01T00:00:00+00:00"})),
        ["timeseries.csv", "line 5", "time", ("range", "bounds", "not a time", "too far", "not after")],
        id="ts-time-out-of-range",
    ),
    # --- a tariff file whose prices are not numbers -----------------------------
    pytest.param(
        sc_file(
            "tariff.json",
            '{"schedule": [{"effective_start": "01-01", "effective_end": "12-31", "dow_mask": "ALL", "times": [0, 12], "tariffs": [0.1, NaN]}]}',
            tariff={"tariff_file": "tariff.json"},
        ),
        ["tariff.json", "tariffs", ("nan", "finite", "not a number")],
        id="tariff-file-nan-price",
    ),
    pytest.param(
        sc_file(
            "tariff.json",
            '{"schedule": [{"effective_start": "01-01", "effective_end": "12-31", "dow_mask": "ALL", "times": [0], "tariffs": [0.1], "demand_charge": Infinity}]}',
            tariff={"tariff_file": "tariff.json"},
        ),
        ["tariff.json", "demand_charge", ("inf", "finite", "not a number")],
        id="tariff-file-infinite-demand-charge",
    ),
]


def _has(message: str, fragment) -> bool:
    """Whether ``message`` holds ``fragment`` (or one of a tuple of them), ignoring case.

    ``"line N"`` must be exactly that line: not ``line N.0`` nor ``line N7``.
    """
    alts = fragment if isinstance(fragment, tuple) else (fragment,)
    for a in alts:
        if re.fullmatch(r"line \d+", a):
            if re.search(rf"\b{a}(?![\d.])", message):
                return True
        elif a.lower() in message.lower():
            return True
    return False


@pytest.mark.parametrize("build, fragments", CASES)
def test_bad_input_is_refused_with_a_clear_message(tmp_path, capsys, build, fragments):
    path = build(tmp_path / "sc")
    with pytest.raises(gridopt.ScenarioError) as exc:
        gridopt.load_scenario(path)
    msg = str(exc.value)
    missing = [f for f in fragments if not _has(msg, f)]
    assert not missing, f"message {msg!r} lacks {missing}"
    assert "\n" not in msg, f"message spans several lines: {msg!r}"

    capsys.readouterr()
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:")
    assert "Traceback" not in err and "Traceback" not in out
    assert msg in lines[0]


def test_missing_scenario_file_exits_2(tmp_path, capsys):
    path = tmp_path / "nothing_here.yaml"
    with pytest.raises(gridopt.ScenarioError, match="nothing_here.yaml.*not found"):
        gridopt.load_scenario(path)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error:") and "nothing_here.yaml" in err


def test_scenario_path_is_a_folder_exits_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error:") and "Traceback" not in err


def test_unquoted_time_of_use_keys(tmp_path, capsys):
    """YAML 1.1 reads an unquoted ``16:00`` as the integer 960 (base 60). A TOU table written
    like the README's but in block style must either work or say what is wrong with the keys,
    not claim that the prices are not numbers."""
    path = sc(horizon_hours=24)(tmp_path / "sc")
    text = path.read_text().replace(
        "import_price: 0.2", "import_price:\n    00:00: 0.1\n    16:00: 0.4\n    21:00: 0.1"
    )
    assert "16:00: 0.4" in text
    path.write_text(text)
    try:
        s = gridopt.load_scenario(path)
    except gridopt.ScenarioError as exc:
        msg = str(exc)
        assert "tariff.import_price" in msg
        assert any(w in msg.lower() for w in ("hh:mm", "quote", "time of day", "16:00", "960")), msg
    else:
        p = s.series["import_price"].to_numpy()
        assert list(p[:16]) == [0.1] * 16 and list(p[16:21]) == [0.4] * 5 and list(p[21:]) == [0.1] * 3


@pytest.mark.parametrize(
    "build, fragments",
    [
        pytest.param(sc(vehicles=[car(battery_kwh=-50)]), ["vehicles.csv", "line 2", "battery_kwh"], id="csv"),
        pytest.param(
            sc_file("scenario.yaml", "name: x\nsite: {import_limit_kw: 10\n"),
            ["scenario.yaml", "line"],
            id="yaml-syntax",
        ),
    ],
)
def test_validate_subprocess_exits_2_without_traceback(tmp_path, build, fragments):
    path = build(tmp_path / "sc")
    proc = subprocess.run(
        [sys.executable, "-m", "gridopt", "validate", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:")
    assert "Traceback" not in proc.stderr
    assert all(_has(lines[0], f) for f in fragments), lines[0]


# ---------------------------------------------------------------------------
# What is allowed
# ---------------------------------------------------------------------------


def test_naive_local_times_are_read_in_the_scenario_timezone(tmp_path):
    path = sc(
        vehicles=[car(), visitor()],
        trips=[trip(dep="2026-06-15T01:00:00", arr="2026-06-15 03:30")],
        sessions=[sess(arr="2026-06-15T00:15:00", dep="2026-06-15T03:00:00")],
        timeseries=pd.DataFrame(
            {"time": [f"2026-06-15T{h:02d}:00:00" for h in range(4)], "import_price": [0.1, 0.2, 0.3, 0.4]}
        ),
    )(tmp_path / "sc")
    s = gridopt.load_scenario(path)
    assert s.trips["departure"].iloc[0] == pd.Timestamp("2026-06-15T01:00:00+02:00")
    assert s.trips["arrival"].iloc[0] == pd.Timestamp("2026-06-15T03:30:00+02:00")
    assert s.sessions["arrival"].iloc[0] == pd.Timestamp("2026-06-15T00:15:00+02:00")
    assert str(s.trips["departure"].dt.tz) == "Europe/Amsterdam"
    assert s.series["import_price"].tolist() == [0.1, 0.2, 0.3, 0.4]


def test_times_with_different_offsets_across_a_dst_change(tmp_path):
    """2026-10-25 Europe/Amsterdam: 02:00-03:00 happens twice (+02:00, then +01:00)."""
    start = pd.Timestamp(AUTUMN_START)
    utc = pd.date_range(start.tz_convert("UTC"), periods=5, freq="1h")
    local = [t.tz_convert("Europe/Amsterdam").isoformat() for t in utc]
    assert local[2] == "2026-10-25T02:00:00+02:00" and local[3] == "2026-10-25T02:00:00+01:00"
    path = sc(
        start=AUTUMN_START,
        horizon_hours=5,
        trips=[trip(dep="2026-10-25T02:30:00+02:00", arr="2026-10-25T02:15:00+01:00", energy=5)],
        timeseries=pd.DataFrame({"time": local, "import_price": [0.1, 0.2, 0.3, 0.4, 0.5]}),
    )(tmp_path / "sc")
    s = gridopt.load_scenario(path)
    assert s.grid.n_steps == 5
    assert s.series["import_price"].tolist() == [0.1, 0.2, 0.3, 0.4, 0.5]
    dep, arr = s.trips["departure"].iloc[0], s.trips["arrival"].iloc[0]
    assert arr - dep == pd.Timedelta(minutes=45)


def test_hourly_prices_are_stepped_on_quarter_hours(tmp_path):
    path = sc(
        horizon_hours=2, step_minutes=15, timeseries=series([0, 1], import_price=[0.1, 0.3], export_price=[0.05, 0.0])
    )(tmp_path / "sc")
    s = gridopt.load_scenario(path)
    assert s.grid.n_steps == 8
    assert s.series["import_price"].tolist() == [0.1] * 4 + [0.3] * 4
    assert s.series["export_price"].tolist() == [0.05] * 4 + [0.0] * 4


def test_five_minute_base_load_is_averaged_on_quarter_hours(tmp_path):
    ts = pd.DataFrame({"time": [at(m / 60) for m in range(0, 60, 5)], "base_load_kw": [float(i) for i in range(12)]})
    path = sc(horizon_hours=1, step_minutes=15, timeseries=ts)(tmp_path / "sc")
    s = gridopt.load_scenario(path)
    assert s.series["base_load_kw"].tolist() == pytest.approx([1.0, 4.0, 7.0, 10.0])
    assert s.series["import_price"].tolist() == [0.2] * 4  # from the tariff


@pytest.mark.parametrize(
    "vehicle",
    [
        pytest.param(car(initial_soc=0.05, min_soc=0.2), id="below-min-soc"),
        pytest.param(car(initial_soc=0.95, max_soc=0.9), id="above-max-soc"),
    ],
)
def test_initial_soc_outside_the_soc_window_loads(tmp_path, capsys, vehicle):
    path = sc(vehicles=[vehicle], trips=[trip(dep=1, arr=2, energy=1)])(tmp_path / "sc")
    s = gridopt.load_scenario(path)
    assert s.vehicles.at["EV1", "initial_soc"] == vehicle["initial_soc"]
    assert main(["validate", str(path)]) == 0
    assert "error" not in capsys.readouterr().err


def test_arrival_soc_below_min_soc_loads(tmp_path):
    path = sc(vehicles=[visitor(min_soc=0.3)], sessions=[sess(arrival_soc=0.1, target_soc=0.5)])(tmp_path / "sc")
    s = gridopt.load_scenario(path)
    assert s.sessions["arrival_soc"].iloc[0] == 0.1


def test_low_unmet_penalty_is_a_warning_not_an_error(tmp_path, capsys):
    path = sc(unmet_energy_penalty_per_kwh=0.1, tariff={"import_price": {"00:00": 0.05, "02:00": 0.3}})(tmp_path / "sc")
    s = gridopt.load_scenario(path)
    hits = [w for w in s.warnings if "unmet_energy_penalty_per_kwh" in w and "import price" in w]
    assert len(hits) == 1, s.warnings
    assert "0.3" in hits[0]
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "valid" in out
    assert any(line.startswith("warning:") and "unmet_energy_penalty_per_kwh" in line for line in err.splitlines())
    assert "error:" not in err


def test_default_penalty_gives_no_penalty_warning(tmp_path):
    s = gridopt.load_scenario(sc()(tmp_path / "sc"))
    assert not [w for w in s.warnings if "unmet_energy_penalty_per_kwh" in w]
