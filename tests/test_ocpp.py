"""OCPP SetChargingProfile payloads: valid against the ocpp package's schemas, and the plan's setpoints."""

from __future__ import annotations

import decimal
import json
from pathlib import Path

import jsonschema
import numpy as np
import ocpp
import pandas as pd
import pytest

import gridopt
from gridopt.cli import main
from gridopt.errors import ScenarioError
from gridopt.export.ocpp import build_profiles, read_setpoints

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
SCHEMAS = {
    "1.6": "v16/schemas/SetChargingProfile.json",
    "2.0.1": "v201/schemas/SetChargingProfileRequest.json",
    "2.1": "v21/schemas/SetChargingProfileRequest.json",
}


def validator(version: str) -> jsonschema.Draft4Validator:
    """The ocpp package's own schema, read as ocpp reads it (1.6: floats as Decimal, for ``multipleOf: 0.1``)."""
    text = (Path(ocpp.__file__).parent / SCHEMAS[version]).read_text(encoding="utf-8")
    parse = decimal.Decimal if version == "1.6" else float
    return jsonschema.Draft4Validator(json.loads(text, parse_float=parse))


VALIDATORS = {v: validator(v) for v in SCHEMAS}


def assert_valid(version: str, payload: dict) -> None:
    parse = decimal.Decimal if version == "1.6" else float
    VALIDATORS[version].validate(json.loads(json.dumps(payload), parse_float=parse))


def periods_of(version: str, payload: dict) -> tuple[pd.Timestamp, int, str, list[dict]]:
    if version == "1.6":
        prof = payload["csChargingProfiles"]
        sched = prof["chargingSchedule"]
    else:
        prof = payload["chargingProfile"]
        (sched,) = prof["chargingSchedule"]
    assert prof["chargingProfilePurpose"] == "TxProfile" and prof["chargingProfileKind"] == "Absolute"
    assert prof["validFrom"] == sched["startSchedule"]
    start = pd.Timestamp(sched["startSchedule"])
    assert pd.Timestamp(prof["validTo"]) == start + pd.Timedelta(seconds=sched["duration"])
    return start, sched["duration"], sched["chargingRateUnit"], sched["chargingSchedulePeriod"]


def value_of(period: dict) -> float:
    return period["setpoint"] if period.get("operationMode") == "CentralSetpoint" else period["limit"]


