"""The slim LP (issue 10 item 5): HiGHS time of the fast path's first LP with and without it.

    python benchmarks/slim_lp.py                    # both cases, 3 fresh processes per form
    python benchmarks/slim_lp.py --case acn469 --repeat 5

Cases:

* ``normal10k``: the 10,000-vehicle normal day of ``benchmarks/run.py``
  (``gridopt.synthetic.write_synthetic_fleet(n=10000, seed=1)``: 40% V2G, so 60%
  of the vehicles are charge-only).
* ``acn469``: a day of 469 real ACN-Data sessions (Caltech and JPL, 2019,
  ``../shared/data/acn_sessions``): the sessions of the busiest weekdays, their
  times of day kept and moved onto 2 October 2019, one vehicle per session
  (the models of ``scenarios/workplace_acn``), charge-only as at ACN, target =
  arrival SoC + delivered energy; the workplace_acn tariff (SCE TOU-EV-4 with a
  demand charge), 15-minute steps.

The LP is the fast path's first solve (:func:`gridopt.optimizer.fast.solve_fast`):
``build_matrix(modes=False, hull=True)`` without its hull rows, unscaled when
well scaled. ``lp s`` is HiGHS's ``run()`` only (loading excluded), median of
the fresh processes; ``build s`` the matrix build. The optimum must agree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ACN = ROOT.parent / "shared" / "data" / "acn_sessions"
ACN_FILES = ("caltech_2019-09-01_2019-12-31", "jpl_2019-09-01_2019-12-31")


def write_acn_day(folder: Path, n_sessions: int = 469, seed: int = 0) -> Path:
    """The ``acn469`` scenario in ``folder`` (see the module doc); returns its YAML path."""
    import numpy as np
    import pandas as pd
    import yaml

    src = ROOT / "scenarios" / "workplace_acn.yaml"
    cfg = yaml.safe_load(src.read_text())
    data = folder / "data"
    shutil.copytree(ROOT / "scenarios" / "data" / "workplace_acn", data)
    tz = "America/Los_Angeles"
    day = pd.Timestamp("2019-10-02", tz=tz)
    frames = [pd.read_csv(ACN / f"{f}.csv.gz") for f in ACN_FILES]
    ses = pd.concat(frames, ignore_index=True)
    arr = pd.to_datetime(ses["arrival"], utc=True).dt.tz_convert(tz)
    dep = pd.to_datetime(ses["departure"], utc=True).dt.tz_convert(tz)
    same_day = (arr.dt.date == dep.dt.date) & (arr.dt.day_of_week < 5) & (ses["delivered_energy (kWh)"] > 0)
    ses, arr, dep = ses[same_day], arr[same_day], dep[same_day]
    busiest = arr.dt.date.value_counts().index  # busiest days first, until there are enough sessions
    picked = []
    for d in busiest:
        picked.append(np.flatnonzero((arr.dt.date == d).to_numpy()))
        if sum(len(p) for p in picked) >= n_sessions:
            break
    idx = np.concatenate(picked)[:n_sessions]
    a = arr.iloc[idx]
    dd = dep.iloc[idx]
    a_new = day + (a - a.dt.normalize()).to_numpy()
    d_new = day + (dd - dd.dt.normalize()).to_numpy()
    models = pd.read_csv(data / "vehicles.csv")
    models = models[models["max_discharge_kw"] <= 0] if (models["max_discharge_kw"] <= 0).any() else models
    rng = np.random.default_rng(seed)
    veh = models.iloc[np.arange(n_sessions) % len(models)].reset_index(drop=True).copy()
    veh["vehicle_id"] = [f"ACN-{i:04d}" for i in range(n_sessions)]
    veh["max_discharge_kw"] = 0.0
    B = veh["battery_kwh"].to_numpy(float)
    a_soc = rng.uniform(0.2, 0.6, n_sessions)
    energy = ses["delivered_energy (kWh)"].to_numpy(float)[idx]
    t_soc = np.minimum(a_soc + energy / B, veh["max_soc"].to_numpy(float))
    veh.to_csv(data / "vehicles.csv", index=False)
    pd.DataFrame(
        {
            "vehicle_id": veh["vehicle_id"],
            "arrival": [t.isoformat() for t in a_new],
            "departure": [t.isoformat() for t in d_new],
            "arrival_soc": a_soc.round(4),
            "target_soc": t_soc.round(4),
            "session_id": [f"acn-{i:04d}" for i in range(n_sessions)],
        }
    ).to_csv(data / "sessions.csv", index=False)
    cfg["name"] = "acn-469"
    cfg["description"] = "469 real ACN-Data sessions on one day (benchmarks/slim_lp.py)"
    cfg["site"] = {"import_limit_kw": 2000, "export_limit_kw": 0}
    cfg["timeseries"] = "data/timeseries.csv"
    cfg["tariff"]["tariff_file"] = "data/" + Path(cfg["tariff"]["tariff_file"]).name
    cfg["fleet"] = {"vehicles": "data/vehicles.csv", "sessions": "data/sessions.csv"}
    path = folder / "acn469.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def scenario(case: str, folder: Path):
    import gridopt
    from gridopt.synthetic import write_synthetic_fleet

    if case == "normal10k":
        return gridopt.load_scenario(write_synthetic_fleet(folder, 10000, seed=1, mip_rel_gap=5e-3))
    if case == "acn469":
        return gridopt.load_scenario(write_acn_day(folder))
    raise SystemExit(f"unknown case {case!r}")


def one_lp(case: str, slim: bool, solver: str = "simplex") -> dict:
    """Build and solve the fast path's first LP of ``case`` in this process."""
    import highspy

    from gridopt.fleet import build_fleet_plan
    from gridopt.optimizer.fast import _highs, _pass, well_scaled
    from gridopt.optimizer.matrix import build_matrix, slim_segments

    with tempfile.TemporaryDirectory() as d:
        sc = scenario(case, Path(d))
        plan = build_fleet_plan(sc)
        t0 = time.perf_counter()
        lp = build_matrix(sc, plan, modes=False, hull=True, slim=slim)
        build_s = time.perf_counter() - t0
        h = _highs()
        if well_scaled(lp):
            h.setOptionValue("simplex_scale_strategy", 0)
        if solver != "simplex":
            h.setOptionValue("solver", solver)
        _pass(h, lp, integral=False, n_rows=lp.n_rows - lp.n_hull_rows)
        t1 = time.perf_counter()
        h.run()
        lp_s = time.perf_counter() - t1
        info = h.getInfo()
        return {
            "lp_s": lp_s,
            "build_s": build_s,
            "status": h.modelStatusToString(h.getModelStatus()),
            "objective": info.objective_function_value,
            "iterations": int(info.simplex_iteration_count) + int(info.ipm_iteration_count),
            "columns": lp.n_cols,
            "rows": lp.n_rows - lp.n_hull_rows,
            "nonzeros": int(lp.a_start[lp.n_rows - lp.n_hull_rows]),
            "vehicles": len(plan.vehicle_ids),
            "slim_segments": int(slim_segments(sc, plan).sum()),
            "segments": len(plan.segments),
            "status_ok": h.getModelStatus() == highspy.HighsModelStatus.kOptimal,
        }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=["normal10k", "acn469"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--solver", default="simplex", help="HiGHS solver option: simplex, ipm, pdlp")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        case, slim, solver = json.loads(args.worker)
        print(json.dumps(one_lp(case, slim, solver)))
        return 0
    rows = []
    for case in args.case or ["acn469", "normal10k"]:
        for slim in (False, True):
            runs, loads = [], []
            for _ in range(args.repeat):
                loads.append(os.getloadavg()[0])
                cmd = [sys.executable, __file__, "--worker", json.dumps([case, slim, args.solver])]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                runs.append(json.loads(out.strip().splitlines()[-1]))
            r = dict(runs[0])
            r["lp_s"] = statistics.median(x["lp_s"] for x in runs)
            r["build_s"] = statistics.median(x["build_s"] for x in runs)
            r["lp_s_all"] = [round(x["lp_s"], 2) for x in runs]
            r["load"] = statistics.median(loads)
            r["case"], r["slim"] = case, slim
            rows.append(r)
            print(
                f"| {case} | {'slim' if slim else 'full'} | {args.solver} | {r['vehicles']:,} | "
                f"{r['slim_segments']:,} of {r['segments']:,} | {r['columns']:,} | {r['rows']:,} | "
                f"{r['nonzeros']:,} | {r['build_s']:.2f} | {r['lp_s']:.2f} ({', '.join(map(str, r['lp_s_all']))}) | "
                f"{r['iterations']:,} | {r['objective']:.4f} | {r['load']:.1f} |",
                flush=True,
            )
    (HERE / "slim_lp_results.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
