"""Command line: ``gridopt run SCENARIO --out DIR``, ``gridopt validate SCENARIO`` and the other subcommands.

Exit codes: 0 success, 2 bad input, 3 infeasible site, 4 solver failure or time
limit without a plan, 70 a plan that broke a physical limit (a bug), 73 the
results could not be written (``EX_CANTCREAT``: a folder of other files, another
run writing there, no permission or space; nothing was written).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import unicodedata
import warnings
from pathlib import Path

#: Time to write the result files per schedule row (one per vehicle and step) [s]; measured
#: 2-4e-6 on 2 shared cores (576,000 rows) for schedule.csv, site.csv and summary.json; vehicles.csv
#: and setpoints.csv add about 1.3 times that (192,000 rows at load 18: 7.5 -> 17 us per row), with a margin.
WRITE_S_PER_ROW = 1.2e-5
#: Fixed part of writing the results [s].
WRITE_FIXED_S = 0.05


def one_line(text: str) -> str:
    """``text`` with every control or line-breaking character escaped (``\\x1e``, ``\\u2028``).

    Messages quote what users wrote (an id, an event kind); a record separator or a line separator in
    it would split the one ``error:`` line a script reads into several.
    """
    out = []
    for ch in text:
        if ch == "\t" or not (unicodedata.category(ch).startswith(("C", "Z")) and ch != " "):
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def _fmt_money(x: float, currency: str | None = None) -> str:
    return f"{x:,.2f} {currency}" if currency else f"{x:,.2f}"


def _gap_text(gap: float | None) -> str:
    if gap is None or not math.isfinite(gap):
        return "no bound proven, gap unknown"
    return f"gap {gap:.2e}"


def _event_where(e: dict) -> str:
    """``'final_soc at the horizon's end'``, ``'trip T3 departing 2026-06-15 07:30'``, ..."""
    when = str(e.get("time", ""))[:16].replace("T", " ")
    if e["kind"] == "final":
        return "final_soc at the horizon's end"
    if e["kind"] == "session_end":
        return f"session {e['event_id']} at the horizon's end"
    if e["kind"] == "session":
        return f"session {e['event_id']} leaving {when}"
    return f"{e['kind']} {e['event_id']} departing {when}"


def _penalty_below_cost(sc) -> bool:
    """Whether serving a kWh can cost more than leaving it unmet (the scenario's own prices)."""
    if sc is None:
        return True
    penalty = sc.unmet_energy_penalty_per_kwh
    series = sc.series
    dearest = max(
        float(series["import_price"].max()),
        float(series["export_price"].max()) + sc.battery_degradation_cost_per_kwh,
    )
    return penalty < dearest or sc.demand_charge_per_kw > 0


def _unmet_text(e: dict, by_choice: bool) -> str:
    """One unmet event: physically unreachable (and by how much), or left unmet though reachable."""
    head = f"{e['vehicle_id']}: {_event_where(e)} needs {e['required_kwh']:.2f} kWh"
    reach = e.get("reachable_kwh")
    if reach is None:
        return f"{head}, {e['unmet_kwh']:.2f} kWh unmet"
    if e.get("physically_unreachable"):
        return f"{head}, at most {reach:.2f} kWh reachable ({e['required_kwh'] - reach:.2f} kWh short)"
    why = "by choice (penalty below cost)" if by_choice else "though reachable: the site's limits left no room"
    return f"{head}, {e['unmet_kwh']:.2f} kWh left unmet {why}"


def _print_grid(s: dict, sc, money) -> None:
    """The grid KPIs (issue 9), only for scenarios with a grid block, events or limit columns."""
    from .scenario import GRID_SERIES_COLUMNS, GridTerms

    if sc is None or not (any(c in sc.series for c in GRID_SERIES_COLUMNS) or sc.grid_terms != GridTerms()):
        return
    b = s.get("baseline", {})
    vs = lambda key, unit: f" (uncontrolled {b[key]:.1f}{unit})" if b.get(key) is not None else ""  # noqa: E731
    p = print
    p(f"  grid peak         {s['grid_peak_kw']:.1f} kW{vs('grid_peak_kw', ' kW')}, std {s['net_load_std_kw']:.1f} kW")
    parts = []
    if s.get("emissions_kg") is not None:
        parts.append(f"emissions {s['emissions_kg']:.1f} kg{vs('emissions_kg', ' kg')}")
    if s.get("renewable_surplus_absorbed_kwh") is not None:
        share = s.get("renewable_surplus_share")
        parts.append(
            f"surplus absorbed {s['renewable_surplus_absorbed_kwh']:.1f} kWh"
            + (f" ({100 * share:.1f}% of charging)" if share is not None else "")
        )
    if s.get("tracking_error_kwh") is not None:
        parts.append(f"tracking error {s['tracking_error_kwh']:.2f} kWh")
    if parts:
        p("  grid signals      " + "; ".join(parts))
    terms = [
        (name, s[key])
        for name, key in (
            ("carbon", "carbon_cost"),
            ("grid peak", "grid_peak_cost"),
            ("valley fill", "valley_fill_cost"),
            ("tracking", "tracking_cost"),
            ("renewable bonus", "renewable_bonus"),
            ("demand response", "demand_response_cost"),
            ("export payments", "export_request_payment"),
            ("export penalties", "export_request_penalty"),
        )
        if abs(s.get(key) or 0.0) > 0
    ]
    if terms:
        p(
            "  grid terms        "
            + ", ".join(f"{name} {money(v)}" for name, v in terms)
            + f" (objective {money(s['objective'])})"
        )


