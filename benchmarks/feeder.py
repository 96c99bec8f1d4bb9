"""Feeder decomposition at scale (issue 12): sites coupled by network rows, priced on Dask.

    python benchmarks/feeder.py --sites 10 100 --vehicles 20 --workers 2 1 --max-rounds 20   (what docs/feeders.md reports)
    python benchmarks/feeder.py --gap-check            # decomposed vs central on a small feeder

Sites are seeded synthetic days (:func:`gridopt.synthetic.write_synthetic_fleet`, site ``i`` with
seed ``i``, 15-minute steps). The network is a synthetic linear radial feeder (no pandapower, so
the size is the sites', not the power flow's): one transformer row over all sites and, for each of
``--branches`` branches (sites round-robin), a line loading row and an end-of-line voltage row::

    trafo:  100 / S_trafo * sum_s p[s, t]                 <= 100 - base_trafo_pct
    line b: 100 / S_line * sum_{s on b} p[s, t]           <= 100 - base_line_pct
    vm b:   -dv * sum_{s on b} p[s, t] * (1 + pos_s)      >= 0.95 - 1.0   (pos_s in (0, 1]: where on b)

with the ratings set from the sites-alone optimum (``--tightness`` of its peak), so that the rows
bind. Each run: the sites alone on the cluster (one task each), then
:func:`gridopt.network.decompose.decompose` started from them (one task per site and round, and the
repair). Reported: wall time, rounds, tasks and their median and total time, the coordinator's
master-LP time, the proven gap (repaired cost vs the Lagrangian bound), the primal residual, the
coordinator's and the largest worker's peak memory, and the machine's load average. The
extrapolation to more sites is measured: ``rounds x sites x median task time / workers`` plus the
master's time per round, from the runs made. Writes ``benchmarks/feeder_results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def make_sites(folder: Path, n_sites: int, n_vehicles: int, branches: int, gap: float):
    import gridopt
    from gridopt.network.plan import Site
    from gridopt.synthetic import write_synthetic_fleet

    sites = []
    for i in range(n_sites):
        path = write_synthetic_fleet(folder / f"s{i:04d}", n_vehicles, seed=i, mip_rel_gap=gap, time_limit_s=60)
        sites.append(Site(f"site{i:04d}", i % branches, gridopt.load_scenario(path)))
    return sites


def make_rows(sites, alone_net: np.ndarray, branches: int, tightness: float):
    """The synthetic radial feeder's rows, rated at ``tightness`` x the sites-alone peaks."""
    from gridopt.network.plan import NetworkRows

    T = alone_net.shape[1]
    bus = np.array([s.bus for s in sites])
    per_branch = np.array([alone_net[bus == b].sum(axis=0) for b in range(branches)])  # (B, T)
    total = per_branch.sum(axis=0)
    s_trafo = max(1.0, tightness * total.max())
    s_line = np.maximum(1.0, tightness * per_branch.max(axis=1))
    dv = 0.05 / np.maximum(1.0, per_branch.max(axis=1)) / tightness / 1.5
    coef = [np.full(branches, 100.0 / s_trafo)]
    lo, hi, names, kinds = [np.full(T, -np.inf)], [np.full(T, 100.0)], ["trafo"], ["trafo"]
    for b in range(branches):
        c = np.zeros(branches)
        c[b] = 100.0 / s_line[b]
        coef.append(c)
        lo.append(np.full(T, -np.inf))
        hi.append(np.full(T, 100.0))
        names.append(f"line{b}")
        kinds.append("line")
        c = np.zeros(branches)
        c[b] = -dv[b]
        coef.append(c)
        lo.append(np.full(T, -0.05))
        hi.append(np.full(T, np.inf))
        names.append(f"vm{b}")
        kinds.append("bus")
    return NetworkRows(
        np.array(coef),
        np.array(lo).T,
        np.array(hi).T,
        tuple(names),
        tuple(kinds),
        tuple(f"b{b}" for b in range(branches)),
    )


def worker_peak_mb(client) -> float:
    """Largest ``ru_maxrss`` of the workers [MB]. Not a clean measure: Linux keeps a process's peak across
    fork and exec, so a worker started by this process reports at least this process's peak at that time."""

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    return max(client.run(peak).values())


