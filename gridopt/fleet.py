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
  at or after the end are outside the plan.
* A *session vehicle* is at the site only during its sessions: each session is
  a segment starting with ``arrival_soc`` and ending with a ``target_soc``
  requirement. A session that began before the horizon is present from the
  start; one that ends after it must meet its target at the end; sessions wholly
  outside the horizon are ignored and counted.
* An optional ``final_soc`` is a requirement at the horizon's end for a vehicle
  plugged in during the last step.

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
        Sessions wholly outside the horizon.
    ignored_trips : int
        Trips departing at or after the horizon's end.
    """

    vehicle_ids: list
    segments: pd.DataFrame
    requirements: pd.DataFrame
    plugged: np.ndarray
    ignored_sessions: int = 0
    ignored_trips: int = 0


def build_fleet_plan(sc: Scenario) -> FleetPlan:
    """Segments and requirements of every vehicle of ``sc`` (see module docstring)."""
    grid: TimeGrid = sc.grid
    T = grid.n_steps
    vids = list(sc.vehicles.index)
    segs: list[dict] = []
    reqs: list[dict] = []
    ignored_sessions = 0
    ignored_trips = 0
    session_groups = dict(tuple(sc.sessions.groupby("vehicle_id"))) if len(sc.sessions) else {}
    trip_groups = dict(tuple(sc.trips.groupby("vehicle_id"))) if len(sc.trips) else {}

    for v, vid in enumerate(vids):
        veh = sc.vehicles.loc[vid]
        B = float(veh["battery_kwh"])
        L = float(veh["min_soc"]) * B
        U = float(veh["max_soc"]) * B
        v2g = float(veh["max_discharge_kw"]) > 0
        can_charge = float(veh["max_charge_kw"]) > 0

        def add_segment(start, end, s0=math.nan, link=-1, start_lo=None, start_hi=None):
            lo_start = s0 if start_lo is None else start_lo
            hi_start = s0 if start_hi is None else start_hi
            segs.append(
                dict(
                    vehicle=v,
                    vehicle_id=vid,
                    start=int(start),
                    end=int(end),
                    s0_kwh=s0,
                    link_req=link,
                    lo_kwh=min(L, lo_start),
                    hi_kwh=max(U, hi_start),
                    low_guard=bool(v2g and lo_start < L - 1e-9),
                    high_guard=bool(can_charge and hi_start > U + 1e-9),
                )
            )
            return len(segs) - 1

        def add_req(seg, boundary, required, kind, event_id, time, energy=0.0):
            reqs.append(
                dict(
                    vehicle=v,
                    vehicle_id=vid,
                    segment=seg,
                    boundary=int(boundary),
                    required_kwh=float(required),
                    energy_kwh=float(energy),
                    kind=kind,
                    event_id=str(event_id),
                    time=time,
                )
            )
            return len(reqs) - 1

        if vid in session_groups:
            sess = session_groups[vid].sort_values("arrival")
            for _, s in sess.iterrows():
                if s["departure"] <= grid.start or s["arrival"] >= grid.end:
                    ignored_sessions += 1
                    continue
                a = max(0, int(grid.arrival_boundary([s["arrival"]])[0]))
                d = min(T, int(grid.departure_boundary([s["departure"]])[0]))
                d = max(a, d)
                s0 = float(s["arrival_soc"]) * B
                j = add_segment(a, d, s0=s0)
                kind = "session" if s["departure"] <= grid.end else "session_end"
                add_req(j, d, float(s["target_soc"]) * B, kind, s["session_id"], s["departure"])
        else:
            trips = trip_groups.get(vid)
            trips = trips.sort_values("departure") if trips is not None else sc.trips.iloc[0:0]
            cur = 0
            s0 = float(veh["initial_soc"]) * B
            link = -1
            start_lo = start_hi = s0
            away_to_end = False
            for _, tr in trips.iterrows():
                if tr["arrival"] <= grid.start:
                    continue  # history: the vehicle is at the site at the start
                if tr["departure"] < grid.start:
                    # under way at the start: initial_soc is its SoC on return
                    cur = int(grid.arrival_boundary([tr["arrival"]])[0])
                    if cur > T:
                        away_to_end = True
                        break
                    continue
                if tr["departure"] >= grid.end:
                    ignored_trips += 1
                    continue
                d = max(cur, int(grid.departure_boundary([tr["departure"]])[0]))
                j = add_segment(cur, d, s0=s0, link=link, start_lo=start_lo, start_hi=start_hi)
                E = float(tr["energy_kwh"])
                dsoc = tr["departure_soc"]
                required = float(dsoc) * B if not pd.isna(dsoc) else L + E
                r = add_req(j, d, required, "trip", tr["trip_id"], tr["departure"], energy=E)
                a = int(grid.arrival_boundary([tr["arrival"]])[0])
                if a > T:  # back after the end (back exactly at the end: a later trip may still leave in the last step)
                    away_to_end = True
                    break
                hi_prev = segs[j]["hi_kwh"]
                cur, s0, link = a, math.nan, r
                start_lo = max(0.0, required - E)
                start_hi = max(U, hi_prev - E)
            if not away_to_end and cur < T:
                add_segment(cur, T, s0=s0, link=link, start_lo=start_lo, start_hi=start_hi)

        final = float(veh["final_soc"])
        if not math.isnan(final):
            last = [j for j in range(len(segs)) if segs[j]["vehicle"] == v and segs[j]["end"] == T]
            if last and segs[last[-1]]["start"] < T:
                add_req(last[-1], T, final * B, "final", "final_soc", grid.end)

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
    for row in segments.itertuples():
        plugged[row.vehicle, row.start : row.end] = True
    return FleetPlan(
        vehicle_ids=vids,
        segments=segments,
        requirements=requirements,
        plugged=plugged,
        ignored_sessions=ignored_sessions,
        ignored_trips=ignored_trips,
    )
