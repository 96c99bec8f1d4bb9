"""``gridopt sweep SWEEP.yaml --out DIR``: parse, call :func:`gridopt.batch.sweep`, exit codes.

Bad sweep files raise :class:`~gridopt.errors.ScenarioError` (exit 2, one
line); a bad *case* is a row of the results, not an error.
"""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
Run a parameter sweep on Dask: every case of SWEEP.yaml (a base scenario and the
fields to vary: grid, list or Latin hypercube) is loaded, optimized, checked and
written to DIR/cases/<id>/; DIR/results.parquet and results.csv hold one row per
case. Rerunning the same command skips finished cases (by content hash).
See docs/sweeps.md.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``sweep`` on the main command's sub-parsers."""
    p = subparsers.add_parser(
        "sweep",
        help="run a parameter sweep on Dask and write one results row per case",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sweep", help="sweep YAML (see docs/sweeps.md)")
    p.add_argument("--out", required=True, help="the sweep's folder (new, empty, or an earlier run to resume)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (default: a LocalCluster here)")
    p.add_argument("--workers", type=int, help="worker processes of the LocalCluster (default: the usable cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--plot", action="store_true", help="also write the report: KPI vs parameter charts")
    p.add_argument(
        "--retry-failed", action="store_true", help="run again the cases recorded as bad_input, infeasible, ..."
    )
    return p


def run(args: argparse.Namespace) -> int:
    """Run the sweep; errors propagate to :func:`gridopt.cli.main` (one line, exit code)."""
    from ..errors import ScenarioError
    from ..provenance import INVOCATION
    from .runner import sweep

    if args.workers is not None and args.workers < 1:
        raise ScenarioError(f"--workers must be at least 1 (got {args.workers})")
    try:
        sweep(
            args.sweep,
            args.out,
            scheduler=args.scheduler,
            workers=args.workers,
            quiet=args.quiet,
            plot=args.plot,
            retry_failed=args.retry_failed,
            command=INVOCATION.get(),
        )
    except KeyboardInterrupt:
        print(
            f"error: interrupted; the finished cases are in {args.out}/results.parquet and the journal: "
            "run the same command to resume",
            file=sys.stderr,
        )
        return 130
    return 0
