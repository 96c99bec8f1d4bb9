"""Run a sweep on Dask: a ``LocalCluster`` by default, or an existing scheduler by address.

The driver expands the sweep, skips the cases already in the journal, submits
the rest to Dask (``distributed``: a ``LocalCluster`` of one single-threaded
worker process per core, bound to 127.0.0.1, or ``Client(ADDRESS)``), journals
each row as it arrives, and rebuilds the results table at the end. The same
code runs on both; there is no process pool of gridopt's own.

``DIR`` holds::

    manifest.json       the sweep, its provenance, counts by status, the case keys
    results.parquet     one row per case (also results.csv)
    journal/<key>.json  each finished case's row, written when it finished
    cases/<id>/         schedule.csv, site.csv, summary.json as gridopt run writes them
    inputs/             tables made by table edits and synthetic fleets (content-addressed)
    report/             the plots of --plot / gridopt.sweep_report

With ``--scheduler ADDRESS`` the workers write ``DIR/cases`` and read the
scenarios' files themselves: ``DIR`` and the inputs must be on a file system
they share (the same machine, or a shared mount).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import OutputError, ScenarioError
from ..provenance import SWEEP_PACKAGES, machine, now_iso, package_versions, python_version
from .journal import MANIFEST, atomic_write, read_journal, record, results_frame, write_results_table
from .spec import Case, Sweep, expand, load_sweep
from .task import RETRY_STATUSES, run_case

#: Names gridopt writes into a sweep's folder; a folder holding anything else is refused.
SWEEP_ENTRIES = {
    MANIFEST,
    "results.parquet",
    "results.csv",
    "journal",
    "cases",
    "inputs",
    "report",
    ".sweep.lock",
}
#: Cases in flight per worker (more are submitted as rows come back).
IN_FLIGHT_PER_WORKER = 2
#: How long to wait for a scheduler's workers [s].
CONNECT_TIMEOUT_S = 30


@dataclass(frozen=True)
class SweepRun:
    """What :func:`sweep` did.

    Attributes
    ----------
    results : DataFrame
        One row per case (``results.parquet``).
    out_dir : Path
    manifest : dict
    ran, skipped : int
        Cases run now, and cases found finished in the journal.
    """

    results: pd.DataFrame
    out_dir: Path
    manifest: dict
    ran: int
    skipped: int


def _check_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} exists and is not a folder")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in SWEEP_ENTRIES and not p.name.startswith("."))
        if foreign:
            raise OutputError(
                f"{out} holds files a sweep did not write ({', '.join(foreign[:3])}"
                f"{', ...' if len(foreign) > 3 else ''}): give an empty or new folder, or an earlier sweep's"
            )


@contextlib.contextmanager
def _locked(out: Path):
    """One sweep at a time in ``out`` (an flock on ``out/.sweep.lock``)."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / ".sweep.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OutputError(f"another sweep is writing {out}; wait for it or give another --out") from None
        yield
    finally:
        os.close(fd)


def _require_scale() -> None:
    """The ``scale`` extra's packages a sweep needs, or one line saying how to install them."""
    import importlib.util

    missing = [m for m in ("distributed", "pyarrow", "scipy", "tqdm") if importlib.util.find_spec(m) is None]
    if missing:
        raise ScenarioError(
            f"gridopt sweep needs {', '.join(missing)}: install the extra with pip install -e '.[scale]' "
            "(or pip install 'gridopt[scale]')"
        )


