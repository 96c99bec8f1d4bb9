"""What really happened, and what the operator was told: the ``--actual`` table.

A simulation replays a real period. The scenario describes the site, its
tariff, time series and vehicles; the **actual** table says what the vehicles
really did, beside what the operator knew about it in advance:

**Sessions** (visiting vehicles): the columns of gridopt's ``sessions.csv``
(``vehicle_id, arrival, departure, arrival_soc, target_soc[, session_id]``),
where ``departure`` is the real departure and ``target_soc`` the real need, plus

=========================  ==================================================
``estimated_departure``    the driver's estimate, told at plug-in; empty (or
                           no column) = none, the departure is forecast
``reported_target_soc``    the target told at plug-in; empty = none, the
                           energy is forecast. Without the column the real
                           ``target_soc`` is what is reported.
=========================  ==================================================

**Trips** (fleet vehicles): the columns of ``trips.csv`` (``vehicle_id,
departure, arrival, energy_kwh[, departure_soc, trip_id]``) as they really ran,
plus the timetable the operator plans with: ``planned_departure``,
``planned_arrival``, ``planned_energy_kwh``. An empty or missing planned value is
taken from the scenario's own trip with the same ``vehicle_id`` and ``trip_id``
(the scenario's ``trips.csv`` is then the timetable), else from the trip as it
ran (it ran to plan).

The real world of a simulation (:func:`truth`) is the scenario with its
sessions (or trips) replaced by the actual ones: ``gridopt run`` on that world
is the perfect-foresight plan.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ScenarioError
from ..scenario import (
    SESSION_OPTIONAL,
    SESSION_REQUIRED,
    TRIP_OPTIONAL,
    TRIP_REQUIRED,
    Scenario,
    check_columns,
    check_fleet_roles,
    numeric_column,
    validate_sessions,
    validate_trips,
)
from ..timeindex import parse_times

SESSION_INFO = ("estimated_departure", "reported_target_soc")
TRIP_INFO = ("planned_departure", "planned_arrival", "planned_energy_kwh")


@dataclass(frozen=True)
class Actual:
    """The real sessions or trips of a simulated period and what the operator knew.

    Attributes
    ----------
    kind : str
        ``"sessions"`` or ``"trips"``.
    table : DataFrame
        A validated gridopt sessions or trips table (index = file line).
    info : DataFrame
        Same index. Sessions: ``estimated_departure`` (tz-aware or NaT),
        ``reported_target_soc`` (fraction or NaN). Trips: ``planned_departure``,
        ``planned_arrival`` (tz-aware), ``planned_energy_kwh`` [kWh], all filled.
    where : str
        File name, for messages.
    told : str
        What the operator is told in advance: ``"reported"`` (the table's own
        ``estimated_departure``, ``reported_target_soc`` or planned trips) or
        ``"exact"`` (:func:`told_exactly`).
    """

    kind: str
    table: pd.DataFrame
    info: pd.DataFrame
    where: str
    told: str = "reported"


def _optional_times(raw: pd.DataFrame, col: str, tz: str, where: str) -> pd.Series:
    out = pd.Series(pd.NaT, index=raw.index, dtype=f"datetime64[ns, {tz}]")
    if col not in raw:
        return out
    given = raw[col].notna()
    if given.any():
        parsed = parse_times(raw.loc[given, col], tz, where, col)
        out.loc[given] = parsed.to_numpy()
    return out


def _text(raw: pd.DataFrame, col: str, default: list) -> pd.Series:
    if col not in raw:
        return pd.Series(default, index=raw.index, dtype=object)
    s = raw[col].astype("string").str.strip()
    return s.fillna(pd.Series(default, index=raw.index, dtype=object)).astype(object)


def _ids(raw: pd.DataFrame, where: str) -> pd.Series:
    ids = raw["vehicle_id"].astype("string").str.strip()
    bad = ids.isna() | (ids == "")
    if bad.any():
        raise ScenarioError(f"{where} line {bad.idxmax()}: 'vehicle_id' is empty")
    return ids.astype(object)


def actual_from_table(raw: pd.DataFrame, sc: Scenario, where: str) -> Actual:
    """Check a raw actual table (text cells, index = file line) against scenario ``sc``.

    The kind is told by the header: ``target_soc`` makes it sessions,
    ``energy_kwh`` trips.

    Raises
    ------
    ScenarioError
        Naming the file, line and column of the first problem.
    """
    tz = sc.timezone
    vwhere = "the scenario's vehicles"
    cols = set(raw.columns)
    if {"arrival_soc", "target_soc"} & cols:
        check_columns(raw, where, SESSION_REQUIRED, list(SESSION_OPTIONAL) + list(SESSION_INFO))
        if raw.empty:
            raise ScenarioError(f"{where}: no sessions")
        df = pd.DataFrame(index=raw.index)
        df["vehicle_id"] = _ids(raw, where)
        df["arrival"] = parse_times(raw["arrival"], tz, where, "arrival")
        df["departure"] = parse_times(raw["departure"], tz, where, "departure")
        df["arrival_soc"] = numeric_column(raw, "arrival_soc", where)
        df["target_soc"] = numeric_column(raw, "target_soc", where)
        df["session_id"] = _text(raw, "session_id", [f"session-{i - 1}" for i in raw.index])
        table = validate_sessions(df, sc.vehicles, where, vwhere)
        info = pd.DataFrame(index=raw.index)
        info["estimated_departure"] = _optional_times(raw, "estimated_departure", tz, where)
        if "reported_target_soc" in raw:
            rep = numeric_column(raw, "reported_target_soc", where, required=False)
            bad = (rep < 0) | (rep > 1)
            if bad.any():
                i = bad.idxmax()
                raise ScenarioError(f"{where} line {i}: 'reported_target_soc' = {rep[i]} is outside 0..1")
            info["reported_target_soc"] = rep
        else:
            info["reported_target_soc"] = table["target_soc"]
        early = info["estimated_departure"] <= table["arrival"]
        if early.any():
            i = early.idxmax()
            raise ScenarioError(
                f"{where} line {i}: 'estimated_departure' ({info.at[i, 'estimated_departure'].isoformat()}) is not "
                f"after the arrival ({table.at[i, 'arrival'].isoformat()})"
            )
        return Actual("sessions", table, info, where)
    if "energy_kwh" in cols:
        check_columns(raw, where, TRIP_REQUIRED, list(TRIP_OPTIONAL) + list(TRIP_INFO))
        if raw.empty:
            raise ScenarioError(f"{where}: no trips")
        df = pd.DataFrame(index=raw.index)
        df["vehicle_id"] = _ids(raw, where)
        df["departure"] = parse_times(raw["departure"], tz, where, "departure")
        df["arrival"] = parse_times(raw["arrival"], tz, where, "arrival")
        df["energy_kwh"] = numeric_column(raw, "energy_kwh", where)
        df["departure_soc"] = (
            numeric_column(raw, "departure_soc", where, required=False) if "departure_soc" in raw else np.nan
        )
        df["trip_id"] = _text(raw, "trip_id", [f"trip-{i - 1}" for i in raw.index])
        table = validate_trips(df, sc.vehicles, where, vwhere)
        info = _trip_plan(raw, table, sc, where)
        return Actual("trips", table, info, where)
    raise ScenarioError(
        f"{where}: not an actual sessions or trips table: expected the columns of sessions.csv "
        f"({', '.join(SESSION_REQUIRED)}) or of trips.csv ({', '.join(TRIP_REQUIRED)})"
    )


def _trip_plan(raw: pd.DataFrame, table: pd.DataFrame, sc: Scenario, where: str) -> pd.DataFrame:
    """Planned departure, arrival and energy of every trip (see the module doc)."""
    tz = sc.timezone
    info = pd.DataFrame(index=raw.index)
    info["planned_departure"] = _optional_times(raw, "planned_departure", tz, where)
    info["planned_arrival"] = _optional_times(raw, "planned_arrival", tz, where)
    if "planned_energy_kwh" in raw:
        e = numeric_column(raw, "planned_energy_kwh", where, required=False)
        if (e < 0).any():
            i = (e < 0).idxmax()
            raise ScenarioError(f"{where} line {i}: 'planned_energy_kwh' must be >= 0 (got {e[i]})")
        info["planned_energy_kwh"] = e
    else:
        info["planned_energy_kwh"] = np.nan
    timetable = sc.trips.set_index(["vehicle_id", "trip_id"]) if len(sc.trips) else None
    for col, src in (
        ("planned_departure", "departure"),
        ("planned_arrival", "arrival"),
        ("planned_energy_kwh", "energy_kwh"),
    ):
        missing = info[col].isna()
        if timetable is not None and missing.any():
            keys = pd.MultiIndex.from_arrays([table["vehicle_id"], table["trip_id"]])
            found = timetable[src].reindex(keys)
            found.index = table.index
            fill = missing & found.notna()
            info.loc[fill, col] = found[fill]
        missing = info[col].isna()
        info.loc[missing, col] = table.loc[missing, src]
    bad = info["planned_arrival"] <= info["planned_departure"]
    if bad.any():
        i = bad.idxmax()
        raise ScenarioError(
            f"{where} line {i}: planned arrival ({info.at[i, 'planned_arrival'].isoformat()}) is not after the "
            f"planned departure ({info.at[i, 'planned_departure'].isoformat()})"
        )
    return info


#: What the operator can be told in advance (``gridopt simulate --told``).
TOLD = ("reported", "exact")


def told_exactly(actual: Actual) -> Actual:
    """The same real period, with every vehicle's real movements told in advance.

    Sessions: each car's real departure is its estimate and its real need its
    reported target, told at plug-in. This is the information ACN-Sim hands
    its scheduling algorithms (acnportal's ``acndata_events`` builds each EV
    with the real disconnect time as its ``estimated_departure`` and the
    energy it really took as ``requested_energy``), so results in this mode
    compare with published ACN-Sim figures. Trips: the timetable is the trips
    as they ran. Arrivals are still unknown until they happen.
    """
    t = actual.table
    info = actual.info.copy()
    if actual.kind == "sessions":
        info["estimated_departure"] = t["departure"]
        info["reported_target_soc"] = t["target_soc"]
    else:
        info["planned_departure"] = t["departure"]
        info["planned_arrival"] = t["arrival"]
        info["planned_energy_kwh"] = t["energy_kwh"].astype(float)
    return dataclasses.replace(actual, info=info, told="exact")


def truth(sc: Scenario, actual: Actual) -> Scenario:
    """The real world: ``sc`` with its sessions (or trips) replaced by the actual ones.

    The other table (trips of a site whose sessions are replayed, or the
    reverse) is kept as it is and counts as both plan and reality.
    """
    if actual.kind == "sessions":
        sessions, trips = _grouped(actual.table, sc, "arrival"), sc.trips
    else:
        sessions, trips = sc.sessions, _grouped(actual.table, sc, "departure")
    check_fleet_roles(sc.vehicles, trips, sessions, "the scenario's vehicles", "trips", actual.where)
    inside = _count_inside(sc, actual)
    if inside == 0:
        raise ScenarioError(
            f"{actual.where}: no {actual.kind} fall within the scenario's horizon "
            f"{sc.grid.start.isoformat()} to {sc.grid.end.isoformat()}"
        )
    return sc.with_built(sessions=sessions, trips=trips)


def _grouped(table: pd.DataFrame, sc: Scenario, time_col: str) -> pd.DataFrame:
    """Rows in vehicle order, then time (labels, i.e. file lines, kept).

    :func:`gridopt.fleet.build_fleet_plan` (as of commit e66de8d) assigns a
    vehicle's sessions or trips to the wrong vehicle when its rows are not
    contiguous; grouped rows avoid it.
    """
    pos = {v: i for i, v in enumerate(sc.vehicles.index)}
    key = pd.DataFrame({"v": table["vehicle_id"].map(pos).to_numpy(), "t": table[time_col].to_numpy()})
    order = np.lexsort((key["t"].to_numpy(), key["v"].to_numpy()))
    return table.iloc[order]


def _count_inside(sc: Scenario, actual: Actual) -> int:
    t = actual.table
    if actual.kind == "sessions":
        return int(((t["departure"] > sc.grid.start) & (t["arrival"] < sc.grid.end)).sum())
    return int(((t["arrival"] > sc.grid.start) & (t["departure"] < sc.grid.end)).sum())


def planned_trips(sc: Scenario, actual: Actual | None) -> pd.DataFrame:
    """Per trip of the real world: ``vehicle_id, trip_id`` and the planned ``departure``, ``arrival``,
    ``energy_kwh`` and ``departure_soc``, indexed like the world's trips table."""
    if actual is not None and actual.kind == "trips":
        t, info = actual.table, actual.info
        return pd.DataFrame(
            {
                "vehicle_id": t["vehicle_id"],
                "trip_id": t["trip_id"],
                "departure": info["planned_departure"],
                "arrival": info["planned_arrival"],
                "energy_kwh": info["planned_energy_kwh"].astype(float),
                "departure_soc": t["departure_soc"],
            },
            index=t.index,
        )
    t = sc.trips
    return t[["vehicle_id", "trip_id", "departure", "arrival", "energy_kwh", "departure_soc"]].copy()
