"""Run ``gridopt run`` in-process on a rendered case and judge the outcome.

The contract (README, *Exit codes*; issue 8):

* exit 2: exactly one ``error: `` line on stderr (``warning: `` lines may come
  before it), naming a file of the scenario by its base name, then the line or
  field and the problem; no absolute path;
* exit 3: an ``error: `` line that explains the infeasible site;
* exit 0: ``schedule.csv``, ``site.csv`` and ``summary.json`` written, the plan
  passes :func:`gridopt.check.check_schedule`, the files hold the plan, nothing
  on stdout under ``--quiet``; input that can be read two ways was refused, and
  trips or sessions outside the horizon are not dropped without a warning;
* never an exception out of ``main`` (a traceback), never exit 4 on these small
  inputs, never exit 70, never longer than :data:`WALL_LIMIT_S`.

``gridopt validate`` must agree: the same error line when ``run`` refuses the
input, exit 0 when ``run`` plans (or exit 3 when it explains an infeasible site).

A problem is a :class:`Problem` whose ``signature`` groups findings by root
cause (exception type and the gridopt function that raised it, or the broken
rule) so that a long run can be summarised.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import signal
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

import gridopt
from gridopt.check import check_schedule
from gridopt.cli import main

from .builders import PATHS, TABLE_COLUMNS

#: Wall-clock limit of one ``gridopt run`` on these small inputs [s].
WALL_LIMIT_S = 60.0
_ERROR = re.compile(r"^error: (?P<file>[^\s:]+?)(?: (?P<line>lines? \d+[^:]*))?: (?P<msg>.+)$")
# what a message may point at besides a line: a quoted field, key, column or value, a field named
# in the text, or a fault of the whole file
_LOCATOR = re.compile(
    r"'[^']*'|\"[^\"]*\"|\b(field|key|column|empty|rows?|header|schedule|mapping|covers)\b|UTF|encoding|gzip|binary"
    r"|YAML|CSV|JSON"
)
_FIELD_WORDS = {k for path in PATHS for k in path} | set(TABLE_COLUMNS)


class WallClockExceeded(BaseException):
    """Raised in the main thread when one run takes longer than :data:`WALL_LIMIT_S`."""


@contextlib.contextmanager
def wall_clock(limit_s: float):
    """Interrupt the block (SIGALRM) after ``limit_s`` seconds; a no-op where SIGALRM is missing."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def handler(signum, frame):
        raise WallClockExceeded(f"run took longer than {limit_s:g} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Outcome:
    code: int | None
    stdout: str
    stderr: str
    seconds: float
    exception: BaseException | None = None
    tb: str = ""
    result: object | None = None
    python_warnings: list[str] = field(default_factory=list)


def run_cli(argv: list[str]) -> Outcome:
    """``gridopt.cli.main(argv)`` in-process, with stdout/stderr captured and the plan kept."""
    out, err = io.StringIO(), io.StringIO()
    kept: dict = {}
    real = gridopt.optimize

    def spy(*args, **kwargs):
        res = real(*args, **kwargs)
        kept["result"] = res
        return res

    code, exc, tb = None, None, ""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with mock.patch.object(gridopt, "optimize", spy), contextlib.redirect_stdout(out):
            with contextlib.redirect_stderr(err):
                try:
                    with wall_clock(WALL_LIMIT_S):
                        code = main(argv)
                except SystemExit as e:  # argparse
                    code = e.code if isinstance(e.code, int) else 1
                except KeyboardInterrupt:
                    raise
                except BaseException as e:  # noqa: BLE001 - any escape is a finding
                    exc, tb = e, traceback.format_exc()
    return Outcome(
        code=code,
        stdout=out.getvalue(),
        stderr=err.getvalue(),
        seconds=time.perf_counter() - t0,
        exception=exc,
        tb=tb,
        result=kept.get("result"),
        python_warnings=sorted({f"{w.category.__name__}: {w.message}" for w in caught}),
    )


@dataclass(frozen=True)
class Problem:
    signature: str  # root cause, for grouping
    detail: str


def _where_raised(tb: str) -> str:
    """``module:function`` of the innermost gridopt frame of a formatted traceback."""
    frames = re.findall(r'File "([^"]+)", line \d+, in (\S+)', tb)
    inner = [(f, fn) for f, fn in frames if "/gridopt/" in f and "/tests/" not in f]
    if not inner:
        return "?"
    f, fn = inner[-1]
    mod = f.split("/gridopt/", 1)[1].removesuffix(".py").replace("/", ".")
    return f"gridopt.{mod}:{fn}"


def _normalise(msg: str) -> str:
    """A message with numbers, quoted values and times blanked, to group similar ones."""
    msg = re.sub(r"'[^']*'|\"[^\"]*\"", "'_'", msg)
    msg = re.sub(r"\d[\d:.+\-eT]*", "N", msg)
    return msg[:90]


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def judge_exception(o: Outcome) -> list[Problem]:
    if o.exception is None:
        return []
    if isinstance(o.exception, WallClockExceeded):
        return [Problem("hang: over the wall-clock limit", str(o.exception))]
    t = type(o.exception)
    kind = t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"
    return [Problem(f"traceback: {kind} in {_where_raised(o.tb)}", o.tb[-2500:])]


def judge_refusal(o: Outcome, file_names: set[str], folder: Path) -> list[Problem]:
    """Exit 2: one ``error:`` line naming a file of the scenario and a line or field."""
    lines = stderr_lines(o.stderr)
    errors = [line for line in lines if line.startswith("error: ")]
    other = [line for line in lines if not line.startswith(("error: ", "warning: "))]
    out = []
    if len(errors) != 1 or other:
        return [Problem("exit 2: not exactly one 'error:' line on stderr", o.stderr[-1500:])]
    line = errors[0]
    if str(folder) in line or str(folder.resolve()) in line:
        out.append(Problem("exit 2: message shows an absolute path", line))
    m = _ERROR.match(line)
    if not m or Path(m["file"]).name not in file_names:
        out.append(Problem(f"exit 2: message names no file of the scenario: {_normalise(line)}", line))
    elif not m["line"] and not _LOCATOR.search(m["msg"]) and not _FIELD_WORDS & set(re.findall(r"[\w.]+", m["msg"])):
        out.append(Problem(f"exit 2: message names no line or field: {_normalise(line)}", line))
    return out


def judge_plan(o: Outcome, out_dir: Path, quiet: bool) -> list[Problem]:
    """Exit 0: the files are there, hold the plan, and the plan passes the physics check."""
    probs = []
    names = ("schedule.csv", "site.csv", "summary.json")
    missing = [n for n in names if not (out_dir / n).is_file()]
    if missing:
        return [Problem("exit 0: result files missing", ", ".join(missing))]
    if quiet and o.stdout.strip():
        probs.append(Problem("exit 0: --quiet printed on stdout", o.stdout[:300]))
    bad = [line for line in stderr_lines(o.stderr) if not line.startswith("warning: ")]
    if bad:
        probs.append(Problem("exit 0: stderr holds more than warnings", "\n".join(bad)[:1500]))
    try:
        summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [*probs, Problem("exit 0: summary.json unreadable", str(exc))]
    if summary.get("status") not in ("optimal", "time_limit"):
        probs.append(Problem("exit 0: summary status is not optimal/time_limit", str(summary.get("status"))))
    for key in ("total_cost", "objective", "energy_delivered_kwh"):
        v = summary.get(key)
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            probs.append(Problem(f"exit 0: summary {key} is not a finite number", repr(v)))
    res = o.result
    if res is None:
        return [*probs, Problem("exit 0: no plan seen (gridopt.optimize not called through gridopt)", "")]
    violations = check_schedule(res.scenario, res.schedule, res.site, res.unmet, raise_on_violation=False)
    if violations:
        probs.append(Problem("exit 0: plan breaks the physics check", "\n".join(violations[:5])))
    sched = pd.read_csv(out_dir / "schedule.csv")
    site = pd.read_csv(out_dir / "site.csv")
    if len(sched) != len(res.schedule) or len(site) != len(res.site):
        probs.append(
            Problem("exit 0: written files do not have the plan's rows", f"{len(sched)} vs {len(res.schedule)}")
        )
        return probs
    for col in ("charge_kw", "discharge_kw", "soc_kwh"):
        a, b = sched[col].to_numpy(float), res.schedule[col].to_numpy(float)
        if not np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True):
            probs.append(Problem(f"exit 0: schedule.csv {col} differs from the plan", ""))
    for col in ("grid_import_kw", "grid_export_kw", "pv_kw", "base_load_kw", "import_price"):
        a, b = site[col].to_numpy(float), res.site[col].to_numpy(float)
        if not np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True):
            probs.append(Problem(f"exit 0: site.csv {col} differs from the plan", ""))
    if not np.isfinite(site[["grid_import_kw", "grid_export_kw", "pv_kw", "import_price"]].to_numpy(float)).all():
        probs.append(Problem("exit 0: site.csv holds non-finite values", ""))
    return probs