def _print_summary(res, out_dir: str | None) -> None:
    s = res.summary
    cur = s.get("currency") or getattr(getattr(res, "scenario", None), "currency", None)

    def money(x: float) -> str:
        return _fmt_money(x, cur)

    p = print
    p(
        f"{s['scenario']}: {s['status']} ({_gap_text(s.get('mip_gap'))}, {s['model']['vehicles']} vehicles, "
        f"{s['model']['steps']} steps, build {s['build_seconds']:.2f} s, solve {s['solve_seconds']:.2f} s)"
    )
    if s["status"] == "time_limit":
        bound, gap = s.get("lower_bound"), s.get("mip_gap")
        if bound is not None and gap is not None and math.isfinite(bound) and math.isfinite(gap):
            proven = f"its cost is at most {100 * gap:.2f}% above the best possible (proven bound {money(bound)})"
        else:
            proven = "no lower bound was proven in time, so how far it is from the best plan is unknown"
        p(
            f"  time limit        reached: this is the best plan found ({s['method']}); {proven}; "
            "raise the time limit for a better plan"
        )
    p(
        f"  total cost        {money(s['total_cost'])}  (energy {money(s['energy_cost'])}, demand "
        f"{money(s['demand_charge_cost'])}, degradation {money(s['degradation_cost'])}, unmet "
        f"{money(s['unmet_energy_cost'])})"
    )
    p(f"  peak import       {s['peak_import_kw']:.1f} kW")
    p(
        f"  energy delivered  {s['energy_delivered_kwh']:.1f} kWh, V2G {s['v2g_energy_kwh']:.1f} kWh, "
        f"unmet {s['unmet_energy_kwh']:.2f} kWh"
    )
    if s["pv_self_consumption"] is not None:
        p(f"  PV self-use       {100 * s['pv_self_consumption']:.1f}% of {s['pv_kwh']:.1f} kWh")
    if s.get("flexibility_up_kwh") is not None:
        b = s.get("baseline", {})
        vs = f" (uncontrolled {b['flexibility_up_kwh']:.1f} / {b['flexibility_down_kwh']:.1f})" if b else ""
        p(
            f"  flexibility       {s['flexibility_up_kwh']:.1f} kWh up, {s['flexibility_down_kwh']:.1f} kWh down "
            f"within the fleet's guaranteed band{vs}"
        )

    def per_kwh(k: dict) -> str:
        x = k.get("cost_per_kwh_delivered")
        return "no energy stored" if x is None else f"{x:,.3f}{' ' + cur if cur else ''}/kWh"

    def over(k: dict) -> str:
        n = k["import_limit_violation_steps"]
        return f", {n} steps over the import limit" if n else ""

    if "energy_to_batteries_kwh" in s:
        p(f"  cost per kWh      {per_kwh(s)} stored ({s['energy_to_batteries_kwh']:.1f} kWh into the batteries)")
    if "baseline" in s:
        b, sv = s["baseline"], s["savings"]
        pct = f" ({sv['total_cost_percent']:.1f}%)" if sv["total_cost_percent"] is not None else ""
        p(
            f"  vs uncontrolled   charging until each need is met: cost {money(b['total_cost'])} ({per_kwh(b)}), "
            f"saving {money(sv['total_cost'])}{pct}; peak {b['peak_import_kw']:.1f} kW{over(b)}"
        )
    if "reference_full" in s:
        f = s["reference_full"]
        p(
            f"  charge to full    (not like for like: {f['energy_to_batteries_kwh']:.1f} kWh stored) cost "
            f"{money(f['total_cost'])} ({per_kwh(f)}); peak {f['peak_import_kw']:.1f} kW{over(f)}"
        )
    _print_grid(s, getattr(res, "scenario", None), money)
    if s["unmet_events"]:
        by_choice = _penalty_below_cost(getattr(res, "scenario", None))
        worst = sorted(s["unmet_events"], key=lambda e: -e["unmet_kwh"])[:3]
        for i, e in enumerate(worst):
            p(("  unmet needs       " if i == 0 else " " * 20) + _unmet_text(e, by_choice))
        if len(s["unmet_events"]) > 3:
            p(" " * 20 + f"(+{len(s['unmet_events']) - 3} more in summary.json)")
    from .export.setpoints import operator_lines

    for line in operator_lines(s, money):  # charging blocks per vehicle, switching penalty
        p(line)
    if out_dir:
        p(f"  wrote {out_dir}/schedule.csv, site.csv, summary.json, vehicles.csv, setpoints.csv")


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


