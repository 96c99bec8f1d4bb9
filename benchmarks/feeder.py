"""Feeder decomposition at scale (issue 12): sites coupled by network rows, priced on Dask.

    python benchmarks/feeder.py --sites 10 100 1000 --vehicles 100 --workers 1 2 --max-rounds 40   (docs/feeders.md)
    python benchmarks/feeder.py --gap-check            # decomposed vs central on a small feeder

Sites are seeded synthetic days (:func:`gridopt.synthetic.write_synthetic_fleet`, site ``i`` with
seed ``i``, 15-minute steps), built on the Dask workers. The network is a synthetic linear radial
feeder (no pandapower, so the size is the sites', not the power flow's): one transformer row over
all sites and, for each of ``--branches`` branches (sites round-robin), a line loading row and an
end-of-line voltage row::

    trafo:  100 / S_trafo * sum_s p[s, t]                 <= 100 - base_trafo_pct
    line b: 100 / S_line * sum_{s on b} p[s, t]           <= 100 - base_line_pct
    vm b:   -dv * sum_{s on b} p[s, t] * (1 + pos_s)      >= 0.95 - 1.0   (pos_s in (0, 1]: where on b)

with the ratings set from the sites-alone optimum (``--tightness`` of its peak), so that the rows
bind. Each run: the sites alone (their MILPs, batched tasks), then
:func:`gridopt.network.decompose.decompose` started from them (LP pricing on the workers' cached
LPs, batched; the master LP here; the repair's MILPs as tasks). Reported: wall time per phase,
rounds, the per-round master and pricing times, the LP and MILP task times, the proven gap (repaired
cost vs the Lagrangian bound), the primal residual, the coordinator's peak memory (``ru_maxrss``) and
each worker's (its own ``VmHWM``, and its RSS sampled by psutil after every round; workers are
spawned, so nothing is inherited from this process), and the load average. The extrapolation to
more workers is measured: a round's pricing is ``sum of LP task times / workers`` plus the master's
time, the repair ``sum of MILP task times / workers`` plus its sequential part. Writes
``benchmarks/feeder_results.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def build_site(folder: str, i: int, n_vehicles: int, branches: int, gap: float):
    """Synthetic site ``i`` (seed ``i``) on branch ``i % branches``, written under ``folder``."""
    import gridopt
    from gridopt.network.plan import Site
    from gridopt.synthetic import write_synthetic_fleet

    path = write_synthetic_fleet(Path(folder) / f"s{i:04d}", n_vehicles, seed=i, mip_rel_gap=gap, time_limit_s=60)
    site = Site(f"site{i:04d}", i % branches, gridopt.load_scenario(path))
    site.fleet_plan()
    return site


def make_sites(folder: Path, n_sites: int, n_vehicles: int, branches: int, gap: float, client=None):
    if client is None:
        return [build_site(str(folder), i, n_vehicles, branches, gap) for i in range(n_sites)]
    futs = client.map(
        build_site, [str(folder)] * n_sites, range(n_sites), n_vehicles=n_vehicles, branches=branches, gap=gap
    )
    out = client.gather(futs)
    del futs
    return out


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


def worker_memory():
    """This process's RSS now and its own peak (``VmHWM``) [MB]; run on each worker by ``client.run``."""
    import psutil

    peak = math.nan
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return {"rss_mb": psutil.Process().memory_info().rss / 2**20, "hwm_mb": peak}


