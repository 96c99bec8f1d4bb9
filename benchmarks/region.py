"""100,000 vehicles as a region of independent sites, solved on Dask (issue 10 item 4).

    python benchmarks/region.py --sites 1000 --vehicles 100 --workers 2
    python benchmarks/region.py --sites 1000 --scheduler tcp://host:8786

Each site is a seeded synthetic day (:func:`gridopt.synthetic.write_synthetic_fleet`,
site ``i`` with seed ``i``) solved by the fast path in a Dask task; the
coordinator only sums the costs and bounds. The region's proven gap is
``(sum of costs - sum of bounds) / |sum of bounds|``: each site's bound is proven,
so their sum bounds the region's optimum. The cluster is
:func:`gridopt.batch.runner._client`'s (a ``LocalCluster`` of single-threaded
worker processes on 127.0.0.1, or ``Client(ADDRESS)``). Writes
``benchmarks/region_results.json`` and prints a summary with the wall time,
per-task times (so more workers can be estimated: wall ~ sum of task times /
workers) and the largest worker's peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def solve_site(i: int, n: int, gap: float) -> dict:
    """Solve site ``i`` (``n`` vehicles, seed ``i``); its cost, bound, status and times."""
    import resource
    import tempfile

    import gridopt
    from gridopt.synthetic import write_synthetic_fleet

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        sc = gridopt.load_scenario(write_synthetic_fleet(d, n, seed=i, mip_rel_gap=gap, time_limit_s=60))
    s = gridopt.optimize(sc, baseline=False).summary
    return {
        "site": i,
        "status": s["status"],
        "cost": s["total_cost"],
        "bound": s["lower_bound"],
        "gap": s["mip_gap"],
        "task_s": time.perf_counter() - t0,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pid": os.getpid(),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=1000)
    ap.add_argument("--vehicles", type=int, default=100, help="vehicles per site")
    ap.add_argument("--gap", type=float, default=1e-3, help="each site's gap target")
    ap.add_argument("--workers", type=int, help="LocalCluster worker processes (default: the usable cores)")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler")
    ap.add_argument("--out", default=str(HERE / "region_results.json"))
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from run import machine

    from gridopt.batch.runner import _client

    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    client, cluster = _client(args.scheduler, args.workers)
    try:
        workers = len(client.scheduler_info()["workers"])
        futures = client.map(solve_site, range(args.sites), n=args.vehicles, gap=args.gap, pure=False)
        rows = client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    wall = time.perf_counter() - t0
    cost = sum(r["cost"] for r in rows)
    bound = sum(r["bound"] for r in rows)
    task_s = [r["task_s"] for r in rows]
    out = {
        "machine": machine(),
        "sites": args.sites,
        "vehicles_per_site": args.vehicles,
        "vehicles": args.sites * args.vehicles,
        "workers": workers,
        "load_before": load,
        "wall_s": wall,
        "task_s_median": statistics.median(task_s),
        "task_s_sum": sum(task_s),
        "statuses": sorted({r["status"] for r in rows}),
        "cost": cost,
        "bound": bound,
        "region_gap": (cost - bound) / max(abs(bound), 1.0),
        "worst_site_gap": max(r["gap"] for r in rows),
        "peak_worker_mb": max(r["peak_mb"] for r in rows),
    }
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k != "machine"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
