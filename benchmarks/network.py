"""Network layer timings (issue 12): the AC check of a day and the linearisation, on SimBench grids.

    .venv-grid/bin/python benchmarks/network.py                 # rural1, semiurb4, urban6; 3 runs each
    .venv-grid/bin/python benchmarks/network.py --codes 1-MV-semiurb--0-sw --runs 1

Runs in the grid venv (pandapower, simbench). For each grid: ``ac_check`` of a
96-step day (15 min) with EV power at every LV load bus, and ``linearise`` for the
same day and buses (96 base power flows plus two per EV bus), each in a fresh
process after the net is read (reading SimBench's CSV files is timed apart).
Writes ``benchmarks/network_results.md`` and ``.json`` with the machine, versions,
medians and the load average (1 min) before each run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CODES = ["1-LV-rural1--0-sw", "1-LV-semiurb4--0-sw", "1-LV-urban6--0-sw"]


def one(code: str) -> dict:
    import numpy as np
    import pandas as pd

    import gridopt.network as gn

    t0 = time.perf_counter()
    nd = gn.load_network(code)
    t_load = time.perf_counter() - t0
    prof = nd.profiles("2024-01-15T00:00+01:00", 96, 15)
    name = dict(zip(nd.buses.pp_index, nd.buses.index, strict=True))
    buses = [name[b] for b in sorted(set(nd.net.load.bus)) if not nd.buses.at[name[b], "is_slack"]]
    rng = np.random.default_rng(0)
    plan = pd.DataFrame(rng.uniform(0, 11, (96, len(buses))), index=prof.index, columns=buses)
    t0 = time.perf_counter()
    res = gn.ac_check(nd, prof, plan)
    t_ac = time.perf_counter() - t0
    t0 = time.perf_counter()
    gn.linearise(nd, prof, buses, ev_range_kw=22.0)
    t_lin = time.perf_counter() - t0
    return {
        "code": code,
        "buses": len(nd.buses),
        "elements": len(nd.elements),
        "ev_buses": len(buses),
        "read_s": t_load,
        "ac_check_96_s": t_ac,
        "linearise_96_s": t_lin,
        "violations": len(res.violations),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codes", nargs="+", default=CODES)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=HERE / "network_results")
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(one(args.worker)))
        return 0
    import pandapower
    import simbench

    import gridopt

    rows = []
    for code in args.codes:
        runs = []
        for _ in range(args.runs):
            load = os.getloadavg()[0]
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", code], capture_output=True, text=True, check=True
            )
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r["load_before"] = load
            runs.append(r)
            print(code, {k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}, flush=True)
        med = {
            k: statistics.median(r[k] for r in runs)
            for k in ("read_s", "ac_check_96_s", "linearise_96_s", "load_before")
        }
        rows.append({**runs[0], **med, "runs": len(runs)})
    info = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "python": platform.python_version(),
        "gridopt": gridopt.__version__,
        "pandapower": pandapower.__version__,
        "simbench": simbench.__version__,
        "numba": "no (pandapower runs without it)",
    }
    Path(str(args.out) + ".json").write_text(json.dumps({"info": info, "results": rows}, indent=2) + "\n")
    lines = [
        "# Network layer timings (benchmarks/network.py)",
        "",
        ", ".join(f"{k}: {v}" for k, v in info.items()) + ". Medians of fresh processes; the load average (1 min)"
        " before each run is the shared machine's (median).",
        "",
        "| grid | buses | elements | EV buses | read s | ac_check 96 steps s | linearise 96 steps s | runs | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['code']} | {r['buses']} | {r['elements']} | {r['ev_buses']} | {r['read_s']:.1f} | "
            f"{r['ac_check_96_s']:.2f} | {r['linearise_96_s']:.2f} | {r['runs']} | {r['load_before']:.1f} |"
        )
    Path(str(args.out) + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
