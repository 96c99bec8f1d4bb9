"""The real world of a simulation: vehicles come and go as they really did.

:class:`World` steps through the real scenario (see
:func:`gridopt.simulate.actual.truth`) on its time grid. Plug-in windows and
requirements are gridopt's own (:func:`gridopt.fleet.build_fleet_plan`): an
arrival is rounded up and a departure down to the step grid, a session must
leave with its real ``target_soc``, a trip with ``min_soc * battery_kwh +
energy_kwh`` (or ``departure_soc``); a shortfall is unmet energy, and the SoC
after a trip is ``SoC at departure + shortfall - energy_kwh``. A vehicle that
really leaves earlier than the operator expected leaves with what it has.

Policies never see the world itself, only an :class:`Observation` of boundary
``k``: the vehicles plugged in now with their SoC and what they reported at
plug-in, the fleet vehicles that are out on a trip with their SoC when they
left, the trips that have departed, and the realised peak import so far. Real
departures, real needs (where they were not reported) and everything that
happens after ``k`` stay inside the world.

Each step the world applies the policy's powers to the vehicles really plugged
in, clipped to each vehicle's physics (charger limits, ``min_charge_kw``,
``max_soc``, ``min_soc``), and a site controller scales charging down when the
import limit would be exceeded (which can only happen when a planned
discharge did not happen because its vehicle left). The site's PV serves the
load first; a surplus is exported up to the export limit when export pays, and
curtailed otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from ..fleet import build_fleet_plan
from ..scenario import Scenario

#: Powers below this are zero [kW].
EPS_KW = 1e-9


@dataclass(frozen=True)
class Plugged:
    """The vehicles plugged in during step ``k`` as arrays, one entry per vehicle, in world order.

    Attributes
    ----------
    v : ndarray of int
        Vehicle index of the world.
    is_session : ndarray of bool
        Plugged in for a session (else a fleet vehicle between trips).
    soc_kwh : ndarray of float
    plugged_since : ndarray of int
        Boundary it plugged in at.
    session : ndarray of int
        Row of the real sessions (-1 for fleet vehicles); what the driver
        reported is in :attr:`World.ses_arrival` etc., exposed through
        :attr:`Observation.present`.
    """

    v: np.ndarray
    is_session: np.ndarray
    soc_kwh: np.ndarray
    plugged_since: np.ndarray
    session: np.ndarray


@dataclass(frozen=True)
class Observation:
    """What an operator knows at boundary ``k`` (the start of step ``k``).

    Attributes
    ----------
    k : int
        Boundary (step) number.
    now : pandas.Timestamp
        Its time.
    plugged : Plugged
        The plugged-in vehicles as arrays (what the fast rule policies read).
    reported : SessionReports
        What each real session's driver reported at plug-in (indexed by
        ``plugged.session``; read only for sessions plugged in now).
    vehicle_ids : list
        The world's vehicle ids (index ``v``).
    away_rows : tuple of (int, dict)
        Fleet vehicles out on a trip: ``(v, info)``.
    departed_trips : frozenset of (vehicle_id, trip_id)
        Trips that have left (including those under way at the start).
    peak_import_kw : float
        Largest grid import of the steps before ``k`` [kW].

    ``present`` and ``away`` are the same as DataFrames, built on first use:

    * ``present``: one row per vehicle plugged in during step ``k``: ``v``,
      ``vehicle_id``, ``kind`` (``"session"`` or ``"trip"``), ``soc_kwh``,
      ``plugged_since``, ``arrival`` (real arrival time; sessions),
      ``arrival_soc_kwh``, ``estimated_departure`` (NaT if none),
      ``reported_target_kwh`` (NaN if none), ``session_id``;
    * ``away``: ``v``, ``vehicle_id``, ``trip_id``, ``departed`` (boundary it
      left at; -1 if before the start), ``soc_departure_kwh`` (NaN if it left
      before the start), ``return_soc_kwh`` (its ``initial_soc`` when it left
      before the start, else NaN).
    """

    k: int
    now: pd.Timestamp
    plugged: Plugged
    reported: SessionReports
    vehicle_ids: list
    away_rows: tuple
    departed_trips: frozenset
    peak_import_kw: float

    @cached_property
    def present(self) -> pd.DataFrame:
        p, rep = self.plugged, self.reported
        rows = []
        for n, v in enumerate(p.v):
            i = int(p.session[n])
            row = {
                "v": int(v),
                "vehicle_id": self.vehicle_ids[v],
                "kind": "session" if i >= 0 else "trip",
                "soc_kwh": float(p.soc_kwh[n]),
                "plugged_since": int(p.plugged_since[n]),
                "arrival": pd.NaT,
                "arrival_soc_kwh": math.nan,
                "estimated_departure": pd.NaT,
                "reported_target_kwh": math.nan,
                "session_id": None,
            }
            if i >= 0:
                row["arrival"] = rep.arrival[i]
                row["arrival_soc_kwh"] = float(rep.arrival_soc_kwh[n])
                row["estimated_departure"] = rep.estimate[i]
                row["reported_target_kwh"] = float(rep.target_kwh[n])
                row["session_id"] = str(rep.session_id[i])
            rows.append(row)
        return pd.DataFrame(rows, columns=PRESENT_COLUMNS)

    @cached_property
    def away(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"v": v, "vehicle_id": self.vehicle_ids[v], **info} for v, info in self.away_rows],
            columns=AWAY_COLUMNS,
        )


@dataclass(frozen=True)
class SessionReports:
    """What the drivers reported at plug-in.

    Attributes
    ----------
    arrival, estimate : list of pandas.Timestamp
        Per real session: real arrival, the driver's estimated departure (NaT if none).
    arrival_ns, estimate_ns : ndarray of int
        The same in nanoseconds since the epoch (estimate: -1 if none).
    session_id : ndarray of object
    arrival_soc_kwh, target_kwh : ndarray of float
        Per plugged-in vehicle (as :attr:`Observation.plugged`): arrival SoC and
        reported target [kWh] (NaN: trip vehicles, or no target reported).
    """

    arrival: list
    estimate: list
    arrival_ns: np.ndarray
    estimate_ns: np.ndarray
    session_id: np.ndarray
    arrival_soc_kwh: np.ndarray
    target_kwh: np.ndarray


PRESENT_COLUMNS = [
    "v",
    "vehicle_id",
    "kind",
    "soc_kwh",
    "plugged_since",
    "arrival",
    "arrival_soc_kwh",
    "estimated_departure",
    "reported_target_kwh",
    "session_id",
]
AWAY_COLUMNS = ["v", "vehicle_id", "trip_id", "departed", "soc_departure_kwh", "return_soc_kwh"]


def site_flows(sc: Scenario, k: int | slice, charge_kw, discharge_kw) -> dict:
    """Grid import and export, PV used, for EV powers at step(s) ``k``.

    PV serves the load first; a surplus is exported (up to the limit) where the
    export price is positive, otherwise curtailed as far as PV allows; what
    cannot be curtailed is exported.
    """
    s = sc.series.iloc[k]
    base = np.asarray(s["base_load_kw"], dtype=float)
    pv = np.asarray(s["pv_kw"], dtype=float)
    price = np.asarray(s["export_price"], dtype=float)
    net = base + np.asarray(charge_kw, dtype=float) - np.asarray(discharge_kw, dtype=float) - pv
    imp = np.maximum(net, 0.0)
    surplus = np.maximum(-net, 0.0)
    curtailable = pv if sc.pv_curtailable else np.zeros_like(pv)
    must = np.maximum(surplus - curtailable, 0.0)
    want = np.where(price > 0, surplus, must)
    exp = np.maximum(np.minimum(want, sc.export_limit_kw), must)
    return {"grid_import_kw": imp, "grid_export_kw": exp, "pv_used_kw": pv - (surplus - exp)}


class World:
    """The real scenario, stepped boundary by boundary (see the module doc).

    Parameters
    ----------
    sc : Scenario
        The real world (:func:`gridopt.simulate.actual.truth`).
    session_info : DataFrame, optional
        Per row of ``sc.sessions`` (same index): ``estimated_departure``,
        ``reported_target_soc``. Sessions without a row report their real
        departure and target.
    """

    def __init__(self, sc: Scenario, session_info: pd.DataFrame | None = None):
        self.sc = sc
        self.plan = build_fleet_plan(sc)
        grid = sc.grid
        self.T, self.dt = grid.n_steps, grid.dt_h
        self.vehicle_ids = list(self.plan.vehicle_ids)
        V = self.V = len(self.vehicle_ids)
        veh = sc.vehicles.loc[self.vehicle_ids]
        self.B = veh["battery_kwh"].to_numpy(float)
        self.eta_c = veh["charge_efficiency"].to_numpy(float)
        self.eta_d = veh["discharge_efficiency"].to_numpy(float)
        self.pmax = veh["max_charge_kw"].to_numpy(float)
        self.pmin = veh["min_charge_kw"].to_numpy(float)
        self.dmax = veh["max_discharge_kw"].to_numpy(float)
        self.L = veh["min_soc"].to_numpy(float) * self.B
        self.U = veh["max_soc"].to_numpy(float) * self.B
        self.initial = veh["initial_soc"].to_numpy(float) * self.B
        segs, reqs = self.plan.segments, self.plan.requirements
        self.seg_v = segs["vehicle"].to_numpy(int)
        self.seg_start = segs["start"].to_numpy(int)
        self.seg_end = segs["end"].to_numpy(int)
        self.seg_s0 = segs["s0_kwh"].to_numpy(float)
        self.seg_link = segs["link_req"].to_numpy(int)
        self.req_seg = reqs["segment"].to_numpy(int)
        self.req_required = reqs["required_kwh"].to_numpy(float)
        self.req_energy = reqs["energy_kwh"].to_numpy(float)
        self.req_kind = reqs["kind"].to_numpy(object)
        self.req_event = reqs["event_id"].to_numpy(object)
        self.req_by_seg: dict[int, list[int]] = {}
        for r, j in enumerate(self.req_seg):
            self.req_by_seg.setdefault(int(j), []).append(r)
        self.starts_at: dict[int, list[int]] = {}
        self.ends_at: dict[int, list[int]] = {}
        for j in range(len(segs)):
            self.starts_at.setdefault(int(self.seg_start[j]), []).append(j)
            self.ends_at.setdefault(int(self.seg_end[j]), []).append(j)
        self._session_rows(session_info)
        self._trips_under_way_at_start()
        # per-step inputs as arrays, boundary times boxed once (no pandas per step)
        series = sc.series
        self._base = series["base_load_kw"].to_numpy(float)
        self._pv = series["pv_kw"].to_numpy(float)
        self._xprice = series["export_price"].to_numpy(float)
        self._times = list(grid.start + pd.to_timedelta(np.arange(self.T + 1) * grid.step_minutes, unit="min"))
        # state
        self.k = 0
        self.soc = np.full(V, np.nan)
        self.active = np.full(V, -1, dtype=int)
        self.soc_at_req = np.full(len(reqs), np.nan)
        self.unmet = np.zeros(len(reqs))
        self.departed = set(self.initially_departed)
        self.out_on: dict[int, dict] = dict(self.initially_away)
        self.charge = np.zeros((V, self.T))
        self.discharge = np.zeros((V, self.T))
        self.soc_out = np.full((V, self.T), np.nan)
        self.imp = np.zeros(self.T)
        self.exp = np.zeros(self.T)
        self.pv_used = np.zeros(self.T)
        self.guard_steps = 0
        self._events(0)

    # --- set-up ---------------------------------------------------------------
    def _session_rows(self, info: pd.DataFrame | None) -> None:
        """Map each session segment to what its driver reported at plug-in."""
        ses = self.sc.sessions
        key = {(str(v), str(s)): i for i, (v, s) in enumerate(zip(ses["vehicle_id"], ses["session_id"], strict=True))}
        est = list(ses["departure"])
        rep = ses["target_soc"].to_numpy(float).copy()
        if info is not None and len(ses):
            inf = info.reindex(ses.index)
            est = list(inf["estimated_departure"])
            rep = inf["reported_target_soc"].to_numpy(float)
        self.seg_session = np.full(len(self.seg_v), -1, dtype=int)
        for r, j in enumerate(self.req_seg):
            if self.req_kind[r] in ("session", "session_end"):
                vid = self.vehicle_ids[self.seg_v[j]]
                self.seg_session[j] = key[(str(vid), str(self.req_event[r]))]
        self.ses_arrival = list(ses["arrival"])
        self.ses_estimate = list(est)
        self.ses_reported_soc = rep
        self.ses_id = ses["session_id"].to_numpy(object)
        self._reports = SessionReports(
            arrival=self.ses_arrival,
            estimate=self.ses_estimate,
            arrival_ns=np.array([pd.Timestamp(t).value for t in self.ses_arrival], dtype=np.int64),
            estimate_ns=np.array(
                [-1 if pd.isna(t) else pd.Timestamp(t).value for t in self.ses_estimate], dtype=np.int64
            ),
            session_id=self.ses_id,
            arrival_soc_kwh=np.zeros(0),
            target_kwh=np.zeros(0),
        )

    def _trips_under_way_at_start(self) -> None:
        """Fleet vehicles on a trip at the start, and trips that left before it."""
        trp = self.sc.trips
        start = self.sc.grid.start
        self.initially_departed: set = set()
        self.initially_away: dict[int, dict] = {}
        pos = {v: i for i, v in enumerate(self.vehicle_ids)}
        for row in trp.itertuples():
            if row.departure < start:
                self.initially_departed.add((str(row.vehicle_id), str(row.trip_id)))
                if row.arrival > start:
                    v = pos[row.vehicle_id]
                    self.initially_away[v] = {
                        "trip_id": str(row.trip_id),
                        "departed": -1,
                        "soc_departure_kwh": math.nan,
                        "return_soc_kwh": float(self.initial[v]),
                    }

    # --- events ---------------------------------------------------------------
    def _start(self, j: int) -> None:
        v = self.seg_v[j]
        link = self.seg_link[j]
        if link >= 0:
            soc = self.soc_at_req[link] + self.unmet[link] - self.req_energy[link]
        else:
            soc = self.seg_s0[j]
        self.soc[v] = soc
        self.active[v] = j
        self.out_on.pop(int(v), None)

    def _end(self, j: int, k: int) -> None:
        v = self.seg_v[j]
        for r in self.req_by_seg.get(j, []):
            self.soc_at_req[r] = self.soc[v]
            self.unmet[r] = max(0.0, self.req_required[r] - self.soc[v])
            if self.req_kind[r] == "trip":
                trip = str(self.req_event[r])
                self.departed.add((str(self.vehicle_ids[v]), trip))
                self.out_on[int(v)] = {
                    "trip_id": trip,
                    "departed": k,
                    "soc_departure_kwh": float(self.soc[v]),
                    "return_soc_kwh": math.nan,
                }
        self.active[v] = -1
        self.soc[v] = np.nan

    def _events(self, k: int) -> None:
        ends = self.ends_at.get(k, [])
        for j in ends:
            if self.seg_start[j] < k:
                self._end(j, k)
        for j in self.starts_at.get(k, []):
            self._start(j)
        for j in ends:
            if self.seg_start[j] == k:
                self._end(j, k)

    # --- what a policy sees ---------------------------------------------------
    def _reported_soc(self, rows: np.ndarray) -> np.ndarray:
        if not len(self.ses_reported_soc):
            return np.full(len(rows), math.nan)
        return self.ses_reported_soc[rows]

    def observe(self) -> Observation:
        """The operator's view at the current boundary (see :class:`Observation`)."""
        k = self.k
        v = np.flatnonzero(self.active >= 0)
        j = self.active[v]
        i = self.seg_session[j]
        ses = i >= 0
        safe = np.where(ses, i, 0)
        plugged = Plugged(
            v=v,
            is_session=ses,
            soc_kwh=self.soc[v].astype(float),
            plugged_since=self.seg_start[j].astype(int),
            session=i,
        )
        reported = replace(
            self._reports,
            arrival_soc_kwh=np.where(ses, self.seg_s0[j], math.nan),
            target_kwh=np.where(ses, self._reported_soc(safe) * self.B[v], math.nan),
        )
        peak = float(self.imp[:k].max()) if k > 0 else 0.0
        return Observation(
            k=k,
            now=self._times[k],
            plugged=plugged,
            reported=reported,
            vehicle_ids=self.vehicle_ids,
            away_rows=tuple(sorted(self.out_on.items())),
            departed_trips=frozenset(self.departed),
            peak_import_kw=peak,
        )

    # --- one step -------------------------------------------------------------
    def apply(self, charge_kw: np.ndarray, discharge_kw: np.ndarray) -> None:
        """Apply powers [kW] (length ``V``) to step ``k`` and move to boundary ``k + 1``."""
        k, dt = self.k, self.dt
        plugged = self.active >= 0
        c = np.where(plugged, np.nan_to_num(np.asarray(charge_kw, dtype=float)), 0.0)
        d = np.where(plugged, np.nan_to_num(np.asarray(discharge_kw, dtype=float)), 0.0)
        soc = np.where(plugged, self.soc, 0.0)
        # physics: charger limits, SoC window, no charge and discharge together
        room = np.maximum(self.U - soc, 0.0) / (self.eta_c * dt)
        c = np.clip(c, 0.0, np.minimum(self.pmax, room))
        c[c < np.maximum(self.pmin, EPS_KW) - 1e-9] = 0.0
        avail = np.maximum(soc - self.L, 0.0) * self.eta_d / dt
        d = np.clip(d, 0.0, np.minimum(self.dmax, avail))
        d[d < EPS_KW] = 0.0
        both = (c > 0) & (d > 0)
        net = c - d
        c = np.where(both, np.maximum(net, 0.0), c)
        d = np.where(both, np.maximum(-net, 0.0), d)
        c[(c > 0) & (c < self.pmin - 1e-9)] = 0.0
        # site controller: never above the import limit
        limit = self.sc.import_limit_kw
        flows = self._flows(k, c.sum(), d.sum())
        if math.isfinite(limit) and flows["grid_import_kw"] > limit + 1e-7 and c.sum() > 0:
            self.guard_steps += 1
            excess = float(flows["grid_import_kw"]) - limit
            c = c * max(0.0, 1.0 - (excess + 1e-7) / c.sum())
            c[(c > 0) & (c < np.maximum(self.pmin, EPS_KW))] = 0.0
            flows = self._flows(k, c.sum(), d.sum())
        self.charge[:, k] = c
        self.discharge[:, k] = d
        self.imp[k] = float(flows["grid_import_kw"])
        self.exp[k] = float(flows["grid_export_kw"])
        self.pv_used[k] = float(flows["pv_used_kw"])
        new = soc + self.eta_c * c * dt - d * dt / self.eta_d
        self.soc = np.where(plugged, new, np.nan)
        self.soc_out[:, k] = self.soc
        self.k = k + 1
        self._events(self.k)

    def _flows(self, k: int, charge_kw: float, discharge_kw: float) -> dict:
        """:func:`site_flows` of step ``k`` from the arrays (the same arithmetic)."""
        pv = self._pv[k]
        net = self._base[k] + charge_kw - discharge_kw - pv
        imp = max(net, 0.0)
        surplus = max(-net, 0.0)
        curtailable = pv if self.sc.pv_curtailable else 0.0
        must = max(surplus - curtailable, 0.0)
        want = surplus if self._xprice[k] > 0 else must
        exp = max(min(want, self.sc.export_limit_kw), must)
        return {"grid_import_kw": imp, "grid_export_kw": exp, "pv_used_kw": pv - (surplus - exp)}

    @property
    def done(self) -> bool:
        return self.k >= self.T

    # --- the outcome ----------------------------------------------------------
    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Schedule, site table and shortfalls of what happened (gridopt's result formats)."""
        sc, V, T = self.sc, self.V, self.T
        idx = sc.grid.index
        schedule = pd.DataFrame(
            {
                "time": pd.DatetimeIndex(np.tile(idx.as_unit("ns").asi8, V)).tz_localize("UTC").tz_convert(idx.tz),
                "vehicle_id": np.repeat(np.array(self.vehicle_ids, dtype=object), T),
                "plugged_in": self.plan.plugged.ravel(),
                "charge_kw": self.charge.ravel(),
                "discharge_kw": self.discharge.ravel(),
                "soc_kwh": self.soc_out.ravel(),
            }
        )
        site = pd.DataFrame(
            {
                "grid_import_kw": self.imp,
                "grid_export_kw": self.exp,
                "base_load_kw": sc.series["base_load_kw"].to_numpy(float),
                "pv_kw": sc.series["pv_kw"].to_numpy(float),
                "pv_used_kw": self.pv_used,
                "ev_charge_kw": self.charge.sum(axis=0),
                "ev_discharge_kw": self.discharge.sum(axis=0),
                "import_price": sc.series["import_price"].to_numpy(float),
                "export_price": sc.series["export_price"].to_numpy(float),
            },
            index=idx,
        )
        site.index.name = "time"
        reqs = self.plan.requirements
        unmet = pd.DataFrame(
            {
                "vehicle_id": reqs["vehicle_id"].to_numpy(dtype=object),
                "kind": reqs["kind"].to_numpy(dtype=object),
                "event_id": reqs["event_id"].to_numpy(dtype=object),
                "time": reqs["time"].to_numpy(),
                "required_kwh": reqs["required_kwh"].to_numpy(dtype=float),
                "soc_kwh": self.soc_at_req,
                "unmet_kwh": self.unmet,
            }
        )
        return schedule, site, unmet


def energy_needed_kwh(sc: Scenario, plan=None) -> float:
    """Energy the real needs take from the grid [kWh], whatever the policy.

    Sessions: ``max(0, target - arrival SoC) / charge_efficiency``; trips: the
    trips' ``energy_kwh / charge_efficiency`` (what charging must put back);
    ``final_soc`` requirements: ``max(0, final - initial SoC) / charge_efficiency``.
    """
    plan = plan or build_fleet_plan(sc)
    reqs, segs = plan.requirements, plan.segments
    eta = sc.vehicles.loc[plan.vehicle_ids, "charge_efficiency"].to_numpy(float)
    init = sc.vehicles.loc[plan.vehicle_ids, "initial_soc"].to_numpy(float) * sc.vehicles.loc[
        plan.vehicle_ids, "battery_kwh"
    ].to_numpy(float)
    total = 0.0
    for r in reqs.itertuples():
        e = eta[r.vehicle]
        if r.kind in ("session", "session_end"):
            s0 = segs.at[r.segment, "s0_kwh"]
            total += max(0.0, r.required_kwh - s0) / e
        elif r.kind == "trip":
            total += r.energy_kwh / e
        elif r.kind == "final" and not math.isnan(init[r.vehicle]):
            total += max(0.0, r.required_kwh - init[r.vehicle]) / e
    return total
