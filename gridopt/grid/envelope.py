"""The fleet's flexibility envelope: what it can offer the grid, without vehicle-level data.

:func:`flexibility` returns an :class:`Envelope`: per step ``t`` a band
``[p_min_kw, p_max_kw]`` of the fleet's aggregate net power at the site
connection, ``P(t) = sum(charge_kw) - sum(discharge_kw)`` (grid side, mean over
the step), and per step end a band ``[e_min_kwh, e_max_kwh]`` of its cumulative
net energy ``E(k) = sum_{t<k} P(t) * dt_h`` (``E(0) = 0``). The guarantee:

    every profile with ``p_min <= P <= p_max`` and ``e_min <= E <= e_max`` can be
    delivered by the fleet with every requirement met (trip departures, session
    targets, ``final_soc``) and every vehicle rule kept (plug-in windows, maximum
    powers, minimum charging power, never charge and discharge in one step, SoC
    bounds, both efficiencies),

so the inner band is an inner approximation of the Minkowski sum of the
vehicles' feasible sets. The one exception is a requirement that is physically
out of reach (the vehicle cannot meet it even charging flat out, or its charger's
minimum power would push it above ``max_soc``): its best effort becomes the
requirement, :attr:`Envelope.best_effort_requirements` counts them and
:attr:`Envelope.best_effort_shortfall_kwh` sums what they miss.

How the inner envelope is computed (``method="box"``)
-----------------------------------------------------
1. **A box per vehicle and step** (:func:`gridopt.grid.boxes.build_boxes`):
   ``low_v(t) <= x_v(t) <= high_v(t)`` on the vehicle's net grid energy in the step,
   such that *every* choice inside the boxes keeps every rule of the vehicle. A
   box lies in one mode's range (charge steps ``[min, max] * dt_h``, other steps
   ``[-max_discharge, 0] * dt_h``; without a minimum power anywhere in
   ``[-max_discharge, max_charge] * dt_h``), and the all-low and all-high paths
   bound the SoC of every choice because the SoC gain of a step,
   ``f(x) = charge_efficiency * x`` for ``x >= 0`` and ``x / discharge_efficiency``
   for ``x < 0``, is increasing in ``x``. The boxes are designed so that the
   all-low path meets every requirement and never discharges below ``min_soc``,
   and the all-high path never goes above ``max_soc``.
2. **Sum.** The fleet's power band is ``sum_v low_v(t) / dt_h`` to
   ``sum_v high_v(t) / dt_h`` and its energy band the cumulative sums of the same.
   A sum of boxes is exactly the box of the sums, so nothing is lost in the
   aggregation itself; all conservatism is in step 1.
3. **Clip.** The energy band is intersected with the outer band and both bands
   are made consistent by a forward and a backward pass (an energy that no power
   inside the band can reach is dropped, and vice versa). Both only shrink the set.

Why it is inside (proof sketch)
-------------------------------
Take any ``P`` with ``sum_v low_v(t) <= P(t) dt_h <= sum_v high_v(t)`` (the energy
band adds nothing beyond this in step 2, and step 3 only removes profiles).
Split it step by step in proportion to the boxes' widths,
``x_v(t) = low_v(t) + theta(t) (high_v(t) - low_v(t))`` with
``theta(t) = (P(t) dt_h - sum low) / (sum high - sum low)`` in ``[0, 1]``. The
``x_v`` sum to ``P(t) dt_h`` and each lies in its box, so (i) its sign gives one
direction in the step and a charging step draws at least the minimum power
(the box is inside the charge range or inside ``[-max_discharge, 0]``, or the
charger has no minimum), (ii) its magnitude is within the maximum powers and 0
while away, and (iii) with one direction per step the SoC follows
``soc(k+1) = soc(k) + f(x_v(k))`` exactly; ``f`` is increasing, so
``soc_lo(k) <= soc(k) <= soc_hi(k)`` at every boundary, by induction, also across
trips (the next segment starts at ``max(SoC at departure, required) - trip
energy``, never below 0: a non-decreasing map, and the boxes of the next segment
are designed for the whole interval of starts it can produce). The boxes were built so that ``soc_lo`` meets every requirement
and stays at or above ``min_soc`` after every step that may discharge, and
``soc_hi`` stays at or below ``max_soc`` after every step that may charge (and no
step may charge in a segment that starts above ``max_soc``): every rule holds.
:func:`gridopt.grid.disaggregate.disaggregate` is exactly this split.

What it costs: a box must be safe against *every* combination of the steps, so a
vehicle can promise flexibility only up to what is left after the worst case:
charging as late as the requirement allows and as early as ``max_soc`` allows
cannot both be offered in full. Energy flexibility of a vehicle is therefore
offered early in its stay ("use it or lose it") and the energy band adds no
constraint of its own: it is the cumulative power band. The outer band shows the
price: per step the sums of the vehicles' own power limits (every plugged-in
vehicle at full charge or full discharge), and per step end the sums of the
least and the most net energy each vehicle can have drawn by then: the least
along its latest trajectory (discharge as early and deep as its requirements
allow, charge as late as possible), the most along its earliest (charge as early
as possible), both without the minimum power, and the most without charge-discharge
round trips, which could only burn energy in losses. **Tightness** is ``sum_k (e_max - e_min)``
of the inner band over the same sum of the outer band (1 = the guarantee costs
nothing in energy range).

Why not a shared virtual battery: a homothet / virtual-battery inner
approximation (Zhao, Zhang, Hao, Kalsi, IEEE TPWRS 2017) lets all vehicles move
by one shared fraction of their energy ranges, ``S_v(k) = A_v(k) + w_v(k) lam(k)``.
That is sound when the vehicles' ranges are proportional over time (the
thermostatic loads it was made for); with vehicles arriving and leaving at
different times the shares change every step, and keeping every vehicle within
its powers for every ``lam`` in the band freezes ``lam`` (we built it: on all
four shipped scenarios the power band came out empty). Zonotopes (Müller,
Szabó, Sundström, Lygeros, IEEE TSG 2019) and affine images of a prototype set
(Al Taha, Vincent, Bitar, 2023) need a linear program over all vehicles and steps
per envelope; the exact aggregate of charge-only EVs is a generalized
polymatroid (Mukhi, Abate, CDC 2023; Mukhi, Loho, Abate, 2025) with exponentially
many faces and no minimum power or V2G losses. The sum of per-vehicle
"power band + cumulative energy band" sets is in general only an *outer*
approximation of the aggregate, which is why the inner band here comes from a
disaggregation rule rather than from adding each vehicle's bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import GridoptError, ScenarioError
from ..fleet import FleetPlan, build_fleet_plan
from ..scenario import Scenario
from .boxes import Boxes, build_boxes

METHODS = ("box",)
BAND_COLUMNS = ["p_min_kw", "p_max_kw", "e_min_kwh", "e_max_kwh"]


@dataclass(frozen=True)
class Envelope:
    """A fleet's flexibility envelope (aggregate only: no vehicle ids or vehicle data).

    Attributes
    ----------
    inner : DataFrame
        Index: the scenario's step starts (tz-aware, named ``time``). Columns
        ``p_min_kw``, ``p_max_kw`` [kW] (band of the aggregate net power, mean over
        the step), ``e_min_kwh``, ``e_max_kwh`` [kWh] (band of the cumulative net
        energy at the step's end). Every profile inside both bands is deliverable.
    outer : DataFrame
        Same index and columns: sums of each vehicle's own power limits and of
        its latest and earliest trajectories. What the vehicles could do one by
        one, not a guarantee.
    tightness : float
        ``sum(inner e_max - e_min) / sum(outer e_max - e_min)`` [-] (1.0 when the
        outer range is 0).
    power_tightness : float
        The same ratio for the power bands [-].
    method : str
    step_minutes : int
    n_vehicles : int
    best_effort_requirements : int
        Requirements out of physical reach, replaced by the best effort.
    best_effort_shortfall_kwh : float
        What those requirements miss, in the worst case over the band [kWh].
    """

    inner: pd.DataFrame
    outer: pd.DataFrame
    tightness: float
    power_tightness: float
    method: str
    step_minutes: int
    n_vehicles: int
    best_effort_requirements: int
    best_effort_shortfall_kwh: float

    @property
    def dt_h(self) -> float:
        """Step length [h]."""
        return self.step_minutes / 60.0

    def summary(self) -> dict:
        """Aggregate figures only (what ``envelope.json`` holds)."""
        idx = self.inner.index
        return {
            "method": self.method,
            "tightness": float(self.tightness),
            "power_tightness": float(self.power_tightness),
            "horizon_start": idx[0].isoformat(),
            "horizon_end": (idx[-1] + pd.Timedelta(minutes=self.step_minutes)).isoformat(),
            "step_minutes": int(self.step_minutes),
            "n_steps": len(idx),
            "n_vehicles": int(self.n_vehicles),
            "best_effort_requirements": int(self.best_effort_requirements),
            "best_effort_shortfall_kwh": float(self.best_effort_shortfall_kwh),
        }


@dataclass(frozen=True)
class Aggregation:
    """Boxes and the bands computed from them (vehicle-level: stays inside the fleet).

    Attributes
    ----------
    plan : FleetPlan
    boxes : Boxes
    p_lo_kw, p_hi_kw : ndarray, shape (n_steps,)
        Inner power band [kW].
    e_lo_kwh, e_hi_kwh : ndarray, shape (n_steps + 1,)
        Inner energy band at every boundary (``[0] = 0``) [kWh].
    out_p_lo_kw, out_p_hi_kw, out_e_lo_kwh, out_e_hi_kwh : ndarray
        Outer bands, same shapes.
    """

    plan: FleetPlan
    boxes: Boxes
    p_lo_kw: np.ndarray
    p_hi_kw: np.ndarray
    e_lo_kwh: np.ndarray
    e_hi_kwh: np.ndarray
    out_p_lo_kw: np.ndarray
    out_p_hi_kw: np.ndarray
    out_e_lo_kwh: np.ndarray
    out_e_hi_kwh: np.ndarray


def cumulative(x: np.ndarray) -> np.ndarray:
    """Cumulative sum with a leading 0: shape (n,) -> (n + 1,)."""
    return np.concatenate([[0.0], np.cumsum(x)])


def consistent_bands(p_lo, p_hi, e_lo, e_hi, dt_h: float):
    """Shrink a power band (n,) [kW] and an energy band (n + 1,) [kWh] until each value lies on a path inside both.

    One forward and one backward pass over the energy band, then the power band
    is cut to what the energy band allows. Returns the four arrays.
    """
    T = len(p_lo)
    e_lo, e_hi = e_lo.astype(float).copy(), e_hi.astype(float).copy()
    for k in range(T):
        e_hi[k + 1] = min(e_hi[k + 1], e_hi[k] + p_hi[k] * dt_h)
        e_lo[k + 1] = max(e_lo[k + 1], e_lo[k] + p_lo[k] * dt_h)
    for k in range(T - 1, -1, -1):
        e_hi[k] = min(e_hi[k], e_hi[k + 1] - p_lo[k] * dt_h)
        e_lo[k] = max(e_lo[k], e_lo[k + 1] - p_hi[k] * dt_h)
    p_hi = np.minimum(p_hi, (e_hi[1:] - e_lo[:-1]) / dt_h)
    p_lo = np.maximum(p_lo, (e_lo[1:] - e_hi[:-1]) / dt_h)
    return p_lo, p_hi, e_lo, e_hi


def aggregate(sc: Scenario, method: str = "box") -> Aggregation:
    """Boxes and bands of a scenario (vehicle-level; :func:`flexibility` keeps only the bands)."""
    if method not in METHODS:
        raise ScenarioError(f"flexibility: unknown method {method!r} (known: {', '.join(METHODS)})")
    dt = sc.grid.dt_h
    plan = build_fleet_plan(sc)
    bx = build_boxes(sc, plan)
    p_lo = bx.low_kwh.sum(axis=0) / dt
    p_hi = bx.high_kwh.sum(axis=0) / dt
    out_e_lo = bx.outer_lo_kwh.sum(axis=0)
    out_e_hi = bx.outer_hi_kwh.sum(axis=0)
    e_lo = np.maximum(cumulative(p_lo * dt), out_e_lo)
    e_hi = np.minimum(cumulative(p_hi * dt), out_e_hi)
    e_lo[0] = e_hi[0] = 0.0
    tol = 1e-6 * max(1.0, float(np.abs(out_e_lo).max(initial=0.0)), float(np.abs(out_e_hi).max(initial=0.0)))
    if (e_lo > e_hi + tol).any():  # the outer band contains the inner one by construction: rounding only
        k = int(np.argmax(e_lo > e_hi + tol))
        raise GridoptError(
            f"flexibility: the inner energy band ({e_lo[k]:.6g} kWh) leaves the outer one ({e_hi[k]:.6g} kWh) at "
            f"{sc.grid.index[k].isoformat()}; this is a bug in gridopt, please report it"
        )
    p_lo, p_hi, e_lo, e_hi = consistent_bands(p_lo, p_hi, e_lo, np.maximum(e_hi, e_lo), dt)
    return Aggregation(
        plan=plan,
        boxes=bx,
        p_lo_kw=p_lo,
        p_hi_kw=np.maximum(p_hi, p_lo),
        e_lo_kwh=e_lo,
        e_hi_kwh=np.maximum(e_hi, e_lo),
        out_p_lo_kw=bx.outer_p_lo_kw.sum(axis=0),
        out_p_hi_kw=bx.outer_p_hi_kw.sum(axis=0),
        out_e_lo_kwh=out_e_lo,
        out_e_hi_kwh=out_e_hi,
    )


def _ratio(inner: float, outer: float) -> float:
    return 1.0 if outer <= 1e-9 else float(inner / outer)


def envelope_from(sc: Scenario, agg: Aggregation, method: str = "box") -> Envelope:
    """The public, aggregate-only :class:`Envelope` of an :class:`Aggregation`."""
    idx = sc.grid.index

    def frame(p_lo, p_hi, e_lo, e_hi):
        out = pd.DataFrame(
            {"p_min_kw": p_lo, "p_max_kw": p_hi, "e_min_kwh": e_lo[1:], "e_max_kwh": e_hi[1:]}, index=idx
        )
        out.index.name = "time"
        return out

    inner = frame(agg.p_lo_kw, agg.p_hi_kw, agg.e_lo_kwh, agg.e_hi_kwh)
    outer = frame(agg.out_p_lo_kw, agg.out_p_hi_kw, agg.out_e_lo_kwh, agg.out_e_hi_kwh)
    bx = agg.boxes
    required = agg.plan.requirements["required_kwh"].to_numpy(float)
    miss = np.where(bx.best_effort, required - bx.requirement_soc_lo_kwh, 0.0)
    return Envelope(
        inner=inner,
        outer=outer,
        tightness=_ratio(
            float((inner["e_max_kwh"] - inner["e_min_kwh"]).sum()),
            float((outer["e_max_kwh"] - outer["e_min_kwh"]).sum()),
        ),
        power_tightness=_ratio(
            float((inner["p_max_kw"] - inner["p_min_kw"]).sum()),
            float((outer["p_max_kw"] - outer["p_min_kw"]).sum()),
        ),
        method=method,
        step_minutes=int(sc.grid.step_minutes),
        n_vehicles=len(sc.vehicles),
        best_effort_requirements=int(bx.best_effort.sum()),
        best_effort_shortfall_kwh=float(miss.sum()),
    )


def flexibility(sc: Scenario, *, method: str = "box") -> Envelope:
    """The fleet's flexibility envelope: a guaranteed (inner) and an outer band.

    Parameters
    ----------
    sc : Scenario
        From :func:`gridopt.load_scenario`.
    method : {"box"}
        How the inner band is built (see the module docstring).

    Returns
    -------
    Envelope
        Bands on ``sc.grid.index`` (tz-aware); no vehicle-level data.

    Raises
    ------
    ScenarioError
        For an unknown method, and for a scenario with ``site.chargers``: the bands
        know each vehicle's limits but not the chargers', their assignment nor the
        circuit tree, so they would promise more than the site can deliver.

    Examples
    --------
    >>> env = gridopt.grid.flexibility(gridopt.load_scenario("scenarios/depot_bus_v2g.yaml"))  # doctest: +SKIP
    >>> env.inner.columns.tolist()  # doctest: +SKIP
    ['p_min_kw', 'p_max_kw', 'e_min_kwh', 'e_max_kwh']
    """
    if getattr(sc, "chargers", None) is not None:
        raise ScenarioError(
            f"{sc.name}: the flexibility envelope does not model site.chargers or site.circuit yet "
            "(it would promise more than the chargers and the circuit can deliver)"
        )
    return envelope_from(sc, aggregate(sc, method), method)
