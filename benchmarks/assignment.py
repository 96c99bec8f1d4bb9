"""Charger assignment (issue 13 item 1): how long branch and bound takes as fleets and chargers grow.

    python benchmarks/assignment.py [--repeats 3] [--time-limit 60]

Synthetic workplace days (seeded): n cars plugged in for 2-10 h between 00:00 and 24:00 at
15-minute steps, a TOU price, and n/3.3 chargers, either one group of identical 11 kW chargers
or two groups (half 11 kW V2G chargers, half 7.4 kW with a 1.4 kW minimum, with V2G cars: mode
binaries too). Each case runs in a fresh process; medians of ``--repeats`` runs of
``gridopt.optimize`` (fast path: assignment binaries send it to branch and bound on the whole
MILP). Writes benchmarks/assignment_results.md with the machine, versions and load averages.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = [(30, 10, False), (30, 10, True), (100, 30, False), (100, 30, True), (300, 90, False)]


def build(n: int, n_chargers: int, mixed: bool, folder: Path):
    """The scenario of one case, written into ``folder``."""
    import numpy as np
    import pandas as pd
    import yaml

    import gridopt

    rng = np.random.default_rng(n)
    start = pd.Timestamp("2026-06-15T00:00:00+02:00")
    cars, ses = [], []
    for i in range(n):
        a = float(rng.integers(0, 64)) / 4
        d = min(24.0, a + float(rng.integers(8, 40)) / 4)
        cars.append(
            {
                "vehicle_id": f"V{i}",
                "battery_kwh": 50.0,
                "max_charge_kw": 11.0,
                "max_discharge_kw": float(rng.choice([0.0, 7.0])) if mixed else 0.0,
                "min_soc": 0.0,
            }
        )
        ses.append(
            {
                "vehicle_id": f"V{i}",
                "arrival": (start + pd.Timedelta(hours=a)).isoformat(),
                "departure": (start + pd.Timedelta(hours=d)).isoformat(),
                "arrival_soc": 0.2,
                "target_soc": round(float(rng.uniform(0.3, 0.6)), 3),
            }
        )
    if mixed:
        half = n_chargers // 2
        chg = [{"charger_id": f"DC{k}", "max_kw": 11, "min_kw": 0, "v2g": "true"} for k in range(half)]
        chg += [
            {"charger_id": f"AC{k}", "max_kw": 7.4, "min_kw": 1.4, "v2g": "false"} for k in range(n_chargers - half)
        ]
    else:
        chg = [{"charger_id": f"C{k}", "max_kw": 11, "min_kw": 0, "v2g": "false"} for k in range(n_chargers)]
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(cars).to_csv(folder / "vehicles.csv", index=False)
    pd.DataFrame(ses).to_csv(folder / "sessions.csv", index=False)
    pd.DataFrame(chg).to_csv(folder / "chargers.csv", index=False)
    prices = {f"{h:02d}:00": round(0.1 + 0.25 * (8 <= h < 20) + 0.01 * (h % 3), 3) for h in range(24)}
    cfg = {
        "name": f"assign-{n}-{n_chargers}-{'mixed' if mixed else 'one'}",
        "timezone": "Europe/Amsterdam",
        "start": start.isoformat(),
        "horizon_hours": 24,
        "step_minutes": 15,
        "site": {"import_limit_kw": 3 * n, "export_limit_kw": n, "chargers": "chargers.csv"},
        "tariff": {"import_price": prices, "export_price": 0.05},
        "battery_degradation_cost_per_kwh": 0.02,
        "fleet": {"vehicles": "vehicles.csv", "sessions": "sessions.csv"},
    }
    (folder / "scenario.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return gridopt.load_scenario(folder / "scenario.yaml")


def one(n: int, k: int, mixed: bool, time_limit: float) -> dict:
    import time

    import gridopt

    with tempfile.TemporaryDirectory() as tmp:
        sc = build(n, k, mixed, Path(tmp))
        t = time.perf_counter()
        res = gridopt.optimize(
            sc, gridopt.SolverOptions(time_limit_s=time_limit, mip_rel_gap=1e-3), baseline=False, flexibility=False
        )
        wall = time.perf_counter() - t
    s = res.summary
    return {
        "wall_s": wall,
        "status": s["status"],
        "gap": s["mip_gap"],
        "binaries": s["model"]["binaries"],
        "assignment_binaries": s["chargers"]["assignment_binaries"],
        "unassigned": s["chargers"]["unassigned_occupancies"],
        "load": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        n, k, mixed = json.loads(args.one)
        print(json.dumps(one(n, k, mixed, args.time_limit)))
        return
    sys.path.insert(0, str(HERE.parent))
    from gridopt.provenance import machine, package_versions, python_version

    lines = [
        "# Charger assignment: branch and bound time (benchmarks/assignment.py)",
        "",
        f"Machine: {machine()}; Python {python_version()}; {package_versions()}",
        f"Load average at the start: {os.getloadavg()}; time limit {args.time_limit:g} s, mip_rel_gap 1e-3; "
        f"medians of {args.repeats} runs, each in a fresh process.",
        "",
        "| cars | chargers | groups | binaries (assignment) | wall s (median) | status | gap | cars without a charger | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, k, mixed in CASES:
        runs = []
        for _ in range(args.repeats):
            out = subprocess.run(
                [sys.executable, __file__, "--one", json.dumps([n, k, mixed]), "--time-limit", str(args.time_limit)],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        med = statistics.median(r["wall_s"] for r in runs)
        r = runs[0]
        lines.append(
            f"| {n} | {k} | {'2 (V2G 11 kW, 7.4 kW min 1.4)' if mixed else '1 (11 kW)'} | {r['binaries']} "
            f"({r['assignment_binaries']}) | {med:.1f} | {', '.join(sorted({x['status'] for x in runs}))} | "
            f"{max(x['gap'] for x in runs):.1e} | {r['unassigned']} | {statistics.median(x['load'] for x in runs):.1f} |"
        )
        print(lines[-1], flush=True)
    (HERE / "assignment_results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