def _dashboard_ok() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def _client(scheduler: str | None, workers: int | None):
    """A Dask client and the cluster it owns (None with a scheduler address)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError) as exc:
            raise ScenarioError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        if workers:
            client.wait_for_workers(workers, timeout=CONNECT_TIMEOUT_S)
        return client, None
    n = workers or machine()["cores_usable"] or 1
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",  # nothing listens beyond this machine
        dashboard_address="127.0.0.1:0" if _dashboard_ok() else None,
        silence_logs=logging.ERROR,
    )
    return Client(cluster), cluster


def _invocation(command: str | None) -> str:
    import shlex

    return command or "gridopt.sweep() called from " + (shlex.join(sys.argv) if sys.argv and sys.argv[0] else "python")


def _manifest(sw: Sweep, cases: list[Case], out: Path, invocation: str, started: str, **extra) -> dict:
    from .spec import file_digest, scenario_files_digest

    return {
        "sweep": sw.name,
        "description": sw.description,
        "spec_file": None if sw.path is None else str(sw.path),
        "spec_sha256": None if sw.path is None else file_digest(str(sw.path)),
        "spec": sw.spec,
        "mode": sw.mode,
        "lhs_seed": sw.seed if sw.mode == "lhs" else None,
        "bases": {b: scenario_files_digest(b) for b in sw.bases},
        "synthetic": sw.synthetic,
        "parameters": [k for k in (cases[0].params if cases else {})],
        "n_cases": len(cases),
        "case_keys": [c.key for c in cases],
        "invocation": invocation,
        "gridopt": package_versions(("gridopt",))["gridopt"],
        "python": python_version(),
        "packages": package_versions(),
        "sweep_packages": package_versions(SWEEP_PACKAGES),
        "solver": _solver_version(),
        "machine": machine(),
        "started": started,
        **extra,
    }


def _solver_version() -> dict:
    try:
        from ..optimizer.highs import highs_version

        return {"name": "highs", "version": highs_version()}
    except Exception:  # noqa: BLE001 - provenance must not stop a sweep
        return {"name": "highs", "version": None}


def _write_manifest(out: Path, manifest: dict) -> None:
    try:
        atomic_write(out / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write {out / MANIFEST}: {exc.strerror or exc}") from None


def _progress(total: int, name: str, quiet: bool):
    if quiet:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=name, unit="case", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def sweep(
    spec,
    out,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    quiet: bool = False,
    plot: bool = False,
    retry_failed: bool = False,
    command: str | None = None,
) -> SweepRun:
    """Run every case of a sweep that is not finished yet, on Dask, and write the results table.

    Parameters
    ----------
    spec : path-like, dict or Sweep
        The sweep file (see :mod:`gridopt.batch.spec`).
    out : path-like
        The sweep's folder ``DIR`` (new, empty, or an earlier run of a sweep: its
        finished cases are kept and skipped).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://127.0.0.1:8786``); default:
        a ``LocalCluster`` on this machine.
    workers : int, optional
        Worker processes of the ``LocalCluster`` (default: the usable cores); with
        ``scheduler``, wait for this many workers.
    quiet : bool
        No progress bar and no summary on the terminal.
    plot : bool
        Also write the report (:func:`gridopt.batch.report.sweep_report`).
    retry_failed : bool
        Run again the cases whose row says ``bad_input``, ``infeasible``,
        ``solver_failed`` or ``physics_violation`` (``error`` and ``worker_lost``
        are always run again).
    command : str, optional
        The command line that asked for the sweep (for the provenance); default:
        the API call and the script that made it.

    Returns
    -------
    SweepRun

    Raises
    ------
    ScenarioError
        A bad sweep file (a bad *case* is a row, not an error).
    OutputError
        ``DIR`` cannot be written, holds other files, or another sweep writes there.
    """
    _require_scale()
    sw = spec if isinstance(spec, Sweep) else load_sweep(spec)
    cases = expand(sw)
    out = Path(out).absolute()
    _check_dir(out)
    invocation = _invocation(command)
    started = now_iso()
    t0 = time.perf_counter()
    with _locked(out):
        for sub in ("journal", "cases", "inputs"):
            (out / sub).mkdir(exist_ok=True)
        journal = read_journal(out, [c.key for c in cases])
        again = set(RETRY_STATUSES) | (
            {"bad_input", "infeasible", "solver_failed", "physics_violation", "write_failed"} if retry_failed else set()
        )
        todo = [c for c in cases if c.key not in journal or journal[c.key].get("status") in again]
        skipped = len(cases) - len(todo)
        manifest = _manifest(sw, cases, out, invocation, started, status="running")
        _write_manifest(out, manifest)
        say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr))
        say(
            f"{sw.name}: {len(cases)} cases, {skipped} already done, {len(todo)} to run"
            + (f" on {scheduler}" if scheduler else "")
        )
        todo_keys = {c.key for c in todo}
        counts: Counter = Counter(
            journal[c.key]["status"] for c in cases if c.key in journal and c.key not in todo_keys
        )
        cluster_info: dict = {"scheduler": scheduler or "LocalCluster"}
        interrupted = False
        if todo:
            client, cluster = _client(scheduler, workers)
            n_workers = len(client.nthreads())
            cluster_info.update(workers=n_workers, threads_per_worker=1, dashboard=None)
            if _dashboard_ok() or scheduler:
                with contextlib.suppress(Exception):
                    cluster_info["dashboard"] = client.dashboard_link
                if cluster_info["dashboard"]:
                    say(f"Dask dashboard: {cluster_info['dashboard']}")
            bar = _progress(len(todo), sw.name, quiet)
            try:
                _run(client, todo, out, sw, invocation, n_workers, counts, bar)
            except KeyboardInterrupt:
                interrupted = True
            finally:
                if bar is not None:
                    bar.close()
                with contextlib.suppress(Exception):
                    client.close()
                if cluster is not None:
                    with contextlib.suppress(Exception):
                        cluster.close()
        rows = read_journal(out, [c.key for c in cases])
        df = results_frame(list(rows.values()))
        write_results_table(out, df)
        status_counts = dict(Counter(df["status"])) if len(df) else {}
        manifest.update(
            status="interrupted" if interrupted else ("complete" if len(rows) == len(cases) else "incomplete"),
            finished=now_iso(),
            wall_seconds=time.perf_counter() - t0,
            ran=len(todo),
            skipped=skipped,
            cluster=cluster_info,
            counts=status_counts,
        )
        _write_manifest(out, manifest)
        if interrupted:
            raise KeyboardInterrupt
        if plot:
            from .report import sweep_report

            report = sweep_report(out)
            manifest["report"] = [str(p.relative_to(out)) for p in report.files]
            _write_manifest(out, manifest)
            if report.note:
                say(report.note)
        say(
            f"{sw.name}: {len(df)} of {len(cases)} cases in results ("
            + ", ".join(f"{n} {s}" for s, n in sorted(status_counts.items()))
            + f"); {time.perf_counter() - t0:.1f} s; wrote {out}/results.parquet, results.csv, manifest.json"
        )
    return SweepRun(df, out, manifest, len(todo), skipped)


def _run(client, todo: list[Case], out: Path, sw: Sweep, invocation: str, n_workers: int, counts, bar) -> None:
    """Submit ``todo`` with a bounded number in flight; journal each row as it arrives."""
    from distributed import as_completed

    window = max(2, IN_FLIGHT_PER_WORKER * max(1, n_workers))
    pending = iter(todo)
    by_future: dict = {}

    def submit(case: Case):
        fut = client.submit(
            run_case,
            case,
            str(out),
            sweep_name=sw.name,
            invocation=invocation,
            method=sw.method,
            baseline=sw.baseline,
            pure=False,
            key=f"gridopt-case-{case.id}-{os.urandom(4).hex()}",
        )
        by_future[fut] = case
        return fut

    first = [submit(c) for c in itertools.islice(pending, window)]
    queue = as_completed(first)
    for fut in queue:
        case = by_future.pop(fut)
        try:
            row = fut.result()
        except Exception as exc:  # noqa: BLE001 - a lost worker (killed, out of memory) is a row too
            from .task import one_line

            row = {
                "case": case.index,
                "case_id": case.id,
                "case_key": case.key,
                **case.params,
                "status": "worker_lost",
                "message": one_line(f"{type(exc).__name__}: {exc}"),
                "seed": case.seed,
            }
        record(out, row)
        counts[row["status"]] += 1
        if bar is not None:
            bar.set_postfix_str(", ".join(f"{s} {n}" for s, n in sorted(counts.items())), refresh=False)
            bar.update(1)
        nxt = next(pending, None)
        if nxt is not None:
            queue.add(submit(nxt))
