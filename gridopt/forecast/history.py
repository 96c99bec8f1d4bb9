"""Histories as canonical tables: sessions, trips, plug-in arrivals, trip schedules.

Raw tables (text, indexed by file line, header = line 1) come from
:mod:`gridopt.forecast.io`; the functions here check them and return the
canonical frames every model uses. Times are tz-aware (UTC until the history's
timezone is known, see :func:`localize`).

Canonical **sessions** (one row per plug-in):

=========================  ===================================================
``session_id``             text; opaque ``s<line>`` when the file has none
``arrival``, ``departure`` tz-aware instants
``energy_kwh``             energy delivered from the grid [kWh]
``site``                   text: the ``site`` column, else the ``station_id``
                           prefix before ``-`` (ACN: ``CA`` Caltech, ``AG`` JPL)
``station_id``             text or missing
``user_id``                text or missing (gridopt's ``vehicle_id``, an
                           optional ``user_id`` column; ACN-Data has none)
``estimated_departure``    the driver's estimate, tz-aware or NaT
``requested_energy_kwh``   the driver's request [kWh] or NaN
``claimed``                whether a driver claimed the session (bool)
=========================  ===================================================

A driver's estimate counts only on a *claimed* session: in ACN-Data an
unclaimed session's ``estimated_departure`` and ``requested_energy (kWh)`` are
the recorded outcome copied over (they equal ``departure`` and
``delivered_energy (kWh)`` on every unclaimed row), not something known at
plug-in, so they are dropped.

Canonical **trips**: ``vehicle_id``, ``departure``, ``arrival``, ``energy_kwh``
[kWh], ``trip_id``, ``route`` (text or missing), ``planned_departure``
(tz-aware or NaT).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import GridoptWarning, ScenarioError
from ..scenario import numeric_column
from .timezones import parse_instants

ACN_REQUIRED = ("arrival", "departure", "delivered_energy (kWh)")
ACN_OPTIONAL = (
    "requested_energy (kWh)",
    "station_id",
    "session_id",
    "estimated_departure",
    "claimed",
    "site",
    "user_id",
)
GRIDOPT_SESSIONS_REQUIRED = ("vehicle_id", "arrival", "departure", "arrival_soc", "target_soc")
#: What a driver tells at plug-in, in the session tables gridopt writes itself (the simulator's
#: ``--actual`` table, :data:`gridopt.simulate.actual.SESSION_INFO`): the estimated departure and
#: the target SoC reported (a fraction of ``battery_kwh``; empty = none).
GRIDOPT_SESSION_INFO = ("estimated_departure", "reported_target_soc")
GRIDOPT_SESSIONS_OPTIONAL = ("session_id", *GRIDOPT_SESSION_INFO)
TRIPS_REQUIRED = ("vehicle_id", "departure", "arrival", "energy_kwh")
TRIPS_OPTIONAL = ("departure_soc", "trip_id", "route", "planned_departure")
ARRIVALS_REQUIRED = ("arrival",)
ARRIVALS_OPTIONAL = (
    "session_id",
    "station_id",
    "site",
    "user_id",
    "vehicle_id",
    "estimated_departure",
    "requested_energy (kWh)",
    "requested_energy_kwh",
    "claimed",
    "reported_target_soc",
)
#: Outcome columns an arrivals file may carry; they are never read (``arrival_soc`` is read only
#: to turn a ``reported_target_soc`` into kWh).
ARRIVALS_IGNORED = ("departure", "delivered_energy (kWh)", "energy_kwh", "arrival_soc", "target_soc")
SCHEDULE_REQUIRED = ("vehicle_id", "planned_departure")
SCHEDULE_OPTIONAL = ("planned_arrival", "route", "trip_id")

_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


@dataclass(frozen=True)
class Parsed:
    """A table checked into canonical form, its times still to be localized.

    Attributes
    ----------
    kind : str
        ``"sessions"``, ``"trips"``, ``"arrivals"`` or ``"schedule"``.
    frame : pandas.DataFrame
        Canonical columns; time columns tz-aware.
    offsets_min : dict
        Column -> UTC offset written in each row [min], for timezone inference.
    where : str
        File name.
    """

    kind: str
    frame: pd.DataFrame
    offsets_min: dict
    where: str


def detect_kind(columns, where: str) -> str:
    """``"acn"``, ``"gridopt_sessions"`` or ``"trips"`` from a history's header."""
    cols = set(columns)
    # a column only one kind has decides (then a missing column is named as such)
    if cols & {"delivered_energy (kWh)", "requested_energy (kWh)", "claimed", "station_id"}:
        return "acn"
    if cols & {"arrival_soc", "target_soc", "reported_target_soc"}:
        return "gridopt_sessions"  # with or without the drivers' estimated_departure
    if "estimated_departure" in cols:
        return "acn"
    if "session_id" in cols:
        return "gridopt_sessions"
    if cols & {"energy_kwh", "departure_soc", "trip_id", "route", "planned_departure"}:
        return "trips"
    raise ScenarioError(
        f"{where}: not a history gridopt knows: expected ACN-Data sessions ({', '.join(ACN_REQUIRED)}, ...), "
        f"a gridopt sessions.csv ({', '.join(GRIDOPT_SESSIONS_REQUIRED)}) or trips.csv ({', '.join(TRIPS_REQUIRED)})"
    )


