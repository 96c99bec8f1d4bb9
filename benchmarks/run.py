"""gridopt benchmark suite: seeded synthetic fleets from 50 to 10,000 vehicles.

    python benchmarks/run.py                 # the whole suite, writes benchmarks/results.md and .json
    python benchmarks/run.py --quick         # small sizes only
    python benchmarks/run.py --case fast:1000 --repeat 3   # one case

Every measurement runs in a fresh Python process (so that peak memory is the
case's own) and is repeated; the table quotes medians. Sizes: 96 quarter-hour
steps, 40% V2G, chargers with a minimum power, efficiencies 0.93, curtailable
PV, an import cap, time-of-use prices (see gridopt/synthetic.py); the *binding*
cases have negative midday prices, PV that cannot be curtailed and a loose
import limit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (label, method, vehicles, binding, gap, time limit s, repeats)
SUITE = [
    ("fast", "auto", 50, False, 1e-3, 60, 5),
    ("fast", "auto", 200, False, 1e-3, 60, 5),
    ("fast", "auto", 1000, False, 1e-3, 60, 5),
    ("fast", "auto", 10000, False, 5e-3, 120, 3),
    ("fast-binding", "auto", 50, True, 1e-3, 60, 5),
    ("fast-binding", "auto", 1000, True, 1e-3, 60, 5),
    ("milp", "milp", 50, False, 1e-3, 120, 3),
    ("milp", "milp", 200, False, 1e-3, 120, 1),
    ("milp", "milp", 1000, False, 1e-3, 120, 1),
    ("milp-binding", "milp", 50, True, 1e-3, 120, 3),
    ("milp-binding", "milp", 1000, True, 1e-3, 120, 1),
]
QUICK = [c for c in SUITE if c[2] <= 200]


def one_run(method: str, n: int, binding: bool, gap: float, time_limit: float, seed: int) -> dict:
    """Solve one synthetic case in this process; return its figures."""
    import resource

    import gridopt
    from gridopt.synthetic import write_synthetic_fleet

    with tempfile.TemporaryDirectory() as d:
        path = write_synthetic_fleet(d, n, seed=seed, binding=binding, mip_rel_gap=gap, time_limit_s=time_limit)
        sc = gridopt.load_scenario(path)
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
            "build_s": s["build_seconds"],
            "solve_s": s["solve_seconds"],
            "variables": s["model"]["variables"],
            "binaries": s["model"]["binaries"],
        }
    except gridopt.GridoptError as exc:
        out = {"status": "failed", "error": str(exc)[:200]}
    out["total_s"] = time.perf_counter() - t0
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def replan_run(n: int = 50, repeats: int = 20) -> dict:
    """Median wall time of re-solving a 50-charger site's day (the rolling horizon's unit of work)."""
    import gridopt
    from gridopt.synthetic import write_synthetic_fleet

    with tempfile.TemporaryDirectory() as d:
        sc = gridopt.load_scenario(write_synthetic_fleet(d, n, seed=7, mip_rel_gap=1e-3))
    gridopt.optimize(sc, baseline=False)  # warm-up: imports
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        gridopt.optimize(sc, baseline=False)
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "max_s": max(times), "repeats": repeats}


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024**2:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    versions = {}
    for pkg in ("gridopt", "highspy", "pyomo", "numpy", "pandas"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def run_case(case, seed_base: int = 1) -> dict:
    label, method, n, binding, gap, tl, repeats = case
    runs = []
    for r in range(repeats):
        cmd = [sys.executable, __file__, "--worker", json.dumps([method, n, binding, gap, tl, seed_base])]
        load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=tl * 3 + 120)
        if proc.returncode != 0:
            runs.append({"status": "crashed", "error": proc.stderr[-300:]})
        else:
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        if load0 is not None:
            runs[-1]["load"] = [load0, os.getloadavg()[0]]
        print(
            f"  {label} n={n} run {r + 1}/{repeats}: {runs[-1].get('status')} {runs[-1].get('total_s', 0):.2f} s",
            flush=True,
        )
    ok = [x for x in runs if x.get("status") in ("optimal", "time_limit")]
    med = lambda k: statistics.median(x[k] for x in ok) if ok else None  # noqa: E731
    return {
        "label": label,
        "method": method,
        "vehicles": n,
        "binding": binding,
        "gap_target": gap,
        "time_limit_s": tl,
        "repeats": repeats,
        "runs": runs,
        "status": sorted({x.get("status") for x in runs}),
        "variables": ok[0]["variables"] if ok else None,
        "binaries": ok[0]["binaries"] if ok else None,
        "build_s": med("build_s"),
        "solve_s": med("solve_s"),
        "total_s": med("total_s"),
        "peak_mb": med("peak_mb"),
        "gap": med("gap"),
        "cost": med("cost"),
        "lower_bound": med("lower_bound"),
        "methods": sorted({x.get("method") for x in ok}),
    }


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def write_report(results: list[dict], replan: dict | None, info: dict, path_md: Path) -> str:
    lines = [
        "# gridopt benchmarks",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; Python {info['python']}; "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        + f". Load average at start: {info['load_average_at_start']:.2f}.",
        "",
        "Command: `python benchmarks/run.py` (each run a fresh process; medians of the repeats).",
        "`total s` is the wall time of `gridopt.optimize(..., baseline=False)`: fleet plan, model build,",
        "solve, extraction and the independent physics check. `build s` is the fleet plan and the model",
        "build; `solve s` the solver calls (loading included). `gap` is the proven gap",
        "`(cost - bound) / max(|bound|, 1)` against the reported lower bound.",
        "",
        "| case | vehicles | variables | binaries | build s | solve s | total s | peak MB | proven gap | method | cost | MILP cost (same case) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    milp = {(r["vehicles"], r["binding"]): r for r in results if r["method"] == "milp"}
    for r in results:
        lines.append(table_row(r, milp))
    if replan:
        lines += [
            "",
            f"Re-planning a 50-charger site (full-day horizon, 15-min steps): median {replan['median_s']:.3f} s, "
            f"max {replan['max_s']:.3f} s per re-solve over {replan['repeats']} re-solves (in one process, after a warm-up).",
        ]
    lines += [
        "",
        "The hard negative-price family (issue 10): `benchmarks/hard_results.md` (`python benchmarks/hard.py`);",
        "100,000 vehicles as 1,000 sites of 100 on Dask: `benchmarks/region_results.json` (`python benchmarks/region.py`).",
    ]
    text = "\n".join(lines) + "\n"
    path_md.write_text(text)
    return text


def table_row(r: dict, milp: dict) -> str:
    """The row of ``r`` in the results table (``milp``: the MILP results by (vehicles, binding))."""
    ref = milp.get((r["vehicles"], r["binding"])) if r["method"] != "milp" else None
    ref_cost = (
        fmt(ref["cost"], ".3f") + (f" (gap {ref['gap']:.1e})" if ref and ref["gap"] is not None else "") if ref else ""
    )
    return (
        f"| {r['label']} | {r['vehicles']} | {fmt(r['variables'], ',')} | {fmt(r['binaries'], ',')} | "
        f"{fmt(r['build_s'], '.2f')} | {fmt(r['solve_s'], '.2f')} | {fmt(r['total_s'], '.2f')} | {fmt(r['peak_mb'], '.0f')} | "
        f"{fmt(r['gap'], '.1e')} | {'/'.join(m for m in r['methods'] if m) or ', '.join(r['status'])} | {fmt(r['cost'], '.3f')} | {ref_cost} |"
    )


NOTES_BEGIN, NOTES_END = "<!-- re-measured rows: begin -->", "<!-- re-measured rows: end -->"


def merge_case(result: dict, info: dict, path_md: Path, path_json: Path) -> None:
    """Put one re-measured case into the existing table (``--case``): its row replaced, the others kept.

    ``results.json`` gets the case's entry replaced (with this run's machine info and date beside it);
    ``results.md`` gets its table row replaced and a line on when and at what load it was measured,
    in a marked block under the table. Every other row and section stays as it was.
    """
    data = json.loads(path_json.read_text()) if path_json.exists() else {"machine": info, "results": []}
    key = (result["label"], result["vehicles"])
    result = {**result, "measured": info["date"], "machine": info}
    rows = [r for r in data["results"] if (r["label"], r["vehicles"]) != key]
    data["results"] = (
        [*rows, result]
        if len(rows) == len(data["results"])
        else [result if (r["label"], r["vehicles"]) == key else r for r in data["results"]]
    )
    path_json.write_text(json.dumps(data, indent=1))
    milp = {(r["vehicles"], r["binding"]): r for r in data["results"] if r["method"] == "milp"}
    lines = path_md.read_text().splitlines() if path_md.exists() else []
    prefix = f"| {result['label']} | {result['vehicles']} |"
    new_row = table_row(result, milp)
    at = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    head = next((i for i, line in enumerate(lines) if line.startswith("| case | vehicles |")), None)
    if head is None:
        raise SystemExit(f"{path_md}: no results table to put the case into (run the whole suite first)")
    end = head
    while end + 1 < len(lines) and lines[end + 1].startswith("|"):
        end += 1
    if at:
        lines[at[0]] = new_row
    else:  # after the main table's last row
        lines.insert(end + 1, new_row)
        end += 1
    loads = [x.get("load") for x in result["runs"] if x.get("load")]
    note = (
        f"- `{result['label']} {result['vehicles']}` re-measured {info['date']} (`python benchmarks/run.py --case "
        f"{result['label']}:{result['vehicles']} --repeat {result['repeats']}`, median of {result['repeats']} fresh "
        f"processes; total s of the runs: {', '.join(fmt(x.get('total_s'), '.2f') for x in result['runs'])}; "
        f"1-minute load average before / after each run: {', '.join(f'{a:.1f}/{b:.1f}' for a, b in loads)}; "
        f"highspy {info['versions'].get('highspy')})."
    )
    if NOTES_BEGIN in lines:
        b, e = lines.index(NOTES_BEGIN), lines.index(NOTES_END)
        kept = [x for x in lines[b + 1 : e] if not x.startswith(f"- `{result['label']} {result['vehicles']}` ")]
        lines[b : e + 1] = [NOTES_BEGIN, *kept, note, NOTES_END]
    else:
        lines[end + 1 : end + 1] = [
            "",
            "Rows re-measured on their own (the others as in the header):",
            NOTES_BEGIN,
            note,
            NOTES_END,
        ]
    path_md.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="sizes up to 200 vehicles only")
    ap.add_argument("--case", help="one case, e.g. fast:1000, fast-binding:1000, milp:200")
    ap.add_argument("--repeat", type=int, help="override the repeats")
    ap.add_argument("--out", default=str(HERE / "results"), help="output prefix (.md and .json)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        method, n, binding, gap, tl, seed = json.loads(args.worker)
        print(json.dumps(one_run(method, n, binding, gap, tl, seed)))
        return 0
    cases = QUICK if args.quick else SUITE
    if args.case:
        label, n = args.case.split(":")
        cases = [c for c in SUITE if c[0] == label and c[2] == int(n)]
        if not cases:
            ap.error(f"no case {args.case}")
    if args.repeat:
        cases = [c[:6] + (args.repeat,) for c in cases]
    info = machine()
    results = []
    for c in cases:
        print(f"{c[0]} {c[2]} vehicles ({c[6]} runs)", flush=True)
        results.append(run_case(c))
    replan = replan_run() if not args.case else None
    out = Path(args.out)
    if args.case:  # one case: its row replaced in the existing table, the others kept
        info["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        for r in results:
            merge_case(r, info, Path(str(out) + ".md"), Path(str(out) + ".json"))
        print(Path(str(out) + ".md").read_text())
        return 0
    Path(str(out) + ".json").write_text(json.dumps({"machine": info, "results": results, "replan": replan}, indent=1))
    print(write_report(results, replan, info, Path(str(out) + ".md")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