def judge(
    o: Outcome,
    *,
    folder: Path,
    out_dir: Path,
    file_names: set[str],
    expect_refusal: list[str],
    outside_events: list[str],
    quiet: bool = True,
) -> list[Problem]:
    """Every rule ``o`` breaks (empty if the run kept the contract)."""
    if o.exception is not None:
        return judge_exception(o)
    if o.seconds > WALL_LIMIT_S:
        return [Problem("hang: over the wall-clock limit", f"{o.seconds:.1f} s")]
    if o.code == 2:
        return judge_refusal(o, file_names, folder)
    if o.code == 3:
        errors = [line for line in stderr_lines(o.stderr) if line.startswith("error: ")]
        return [] if errors and len(errors[0]) > 20 else [Problem("exit 3 without an explanation", o.stderr[-800:])]
    if o.code == 0:
        probs = judge_plan(o, out_dir, quiet)
        for why in expect_refusal:
            probs.append(Problem(f"exit 0 on input that must be refused: {why.split(': ', 1)[0]}", why))
        warned = any(line.startswith("warning: ") for line in stderr_lines(o.stderr))
        if outside_events and not warned:
            probs.append(
                Problem(
                    "exit 0: trips/sessions outside the horizon dropped without a warning", "; ".join(outside_events)
                )
            )
        return probs
    first = (stderr_lines(o.stderr) or [""])[-1]
    return [Problem(f"exit {o.code}: {_normalise(first)}", o.stderr[-1500:])]


