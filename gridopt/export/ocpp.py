"""OCPP ``SetChargingProfile`` request payloads from a run's ``setpoints.csv``.

``gridopt export-ocpp RESULTS --version 1.6|2.0.1|2.1 --out DIR`` reads
``RESULTS/setpoints.csv`` (and ``summary.json`` for what its phases assume)
and writes, per charger and plug-in (a *transaction*: the blocks of one vehicle
on one charger that follow each other without a gap), one JSON file holding the
payload of a ``SetChargingProfile`` request:

* purpose ``TxProfile``, kind ``Absolute``, stack level 0; ``validFrom`` and
  ``startSchedule`` the plug-in's first step, ``validTo`` its end, ``duration``
  its length [s]; times in UTC (``...Z``);
* ``chargingRateUnit`` ``W`` (the default: the sum over the phases) or ``A``
  (``--unit A``: the current per phase, ``limit_a``); ``A`` needs the chargers'
  phases: from ``chargers.csv`` or ``--phases``, never the default assumption;
* one ``chargingSchedulePeriod`` per block: ``startPeriod`` seconds from the
  schedule's start, ``limit`` rounded to 0.1 W or 0.1 A (OCPP 1.6's schema asks
  for multiples of 0.1), ``numberPhases`` where the phases are known; blocks
  whose limits round alike merge.

**Discharging** (V2G blocks, ``limit_kw < 0``). OCPP 2.1 has V2X: such a
period is ``operationMode: CentralSetpoint`` with ``setpoint`` and
``dischargeLimit`` the (negative) planned power. OCPP 1.6 and 2.0.1 cannot say
"discharge": a plan that discharges is **refused** for them, since a charger
that just stops would leave the site importing what the vehicles were to
deliver (over its import limit, perhaps); ``--clamp-discharge`` sends 0
instead, with a warning that names the energy and the largest power dropped.

A ``limit`` caps the charging power; a vehicle may draw less. The payloads
carry no vehicle names: the back-end adds the ``transactionId`` (an integer in
1.6, text in 2.x) of the session it knows on that connector or EVSE
(``--connector-id``, default 1). ``DIR/profiles.csv`` lists each file with its
charger, validity and number of periods.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import OutputError, ScenarioError

VERSIONS = ("1.6", "2.0.1", "2.1")
UNITS = ("W", "A")
#: Most periods one charging schedule may hold in OCPP 2.0.1 and 2.1 (their schemas' ``maxItems``).
MAX_PERIODS_2X = 1024
#: Columns ``setpoints.csv`` must have.
NEEDED = ("charger_id", "vehicle_id", "start", "end", "limit_kw", "limit_a", "phases")


@dataclass(frozen=True)
class Profile:
    """One payload and where it goes."""

    charger_id: str
    file: str
    payload: dict
    valid_from: pd.Timestamp
    valid_to: pd.Timestamp
    n_periods: int
    clamped_kwh: float


def _utc(t: pd.Timestamp) -> str:
    return pd.Timestamp(t).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def read_setpoints(results: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """``setpoints.csv`` and ``summary.json`` of a results folder, checked.

    Raises
    ------
    ScenarioError
        A file is missing or unreadable, a column is missing, or a cell is not
        what gridopt writes (the line is named).
    """
    folder = Path(results)
    path = folder / "setpoints.csv"
    if not path.is_file():
        raise ScenarioError(
            f"{folder}: no setpoints.csv; give a folder written by `gridopt run` (gridopt 13 or later writes it)"
        )
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ScenarioError(f"setpoints.csv: cannot be read: {str(exc).splitlines()[0]}") from None
    missing = [c for c in NEEDED if c not in df.columns]
    if missing:
        raise ScenarioError(f"setpoints.csv: column {missing[0]} missing (needs {', '.join(NEEDED)})")
    for col in ("charger_id", "vehicle_id"):
        df[col] = df[col].map(lambda s: s[1:] if s.startswith("'") else s)  # the spreadsheet-safe quote
    for col in ("start", "end"):
        parsed = []
        for i, text in enumerate(df[col]):
            try:
                t = pd.Timestamp(text)
            except ValueError:
                t = None
            if t is None or t is pd.NaT or t.tzinfo is None:
                raise ScenarioError(f"setpoints.csv line {i + 2}: {col} {text!r} is not a time with a UTC offset")
            parsed.append(t.tz_convert("UTC"))
        df[col] = pd.DatetimeIndex(parsed) if parsed else pd.DatetimeIndex([], tz="UTC")
    for col in ("limit_kw", "limit_a", "phases"):
        vals = pd.to_numeric(df[col], errors="coerce")
        bad = ~np.isfinite(vals.to_numpy(dtype=float))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ScenarioError(f"setpoints.csv line {i + 2}: {col} {df[col].iloc[i]!r} is not a finite number")
        df[col] = vals.astype(float)
    if (df["end"] <= df["start"]).any():
        i = int(np.flatnonzero((df["end"] <= df["start"]).to_numpy())[0])
        raise ScenarioError(f"setpoints.csv line {i + 2}: end is not after start")
    summary = {}
    spath = folder / "summary.json"
    if spath.is_file():
        try:
            summary = json.loads(spath.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"summary.json: cannot be read: {exc}") from None
    return df, summary


def transactions(setpoints: pd.DataFrame) -> list[pd.DataFrame]:
    """The blocks grouped by charger and plug-in: one vehicle on one charger, blocks without a gap."""
    sp = setpoints.sort_values(["charger_id", "start"], kind="stable").reset_index(drop=True)
    if not len(sp):
        return []
    ch, veh = sp["charger_id"].to_numpy(dtype=object), sp["vehicle_id"].to_numpy(dtype=object)
    start, end = sp["start"].to_numpy(), sp["end"].to_numpy()
    new = np.ones(len(sp), dtype=bool)
    new[1:] = (ch[1:] != ch[:-1]) | (veh[1:] != veh[:-1]) | (start[1:] != end[:-1])
    ids = np.cumsum(new) - 1
    return [g.reset_index(drop=True) for _, g in sp.groupby(ids, sort=True)]


def _file_names(chargers: list[str]) -> dict[str, str]:
    """A file-name stem per charger id: the id where it is safe, else a cleaned id with a short hash."""
    import hashlib

    out, used = {}, set()
    for c in dict.fromkeys(chargers):
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", c).lstrip(".") or "charger"
        if stem != c or stem.lower() in used:
            stem = f"{stem}_{hashlib.sha1(c.encode()).hexdigest()[:8]}"
        used.add(stem.lower())
        out[c] = stem
    return out


def build_profiles(
    setpoints: pd.DataFrame,
    version: str,
    *,
    unit: str = "W",
    phases: int | None = None,
    phases_known: bool = False,
    clamp_discharge: bool = False,
    connector_id: int = 1,
) -> tuple[list[Profile], list[str]]:
    """The ``SetChargingProfile`` payloads of ``setpoints`` (see the module's notes) and the warnings.

    Parameters
    ----------
    setpoints : DataFrame
        From :func:`read_setpoints`.
    version : {"1.6", "2.0.1", "2.1"}
    unit : {"W", "A"}
    phases : int, optional
        Phases of every charger (1 or 3), overriding the file's.
    phases_known : bool
        The file's ``phases`` come from the chargers table, not from the default.
    clamp_discharge : bool
        For 1.6 and 2.0.1: send 0 where the plan discharges instead of refusing.
    connector_id : int
        ``connectorId`` (1.6) or ``evseId`` (2.x) [-].

    Raises
    ------
    ScenarioError
        An unknown version or unit, ``A`` without known phases, discharging for
        1.6 / 2.0.1 without ``clamp_discharge``, or more periods than 2.x allows.
    """
    if version not in VERSIONS:
        raise ScenarioError(f"--version {version!r}: must be one of {', '.join(VERSIONS)}")
    if unit not in UNITS:
        raise ScenarioError(f"--unit {unit!r}: must be W or A")
    if phases is not None and phases not in (1, 3):
        raise ScenarioError(f"--phases {phases!r}: must be 1 or 3")
    if not (isinstance(connector_id, int) and connector_id >= 1):
        raise ScenarioError(
            f"--connector-id {connector_id!r}: must be an integer >= 1 (a TxProfile names its connector)"
        )
    known = phases is not None or phases_known
    if unit == "A" and not known:
        raise ScenarioError(
            "--unit A needs each charger's phases: setpoints.csv assumes the default (no chargers.csv with "
            "phases in the scenario); pass --phases 1 or --phases 3, or use --unit W"
        )
    sp = setpoints.copy()
    if phases is not None:
        # the current per phase for the given phases, from the file's power and voltage
        volts = sp["voltage_v"].astype(float) if "voltage_v" in sp else 230.0
        sp["limit_a"] = sp["limit_kw"] * 1000.0 / (phases * volts)
        sp["phases"] = float(phases)
    v2x = version == "2.1"
    warnings: list[str] = []
    discharging = sp["limit_kw"] < 0
    if discharging.any() and not v2x and not clamp_discharge:
        first = sp[discharging].iloc[0]
        raise ScenarioError(
            f"setpoints.csv: the plan discharges (charger {first['charger_id']}, {first['limit_kw']:g} kW from "
            f"{_utc(first['start'])}, {int(discharging.sum())} blocks); OCPP {version} has no discharging: "
            "use --version 2.1, or --clamp-discharge to send 0 there (the site's plan then no longer holds)"
        )
    names = _file_names([str(c) for c in sp["charger_id"]])
    profiles: list[Profile] = []
    count: dict[str, int] = {}
    clamped_total, clamped_peak = 0.0, 0.0
    for tx in transactions(sp):
        charger = str(tx["charger_id"].iloc[0])
        t0, t1 = tx["start"].iloc[0], tx["end"].iloc[-1]
        value = tx["limit_kw"] * 1000.0 if unit == "W" else tx["limit_a"]
        value = value.to_numpy(dtype=float)
        neg = value < 0
        clamped_kwh = 0.0
        if neg.any() and not v2x:
            hours = ((tx["end"] - tx["start"]).dt.total_seconds() / 3600.0).to_numpy()
            clamped_kwh = float((-tx["limit_kw"].to_numpy()[neg] * hours[neg]).sum())
            clamped_peak = max(clamped_peak, float(-tx["limit_kw"].min()))
            clamped_total += clamped_kwh
            value = np.where(neg, 0.0, value)
        value = np.array([round(float(x), 1) for x in value]) + 0.0  # correctly rounded, as in the file's text
        n_ph = tx["phases"].to_numpy(dtype=float)
        periods, last = [], None
        for k in range(len(tx)):
            start_s = int(round((tx["start"].iloc[k] - t0).total_seconds()))
            key = (value[k], n_ph[k])
            if key == last:
                continue  # equal after rounding (or clamping): one period
            last = key
            periods.append(_period(version, start_s, float(value[k]), int(n_ph[k]) if known else None))
        if version != "1.6" and len(periods) > MAX_PERIODS_2X:
            raise ScenarioError(
                f"setpoints.csv: charger {charger} needs {len(periods)} periods from {t0.isoformat()}; OCPP {version} "
                f"allows {MAX_PERIODS_2X} per schedule: plan a shorter horizon or longer steps"
            )
        count[charger] = count.get(charger, 0) + 1
        pid = len(profiles) + 1
        payload = _payload(version, pid, connector_id, unit, t0, t1, periods)
        profiles.append(
            Profile(
                charger_id=charger,
                file=f"{names[charger]}-{count[charger]}.json",
                payload=payload,
                valid_from=t0,
                valid_to=t1,
                n_periods=len(periods),
                clamped_kwh=clamped_kwh,
            )
        )
    if clamped_total > 0:
        warnings.append(
            f"OCPP {version} has no discharging: {clamped_total:.3f} kWh of planned V2G (up to {clamped_peak:g} kW "
            "per charger) sent as 0; the site's plan no longer holds (its import rises where vehicles were to "
            "deliver)"
        )
    return profiles, warnings


def _period(version: str, start_s: int, limit: float, phases: int | None) -> dict:
    if version == "2.1" and limit < 0:
        p = {"startPeriod": start_s, "operationMode": "CentralSetpoint", "setpoint": limit, "dischargeLimit": limit}
    else:
        p = {"startPeriod": start_s, "limit": limit}
    if phases is not None:
        p["numberPhases"] = phases
    return p


def _payload(version: str, pid: int, connector_id: int, unit: str, t0, t1, periods: list) -> dict:
    duration = int(round((t1 - t0).total_seconds()))
    schedule = {"startSchedule": _utc(t0), "duration": duration, "chargingRateUnit": unit}
    common = {
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "validFrom": _utc(t0),
        "validTo": _utc(t1),
    }
    if version == "1.6":
        return {
            "connectorId": connector_id,
            "csChargingProfiles": {
                "chargingProfileId": pid,
                **common,
                "chargingSchedule": {**schedule, "chargingSchedulePeriod": periods},
            },
        }
    return {
        "evseId": connector_id,
        "chargingProfile": {
            "id": pid,
            **common,
            "chargingSchedule": [{"id": pid, **schedule, "chargingSchedulePeriod": periods}],
        },
    }


def export_ocpp(
    results: str | os.PathLike,
    out_dir: str | os.PathLike,
    version: str,
    *,
    unit: str = "W",
    phases: int | None = None,
    clamp_discharge: bool = False,
    connector_id: int = 1,
) -> tuple[list[Path], list[str]]:
    """Write the payloads of ``results``' setpoints into ``out_dir`` (new or empty) and ``profiles.csv``.

    Returns
    -------
    files : list of Path
    warnings : list of str

    Raises
    ------
    ScenarioError
        Bad options or setpoints (see :func:`build_profiles`).
    OutputError
        ``out_dir`` holds files, or cannot be written.
    """
    sp, summary = read_setpoints(results)
    source = (summary.get("operator") or {}).get("phases_source", "default")
    profiles, warnings = build_profiles(
        sp,
        version,
        unit=unit,
        phases=phases,
        phases_known=source == "chargers",
        clamp_discharge=clamp_discharge,
        connector_id=connector_id,
    )
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"cannot write OCPP profiles to {out}: give a new or empty folder; nothing was written")
    try:
        out.mkdir(parents=True, exist_ok=True)
        files = []
        for p in profiles:
            path = out / p.file
            path.write_text(json.dumps(p.payload, indent=2) + "\n", encoding="utf-8")
            files.append(path)
        index = pd.DataFrame(
            {
                "charger_id": [p.charger_id for p in profiles],
                "file": [p.file for p in profiles],
                "valid_from": [_utc(p.valid_from) for p in profiles],
                "valid_to": [_utc(p.valid_to) for p in profiles],
                "periods": [p.n_periods for p in profiles],
                "clamped_kwh": [p.clamped_kwh for p in profiles],
            }
        )
        from ..io.write import spreadsheet_safe

        index["charger_id"] = index["charger_id"].map(spreadsheet_safe)
        (out / "profiles.csv").write_text(index.to_csv(index=False, float_format="%.6g"), encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write OCPP profiles to {out}: {exc.strerror or exc}") from None
    return [*files, out / "profiles.csv"], warnings
