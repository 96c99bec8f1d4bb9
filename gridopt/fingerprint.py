"""A content hash of a scenario: equal inputs to the optimizer, equal hash.

Used as the key of cached solves: a scenario loaded twice, saved and loaded
again, or rebuilt from an edit that changes nothing has the same fingerprint,
wherever its files live.
"""

from __future__ import annotations

import hashlib
import json
import math

import pandas as pd

from .scenario import GridTerms, Scenario


def _num(x: float):
    return repr(float(x)) if math.isfinite(x) else str(x)


def scenario_fingerprint(sc: Scenario) -> str:
    """SHA-256 (hex) of everything the optimizer reads from ``sc``.

    Covers the name, the time grid, limits, costs, solver options, the time
    series and the fleet tables; not the description, the file paths or the
    file line numbers kept for messages.
    """
    head = {
        "name": sc.name,
        "start": sc.grid.start.isoformat(),
        "timezone": sc.timezone,
        "n_steps": sc.grid.n_steps,
        "step_minutes": sc.grid.step_minutes,
        "import_limit_kw": _num(sc.import_limit_kw),
        "export_limit_kw": _num(sc.export_limit_kw),
        "demand_charge_per_kw": _num(sc.demand_charge_per_kw),
        "battery_degradation_cost_per_kwh": _num(sc.battery_degradation_cost_per_kwh),
        "unmet_energy_penalty_per_kwh": _num(sc.unmet_energy_penalty_per_kwh),
        "time_limit_s": _num(sc.solver.time_limit_s),
        "mip_rel_gap": _num(sc.solver.mip_rel_gap),
    }
    if sc.grid_terms != GridTerms():  # the grid block's weights and caps (events are in the series)
        head["grid_terms"] = {
            k: v if isinstance(v, (str, bool)) or v is None else _num(v) for k, v in vars(sc.grid_terms).items()
        }
    h = hashlib.sha256(json.dumps(head, sort_keys=True).encode())
    tables = {
        "series": sc.series,
        "vehicles": sc.vehicles.drop(columns=["line"], errors="ignore"),
        "trips": sc.trips.reset_index(drop=True),
        "sessions": sc.sessions.reset_index(drop=True),
    }
    if getattr(sc, "chargers", None) is not None:  # site.chargers, site.circuit, site.reassign_at
        tables["chargers"] = sc.chargers.reset_index(drop=True)
        if sc.circuit is not None:
            tables["circuit"] = sc.circuit.reset_index(drop=True)
        h.update(f"\0reassign_at\0{sorted(sc.reassign_at)}".encode())
    for name, df in tables.items():
        h.update(f"\0{name}\0".encode())
        h.update(_csv(df).encode())
    return h.hexdigest()


def _csv(df: pd.DataFrame) -> str:
    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.tz_convert("UTC")
    if isinstance(out.index, pd.DatetimeIndex) and out.index.tz is not None:
        out.index = out.index.tz_convert("UTC")
    return out.to_csv(float_format="%.17g", na_rep="")
