"""``gridopt feeder FEEDER.yaml --out DIR``: plan the sites of a feeder, check by AC power flow, write the results.

Files in ``DIR``:

* ``buses.csv``: ``time, bus, ev_p_kw, case`` (the sites' net load per bus [kW]; cases ``baseline``,
  ``alone``, ``plan``; SimBench bus names).
* ``elements.csv``: ``time, element, kind, loading_percent, vm_pu, limit_low, limit_high, violated,
  case`` (pandapower's AC power flow of every step and case: transformers and lines by loading [%],
  buses by voltage [pu]).
* ``sites/<name>/``: ``schedule.csv``, ``site.csv``, ``summary.json`` of each site's plan, as
  ``gridopt run`` writes them (plus the site's baseline and alone KPIs in its summary).
* ``summary.json``: the cases' violations and costs, violations avoided, the cost against the sites
  alone, the AC iterations, the method (central or decomposition) and its convergence, provenance.
* ``network.json``: buses (name, level, coordinates from the net's geodata), lines and transformers
  as edges, the EV buses: enough for the app to draw the feeder without pandapower.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

DESCRIPTION = """\
Plan the sites of a feeder together (a SimBench network, sites at its buses, or home chargers
spread over its homes) so that the transformers and lines stay within their loading limits and the
voltages within their band, verified by pandapower's AC power flow step by step; compare with
uncontrolled charging and with each site's own optimum. Needs the grid extra (pandapower,
simbench). See docs/feeders.md.
"""

CASES = ("baseline", "alone", "plan")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``feeder`` on the main command's sub-parsers."""
    p = subparsers.add_parser(
        "feeder",
        help="plan the sites of a distribution feeder within its network limits (AC-checked)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("feeder", help="feeder YAML (see docs/feeders.md)")
    p.add_argument("--out", required=True, help="output folder (new, empty, or an earlier feeder run's)")
    p.add_argument(
        "--method",
        choices=("auto", "central", "decompose"),
        default="auto",
        help="central: one MILP; decompose: column generation with the sites on Dask; auto: central for small "
        "feeders, decompose with --scheduler/--workers or many vehicles",
    )
    p.add_argument("--scheduler", help="address of a running Dask scheduler (decomposition)")
    p.add_argument("--workers", type=int, help="worker processes of a LocalCluster for the decomposition")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors and warnings")
    return p


def _geo(net) -> dict:
    """Bus coordinates by pandapower bus index (GeoJSON ``geo`` column or the older ``bus_geodata``)."""
    out = {}
    bus = net.bus
    if "geo" in bus:
        for i, g in bus["geo"].items():
            if isinstance(g, str) and g:
                try:
                    c = json.loads(g).get("coordinates")
                except (ValueError, AttributeError):
                    continue
                if isinstance(c, list) and len(c) >= 2:
                    out[int(i)] = (float(c[0]), float(c[1]))
    elif "bus_geodata" in net and len(net.bus_geodata):
        for i, r in net.bus_geodata.iterrows():
            out[int(i)] = (float(r.x), float(r.y))
    return out


def network_json(fd) -> dict:
    """The feeder's drawing: buses with coordinates, lines and transformers as edges, EV buses and sites."""
    nd = fd.network
    geo = _geo(nd.net)
    sites_at: dict = {}
    for s in fd.sites:
        sites_at.setdefault(fd.ev_buses[s.bus], []).append(s.name)
    buses = [
        {
            "name": name,
            "level": r.level,
            "vn_kv": float(r.vn_kv),
            "x": geo.get(int(r.pp_index), (None, None))[0],
            "y": geo.get(int(r.pp_index), (None, None))[1],
            "vm_min_pu": float(r.vm_min_pu),
            "vm_max_pu": float(r.vm_max_pu),
            "slack": bool(r.is_slack),
            "sites": sites_at.get(name, []),
        }
        for name, r in nd.buses.iterrows()
    ]
    edges = [
        {
            "name": name,
            "kind": r.kind,
            "from": r.from_bus,
            "to": r.to_bus,
            "rating_kva": float(r.rating_kva),
            "max_loading_percent": float(r.max_loading_percent),
        }
        for name, r in nd.elements.iterrows()
    ]
    return {"network": nd.name, "crs": "lon/lat (SimBench geodata)", "buses": buses, "edges": edges}


def _iso(index) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(index).map(lambda t: t.isoformat()))