def _check_columns(raw: pd.DataFrame, where: str, required, optional, ignored=()) -> None:
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise ScenarioError(f"{where}: missing column {missing[0]!r} (required: {', '.join(required)})")
    known = set(required) | set(optional) | set(ignored)
    unknown = [c for c in raw.columns if c not in known]
    if unknown:
        raise ScenarioError(
            f"{where}: unknown column {unknown[0]!r} (allowed: {', '.join(list(required) + list(optional))})"
        )
    if raw.empty:
        raise ScenarioError(f"{where}: no rows")


def _text(raw: pd.DataFrame, col: str) -> pd.Series:
    if col not in raw:
        return pd.Series(pd.NA, index=raw.index, dtype="string")
    s = raw[col].astype("string").str.strip()
    return s.mask(s == "")


def _bool(raw: pd.DataFrame, col: str, where: str) -> pd.Series:
    """A True/False column; missing column or blank cells count as True (claimed)."""
    if col not in raw:
        return pd.Series(True, index=raw.index)
    s = raw[col].astype("string").str.strip().str.lower()
    bad = s.notna() & (s != "") & ~s.isin(_TRUE | _FALSE)
    if bad.any():
        i = bad.idxmax()
        raise ScenarioError(f"{where} line {i}: '{col}' = {raw.at[i, col]!r} is not True or False")
    return ~s.isin(_FALSE)


def _site(raw: pd.DataFrame, station: pd.Series) -> pd.Series:
    site = _text(raw, "site")
    prefix = station.str.split("-").str[0]
    return site.fillna(prefix).fillna("site").astype(object)


def _check_order(df: pd.DataFrame, start: str, end: str, where: str, what: str) -> None:
    bad = df[end] <= df[start]
    if bad.any():
        i = bad.idxmax()
        raise ScenarioError(
            f"{where} line {i}: {what} '{end}' ({df.at[i, end].isoformat()}) is not after '{start}' "
            f"({df.at[i, start].isoformat()})"
        )


def _nonnegative(values: pd.Series, where: str, col: str) -> pd.Series:
    neg = values < 0
    if neg.any():
        i = neg.idxmax()
        raise ScenarioError(f"{where} line {i}: '{col}' must be >= 0 (got {values[i]})")
    return values


