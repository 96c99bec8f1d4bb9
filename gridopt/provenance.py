"""Provenance of a run: what produced a result, on what, when and how it was asked for.

Every ``summary.json`` carries :func:`run_provenance` under ``provenance`` and
a sweep's ``manifest.json`` the same fields for the whole sweep, so that a
result can be traced to its inputs (the scenario's content hash, see
:mod:`gridopt.fingerprint`), its software (gridopt, Python, the solver and the
packages that shape a plan) and its machine, and be reproduced.

Nothing here leaves the machine: no host name, user name or address is
recorded; the command line is, as typed (it may hold file paths).
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from contextvars import ContextVar
from datetime import datetime, timezone
from importlib import metadata

#: Packages whose versions can change a plan or how it is read and written.
PACKAGES = ("gridopt", "pyomo", "highspy", "pandas", "numpy", "pvlib", "pydantic", "pyyaml", "scipy")
#: Packages a sweep adds (see :mod:`gridopt.batch`).
SWEEP_PACKAGES = ("dask", "distributed", "pyarrow", "duckdb", "plotly")

#: How the current run was asked for: set by the command line (``gridopt run ...``) or a sweep.
INVOCATION: ContextVar[str | None] = ContextVar("gridopt_invocation", default=None)


def package_versions(packages=PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None when it is not installed)."""
    out: dict[str, str | None] = {}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def python_version() -> str:
    """``'3.11.2'``."""
    return ".".join(str(x) for x in sys.version_info[:3])


def machine() -> dict:
    """Cores and memory of this machine, its OS and processor (no names or addresses).

    Returns
    -------
    dict
        ``cores`` (logical CPUs), ``cores_usable`` (this process's affinity),
        ``memory_gb`` [GiB] (None where unknown), ``platform``, ``processor``.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 2)
    except (AttributeError, ValueError, OSError):
        memory_gb = None
    return {
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "memory_gb": memory_gb,
        "platform": platform.platform(terse=True),
        "processor": platform.machine(),
    }


def command_line(argv: list[str] | None = None, prog: str = "gridopt") -> str:
    """``'gridopt run scenarios/x.yaml --out results/x'`` from the arguments after the program name."""
    return shlex.join([prog, *(sys.argv[1:] if argv is None else argv)])


def invocation() -> str:
    """How this run was asked for: the command line, or the Python API call and the script running it."""
    inv = INVOCATION.get()
    if inv:
        return inv
    script = shlex.join(sys.argv) if sys.argv and sys.argv[0] else "python (interactive)"
    return f"gridopt.optimize() called from {script}"


def now_iso() -> str:
    """The current UTC time, ISO 8601 with microseconds."""
    return datetime.now(timezone.utc).isoformat()


def run_provenance(
    scenario_hash: str | None,
    started: str,
    finished: str,
    *,
    solver: dict | None = None,
    seed: int | None = None,
) -> dict:
    """The ``provenance`` block of ``summary.json``.

    Parameters
    ----------
    scenario_hash : str or None
        :func:`gridopt.fingerprint.scenario_fingerprint` of the scenario solved.
    started, finished : str
        UTC ISO 8601 times of the call.
    solver : dict, optional
        ``{"name": ..., "version": ...}``.
    seed : int, optional
        The random seed the inputs were made with (synthetic fleets), if any.
    """
    return {
        "gridopt": package_versions(("gridopt",))["gridopt"],
        "python": python_version(),
        "solver": solver,
        "packages": package_versions(),
        "scenario_hash": scenario_hash,
        "invocation": invocation(),
        "seed": seed,
        "machine": machine(),
        "started": started,
        "finished": finished,
    }
