"""Write a plan's files: schedule.csv, site.csv, summary.json, vehicles.csv, setpoints.csv.

**All or nothing.** The files are written, and flushed to disk, into a fresh
folder beside ``DIR`` (``.DIR.new-<id>``) that then takes ``DIR``'s place in one
step: on Linux one atomic exchange of the two folders (``renameat2``), so that
a reader sees the whole old set or the whole new set, never a mix; where the
system cannot exchange, two renames (``DIR`` aside as ``.DIR.old-<id>``, the new
folder in), between which ``DIR`` is missing for an instant. A writer killed at
any point leaves ``DIR`` whole (old or new) or, in that instant, missing with
the old set kept aside: the next write puts it back first, and removes the
folders of writers that died.

**One writer at a time.** Writing holds an exclusive lock (``flock``) on the
file ``.DIR.lock`` beside ``DIR``; the file stays (removing a lock file races
with a waiting writer). A second writer waits up to :data:`LOCK_WAIT_S`, then
fails with :class:`~gridopt.errors.OutputError`.

**Only gridopt's files are replaced.** ``DIR`` must be new, empty, or hold only
the result files: a folder with anything else is refused, never emptied.

**Spreadsheet-safe.** A text cell that would start with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return (a formula to a spreadsheet, OWASP "CSV
injection") gets a leading ``'``. Scenario files cannot hold such ids (they are
refused when read); this covers results built in Python.
"""

from __future__ import annotations

