"""Solve a built model with HiGHS (through Pyomo and highspy) and report how it went."""

from __future__ import annotations

import enum
import math
import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ..scenario import SolverOptions

if TYPE_CHECKING:
    import pyomo.environ as pyo


class Status(str, enum.Enum):
    """Why the solve stopped, and whether a plan exists."""

    OPTIMAL = "optimal"  #: gap target reached
    TIME_LIMIT = "time_limit"  #: stopped at the time limit with a feasible plan
    INFEASIBLE = "infeasible"  #: no plan satisfies the constraints
    NO_SOLUTION = "no_solution"  #: stopped (time limit, error) without a feasible plan


@dataclass(frozen=True)
class SolveReport:
    """Outcome of one solve.

    Attributes
    ----------
    status : Status
    termination : str
        Pyomo's termination condition, verbatim.
    objective : float
        Cost of the plan found [currency] (nan without a plan).
    lower_bound : float
        Proven lower bound on the optimal cost [currency].
    gap : float
        ``(objective - lower_bound) / max(|lower_bound|, 1)``.
    solve_seconds : float
        Wall time of the solver call, loading the model included [s].
    solver, solver_version : str
    method : str
        How the plan was made (``milp``: HiGHS branch and bound on the full model).
    """

    status: Status
    termination: str
    objective: float
    lower_bound: float
    gap: float
    solve_seconds: float
    solver: str
    solver_version: str
    method: str = "milp"

    @property
    def has_plan(self) -> bool:
        return self.status in (Status.OPTIMAL, Status.TIME_LIMIT)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["status"] = self.status.value
        return d


def relative_gap(objective: float, bound: float) -> float:
    """``(objective - bound) / max(|bound|, 1)``; 0 when they agree, inf without a bound."""
    if bound is None or not math.isfinite(bound) or not math.isfinite(objective):
        return math.inf
    return max(0.0, objective - bound) / max(abs(bound), 1.0)


def solve(model: pyo.ConcreteModel, options: SolverOptions | None = None, *, tee: bool = False) -> SolveReport:
    """Solve ``model`` with HiGHS and load the plan into it.

    HiGHS stops at ``mip_rel_gap`` measured our way, ``(cost - bound) /
    max(|bound|, 1)``: its own relative gap is ``(cost - bound) / |cost|``, so it
    is given ``g / (1 + g)`` together with an absolute gap of ``g``; either one
    implies ours.
    """
    from pyomo.contrib.solver.common.factory import SolverFactory
    from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition

    from .highs import WATCHDOG_GRACE_S, silence_banner, timer_interval

    options = options or SolverOptions()
    g = float(options.mip_rel_gap)
    time_limit_s = timer_interval(options.time_limit_s)
    silence_banner()
    opt = SolverFactory("highs")
    version = ".".join(str(x) for x in opt.version())
    t0 = time.perf_counter()

    # HiGHS can overrun its own time limit (e.g. in the root node): cancel it from outside
    # shortly after. Pyomo keeps the highspy object on the solver instance while it runs;
    # highspy's cancelSolve() only acts with its user-interrupt callbacks on.
    def cancel():
        model_h = getattr(opt, "_solver_model", None)
        if model_h is not None and hasattr(model_h, "cancelSolve"):
            if hasattr(model_h, "HandleUserInterrupt"):
                model_h.HandleUserInterrupt = True
            model_h.cancelSolve()

    watchdog = threading.Timer(timer_interval(time_limit_s + WATCHDOG_GRACE_S + 0.7), cancel)
    watchdog.daemon = True
    watchdog.start()
    try:
        res = opt.solve(
            model,
            tee=tee,
            time_limit=time_limit_s,
            rel_gap=g / (1.0 + g),
            abs_gap=g,
            load_solutions=False,
            raise_exception_on_nonoptimal_result=False,
        )
    finally:
        watchdog.cancel()
    seconds = time.perf_counter() - t0
    tc = res.termination_condition
    has_solution = res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    if has_solution:
        res.solution_loader.load_vars()
    obj = float(res.incumbent_objective) if has_solution and res.incumbent_objective is not None else math.nan
    bound = res.objective_bound
    bound = float(bound) if bound is not None else math.nan
    if has_solution and not math.isfinite(bound) and tc == TerminationCondition.convergenceCriteriaSatisfied:
        bound = obj  # an LP (no binaries) proves its own optimum
    if tc in (
        TerminationCondition.provenInfeasible,
        TerminationCondition.locallyInfeasible,
        TerminationCondition.infeasibleOrUnbounded,
    ):
        status = Status.INFEASIBLE
    elif has_solution and tc == TerminationCondition.convergenceCriteriaSatisfied:
        status = Status.OPTIMAL
    elif has_solution:
        status = Status.TIME_LIMIT
    else:
        status = Status.NO_SOLUTION
    return SolveReport(
        status=status,
        termination=tc.name,
        objective=obj,
        lower_bound=bound,
        gap=relative_gap(obj, bound) if has_solution else math.inf,
        solve_seconds=seconds,
        solver="highs",
        solver_version=version,
    )
