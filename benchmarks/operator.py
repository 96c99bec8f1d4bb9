"""Fewer switches (issue 13 item 3): charging blocks, cost and solve time on every ready scenario.

    python benchmarks/operator.py [--repeats 3]

For each ready scenario (``scenarios/*.yaml``) and each setting -- none, ``switching_penalty_per_kw``
0.001 and 0.01, ``prefer_early_charging``, and both (0.001 + early) -- solves with the scenario's own
solver options (fast path, no baseline, no flexibility KPIs) and records the charging blocks per
vehicle (median, max), ``total_cost``, ``switching_cost``, the proven gap, the energy-weighted mean
charging time and the median wall time of ``--repeats`` solves in this process. Writes
``benchmarks/operator_results.json`` with the machine, versions and the load average before and
after (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from pathlib import Path

import gridopt
from gridopt.export.setpoints import charging_blocks
from gridopt.optimizer.early import charging_time_h
from gridopt.provenance import machine, package_versions, python_version

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "operator_results.json"
SETTINGS = {
    "none": {},
    "penalty 0.001": {"switching_penalty_per_kw": 0.001},
    "penalty 0.01": {"switching_penalty_per_kw": 0.01},
    "early": {"prefer_early_charging": True},
    "penalty 0.001 + early": {"switching_penalty_per_kw": 0.001, "prefer_early_charging": True},
}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = []
    load_before = load()
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc = gridopt.load_scenario(path)
            for name, change in SETTINGS.items():
                case = sc.replace(**change) if change else sc
                seconds = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    res = gridopt.optimize(case, baseline=False, flexibility=False)
                    seconds.append(time.perf_counter() - t0)
                s = res.summary
                blocks = charging_blocks(res.schedule)
                rows.append(
                    {
                        "scenario": path.stem,
                        "setting": name,
                        "blocks_median": blocks["median_per_vehicle"],
                        "blocks_max": blocks["max_per_vehicle"],
                        "total_cost": s["total_cost"],
                        "switching_cost": s["switching_cost"],
                        "mip_gap": s["mip_gap"],
                        "status": s["status"],
                        "method": s["method"],
                        "charging_time_h": charging_time_h(res.schedule, sc.grid.start),
                        "seconds_median": statistics.median(seconds),
                    }
                )
                r = rows[-1]
                print(
                    f"{r['scenario']:28s} {name:22s} blocks {r['blocks_median']:4g} / {r['blocks_max']:3d}  "
                    f"cost {r['total_cost']:12.4f}  switching {r['switching_cost']:8.3f}  "
                    f"gap {r['mip_gap']:.1e}  t {r['charging_time_h']:6.2f} h  {r['seconds_median']:.2f} s",
                    flush=True,
                )
    out = {
        "machine": machine(),
        "python": python_version(),
        "versions": package_versions(),
        "load_average_before": load_before,
        "load_average_after": load(),
        "repeats": args.repeats,
        "rows": rows,
    }
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