def _deadline(started: float, opts, sc) -> float:
    """When ``optimize`` must be done: the time limit from the start, less the estimated time to write [s]."""
    from .optimizer.pace import slowdown

    limit = float(opts.time_limit_s)
    write_s = WRITE_FIXED_S + WRITE_S_PER_ROW * len(sc.vehicles) * sc.grid.n_steps
    write_s *= slowdown()  # slower on a busy machine (gridopt.optimizer.pace)
    return started + limit - min(write_s, 0.5 * limit)


def _add_grid_parsers(sub) -> None:
    """``gridopt pareto`` and ``gridopt flex`` (issue 9): the fleet as a grid asset."""
    par = sub.add_parser(
        "pareto", help="cost against emissions or the grid's peak: a front of checked plans (epsilon-constraint)"
    )
    par.add_argument("scenario", help="scenario YAML")
    par.add_argument("--trade", default="cost:carbon", help="cost:carbon (default) or cost:peak")
    par.add_argument("--points", type=int, default=7, help="points on the front, 2..101 (default 7)")
    par.add_argument("--out", required=True, help="output folder: pareto.csv, pareto.html, points/<k>/")
    par.add_argument("--time-limit", type=float, help="solver time limit per solve [s] (overrides the scenario)")
    par.add_argument("--gap", type=float, help="relative MIP gap (overrides the scenario)")
    par.add_argument("--quiet", action="store_true", help="print nothing but errors")
    flex = sub.add_parser("flex", help="the fleet's flexibility envelope (aggregate only, no vehicle data)")
    flex.add_argument("scenario", help="scenario YAML")
    flex.add_argument("--out", required=True, help="output folder: envelope.csv, envelope_outer.csv, envelope.json")
    flex.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _run_grid_command(args) -> int:
    """Run ``pareto`` or ``flex``; errors are raised for :func:`main` to print on one line."""
    if args.command == "flex":
        from .grid.cli import run_flex_cli

        return run_flex_cli(args.scenario, args.out, quiet=args.quiet)
    from .grid.pareto import run_pareto_cli

    return run_pareto_cli(
        args.scenario,
        args.out,
        trade=args.trade,
        points=args.points,
        time_limit_s=args.time_limit,
        gap=args.gap,
        quiet=args.quiet,
    )


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()  # the time limit covers the whole run from here
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
    _add_grid_parsers(sub)
    from .forecast import cli as forecast_cli

    forecast_cli.add_parser(sub)
    from .simulate import cli as simulate_cli

    simulate_cli.add_parser(sub)
    from .serve import cli as serve_cli

    serve_cli.add_parser(sub)
    from .batch import cli as sweep_cli

    sweep_cli.add_parser(sub)
    from .export import cli as export_cli

    export_cli.add_parser(sub)
    from .network import cli as feeder_cli

    feeder_cli.add_parser(sub)
    args = parser.parse_args(argv)
    from .provenance import INVOCATION, command_line

    invocation = INVOCATION.set(command_line(argv))  # summary.json's provenance names the command

    from . import load_scenario, optimize, write_results
    from .errors import GridoptError
    from .io.write import check_output_dir
    from .scenario import SolverOptions

    try:
        if args.command in ("pareto", "flex"):
            return _run_grid_command(args)
        if args.command == "forecast":
            return forecast_cli.run(args)
        if args.command == "simulate":
            return simulate_cli.run(args)
        if args.command == "serve":
            return serve_cli.run(args)
        if args.command == "sweep":
            return sweep_cli.run(args)
        if args.command == "export-ocpp":
            return export_cli.run(args)
        if args.command == "feeder":
            return feeder_cli.run(args)
        sc = load_scenario(args.scenario)
        for w in sc.warnings:
            print(f"warning: {one_line(w)}", file=sys.stderr)
        if args.command == "validate":
            from .fleet import build_fleet_plan
            from .optimizer.diagnose import site_conflicts

            conflict = site_conflicts(sc, build_fleet_plan(sc))  # run's own diagnosis, without solving
            if conflict is not None:
                raise conflict
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
            res = optimize(sc, opts, baseline=not args.no_baseline, deadline=_deadline(started, opts, sc))
        write_results(res, args.out)  # OutputError (exit 73) when nothing could be written
        if not args.quiet:
            _print_summary(res, args.out)
        return 0
    except GridoptError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    finally:
        INVOCATION.reset(invocation)


if __name__ == "__main__":
    sys.exit(main())
