"""``gridopt export-ocpp``: parse, call :func:`gridopt.export.ocpp.export_ocpp`, print.

::

    gridopt export-ocpp RESULTS --version 1.6|2.0.1|2.1 --out DIR [--unit W|A] [--phases 1|3]
                        [--clamp-discharge] [--connector-id N] [--quiet]

Bad input raises :class:`~gridopt.errors.ScenarioError`; ``gridopt.cli`` turns
it into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from .ocpp import UNITS, VERSIONS


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export-ocpp",
        help="write OCPP SetChargingProfile payloads (one per charger and plug-in) from a run's setpoints.csv",
        description="Write one OCPP SetChargingProfile request payload (TxProfile, absolute schedule) per charger "
        "and plug-in from RESULTS/setpoints.csv into DIR, with DIR/profiles.csv listing them. See docs/operator.md.",
    )
    p.add_argument("results", help="a folder written by `gridopt run`")
    p.add_argument("--version", required=True, choices=VERSIONS, help="OCPP version")
    p.add_argument("--out", required=True, help="output folder (new or empty)")
    p.add_argument("--unit", default="W", choices=UNITS, help="chargingRateUnit: W (default) or A per phase")
    p.add_argument("--phases", type=int, choices=(1, 3), help="phases of every charger (A needs them)")
    p.add_argument(
        "--clamp-discharge",
        action="store_true",
        help="1.6 / 2.0.1: send 0 where the plan discharges (V2G) instead of refusing",
    )
    p.add_argument("--connector-id", type=int, default=1, help="connectorId (1.6) / evseId (2.x); default 1")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors and warnings")
    return p


def run(args) -> int:
    from ..cli import one_line
    from .ocpp import export_ocpp

    files, warnings = export_ocpp(
        args.results,
        args.out,
        args.version,
        unit=args.unit,
        phases=args.phases,
        clamp_discharge=args.clamp_discharge,
        connector_id=args.connector_id,
    )
    for w in warnings:
        print(f"warning: {one_line(w)}", file=sys.stderr)
    if not args.quiet:
        print(f"{len(files) - 1} SetChargingProfile payloads (OCPP {args.version}, {args.unit}) in {args.out}")
    return 0