def sessions_from_acn(raw: pd.DataFrame, where: str, timezone: str | None = None) -> Parsed:
    """Canonical sessions from an ACN-Data table (columns as ACN-Data ships them)."""
    _check_columns(raw, where, ACN_REQUIRED, ACN_OPTIONAL)
    df = pd.DataFrame(index=raw.index)
    offsets = {}
    for col in ("arrival", "departure"):
        df[col], offsets[col] = parse_instants(raw[col], where, col, timezone)
    df["energy_kwh"] = _nonnegative(
        numeric_column(raw, "delivered_energy (kWh)", where), where, "delivered_energy (kWh)"
    )
    df["station_id"] = _text(raw, "station_id").astype(object)
    df["site"] = _site(raw, _text(raw, "station_id"))
    df["user_id"] = _text(raw, "user_id").astype(object)
    df["claimed"] = _bool(raw, "claimed", where)
    if "estimated_departure" in raw:
        df["estimated_departure"], offsets["estimated_departure"] = parse_instants(
            raw["estimated_departure"], where, "estimated_departure", timezone, required=False
        )
    else:
        df["estimated_departure"] = pd.Series(pd.NaT, index=raw.index, dtype=df["arrival"].dtype)
    if "requested_energy (kWh)" in raw:
        req = numeric_column(raw, "requested_energy (kWh)", where, required=False)
        df["requested_energy_kwh"] = _nonnegative(req, where, "requested_energy (kWh)")
    else:
        df["requested_energy_kwh"] = np.nan
    df["session_id"] = _session_ids(raw)
    _check_order(df, "arrival", "departure", where, "session")
    return Parsed("sessions", _mask_unclaimed(df), offsets, where)


def _soc_column(raw: pd.DataFrame, col: str, where: str, required: bool = True) -> pd.Series:
    """A state-of-charge column as fractions 0..1 (NaN where empty, if not ``required``)."""
    soc = numeric_column(raw, col, where, required=required)
    bad = (soc < 0) | (soc > 1)
    if bad.any():
        i = bad.idxmax()
        raise ScenarioError(f"{where} line {i}: '{col}' = {soc[i]} is outside 0..1")
    return soc


def _vehicle_rows(vid: pd.Series, vehicles: pd.DataFrame, where: str, vehicles_where: str) -> pd.DataFrame:
    """The vehicles table's row of each ``vehicle_id`` (an unknown or empty id is an error)."""
    if vid.isna().any():
        raise ScenarioError(f"{where} line {vid.isna().idxmax()}: 'vehicle_id' is empty")
    unknown = ~vid.isin(vehicles.index)
    if unknown.any():
        i = unknown.idxmax()
        raise ScenarioError(f"{where} line {i}: unknown vehicle_id {vid[i]!r} (not in {vehicles_where})")
    return vehicles.loc[vid.to_numpy()]


def grid_energy_kwh(from_soc, to_soc, veh: pd.DataFrame) -> np.ndarray:
    """Energy drawn from the grid to go from ``from_soc`` to ``to_soc`` [kWh]; 0 when ``to_soc`` is lower.

    ``(to_soc - from_soc) * battery_kwh / charge_efficiency``, NaN where either SoC is NaN.
    """
    gain = np.asarray(to_soc, dtype=float) - np.asarray(from_soc, dtype=float)
    gain = np.where(np.isnan(gain), np.nan, np.clip(gain, 0.0, None))
    return gain * veh["battery_kwh"].to_numpy(float) / veh["charge_efficiency"].to_numpy(float)


def sessions_from_gridopt(
    raw: pd.DataFrame, where: str, vehicles: pd.DataFrame | None, vehicles_where: str, timezone: str | None = None
) -> Parsed:
    """Canonical sessions from a gridopt sessions.csv and its vehicles table.

    The energy is what the vehicle drew from the grid:
    ``energy_kwh = (target_soc - arrival_soc) * battery_kwh / charge_efficiency``
    (0 when the target is below the arrival SoC). ``vehicle_id`` is the user.
    """
    _check_columns(raw, where, GRIDOPT_SESSIONS_REQUIRED, GRIDOPT_SESSIONS_OPTIONAL)
    if vehicles is None:
        raise ScenarioError(
            f"{where}: a gridopt sessions.csv history holds SoC, not kWh: give its vehicles.csv "
            "(--history-vehicles) to turn SoC into energy"
        )
    df = pd.DataFrame(index=raw.index)
    offsets = {}
    for col in ("arrival", "departure"):
        df[col], offsets[col] = parse_instants(raw[col], where, col, timezone)
    vid = _text(raw, "vehicle_id")
    veh = _vehicle_rows(vid, vehicles, where, vehicles_where)
    arrival_soc = _soc_column(raw, "arrival_soc", where)
    df["energy_kwh"] = grid_energy_kwh(arrival_soc, _soc_column(raw, "target_soc", where), veh)
    df["station_id"] = pd.Series(pd.NA, index=raw.index, dtype=object)
    df["site"] = "site"
    df["user_id"] = vid.astype(object)
    df["claimed"] = True
    if "estimated_departure" in raw:
        df["estimated_departure"], offsets["estimated_departure"] = parse_instants(
            raw["estimated_departure"], where, "estimated_departure", timezone, required=False
        )
    else:
        df["estimated_departure"] = pd.Series(pd.NaT, index=raw.index, dtype=df["arrival"].dtype)
    if "reported_target_soc" in raw:
        reported = _soc_column(raw, "reported_target_soc", where, required=False)
        df["requested_energy_kwh"] = grid_energy_kwh(arrival_soc, reported, veh)
    else:
        df["requested_energy_kwh"] = np.nan
    df["session_id"] = _session_ids(raw)
    _check_order(df, "arrival", "departure", where, "session")
    return Parsed("sessions", df, offsets, where)


