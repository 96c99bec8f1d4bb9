"""Session state and caching of the app.

* **Sources**: the ready scenarios in ``scenarios/`` and the user's uploads.
* **Edits**: widget values, kept per source (``edit:<source>:<field>``) so
  that switching scenarios or pages keeps them.
* **Cache**: loading, editing and solving are cached with ``st.cache_data``;
  a solve is keyed on the scenario's content
  (:func:`gridopt.fingerprint.scenario_fingerprint`), so unchanged inputs are
  never solved twice, whatever page, session or file they come from.
* **Runs**: every run of the session, for the Compare page.

Uploads and edited tables live in a private temporary folder per session
(:class:`gridopt.io.workspace.Workspace`), removed when the session ends.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

import gridopt
from gridopt.edit import Edits, apply_edits, current_edits, describe_changes
from gridopt.errors import GridoptError, InfeasibleError, PhysicsViolation, ScenarioError, SolverError
from gridopt.fingerprint import scenario_fingerprint
from gridopt.io import upload
from gridopt.io.read import load_scenario, read_limit
from gridopt.io.upload import unpack_scenario_zip
from gridopt.io.workspace import Workspace
from gridopt.scenario import Scenario

#: Folder of the ready scenarios (override with GRIDOPT_SCENARIO_DIR).
SCENARIO_DIR = Path(os.environ.get("GRIDOPT_SCENARIO_DIR") or Path(__file__).resolve().parents[2] / "scenarios")
#: The ready scenario shown first, when present.
DEFAULT_SCENARIO = "depot_bus_v2g"
#: Runs kept per session for comparison.
MAX_RUNS = 12
#: Prefixes of session keys that must outlive a page switch.
PERSISTENT = ("edit:", "source")

log = logging.getLogger("gridopt.ui")


def unexpected(what: str, exc: Exception) -> str:
    """A message for a bug (not bad input): the traceback goes to the server log, not to the page."""
    log.exception("%s failed", what)
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc  # no server paths on the page
    return (
        f"{what} failed unexpectedly ({type(exc).__name__}: {detail}). This is a bug in gridopt; "
        "the details are in the server's log."
    )


# ---------------------------------------------------------------------------
# Sources: ready scenarios and uploads
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A scenario to start from, before edits."""

    id: str
    label: str
    scenario: Scenario | None
    error: str | None = None
    confine: bool = False
    key: str = ""  #: identifies the content for caches


def ready_paths() -> dict[str, Path]:
    """``ready:<stem>`` -> YAML path, the default scenario first."""
    paths = sorted(SCENARIO_DIR.glob("*.yaml"), key=lambda p: (p.stem != DEFAULT_SCENARIO, p.stem))
    return {f"ready:{p.stem}": p for p in paths}


@st.cache_data(show_spinner=False, max_entries=32)
def _load_ready(path: str, stamp: str) -> tuple[Scenario | None, str | None]:
    try:
        return load_scenario(path), None
    except GridoptError as exc:
        return None, str(exc)


def _stamp(path: Path) -> str:
    """Changes when the YAML or any file in its folder tree changes."""
    st_ = path.stat()
    data = path.parent / "data"
    newest = max((p.stat().st_mtime_ns for p in data.rglob("*") if p.is_file()), default=0) if data.is_dir() else 0
    return f"{st_.st_mtime_ns}:{st_.st_size}:{newest}"


def source_ids() -> list[str]:
    return list(ready_paths()) + list(st.session_state.setdefault("uploads", {}))


def source_label(source_id: str) -> str:
    if source_id.startswith("upload:"):
        up = st.session_state.setdefault("uploads", {}).get(source_id)
        return f"{up.label}" if up else source_id
    path = ready_paths().get(source_id)
    if path is None:
        return source_id
    sc, _ = _load_ready(str(path), _stamp(path))
    return sc.name if sc is not None else path.stem


def get_source(source_id: str) -> Source:
    if source_id.startswith("upload:"):
        return st.session_state["uploads"][source_id]
    path = ready_paths()[source_id]
    stamp = _stamp(path)
    sc, err = _load_ready(str(path), stamp)
    return Source(source_id, sc.name if sc else path.stem, sc, err, confine=False, key=f"{path}:{stamp}")


def workspace() -> Workspace:
    """This session's private temporary folder."""
    ws = st.session_state.get("_workspace")
    if ws is None:
        ws = st.session_state["_workspace"] = Workspace(prefix="gridopt-app-")
    return ws


