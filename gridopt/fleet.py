"""Vehicles, trips and sessions turned into plug-in segments and energy requirements.

For each vehicle the horizon splits into **segments**: maximal runs of steps in
which it is plugged in at the site, each with a known or linked starting SoC.

* A *trip vehicle* (trips, or neither trips nor sessions) is at the site whenever
  it is not on a trip. Its first segment starts at boundary 0 with
  ``initial_soc`` (or, if a trip that left before the horizon is still under
  way, at that trip's return, with ``initial_soc`` as its SoC on return). Each
  trip departing inside the horizon ends a segment with a **requirement**
  (``departure_soc * battery_kwh`` if given, else ``min_soc * battery_kwh +
  energy_kwh``); the next segment starts at the trip's return with
  ``SoC = SoC at departure + shortfall - energy_kwh`` (linked). A trip that
  returns after the horizon leaves the vehicle away to the end; trips departing
  at or after the end, or back at or before the start, are outside the plan
  (ignored and counted).
* A *session vehicle* is at the site only during its sessions: each session is
  a segment starting with ``arrival_soc`` and ending with a ``target_soc``
  requirement. A session that began before the horizon is present from the
  start; one that ends after it must meet its target at the end; sessions wholly
  outside the horizon are ignored and counted.
* An optional ``final_soc`` is a requirement at the horizon's end for a vehicle
  plugged in during the last step.

Events wholly outside the horizon are found by :func:`outside_horizon`; when a
scenario is read, :func:`check_outside_horizon` warns about them and refuses a
file whose share outside exceeds ``fleet.max_share_outside_horizon``.

Times snap to the grid as :mod:`gridopt.timeindex` documents: arrivals up,
departures down. A segment covers steps ``start .. end - 1`` and SoC boundaries
``start .. end``; ``start == end`` is a segment without a plugged-in step
(e.g. a vehicle that returns and leaves again within one step).

SoC bounds: while plugged in SoC stays within ``[min_soc, max_soc] *
battery_kwh``, except that a segment that *starts* outside that range may stay
there: such a vehicle may not discharge while below ``min_soc`` nor charge while
above ``max_soc``. ``lo_kwh``/``hi_kwh`` are the widened bounds and
``low_guard``/``high_guard`` tell the model where those rules need a binary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import ScenarioError
from .scenario import Scenario
from .timeindex import TimeGrid


@dataclass(frozen=True)
class FleetPlan:
    """Plug-in segments and requirements of a fleet on a grid.

    Attributes
    ----------
    vehicle_ids : list of str
        Vehicle order used by the integer vehicle index ``v``.
    segments : DataFrame
        One row per segment ``j``: ``vehicle`` (int), ``vehicle_id``, ``start``,
        ``end`` (boundaries), ``s0_kwh`` (known start SoC, NaN if linked),
        ``link_req`` (requirement whose trip ends before this segment, -1 if none),
        ``lo_kwh``, ``hi_kwh`` (SoC bounds), ``low_guard``, ``high_guard`` (bool).
    requirements : DataFrame
        One row per requirement ``r``: ``vehicle``, ``vehicle_id``, ``segment``,
        ``boundary``, ``required_kwh``, ``energy_kwh`` (taken off after it; trips),
        ``kind`` (trip / session / final), ``event_id``, ``time`` (the event's own time).
    plugged : ndarray of bool, shape (n_vehicles, n_steps)
    ignored_sessions : int
        Sessions wholly outside the horizon (see :func:`outside_horizon`).
    ignored_trips : int
        Trips wholly outside the horizon: departing at or after its end, or
        back at or before its start.
    stations : ndarray of object, shape (n_vehicles, n_steps), or None
        ``station_id`` of the session each vehicle is plugged into in each step
        (None where it is not plugged in or its session names no station); None
        when the sessions have no ``station_id`` column.
    """

    vehicle_ids: list
    segments: pd.DataFrame
    requirements: pd.DataFrame
    plugged: np.ndarray
    ignored_sessions: int = 0
    ignored_trips: int = 0
    stations: np.ndarray | None = None


def _by_vehicle(df: pd.DataFrame, vids: list, time_col: str) -> dict[int, np.ndarray]:
    """Row positions of ``df`` per vehicle index, each sorted by ``time_col``."""
    if not len(df):
        return {}
    pos = {v: i for i, v in enumerate(vids)}
    vi = np.array([pos[v] for v in df["vehicle_id"]])
    order = np.lexsort((df[time_col].to_numpy(), vi))
    vi_sorted = vi[order]
    cuts = np.flatnonzero(np.diff(vi_sorted)) + 1
    return {int(vi[g[0]]): g for g in np.split(order, cuts)} if len(order) else {}


#: Default largest share of a trips or sessions file that may fall wholly outside the horizon [-].
MAX_SHARE_OUTSIDE_HORIZON = 0.5


def outside_horizon(grid: TimeGrid, trips: pd.DataFrame, sessions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Which trips and sessions fall wholly outside the horizon (and are ignored by the plan).

    A trip is outside when it departs at or after the horizon's end, or is back
    at or before its start (history). A session is outside when it ends at or
    before the start, or begins at or after the end. A trip under way at the
    start, or back after the end, is inside: it keeps the vehicle away.

    Returns
    -------
    (ndarray of bool, ndarray of bool)
        One flag per row of ``trips`` and of ``sessions``.
    """

    def ns(col) -> np.ndarray:
        return pd.DatetimeIndex(col).as_unit("ns").asi8

    start_ns, end_ns = grid.start.value, grid.end.value
    trips_out = (ns(trips["departure"]) >= end_ns) | (ns(trips["arrival"]) <= start_ns)
    sessions_out = (ns(sessions["departure"]) <= start_ns) | (ns(sessions["arrival"]) >= end_ns)
    return np.asarray(trips_out, dtype=bool), np.asarray(sessions_out, dtype=bool)


def check_outside_horizon(
    grid: TimeGrid,
    trips: pd.DataFrame,
    sessions: pd.DataFrame,
    trips_where: str,
    sessions_where: str,
    max_share: float | None = None,
) -> list[str]:
    """Warn about trips and sessions wholly outside the horizon; refuse a file when most of it is.

    Events outside the horizon are ignored by the plan. A few are normal (a
    timetable that runs on past the horizon); most of a file usually means a
    date read wrongly, a mistyped year or the wrong timezone.

    Parameters
    ----------
    grid : TimeGrid
    trips, sessions : DataFrame
        Validated tables, indexed by file line.
    trips_where, sessions_where : str
        File names for messages.
    max_share : float, optional
        Largest share of a file's events that may be outside
        (``fleet.max_share_outside_horizon``) [-]; default
        :data:`MAX_SHARE_OUTSIDE_HORIZON`.

    Returns
    -------
    list of str
        One warning per file with events outside: the count and the first line.

    Raises
    ------
    ScenarioError
        When a file's share outside exceeds ``max_share``.
    """
    max_share = MAX_SHARE_OUTSIDE_HORIZON if max_share is None else float(max_share)
    trips_out, sessions_out = outside_horizon(grid, trips, sessions)
    span = f"{grid.start.isoformat()} to {grid.end.isoformat()}"
    out = []
    for table, mask, where, what, col, verb in (
        (trips, trips_out, trips_where, "trips", "departure", "departs"),
        (sessions, sessions_out, sessions_where, "sessions", "arrival", "arrives"),
    ):
        n, total = int(mask.sum()), len(table)
        if not n:
            continue
        pos = int(np.argmax(mask))
        first = f"first on line {table.index[pos]}: {verb} {table[col].iloc[pos].isoformat()}"
        share = n / total
        if share > max_share + 1e-12:
            percent = f"{100 * share:.1f}".rstrip("0").rstrip(".")
            raise ScenarioError(
                f"{where}: {n} of {total} {what} ({percent}%) fall wholly outside the horizon {span} ({first}), "
                f"more than fleet.max_share_outside_horizon = {max_share:g}: check their dates (year, date_format, "
                "timezone), or raise fleet.max_share_outside_horizon (1.0 allows all)"
            )
        out.append(f"{where}: {n} of {total} {what} fall wholly outside the horizon {span} and are ignored ({first})")
    return out


def build_fleet_plan(sc: Scenario) -> FleetPlan:
    """Segments and requirements of every vehicle of ``sc`` (see module docstring)."""
    grid: TimeGrid = sc.grid
    T = grid.n_steps
    vids = list(sc.vehicles.index)
    veh = sc.vehicles
    B_v = veh["battery_kwh"].to_numpy(float)
    L_v = veh["min_soc"].to_numpy(float) * B_v
    U_v = veh["max_soc"].to_numpy(float) * B_v
    v2g_v = veh["max_discharge_kw"].to_numpy(float) > 0
    charge_v = veh["max_charge_kw"].to_numpy(float) > 0
    init_v = veh["initial_soc"].to_numpy(float) * B_v
    final_v = veh["final_soc"].to_numpy(float) * B_v
    start_ns, end_ns = grid.start.value, grid.end.value

    def ns(col):
        return pd.DatetimeIndex(col).as_unit("ns").asi8

    ses = sc.sessions
    s_dep = ns(ses["departure"])
    s_a = np.maximum(0, grid.arrival_boundary(ses["arrival"])) if len(ses) else np.zeros(0, np.int64)
    s_d = np.minimum(T, grid.departure_boundary(ses["departure"])) if len(ses) else np.zeros(0, np.int64)
    s_asoc, s_tsoc = ses["arrival_soc"].to_numpy(float), ses["target_soc"].to_numpy(float)
    s_id, s_time = ses["session_id"].to_numpy(object), list(ses["departure"])
    s_station = ses["station_id"].to_numpy(object) if "station_id" in ses else None
    stations = np.full((len(vids), T), None, dtype=object) if s_station is not None else None
    trp = sc.trips
    t_dep, t_arr = ns(trp["departure"]), ns(trp["arrival"])
    t_d = grid.departure_boundary(trp["departure"]) if len(trp) else np.zeros(0, np.int64)
    t_a = grid.arrival_boundary(trp["arrival"]) if len(trp) else np.zeros(0, np.int64)
    t_E, t_dsoc = trp["energy_kwh"].to_numpy(float), trp["departure_soc"].to_numpy(float)
    t_id, t_time = trp["trip_id"].to_numpy(object), list(trp["departure"])
    sessions_of = _by_vehicle(ses, vids, "arrival")
    trips_of = _by_vehicle(trp, vids, "departure")

    segs: list[tuple] = []
    reqs: list[tuple] = []
    trips_out, sessions_out = outside_horizon(grid, trp, ses)
    for v, vid in enumerate(vids):
        L, U, v2g, can_charge = L_v[v], U_v[v], bool(v2g_v[v]), bool(charge_v[v])

        def add_segment(start, end, s0=math.nan, link=-1, start_lo=None, start_hi=None):
            lo_start = s0 if start_lo is None else start_lo
            hi_start = s0 if start_hi is None else start_hi
            segs.append(
                (
                    v,
                    vid,
                    int(start),
                    int(end),
                    s0,
                    link,
                    min(L, lo_start),
                    max(U, hi_start),
                    bool(v2g and lo_start < L - 1e-9),
                    bool(can_charge and hi_start > U + 1e-9),
                )
            )
            return len(segs) - 1

        def add_req(seg, boundary, required, kind, event_id, time, energy=0.0):
            reqs.append((v, vid, seg, int(boundary), float(required), float(energy), kind, str(event_id), time))
            return len(reqs) - 1

        if v in sessions_of:
            for i in sessions_of[v]:
                if sessions_out[i]:
                    continue
                a = int(s_a[i])
                d = max(a, int(s_d[i]))
                j = add_segment(a, d, s0=float(s_asoc[i]) * B_v[v])
                if stations is not None and isinstance(s_station[i], str):
                    stations[v, a:d] = s_station[i]
                kind = "session" if s_dep[i] <= end_ns else "session_end"
                add_req(j, d, float(s_tsoc[i]) * B_v[v], kind, s_id[i], s_time[i])
        else:
            cur, s0, link = 0, float(init_v[v]), -1
            start_lo = start_hi = s0
            away_to_end = False
            for i in trips_of.get(v, ()):
                if t_arr[i] <= start_ns:
                    continue  # history: the vehicle is at the site at the start
                if t_dep[i] < start_ns:
                    # under way at the start: initial_soc is its SoC on return
                    cur = int(t_a[i])
                    if cur > T:
                        away_to_end = True
                        break
                    continue
                if t_dep[i] >= end_ns:
                    continue
                d = max(cur, int(t_d[i]))
                j = add_segment(cur, d, s0=s0, link=link, start_lo=start_lo, start_hi=start_hi)
                E = float(t_E[i])
                required = float(t_dsoc[i]) * B_v[v] if not math.isnan(t_dsoc[i]) else L + E
                r = add_req(j, d, required, "trip", t_id[i], t_time[i], energy=E)
                a = int(t_a[i])
                if a > T:  # back after the end (back exactly at the end: a later trip may still leave in the last step)
                    away_to_end = True
                    break
                hi_prev = segs[j][7]
                cur, s0, link = a, math.nan, r
                start_lo = max(0.0, required - E)
                start_hi = max(U, hi_prev - E)
            if not away_to_end and cur < T:
                add_segment(cur, T, s0=s0, link=link, start_lo=start_lo, start_hi=start_hi)

        if not math.isnan(final_v[v]):
            last = [j for j in range(len(segs) - 1, -1, -1) if segs[j][0] == v]
            if last and segs[last[0]][3] == T and segs[last[0]][2] < T:
                add_req(last[0], T, final_v[v], "final", "final_soc", grid.end)

    seg_cols = [
        "vehicle",
        "vehicle_id",
        "start",
        "end",
        "s0_kwh",
        "link_req",
        "lo_kwh",
        "hi_kwh",
        "low_guard",
        "high_guard",
    ]
    req_cols = [
        "vehicle",
        "vehicle_id",
        "segment",
        "boundary",
        "required_kwh",
        "energy_kwh",
        "kind",
        "event_id",
        "time",
    ]
    segments = pd.DataFrame(segs, columns=seg_cols)
    requirements = pd.DataFrame(reqs, columns=req_cols)
    plugged = np.zeros((len(vids), T), dtype=bool)
    for v, start, end in zip(segments["vehicle"], segments["start"], segments["end"], strict=True):
        plugged[v, start:end] = True
    from .chargers import segment_chargers  # chargers named by vehicles.csv and trips.csv

    stations = segment_chargers(sc, vids, segments, stations)
    return FleetPlan(
        vehicle_ids=vids,
        segments=segments,
        requirements=requirements,
        plugged=plugged,
        ignored_sessions=int(sessions_out.sum()),
        ignored_trips=int(trips_out.sum()),
        stations=stations,
    )
