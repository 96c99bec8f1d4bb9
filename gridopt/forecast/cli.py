"""``gridopt forecast``: parse, call :mod:`gridopt.forecast`, write, print.

Three forms::

    gridopt forecast HISTORY [HISTORY ...] --start DATE --days N --out CSV [--samples N] [--vehicles-out CSV]
    gridopt forecast sessions --history HISTORY [...] --arrivals CSV --out CSV [--vehicles CSV]
    gridopt forecast evaluate --history TRAIN [...] --test TEST [...] [--out table.md]

Bad input raises :class:`~gridopt.errors.ScenarioError`; ``gridopt.cli`` turns
it into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings

USAGE = """\
gridopt forecast HISTORY [HISTORY ...] --start DATE --days N --out CSV [options]
       gridopt forecast sessions --history HISTORY [...] --arrivals CSV --out CSV
       gridopt forecast evaluate --history TRAIN [...] --test TEST [...] [--out table.md]"""

DESCRIPTION = """\
Forecasts from a history of sessions (ACN-Data files, or gridopt sessions.csv
with --history-vehicles) or of fleet trips (gridopt trips.csv).

  HISTORY ...   forecast sessions (or trips) for the days from --start, as a
                sessions.csv (trips.csv) ready for a scenario; see
                'gridopt forecast HISTORY -h'
  sessions      predict departure and energy of sessions known at plug-in;
                see 'gridopt forecast sessions -h'
  evaluate      score the forecasts on a held-out period against the drivers'
                estimates and a historical average; see 'gridopt forecast evaluate -h'
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``forecast`` on the main command's sub-parsers."""
    p = subparsers.add_parser(
        "forecast",
        help="forecast sessions or trips from history; predict and evaluate",
        usage=USAGE,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("words", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p


def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timezone", help="IANA timezone of the history's clock (default: inferred from UTC offsets)")
    p.add_argument("--history-vehicles", help="vehicles.csv of a gridopt sessions.csv history (SoC -> kWh)")


def horizon_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gridopt forecast",
        description="Forecast sessions (or trips) for a horizon, in gridopt's own formats.",
    )
    p.add_argument("history", nargs="+", help="history files (ACN-Data, sessions.csv or trips.csv; .csv.gz allowed)")
    p.add_argument("--start", required=True, help="first day, e.g. 2020-03-02 (local midnight)")
    p.add_argument("--days", type=int, required=True, help="number of days [d]")
    p.add_argument("--out", required=True, help="sessions.csv or trips.csv to write")
    p.add_argument("--samples", type=int, default=0, help="write N sampled scenarios (a 'sample' column)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler (default 0)")
    p.add_argument("--vehicles-out", help="vehicles.csv to write for the forecast (assumed batteries)")
    p.add_argument("--quantiles-out", help="CSV of 10/50/90 %% departure and energy per session or trip")
    p.add_argument("--site", action="append", help="sessions: forecast only this site (repeatable)")
    p.add_argument(
        "--schedule", help="trips: planned trips (vehicle_id, planned_departure, [planned_arrival, route, trip_id])"
    )
    p.add_argument("--battery-kwh", type=float, default=60.0, help="assumed battery [kWh] (default 60)")
    p.add_argument("--target-soc", type=float, default=0.9, help="assumed SoC at departure (default 0.9)")
    p.add_argument("--charge-kw", type=float, default=7.2, help="assumed charger power [kW] (default 7.2)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    _history_args(p)
    return p


def sessions_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gridopt forecast sessions",
        description="Predict departure and energy [kWh] of sessions known at plug-in, with 10/90 % quantiles.",
    )
    p.add_argument("--history", nargs="+", required=True, help="session history files to learn from")
    p.add_argument(
        "--arrivals",
        required=True,
        help="sessions at plug-in: session_id, arrival, [station_id, estimated_departure, requested_energy (kWh), claimed]",
    )
    p.add_argument("--out", required=True, help="predictions CSV to write")
    p.add_argument(
        "--vehicles",
        help="vehicles.csv of the arrivals: turns a reported_target_soc column (gridopt's own session tables) into kWh",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    _history_args(p)
    return p


def evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gridopt forecast evaluate",
        description="Score per-session forecasts on a held-out period against the drivers' estimates and "
        "a historical average (MAE, pinball loss of q10/q90, 10-90 % coverage).",
    )
    p.add_argument("--history", nargs="+", required=True, help="training session files")
    p.add_argument("--test", nargs="+", required=True, help="held-out session files (with outcomes)")
    p.add_argument("--out", help="write the tables as Markdown")
    _history_args(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Handle ``gridopt forecast ...``; raises :class:`~gridopt.errors.GridoptError` on bad input."""
    words = list(args.words)
    if not words:
        print(f"usage: {USAGE}", file=sys.stderr)
        print("gridopt forecast: error: give a HISTORY file, 'sessions' or 'evaluate'", file=sys.stderr)
        return 2
    if words[0] == "sessions":
        return _run_sessions(sessions_parser().parse_args(words[1:]))
    if words[0] == "evaluate":
        return _run_evaluate(evaluate_parser().parse_args(words[1:]))
    return _run_horizon(horizon_parser().parse_args(words))


def _run_horizon(ns: argparse.Namespace) -> int:
    from .fleetfiles import FleetAssumptions
    from .horizon import forecast_fleet, parse_start
    from .io import read_history, read_schedule, table_csv, write_texts

    hist = read_history(ns.history, ns.timezone, ns.history_vehicles)
    start = parse_start(ns.start, hist.timezone)
    schedule = read_schedule(ns.schedule, hist.timezone) if ns.schedule else None
    a = FleetAssumptions(battery_kwh=ns.battery_kwh, target_soc=ns.target_soc, max_charge_kw=ns.charge_kw)
    fc = forecast_fleet(hist, start, ns.days, ns.samples, ns.seed, a, ns.site, schedule)
    for w in fc.warnings:
        print(f"warning: {w}", file=sys.stderr)
    files = {ns.out: table_csv(fc.table)}
    if ns.vehicles_out:
        files[ns.vehicles_out] = table_csv(fc.vehicles)
    if ns.quantiles_out:
        files[ns.quantiles_out] = table_csv(fc.quantiles)
    if len(set(files)) < len(files):
        from ..errors import ScenarioError

        raise ScenarioError("--out, --vehicles-out and --quantiles-out must be different files")
    write_texts(files)
    if not ns.quiet:
        what = "sessions" if fc.kind == "sessions" else "trips"
        per = f" in {ns.samples} samples" if ns.samples else ""
        print(
            f"{', '.join(hist.sources)}: {len(hist.frame)} {what} learned ({hist.timezone}); "
            f"forecast {len(fc.table)} {what}{per} for {ns.days} days from {start.date().isoformat()}"
        )
        if fc.kind == "sessions":
            for site, g in fc.daily.groupby("site", sort=False):
                days = ", ".join(f"{r.day[5:]} {r.mean:.0f} ({r.q10:.0f}-{r.q90:.0f})" for r in g.itertuples())
                print(f"  arrivals/day at {site}, mean (10-90 %): {days}")
        print("  wrote " + ", ".join(files))
    return 0


def _run_sessions(ns: argparse.Namespace) -> int:
    from ..errors import GridoptWarning, ScenarioError
    from .io import read_arrivals, read_history, table_csv, write_texts
    from .sessions import PREDICTION_COLUMNS, SessionModel

    hist = read_history(ns.history, ns.timezone, ns.history_vehicles)
    if hist.kind != "sessions":
        raise ScenarioError(f"{', '.join(hist.sources)}: 'forecast sessions' learns from sessions, not trips")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GridoptWarning)
        arrivals = read_arrivals(ns.arrivals, hist.timezone, ns.vehicles)
    for w in caught:
        if issubclass(w.category, GridoptWarning):
            print(f"warning: {w.message}", file=sys.stderr)
    model = SessionModel.fit(hist.frame)
    pred = model.predict(arrivals)[PREDICTION_COLUMNS]
    write_texts({ns.out: table_csv(pred)})
    if not ns.quiet:
        print(
            f"{', '.join(hist.sources)}: {len(hist.frame)} sessions learned ({hist.timezone}); "
            f"predicted {len(pred)} sessions; wrote {ns.out}"
        )
    return 0


def _run_evaluate(ns: argparse.Namespace) -> int:
    from ..errors import ScenarioError
    from .evaluate import evaluate
    from .io import read_history, write_texts

    train = read_history(ns.history, ns.timezone, ns.history_vehicles)
    test = read_history(ns.test, ns.timezone or train.timezone, ns.history_vehicles)
    for h in (train, test):
        if h.kind != "sessions":
            raise ScenarioError(f"{', '.join(h.sources)}: 'forecast evaluate' scores sessions, not trips")
    ev = evaluate(train.frame, test.frame)
    text = (
        f"Trained on {ev.train_sessions} sessions ({', '.join(train.sources)}), "
        f"tested on {len(test.frame)} ({', '.join(test.sources)}).\n\n" + ev.to_markdown()
    )
    if ns.out:
        write_texts({ns.out: text})
    print(text, end="")
    return 0
