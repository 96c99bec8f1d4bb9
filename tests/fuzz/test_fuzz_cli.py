"""Property: whatever the scenario files hold, ``gridopt run`` keeps its contract.

Small valid scenarios (4 h of 15-minute steps, 1-3 vehicles; trips, sessions,
both, or a timeseries CSV with a TOU tariff and clear-sky PV) are mutated (YAML
fields, duplicate keys, time zones and starts, CSV cells, columns and rows,
time formats, encodings, compression) and run through
``gridopt.cli.main(["run", ...])`` in-process. See :mod:`tests.fuzz.oracle` for
the rules each outcome is held to.

Environment:

``FUZZ_LOG=path.jsonl``
    Record every example (seconds, exit code, problems; the files of failing
    ones) and never fail: a long run then lists all root causes instead of
    stopping at the first.
``FUZZ_TARGET=text``
    Fail only on problems whose signature contains ``text`` (the others are
    logged if ``FUZZ_LOG`` is set): hypothesis then shrinks to a minimal
    example of that one root cause.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import example, given, settings

from .builders import YAML_NAME, Base, Case, render, show
from .mutations import FileBytes, Reorder, SetCell, TableBytes, TableEdit, YamlStyle
from .oracle import Outcome, Problem, judge, judge_validate, run_cli, same_plan
from .strategies import bases, cases, encoded_cases, equivalent_cases, numeric_cases, time_cases

#: Examples of the secondary properties, as a share of the profile's count.
_SECONDARY = max(10, min(settings.default.max_examples // 4, 1000))


def run_case(case: Case, *, validate: bool = True) -> tuple[Outcome, dict | None, list[Problem], dict]:
    """Render ``case``, run (and validate) it and judge the outcomes.

    Returns the outcome of ``gridopt run``, its ``summary.json`` (exit 0 only),
    the problems found and the rendered files.
    """
    rendered = render(case)
    summary = None
    with tempfile.TemporaryDirectory(prefix="gridopt-fuzz-") as tmp:
        folder = Path(tmp) / "sc"
        folder.mkdir()
        for name, data in rendered.files.items():
            (folder / name).write_bytes(data)
        out = Path(tmp) / "out"
        yaml_path = str(folder / YAML_NAME)
        run = run_cli(["run", yaml_path, "--out", str(out), "--quiet"])
        problems = judge(
            run,
            folder=folder,
            out_dir=out,
            file_names=set(rendered.files),
            expect_refusal=rendered.expect_refusal,
            outside_events=rendered.outside_events,
        )
        if run.code == 0 and (out / "summary.json").is_file():
            summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        if validate:
            val = run_cli(["validate", yaml_path])
            problems += judge_validate(run, val)
            run.seconds += val.seconds
    return run, summary, problems, rendered.files


def report(test: str, case: Case, run: Outcome, problems: list[Problem], files: dict) -> None:
    """Log the example (``FUZZ_LOG``) and fail on its problems (all, or those matching ``FUZZ_TARGET``)."""
    log = os.environ.get("FUZZ_LOG")
    if log:
        entry = {"test": test, "seconds": round(run.seconds, 4), "code": run.code, "case": repr(case)}
        if problems:
            entry.update(
                problems=[{"signature": p.signature, "detail": p.detail} for p in problems],
                files={n: d.decode("utf-8", errors="backslashreplace") for n, d in files.items()},
                stderr=run.stderr[-2000:],
            )
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
    target = os.environ.get("FUZZ_TARGET")
    failing = [p for p in problems if target is None or target in p.signature]
    if failing and (not log or target):
        lines = "\n".join(f"* {p.signature}\n  {p.detail}" for p in failing)
        raise AssertionError(
            f"{len(failing)} problem(s):\n{lines}\nexit {run.code}, stderr:\n{run.stderr}\nfiles:\n{show(files)}"
        )


def check_case(case: Case, test: str) -> Outcome:
    """Run, judge, log and fail as configured; return the outcome of ``gridopt run``."""
    run, _, problems, files = run_case(case)
    report(test, case, run, problems, files)
    return run


@given(bases)
@settings(max_examples=_SECONDARY)
def test_unmutated_bases_plan(base: Base):
    """Every base scenario is valid: it plans (exit 0) and keeps every rule."""
    assert render(Case(base)).expect_refusal == []
    run = check_case(Case(base), "bases")
    assert run.code == 0, run.stderr


@given(cases)
# the suite's own bug found by the 10,000-example run: a column edit after blank lines indexed the empty rows
@example(
    Case(
        Base(kind="trips", vehicles=1),
        (TableEdit(1, "blank_lines", 0, "{}"), TableEdit(1, "duplicate_column", 0, "{}")),
    )
)
@example(
    Case(Base(kind="trips", vehicles=1), (TableEdit(0, "blank_lines", 0, "{}"), TableEdit(0, "drop_column", 0, "{}")))
)
def test_mutated_scenarios_keep_the_contract(case: Case):
    """The main property: 0-3 mutations of any kind."""
    check_case(case, "mutated")


@given(encoded_cases)
@settings(max_examples=_SECONDARY)
# fuzz finding F1: a NUL in the YAML (UTF-16 without BOM) was refused without line or cause
@example(Case(Base(kind="trips", vehicles=1), (FileBytes(0, "utf16le", 0),)))
def test_encodings_and_damaged_files(case: Case):
    """BOMs, UTF-16, latin-1, CR/CRLF, gzip (whole, truncated, corrupt), empty and binary files."""
    check_case(case, "encodings")


@given(time_cases)
@settings(max_examples=_SECONDARY)
def test_time_zones_starts_and_formats(case: Case):
    """Zones (links, machine-dependent ones), DST days, start offsets, horizons, steps, time formats."""
    check_case(case, "time")


@given(numeric_cases)
@settings(max_examples=_SECONDARY)
# fuzz findings F2 and F3: discharge_efficiency 1e-9 on a V2G car gave exit 70, charge_efficiency 1e-9 a
# traceback (vehicles.csv is table 1 of the trips base; column 9 is discharge_efficiency, 8 charge_efficiency)
@example(Case(Base(kind="trips", vehicles=1, v2g=True), (SetCell(1, 0, 9, "1e-9"),)))
@example(Case(Base(kind="trips", vehicles=1), (SetCell(1, 0, 8, "1e-9"),)))
def test_numeric_edge_values(case: Case):
    """2-6 numbers at their edges at once (1e-9 efficiencies, 1e12 powers, SoC past 1, tiny limits):
    refused, or a plan that passes the physics check; never exit 70 or a traceback."""
    check_case(case, "numeric")


#: Mutations after which the files say exactly what they said: the plan must be the same.
_KEEPS_CONTENT = (YamlStyle, Reorder, TableBytes)


@given(equivalent_cases)
@settings(max_examples=_SECONDARY)
def test_equivalent_files_give_the_same_plan(case: Case):
    """Metamorphic: the same scenario written another way (key order, flow style, comments, floats, column
    and row order, BOM, CRLF, gzip) plans the same; other spellings (UTF-16, CR, Z and local times, ...) plan
    the same or are refused with a proper message, never read as something else."""
    base_run, base_summary, base_problems, base_files = run_case(Case(case.base), validate=False)
    report("equivalent-base", Case(case.base), base_run, base_problems, base_files)
    assert base_summary is not None, base_run.stderr
    run, summary, problems, files = run_case(case, validate=False)
    must_plan = all(isinstance(m, _KEEPS_CONTENT) for m in case.mutations)
    if run.code == 0 and summary is not None:
        problems += same_plan(base_summary, summary, base_run.stderr, run.stderr)
    elif must_plan or run.code != 2:
        problems.append(Problem(f"equivalent input not planned: exit {run.code}", run.stderr[-800:]))
    report("equivalent", case, run, problems, files)
