"""Session state and caching of the app.

* **Sources**: the ready scenarios in ``scenarios/`` and the user's uploads.
* **Edits**: widget values, kept per source (``edit:<source>:<field>``) so
  that switching scenarios or pages keeps them.
* **Cache**: loading, editing and solving are cached with ``st.cache_data``;
  a solve's outcome is kept by the scenario's content
  (:func:`gridopt.fingerprint.scenario_fingerprint`), so unchanged inputs are
  never solved twice in a process.
* **Solves** run in a background thread (:class:`Job`), watched by the page
  (progress, Stop); a finished solve becomes a **run**.
* **Runs**: kept on disk (:mod:`gridopt.ui.store`) so that a reload keeps them;
  the last :data:`MAX_RUNS`, for the Plan, Grid and Compare pages.

Uploads and edited tables live in a private temporary folder per session
(:class:`gridopt.io.workspace.Workspace`), removed when the session ends.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import threading
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import streamlit as st

import gridopt
from gridopt.edit import Edits, apply_edits, current_edits, describe_changes
from gridopt.errors import GridoptError, InfeasibleError, PhysicsViolation, ScenarioError, SolverError
from gridopt.fingerprint import scenario_fingerprint
from gridopt.io import upload
from gridopt.io.read import load_scenario, read_limit
from gridopt.io.save import scenario_zip
from gridopt.io.upload import unpack_scenario_zip
from gridopt.io.workspace import Workspace
from gridopt.optimizer.highs import Watch, watching
from gridopt.optimizer.solve import relative_gap
from gridopt.scenario import Scenario
from gridopt.ui import store

#: Folder of the ready scenarios (override with GRIDOPT_SCENARIO_DIR).
SCENARIO_DIR = Path(os.environ.get("GRIDOPT_SCENARIO_DIR") or Path(__file__).resolve().parents[2] / "scenarios")
#: The ready scenario shown first, when present.
DEFAULT_SCENARIO = "depot_bus_v2g"
#: Runs kept (on disk and in the session) for comparison.
MAX_RUNS = 12
#: Runs the Compare page ticks by default: the latest.
COMPARE_TICKED = 4
#: Prefixes of session keys that must outlive a page switch.
PERSISTENT = ("edit:", "source", "run_mode")

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
# Solving: off the script thread, watched, stoppable
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a solve gave: a result, or a message saying why there is none."""

    result: object | None
    error: str | None = None
    kind: str = ""  #: "infeasible", "solver", "bug" or "input" when there is no result
    seconds: float = 0.0  #: the solve's own time [s] (of the earlier solve when ``reused``)
    reused: bool = False  #: the outcome of an earlier solve of the same inputs in this process


#: Outcomes of finished (not stopped) solves, by the scenario's fingerprint: unchanged inputs are never solved
#: twice in this process, whatever page, session or file they come from.
_SOLVED: dict[str, Outcome] = {}
_SOLVED_MAX = 32
_solved_lock = threading.Lock()


def solve_now(sc: Scenario) -> Outcome:
    """Solve ``sc`` in this thread (no Streamlit calls: it runs in a :class:`Job`'s thread)."""
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = gridopt.optimize(sc)
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


#: Stages of the fast path (:mod:`gridopt.optimizer.fast`) as the progress line names them.
STAGES = {
    "starting": "building the model",
    "lp": "solving the LP relaxation (a bound on the best cost)",
    "repair": "repairing the LP's plan into a feasible one",
    "neighbourhood": "branch and bound on the vehicles the LP got wrong",
    "mip": "branch and bound on the whole model",
}


