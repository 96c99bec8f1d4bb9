"""Charging policies that act step by step on what an operator knows.

A policy gets an :class:`~gridopt.simulate.world.Observation` at every
boundary and returns the charge and discharge power [kW] of every vehicle for
the step that starts there. It sees the site through a
:class:`~gridopt.simulate.picture.Context` (no real sessions or trips in it).

* :class:`RollingHorizon`: re-plans with :func:`gridopt.optimize` over
  ``[now, now + lookahead)`` as soon as a vehicle plugs in or unplugs (with
  ``replan_on_events``), and every ``replan_steps`` in any case, and applies
  the plan until the next re-plan. ``samples = 0`` plans on the point forecast;
  ``samples = K`` is the scenario-based plan: ``"mean"`` splits each car into
  ``K`` copies of weight ``1 / K``, one per sampled departure and energy, with
  ``K`` sampled futures of arrivals of weight ``1 / K`` each, in one solve
  (the expected cost of the ``K`` samples, their first steps summed);
  ``"worst"`` plans once for the earliest sampled departure and the largest
  sampled energy of each car and the sampled future with the most energy.
* :class:`RulePolicy`: earliest deadline first, least laxity first or round
  robin (:mod:`gridopt.simulate.rules`), every step.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from ..errors import SolverError
from ..scenario import SolverOptions
from . import rules
from .fastneeds import NeedTracker
from .learned import LearnedDepartureMargin
from .picture import (
    NO_MARGINS,
    Context,
    Margins,
    fleet_vehicles,
    future_arrivals,
    present_sessions,
    sampled_sessions,
)
from .planning import build_plan_scenario, solve_plan
from .shortfall import ExpectedShortfall
from .world import Observation


class Policy:
    """Base class: ``decide(obs) -> (charge_kw, discharge_kw)``, arrays over the world's vehicles."""

    name = "policy"

    def __init__(self, ctx: Context):
        self.ctx = ctx
        site = ctx.site
        veh = site.vehicles.loc[ctx.vehicle_ids]
        self.V = len(ctx.vehicle_ids)
        self.pmax = veh["max_charge_kw"].to_numpy(float)
        self.pmin = veh["min_charge_kw"].to_numpy(float)
        self.eta = veh["charge_efficiency"].to_numpy(float)
        self.U = (veh["max_soc"] * veh["battery_kwh"]).to_numpy(float)
        self.dt = site.grid.dt_h
        self.solves: list[dict] = []

    def headroom_kw(self, k: int) -> float:
        s = self.ctx.site.series.iloc[k]
        return float(self.ctx.site.import_limit_kw - s["base_load_kw"] + s["pv_kw"])

    def decide(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class RulePolicy(Policy):
    """EDF, LLF or round robin on the operator's estimates (see :mod:`gridopt.simulate.rules`)."""

    RULES = ("edf", "llf", "round_robin")

    def __init__(self, ctx: Context, rule: str, margins: Margins = NO_MARGINS):
        super().__init__(ctx)
        if rule not in self.RULES:
            raise ValueError(f"rule must be one of {self.RULES}, not {rule!r}")
        self.rule = rule
        self.name = rule
        self.margins = margins
        self.tracker = NeedTracker(ctx, margins)
        series = ctx.site.series
        self._headroom = (
            ctx.site.import_limit_kw - series["base_load_kw"].to_numpy(float) + series["pv_kw"].to_numpy(float)
        )

    def headroom_kw(self, k: int) -> float:
        return float(self._headroom[k])

    def decide(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        c = np.zeros(self.V)
        if not len(obs.plugged.v):
            return c, np.zeros(self.V)
        v, soc, target, deadline_ns = self.tracker.needs(obs)
        need = np.maximum(np.minimum(target, self.U[v]) - soc, 0.0)
        want = np.minimum(self.pmax[v], need / (self.eta[v] * self.dt))
        hours = (deadline_ns - obs.now.value) / 1e9 / 3600.0
        if self.rule == "edf":
            order = np.lexsort((v, hours))
        else:
            lax = rules.laxity_h(hours, need, self.pmax[v], self.eta[v])
            order = np.lexsort((v, hours, lax))
        head = self.headroom_kw(obs.k)
        if self.rule == "round_robin":
            p = rules.water_fill(head, want, self.pmin[v], order)
        else:
            p = rules.fill_in_order(order, head, want, self.pmin[v])
        c[v] = p
        return c, np.zeros(self.V)


class RollingHorizon(Policy):
    """Model-predictive control with :func:`gridopt.optimize` (see the module doc).

    Parameters
    ----------
    ctx : Context
    replan_steps : int
        Steps between re-plans.
    lookahead_steps : int
        Steps each plan covers.
    options : SolverOptions
    margins : Margins
    samples : int
        0: point forecast; K > 0: scenario-based plan over K samples.
    stochastic : {"mean", "worst"}
    seed : int
        Seed of the samples (each re-plan draws from ``(seed, k)``).
    name : str
    early_bias_per_kwh_h : float
        Delay cost [currency/kWh/h] (see :class:`~gridopt.simulate.engine.SimulationSettings`).
    learned : LearnedDepartureMargin, optional
        Plan each driver's estimate at its learned quantile (:mod:`gridopt.simulate.learned`);
        observed at every boundary, before any re-plan.
    shortfall : ExpectedShortfall, optional
        Plan each plugged-in session car against its expected shortfall over its
        departure and need points (:mod:`gridopt.simulate.shortfall`); observed
        at every boundary, before any re-plan.
    replan_on_events : bool
        Re-plan at once when the set of plugged-in vehicles changes (a plug-in
        or an unplug seen in the observation), not only every ``replan_steps``.
        Each solve record says why it ran (``reason``: ``start``, ``plug-in``,
        ``unplug``, ``plug-in+unplug``, else ``interval``).
    """

    def __init__(
        self,
        ctx: Context,
        replan_steps: int,
        lookahead_steps: int,
        options: SolverOptions,
        margins: Margins = NO_MARGINS,
        samples: int = 0,
        stochastic: str = "worst",
        seed: int = 0,
        name: str = "rolling",
        early_bias_per_kwh_h: float = 0.0,
        replan_on_events: bool = True,
        learned: LearnedDepartureMargin | None = None,
        shortfall: ExpectedShortfall | None = None,
    ):
        super().__init__(ctx)
        if stochastic not in ("mean", "worst"):
            raise ValueError(f"stochastic must be 'mean' or 'worst', not {stochastic!r}")
        self.replan_steps = int(replan_steps)
        self.lookahead_steps = int(lookahead_steps)
        self.options = options
        self.margins = margins
        self.samples = int(samples)
        self.stochastic = stochastic
        self.seed = int(seed)
        self.name = name
        self.early_bias_per_kwh_h = float(early_bias_per_kwh_h)
        self.fallback = RulePolicy(ctx, "edf", margins)
        self.fallback_steps = 0
        self.replan_on_events = bool(replan_on_events)
        self.learned = learned
        self.shortfall = shortfall
        self._checkpoints = None
        self._plan = None
        self._plan_k = -1
        self._plugged: frozenset = frozenset()
        self._reason = "start"

    def _picture(self, obs: Observation, until: pd.Timestamp):
        ctx = self.ctx
        fleet = fleet_vehicles(obs, ctx, self.margins)
        if not self.samples or ctx.forecaster is None:
            ses = present_sessions(obs, ctx, self.margins)
            if self.learned is not None:
                ses = self.learned.apply(ses, obs, ctx.site, ctx.forecaster)
            if self.shortfall is not None:
                ses, self._checkpoints = self.shortfall.apply(ses, obs, ctx)
            sessions = [(ses, 1.0)]
            futures = [(future_arrivals(obs, ctx, until, self.margins), 1.0)]
            return sessions, fleet, futures
        K = self.samples
        rng = np.random.default_rng([self.seed, obs.k])
        pics = sampled_sessions(obs, ctx, K, rng)
        futs = [ctx.forecaster.future_sample(obs.now, until, rng) for _ in range(K)]
        if self.stochastic == "mean":
            return [(p, 1.0 / K) for p in pics], fleet, [(f, 1.0 / K) for f in futs]
        worst = pics[0].copy()
        if len(worst):
            worst["departure"] = [min(p["departure"].iloc[i] for p in pics) for i in range(len(worst))]
            worst["target_kwh"] = np.max(np.column_stack([p["target_kwh"].to_numpy(float) for p in pics]), axis=1)
        energies = [float(f["energy_kwh"].astype(float).sum()) if len(f) else 0.0 for f in futs]
        return [(worst, 1.0)], fleet, [(futs[int(np.argmax(energies))], 1.0)]

    def _replan(self, obs: Observation) -> None:
        ctx = self.ctx
        T = ctx.site.grid.n_steps
        steps = min(self.replan_steps, T - obs.k)
        self._plan_k = obs.k
        if not len(obs.plugged.v):
            self._plan = (np.zeros((self.V, steps)), np.zeros((self.V, steps)))
            return
        horizon = min(self.lookahead_steps, T - obs.k)
        until = obs.now + pd.Timedelta(minutes=ctx.site.grid.step_minutes * horizon)
        t0 = time.perf_counter()
        self._checkpoints = None
        sessions, fleet, futures = self._picture(obs, until)
        sc, owner, phantom = build_plan_scenario(
            ctx,
            obs.k,
            horizon,
            obs.peak_import_kw,
            sessions,
            fleet,
            futures,
            self.early_bias_per_kwh_h,
            checkpoints=self._checkpoints,
            future_points=self._future_points(),
        )
        record = {"policy": self.name, "time": obs.now.isoformat(), "k": obs.k, "reason": self._reason}
        try:
            out = solve_plan(sc, owner, phantom, self.V, steps, self.options)
        except SolverError as exc:
            self._plan = None
            self.fallback_steps += steps
            record.update(status="fallback (edf)", solve_seconds=math.nan, wall_seconds=time.perf_counter() - t0)
            record["message"] = str(exc)
            self.solves.append(record)
            return
        c, d = out.charge_kw, out.discharge_kw
        low = (c > 0) & (c < self.pmin[:, None])  # summed copies below a charger's minimum
        c = np.where(low, np.where(c >= self.pmin[:, None] / 2, self.pmin[:, None], 0.0), c)
        self._plan = (c, d)
        record.update(out.stats)
        record["wall_seconds"] = time.perf_counter() - t0
        self.solves.append(record)

    def _future_points(self):
        """The forecast arrivals' points (with ``shortfall`` and a forecaster), else None."""
        if self.shortfall is None or self.ctx.forecaster is None:
            return None
        fc = self.ctx.forecaster
        return lambda r: self.shortfall.future_points(r, fc)

    def _event(self, obs: Observation) -> str:
        """``plug-in``, ``unplug``, both or ``""``: how the plugged-in vehicles changed since the last plan."""
        now = _plugged_key(obs)
        came, left = bool(now - self._plugged), bool(self._plugged - now)
        self._plugged = now
        return "+".join(w for w, yes in (("plug-in", came), ("unplug", left)) if yes)

    def decide(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        if self.learned is not None:
            self.learned.observe(obs)
        if self.shortfall is not None:
            self.shortfall.observe(obs)
        event = self._event(obs)
        due = self._plan_k < 0 or obs.k - self._plan_k >= self.replan_steps
        if due or (event and self.replan_on_events):
            self._reason = "start" if self._plan_k < 0 else (event or "interval")
            self._replan(obs)
        if self._plan is None:
            return self.fallback.decide(obs)
        c, d = self._plan
        i = obs.k - self._plan_k
        return c[:, i].copy(), d[:, i].copy()


def _plugged_key(obs: Observation) -> frozenset:
    """The plugged-in vehicles of an observation, each with the boundary it plugged in at."""
    p = obs.plugged
    return frozenset(zip(p.v.tolist(), p.plugged_since.tolist(), strict=True))
