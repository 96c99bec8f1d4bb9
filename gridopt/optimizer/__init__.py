"""Scenario in, optimal plan out: build (Pyomo), solve (HiGHS), extract, check.

This package is the only part of gridopt that imports Pyomo.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from importlib import metadata

import pandas as pd

from .. import analysis
from ..check import check_schedule
from ..errors import ScenarioError, SolverError
from ..export.setpoints import operator_summary
from ..fingerprint import scenario_fingerprint
from ..fleet import build_fleet_plan
from ..provenance import now_iso, python_version, run_provenance
from ..scenario import Scenario, SolverOptions
from .baseline import BASELINE_NAMES, uncontrolled
from .circuit import with_chargers
from .diagnose import explain_infeasible_site, site_conflicts
from .early import polish_early
from .extract import extract, frames
from .fast import plan_arrays, solve_fast
from .pace import scaled
from .reach import reachable_kwh
from .solve import SolveReport, Status, relative_gap, solve


def build_model(*args, **kwargs):
    """The Pyomo model: see :func:`gridopt.optimizer.model.build_model` (imports Pyomo on first use)."""
    from .model import build_model as _build

    return _build(*args, **kwargs)


__all__ = ["Result", "optimize", "build_model", "solve", "extract", "uncontrolled", "SolveReport", "Status"]


@dataclass(frozen=True)
class Result:
    """An optimized plan with its KPIs and the uncontrolled baseline.

    Attributes
    ----------
    schedule : DataFrame
        Vehicle × step plan (see :func:`gridopt.optimizer.extract.extract`).
    site : DataFrame
        Site power flows and prices per step, on the scenario's time index.
    unmet : DataFrame
        Shortfall of each requirement [kWh].
    summary : dict
        Status, costs, KPIs, solver report, baseline (``uncontrolled_until_met``),
        ``reference_full`` (``uncontrolled_to_full``) and savings (what
        ``summary.json`` holds).
    report : SolveReport
    baseline_schedule, baseline_site : DataFrame
        The like-for-like uncontrolled plan (charging until each requirement is
        met, see :mod:`gridopt.optimizer.baseline`).
    charger_assignment : DataFrame or None
        With ``site.chargers``: one row per occupancy, ``vehicle_id, charger_id,
        start, end`` (tz-aware plug-in and unplug, or the ``site.reassign_at``
        time that cut it); None without chargers. ``schedule`` then has a
        ``charger_id`` column (see :mod:`gridopt.optimizer.circuit`).
    """

    scenario: Scenario
    schedule: pd.DataFrame
    site: pd.DataFrame
    unmet: pd.DataFrame
    summary: dict
    report: SolveReport
    baseline_schedule: pd.DataFrame | None = None
    baseline_site: pd.DataFrame | None = None
    warnings: tuple = field(default_factory=tuple)
    charger_assignment: pd.DataFrame | None = None

    @property
    def status(self) -> str:
        return self.report.status.value


def _versions() -> dict:
    out = {}
    for pkg in ("gridopt", "pyomo", "highspy", "pandas", "numpy", "pvlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    out["python"] = python_version()
    return out


#: Work after the solver (extraction, physics check, KPIs) per vehicle and step [s]; measured
#: 0.8-1.0e-6 on 2 shared cores (3,000 vehicles x 192 steps), with a margin.
POST_S_PER_CELL = 1.5e-6
#: The same for one uncontrolled reference and its check [s] (measured 0.6-0.8e-6); there are two.
BASELINE_S_PER_CELL = 1.2e-6
#: Fixed part of the work after the solver [s].
POST_FIXED_S = 0.05
#: A requirement more than this above the most its vehicle can reach is physically unreachable [kWh].
UNREACHABLE_TOL_KWH = 1e-6


def post_solve_seconds(cells: int, baseline: bool = True) -> float:
    """Estimated time after the solver for a plan of ``cells`` vehicle-steps [s]."""
    return POST_FIXED_S + cells * (POST_S_PER_CELL + (2 * BASELINE_S_PER_CELL if baseline else 0.0))


#: The flexibility envelope behind the flexibility KPIs, per step and per vehicle-step [s]; measured
#: 0.9-1.0e-3 per step (20 vehicles, 96 to 2,976 steps) and up to 2.5e-3 per step with 200 vehicles.
FLEX_S_PER_STEP = 1.5e-3
FLEX_S_PER_CELL = 5e-6


def flexibility_seconds(steps: int, cells: int) -> float:
    """Estimated time of the flexibility envelope for the KPIs [s]."""
    return steps * FLEX_S_PER_STEP + cells * FLEX_S_PER_CELL


def _flexibility_band(sc: Scenario) -> pd.DataFrame:
    """The fleet's guaranteed power band (``p_min_kw``, ``p_max_kw`` per step) for the flexibility KPIs."""
    import warnings

    from ..errors import GridoptError, GridoptWarning
    from ..grid.envelope import flexibility as envelope

    try:
        return envelope(sc).inner
    except GridoptError as exc:  # a KPI must not cost the plan: the KPIs are null and the summary says why
        warnings.warn(f"flexibility KPIs not computed: {exc}", GridoptWarning, stacklevel=2)
        return None


