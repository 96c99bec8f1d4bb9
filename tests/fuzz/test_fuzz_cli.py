"""Property: whatever the scenario files hold, ``gridopt run`` keeps its contract.

Small valid scenarios (4 h of 15-minute steps, 1-3 vehicles; trips, sessions,
or a timeseries CSV with a TOU tariff and clear-sky PV) are mutated (YAML
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

from hypothesis import given, settings

from .builders import YAML_NAME, Base, Case, render, show
from .oracle import Outcome, judge, judge_validate, run_cli
from .strategies import bases, cases, encoded_cases, time_cases

#: Examples of the secondary properties, as a share of the profile's count.
_SECONDARY = max(10, min(settings.default.max_examples // 4, 1000))


def check_case(case: Case, test: str, *, validate: bool = True) -> Outcome:
    """Render ``case``, run and validate it, judge the outcomes; log, and fail as configured.

    Returns the outcome of ``gridopt run``.
    """
    rendered = render(case)
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
        seconds = run.seconds
        if validate:
            val = run_cli(["validate", yaml_path])
            problems += judge_validate(run, val)
            seconds += val.seconds
    log = os.environ.get("FUZZ_LOG")
    if log:
        entry = {"test": test, "seconds": round(seconds, 4), "code": run.code, "case": repr(case)}
        if problems:
            entry.update(
                problems=[{"signature": p.signature, "detail": p.detail} for p in problems],
                files={n: d.decode("utf-8", errors="backslashreplace") for n, d in rendered.files.items()},
                stderr=run.stderr[-2000:],
            )
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
    target = os.environ.get("FUZZ_TARGET")
    failing = [p for p in problems if target is None or target in p.signature]
    if failing and (not log or target):
        report = "\n".join(f"* {p.signature}\n  {p.detail}" for p in failing)
        raise AssertionError(
            f"{len(failing)} problem(s):\n{report}\nexit {run.code}, stderr:\n{run.stderr}\nfiles:\n{show(rendered.files)}"
        )
    return run


@given(bases)
@settings(max_examples=_SECONDARY)
def test_unmutated_bases_plan(base: Base):
    """Every base scenario is valid: it plans (exit 0) and keeps every rule."""
    assert render(Case(base)).expect_refusal == []
    run = check_case(Case(base), "bases")
    assert run.code == 0, run.stderr


@given(cases)
def test_mutated_scenarios_keep_the_contract(case: Case):
    """The main property: 0-3 mutations of any kind."""
    check_case(case, "mutated")


@given(encoded_cases)
@settings(max_examples=_SECONDARY)
def test_encodings_and_damaged_files(case: Case):
    """BOMs, UTF-16, latin-1, CR/CRLF, gzip (whole, truncated, corrupt), empty and binary files."""
    check_case(case, "encodings")


@given(time_cases)
@settings(max_examples=_SECONDARY)
def test_time_zones_starts_and_formats(case: Case):
    """Zones (links, machine-dependent ones), DST days, start offsets, horizons, steps, time formats."""
    check_case(case, "time")
