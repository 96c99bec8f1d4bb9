"""``gridopt simulate``: parse, call :func:`gridopt.simulate.simulate`, write the report, print.

::

    gridopt simulate SCENARIO --actual ACTUAL --out DIR [--history FILE ...] [--told reported|exact]
                     [--replan-minutes STEP]
                     [--no-replan-on-events]
                     [--lookahead-hours 24] [--energy-margin F] [--departure-margin-minutes M] [--learned-margin]
                     [--shortfall]
                     [--samples K] [--stochastic mean|worst] [--policies NAME,...] [--quiet]

Bad input raises :class:`~gridopt.errors.ScenarioError`; ``gridopt.cli`` turns
it into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys

from .actual import TOLD

DESCRIPTION = """\
Replay a real period: at every re-plan the optimizer sees only what an operator
knows then (the vehicles plugged in with their reported needs and the drivers'
estimated departures, forecasts of the cars still to come, the fleet's timetable),
plans the rest of the lookahead, applies the steps until the next re-plan to the
real vehicles, and moves on as the real sessions or trips unfold. Compared on the
same period: perfect foresight, the rolling horizon (with the robustness options
given), uncontrolled charging, earliest deadline first, least laxity first and
round robin. Writes report.md, comparison.csv, summary.json, daily.csv,
solves.csv, site.csv and unmet.csv into DIR.

ACTUAL is the real sessions (sessions.csv columns, with optional
estimated_departure and reported_target_soc) or trips (trips.csv columns, with
optional planned_departure, planned_arrival, planned_energy_kwh); it replaces
the scenario's own sessions or trips. See gridopt/simulate/actual.py. With
--told exact every car's real departure and need are told at plug-in (and the
timetable is the trips as they ran), as ACN-Sim assumes."""

#: Whether ``rolling_learned_margin`` runs by default.
LEARNED_DEFAULT = False
#: Whether ``rolling_shortfall`` runs by default.
SHORTFALL_DEFAULT = False

POLICY_NAMES = ("perfect", "rolling", "uncontrolled", "edf", "llf", "round_robin")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``simulate`` on the main command's sub-parsers."""
    p = subparsers.add_parser(
        "simulate",
        help="replay a real period with rolling-horizon re-planning and compare with other policies",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", help="scenario YAML: site, tariff, time series, vehicles; its horizon is the period")
    p.add_argument("--actual", required=True, help="the real sessions or trips (CSV)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--history", nargs="+", help="session history before the period, to learn forecasts from")
    p.add_argument(
        "--told",
        choices=TOLD,
        default="reported",
        help="what the operator is told in advance: the drivers' reports / the timetable in --actual (default), "
        "or 'exact': every car's real departure and need at plug-in (ACN-Sim's assumption; docs/simulation.md)",
    )
    p.add_argument("--site", help="the history's site to learn (when it holds several, e.g. CA for Caltech)")
    p.add_argument(
        "--replan-minutes",
        type=int,
        default=None,
        help="minutes between re-plans when no vehicle plugs in or out (default: the scenario's step)",
    )
    p.add_argument(
        "--replan-on-events",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="re-plan at once when a vehicle plugs in or unplugs (default: yes)",
    )
    p.add_argument("--lookahead-hours", type=float, default=24.0, help="horizon of each plan [h] (default 24)")
    p.add_argument(
        "--delay-cost",
        type=float,
        default=0.01,
        help="planning cost of delivering a kWh one hour later [currency/kWh/h] (default 0.01; see docs/simulation.md)",
    )
    p.add_argument(
        "--energy-margin",
        type=float,
        default=0.0,
        help="add a variant planning for this much more forecast energy (fraction, e.g. 0.2)",
    )
    p.add_argument(
        "--departure-margin-minutes",
        type=float,
        default=0.0,
        help="add a variant planning for departures this much earlier [min]",
    )
    p.add_argument(
        "--learned-margin",
        action=argparse.BooleanOptionalAction,
        default=LEARNED_DEFAULT,
        help="add the variant rolling_learned_margin: drivers' estimates at a quantile of their errors learned "
        f"online (default: {'yes' if LEARNED_DEFAULT else 'no'}; docs/simulation.md)",
    )
    p.add_argument(
        "--shortfall",
        action=argparse.BooleanOptionalAction,
        default=SHORTFALL_DEFAULT,
        help="add the variant rolling_shortfall: each car planned against its expected shortfall over its "
        f"plausible departures and needs (default: {'yes' if SHORTFALL_DEFAULT else 'no'}; docs/simulation.md)",
    )
    p.add_argument("--samples", type=int, default=0, help="add a scenario-based variant over K sampled forecasts")
    p.add_argument(
        "--stochastic",
        choices=("mean", "worst"),
        default="worst",
        help="plan for the worst (default) or the mean of the samples",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled forecasts (default 0)")
    p.add_argument("--policies", help=f"comma-separated subset of {', '.join(POLICY_NAMES)} (default all)")
    p.add_argument("--time-limit", type=float, help="solver time limit per solve [s] (default: the scenario's)")
    p.add_argument("--gap", type=float, help="relative MIP gap of every solve (default: the scenario's)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces a run (its options as parsed, defaults left out)."""
    words = ["gridopt", "simulate", args.scenario, "--actual", args.actual]
    if args.history:
        words += ["--history", *args.history]
    defaults = {
        "site": None,
        "told": "reported",
        "replan_minutes": None,
        "replan_on_events": True,
        "lookahead_hours": 24.0,
        "delay_cost": 0.01,
        "energy_margin": 0.0,
        "departure_margin_minutes": 0.0,
        "learned_margin": LEARNED_DEFAULT,
        "shortfall": SHORTFALL_DEFAULT,
        "samples": 0,
        "stochastic": "worst",
        "seed": 0,
        "policies": None,
        "time_limit": None,
        "gap": None,
    }
    for key, default in defaults.items():
        value = getattr(args, key)
        if value != default and not (key == "stochastic" and not args.samples):
            if isinstance(value, bool):
                words.append(f"--{'' if value else 'no-'}{key.replace('_', '-')}")
                continue
            words += [f"--{key.replace('_', '-')}", f"{value:g}" if isinstance(value, float) else str(value)]
    words += ["--out", args.out]
    return " ".join(shlex.quote(w) for w in words)


def _fmt(x: float) -> str:
    return f"{x:,.2f}"


def run(args: argparse.Namespace) -> int:
    """Handle ``gridopt simulate``; raises :class:`~gridopt.errors.GridoptError` on bad input."""
    import warnings

    from .. import load_scenario
    from ..errors import ScenarioError
    from ..scenario import SolverOptions
    from .actual import told_exactly
    from .engine import SimulationSettings, default_policies, simulate
    from .io import forecaster_from_history, read_actual, write_report
    from .report import comparison_table

    if args.energy_margin < 0 or args.departure_margin_minutes < 0 or args.samples < 0:
        raise ScenarioError("--energy-margin, --departure-margin-minutes and --samples must be >= 0")
    if not (math.isfinite(args.delay_cost) and args.delay_cost >= 0):
        raise ScenarioError(f"--delay-cost must be >= 0 (got {args.delay_cost})")
    if not (math.isfinite(args.lookahead_hours) and args.lookahead_hours > 0):
        raise ScenarioError(f"--lookahead-hours must be > 0 (got {args.lookahead_hours})")
    sc = load_scenario(args.scenario)
    opts = sc.solver
    if args.time_limit is not None or args.gap is not None:
        opts = SolverOptions(
            time_limit_s=args.time_limit if args.time_limit is not None else opts.time_limit_s,
            mip_rel_gap=args.gap if args.gap is not None else opts.mip_rel_gap,
        )
        if not (opts.time_limit_s > 0 and 0 <= opts.mip_rel_gap <= 1 and math.isfinite(opts.time_limit_s)):
            raise ScenarioError("--time-limit must be > 0 and --gap within 0..1")
    actual = read_actual(args.actual, sc)
    if args.told == "exact":
        actual = told_exactly(actual)
    forecaster = forecaster_from_history(args.history, sc, args.site) if args.history else None
    policies = default_policies(
        args.energy_margin,
        args.departure_margin_minutes,
        args.samples,
        args.stochastic,
        args.learned_margin,
        shortfall=args.shortfall,
    )
    if args.policies:
        wanted = [w.strip() for w in args.policies.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in POLICY_NAMES]
        if unknown:
            raise ScenarioError(f"--policies: unknown {unknown[0]!r} (choose from {', '.join(POLICY_NAMES)})")
        policies = [p for p in policies if p.kind in wanted]
    settings = SimulationSettings(
        replan_minutes=args.replan_minutes,
        replan_on_events=args.replan_on_events,
        lookahead_hours=args.lookahead_hours,
        options=opts,
        seed=args.seed,
        early_bias_per_kwh_h=args.delay_cost,
    )

    def progress(name):
        if not args.quiet:
            print(f"  running {name} ...", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = simulate(sc, actual, forecaster=forecaster, settings=settings, policies=policies, progress=progress)
    write_report(res, args.out, command_line(args))
    if not args.quiet:
        comp = comparison_table(res)
        print(
            f"{res.info['scenario']}: {res.info['events']} real {res.info['kind']}, {res.info['start']} to "
            f"{res.info['end']}; re-plan every {res.info['replan_minutes']} min"
            f"{' and on every plug-in and unplug' if args.replan_on_events else ''} over {args.lookahead_hours:g} h"
        )
        width = max(len(n) for n in comp["policy"])
        for r in comp.itertuples():
            pct = (
                f" ({r.cost_vs_perfect_pct:+.1f}% vs perfect)"
                if r.cost_vs_perfect_pct is not None and r.policy != "perfect"
                else ""
            )
            solves = (
                f", {r.solves} solves, median {r.solve_median_s:.3f} s, max {r.solve_max_s:.3f} s" if r.solves else ""
            )
            print(
                f"  {r.policy:<{width}}  cost {_fmt(r.total_cost)}{pct}; peak {r.peak_import_kw:.1f} kW; "
                f"delivered {r.energy_delivered_kwh:.1f} of {r.energy_needed_kwh:.1f} kWh needed; unmet "
                f"{r.unmet_energy_kwh:.2f} kWh{solves}"
            )
        print(f"  wrote {args.out}/report.md, comparison.csv, summary.json, daily.csv, solves.csv, site.csv, unmet.csv")
    return 0