def check_time_limit(time_limit_s: float) -> float:
    """``time_limit_s`` as a float if it is a positive number (``inf`` allowed), else :class:`ScenarioError`."""
    try:
        t = float(time_limit_s)
    except (TypeError, ValueError):
        raise ScenarioError(f"solver.time_limit_s must be a number of seconds, not {time_limit_s!r}") from None
    if not t > 0:  # also nan
        raise ScenarioError(f"solver.time_limit_s must be > 0 s (got {time_limit_s!r})")
    return t


def optimize(
    sc: Scenario,
    options: SolverOptions | None = None,
    *,
    baseline: bool = True,
    tee: bool = False,
    method: str = "auto",
    deadline: float | None = None,
    flexibility: bool = True,
) -> Result:
    """Optimal charge / V2G plan of a scenario.

    Parameters
    ----------
    sc : Scenario
        From :func:`gridopt.load_scenario` (or built in code).
    options : SolverOptions, optional
        Defaults to the scenario's ``solver`` block.
    baseline : bool
        Also simulate uncontrolled charging, until each requirement is met
        (``summary["baseline"]``, the like-for-like comparison the savings are
        against) and to ``max_soc`` (``summary["reference_full"]``, with
        ``summary["savings_vs_reference_full"]``).
    tee : bool
        Show the solver's log (``method="milp"`` only).
    method : {"auto", "milp"}
        ``auto``: the fast path of :mod:`gridopt.optimizer.fast` (LP bound,
        repair, branch and bound only if the gap is not yet proven), with the
        matrices built by numpy. ``milp``: HiGHS branch and bound on the Pyomo
        model of :mod:`gridopt.optimizer.model` (the reference formulation).
    deadline : float, optional
        ``time.monotonic()`` instant by which the whole call should be over
        [s]: the fleet plan, the build, the solve, the extraction, the physics
        check and the baseline. Default: ``options.time_limit_s`` from now. The
        solver gets what is left after an estimate of the work after it
        (:func:`post_solve_seconds`). The fast path always has a plan at the
        deadline unless the site is infeasible: see :mod:`gridopt.optimizer.fast`.
    flexibility : bool
        Compute the fleet's flexibility envelope for the KPIs
        ``flexibility_up_kwh`` / ``flexibility_down_kwh`` of the plan and the
        baseline (see :func:`gridopt.analysis.flexibility_kpis`; about 1 ms per
        step); False leaves them None, and so does a run already past ``deadline``.

    Returns
    -------
    Result

    Raises
    ------
    InfeasibleError
        The site limits admit no plan (the message names steps and limits).
    SolverError
        The solver stopped without any feasible plan.
    PhysicsViolation
        The plan broke a physical limit: a bug, never an output.
    ScenarioError
        ``options.time_limit_s`` is not a positive number.
    """
    started_at = now_iso()
    options = options or sc.solver
    if method not in ("auto", "milp"):
        raise ValueError(f"method must be 'auto' or 'milp', not {method!r}")
    limit_s = check_time_limit(options.time_limit_s)
    t0 = time.perf_counter()
    if deadline is None:
        deadline = time.monotonic() + limit_s
    plan = build_fleet_plan(sc)
    plan_seconds = time.perf_counter() - t0
    left = deadline - time.monotonic()
    post_s = post_solve_seconds(plan.plugged.size, baseline)
    post_s += flexibility_seconds(sc.grid.n_steps, plan.plugged.size) if flexibility else 0.0
    post_s = scaled(post_s, left)  # on a busy machine the work after the solver takes longer (optimizer.pace)
    solve_deadline = deadline - min(post_s, 0.5 * max(0.0, left))
    if method == "milp":
        model, data = build_model(sc, plan)
        build_seconds = time.perf_counter() - t0
        milp_options = replace(options, time_limit_s=max(0.01, solve_deadline - time.monotonic()))
        report = solve(model, milp_options, tee=tee)
        size = {"variables": model.nvariables(), "binaries": data.n_binaries, "constraints": model.nconstraints()}
        stages = {}
    else:
        fast = solve_fast(sc, plan, options, deadline=solve_deadline)
        fast = polish_early(sc, fast, solve_deadline)  # site.prefer_early_charging (gridopt.optimizer.early)
        report = fast.report
        build_seconds = plan_seconds + fast.build_seconds
        size = {"variables": fast.n_columns, "binaries": fast.n_binaries, "constraints": fast.n_rows}
        stages = fast.stages
    if report.status == Status.INFEASIBLE:
        raise explain_infeasible_site(sc, plan, options)
    if not report.has_plan:
        conflict = site_conflicts(sc, plan)
        if conflict is not None:
            raise conflict
        raise SolverError(
            f"{sc.name}: the solver stopped ({report.termination}) after {report.solve_seconds:.1f} s without any "
            f"feasible plan, and the greedy fallback found none either; raise solver.time_limit_s "
            f"(now {options.time_limit_s:g} s)"
        )
    if method == "milp":
        schedule, site, unmet = extract(model, data)
    else:
        schedule, site, unmet = frames(sc, plan, *plan_arrays(sc, plan, fast.model, fast.values))
    # chargers (site.chargers): charger_id per vehicle and step, and who held which charger when
    if method == "milp":
        block = data.charger_block
        chg_values = [model.chg[i].value or 0.0 for i in range(block.n_cols)] if block is not None else []
    else:
        block, chg_values = fast.model.charger_block, fast.values[fast.model.col_chg]
    schedule, charger_assignment, charger_info = with_chargers(sc, plan, block, chg_values, schedule)
    check_schedule(sc, schedule, site, unmet)
    k = analysis.kpis(sc, schedule, site, unmet)
    # the envelope for the flexibility KPIs (its time is reserved above); skipped past the deadline
    band = _flexibility_band(sc) if flexibility and time.monotonic() < deadline else None
    k.update(analysis.flexibility_kpis(band, site, sc.grid.dt_h))
    # the objective (total cost plus the weighted grid terms) recomputed from the written power flows
    cost_check = relative_gap(max(k["objective"], report.objective), min(k["objective"], report.objective))
    if cost_check > 1e-6 and abs(k["objective"] - report.objective) > 1e-4:
        from ..errors import PhysicsViolation

        raise PhysicsViolation(
            f"{sc.name}: cost recomputed from the plan ({k['objective']:.6f}) differs from the solver's objective "
            f"({report.objective:.6f}); this is a bug in gridopt"
        )
    # the proven gap, measured on the recomputed cost
    gap = relative_gap(k["objective"], report.lower_bound)
    summary = {
        "scenario": sc.name,
        "currency": sc.currency,
        "demand_charge_per_kw": sc.demand_charge_per_kw,
        "demand_charge_stated_per_kw": (
            sc.demand_charge_per_kw if sc.demand_charge_stated_per_kw is None else sc.demand_charge_stated_per_kw
        ),
        "demand_charge_period": sc.demand_charge_period,
        "status": report.status.value,
        "objective": report.objective,
        **k,
        "unmet_energy_by_vehicle": analysis.unmet_by_vehicle(unmet),
        "unmet_events": [
            {
                "vehicle_id": str(r.vehicle_id),
                "kind": r.kind,
                "event_id": str(r.event_id),
                "time": pd.Timestamp(r.time).isoformat(),
                "required_kwh": float(r.required_kwh),
                "unmet_kwh": float(r.unmet_kwh),
                "reachable_kwh": float(reach),
                "physically_unreachable": bool(reach < r.required_kwh - UNREACHABLE_TOL_KWH),
            }
            for r, reach in zip(unmet.itertuples(), reachable_kwh(sc, plan), strict=True)
            if r.unmet_kwh > 1e-6
        ],
        "mip_gap": gap,
        "lower_bound": report.lower_bound,
        "method": report.method,
        "stages": stages,
        "termination": report.termination,
        "solve_seconds": report.solve_seconds,
        "build_seconds": build_seconds,
        "solver": {"name": report.solver, "version": report.solver_version},
        "versions": _versions(),
        "model": {
            "vehicles": len(plan.vehicle_ids),
            "steps": sc.grid.n_steps,
            "step_minutes": sc.grid.step_minutes,
            **size,
        },
        "requirements": int(len(plan.requirements)),
        "ignored_sessions": plan.ignored_sessions,
        "ignored_trips": plan.ignored_trips,
        "horizon": {"start": sc.grid.start.isoformat(), "end": sc.grid.end.isoformat()},
        "warnings": list(sc.warnings),
    }
    if charger_info is not None:
        summary["chargers"] = charger_info
    b_sched = b_site = None
    if baseline:
        refs = {}
        for until in ("requirement", "max_soc"):
            r_sched, r_site, r_unmet = uncontrolled(sc, plan, until=until)
            check_schedule(sc, r_sched, r_site, r_unmet, site_limits=False)
            rk = analysis.kpis(sc, r_sched, r_site, r_unmet)
            rk.update(analysis.flexibility_kpis(band, r_site, sc.grid.dt_h))
            rk["unmet_energy_by_vehicle"] = analysis.unmet_by_vehicle(r_unmet)
            refs[until] = {"name": BASELINE_NAMES[until], **rk}
            if until == "requirement":
                b_sched, b_site = r_sched, r_site
        summary["baseline"] = refs["requirement"]
        summary["savings"] = analysis.savings(k, refs["requirement"])
        summary["savings"].update(analysis.grid_savings(k, refs["requirement"]))
        summary["grid_peak_reduction_kw"] = summary["savings"]["grid_peak_reduction_kw"]
        summary["reference_full"] = refs["max_soc"]
        summary["savings_vs_reference_full"] = analysis.savings(k, refs["max_soc"])
    summary["operator"] = operator_summary(sc, schedule, b_sched)  # charging blocks, setpoints' assumptions
    summary["provenance"] = run_provenance(
        scenario_fingerprint(sc), started_at, now_iso(), solver=summary["solver"]
    )  # versions, scenario content hash, command line or API call, machine, start and end (UTC)
    return Result(
        scenario=sc,
        schedule=schedule,
        site=site,
        unmet=unmet,
        summary=summary,
        report=report,
        baseline_schedule=b_sched,
        baseline_site=b_site,
        warnings=tuple(sc.warnings),
        charger_assignment=charger_assignment,
    )