class Progress(Watch):
    """The best plan and the proven bound of a solve in progress (fed from the solving thread).

    The fast path names its stage with the best plan's cost and the bound proven
    so far; HiGHS's own figures count only where they hold for the whole model:
    an incumbent in the branch and bound stages (any of their plans is a plan of
    the whole model), a bound only in the last one (the neighbourhood's bound
    holds for a restricted model).
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.name = "starting"
        self.incumbent = math.inf
        self.bound = -math.inf

    def stage(self, name: str, incumbent: float, bound: float) -> None:
        with self._lock:
            self.name = name
            self._better(incumbent, bound)

    def highs(self, primal: float, dual: float) -> None:
        with self._lock:
            self._better(
                primal if self.name in ("neighbourhood", "mip") else math.inf,
                dual if self.name == "mip" else -math.inf,
            )

    def _better(self, incumbent: float, bound: float) -> None:
        if incumbent == incumbent and incumbent < self.incumbent:
            self.incumbent = incumbent
        if bound == bound and bound > self.bound:
            self.bound = bound

    def snapshot(self) -> dict:
        """``stage`` (words), ``incumbent``, ``bound`` (the objective; ±inf when none yet), ``gap`` (or None)."""
        with self._lock:
            inc, bound, name = self.incumbent, self.bound, self.name
        gap = relative_gap(inc, bound) if math.isfinite(inc) and math.isfinite(bound) else None
        return {"stage": STAGES.get(name, name), "incumbent": inc, "bound": bound, "gap": gap}


@dataclass
class Job:
    """A solve running in a background thread for this session; it becomes a :class:`Run` when done."""

    source_id: str
    scenario: Scenario
    fingerprint: str
    changes: list[str]
    quick: bool
    progress: Progress = field(default_factory=Progress)
    started: float = field(default_factory=time.monotonic)  #: when the user clicked Run
    outcome: Outcome | None = None
    finished: float | None = None
    thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self.outcome is not None

    @property
    def stopped(self) -> bool:
        return self.progress.stop.is_set()

    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def _work(self) -> None:
        with _solved_lock:
            cached = _SOLVED.get(self.fingerprint)
        if cached is None:
            with watching(self.progress):
                out = solve_now(self.scenario)
            if not self.stopped and out.kind != "bug":
                with _solved_lock:
                    _SOLVED[self.fingerprint] = out
                    while len(_SOLVED) > _SOLVED_MAX:
                        del _SOLVED[next(iter(_SOLVED))]
        else:
            out = replace(cached, reused=True)
        self.finished = time.monotonic()
        self.outcome = out

    def start(self) -> Job:
        self.thread = threading.Thread(target=self._work, name=f"gridopt-solve-{self.fingerprint[:8]}", daemon=True)
        self.thread.start()
        return self

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the solve; True when it is done."""
        if self.thread is not None:
            self.thread.join(max(0.0, seconds))
        return self.done


def job() -> Job | None:
    """This session's solve in progress (or finished and not yet collected)."""
    return st.session_state.get("job")


def start_job(source: Source, sc: Scenario, edits: Edits, quick: bool, clicked_at: float | None = None) -> Job:
    """Start solving ``sc`` in a background thread; the page polls it (:func:`collect_job`).

    ``clicked_at``: ``time.monotonic()`` when the rerun of the click on Run began (the wait is counted from it).
    """
    changes = describe_changes(current_edits(source.scenario), edits)
    j = Job(source.id, sc, scenario_fingerprint(sc), changes, quick)
    if clicked_at is not None:
        j.started = clicked_at
    j.start()
    st.session_state["job"] = j
    return j


def stop_job() -> None:
    j = job()
    if j is not None:
        j.progress.stop.set()


def collect_job() -> Run | None:
    """Turn this session's finished solve into a run (kept on disk); None while it runs or when there is none."""
    j = job()
    if j is None or not j.done:
        return None
    del st.session_state["job"]
    run = add_run(j)
    st.session_state["_fresh_run"] = (run.number, j.started)  # the page adds its drawing time to the wait
    return run


def finish_wait(run: Run) -> None:
    """The wait of a run collected in this rerun: from the click to the page drawn (kept on disk)."""
    fresh = st.session_state.get("_fresh_run")
    if not fresh or fresh[0] != run.number:
        return
    del st.session_state["_fresh_run"]
    run.wall_seconds = time.monotonic() - fresh[1]
    try:
        store.save(run)
    except Exception as exc:  # noqa: BLE001
        log.warning("run #%s not stored: %s", run.number, exc)