def assert_profiles_follow_setpoints(sp: pd.DataFrame, profiles, version: str, unit: str, clamp: bool) -> None:
    """Every step of every block gets the block's limit (rounded to 0.1 W / A; 0 where clamped) from its profile."""
    step_s = int((sp["end"] - sp["start"]).dt.total_seconds().min())
    covered = 0
    for p in profiles:
        assert_valid(version, p.payload)
        start, duration, got_unit, periods = periods_of(version, p.payload)
        assert got_unit == unit
        assert [q["startPeriod"] for q in periods] == sorted({q["startPeriod"] for q in periods})
        assert periods[0]["startPeriod"] == 0
        blocks = sp[(sp["charger_id"] == p.charger_id) & (sp["start"] >= start) & (sp["end"] <= p.valid_to)]
        assert blocks["vehicle_id"].nunique() == 1  # one plug-in per profile
        assert (blocks["end"].max() - start).total_seconds() == duration
        starts = np.array([q["startPeriod"] for q in periods])
        for b in blocks.itertuples():
            for s in range(int((b.start - start).total_seconds()), int((b.end - start).total_seconds()), step_s):
                q = periods[int(np.searchsorted(starts, s, side="right")) - 1]
                want = b.limit_kw * 1000 if unit == "W" else b.limit_a
                if want < 0 and version != "2.1":
                    assert clamp
                    want = 0.0
                assert value_of(q) == pytest.approx(round(want, 1), abs=1e-9)
                if version == "2.1" and want < 0:
                    assert q["dischargeLimit"] == q["setpoint"] and "limit" not in q
                covered += 1
    assert covered == int(((sp["end"] - sp["start"]).dt.total_seconds() // step_s).sum())


@pytest.fixture(scope="module", params=SCENARIOS, ids=lambda p: p.stem)
def results(request, tmp_path_factory):
    sc = gridopt.load_scenario(request.param)
    res = gridopt.optimize(sc, baseline=False, flexibility=False)
    out = tmp_path_factory.mktemp(request.param.stem)
    gridopt.write_results(res, out)
    return out


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
def test_every_ready_scenario_gives_valid_profiles(results, version):
    sp, summary = read_setpoints(results)
    v2g = bool((sp["limit_kw"] < 0).any())
    if v2g and version != "2.1":
        with pytest.raises(ScenarioError, match="has no discharging"):
            build_profiles(sp, version)
    clamp = v2g and version != "2.1"
    profiles, warnings = build_profiles(sp, version, clamp_discharge=clamp)
    assert bool(warnings) == clamp
    assert len(profiles) >= sp["charger_id"].nunique()
    assert len({p.file for p in profiles}) == len(profiles)
    assert_profiles_follow_setpoints(sp, profiles, version, "W", clamp)
    # amperes, with the phases given (setpoints.csv assumes the default: A is refused without them)
    if (summary.get("operator") or {}).get("phases_source") != "chargers":
        with pytest.raises(ScenarioError, match="--unit A needs"):
            build_profiles(sp, version, unit="A", clamp_discharge=clamp)
    profiles_a, _ = build_profiles(sp, version, unit="A", phases=3, clamp_discharge=clamp)
    # what --phases 3 asks for (the file's own limit_a where it assumed 3 phases; a chargers.csv may say 1)
    sp3 = sp.assign(limit_a=sp["limit_kw"] * 1000.0 / (3 * sp["voltage_v"].astype(float)), phases=3.0)
    assert_profiles_follow_setpoints(sp3, profiles_a, version, "A", clamp)
    assert all(q["numberPhases"] == 3 for p in profiles_a for q in periods_of(version, p.payload)[3])


def test_a_hand_worked_v2g_plug_in():
    t = pd.date_range("2026-06-15T10:00", periods=4, freq="15min", tz="UTC")
    sp = pd.DataFrame(
        {
            "charger_id": ["C1", "C1", "C1"],
            "vehicle_id": ["EV1"] * 3,
            "start": [t[0], t[1], t[3]],
            "end": [t[1], t[3], t[3] + pd.Timedelta("15min")],
            "limit_kw": [11.0, -7.36, 0.0],
            "limit_a": [11000 / 690, -7360 / 690, 0.0],
            "phases": [3.0, 3.0, 3.0],
            "voltage_v": [230.0] * 3,
        }
    )
    (p21,), _ = build_profiles(sp, "2.1")
    assert p21.payload == {
        "evseId": 1,
        "chargingProfile": {
            "id": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute",
            "validFrom": "2026-06-15T10:00:00Z",
            "validTo": "2026-06-15T11:00:00Z",
            "chargingSchedule": [
                {
                    "id": 1,
                    "startSchedule": "2026-06-15T10:00:00Z",
                    "duration": 3600,
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 11000.0},
                        {
                            "startPeriod": 900,
                            "operationMode": "CentralSetpoint",
                            "setpoint": -7360.0,
                            "dischargeLimit": -7360.0,
                        },
                        {"startPeriod": 2700, "limit": 0.0},
                    ],
                }
            ],
        },
    }
    assert_valid("2.1", p21.payload)
    (p16,), warnings = build_profiles(sp, "1.6", clamp_discharge=True, unit="A", phases=3)
    sched = p16.payload["csChargingProfiles"]["chargingSchedule"]
    # the discharge clamped to 0 merges with the 0 that follows: two periods
    assert sched["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 15.9, "numberPhases": 3},
        {"startPeriod": 900, "limit": 0.0, "numberPhases": 3},
    ]
    assert p16.clamped_kwh == pytest.approx(7.36 * 0.5)
    assert "3.680 kWh" in warnings[0]
    assert_valid("1.6", p16.payload)
    # nothing in a payload names a vehicle
    assert "EV1" not in json.dumps(p21.payload) + json.dumps(p16.payload)


