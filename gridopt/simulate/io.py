"""The simulation's only file access: read the actual table and a history, write the report.

Output files, all written together or none (staged in a temporary folder
beside ``DIR``, then moved into place):

================  ==============================================================
``report.md``     the comparison in Markdown
``comparison.csv`` one row per policy (:data:`~gridopt.simulate.report.COMPARISON_COLUMNS`)
``summary.json``  settings, period, the comparison, robustness and per-day tables
``daily.csv``     per policy and local day
``solves.csv``    one row per solver run: policy, time, seconds, vehicles, status
``site.csv``      per policy and step: gridopt's site columns
``unmet.csv``     per policy and requirement: required and reached SoC, unmet energy
================  ==============================================================
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ScenarioError
from ..io.read import read_table
from ..scenario import Scenario
from .actual import Actual, actual_from_table
from .engine import SimulationResult
from .forecasting import SessionForecaster
from .report import comparison_table, daily_table, markdown_report, robustness_table


def read_actual(path: str | os.PathLike, sc: Scenario) -> Actual:
    """Read the ``--actual`` sessions or trips (see :mod:`gridopt.simulate.actual`) for scenario ``sc``."""
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"{path}: file not found")
    return actual_from_table(read_table(p, p.name), sc, p.name)


def forecaster_from_history(
    paths, sc: Scenario, site: str | None = None, vehicles: str | os.PathLike | None = None
) -> SessionForecaster:
    """Learn session forecasts from history files (ACN-Data or gridopt sessions.csv, see :func:`gridopt.forecast.read_history`).

    The history must end before the simulated period starts: a forecast may
    not learn from the period it is tested on.
    """
    from ..forecast import read_history

    hist = read_history(paths, sc.timezone, vehicles)
    if hist.kind != "sessions":
        raise ScenarioError(f"{', '.join(hist.sources)}: --history must hold sessions, not trips")
    late = hist.frame["arrival"] >= sc.grid.start
    if late.any():
        first = hist.frame.loc[late, "arrival"].min()
        raise ScenarioError(
            f"{', '.join(hist.sources)}: the history has sessions from {first.isoformat()}, inside the simulated "
            f"period (from {sc.grid.start.isoformat()}): forecasts may only learn from before it"
        )
    return SessionForecaster(hist.frame, sc.timezone, site)


def _iso_index(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].map(lambda t: "" if pd.isna(t) else pd.Timestamp(t).isoformat())
    return out


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if math.isnan(o) else float(o)
    if isinstance(o, pd.Timestamp):
        return o.isoformat()
    raise TypeError(f"not JSON serializable: {type(o)}")


def _records(df: pd.DataFrame) -> list:
    df = df.astype(object).where(df.notna(), None)
    return df.to_dict(orient="records")


def report_files(res: SimulationResult, command: str | None = None) -> dict[str, str]:
    """The report's files as ``{name: text}``."""
    comp = comparison_table(res)
    daily = daily_table(res)
    rob = robustness_table(res)
    solves = pd.DataFrame([s for o in res.outcomes.values() for s in o.solves])
    site_parts, unmet_parts = [], []
    for name, out in res.outcomes.items():
        s = out.site.reset_index()
        s = s.rename(columns={s.columns[0]: "time"})
        s.insert(0, "policy", name)
        site_parts.append(s)
        u = out.unmet.copy()
        u.insert(0, "policy", name)
        unmet_parts.append(u)
    site = pd.concat(site_parts, ignore_index=True)
    site["time"] = site["time"].map(lambda t: pd.Timestamp(t).isoformat())
    unmet = pd.concat(unmet_parts, ignore_index=True)
    unmet["time"] = unmet["time"].map(lambda t: pd.Timestamp(t).isoformat())
    summary = {
        **res.info,
        "command": command,
        "settings": {
            "replan_minutes": res.info["replan_minutes"],
            "replan_on_events": res.settings.replan_on_events,
            "lookahead_hours": res.settings.lookahead_hours,
            "seed": res.settings.seed,
            "solver": (
                {"time_limit_s": res.settings.options.time_limit_s, "mip_rel_gap": res.settings.options.mip_rel_gap}
                if res.settings.options
                else {"time_limit_s": res.scenario.solver.time_limit_s, "mip_rel_gap": res.scenario.solver.mip_rel_gap}
            ),
        },
        "comparison": _records(comp),
        "robustness": _records(rob),
        "daily": _records(daily),
    }
    fmt = "%.6g"
    return {
        "report.md": markdown_report(res, command),
        "comparison.csv": comp.to_csv(index=False, float_format=fmt),
        "summary.json": json.dumps(summary, indent=2, default=_json_default, allow_nan=False) + "\n",
        "daily.csv": daily.to_csv(index=False, float_format=fmt),
        "solves.csv": _iso_index(solves).to_csv(index=False, float_format=fmt),
        "site.csv": site.to_csv(index=False, float_format=fmt),
        "unmet.csv": unmet.to_csv(index=False, float_format=fmt),
    }


def write_report(res: SimulationResult, out_dir: str | os.PathLike, command: str | None = None) -> list[str]:
    """Write the report's files into ``out_dir`` (all of them or none); return their names."""
    files = report_files(res, command)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ScenarioError(f"--out {out_dir} exists and is not a folder")
    parent = out.resolve().parent
    if not parent.exists():
        raise ScenarioError(f"--out {out_dir}: folder {str(parent)!r} does not exist")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
        out.mkdir(exist_ok=True)
        for name in files:
            os.replace(tmp / name, out / name)
    except OSError as exc:
        raise ScenarioError(f"cannot write the report to {out_dir}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return list(files)