# ---------------------------------------------------------------------------
# Runs: this session's, kept on disk (gridopt.ui.store) so that a reload keeps them
# ---------------------------------------------------------------------------


@dataclass(eq=False)
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
    wall_seconds: float = 0.0  #: from the click on Run to the page with the plan drawn (on the server) [s]
    stopped: bool = False  #: the user pressed Stop: the best plan found by then
    quick: bool = False  #: solved with the quick gap (:data:`QUICK_GAP`)
    #: The scenario as run, zipped when the run is made: an edited or uploaded scenario's files live in the
    #: session's temporary folder, gone after a reload
    scenario_zip: bytes | None = None

    @property
    def result(self):
        return self.outcome.result


#: Largest length of a run's label [characters].
LABEL_MAX = 40
#: Target gap of a quick run.
QUICK_GAP = 0.01


def short_label(number: int, name: str, changes: list[str]) -> str:
    """``'#3 depot-bus-v2g'``, ``'#4 depot-bus-v2g: import limit 140 kW'`` or ``'#5 depot-bus-v2g: 3 edits'``."""
    base = f"#{number} {name}"
    if not changes:
        return base[:LABEL_MAX]
    one = f"{base}: {changes[0]}"
    if len(changes) == 1 and len(one) <= LABEL_MAX:
        return one
    n = f"{base}: {len(changes)} edit{'s' if len(changes) > 1 else ''}"
    return n if len(n) <= LABEL_MAX else base[: LABEL_MAX - 1] + "…"


def runs() -> list[Run]:
    """This session's runs, oldest first: on a new session (a reload), the stored ones."""
    if "runs" not in st.session_state:
        loaded, problems = store.load(MAX_RUNS)
        st.session_state["runs"] = loaded
        st.session_state["store_problems"] = problems
    return st.session_state["runs"]


def add_run(j: Job) -> Run:
    all_runs = runs()
    number = store.claim_number()
    name = j.scenario.name
    run = Run(
        number,
        j.source_id,
        j.fingerprint,
        j.scenario,
        j.changes,
        j.outcome,
        short_label(number, name, j.changes),
        wall_seconds=j.elapsed(),
        stopped=j.stopped,
        quick=j.quick,
        scenario_zip=_zip_now(j.scenario),
    )
    try:
        store.save(run)
    except Exception as exc:  # noqa: BLE001 - a full disk loses persistence, not the run
        log.warning("run #%s not stored: %s", number, exc)
        store.delete(number)
    all_runs.append(run)
    chosen = st.session_state.get("cmp_chosen")
    if chosen is not None:  # the Compare page ticks a new run (and unticks the oldest beyond four)
        chosen.append(number)
        del chosen[:-COMPARE_TICKED]
    for old in all_runs[:-MAX_RUNS]:
        store.delete(old.number)
    del all_runs[:-MAX_RUNS]
    return run


def _zip_now(sc: Scenario) -> bytes | None:
    try:
        return scenario_zip(sc)
    except Exception as exc:  # noqa: BLE001 - the run is kept without its zip
        log.warning("scenario %s not zipped: %s", sc.name, exc)
        return None


def relabel(run: Run, label: str) -> None:
    """Rename a run (kept on disk)."""
    label = " ".join(label.split())[:LABEL_MAX]
    if label and label != run.label:
        run.label = label
        try:
            store.save(run)
        except Exception as exc:  # noqa: BLE001
            log.warning("run #%s not stored: %s", run.number, exc)


def forget_runs() -> None:
    st.session_state["runs"] = []
    store.delete_all()


def run_for(source_id: str, fingerprint: str) -> Run | None:
    """The latest run of exactly these inputs (a stopped run counts: the page offers to run again)."""
    for r in reversed(runs()):
        if r.source_id == source_id and r.fingerprint == fingerprint:
            return r
    return None


def latest_run(source_id: str) -> Run | None:
    for r in reversed(runs()):
        if r.source_id == source_id:
            return r
    return None
