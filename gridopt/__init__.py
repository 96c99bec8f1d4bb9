"""gridopt: optimal EV charging and V2G schedules for fleets and sites.

>>> import gridopt                                                    # doctest: +SKIP
>>> sc = gridopt.load_scenario("scenarios/depot_bus_v2g.yaml")        # doctest: +SKIP
>>> res = gridopt.optimize(sc)                                        # doctest: +SKIP
>>> res.schedule, res.site, res.summary                               # doctest: +SKIP
"""

from __future__ import annotations

from .errors import GridoptError, InfeasibleError, PhysicsViolation, ScenarioError, SolverError
from .io import load_scenario, write_results
from .scenario import Scenario, SolverOptions

__version__ = "0.1.0"


def optimize(scenario: Scenario, options: SolverOptions | None = None, **kwargs):
    """Optimal plan of ``scenario``: see :func:`gridopt.optimizer.optimize`."""
    from .optimizer import optimize as _optimize

    return _optimize(scenario, options, **kwargs)


def flexibility(scenario: Scenario, **kwargs):
    """The fleet's flexibility envelope: see :func:`gridopt.grid.flexibility`."""
    from .grid import flexibility as _flexibility

    return _flexibility(scenario, **kwargs)


def pareto(
    scenario: Scenario, trade: str = "cost:carbon", points: int = 7, options: SolverOptions | None = None, **kwargs
):
    """Cost against emissions or the grid's peak by epsilon-constraint: see :func:`gridopt.grid.pareto.pareto`."""
    from .grid.pareto import pareto as _pareto

    return _pareto(scenario, trade, points, options, **kwargs)


def sweep(spec, out, **kwargs):
    """Run a parameter sweep on Dask: see :func:`gridopt.batch.runner.sweep` (needs ``gridopt[scale]``)."""
    from .batch import sweep as _sweep

    return _sweep(spec, out, **kwargs)


def sweep_report(out_dir, **kwargs):
    """KPI vs parameter charts of a sweep: see :func:`gridopt.batch.report.sweep_report`."""
    from .batch import sweep_report as _report

    return _report(out_dir, **kwargs)


def validate(path) -> Scenario:
    """Load and check a scenario file; raises :class:`ScenarioError` on bad input."""
    return load_scenario(path)


__all__ = [
    "GridoptError",
    "InfeasibleError",
    "PhysicsViolation",
    "Scenario",
    "ScenarioError",
    "SolverError",
    "SolverOptions",
    "flexibility",
    "load_scenario",
    "optimize",
    "pareto",
    "sweep",
    "sweep_report",
    "validate",
    "write_results",
]