def buses_frame(outcome) -> pd.DataFrame:
    parts = []
    for name in CASES:
        c = getattr(outcome, name)
        long = c.bus_kw.stack().rename("ev_p_kw").reset_index()
        long.columns = ["time", "bus", "ev_p_kw"]
        long["time"] = _iso(long["time"])
        long["case"] = name
        parts.append(long)
    return pd.concat(parts, ignore_index=True)


def elements_frame(outcome) -> pd.DataFrame:
    parts = []
    for name in CASES:
        e = getattr(outcome, name).ac.elements.copy()
        e["time"] = _iso(e["time"]).to_numpy()
        e["case"] = name
        parts.append(e)
    return pd.concat(parts, ignore_index=True)


def _slug(name: str) -> str:
    from ..io.save import slug

    return slug(name)


def summary(outcome, method: str, invocation: str | None = None) -> dict:
    """The feeder run's ``summary.json``."""
    from ..provenance import now_iso, run_provenance

    fd = outcome.feeder
    cases = {}
    for name in CASES:
        c = getattr(outcome, name)
        cases[name] = {"cost": c.cost, **c.violations()}
    b, a, p = cases["baseline"], cases["alone"], cases["plan"]
    sol = outcome.solution
    info = {k: v for k, v in (sol.info or {}).items() if k != "history"}
    out = {
        "feeder": fd.name,
        "network": fd.network.name,
        "start": fd.index[0].isoformat(),
        "end": (fd.index[-1] + pd.Timedelta(minutes=fd.config.step_minutes)).isoformat(),
        "step_minutes": fd.config.step_minutes,
        "sites": [
            {"name": s.name, "bus": fd.ev_buses[s.bus], "vehicles": len(s.fleet_plan().vehicle_ids)} for s in fd.sites
        ],
        "n_sites": len(fd.sites),
        "n_vehicles": fd.n_vehicles,
        "ac_ok": bool(outcome.plan.ac.ok),
        "cases": cases,
        "violations_avoided": {
            ref: {
                "violations": cases[ref]["violations"] - p["violations"],
                "steps_with_violations": cases[ref]["steps_with_violations"] - p["steps_with_violations"],
            }
            for ref in ("baseline", "alone")
        },
        "cost_vs_alone": {
            "plan": p["cost"],
            "alone": a["cost"],
            "difference": p["cost"] - a["cost"],
            "percent": 100.0 * (p["cost"] - a["cost"]) / max(abs(a["cost"]), 1e-9),
        },
        "cost_vs_baseline": {"plan": p["cost"], "baseline": b["cost"], "difference": p["cost"] - b["cost"]},
        "method": method,
        "solution": {
            "objective": sol.objective,
            "lower_bound": sol.bound,
            "gap": sol.gap,
            "status": sol.status,
            "seconds": sol.seconds,
            **info,
        },
        "convergence": (sol.info or {}).get("history", []),
        "ac_iterations": outcome.iterations,
        "warnings": list(outcome.warnings),
        "seconds": outcome.seconds,
        "limits": "SimBench's bus voltage limits and max_loading_percent of lines and transformers (100 where none)",
    }
    digest = hashlib.sha256(Path(fd.path).read_bytes()).hexdigest()[:16]
    out["provenance"] = run_provenance(digest, now_iso(), now_iso(), solver={"name": "highs"})
    if invocation:
        out["provenance"]["command"] = invocation
    return out


def _json(obj) -> str:
    def default(o):
        if isinstance(o, (np.integer,)):
            return int(o)
        if isinstance(o, (np.floating,)):
            return float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    def clean(o):
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, np.floating):
            return clean(float(o))
        return o

    return json.dumps(clean(obj), indent=2, default=default) + "\n"


def _check_out(out: Path) -> None:
    from ..errors import OutputError

    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not ((out / "network.json").is_file() and (out / "summary.json").is_file()):
            raise OutputError(f"--out {out} holds other files; give a new or empty folder (or an earlier feeder run's)")


