"""One case of a sweep, as a Dask task: load, change, optimize, check, write, and one table row.

:func:`run_case` runs on a worker. It never raises for a case's own problems:
bad parameter combinations, infeasible sites, solver failures and time limits
all come back as a row with a ``status`` and a one-line ``message``. It is
idempotent: it writes ``DIR/cases/<id>/`` with :func:`gridopt.write_results`
(all files or none, replacing an earlier attempt) and returns the same row for
the same case.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from functools import lru_cache
from pathlib import Path

from ..errors import GridoptError, InfeasibleError, OutputError, PhysicsViolation, ScenarioError, SolverError
from .spec import Case

#: Status of a case that ended in an error, by the error's type (a plan's own status is optimal or time_limit).
ERROR_STATUS = (
    (ScenarioError, "bad_input"),
    (InfeasibleError, "infeasible"),
    (SolverError, "solver_failed"),
    (PhysicsViolation, "physics_violation"),
    (OutputError, "write_failed"),
)
#: Statuses that a rerun tries again (they may not happen twice); every other outcome is final.
RETRY_STATUSES = ("error", "worker_lost")
#: Summary keys that are not one number per case (lists, per-vehicle tables, solver stages).
SKIP_KEYS = ("unmet_energy_by_vehicle", "unmet_events", "warnings", "stages", "provenance")
#: Longest message kept in a row [characters].
MAX_MESSAGE_CHARS = 500


def one_line(text: str) -> str:
    """``text`` on one line, at most :data:`MAX_MESSAGE_CHARS` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 3] + "..."


def flatten(summary: dict) -> dict:
    """Every number and text of ``summary`` as one flat dict (nested keys joined by ``.``).

    Lists and per-vehicle tables are left out (:data:`SKIP_KEYS`), except the
    number of warnings (``n_warnings``) and of unmet events (``n_unmet_events``).

    >>> flatten({"total_cost": 1.0, "baseline": {"total_cost": 2.0}, "unmet_events": []})
    {'total_cost': 1.0, 'baseline.total_cost': 2.0, 'n_unmet_events': 0}
    """
    out: dict = {}

    def walk(d: dict, prefix: str) -> None:
        for k, v in d.items():
            if k in SKIP_KEYS:
                continue
            name = f"{prefix}{k}"
            if isinstance(v, dict):
                walk(v, name + ".")
            elif isinstance(v, (list, tuple)):
                continue
            else:
                out[name] = v

    walk(summary, "")
    if "warnings" in summary:
        out["n_warnings"] = len(summary["warnings"])
    if "unmet_events" in summary:
        out["n_unmet_events"] = len(summary["unmet_events"])
    return out


@lru_cache(maxsize=64)
def _base(path: str, mtime_ns: int, size: int):
    from ..io import load_scenario

    return load_scenario(path)


def _load_base(path: str):
    st = os.stat(path)
    return _base(path, st.st_mtime_ns, st.st_size)


def _synthetic_base(args: dict, workdir: Path):
    """The synthetic fleet of ``args``, written once into ``workdir/synthetic/<hash>/`` (atomically)."""
    from ..io import load_scenario
    from ..synthetic import write_synthetic_fleet

    digest = hashlib.sha256(json.dumps(args, sort_keys=True, default=str).encode()).hexdigest()[:16]
    folder = workdir / "synthetic" / digest
    if not (folder / "scenario.yaml").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder.parent))
        try:
            kwargs = dict(args)
            n = kwargs.pop("n_vehicles", None)
            if n is None:
                raise ScenarioError("synthetic base: give n_vehicles (fixed or as a parameter)")
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ScenarioError(f"synthetic base: n_vehicles must be a whole number >= 1 (got {n!r})")
            write_synthetic_fleet(tmp, n, **kwargs)
            try:
                os.replace(tmp, folder)
            except OSError:
                if not (folder / "scenario.yaml").is_file():
                    raise
        except TypeError as exc:
            raise ScenarioError(f"synthetic base: {exc}") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return load_scenario(folder / "scenario.yaml")


def build_case(case: Case, workdir: str | os.PathLike):
    """The case's scenario: its base with the case's changes, checked like a file (:class:`ScenarioError`)."""
    from ..edit import replace_scenario

    workdir = Path(workdir)
    base = _synthetic_base(case.synthetic, workdir) if case.synthetic is not None else _load_base(case.base)
    return replace_scenario(base, dict(case.changes), workdir=workdir / "edits")


def run_case(
    case: Case,
    out_dir: str,
    *,
    sweep_name: str,
    invocation: str,
    method: str = "auto",
    baseline: bool = True,
) -> dict:
    """Run one case and return its row (see :func:`flatten`); never raises for the case's own problems.

    Parameters
    ----------
    case : Case
    out_dir : str
        The sweep's folder ``DIR``; the case writes ``DIR/cases/<id>/`` and
        reads and writes edited inputs under ``DIR/inputs/``.
    sweep_name : str
    invocation : str
        The sweep's command line or API call (for ``summary.json``'s provenance).
    method, baseline
        As :func:`gridopt.optimize`.
    """
    from .. import optimize, write_results
    from ..provenance import INVOCATION

    t0 = time.perf_counter()
    row: dict = {"case": case.index, "case_id": case.id, "case_key": case.key, **case.params}
    out = Path(out_dir)
    token = INVOCATION.set(f"{invocation} (case {case.id})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc = build_case(case, out / "inputs")
            res = optimize(sc, baseline=baseline, method=method)
        summary = res.summary
        prov = summary.setdefault("provenance", {})
        prov["seed"] = case.seed
        prov["sweep"] = {
            "name": sweep_name,
            "case": case.index,
            "case_id": case.id,
            "case_key": case.key,
            "parameters": case.params,
        }
        write_results(res, out / "cases" / case.id)
        flat = flatten(summary)
        for k in list(flat):
            if k in row:  # a varied parameter wins; the summary's own value stays beside it
                flat[f"summary.{k}"] = flat.pop(k)
        flat.pop("status", None)
        row.update({"status": summary["status"], "message": ""})
        row.update(flat)
        row["scenario_hash"] = prov.get("scenario_hash")
        row["started"], row["finished"] = prov.get("started"), prov.get("finished")
        row["n_vehicles_planned"] = summary.get("model", {}).get("vehicles")
    except Exception as exc:  # noqa: BLE001 - every failure is a row, never the end of the sweep
        status = next((s for cls, s in ERROR_STATUS if isinstance(exc, cls)), "error")
        text = str(exc) if isinstance(exc, GridoptError) else f"{type(exc).__name__}: {exc}"
        row.update(status=status, message=one_line(text))
    finally:
        INVOCATION.reset(token)
    row["seed"] = case.seed
    row["case_seconds"] = time.perf_counter() - t0
    row["worker_pid"] = os.getpid()
    return row
