"""From an aggregate profile inside the envelope to a plan per vehicle, and its check.

:func:`disaggregate` is the construction of the envelope's proof (see
:mod:`gridopt.grid.envelope`): in every step the fleet's net energy
``P(t) * dt_h`` is split over the vehicles in proportion to their boxes,
``x_v(t) = low_v(t) + theta(t) * (high_v(t) - low_v(t))``; no optimizer is
involved. :func:`verify` re-checks the result with :func:`gridopt.check.check_schedule`,
which shares no code with the envelope (it re-derives plug-in windows from the
trips and sessions and replays the SoC event by event), and checks that the
vehicles' powers add up to the profile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..check import check_schedule
from ..errors import ScenarioError
from ..scenario import Scenario
from .envelope import Aggregation, Envelope, aggregate, cumulative, envelope_from

#: Tolerance on a profile's power [kW] and cumulative energy [kWh] against the bands
#: (grows by 1e-9 per kW / kWh of the bands' scale).
PROFILE_TOL = 1e-6


@dataclass(frozen=True)
class Dispatch:
    """A per-vehicle plan that delivers an aggregate profile.

    Attributes
    ----------
    schedule : DataFrame
        One row per vehicle and step, grouped by vehicle (the layout of
        ``gridopt.optimize(...).schedule``): ``time`` (step start), ``vehicle_id``,
        ``plugged_in``, ``charge_kw``, ``discharge_kw`` [kW], ``soc_kwh`` (at the
        step's end, NaN while away) [kWh].
    unmet : DataFrame
        One row per requirement: ``vehicle_id``, ``kind``, ``event_id``,
        ``required_kwh``, ``soc_kwh`` (at the requirement), ``unmet_kwh`` [kWh]
        (non-zero only for requirements out of physical reach).
    profile_kw : Series
        The aggregate net power delivered, on the scenario's index [kW].
    """

    schedule: pd.DataFrame
    unmet: pd.DataFrame
    profile_kw: pd.Series


def _profile(sc: Scenario, profile_kw) -> np.ndarray:
    idx = sc.grid.index
    if isinstance(profile_kw, pd.Series) and isinstance(profile_kw.index, pd.DatetimeIndex):
        if profile_kw.index.tz is None:
            raise ScenarioError("profile_kw: the time index has no timezone (localize it, e.g. tz_localize)")
        if len(profile_kw) != len(idx) or not (profile_kw.index == idx).all():
            raise ScenarioError(
                f"profile_kw: its times ({len(profile_kw)} rows) are not the scenario's steps "
                f"({len(idx)} steps from {idx[0].isoformat()})"
            )
    p = np.asarray(profile_kw, dtype=float).reshape(-1)
    if len(p) != len(idx):
        raise ScenarioError(f"profile_kw: {len(p)} values for {len(idx)} steps")
    if not np.isfinite(p).all():
        t = int(np.argmax(~np.isfinite(p)))
        raise ScenarioError(f"profile_kw at {idx[t].isoformat()}: {p[t]} is not a finite power")
    return p


def _inside(sc: Scenario, agg: Aggregation, p: np.ndarray) -> None:
    """Raise :class:`ScenarioError` naming the first step where ``p`` leaves the inner bands."""
    idx = sc.grid.index
    dt = sc.grid.dt_h
    e = cumulative(p * dt)
    scale_p = 1.0 + float(np.abs(agg.p_hi_kw).max(initial=0) + np.abs(agg.p_lo_kw).max(initial=0))
    scale_e = 1.0 + float(np.abs(agg.e_hi_kwh).max(initial=0) + np.abs(agg.e_lo_kwh).max(initial=0))
    tol_p, tol_e = PROFILE_TOL * (1.0 + 1e-3 * scale_p), PROFILE_TOL * (1.0 + 1e-3 * scale_e)
    checks = [
        (p > agg.p_hi_kw + tol_p, p, agg.p_hi_kw, "kW is above p_max_kw", "kW"),
        (p < agg.p_lo_kw - tol_p, p, agg.p_lo_kw, "kW is below p_min_kw", "kW"),
        (e[1:] > agg.e_hi_kwh[1:] + tol_e, e[1:], agg.e_hi_kwh[1:], "kWh cumulative is above e_max_kwh", "kWh"),
        (e[1:] < agg.e_lo_kwh[1:] - tol_e, e[1:], agg.e_lo_kwh[1:], "kWh cumulative is below e_min_kwh", "kWh"),
    ]
    first = None
    for bad, val, bound, what, unit in checks:
        if bad.any():
            t = int(np.argmax(bad))
            if first is None or t < first[0]:
                first = (t, f"{val[t]:.3f} {what} {bound[t]:.3f} {unit}")
    if first is not None:
        t, text = first
        raise ScenarioError(
            f"profile_kw at {idx[t].isoformat()} is outside the flexibility envelope: {text} "
            f"(only profiles inside both bands are guaranteed)"
        )


def split(agg: Aggregation, p: np.ndarray, dt_h: float) -> np.ndarray:
    """Net grid energy per vehicle and step [kWh], shape (n_vehicles, n_steps): the proportional split."""
    lo, hi = agg.boxes.low_kwh, agg.boxes.high_kwh
    s_lo, s_hi = lo.sum(axis=0), hi.sum(axis=0)
    width = s_hi - s_lo
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(width > 0, (p * dt_h - s_lo) / width, 0.0)
    theta = np.clip(theta, 0.0, 1.0)
    return lo + theta[None, :] * (hi - lo)


def _replay(sc: Scenario, agg: Aggregation, x: np.ndarray):
    """SoC at each step's end (NaN while away) and SoC at each requirement, following the fleet plan."""
    plan = agg.plan
    T = sc.grid.n_steps
    veh = sc.vehicles.loc[plan.vehicle_ids]
    ec = veh["charge_efficiency"].to_numpy(float)
    ed = veh["discharge_efficiency"].to_numpy(float)
    gain = np.where(x >= 0, x * ec[:, None], x / ed[:, None])
    soc = np.full((len(plan.vehicle_ids), T), np.nan)
    req = plan.requirements
    required = req["required_kwh"].to_numpy(float)
    energy = req["energy_kwh"].to_numpy(float)
    soc_req = np.full(len(req), np.nan)
    rows_of: dict[int, list[int]] = {}
    for r, j in enumerate(req["segment"].to_numpy(int)):
        rows_of.setdefault(int(j), []).append(r)
    for j, sg in enumerate(plan.segments.itertuples(index=False)):
        v, a, d = int(sg.vehicle), int(sg.start), int(sg.end)
        if math.isnan(sg.s0_kwh):
            r = int(sg.link_req)
            s0 = max(max(soc_req[r], required[r]) - energy[r], 0.0)  # a shortfall counts as supplied elsewhere
        else:
            s0 = float(sg.s0_kwh)
        path = s0 + np.cumsum(gain[v, a:d])
        soc[v, a:d] = path
        end = float(path[-1]) if d > a else s0
        for r in rows_of.get(j, ()):
            soc_req[r] = end
    return soc, soc_req


def disaggregate(sc: Scenario, envelope: Envelope | None, profile_kw) -> Dispatch:
    """Per-vehicle charge and discharge powers that deliver an aggregate profile inside the envelope.

    Parameters
    ----------
    sc : Scenario
        The scenario the envelope was computed from.
    envelope : Envelope or None
        The envelope of ``sc`` (from :func:`gridopt.grid.flexibility`); ``None``
        computes it. It must be the envelope of this scenario.
    profile_kw : array-like or Series, shape (n_steps,)
        Aggregate net power ``sum(charge_kw) - sum(discharge_kw)`` per step [kW]
        (a Series must be on ``sc.grid.index``).

    Returns
    -------
    Dispatch

    Raises
    ------
    ScenarioError
        If the profile has the wrong length or leaves the inner bands (naming the
        first step that does), or if ``envelope`` is not the envelope of ``sc``.
    """
    p = _profile(sc, profile_kw)
    agg = aggregate(sc, envelope.method if envelope is not None else "box")
    if envelope is not None:
        mine = envelope_from(sc, agg, envelope.method).inner
        theirs = envelope.inner
        same = (
            len(theirs) == len(mine)
            and (theirs.index == mine.index).all()
            and np.allclose(theirs.to_numpy(float), mine.to_numpy(float), rtol=1e-9, atol=1e-6)
        )
        if not same:
            raise ScenarioError("envelope: it is not the flexibility envelope of this scenario (recompute it)")
    _inside(sc, agg, p)
    dt = sc.grid.dt_h
    x = split(agg, p, dt)
    charge = np.maximum(x, 0.0) / dt
    discharge = np.maximum(-x, 0.0) / dt
    soc, soc_req = _replay(sc, agg, x)
    plan = agg.plan
    idx = sc.grid.index
    V, T = len(plan.vehicle_ids), sc.grid.n_steps
    schedule = pd.DataFrame(
        {
            "time": pd.DatetimeIndex(np.tile(idx.as_unit("ns").asi8, V)).tz_localize("UTC").tz_convert(idx.tz),
            "vehicle_id": np.repeat(np.array(plan.vehicle_ids, dtype=object), T),
            "plugged_in": plan.plugged.ravel(),
            "charge_kw": charge.ravel(),
            "discharge_kw": discharge.ravel(),
            "soc_kwh": soc.ravel(),
        }
    )
    req = plan.requirements
    required = req["required_kwh"].to_numpy(float)
    unmet = pd.DataFrame(
        {
            "vehicle_id": req["vehicle_id"].to_numpy(dtype=object),
            "kind": req["kind"].to_numpy(dtype=object),
            "event_id": req["event_id"].to_numpy(dtype=object),
            "required_kwh": required,
            "soc_kwh": soc_req,
            "unmet_kwh": np.maximum(required - soc_req, 0.0),
        }
    )
    return Dispatch(schedule=schedule, unmet=unmet, profile_kw=pd.Series(p, index=idx, name="profile_kw"))


def verify(sc: Scenario, dispatch: Dispatch) -> list[str]:
    """Independent check of a dispatch; returns the violations found (empty: every rule kept).

    Runs :func:`gridopt.check.check_schedule` (plug-in windows, power limits,
    minimum power, one direction per step, SoC replay and bounds, requirements
    against the reported shortfalls) on the dispatch with a site table built
    from it (site limits are not part of the envelope and are not checked), and
    checks that the vehicles' net powers add up to the profile.
    """
    s = dispatch.schedule
    idx = sc.grid.index
    T = sc.grid.n_steps
    V = len(s) // T if T else 0
    c = s["charge_kw"].to_numpy(float).reshape(V, T)
    d = s["discharge_kw"].to_numpy(float).reshape(V, T)
    base = sc.series["base_load_kw"].to_numpy(float)
    pv = sc.series["pv_kw"].to_numpy(float)
    net = base + c.sum(axis=0) - d.sum(axis=0) - pv
    site = pd.DataFrame(
        {
            "grid_import_kw": np.maximum(net, 0.0),
            "grid_export_kw": np.maximum(-net, 0.0),
            "pv_used_kw": pv,
            "ev_charge_kw": c.sum(axis=0),
            "ev_discharge_kw": d.sum(axis=0),
        },
        index=idx,
    )
    msgs = check_schedule(sc, s, site, dispatch.unmet, site_limits=False, raise_on_violation=False)
    delivered = c.sum(axis=0) - d.sum(axis=0)
    want = dispatch.profile_kw.to_numpy(float)
    off = np.abs(delivered - want) > 1e-4 + 1e-6 * np.abs(want)
    for t in np.flatnonzero(off)[:5]:
        msgs.append(
            f"{idx[t].isoformat()}: the vehicles deliver {delivered[t]:.4f} kW, the profile asks {want[t]:.4f} kW"
        )
    return msgs
