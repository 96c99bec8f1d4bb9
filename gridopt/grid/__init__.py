"""The fleet as a grid asset: its flexibility envelope, without vehicle-level data.

>>> import gridopt                                                              # doctest: +SKIP
>>> sc = gridopt.load_scenario("scenarios/depot_bus_v2g.yaml")                  # doctest: +SKIP
>>> env = gridopt.grid.flexibility(sc)                                          # doctest: +SKIP
>>> env.inner, env.outer, env.tightness                                         # doctest: +SKIP
>>> plan = gridopt.grid.disaggregate(sc, env, env.inner["p_min_kw"])           # doctest: +SKIP
>>> gridopt.grid.verify(sc, plan)                                               # doctest: +SKIP
[]
>>> front = gridopt.pareto(sc, trade="cost:peak", points=7)                      # doctest: +SKIP
>>> front.table[["point", "cap", "cost", "grid_peak_kw", "status", "gap"]]       # doctest: +SKIP
"""

from .cli import write_envelope
from .disaggregate import Dispatch, disaggregate, verify
from .envelope import Envelope, flexibility
from .pareto import ParetoFront, pareto_figure, write_pareto
from .signals import LB_PER_MWH_IN_KG_PER_KWH, SIGNAL_COLUMNS

__all__ = [
    "LB_PER_MWH_IN_KG_PER_KWH",
    "SIGNAL_COLUMNS",
    "Dispatch",
    "Envelope",
    "ParetoFront",
    "disaggregate",
    "flexibility",
    "pareto_figure",
    "verify",
    "write_envelope",
    "write_pareto",
]
