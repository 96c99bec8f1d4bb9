"""Replay a real period under every policy and measure each one the same way.

:func:`simulate` runs, on the real world of ``scenario`` + ``actual``:

* ``perfect``: :func:`gridopt.optimize` on the real world, one solve that
  knows every arrival, departure and need in advance (perfect foresight);
* ``rolling`` (and its variants with margins or samples):
  :class:`~gridopt.simulate.policies.RollingHorizon`;
* ``uncontrolled``: gridopt's uncontrolled baseline (full power from plug-in
  to ``max_soc``; it ignores the import limit, the steps it breaks it are
  counted);
* ``edf``, ``llf``, ``round_robin``: :class:`~gridopt.simulate.policies.RulePolicy`.

Every outcome is a schedule, a site table and shortfalls in gridopt's formats,
re-checked by :func:`gridopt.check.check_schedule` against the real world and
priced by :func:`gridopt.analysis.kpis`: the same cost definition as
``gridopt run`` (energy, demand charge on the realised peak, degradation,
unmet energy at its penalty), with unmet energy counted against the real needs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import analysis
from ..check import check_schedule
from ..errors import ScenarioError
from ..optimizer import optimize, uncontrolled
from ..scenario import Scenario, SolverOptions
from .actual import Actual, planned_trips, truth
from .forecasting import SessionForecaster
from .learned import LearnedDepartureMargin, critical_ratio, energy_ratio
from .picture import Context, Margins, make_context
from .policies import RollingHorizon, RulePolicy
from .shortfall import ExpectedShortfall
from .world import World, energy_needed_kwh

#: Every policy kind, in report order.
KINDS = ("perfect", "rolling", "uncontrolled", "edf", "llf", "round_robin")


@dataclass(frozen=True)
class PolicySpec:
    """One policy to run.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    name : str
        Its name in the report (unique).
    margins : Margins
        Rolling horizon only.
    samples : int
        Rolling horizon only: 0 = point forecast, K = scenario-based plan.
    stochastic : str
        ``"mean"`` or ``"worst"`` (with ``samples``).
    learned : bool
        Rolling horizon only: plan the drivers' estimates at the learned quantile
        of their errors (:mod:`gridopt.simulate.learned`).
    shortfall : bool
        Rolling horizon only: plan each plugged-in car against its expected
        shortfall over its plausible departures and needs (:mod:`gridopt.simulate.shortfall`).
    """

    kind: str
    name: str
    margins: Margins = Margins()
    samples: int = 0
    stochastic: str = "worst"
    learned: bool = False
    shortfall: bool = False

    @property
    def description(self) -> str:
        if self.kind == "perfect":
            return "optimizer, perfect foresight (one solve)"
        if self.kind == "uncontrolled":
            return "full power from plug-in (ignores the import limit)"
        if self.kind in ("edf", "llf", "round_robin"):
            return {
                "edf": "earliest deadline first",
                "llf": "least laxity first",
                "round_robin": "round robin (equal shares)",
            }[self.kind]
        what = "rolling horizon"
        extra = []
        if self.samples:
            extra.append(f"{self.stochastic} of {self.samples} samples")
        else:
            extra.append("point forecast")
        if self.margins.label:
            extra.append(self.margins.label)
        if self.learned:
            extra.append("learned departure margin")
        if self.shortfall:
            extra[0] = "expected shortfall over departure and need points"
        return f"{what}, {', '.join(extra)}"


def default_policies(
    energy_margin: float = 0.0,
    departure_margin_minutes: float = 0.0,
    samples: int = 0,
    stochastic: str = "worst",
    learned_margin: bool = False,
    shortfall: bool = False,
) -> list[PolicySpec]:
    """Perfect foresight, the rolling horizon (plus one variant per robustness option), uncontrolled, EDF, LLF, round robin.

    With both margins there is also a variant with both; with ``learned_margin``
    a variant ``rolling_learned_margin`` (:mod:`gridopt.simulate.learned`); with
    ``shortfall`` a variant ``rolling_shortfall`` (:mod:`gridopt.simulate.shortfall`).
    """
    out = [PolicySpec("perfect", "perfect"), PolicySpec("rolling", "rolling")]
    if shortfall:
        out.append(PolicySpec("rolling", "rolling_shortfall", shortfall=True))
    if learned_margin:
        out.append(PolicySpec("rolling", "rolling_learned_margin", learned=True))
    if energy_margin:
        out.append(PolicySpec("rolling", "rolling_energy_margin", Margins(energy=energy_margin)))
    if departure_margin_minutes:
        out.append(
            PolicySpec("rolling", "rolling_departure_margin", Margins(departure_minutes=departure_margin_minutes))
        )
    if energy_margin and departure_margin_minutes:
        out.append(PolicySpec("rolling", "rolling_both_margins", Margins(energy_margin, departure_margin_minutes)))
    if samples:
        out.append(PolicySpec("rolling", f"rolling_stochastic_{stochastic}", samples=samples, stochastic=stochastic))
    out += [PolicySpec(k, k) for k in ("uncontrolled", "edf", "llf", "round_robin")]
    return out


@dataclass(frozen=True)
class SimulationSettings:
    """How the simulation re-plans.

    Attributes
    ----------
    replan_minutes : int or None
        Minutes between re-plans (the fallback interval); a multiple of the
        scenario's step. None: the scenario's step (re-plan at every step).
    replan_on_events : bool
        Also re-plan as soon as a vehicle plugs in or unplugs (a fleet
        vehicle leaving on or back from a trip included), whatever the interval.
    lookahead_hours : float
        Horizon of each plan [h] (cut at the end of the simulated period).
    options : SolverOptions or None
        Solver options of every solve (default: the scenario's).
    seed : int
        Seed of the sampled forecasts.
    early_bias_per_kwh_h : float
        Delay cost of the plans [currency/kWh/h]: import prices of a plan (not
        the reported costs) rise by this much per hour after ``now``, so that
        of two plans of equal cost the one that charges earlier wins (it stands
        for the risk of a car leaving before its estimate).
    """

    replan_minutes: int | None = None
    lookahead_hours: float = 24.0
    options: SolverOptions | None = None
    seed: int = 0
    early_bias_per_kwh_h: float = 0.01
    replan_on_events: bool = True

    def interval_minutes(self, step_minutes: int) -> int:
        """The re-plan interval [min]: ``replan_minutes``, or the scenario's step when it is None."""
        return step_minutes if self.replan_minutes is None else int(self.replan_minutes)


@dataclass
class PolicyOutcome:
    """What one policy did on the real period.

    Attributes
    ----------
    spec : PolicySpec
    schedule, site, unmet : DataFrame
        gridopt's result formats, on the real world.
    kpis : dict
        :func:`gridopt.analysis.kpis` of them, plus ``energy_needed_kwh``,
        ``unmet_events``, ``solves``, ``solve_median_s``, ``solve_max_s``,
        ``solve_total_s``, ``wall_seconds``, ``site_guard_steps``,
        ``fallback_steps``.
    solves : list of dict
        One record per re-solve.
    """

    spec: PolicySpec
    schedule: pd.DataFrame
    site: pd.DataFrame
    unmet: pd.DataFrame
    kpis: dict
    solves: list = field(default_factory=list)


@dataclass
class SimulationResult:
    """All policies on one real period.

    Attributes
    ----------
    scenario : Scenario
        The real world.
    settings : SimulationSettings
    outcomes : dict
        Policy name -> :class:`PolicyOutcome`, in run order.
    info : dict
        Period, counts of sessions or trips, forecast source.
    """

    scenario: Scenario
    settings: SimulationSettings
    outcomes: dict
    info: dict


def _solve_stats(solves: list) -> dict:
    secs = np.array([s["solve_seconds"] for s in solves if not math.isnan(s.get("solve_seconds", math.nan))])
    walls = np.array([s["wall_seconds"] for s in solves])
    return {
        "solves": int(len(secs)),
        "solve_median_s": float(np.median(secs)) if len(secs) else 0.0,
        "solve_max_s": float(secs.max()) if len(secs) else 0.0,
        "solve_total_s": float(secs.sum()) if len(secs) else 0.0,
        "replan_median_s": float(np.median(walls)) if len(walls) else 0.0,
        "replan_max_s": float(walls.max()) if len(walls) else 0.0,
    }


def _measure(world_sc: Scenario, spec, schedule, site, unmet, needed, *, site_limits=True, solves=(), extra=None):
    check_schedule(world_sc, schedule, site, unmet, site_limits=site_limits)
    k = analysis.kpis(world_sc, schedule, site, unmet)
    k["energy_needed_kwh"] = needed
    k["unmet_events"] = int((unmet["unmet_kwh"] > 1e-6).sum()) if len(unmet) else 0
    k.update(_solve_stats(list(solves)))
    k.update(extra or {})
    return PolicyOutcome(spec, schedule, site, unmet, k, list(solves))


def run_policy(world_sc: Scenario, session_info, policy, spec: PolicySpec, needed: float) -> PolicyOutcome:
    """Step ``policy`` through the real world; check and price what happened."""
    t0 = time.perf_counter()
    world = World(world_sc, session_info)
    while not world.done:
        obs = world.observe()
        c, d = policy.decide(obs)
        world.apply(c, d)
    schedule, site, unmet = world.frames()
    extra = {
        "wall_seconds": time.perf_counter() - t0,
        "site_guard_steps": world.guard_steps,
        "fallback_steps": getattr(policy, "fallback_steps", 0),
    }
    return _measure(world_sc, spec, schedule, site, unmet, needed, solves=policy.solves, extra=extra)


def build_context(sc: Scenario, actual: Actual, forecaster: SessionForecaster | None) -> tuple[Scenario, Context]:
    """The real world and the operator's context (the site without its real movements)."""
    world_sc = truth(sc, actual)
    site = world_sc.with_built(sessions=world_sc.sessions.iloc[:0], trips=world_sc.trips.iloc[:0])
    vids = list(world_sc.vehicles.index)
    return world_sc, make_context(site, vids, planned_trips(world_sc, actual), forecaster)


def simulate(
    sc: Scenario,
    actual: Actual,
    *,
    forecaster: SessionForecaster | None = None,
    settings: SimulationSettings = SimulationSettings(),
    policies: list[PolicySpec] | None = None,
    progress=None,
) -> SimulationResult:
    """Replay the real period of ``actual`` on ``sc`` under each policy (see the module doc).

    Parameters
    ----------
    sc : Scenario
        Site, tariff, time series, vehicles; its horizon is the simulated period.
    actual : Actual
        The real sessions or trips (:func:`gridopt.simulate.read_actual`).
    forecaster : SessionForecaster, optional
        Session forecasts learned from a history; without one, future arrivals
        are not forecast (see :mod:`gridopt.simulate.picture`).
    settings : SimulationSettings
    policies : list of PolicySpec, optional
        Default :func:`default_policies`.
    progress : callable, optional
        Called with each policy's name before it runs.

    Returns
    -------
    SimulationResult

    Raises
    ------
    ScenarioError
        Bad settings (re-plan interval not a multiple of the step, ...).
    InfeasibleError
        The site's base load exceeds its import limit somewhere.
    """
    step = sc.grid.step_minutes
    replan_minutes = settings.interval_minutes(step)
    if replan_minutes <= 0 or replan_minutes % step:
        raise ScenarioError(
            f"--replan-minutes {replan_minutes} must be a positive multiple of the scenario's {step}-minute step"
        )
    if not settings.lookahead_hours * 60 >= replan_minutes:
        raise ScenarioError(
            f"--lookahead-hours {settings.lookahead_hours:g} must cover at least one re-plan interval "
            f"({replan_minutes} min)"
        )
    policies = policies or default_policies()
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise ScenarioError(f"policy names must be unique: {names}")
    if any(p.samples for p in policies) and forecaster is None:
        raise ScenarioError("a scenario-based plan (--samples) needs a session history (--history) to sample from")
    options = settings.options or sc.solver
    world_sc, ctx = build_context(sc, actual, forecaster)
    needed = energy_needed_kwh(world_sc)
    session_info = actual.info if actual.kind == "sessions" else None
    replan = replan_minutes // step
    # the drivers' estimate errors known in advance; when the period's drivers are told to be exact
    # (ACN-Sim's assumption) the history's errors do not describe them, and only errors seen online count
    prior_errors = forecaster.estimate_error_h if forecaster is not None and actual.told != "exact" else []
    lookahead = max(replan, int(round(settings.lookahead_hours * 60 / step)))
    outcomes: dict[str, PolicyOutcome] = {}
    for spec in policies:
        if progress:
            progress(spec.name)
        if spec.kind == "perfect":
            t0 = time.perf_counter()
            res = optimize(world_sc, options, baseline=False)
            solves = [
                {
                    "policy": spec.name,
                    "time": world_sc.grid.start.isoformat(),
                    "k": 0,
                    "solve_seconds": float(res.summary["solve_seconds"]),
                    "wall_seconds": time.perf_counter() - t0,
                    "status": res.summary["status"],
                    "vehicles": int(res.summary["model"]["vehicles"]),
                    "forecast_vehicles": 0,
                    "steps": world_sc.grid.n_steps,
                }
            ]
            extra = {"wall_seconds": time.perf_counter() - t0, "site_guard_steps": 0, "fallback_steps": 0}
            outcomes[spec.name] = _measure(
                world_sc, spec, res.schedule, res.site, res.unmet, needed, solves=solves, extra=extra
            )
        elif spec.kind == "uncontrolled":
            t0 = time.perf_counter()
            schedule, site, unmet = uncontrolled(world_sc)
            extra = {"wall_seconds": time.perf_counter() - t0, "site_guard_steps": 0, "fallback_steps": 0}
            outcomes[spec.name] = _measure(
                world_sc, spec, schedule, site, unmet, needed, site_limits=False, extra=extra
            )
        elif spec.kind in RulePolicy.RULES:
            outcomes[spec.name] = run_policy(
                world_sc, session_info, RulePolicy(ctx, spec.kind, spec.margins), spec, needed
            )
        elif spec.kind == "rolling":
            pol = RollingHorizon(
                ctx,
                replan,
                lookahead,
                options,
                margins=spec.margins,
                samples=spec.samples,
                stochastic=spec.stochastic,
                seed=settings.seed,
                name=spec.name,
                early_bias_per_kwh_h=settings.early_bias_per_kwh_h,
                replan_on_events=settings.replan_on_events,
                learned=(
                    LearnedDepartureMargin(
                        prior_errors,
                        critical_ratio(world_sc),
                        q_energy=energy_ratio(world_sc),
                    )
                    if spec.learned
                    else None
                ),
                shortfall=(
                    ExpectedShortfall(
                        prior_errors,
                        world_sc.unmet_energy_penalty_per_kwh,
                    )
                    if spec.shortfall
                    else None
                ),
            )
            outcomes[spec.name] = run_policy(world_sc, session_info, pol, spec, needed)
        else:
            raise ScenarioError(f"unknown policy {spec.kind!r} (known: {', '.join(KINDS)})")
    info = {
        "scenario": sc.name,
        "start": world_sc.grid.start.isoformat(),
        "end": world_sc.grid.end.isoformat(),
        "step_minutes": step,
        "actual": actual.where,
        "kind": actual.kind,
        "told": actual.told,
        "events": int(len(actual.table)),
        "vehicles": int(len(world_sc.vehicles)),
        "replan_minutes": replan_minutes,
        "replan_on_events": settings.replan_on_events,
        "lookahead_hours": settings.lookahead_hours,
        "forecast": (
            f"gridopt.forecast.ArrivalModel, site {forecaster.site}, history to {forecaster.history_end.isoformat()}"
            if forecaster is not None
            else "none (no history)"
        ),
        "energy_needed_kwh": needed,
    }
    return SimulationResult(world_sc, settings, outcomes, info)
