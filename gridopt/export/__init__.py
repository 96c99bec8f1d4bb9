"""What an operator hands to chargers and staff: setpoints, the ready-by report, OCPP charging profiles.

:mod:`~gridopt.export.setpoints` turns a plan into contiguous blocks of equal
power per charger and vehicle (``setpoints.csv``) and into the ready-by report
(``vehicles.csv``); :mod:`~gridopt.export.ocpp` turns ``setpoints.csv`` into
OCPP ``SetChargingProfile`` request payloads. Nothing here imports Pyomo or
touches the network.
"""

from .setpoints import (
    DEFAULT_PHASES,
    DEFAULT_VOLTAGE_V,
    charger_of_rows,
    expand_setpoints,
    power_blocks,
    ready_by_report,
    written,
)

__all__ = [
    "DEFAULT_PHASES",
    "DEFAULT_VOLTAGE_V",
    "charger_of_rows",
    "expand_setpoints",
    "power_blocks",
    "ready_by_report",
    "written",
]
