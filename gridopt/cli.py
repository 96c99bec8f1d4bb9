"""Command line: ``gridopt run SCENARIO --out DIR`` and ``gridopt validate SCENARIO``.

Exit codes: 0 success, 2 bad input, 3 infeasible site, 4 solver failure or time
limit without a plan, 70 a plan that broke a physical limit (a bug), 73 the
results could not be written (``EX_CANTCREAT``: a folder of other files, another
run writing there, no permission or space; nothing was written).
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path


def _fmt_money(x: float) -> str:
    return f"{x:,.2f}"


def _print_summary(res, out_dir: str | None) -> None:
    s = res.summary
    p = print
    p(
        f"{s['scenario']}: {s['status']} (gap {s['mip_gap']:.2e}, {s['model']['vehicles']} vehicles, "
        f"{s['model']['steps']} steps, build {s['build_seconds']:.2f} s, solve {s['solve_seconds']:.2f} s)"
    )
    p(
        f"  total cost        {_fmt_money(s['total_cost'])}  (energy {_fmt_money(s['energy_cost'])}, demand "
        f"{_fmt_money(s['demand_charge_cost'])}, degradation {_fmt_money(s['degradation_cost'])}, unmet "
        f"{_fmt_money(s['unmet_energy_cost'])})"
    )
    p(f"  peak import       {s['peak_import_kw']:.1f} kW")
    p(
        f"  energy delivered  {s['energy_delivered_kwh']:.1f} kWh, V2G {s['v2g_energy_kwh']:.1f} kWh, "
        f"unmet {s['unmet_energy_kwh']:.2f} kWh"
    )
    if s["pv_self_consumption"] is not None:
        p(f"  PV self-use       {100 * s['pv_self_consumption']:.1f}% of {s['pv_kwh']:.1f} kWh")
    if "baseline" in s:
        b, sv = s["baseline"], s["savings"]
        pct = f" ({sv['total_cost_percent']:.1f}%)" if sv["total_cost_percent"] is not None else ""
        p(
            f"  vs uncontrolled   cost {_fmt_money(b['total_cost'])}, saving {_fmt_money(sv['total_cost'])}{pct}; "
            f"peak {b['peak_import_kw']:.1f} kW"
            + (
                f", {b['import_limit_violation_steps']} steps over the import limit"
                if b["import_limit_violation_steps"]
                else ""
            )
        )
    if s["unmet_events"]:
        worst = sorted(s["unmet_events"], key=lambda e: -e["unmet_kwh"])[:3]
        p(
            "  unmet needs       "
            + "; ".join(f"{e['vehicle_id']} {e['kind']} {e['event_id']} {e['unmet_kwh']:.2f} kWh" for e in worst)
            + (f" (+{len(s['unmet_events']) - 3} more)" if len(s["unmet_events"]) > 3 else "")
        )
    if out_dir:
        p(f"  wrote {out_dir}/schedule.csv, site.csv, summary.json")


def version_text() -> str:
    """``'gridopt 0.1.0 (HiGHS 1.16.0 through highspy 1.16.0, Python 3.11.2)'``."""
    from importlib import metadata

    from .optimizer.highs import highs_version, highspy_version

    try:
        own = metadata.version("gridopt")
    except metadata.PackageNotFoundError:
        own = "(not installed)"
    py = ".".join(str(x) for x in sys.version_info[:3])
    return f"gridopt {own} (HiGHS {highs_version()} through highspy {highspy_version()}, Python {py})"


class _VersionAction(argparse.Action):
    """``--version``: print :func:`version_text` and exit 0 (the solver is looked up only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gridopt", description="Optimal EV charging and V2G schedules.")
    parser.add_argument(
        "--version", action=_VersionAction, help="print the versions of gridopt, its solver and Python, and exit"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="optimize a scenario and write schedule.csv, site.csv, summary.json")
    run.add_argument("scenario", help="scenario YAML")
    run.add_argument("--out", required=True, help="output folder")
    run.add_argument("--time-limit", type=float, help="solver time limit [s] (overrides the scenario)")
    run.add_argument("--gap", type=float, help="relative MIP gap (overrides the scenario)")
    run.add_argument("--no-baseline", action="store_true", help="skip the uncontrolled baseline")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")
    val = sub.add_parser("validate", help="check a scenario and its files")
    val.add_argument("scenario", help="scenario YAML")
    from .forecast import cli as forecast_cli

    forecast_cli.add_parser(sub)
    from .simulate import cli as simulate_cli

    simulate_cli.add_parser(sub)
    args = parser.parse_args(argv)

    from . import load_scenario, optimize, write_results
    from .errors import GridoptError
    from .io.write import check_output_dir
    from .scenario import SolverOptions

    try:
        if args.command == "forecast":
            return forecast_cli.run(args)
        if args.command == "simulate":
            return simulate_cli.run(args)
        sc = load_scenario(args.scenario)
        for w in sc.warnings:
            print(f"warning: {w}", file=sys.stderr)
        if args.command == "validate":
            n_trips, n_sess = len(sc.trips), len(sc.sessions)
            print(
                f"{args.scenario}: valid: {sc.name}, {len(sc.vehicles)} vehicles, {n_trips} trips, {n_sess} sessions, "
                f"{sc.grid.n_steps} steps of {sc.grid.step_minutes} min from {sc.grid.start.isoformat()}"
            )
            return 0
        if Path(args.out).exists() and not Path(args.out).is_dir():
            print(f"error: --out {args.out} exists and is not a folder", file=sys.stderr)
            return 2
        check_output_dir(args.out)  # a folder of other files: refused before solving, not after
        opts = sc.solver
        if args.time_limit is not None or args.gap is not None:
            opts = SolverOptions(
                time_limit_s=args.time_limit if args.time_limit is not None else opts.time_limit_s,
                mip_rel_gap=args.gap if args.gap is not None else opts.mip_rel_gap,
            )
            if not (opts.time_limit_s > 0 and 0 <= opts.mip_rel_gap <= 1 and math.isfinite(opts.time_limit_s)):
                print("error: --time-limit must be > 0 and --gap within 0..1", file=sys.stderr)
                return 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = optimize(sc, opts, baseline=not args.no_baseline)
        write_results(res, args.out)  # OutputError (exit 73) when nothing could be written
        if not args.quiet:
            _print_summary(res, args.out)
        return 0
    except GridoptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
