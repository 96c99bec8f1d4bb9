"""Write a plan's files: schedule.csv, site.csv, summary.json.

Files are written into a temporary folder beside ``DIR`` and moved into place
only when all of them are complete: a failure leaves ``DIR`` as it was.
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

SCHEDULE_COLUMNS = ["time", "vehicle_id", "plugged_in", "charge_kw", "discharge_kw", "soc_kwh"]
SITE_COLUMNS = [
    "time",
    "grid_import_kw",
    "grid_export_kw",
    "base_load_kw",
    "pv_kw",
    "pv_used_kw",
    "ev_charge_kw",
    "ev_discharge_kw",
    "import_price",
    "export_price",
]


def _iso(s: pd.Series) -> pd.Series:
    return s.map(lambda t: pd.Timestamp(t).isoformat())


def schedule_csv(schedule: pd.DataFrame) -> str:
    """The schedule as CSV text (times ISO 8601 with offset; soc empty while away; station_id if any)."""
    columns = list(SCHEDULE_COLUMNS)
    if "station_id" in schedule:  # only scenarios whose sessions name stations
        columns.insert(columns.index("vehicle_id") + 1, "station_id")
    out = schedule[columns].copy()
    for col in ("charge_kw", "discharge_kw", "soc_kwh"):
        out[col] = out[col] + 0.0  # no "-0" in the file
    out["time"] = _iso(out["time"])
    out["plugged_in"] = out["plugged_in"].astype(int)
    return out.to_csv(index=False, float_format="%.6g", na_rep="")


def site_csv(site: pd.DataFrame) -> str:
    out = site.reset_index()
    out = out.rename(columns={out.columns[0]: "time"})[SITE_COLUMNS]
    out["time"] = _iso(out["time"])
    return out.to_csv(index=False, float_format="%.6g")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (pd.Timestamp,)):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _finite(o):
    """JSON has no inf/nan: write them as null."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_finite(v) for v in o]
    return o


def summary_json(summary: dict) -> str:
    return json.dumps(_finite(summary), indent=2, default=_json_default, allow_nan=False) + "\n"


def write_results(result, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``schedule.csv``, ``site.csv`` and ``summary.json`` of ``result`` into ``out_dir``.

    All files appear together or not at all.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = {
        "schedule.csv": schedule_csv(result.schedule),
        "site.csv": site_csv(result.site),
        "summary.json": summary_json(result.summary),
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
        out.mkdir(exist_ok=True)
        written = []
        for name in files:
            os.replace(tmp / name, out / name)
            written.append(out / name)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
