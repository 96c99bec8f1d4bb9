"""Rule-policy speed of ``gridopt simulate`` (issue 13 item 5): before/after, and ACN-Sim's own rules.

    python benchmarks/simulate.py [--repeat 3] [--before REV]

For the ACN week at 5-minute steps (197 real sessions, 2,016 steps) and the delivery vans' week
(30 vans, 195 trips, 480 steps), each rule (EDF, LLF, round robin) is stepped through the real
period in a fresh process: the wall time of the step loop (``World.observe`` + ``decide`` +
``World.apply``; not the checks and the pricing after it), median of ``--repeat`` runs, for

* this working tree, and
* ``--before REV`` (default ``1924729~1``, the parent of the commit that made the rules numpy; ``git archive`` of its ``gridopt/`` into a temporary folder),
  the version that rebuilt pandas frames every step;
* ACN-Sim (acnportal's ``Simulator``) with its own EDF, LLF and round robin on the same ACN
  sessions (one EVSE per session's vehicle, 208 V, one aggregate current limit of 200 kW /
  208 V; 5-minute periods): the reference speed the issue compares with.

Both gridopt versions must give the same total cost (the rules are the same, bit for bit).
Writes ``benchmarks/simulate_results.json`` and ``benchmarks/simulate_results.md`` with the
machine, versions and the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = ("edf", "llf", "round_robin")


def one_gridopt(which: str, rule: str) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    import gridopt
    from gridopt import simulate as S
    from gridopt.simulate.engine import PolicySpec, _measure, build_context
    from gridopt.simulate.policies import RulePolicy
    from gridopt.simulate.world import World, energy_needed_kwh

    if which == "acn":
        sc = gridopt.load_scenario(ROOT / "scenarios/simulate/workplace_acn_week_5min.yaml")
        actual = S.read_actual(ROOT / "scenarios/data/simulate_acn_week/actual_sessions.csv", sc)
        fc = S.forecaster_from_history([ROOT / "scenarios/data/simulate_acn_week/history.csv"], sc)
    else:
        sc = gridopt.load_scenario(ROOT / "scenarios/simulate/delivery_vans_week.yaml")
        actual = S.read_actual(ROOT / "scenarios/data/simulate_vans_week/actual_trips.csv", sc)
        fc = None
    world_sc, ctx = build_context(sc, actual, fc)
    info = actual.info if actual.kind == "sessions" else None
    policy = RulePolicy(ctx, rule)
    t0 = time.perf_counter()
    world = World(world_sc, info)
    while not world.done:
        obs = world.observe()
        world.apply(*policy.decide(obs))
    loop = time.perf_counter() - t0
    out = _measure(world_sc, PolicySpec(rule, rule), *world.frames(), energy_needed_kwh(world_sc))
    return {"seconds": loop, "steps": world.T, "total_cost": out.kpis["total_cost"], "load": os.getloadavg()[0]}


def one_acnsim(rule: str) -> dict:
    """ACN-Sim's rule on the ACN week's real sessions (see the module doc)."""
    import warnings

    warnings.simplefilter("ignore")
    import pandas as pd
    from acnportal import acnsim, algorithms

    import gridopt
    from gridopt import simulate as S

    sc = gridopt.load_scenario(ROOT / "scenarios/simulate/workplace_acn_week_5min.yaml")
    actual = S.read_actual(ROOT / "scenarios/data/simulate_acn_week/actual_sessions.csv", sc)
    veh = sc.vehicles
    start = sc.grid.start
    period = sc.grid.step_minutes
    volts = 208.0
    net = acnsim.ChargingNetwork()
    ids = sorted(map(str, actual.table["vehicle_id"].unique()))
    for vid in ids:
        amps = float(veh.at[vid, "max_charge_kw"]) * 1000.0 / volts
        net.register_evse(acnsim.models.evse.EVSE(vid, max_rate=amps), volts, 0)
    net.add_constraint(acnsim.Current(ids), 200_000.0 / volts, name="site")
    events = []
    for i, r in enumerate(actual.table.itertuples()):
        arr = int((r.arrival - start) / pd.Timedelta(minutes=period))
        dep = int((r.departure - start) / pd.Timedelta(minutes=period))
        if dep <= arr:
            continue
        b = float(veh.at[r.vehicle_id, "battery_kwh"])
        need = max(0.0, (r.target_soc - r.arrival_soc) * b)
        est = actual.info["estimated_departure"].iloc[i]
        est_p = dep if pd.isna(est) else max(arr + 1, int((est - start) / pd.Timedelta(minutes=period)))
        bat = acnsim.Battery(b, r.arrival_soc * b, float(veh.at[r.vehicle_id, "max_charge_kw"]))
        ev = acnsim.EV(arr, dep, need, r.vehicle_id, str(r.session_id), bat, estimated_departure=est_p)
        events.append(acnsim.PluginEvent(arr, ev))
    queue = acnsim.EventQueue(events)
    algo = {
        "edf": lambda: algorithms.SortedSchedulingAlgo(algorithms.earliest_deadline_first),
        "llf": lambda: algorithms.SortedSchedulingAlgo(algorithms.least_laxity_first),
        "round_robin": lambda: algorithms.RoundRobin(algorithms.first_come_first_served),
    }[rule]()
    sim = acnsim.Simulator(net, algo, queue, start.to_pydatetime(), period=period, verbose=False)
    t0 = time.perf_counter()
    sim.run()
    secs = time.perf_counter() - t0
    kwh = float(acnsim.analysis.aggregate_current(sim).sum() * volts / 1000.0 * period / 60.0)
    return {"seconds": secs, "steps": int(sim.iteration), "delivered_kwh": kwh, "load": os.getloadavg()[0]}


def spawn(args: list[str], pythonpath: str | None = None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--before",
        default="1924729~1",
        help="git revision of the 'before' version (default 1924729~1, before the numpy rules)",
    )
    ap.add_argument(
        "--before-rules", default=",".join(RULES), help="rules to time in the 'before' version (default all)"
    )
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--acnsim", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_gridopt(*args.one)))
        return
    if args.acnsim:
        print(json.dumps(one_acnsim(args.acnsim)))
        return
    from gridopt.provenance import machine, package_versions, python_version

    load_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        arch = subprocess.run(["git", "archive", args.before, "gridopt"], cwd=ROOT, capture_output=True, check=True)
        tar = Path(tmp) / "before.tar"
        tar.write_bytes(arch.stdout)
        with tarfile.open(tar) as tf:
            tf.extractall(Path(tmp) / "before", filter="data")
        for which in ("acn", "vans"):
            for rule in RULES:
                versions = [("before", str(Path(tmp) / "before"))] if rule in args.before_rules.split(",") else []
                for version, path in [*versions, ("after", None)]:
                    runs = [spawn(["--one", which, rule], path) for _ in range(args.repeat)]
                    rows.append(
                        {
                            "case": which,
                            "rule": rule,
                            "version": version,
                            "median_s": statistics.median(r["seconds"] for r in runs),
                            "steps": runs[0]["steps"],
                            "total_cost": runs[0]["total_cost"],
                            "load": statistics.median(r["load"] for r in runs),
                        }
                    )
                    print(rows[-1], flush=True)
    for rule in RULES:
        try:
            runs = [spawn(["--acnsim", rule]) for _ in range(args.repeat)]
        except subprocess.CalledProcessError as exc:
            print(f"ACN-Sim {rule}: failed: {exc.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        rows.append(
            {
                "case": "acn",
                "rule": rule,
                "version": "acnsim",
                "median_s": statistics.median(r["seconds"] for r in runs),
                "steps": runs[0]["steps"],
                "delivered_kwh": runs[0]["delivered_kwh"],
                "load": statistics.median(r["load"] for r in runs),
            }
        )
        print(rows[-1], flush=True)
    info = {
        "machine": machine(),
        "python": python_version(),
        "packages": package_versions(["numpy", "pandas", "highspy", "acnportal"]),
        "load_average_at_start": load_start,
        "load_average_at_end": os.getloadavg(),
        "repeat": args.repeat,
        "before": args.before,
        "before_rules": args.before_rules,
    }
    (ROOT / "benchmarks" / "simulate_results.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    md = [
        "# Rule policies of gridopt simulate: speed (benchmarks/simulate.py)",
        "",
        f"`python benchmarks/simulate.py --repeat {args.repeat} --before {args.before} --before-rules "
        f"{args.before_rules}`. Machine: {info['machine']}; "
        f"Python {info['python']}; {', '.join(f'{k} {v}' for k, v in info['packages'].items())}. Load average "
        f"(1/5/15 min) at the start {' / '.join(f'{x:.2f}' for x in load_start)}, at the end "
        f"{' / '.join(f'{x:.2f}' for x in info['load_average_at_end'])} on 2 cores (shared machine). Wall time of "
        "the step loop, median of fresh processes; 'before' rebuilt pandas frames every step.",
        "",
        "| case | rule | version | steps | median s | ms per step | total cost | load (1 min) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cost = f"{r['total_cost']:,.2f}" if "total_cost" in r else f"({r['delivered_kwh']:,.1f} kWh delivered)"
        md.append(
            f"| {r['case']} | {r['rule']} | {r['version']} | {r['steps']} | {r['median_s']:.2f} | "
            f"{1000 * r['median_s'] / r['steps']:.2f} | {cost} | {r['load']:.1f} |"
        )
    (ROOT / "benchmarks" / "simulate_results.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