def add_upload(name: str, data: bytes) -> tuple[str | None, str | None]:
    """Unpack and load an uploaded zip; returns (source id, None) or (None, error message)."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    sid = f"upload:{digest}"
    uploads = st.session_state.setdefault("uploads", {})
    if sid in uploads:
        return sid, None
    dest = workspace().folder("uploads") / digest
    try:
        if dest.exists():
            shutil.rmtree(dest)
        yaml_path = unpack_scenario_zip(data, dest, name=name)
        sc = load_scenario(yaml_path, confine=True)
    except GridoptError as exc:
        shutil.rmtree(dest, ignore_errors=True)  # a refused upload keeps nothing in the workspace
        return None, str(exc)
    except Exception as exc:  # never a traceback in the page
        shutil.rmtree(dest, ignore_errors=True)
        return None, unexpected(f"Reading {name}", exc)
    uploads[sid] = Source(sid, f"{sc.name} (uploaded)", sc, None, confine=True, key=f"{sid}:{dest}")
    return sid, None


# ---------------------------------------------------------------------------
# Edits
# ---------------------------------------------------------------------------


def keep_widget_state() -> None:
    """Keep widget values across pages (Streamlit drops the state of widgets a page does not draw)."""
    for k in list(st.session_state.keys()):
        if isinstance(k, str) and k.startswith(PERSISTENT):
            st.session_state[k] = st.session_state[k]


@st.cache_data(show_spinner=False, max_entries=64)
def _edited(source_key: str, edits_json: str, workdir: str, _sc: Scenario, _edits: Edits, confine: bool):
    try:
        with read_limit(upload.MAX_UNPACKED_BYTES) if confine else nullcontext():  # an upload's tables
            return apply_edits(_sc, _edits, workdir, confine=confine), None
    except GridoptError as exc:
        return None, str(exc)
    except Exception as exc:  # never a traceback in the page
        return None, unexpected("Applying the edits", exc)


def edited_scenario(source: Source, edits: Edits) -> tuple[Scenario | None, str | None]:
    """The source's scenario with ``edits`` applied, or the error message."""
    if edits == current_edits(source.scenario):
        return source.scenario, None
    workdir = str(workspace().folder("edits"))
    return _edited(source.key, edits.to_json(), workdir, source.scenario, edits, source.confine)


# ---------------------------------------------------------------------------
# Solving
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a solve gave: a result, or a message saying why there is none."""

    result: object | None
    error: str | None = None
    kind: str = ""  #: "infeasible", "solver", "bug" or "input" when there is no result
    seconds: float = 0.0


@st.cache_data(show_spinner=False, max_entries=32)
def _solve(fingerprint: str, _sc: Scenario) -> Outcome:
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = gridopt.optimize(_sc)
        return Outcome(res, seconds=time.perf_counter() - t0)
    except InfeasibleError as exc:
        return Outcome(None, str(exc), "infeasible", time.perf_counter() - t0)
    except SolverError as exc:
        return Outcome(None, str(exc), "solver", time.perf_counter() - t0)
    except PhysicsViolation as exc:
        return Outcome(None, f"{exc} Please report this with the scenario (download it below).", "bug")
    except ScenarioError as exc:
        return Outcome(None, str(exc), "input")
    except Exception as exc:  # never a traceback in the page
        return Outcome(None, unexpected("The optimization", exc), "bug")


def solve(sc: Scenario) -> Outcome:
    """Solve ``sc`` (cached on its content) showing a spinner with the elapsed time."""
    opts = sc.solver
    text = (
        f"Optimizing {len(sc.vehicles)} vehicles × {sc.grid.n_steps} steps with HiGHS "
        f"(stops at a proven gap of {100 * opts.mip_rel_gap:g}% or after {opts.time_limit_s:g} s)…"
    )
    with st.spinner(text, show_time=True):
        return _solve(scenario_fingerprint(sc), sc)


# ---------------------------------------------------------------------------
# Runs of this session
# ---------------------------------------------------------------------------


@dataclass
class Run:
    """One optimization the user ran, kept for showing and comparing."""

    number: int
    source_id: str
    fingerprint: str
    scenario: Scenario
    changes: list[str]
    outcome: Outcome
    label: str = ""
    when: float = field(default_factory=time.time)

    @property
    def result(self):
        return self.outcome.result


def runs() -> list[Run]:
    return st.session_state.setdefault("runs", [])


def add_run(source: Source, sc: Scenario, edits: Edits, outcome: Outcome) -> Run:
    all_runs = runs()
    number = st.session_state.get("run_counter", 0) + 1
    st.session_state["run_counter"] = number
    changes = describe_changes(current_edits(source.scenario), edits)
    label = f"#{number} {source.scenario.name}" + (f": {', '.join(changes)}" if changes else "")
    run = Run(number, source.id, scenario_fingerprint(sc), sc, changes, outcome, label)
    all_runs.append(run)
    del all_runs[:-MAX_RUNS]
    return run


def run_for(source_id: str, fingerprint: str) -> Run | None:
    """The latest run of exactly these inputs."""
    for r in reversed(runs()):
        if r.source_id == source_id and r.fingerprint == fingerprint:
            return r
    return None


def latest_run(source_id: str) -> Run | None:
    for r in reversed(runs()):
        if r.source_id == source_id:
            return r
    return None
