"""Distribution networks (pandapower, SimBench): profiles, linear sensitivities and the AC check.

Needs the ``grid`` extra (pandapower, simbench; pandapower pins pandas 2.3, so
it is installed in its own venv, see ``docs/network.md``). Importing this
package does not import pandapower; the functions that need it do.

>>> import gridopt.network as gn                                      # doctest: +SKIP
>>> nd = gn.load_network("1-LV-rural1--0-sw")                         # doctest: +SKIP
>>> prof = nd.profiles("2024-06-17T00:00+02:00", 96, 15)              # doctest: +SKIP
>>> lin = gn.linearise(nd, prof, ["LV1.101 Bus 4", "LV1.101 Bus 12"])  # doctest: +SKIP
>>> G, h, rows = lin.inequalities()   # G @ p_kw[t] <= h[t]           # doctest: +SKIP
>>> res = gn.ac_check(nd, prof, plan_p_kw)                            # doctest: +SKIP
"""

from .ac import ACResult, PowerFlow, ac_check
from .data import DEFAULT_VM_PU, REFERENCE_TZ, REFERENCE_YEAR, BusProfiles, NetworkData, load_network, voltage_level
from .linear import FLOW_MARGIN_PCT, VM_MARGIN_PU, LinearNetwork, linearise

__all__ = [
    "ACResult",
    "BusProfiles",
    "DEFAULT_VM_PU",
    "FLOW_MARGIN_PCT",
    "LinearNetwork",
    "NetworkData",
    "PowerFlow",
    "REFERENCE_TZ",
    "REFERENCE_YEAR",
    "VM_MARGIN_PU",
    "ac_check",
    "linearise",
    "load_network",
    "voltage_level",
]
