"""Sweep benchmark (issue 11): throughput on Dask and the overhead per case against a bare optimize.

    python benchmarks/sweep.py [--cases 200] [--ready]

1. ``--cases`` small cases (seeded synthetic fleets of 10 vehicles, one day in hourly steps) as a sweep
   with 1 and 2 LocalCluster workers: wall time from the call to the table (cluster start included),
   cases per minute, and the mean time a case spends in its task.
2. The same scenarios one after another with ``gridopt.optimize`` in this process (no Dask, no files):
   the overhead per case of a sweep = its wall time per case with 1 worker minus this.
3. ``--ready``: the ready sweep ``scenarios/sweeps/depot_limits_v2g_weeks.yaml`` with 1 and 2 workers.

Writes ``benchmarks/sweep_results.json`` and the section between the ``sweep`` markers of
``benchmarks/results.md``, with the machine, its load average and the versions. The machine is
shared: the load average before and after each run is recorded beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import gridopt
from gridopt.provenance import SWEEP_PACKAGES, machine, package_versions, python_version

ROOT = Path(__file__).resolve().parents[1]
READY = ROOT / "scenarios" / "sweeps" / "depot_limits_v2g_weeks.yaml"
RESULTS_MD = ROOT / "benchmarks" / "results.md"
BEGIN, END = "<!-- sweep benchmark: begin -->", "<!-- sweep benchmark: end -->"


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def small_sweep(n: int) -> dict:
    return {
        "name": f"bench-{n}",
        "base": {"synthetic": {"n_vehicles": 10, "step_minutes": 60, "time_limit_s": 30}},
        "parameters": {"seed": {"start": 0, "stop": n - 1, "num": n}},
    }


def timed_sweep(spec, workers: int, folder: Path) -> dict:
    out = folder / f"out-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    before = load()
    t0 = time.perf_counter()
    run = gridopt.sweep(spec, out, workers=workers, quiet=True)
    wall = time.perf_counter() - t0
    df = run.results
    return {
        "workers": workers,
        "cases": len(df),
        "statuses": df["status"].value_counts().to_dict(),
        "wall_s": wall,
        "cases_per_min": 60 * len(df) / wall,
        "case_task_mean_s": float(df["case_seconds"].mean()),
        "solve_mean_s": float(df["solve_seconds"].mean()),
        "load_before": before,
        "load_after": load(),
    }


def bare(n: int, folder: Path) -> dict:
    """The same scenarios with gridopt.optimize in this process: load + optimize, no files written."""
    from gridopt.synthetic import write_synthetic_fleet

    paths = [write_synthetic_fleet(folder / f"s{i}", 10, seed=i, step_minutes=60, time_limit_s=30) for i in range(n)]
    before = load()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in paths:
            gridopt.optimize(gridopt.load_scenario(p))
    wall = time.perf_counter() - t0
    return {"cases": n, "wall_s": wall, "per_case_s": wall / n, "load_before": before, "load_after": load()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--ready", action="store_true", help="also time the ready sweep (several minutes)")
    args = ap.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="gridopt-sweep-bench-"))
    res: dict = {
        "machine": machine(),
        "python": python_version(),
        "packages": {**package_versions(), **package_versions(SWEEP_PACKAGES)},
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    res["bare"] = bare(args.cases, folder / "bare")
    spec = small_sweep(args.cases)
    res["small"] = [timed_sweep(spec, w, folder) for w in (1, 2)]
    res["overhead_per_case_s"] = res["small"][0]["wall_s"] / args.cases - res["bare"]["per_case_s"]
    if args.ready:
        res["ready"] = [timed_sweep(READY, w, folder) for w in (1, 2)]
    shutil.rmtree(folder, ignore_errors=True)
    (ROOT / "benchmarks" / "sweep_results.json").write_text(json.dumps(res, indent=2) + "\n")
    write_md(res)
    print(json.dumps(res, indent=2))


def write_md(res: dict) -> None:
    m = res["machine"]
    p = res["packages"]
    lines = [
        BEGIN,
        "## Sweeps (`python benchmarks/sweep.py --ready`)",
        "",
        f"{res['started']}; {m['cores']} cores, {m['memory_gb']} GiB, {m['platform']}; Python {res['python']}, "
        f"gridopt {p['gridopt']}, highspy {p['highspy']}, dask {p['dask']}, distributed {p['distributed']}, "
        f"pyarrow {p['pyarrow']}. The machine was shared with other work: the load average (1 / 5 / 15 min) "
        "before and after each run is given beside it.",
        "",
        "| run | workers | cases | wall s | cases/min | task s (mean) | load before | load after |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    b = res["bare"]
    lines.append(
        f"| {b['cases']} small cases, bare `gridopt.optimize` in one process | - | {b['cases']} | {b['wall_s']:.1f} | "
        f"{60 * b['cases'] / b['wall_s']:.0f} | {b['per_case_s']:.3f} | {b['load_before']} | {b['load_after']} |"
    )
    for r in res["small"] + res.get("ready", []):
        what = "small cases" if r in res["small"] else "ready sweep (60 depot weeks)"
        lines.append(
            f"| {what} | {r['workers']} | {r['cases']} | {r['wall_s']:.1f} | {r['cases_per_min']:.0f} | "
            f"{r['case_task_mean_s']:.3f} | {r['load_before']} | {r['load_after']} |"
        )
    lines += [
        "",
        "Small cases: seeded synthetic fleets of 10 vehicles, one day in hourly steps (`gridopt.synthetic`). "
        f"Overhead of a sweep per case (1 worker, wall time per case less the bare call's): "
        f"{res['overhead_per_case_s']:.3f} s, which includes starting the cluster, writing each case's "
        "three files and its journal row, and the results table"
        + (
            "; negative means it is below the noise of the shared machine (the bare loop and the sweep ran "
            "at different loads)."
            if res["overhead_per_case_s"] < 0
            else "."
        ),
        END,
    ]
    text = RESULTS_MD.read_text() if RESULTS_MD.is_file() else ""
    block = "\n".join(lines) + "\n"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) + 1 :]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    RESULTS_MD.write_text(text)


if __name__ == "__main__":
    main()
