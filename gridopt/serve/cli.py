"""``gridopt serve``: start the live re-planning API (:mod:`gridopt.serve.app`) with uvicorn.

::

    gridopt serve [--host 127.0.0.1] [--port 8765] [--scenarios DIR] [--scenario NAME]

Binding anything but a loopback address needs a token in the environment
variable ``GRIDOPT_SERVE_TOKEN`` (refused otherwise: one line, exit 2); with a
token set, every request must carry it.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from ..errors import ScenarioError

#: Default port.
PORT = 8765


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``serve`` on the main command's sub-parsers."""
    p = subparsers.add_parser(
        "serve",
        help="HTTP API for live re-planning: load a site, post deltas, get the plan and setpoints",
        description=(
            "Serve a small HTTP API (OpenAPI schema at /openapi.json): POST /scenario loads a scenario by name "
            "(from --scenarios) or POST /scenario/zip an uploaded zip; POST /events posts deltas (plug_in, unplug, "
            "soc, energy_need, price) that re-plan from now; GET /plan and GET /setpoints return the current plan. "
            "Binds 127.0.0.1 by default; any other address needs a token in GRIDOPT_SERVE_TOKEN, which every "
            "request must then carry as 'Authorization: Bearer TOKEN'. See docs/serve.md."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=PORT, help=f"port (default {PORT})")
    p.add_argument(
        "--scenarios",
        default="scenarios",
        help="folder whose scenario YAMLs POST /scenario may load by name (default ./scenarios)",
    )
    p.add_argument("--scenario", help="name of a scenario to load and plan at start (see GET /scenarios)")
    return p


def run(args: argparse.Namespace) -> int:
    """Handle ``gridopt serve``; raises :class:`~gridopt.errors.ScenarioError` on bad options."""
    token = os.environ.get("GRIDOPT_SERVE_TOKEN") or None
    if not is_loopback(args.host) and not token:
        raise ScenarioError(
            f"--host {args.host} is not a loopback address: set a token in GRIDOPT_SERVE_TOKEN "
            "(every request must then send 'Authorization: Bearer TOKEN')"
        )
    if not 0 < args.port < 65536:
        raise ScenarioError(f"--port {args.port} must be within 1..65535")
    try:
        import uvicorn

        from .app import create_app
    except ImportError as exc:
        raise ScenarioError(
            f"gridopt serve needs the serve extra ({exc.name} is missing): pip install -e '.[serve]'"
        ) from None
    folder = Path(args.scenarios)
    if args.scenario is not None and not folder.is_dir():
        raise ScenarioError(f"--scenarios {folder.name}: no such folder")
    app = create_app(folder if folder.is_dir() else None, token=token, preload=args.scenario)
    print(
        f"gridopt serve on http://{args.host}:{args.port} (OpenAPI: /openapi.json; "
        f"{'token required' if token else 'no token'}); Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    # no access log: request lines and bodies may carry vehicle data
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning")
    return 0
