"""The hard family (issue 10): negative-price days where the mode binaries bind.

    python benchmarks/hard.py                          # the family, writes benchmarks/hard_results.md and .json
    python benchmarks/hard.py --case base:1000 --repeat 3 --time-limit 30
    python benchmarks/hard.py --write DIR --case base:1000   # only write the scenario files

The day (:func:`gridopt.synthetic.write_hard_day`): 24 h of 15-minute steps, ``n`` workplace and
evening sessions; half the chargers 11 kW with a 4.2 kW minimum, half 7.4 kW with
a 1.4 kW minimum; 40% V2G; efficiencies 0.93; site PV peaking at 1.5 kW per
vehicle, a base load of 0.8 kW per vehicle, an export limit of 2 kW per vehicle,
a generous import limit; a midday block (09:30-16:30) of negative day-ahead
prices (import about -0.44, export about -0.51 per kWh); degradation 0.02 per kWh.

Variants: ``base`` (curtailable PV), ``uncurtailable`` (PV must be taken),
``meter`` (an evening block where export pays more than import costs: one-meter
binaries), ``minpower`` (minimum power of every charger at half its maximum),
``tight-export`` (export limit 0.3 kW per vehicle, PV uncurtailable).

Every measurement runs in a fresh process; the table quotes medians, with the
load average (1 min) read just before each run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gridopt.synthetic import HARD_VARIANTS as VARIANTS
from gridopt.synthetic import write_hard_day

HERE = Path(__file__).resolve().parent


def one_run(variant: str, n: int, method: str, gap: float, time_limit: float, seed: int) -> dict:
    """Solve one hard day in this process (wall time from the call, check included)."""
    import resource

    import gridopt
    from gridopt.check import check_schedule  # noqa: F401  (optimize checks every plan)

    with tempfile.TemporaryDirectory() as d:
        sc = gridopt.load_scenario(write_hard_day(d, n, variant, seed=seed, time_limit_s=time_limit, mip_rel_gap=gap))
    t0 = time.perf_counter()
    try:
        res = gridopt.optimize(sc, method=method, baseline=False)
        s = res.summary
        out = {
            "status": s["status"],
            "cost": s["total_cost"],
            "lower_bound": s["lower_bound"],
            "gap": s["mip_gap"],
            "method": s["method"],
            "stages": s.get("stages"),
            "variables": s["model"]["variables"],
            "binaries": s["model"]["binaries"],
        }
    except gridopt.GridoptError as exc:
        out = {"status": "failed", "error": str(exc)[:200]}
    out["total_s"] = time.perf_counter() - t0
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_case(variant, n, method, gap, tl, repeats, seed=1) -> dict:
    runs = []
    for r in range(repeats):
        load = os.getloadavg()[0]
        cmd = [sys.executable, __file__, "--worker", json.dumps([variant, n, method, gap, tl, seed])]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=tl * 4 + 180)
        if proc.returncode != 0:
            out = {"status": "crashed", "error": proc.stderr[-300:]}
        else:
            out = json.loads(proc.stdout.strip().splitlines()[-1])
        out["load_before"] = load
        runs.append(out)
        print(
            f"  {variant} n={n} {method} run {r + 1}/{repeats}: {out.get('status')} {out.get('total_s', 0):.2f} s "
            f"gap {out.get('gap')} (load {load:.2f})",
            flush=True,
        )
    ok = [x for x in runs if x.get("status") in ("optimal", "time_limit")]
    med = lambda k: statistics.median(x[k] for x in ok if x.get(k) is not None) if ok else None  # noqa: E731
    return {
        "variant": variant,
        "vehicles": n,
        "method": method,
        "gap_target": gap,
        "time_limit_s": tl,
        "runs": runs,
        "status": sorted({x.get("status") for x in runs}),
        "total_s": med("total_s"),
        "gap": med("gap"),
        "cost": med("cost"),
        "lower_bound": med("lower_bound"),
        "peak_mb": med("peak_mb"),
        "load": statistics.median(x["load_before"] for x in runs),
        "methods": sorted({x.get("method") for x in ok if x.get("method")}),
        "binaries": ok[0]["binaries"] if ok else None,
    }


def write_report(results: list[dict], info: dict, path_md: Path) -> str:
    lines = [
        "# gridopt benchmarks: the hard family (negative-price days)",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; Python {info['python']}; "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        + ". Shared machine: the load average (1 min) before each run is in the table (median).",
        "",
        "Command: `python benchmarks/hard.py` (each run a fresh process; medians). `total s`: wall time of",
        "`gridopt.optimize(..., baseline=False)` with the scenario's limit; `gap`: the proven gap.",
        "",
        "| variant | vehicles | method | limit s | runs | status | total s | proven gap | cost | bound | peak MB | load |",
        "|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    f = lambda x, s: "—" if x is None else format(x, s)  # noqa: E731
    for r in results:
        lines.append(
            f"| {r['variant']} | {r['vehicles']} | {'/'.join(r['methods']) or r['method']} | {r['time_limit_s']:g} | "
            f"{len(r['runs'])} | {', '.join(map(str, r['status']))} | {f(r['total_s'], '.1f')} | {f(r['gap'], '.1e')} | "
            f"{f(r['cost'], '.2f')} | {f(r['lower_bound'], '.2f')} | {f(r['peak_mb'], '.0f')} | {r['load']:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    path_md.write_text(text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", action="append", help="VARIANT:N (repeatable); default: the whole family")
    ap.add_argument("--method", default="auto", choices=("auto", "milp"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--gap", type=float, default=1e-3)
    ap.add_argument("--out", default=str(HERE / "hard_results"), help="output prefix (.md and .json)")
    ap.add_argument("--write", help="only write the case's scenario files into this folder")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        variant, n, method, gap, tl, seed = json.loads(args.worker)
        print(json.dumps(one_run(variant, n, method, gap, tl, seed)))
        return 0
    cases = (
        [(c.split(":")[0], int(c.split(":")[1])) for c in args.case]
        if args.case
        else [(v, n) for v in VARIANTS for n in (50, 200, 1000)]
    )
    if args.write:
        for v, n in cases:
            print(
                write_hard_day(Path(args.write) / f"{v}-{n}", n, v, time_limit_s=args.time_limit, mip_rel_gap=args.gap)
            )
        return 0
    sys.path.insert(0, str(HERE))
    from run import machine

    info = machine()
    results = [run_case(v, n, args.method, args.gap, args.time_limit, args.repeat) for v, n in cases]
    out = Path(args.out)
    prev = []
    if Path(str(out) + ".json").exists():
        prev = json.loads(Path(str(out) + ".json").read_text()).get("results", [])
    keep = {(r["variant"], r["vehicles"], r["method"]) for r in results}
    merged = [r for r in prev if (r["variant"], r["vehicles"], r["method"]) not in keep] + results
    Path(str(out) + ".json").write_text(json.dumps({"machine": info, "results": merged}, indent=1))
    print(write_report(merged, info, Path(str(out) + ".md")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
