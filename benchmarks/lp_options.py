"""The fast path's first LP on run.py's 10,000-vehicle day under HiGHS option sets, and where a run's time goes.

    python benchmarks/lp_options.py                       # the default options and the option sets below
    python benchmarks/lp_options.py --set '{"presolve": "off"}' --timeout 120
    python benchmarks/lp_options.py --stages              # gridopt.optimize once: the time of each stage

Each option set runs in a fresh process: the binary-free LP without its hull rows
(as the fast path passes it first: ``build_matrix(modes=False, hull=True)``, unscaled),
HiGHS ``run()`` only. It reports wall and CPU time (the CPU time of the process is
the steadier figure on a shared machine), simplex / IPM iterations, the optimum,
and the 1-minute load average before and after. ``--stages`` times
``gridopt.optimize`` and its parts (model build, greedy, HiGHS runs, repair) in one
process, wall and CPU. Figures go to ``benchmarks/lp_options_results.json``
(appended) and to the "10,000-vehicle LP" section of ``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Option sets tried (HiGHS option name -> value); {} is gridopt's default (dual simplex, presolve, unscaled).
SETS = [
    {},
    {"presolve": "off"},
    {"simplex_dual_edge_weight_strategy": 2},
    {"simplex_dual_edge_weight_strategy": 1},
    {"simplex_strategy": 4},
    {"simplex_strategy": 3, "threads": 2, "parallel": "on"},
    {"dual_simplex_cost_perturbation_multiplier": 0.1},
    {"dual_feasibility_tolerance": 1e-5},
    {"solver": "ipm", "run_crossover": "off"},
    {"solver": "pdlp", "pdlp_optimality_tolerance": 1e-4},
]


def _scenario(n: int):
    import gridopt
    from gridopt.synthetic import write_synthetic_fleet

    with tempfile.TemporaryDirectory() as d:
        return gridopt.load_scenario(write_synthetic_fleet(d, n, seed=1, mip_rel_gap=5e-3, time_limit_s=120))


def one_lp(n: int, options: dict) -> dict:
    """Solve the fast path's first LP of the ``n``-vehicle day with ``options``; its figures."""
    from gridopt.fleet import build_fleet_plan
    from gridopt.optimizer.fast import _pass, well_scaled
    from gridopt.optimizer.highs import new_highs
    from gridopt.optimizer.matrix import build_matrix

    sc = _scenario(n)
    lp = build_matrix(sc, build_fleet_plan(sc), modes=False, hull=True)
    h = new_highs()
    if well_scaled(lp):
        h.setOptionValue("simplex_scale_strategy", 0)
    for k, v in options.items():
        h.setOptionValue(k, v)
    _pass(h, lp, integral=False, n_rows=lp.n_rows - lp.n_hull_rows)
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    h.run()
    info = h.getInfo()
    return {
        "options": options,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        "status": h.modelStatusToString(h.getModelStatus()),
        "objective": info.objective_function_value,
        "simplex_iterations": info.simplex_iteration_count,
        "ipm_iterations": info.ipm_iteration_count,
        "columns": lp.n_cols,
        "rows": lp.n_rows - lp.n_hull_rows,
        "load": [load0, os.getloadavg()[0]],
    }


def stages(n: int) -> dict:
    """``gridopt.optimize`` of the ``n``-vehicle day with the wall and CPU time of its parts."""
    import gridopt
    import gridopt.optimizer.fast as fast

    parts: list = []

    def timed(mod, name):
        f = getattr(mod, name)

        def g(*a, **k):
            t, c = time.perf_counter(), time.process_time()
            try:
                return f(*a, **k)
            finally:
                parts.append([name, time.perf_counter() - t, time.process_time() - c])

        setattr(mod, name, g)

    for name in ("build_matrix", "greedy_plan", "_pass", "_run", "repair_conflicts"):
        timed(fast, name)
    sc = _scenario(n)
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    res = gridopt.optimize(sc, baseline=False)
    s = res.summary
    return {
        "stages_run": True,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        "parts": parts,
        "summary": {k: s.get(k) for k in ("status", "total_cost", "lower_bound", "mip_gap", "method", "stages")},
        "load": [load0, os.getloadavg()[0]],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vehicles", type=int, default=10_000)
    ap.add_argument("--set", action="append", help="a HiGHS option set as JSON (repeatable); default: SETS")
    ap.add_argument("--timeout", type=float, default=180.0, help="wall-time limit of each process [s]")
    ap.add_argument("--stages", action="store_true", help="time the stages of gridopt.optimize instead")
    ap.add_argument("--out", default=str(HERE / "lp_options_results.json"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        kind, n, opts = json.loads(args.worker)
        print(json.dumps(stages(n) if kind == "stages" else one_lp(n, opts), default=str))
        return 0
    jobs = (
        [["stages", args.vehicles, {}]]
        if args.stages
        else [["lp", args.vehicles, json.loads(s)] for s in args.set or []]
    )
    if not jobs:
        jobs = [["lp", args.vehicles, s] for s in SETS]
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.exists() else []
    for job in jobs:
        cmd = [sys.executable, __file__, "--worker", json.dumps(job)]
        load0 = os.getloadavg()[0]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            row = (
                json.loads(proc.stdout.strip().splitlines()[-1])
                if proc.returncode == 0
                else {"error": proc.stderr[-300:]}
            )
        except subprocess.TimeoutExpired:
            row = {
                "options": job[2],
                "status": f"not finished in {args.timeout:.0f} s (wall)",
                "load": [load0, os.getloadavg()[0]],
            }
        row["date"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        row["vehicles"] = args.vehicles
        rows.append(row)
        print(json.dumps(row, default=str)[:400], flush=True)
        out.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