def write_outcome(outcome, out_dir, method: str, invocation: str | None = None) -> dict:
    """Write every file of a feeder run into ``out_dir`` (built in a sibling folder, then swapped in)."""
    from ..errors import OutputError
    from ..io.write import write_results

    out = Path(out_dir)
    _check_out(out)
    fd = outcome.feeder
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    summ = summary(outcome, method, invocation)
    try:
        tmp.mkdir(parents=True)
        buses_frame(outcome).to_csv(tmp / "buses.csv", index=False)
        elements_frame(outcome).to_csv(tmp / "elements.csv", index=False)
        (tmp / "network.json").write_text(_json(network_json(fd)))
        for i, s in enumerate(fd.sites):
            schedule, table, unmet = outcome.plan.frames[i]
            k = outcome.plan.kpis[i]
            site_sum = {
                "scenario": s.name,
                "feeder": fd.name,
                "bus": fd.ev_buses[s.bus],
                "status": outcome.solution.status,
                "currency": s.scenario.currency,
                **k,
                "baseline": outcome.baseline.kpis[i],
                "alone": outcome.alone.kpis[i],
                "cost_vs_alone": k["objective"] - outcome.alone.kpis[i]["objective"],
                "warnings": list(s.scenario.warnings),
            }
            write_results(
                SimpleNamespace(schedule=schedule, site=table, summary=site_sum), tmp / "sites" / _slug(s.name)
            )
        (tmp / "summary.json").write_text(_json(summ))
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write results to {out_dir}: {exc.strerror or exc}") from None
    return summ


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1f}%"


def _vm(c: dict) -> str:
    return "-" if c["min_vm_pu"] is None else f"{c['min_vm_pu']:.3f}-{c['max_vm_pu']:.3f} pu"


def print_summary(s: dict, out_dir) -> None:
    cur = ""
    print(
        f"{s['feeder']}: {s['n_sites']} sites, {s['n_vehicles']} vehicles on {s['network']}, {s['start']} to {s['end']}"
    )
    print(f"{'case':<10}{'cost':>12}{'violations':>12}{'steps':>7}{'trafo max':>11}{'line max':>10}  voltage")
    for name in CASES:
        c = s["cases"][name]
        print(
            f"{name:<10}{c['cost']:>12.2f}{c['violations']:>12d}{c['steps_with_violations']:>7d}"
            f"{_pct(c['max_trafo_loading_percent']):>11}{_pct(c['max_line_loading_percent']):>10}  {_vm(c)}"
        )
    d = s["cost_vs_alone"]
    print(
        f"plan vs sites alone: {d['difference']:+.2f}{cur} ({d['percent']:+.2f}%); "
        f"violations avoided: {s['violations_avoided']['baseline']['violations']} vs uncontrolled, "
        f"{s['violations_avoided']['alone']['violations']} vs sites alone"
    )
    if s["ac_ok"]:
        print(f"AC power flow: the plan keeps every limit ({len(s['ac_iterations'])} round(s))")
    else:
        print(
            f"AC power flow: the plan still breaks {s['cases']['plan']['violations']} limits after "
            f"{len(s['ac_iterations'])} rounds: {'; '.join(s['cases']['plan']['first_violations'][:2])}"
        )
    print(f"written to {out_dir}")


def run(args: argparse.Namespace) -> int:
    """Run ``gridopt feeder``; errors propagate to :func:`gridopt.cli.main` (one line, exit code)."""
    from ..cli import one_line
    from ..errors import ScenarioError
    from ..provenance import INVOCATION
    from .feeder import load_feeder, plan_feeder

    if args.workers is not None and args.workers < 1:
        raise ScenarioError(f"--workers must be at least 1 (got {args.workers})")
    method = args.method
    if (args.scheduler or args.workers) and method == "central":
        raise ScenarioError("--scheduler/--workers run the decomposition: drop them or use --method decompose")
    _check_out(Path(args.out))
    fd = load_feeder(args.feeder)
    for w in fd.warnings:
        print(f"warning: {one_line(w)}", file=sys.stderr)
    say = None if args.quiet else (lambda m: print(m, file=sys.stderr))
    client = cluster = None
    if args.scheduler or args.workers or method == "decompose":
        from ..batch.runner import _client, _require_scale

        _require_scale()
        client, cluster = _client(args.scheduler, args.workers)
    try:
        outcome = plan_feeder(fd, client=client, method=method, log=say)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    for w in outcome.warnings:
        if w not in fd.warnings:
            print(f"warning: {one_line(w)}", file=sys.stderr)
    used = outcome.solution.info.get("method", method)
    s = write_outcome(outcome, args.out, used, INVOCATION.get())
    if not args.quiet:
        print_summary(s, args.out)
    return 0
