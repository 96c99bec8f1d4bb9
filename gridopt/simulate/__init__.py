"""Rolling-horizon operation: replay a real period under the plans an operator could make.

>>> import gridopt                                                          # doctest: +SKIP
>>> from gridopt import simulate                                            # doctest: +SKIP
>>> sc = gridopt.load_scenario("scenarios/simulate/workplace_acn_week.yaml")  # doctest: +SKIP
>>> actual = simulate.read_actual("scenarios/data/simulate_acn_week/actual_sessions.csv", sc)  # doctest: +SKIP
>>> fc = simulate.forecaster_from_history(["scenarios/data/simulate_acn_week/history.csv"], sc)  # doctest: +SKIP
>>> res = simulate.simulate(sc, actual, forecaster=fc)                       # doctest: +SKIP
>>> simulate.comparison_table(res)                                          # doctest: +SKIP

Modules: :mod:`.actual` (what happened and what was known), :mod:`.world`
(the real world, step by step), :mod:`.forecasting` (session forecasts from
:mod:`gridopt.forecast`), :mod:`.picture` (the operator's estimates, margins),
:mod:`.planning` (one re-plan as a gridopt scenario), :mod:`.rules` (EDF, LLF,
round robin), :mod:`.policies`, :mod:`.engine` (:func:`simulate`),
:mod:`.report` (tables and Markdown), :mod:`.io` (files), :mod:`.cli`.
"""

from __future__ import annotations

from .actual import Actual, actual_from_table, told_exactly, truth
from .engine import KINDS, PolicySpec, SimulationResult, SimulationSettings, default_policies, simulate
from .forecasting import SessionForecaster
from .io import forecaster_from_history, read_actual, write_report
from .picture import Margins
from .report import COMPARISON_COLUMNS, comparison_table, daily_table, markdown_report

__all__ = [
    "COMPARISON_COLUMNS",
    "KINDS",
    "Actual",
    "Margins",
    "PolicySpec",
    "SessionForecaster",
    "SimulationResult",
    "SimulationSettings",
    "actual_from_table",
    "comparison_table",
    "daily_table",
    "default_policies",
    "forecaster_from_history",
    "markdown_report",
    "read_actual",
    "simulate",
    "told_exactly",
    "truth",
    "write_report",
]