def trips_from_table(raw: pd.DataFrame, where: str, timezone: str | None = None) -> Parsed:
    """Canonical trips from a gridopt trips.csv (optionally with ``route``, ``planned_departure``)."""
    _check_columns(raw, where, TRIPS_REQUIRED, TRIPS_OPTIONAL)
    df = pd.DataFrame(index=raw.index)
    vid = _text(raw, "vehicle_id")
    if vid.isna().any():
        raise ScenarioError(f"{where} line {vid.isna().idxmax()}: 'vehicle_id' is empty")
    df["vehicle_id"] = vid.astype(object)
    offsets = {}
    for col in ("departure", "arrival"):
        df[col], offsets[col] = parse_instants(raw[col], where, col, timezone)
    if "planned_departure" in raw:
        df["planned_departure"], offsets["planned_departure"] = parse_instants(
            raw["planned_departure"], where, "planned_departure", timezone, required=False
        )
    else:
        df["planned_departure"] = pd.Series(pd.NaT, index=raw.index, dtype=df["departure"].dtype)
    df["energy_kwh"] = _nonnegative(numeric_column(raw, "energy_kwh", where), where, "energy_kwh")
    df["route"] = _text(raw, "route").astype(object)
    tid = _text(raw, "trip_id")
    df["trip_id"] = tid.fillna(pd.Series([f"t{i}" for i in raw.index], index=raw.index)).astype(object)
    _check_order(df, "departure", "arrival", where, "trip")
    return Parsed("trips", df, offsets, where)


def arrivals_from_table(
    raw: pd.DataFrame,
    where: str,
    timezone: str,
    vehicles: pd.DataFrame | None = None,
    vehicles_where: str = "vehicles.csv",
) -> Parsed:
    """Canonical arrivals: what is known at plug-in. Outcome columns, if present, are dropped unread.

    A ``reported_target_soc`` (gridopt's own session tables) is the driver's
    request as a fraction of the battery: with ``vehicles`` it becomes
    ``requested_energy_kwh = (reported_target_soc - arrival_soc) * battery_kwh /
    charge_efficiency`` (0 when below the arrival SoC; ``requested_energy``
    columns win over it where both are given). Without ``vehicles`` it cannot be
    turned into kWh and is left unused, with a :class:`~gridopt.errors.GridoptWarning`.
    """
    _check_columns(raw, where, ARRIVALS_REQUIRED, ARRIVALS_OPTIONAL, ARRIVALS_IGNORED)
    df = pd.DataFrame(index=raw.index)
    offsets = {}
    df["arrival"], offsets["arrival"] = parse_instants(raw["arrival"], where, "arrival", timezone)
    df["station_id"] = _text(raw, "station_id").astype(object)
    df["site"] = _site(raw, _text(raw, "station_id"))
    df["user_id"] = _text(raw, "user_id").fillna(_text(raw, "vehicle_id")).astype(object)
    df["claimed"] = _bool(raw, "claimed", where)
    if "estimated_departure" in raw:
        df["estimated_departure"], offsets["estimated_departure"] = parse_instants(
            raw["estimated_departure"], where, "estimated_departure", timezone, required=False
        )
    else:
        df["estimated_departure"] = pd.Series(pd.NaT, index=raw.index, dtype=df["arrival"].dtype)
    req = np.nan
    for col in ("requested_energy (kWh)", "requested_energy_kwh"):
        if col in raw:
            req = _nonnegative(numeric_column(raw, col, where, required=False), where, col)
    df["requested_energy_kwh"] = req
    if "reported_target_soc" in raw:
        reported = _soc_column(raw, "reported_target_soc", where, required=False)
        if vehicles is not None:
            if "arrival_soc" not in raw:
                raise ScenarioError(f"{where}: 'reported_target_soc' needs the 'arrival_soc' column to give kWh")
            veh = _vehicle_rows(_text(raw, "vehicle_id"), vehicles, where, vehicles_where)
            energy = grid_energy_kwh(_soc_column(raw, "arrival_soc", where), reported, veh)
            df["requested_energy_kwh"] = df["requested_energy_kwh"].fillna(pd.Series(energy, index=raw.index))
        elif reported.notna().any():
            warnings.warn(
                f"{where}: {int(reported.notna().sum())} reported_target_soc values are not used: they are "
                "fractions of the battery; give the arrivals' vehicles.csv (--vehicles) to turn them into kWh",
                GridoptWarning,
                stacklevel=2,
            )
    df["session_id"] = _session_ids(raw)
    dup = df["session_id"].duplicated()
    if dup.any():
        i = dup.idxmax()
        raise ScenarioError(f"{where} line {i}: duplicate session_id {df.at[i, 'session_id']!r}")
    return Parsed("arrivals", _mask_unclaimed(df), offsets, where)


