"""Time-limit compliance under load (issue 10 item 2): ``gridopt run --time-limit`` beside a CPU hog.

    python benchmarks/limits.py                         # 1,000-vehicle meter and tight-export days, 10 s and 60 s
    python benchmarks/limits.py --case meter:1000 --limit 10 --repeat 3 --hogs 2

Each run starts ``--hogs`` busy Python processes (``while True: pass``), then
times the command ``gridopt run SCENARIO --time-limit L --out DIR --quiet`` as
a user would run it (a fresh process: start-up, reading, solving, checking,
writing). The fixed start-up is the wall time of ``gridopt --version`` measured
just before, under the same hog. The contract: wall <= L * 1.1 + start-up.
The hogs are ended by their process ids when the run is over (also on errors).
Results: ``benchmarks/limits_results.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GRIDOPT = str(Path(sys.executable).with_name("gridopt"))


def start_hogs(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop_hogs(hogs: list[subprocess.Popen]) -> None:
    for p in hogs:
        p.kill()
    for p in hogs:
        p.wait()


def one_run(variant: str, n: int, limit: float, hogs: int) -> dict:
    from gridopt.synthetic import write_hard_day

    folder = Path(tempfile.mkdtemp(prefix="gridopt-limits-"))
    procs: list[subprocess.Popen] = []
    try:
        path = write_hard_day(folder / "sc", n, variant, time_limit_s=limit, mip_rel_gap=1e-3)
        procs = start_hogs(hogs)
        time.sleep(1.0)
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        subprocess.run([GRIDOPT, "--version"], capture_output=True, check=True)
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        proc = subprocess.run(
            [GRIDOPT, "run", str(path), "--time-limit", str(limit), "--out", str(folder / "out"), "--quiet"],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
    finally:
        stop_hogs(procs)
    out = {"variant": variant, "vehicles": n, "limit_s": limit, "hogs": hogs, "exit": proc.returncode}
    out.update(wall_s=wall, startup_s=startup, load=load, over_s=wall - startup - 1.1 * limit)
    summary = folder / "out" / "summary.json"
    if summary.exists():
        s = json.loads(summary.read_text())
        out.update(status=s["status"], gap=s["mip_gap"], method=s["method"], check=s.get("check"))
        # where the time went: the solver's stages, and the solve against the whole run
        out.update(solve_s=s.get("solve_seconds"), stages=s.get("stages"))
    else:
        out["error"] = proc.stderr[-300:]
    shutil.rmtree(folder, ignore_errors=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", help="VARIANT:N (default meter:1000 and tight-export:1000)")
    ap.add_argument("--limit", action="append", type=float, help="time limits [s] (default 10 and 60)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hogs", type=int, default=2)
    args = ap.parse_args(argv)
    cases = [(c.split(":")[0], int(c.split(":")[1])) for c in (args.case or ["meter:1000", "tight-export:1000"])]
    rows = []
    print(
        "| variant | vehicles | limit s | runs | wall s (median) | start-up s | wall - start-up - 1.1 limit (max) "
        "| status | proven gap | load (1 min) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for variant, n in cases:
        for limit in args.limit or [10.0, 60.0]:
            runs = [one_run(variant, n, limit, args.hogs) for _ in range(args.repeat)]
            rows.append({"variant": variant, "vehicles": n, "limit_s": limit, "runs": runs})
            for r in runs:
                if "error" in r:
                    print(f"  exit {r['exit']}: {r['error'].strip()}", file=sys.stderr)
            gaps = [r.get("gap") for r in runs if r.get("gap") is not None]
            print(
                f"| {variant} | {n:,} | {limit:g} | {len(runs)} | {statistics.median(r['wall_s'] for r in runs):.1f} | "
                f"{statistics.median(r['startup_s'] for r in runs):.1f} | {max(r['over_s'] for r in runs):+.1f} | "
                f"{', '.join(sorted({str(r.get('status', 'failed')) for r in runs}))} | "
                f"{statistics.median(gaps) if gaps else math.nan:.1e} | {statistics.median(r['load'] for r in runs):.1f} |",
                flush=True,
            )
    # merge with earlier results of other cases and limits (one row per variant, size and limit)
    path = HERE / "limits_results.json"
    key = lambda r: (r["variant"], r["vehicles"], r["limit_s"])  # noqa: E731
    old = json.loads(path.read_text()) if path.exists() else []
    new = {key(r) for r in rows}
    path.write_text(json.dumps([r for r in old if key(r) not in new] + rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