def test_the_command_line(tmp_path, capsys):
    from conftest import car, write_scenario

    path = write_scenario(
        tmp_path / "sc",
        vehicles=[car("EV1", max_discharge_kw=10.0), car("EV2")],
        tariff={"import_price": {"00:00": 0.1, "02:00": 0.5}, "export_price": {"00:00": 0.0, "02:00": 0.45}},
        site={"import_limit_kw": 100, "export_limit_kw": 100, "base_load_kw": 0},
    )
    res = tmp_path / "res"
    assert main(["run", str(path), "--out", str(res), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["export-ocpp", str(res), "--version", "2.0.1", "--out", str(tmp_path / "o201")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: setpoints.csv: the plan discharges") and err.count("\n") == 1
    assert not (tmp_path / "o201").exists()
    assert main(["export-ocpp", str(res), "--version", "2.1", "--out", str(tmp_path / "o21"), "--quiet"]) == 0
    index = pd.read_csv(tmp_path / "o21" / "profiles.csv")
    assert index["charger_id"].tolist() == ["EV1", "EV2"] and index["file"].tolist() == ["EV1-1.json", "EV2-1.json"]
    for f in index["file"]:
        assert_valid("2.1", json.loads((tmp_path / "o21" / f).read_text()))
    assert main(["export-ocpp", str(res), "--version", "2.1", "--out", str(tmp_path / "o21")]) == 73  # not empty
    assert main(["export-ocpp", str(res), "--version", "1.6", "--out", str(tmp_path / "a"), "--unit", "A"]) == 2
    assert "--phases" in capsys.readouterr().err
    assert main(["export-ocpp", str(tmp_path), "--version", "1.6", "--out", str(tmp_path / "b")]) == 2
    assert "no setpoints.csv" in capsys.readouterr().err


def test_refusals_and_file_names(tmp_path):
    t0 = pd.Timestamp("2026-06-15T00:00", tz="UTC")
    n = 1025  # alternating powers: one period per step, one more than OCPP 2.x allows
    step = pd.Timedelta("5min")
    sp = pd.DataFrame(
        {
            "charger_id": ["CA/1"] * n,
            "vehicle_id": ["EV1"] * n,
            "start": [t0 + k * step for k in range(n)],
            "end": [t0 + (k + 1) * step for k in range(n)],
            "limit_kw": [7.0 if k % 2 else 3.0 for k in range(n)],
            "limit_a": [0.0] * n,
            "phases": [3.0] * n,
            "voltage_v": [230.0] * n,
        }
    )
    with pytest.raises(ScenarioError, match="1025 periods"):
        build_profiles(sp, "2.0.1")
    (p16,), _ = build_profiles(sp, "1.6")  # 1.6's schema has no such limit
    assert_valid("1.6", p16.payload)
    assert p16.file.startswith("CA_1_") and p16.file.endswith("-1.json")  # no path separator in a file name
    for bad, what in (({"version": "1.5"}, "--version"), ({"unit": "kW"}, "--unit"), ({"phases": 2}, "--phases")):
        with pytest.raises(ScenarioError, match=what):
            build_profiles(sp.iloc[:2], **{"version": "1.6", **bad})
    res = tmp_path / "res"
    res.mkdir()
    sp.iloc[:2].assign(start=["2026-06-15T00:00:00+00:00", "yesterday"], end=sp["end"].iloc[:2]).to_csv(
        res / "setpoints.csv", index=False
    )
    with pytest.raises(ScenarioError, match=r"setpoints.csv line 3: start 'yesterday'"):
        read_setpoints(res)