def judge_validate(run: Outcome, val: Outcome) -> list[Problem]:
    """``gridopt validate`` agrees with ``gridopt run``."""
    if val.exception is not None:
        return judge_exception(val)
    if run.exception is not None or run.code not in (0, 2, 3):
        return []
    if run.code == 2:
        r_err = [line for line in stderr_lines(run.stderr) if line.startswith("error: ")]
        v_err = [line for line in stderr_lines(val.stderr) if line.startswith("error: ")]
        if val.code != 2:
            return [Problem(f"validate exit {val.code} where run refused the input", "\n".join(r_err))]
        if r_err != v_err:
            return [Problem("validate and run give different errors", f"run: {r_err}\nvalidate: {v_err}")]
        return []
    if val.code not in (0, 3) or (run.code == 0 and val.code != 0):
        return [Problem(f"validate exit {val.code} where run exit {run.code}", val.stderr[-800:])]
    return []


#: Summary figures an equivalent input must reproduce, and the relative tolerance (the MIP gap).
#: Only the optimum is unique: energies, V2G and the peak may differ between alternative optima (found by
#: the 10,000-example run: rows in another order gave a peak of 14.89 kW instead of 15.0 at the same cost).
_SAME = ("objective",)


def same_plan(a: dict, b: dict, stderr_a: str, stderr_b: str, rel_tol: float = 2e-4) -> list[Problem]:
    """Two ``summary.json`` of the same scenario written two ways agree (and so do their warnings' count)."""
    out = []
    for key in _SAME:
        x, y = a.get(key), b.get(key)
        if x is None or y is None:
            if x != y:
                out.append(Problem(f"equivalent input gave another plan: {key}", f"{x!r} vs {y!r}"))
            continue
        gap = max(rel_tol, *(g for g in (a.get("mip_gap"), b.get("mip_gap")) if g is not None))
        if abs(x - y) > 1e-6 + 2 * gap * max(abs(x), abs(y), 1.0):
            out.append(Problem(f"equivalent input gave another plan: {key}", f"{x!r} vs {y!r}"))
    wa = [line for line in stderr_lines(stderr_a) if line.startswith("warning: ")]
    wb = [line for line in stderr_lines(stderr_b) if line.startswith("warning: ")]
    if len(wa) != len(wb):
        out.append(Problem("equivalent input gave other warnings", f"{wa} vs {wb}"))
    return out