def run_once(
    n_sites, n_vehicles, workers, branches, tightness, gap, tol, max_rounds, smoothing, scheduler=None
) -> dict:
    from gridopt.batch.runner import _client
    from gridopt.network.decompose import _Dask, decompose, price_site
    from gridopt.scenario import SolverOptions

    opts = SolverOptions(time_limit_s=60, mip_rel_gap=gap)
    load0 = os.getloadavg()[0]
    loads = [load0]
    with tempfile.TemporaryDirectory() as tmp:
        client, cluster = _client(scheduler, workers)
        rss: dict = {}

        def sample(rec=None):
            for w, m in client.run(worker_memory).items():
                rss[w] = max(rss.get(w, 0.0), m["rss_mb"])
            loads.append(os.getloadavg()[0])
            if rec is not None:
                print(json.dumps(rec), file=sys.stderr, flush=True)

        try:
            t0 = time.perf_counter()
            sites = make_sites(Path(tmp), n_sites, n_vehicles, branches, gap, client)
            t_build = time.perf_counter() - t0
            t1 = time.perf_counter()
            run = _Dask(client, sites)
            alone = run.map_sites(price_site, sites, [(None, opts)] * n_sites)
            del run
            t_alone = time.perf_counter() - t1
            sample()
            alone_net = np.array([p.net_kw for p in alone])
            rows = make_rows(sites, alone_net, branches, tightness)
            t2 = time.perf_counter()
            sol = decompose(
                sites,
                rows,
                opts,
                client=client,
                tol=tol,
                max_iter=max_rounds,
                initial=alone,
                smoothing=smoothing,
                log=sample,
            )
            t_dec = time.perf_counter() - t2
            sample()
            mem = client.run(worker_memory)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    info = sol.info
    hist = info["history"]
    alone_cost = float(sum(p.cost for p in alone))
    rep = info["repair"]
    lp, milp = info["lp_task_seconds"], info["milp_task_seconds"]
    cg_s = sum(h["seconds"] for h in hist)
    return {
        "sites": n_sites,
        "vehicles_per_site": n_vehicles,
        "vehicles": n_sites * n_vehicles,
        "workers": workers,
        "smoothing": smoothing,
        "load_average_before": load0,
        "load_average_max": max(loads),
        "load_average_after": os.getloadavg()[0],
        "build_s": t_build,
        "alone_s": t_alone,
        "alone_task_s_total": float(sum(p.seconds for p in alone)),
        "decompose_s": t_dec,
        "column_generation_s": cg_s,
        "repair_s": rep.get("seconds", math.nan),
        "wall_s": t_alone + t_dec,
        "rounds": info["iterations"],
        "round_s_median": float(np.median([h["seconds"] for h in hist])) if hist else 0.0,
        "master_s_total": float(sum(h["master_seconds"] for h in hist)),
        "pricing_s_total": float(sum(h["pricing_seconds"] for h in hist)),
        "history": hist,
        "lp_tasks": lp,
        "milp_tasks": milp,
        "columns": info["columns"],
        "rows_kept": info["rows_kept"],
        "repair": rep,
        "alone_cost": alone_cost,
        "cost": sol.objective,
        "master_cost": info["master_cost"],
        "lagrangian_bound": sol.bound,
        "gap": sol.gap,
        "master_gap": hist[-1]["gap"] if hist else 0.0,
        "cost_vs_alone_percent": 100 * (sol.objective - alone_cost) / abs(alone_cost),
        "primal_residual": info["primal_residual"],
        "alone_excess_max": float(rows.excess(_bus(sites, alone_net, branches)).max()),
        "peak_coordinator_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_worker_hwm_mb": {w: m["hwm_mb"] for w, m in mem.items()},
        "peak_worker_rss_sampled_mb": rss,
    }


def extrapolate(r: dict, workers: list[int]) -> dict:
    """Measured task times scaled to ``w`` workers (perfect spread, same per-task times):
    alone ``alone task total / w``; column generation ``rounds x (master + LP task total per round / w)``;
    repair ``its parallel task total / w`` plus its sequential part (one site after another, the group MILP)."""
    rounds = max(1, r["rounds"])
    master = r["master_s_total"] / rounds
    lp_round = r["lp_tasks"]["total"] / rounds
    rep = r["repair"]
    seq = rep.get("sequential", {}).get("seconds", 0.0) + rep.get("central_seconds", 0.0)
    par = max(0.0, rep.get("task_seconds_total", 0.0) - rep.get("sequential", {}).get("seconds", 0.0))
    out = {}
    for w in workers:
        e = {
            "alone_s": r["alone_task_s_total"] / w,
            "round_s": master + lp_round / w,
            "column_generation_s": rounds * (master + lp_round / w),
            "repair_s": par / w + seq,
        }
        e["total_s"] = e["alone_s"] + e["column_generation_s"] + e["repair_s"]
        out[str(w)] = e
    return out


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
    ap.add_argument("--smoothing", type=float, default=None, help="Wentges smoothing (default: decompose's)")
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
                    args.smoothing,
                    args.scheduler,
                )
                r["extrapolation"] = extrapolate(r, [1, 2, 4, 8, 16, 32])
                runs[:] = [
                    x for x in runs if (x["sites"], x["vehicles_per_site"], x["workers"]) != (n, args.vehicles, w)
                ]
                runs.append(r)
                print(json.dumps({k: v for k, v in r.items() if k != "history"}), flush=True)
                out_path.write_text(json.dumps(results, indent=1))
    out_path.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