def schedule_from_table(raw: pd.DataFrame, where: str, timezone: str) -> Parsed:
    """Canonical planned trips: ``vehicle_id``, ``planned_departure``, ``planned_arrival`` (or NaT), ``route``, ``trip_id``."""
    _check_columns(raw, where, SCHEDULE_REQUIRED, SCHEDULE_OPTIONAL)
    df = pd.DataFrame(index=raw.index)
    vid = _text(raw, "vehicle_id")
    if vid.isna().any():
        raise ScenarioError(f"{where} line {vid.isna().idxmax()}: 'vehicle_id' is empty")
    df["vehicle_id"] = vid.astype(object)
    offsets = {}
    df["planned_departure"], offsets["planned_departure"] = parse_instants(
        raw["planned_departure"], where, "planned_departure", timezone
    )
    if "planned_arrival" in raw:
        df["planned_arrival"], offsets["planned_arrival"] = parse_instants(
            raw["planned_arrival"], where, "planned_arrival", timezone, required=False
        )
        has = df["planned_arrival"].notna()
        _check_order(df[has], "planned_departure", "planned_arrival", where, "trip")
    else:
        df["planned_arrival"] = pd.Series(pd.NaT, index=raw.index, dtype=df["planned_departure"].dtype)
    df["route"] = _text(raw, "route").astype(object)
    tid = _text(raw, "trip_id")
    df["trip_id"] = tid.fillna(pd.Series([f"t{i}" for i in raw.index], index=raw.index)).astype(object)
    return Parsed("schedule", df, offsets, where)


def _session_ids(raw: pd.DataFrame) -> pd.Series:
    sid = _text(raw, "session_id")
    return sid.fillna(pd.Series([f"s{i}" for i in raw.index], index=raw.index)).astype(object)


def _mask_unclaimed(df: pd.DataFrame) -> pd.DataFrame:
    """Drop drivers' estimates on unclaimed sessions (ACN-Data fills them with the outcome)."""
    df = df.copy()
    un = ~df["claimed"].to_numpy(bool)
    df.loc[un, "estimated_departure"] = pd.NaT
    df.loc[un, "requested_energy_kwh"] = np.nan
    return df


TIME_COLUMNS = ("arrival", "departure", "estimated_departure", "planned_departure", "planned_arrival")


def localize(frame: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """The same frame with every time column converted to ``timezone``."""
    out = frame.copy()
    for col in TIME_COLUMNS:
        if col in out:
            out[col] = pd.to_datetime(out[col], utc=True).dt.tz_convert(timezone)
    return out
