"""The linear network model's error against pandapower's AC power flow (issue 12; docs/network.md).

    .venv-grid/bin/python benchmarks/network_error.py                          # three LV grids, -11..+22 kW
    .venv-grid/bin/python benchmarks/network_error.py --codes 1-MV-semiurb--0-sw --kw -100 400 --draws 60

For each grid: ``linearise`` a day (default 2024-01-15, ``--start``; 96 steps of 15 min, EV buses = the non-slack
buses with a load, margins 0) and draw random EV power at a random half of those buses, each uniform
in ``--kw`` (seed 1), at random steps; compare the linear voltages and branch-end flows with
``pandapower.runpp`` and print the largest and 95th-percentile errors, over all draws and over the
draws whose AC loadings stay within their limits (the region a plan may use).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

CODES = ["1-LV-rural1--0-sw", "1-LV-semiurb4--0-sw", "1-LV-urban6--0-sw"]


def measure(
    code: str, kw: tuple[float, float], draws: int, seed: int = 1, start: str = "2024-01-15T00:00+01:00"
) -> dict:
    import gridopt.network as gn

    nd = gn.load_network(code)
    prof = nd.profiles(start, 96, 15)
    name = dict(zip(nd.buses.pp_index, nd.buses.index, strict=True))
    buses = [name[b] for b in sorted(set(nd.net.load.bus)) if not nd.buses.at[name[b], "is_slack"]]
    lin = gn.linearise(nd, prof, buses, vm_margin_pu=0.0, flow_margin_pct=0.0)
    pf = gn.PowerFlow(nd, buses)
    rng = np.random.default_rng(seed)
    rating = lin.flows.rating_kva.to_numpy()
    mon = nd.buses.index.get_indexer(lin.buses)
    limit = nd.elements.max_loading_percent.to_numpy()
    ev, ef, inside = [], [], []
    for _ in range(draws):
        t = int(rng.integers(96))
        p = np.where(rng.random(len(buses)) < 0.5, rng.uniform(kw[0], kw[1], len(buses)), 0.0)
        pf.set_base(prof, t)
        pf.set_ev(p, 0 * p)
        if not pf.solve():
            continue
        pfr, _, pto, _ = pf.branch_power()
        flow = 100.0 * np.concatenate([pfr, pto]) / rating
        plan = np.zeros((96, len(buses)))
        plan[t] = p
        vm_lin, flow_lin = lin.predict(plan)
        ev.append(np.abs(vm_lin[t] - pf.vm_pu()[mon]).max())
        ef.append(np.abs(flow_lin[t] - flow).max())
        inside.append(bool((pf.loading_percent() <= limit).all()))
    ev, ef, inside = np.array(ev), np.array(ef), np.array(inside)
    return {
        "code": code,
        "ev_buses": len(buses),
        "draws": len(ev),
        "inside": int(inside.sum()),
        "vm_max": ev.max(),
        "vm_p95": np.percentile(ev, 95),
        "flow_max": ef.max(),
        "flow_p95": np.percentile(ef, 95),
        "vm_max_inside": ev[inside].max() if inside.any() else float("nan"),
        "flow_max_inside": ef[inside].max() if inside.any() else float("nan"),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codes", nargs="+", default=CODES)
    ap.add_argument("--kw", nargs=2, type=float, default=(-11.0, 22.0), metavar=("LOW", "HIGH"))
    ap.add_argument("--draws", type=int, default=150)
    ap.add_argument(
        "--start", default="2024-01-15T00:00+01:00", help="first step of the day (default: a winter Monday)"
    )
    args = ap.parse_args(argv)
    print(
        "| grid | EV buses | draws (within limits) | vm error max / p95 [pu] | flow error max / p95 [%] | within limits: vm, flow |"
    )
    print("|---|---|---|---|---|---|")
    for code in args.codes:
        r = measure(code, tuple(args.kw), args.draws, start=args.start)
        print(
            f"| {r['code']} | {r['ev_buses']} | {r['draws']} ({r['inside']}) | {r['vm_max']:.4f} / {r['vm_p95']:.4f} | "
            f"{r['flow_max']:.2f} / {r['flow_p95']:.2f} | {r['vm_max_inside']:.4f}, {r['flow_max_inside']:.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