def run_once(n_sites, n_vehicles, workers, branches, tightness, gap, tol, max_rounds, scheduler=None) -> dict:
    from gridopt.batch.runner import _client
    from gridopt.network.decompose import _Dask, decompose, price_site
    from gridopt.scenario import SolverOptions

    opts = SolverOptions(time_limit_s=60, mip_rel_gap=gap)
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sites = make_sites(Path(tmp), n_sites, n_vehicles, branches, gap)
        t_build = time.perf_counter() - t0
        client, cluster = _client(scheduler, workers)
        try:
            t1 = time.perf_counter()
            alone = _Dask(client, sites).map_sites(price_site, sites, [(None, opts)] * n_sites)
            t_alone = time.perf_counter() - t1
            alone_net = np.array([p.net_kw for p in alone])
            rows = make_rows(sites, alone_net, branches, tightness)
            master_s = []
            t2 = time.perf_counter()
            sol = decompose(
                sites,
                rows,
                opts,
                client=client,
                tol=tol,
                max_iter=max_rounds,
                initial=alone,
                log=lambda r: (master_s.append(r["seconds"]), print(json.dumps(r), file=sys.stderr, flush=True)),
            )
            t_dec = time.perf_counter() - t2
            peak_w = worker_peak_mb(client)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    info = sol.info
    alone_cost = float(sum(p.cost for p in alone))
    return {
        "sites": n_sites,
        "vehicles_per_site": n_vehicles,
        "vehicles": n_sites * n_vehicles,
        "workers": workers,
        "load_average_before": load0,
        "load_average_after": os.getloadavg()[0],
        "build_s": t_build,
        "alone_s": t_alone,
        "decompose_s": t_dec,
        "wall_s": t_alone + t_dec,
        "rounds": info["iterations"],
        "round_seconds": master_s,
        "history": info["history"],
        "tasks": info["task_seconds"]["count"],
        "task_s_median": info["task_seconds"]["median"],
        "task_s_total": info["task_seconds"]["total"],
        "columns": info["columns"],
        "rows_kept": info["rows_kept"],
        "repair": info["repair"],
        "alone_cost": alone_cost,
        "cost": sol.objective,
        "lagrangian_bound": sol.bound,
        "gap": sol.gap,
        "cost_vs_alone_percent": 100 * (sol.objective - alone_cost) / abs(alone_cost),
        "primal_residual": info["primal_residual"],
        "alone_excess_max": float(rows.excess(_bus(sites, alone_net, branches)).max()),
        "peak_coordinator_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_worker_mb": peak_w,
    }


def _bus(sites, net, branches):
    from gridopt.network.plan import bus_load_kw

    return bus_load_kw(sites, net, branches)


def gap_check(n_sites, n_vehicles, branches, tightness, gap) -> dict:
    """Decomposed (in process) vs central (one MILP) on a feeder small enough for the latter."""
    from gridopt.network.decompose import decompose, price_site
    from gridopt.network.plan import solve_central
    from gridopt.scenario import SolverOptions

    opts = SolverOptions(time_limit_s=300, mip_rel_gap=gap)
    with tempfile.TemporaryDirectory() as tmp:
        sites = make_sites(Path(tmp), n_sites, n_vehicles, branches, gap)
        alone = [price_site(s, None, opts) for s in sites]
        rows = make_rows(sites, np.array([p.net_kw for p in alone]), branches, tightness)
        t0 = time.perf_counter()
        central = solve_central(sites, rows, opts)
        t_c = time.perf_counter() - t0
        t0 = time.perf_counter()
        dec = decompose(sites, rows, opts, tol=1e-4, initial=alone)
        t_d = time.perf_counter() - t0
    return {
        "sites": n_sites,
        "vehicles_per_site": n_vehicles,
        "central_cost": central.objective,
        "central_bound": central.bound,
        "central_s": t_c,
        "decomposed_cost": dec.objective,
        "decomposed_bound": dec.bound,
        "decomposed_s": t_d,
        "rounds": dec.info["iterations"],
        "repair": dec.info["repair"],
        "decomposed_vs_central_percent": 100 * (dec.objective - central.objective) / abs(central.objective),
        "alone_cost": float(sum(p.cost for p in alone)),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--vehicles", type=int, default=100, help="vehicles per site")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--branches", type=int, default=10)
    ap.add_argument("--tightness", type=float, default=0.85, help="ratings as a share of the sites-alone peaks")
    ap.add_argument("--gap", type=float, default=1e-3, help="each subproblem's gap target")
    ap.add_argument("--tol", type=float, default=1e-3, help="decomposition's stopping gap (master vs bound)")
    ap.add_argument("--max-rounds", type=int, default=40, help="column generation rounds at most")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler")
    ap.add_argument("--gap-check", action="store_true", help="only: decomposed vs central on 10 sites of 10")
    ap.add_argument("--out", default=str(HERE / "feeder_results.json"))
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from run import machine

    out_path = Path(args.out)
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    results["machine"] = machine()
    if args.gap_check:
        r = gap_check(10, 10, min(args.branches, 5), args.tightness, 1e-4)
        results["gap_check"] = r
        print(json.dumps(r, indent=1))
    else:
        runs = results.setdefault("runs", [])
        for n in args.sites:
            for w in args.workers:
                r = run_once(
                    n,
                    args.vehicles,
                    w,
                    args.branches,
                    args.tightness,
                    args.gap,
                    args.tol,
                    args.max_rounds,
                    args.scheduler,
                )
                runs[:] = [
                    x for x in runs if (x["sites"], x["vehicles_per_site"], x["workers"]) != (n, args.vehicles, w)
                ]
                runs.append(r)
                print(json.dumps({k: v for k, v in r.items() if k != "round_seconds"}), flush=True)
                out_path.write_text(json.dumps(results, indent=1))
    out_path.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
