"""Flexibility envelope benchmark: how long gridopt.grid.flexibility takes on a synthetic fleet.

    python benchmarks/envelope.py                 # 1,000 vehicles, 3 runs, writes benchmarks/envelope_results.md and .json
    python benchmarks/envelope.py --vehicles 10000 --repeat 3

Every run is a fresh Python process (imports warm, so the figure is the
envelope's own work): it loads the seeded synthetic fleet of
:mod:`gridopt.synthetic` (96 quarter-hours, 40% V2G, chargers with a minimum
power, efficiencies 0.93), times ``flexibility(sc)``, then disaggregates one
profile inside the envelope and checks it with the independent physics check
(timed separately). The report quotes medians, with the machine and versions.
The target is under 10 s for 1,000 vehicles.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _machine() -> dict:
    """Machine and versions, as benchmarks/run.py records them."""
    spec = importlib.util.spec_from_file_location("gridopt_bench_run", HERE / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.machine()


def one_run(n: int, seed: int) -> dict:
    """Time the envelope of one synthetic fleet in this process."""
    import resource
    import warnings

    import numpy as np

    import gridopt
    from gridopt.grid import disaggregate, flexibility, verify
    from gridopt.synthetic import write_synthetic_fleet

    with tempfile.TemporaryDirectory() as d:
        sc = gridopt.load_scenario(write_synthetic_fleet(d, n, seed=seed))
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    env = flexibility(sc)
    envelope_s = time.perf_counter() - t0
    inner = env.inner
    profile = 0.5 * (inner["p_min_kw"] + inner["p_max_kw"])
    e = np.cumsum(profile.to_numpy() * env.dt_h)
    ok_band = bool(((e >= inner["e_min_kwh"] - 1e-6) & (e <= inner["e_max_kwh"] + 1e-6)).all())
    t1 = time.perf_counter()
    plan = disaggregate(sc, env, profile) if ok_band else None
    disaggregate_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    problems = verify(sc, plan) if plan is not None else ["midpoint profile outside the energy band"]
    verify_s = time.perf_counter() - t2
    return {
        "vehicles": n,
        "envelope_s": envelope_s,
        "disaggregate_s": disaggregate_s,
        "verify_s": verify_s,
        "violations": len(problems),
        "tightness": env.tightness,
        "power_tightness": env.power_tightness,
        "best_effort_requirements": env.best_effort_requirements,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vehicles", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "envelope_results"), help="output prefix (.md and .json)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        n, seed = json.loads(args.worker)
        print(json.dumps(one_run(n, seed)))
        return 0
    info = _machine()
    runs = []
    for r in range(args.repeat):
        cmd = [sys.executable, __file__, "--worker", json.dumps([args.vehicles, args.seed])]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            return 1
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(
            f"  run {r + 1}/{args.repeat}: envelope {runs[-1]['envelope_s']:.3f} s, "
            f"disaggregate {runs[-1]['disaggregate_s']:.3f} s, check {runs[-1]['verify_s']:.3f} s",
            flush=True,
        )
    med = {k: statistics.median(x[k] for x in runs) for k in ("envelope_s", "disaggregate_s", "verify_s", "peak_mb")}
    last = runs[-1]
    lines = [
        "# gridopt flexibility envelope benchmark",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; Python {info['python']}; "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        + f". Load average at start: {info['load_average_at_start']:.2f}.",
        "",
        f"Command: `python benchmarks/envelope.py --vehicles {args.vehicles} --repeat {args.repeat}` "
        "(each run a fresh process; medians).",
        "Fleet: `gridopt.synthetic.write_synthetic_fleet` (seed "
        f"{args.seed}), 96 quarter-hours, 40% V2G, minimum charger power, efficiencies 0.93.",
        "",
        "| vehicles | envelope s | disaggregate s | independent check s | peak MB | tightness (energy) | tightness (power) "
        "| requirements out of reach | check violations |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {args.vehicles:,} | {med['envelope_s']:.3f} | {med['disaggregate_s']:.3f} | {med['verify_s']:.3f} | "
        f"{med['peak_mb']:.0f} | {last['tightness']:.3f} | {last['power_tightness']:.3f} | "
        f"{last['best_effort_requirements']} | {max(x['violations'] for x in runs)} |",
        "",
        "`disaggregate s` includes recomputing the envelope (the fleet keeps no state between calls).",
    ]
    text = "\n".join(lines) + "\n"
    out = Path(args.out)
    Path(str(out) + ".json").write_text(json.dumps({"machine": info, "runs": runs, "median": med}, indent=1))
    Path(str(out) + ".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