import ctypes
import errno
import json
import math
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import GridoptError, OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

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
#: The files gridopt writes into ``DIR``; a folder holding anything else is not replaced.
RESULT_FILES = ("schedule.csv", "site.csv", "summary.json", "vehicles.csv", "setpoints.csv")
#: How long a writer waits for another one writing into the same ``DIR`` [s].
LOCK_WAIT_S = 30.0
#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` with a leading ``'`` if it starts like a formula (see :data:`FORMULA_START`).

    >>> spreadsheet_safe("=HYPERLINK(1)"), spreadsheet_safe("EV1")
    ("'=HYPERLINK(1)", 'EV1')
    """
    return "'" + text if isinstance(text, str) and text.startswith(FORMULA_START) else text


def _iso(s: pd.Series) -> pd.Series:
    # one isoformat per distinct time: a schedule repeats each step for every vehicle (6 s -> 0.2 s at 576,000 rows)
    codes, uniques = pd.factorize(s)
    if (codes < 0).any():
        return s.map(lambda t: pd.Timestamp(t).isoformat())
    text = np.array([pd.Timestamp(t).isoformat() for t in uniques], dtype=object)
    return pd.Series(text[codes], index=s.index)


def schedule_csv(schedule: pd.DataFrame, battery_kwh: pd.Series | None = None) -> str:
    """The schedule as CSV text (times ISO 8601 with offset; soc empty while away; station_id if any).

    With ``battery_kwh`` (per vehicle id [kWh]) a ``soc_pct`` column (SoC in % of
    the battery) follows ``soc_kwh``.
    """
    columns = list(SCHEDULE_COLUMNS)
    if "station_id" in schedule:  # only scenarios whose sessions name stations
        columns.insert(columns.index("vehicle_id") + 1, "station_id")
    if "charger_id" in schedule:  # only scenarios with site.chargers
        columns.insert(columns.index("vehicle_id") + 1, "charger_id")
    out = schedule[columns].copy()
    if battery_kwh is not None:
        out["soc_pct"] = 100.0 * out["soc_kwh"] / out["vehicle_id"].map(battery_kwh).astype(float) + 0.0
    for col in ("charge_kw", "discharge_kw", "soc_kwh"):
        out[col] = out[col] + 0.0  # no "-0" in the file
    out["time"] = _iso(out["time"])
    out["plugged_in"] = out["plugged_in"].astype(int)
    for col in ("vehicle_id", "station_id", "charger_id"):
        if col in out:
            out[col] = out[col].map(spreadsheet_safe)
    return out.to_csv(index=False, float_format="%.6g", na_rep="")


def site_csv(site: pd.DataFrame) -> str:
    out = site.reset_index()
    out = out.rename(columns={out.columns[0]: "time"})[SITE_COLUMNS]
    out["time"] = _iso(out["time"])
    return out.to_csv(index=False, float_format="%.6g")


# --- operator files: vehicles.csv (ready-by report) and setpoints.csv (gridopt.export) ---------------


def _times_csv(df: pd.DataFrame, times: tuple[str, ...], ids: tuple[str, ...]) -> str:
    out = df.copy()
    for col in times:  # one isoformat per distinct time, as _iso; empty for NaT
        codes, uniques = pd.factorize(out[col].to_numpy(dtype=object))
        text = np.array([pd.Timestamp(t).isoformat() for t in uniques] + [""], dtype=object)
        out[col] = text[np.where(codes < 0, len(uniques), codes)]
    for col in ids:
        out[col] = out[col].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
        out[col] = out[col].map(spreadsheet_safe)
    for col in out.columns:
        if out[col].dtype.kind == "f":
            out[col] = out[col] + 0.0
    return out.to_csv(index=False, float_format="%.6g", na_rep="")


def vehicles_csv(table: pd.DataFrame) -> str:
    """The ready-by report (:func:`gridopt.export.setpoints.ready_by_report`) as CSV text."""
    times = ("departure", "ready_by", "first_charge_start", "last_charge_end")
    return _times_csv(table, times, ("vehicle_id", "kind", "event_id", "charger_id"))


def setpoints_csv(table: pd.DataFrame) -> str:
    """The setpoints (:func:`gridopt.export.setpoints.setpoints_table`) as CSV text."""
    return _times_csv(table, ("start", "end"), ("charger_id", "vehicle_id"))


def operator_files(result) -> dict[str, str]:
    """``vehicles.csv`` and ``setpoints.csv`` of a result with a scenario (see :mod:`gridopt.export`)."""
    from ..export.setpoints import charger_of_rows, ready_by_report, setpoints_table

    sc, schedule = result.scenario, result.schedule
    assignment = getattr(result, "charger_assignment", None)
    setpoints, _ = setpoints_table(sc, schedule, assignment)
    ids, _ = charger_of_rows(schedule, assignment)
    report = ready_by_report(sc, schedule, result.unmet, ids)
    return {"vehicles.csv": vehicles_csv(report), "setpoints.csv": setpoints_csv(setpoints)}


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (pd.Timestamp,)):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _finite(o):
    """JSON has no inf/nan: write them as null; text (ids, names) spreadsheet-safe."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, str):
        return spreadsheet_safe(o)
    if isinstance(o, dict):
        return {spreadsheet_safe(k): _finite(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_finite(v) for v in o]
    return o


def summary_json(summary: dict) -> str:
    return json.dumps(_finite(summary), indent=2, default=_json_default, allow_nan=False) + "\n"


def result_files(result) -> dict[str, str]:
    """The text of every file ``gridopt run`` writes for ``result``, by file name (the app offers the same).

    ``schedule.csv``, ``site.csv``, ``summary.json`` and, for a result with its
    scenario, ``vehicles.csv`` and ``setpoints.csv`` (:func:`operator_files`).
    """
    sc = getattr(result, "scenario", None)  # results built by hand in tests may have none
    files = {
        "schedule.csv": schedule_csv(result.schedule, None if sc is None else sc.vehicles["battery_kwh"]),
        "site.csv": site_csv(result.site),
        "summary.json": summary_json(result.summary),
    }
    if sc is not None:
        files.update(operator_files(result))
    return files


def write_results(result, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``schedule.csv``, ``site.csv`` and ``summary.json`` of ``result`` into ``out_dir``.

    The folder is replaced whole, under a lock (see the module's notes): all
    files appear together or not at all, and never beside another run's.

    Parameters
    ----------
    result : OptimizationResult
        With ``schedule``, ``site`` (DataFrames) and ``summary`` (dict).
    out_dir : path-like
        The folder ``DIR``: new, empty, or holding only an earlier run's files.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    OutputError
        Nothing could be written (exit code 73), ``DIR`` holds other files, or
        another writer held ``DIR`` for :data:`LOCK_WAIT_S`; ``DIR`` is as it was.
    """
    files = result_files(result)
    shown = str(out_dir)
    out = Path(os.path.realpath(out_dir)) if Path(out_dir).is_symlink() else Path(os.path.abspath(out_dir))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with _locked(out, shown):
            _recover(out)
            check_output_dir(out, shown)
            new = _stage(out, files)
            _swap_in(new, out)
    except GridoptError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write results to {shown}: {exc.strerror or exc}; nothing was written") from None
    return [out / name for name in files]


def check_output_dir(out_dir: str | os.PathLike, shown: str | None = None) -> None:
    """Refuse an output folder that :func:`write_results` would not replace.

    Raises
    ------
    OutputError
        ``out_dir`` exists but is not a folder, or holds files gridopt did not write.
    """
    out, shown = Path(out_dir), shown or str(out_dir)
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(f"cannot write results to {shown}: it exists and is not a folder; nothing was written")
    try:
        foreign = sorted(set(os.listdir(out)) - set(RESULT_FILES))
    except OSError as exc:
        raise OutputError(f"cannot write results to {shown}: {exc.strerror or exc}; nothing was written") from None
    if foreign:
        listed = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise OutputError(
            f"cannot write results to {shown}: {shown} holds files gridopt did not write ({listed}); gridopt "
            "replaces the whole folder, so give a new or empty folder, or move them; nothing was written"
        )


def _temp_names(out: Path) -> re.Pattern:
    """Names of the folders that writers into ``out`` make beside it (and the old ``mkdtemp`` ones)."""
    return re.compile(rf"\.{re.escape(out.name)}\.(?:(?P<kind>new|old)-[0-9a-f]{{16}}|[a-z0-9_]{{8}})")


@contextmanager
def _locked(out: Path, shown: str) -> Iterator[None]:
    """Hold the exclusive lock of ``out`` (``.DIR.lock`` beside it), waiting up to :data:`LOCK_WAIT_S`."""
    fd = os.open(out.parent / f".{out.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise OutputError(
                    f"cannot write results to {shown}: another gridopt run is writing there (waited "
                    f"{LOCK_WAIT_S:g} s for .{out.name}.lock); nothing was written"
                )
            time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    if fcntl is None:  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _recover(out: Path) -> None:
    """Under the lock: put back a set left aside by a writer killed mid-swap, remove dead writers' folders."""
    pattern = _temp_names(out)
    mine = [p for p in out.parent.iterdir() if pattern.fullmatch(p.name) and p.is_dir() and not p.is_symlink()]
    aside = sorted((p for p in mine if pattern.fullmatch(p.name)["kind"] == "old"), key=lambda p: p.stat().st_mtime)
    if aside and not os.path.lexists(out):
        os.rename(aside[-1], out)
        mine.remove(aside[-1])
    for p in mine:
        if pattern.fullmatch(p.name)["kind"] or set(os.listdir(p)) <= set(RESULT_FILES):
            shutil.rmtree(p)


def _stage(out: Path, files: dict[str, str]) -> Path:
    """A new folder beside ``out`` holding ``files``, flushed to disk."""
    new = out.parent / f".{out.name}.new-{secrets.token_hex(8)}"
    os.mkdir(new)
    for name, text in files.items():
        _write_file(new / name, text)
    _fsync_dir(new)
    return new


def _write_file(path: Path, text: str) -> None:
    with open(path, "x", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _swap_in(new: Path, out: Path) -> None:
    """Put folder ``new`` in ``out``'s place, in one step where the system allows it."""
    if not os.path.lexists(out) or not os.listdir(out):
        os.rename(new, out)  # rename(2) replaces a missing or empty folder atomically
    elif _exchange(new, out):
        shutil.rmtree(new)  # now the old set
    else:
        old = new.with_name(new.name.replace(".new-", ".old-", 1))
        os.rename(out, old)
        os.rename(new, out)
        shutil.rmtree(old)
    _fsync_dir(out.parent)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False  # this file system or kernel cannot exchange
    raise OSError(err, os.strerror(err), str(b))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder
    finally:
        os.close(fd)
