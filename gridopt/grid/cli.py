"""``gridopt flex SCENARIO --out DIR``: write a fleet's flexibility envelope.

Files (aggregate only: no vehicle ids, no vehicle-level figures):

* ``envelope.csv``: ``time`` (step start, ISO 8601 with offset), ``p_min_kw``,
  ``p_max_kw`` (band of the fleet's net power, mean over the step),
  ``e_min_kwh``, ``e_max_kwh`` (band of its cumulative net energy at the step's
  end): every profile inside both bands is deliverable.
* ``envelope_outer.csv``: the same columns, summed from each vehicle's own limits
  (what the guarantee is measured against; not a guarantee).
* ``envelope.json``: method, tightness, horizon, step, number of vehicles and of
  requirements out of physical reach.

The files appear together or not at all. :func:`run_flex_cli` is what the
command line calls; it raises :class:`~gridopt.errors.ScenarioError` for bad
input or an output folder it cannot write, for the caller to print.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

from ..errors import ScenarioError
from .envelope import BAND_COLUMNS, Envelope, flexibility

FILES = ("envelope.csv", "envelope_outer.csv", "envelope.json")


def band_csv(band: pd.DataFrame) -> str:
    """A band as CSV text: ``time`` (ISO 8601 with offset) and the four band columns."""
    out = band[BAND_COLUMNS].copy() + 0.0  # no "-0" in the file
    out.insert(0, "time", [t.isoformat() for t in band.index])
    return out.to_csv(index=False, float_format="%.6g")


def envelope_json(env: Envelope) -> str:
    """The envelope's aggregate summary as JSON text."""
    return json.dumps(env.summary(), indent=2) + "\n"


def write_envelope(env: Envelope, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``envelope.csv``, ``envelope_outer.csv`` and ``envelope.json`` into ``out_dir``.

    Parameters
    ----------
    env : Envelope
    out_dir : path-like
        Created if missing; files in it with the same names are replaced.

    Returns
    -------
    list of Path
        The files written. They appear together or not at all.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ScenarioError(f"--out {out} exists and is not a folder")
    texts = {
        "envelope.csv": band_csv(env.inner),
        "envelope_outer.csv": band_csv(env.outer),
        "envelope.json": envelope_json(env),
    }
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise ScenarioError(f"cannot write to {out}: {exc.strerror or exc}; nothing was written") from None
    try:
        for name, text in texts.items():
            (tmp / name).write_text(text, encoding="utf-8")
        out.mkdir(exist_ok=True)
        written = []
        for name in texts:
            os.replace(tmp / name, out / name)
            written.append(out / name)
        return written
    except OSError as exc:
        raise ScenarioError(f"cannot write to {out}: {exc.strerror or exc}; nothing was written") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def summary_lines(env: Envelope, name: str) -> list[str]:
    """A short terminal summary of an envelope (aggregate figures only)."""
    inner, outer = env.inner, env.outer
    s = env.summary()
    lines = [
        f"{name}: flexibility envelope of {s['n_vehicles']} vehicles, {s['n_steps']} steps of "
        f"{s['step_minutes']} min from {s['horizon_start']} (method {s['method']})",
        f"  tightness         {env.tightness:.3f} (energy range), {env.power_tightness:.3f} (power range)",
        f"  power band        {inner['p_min_kw'].min():.1f} .. {inner['p_max_kw'].max():.1f} kW "
        f"(outer {outer['p_min_kw'].min():.1f} .. {outer['p_max_kw'].max():.1f} kW)",
        f"  energy at the end {inner['e_min_kwh'].iat[-1]:.1f} .. {inner['e_max_kwh'].iat[-1]:.1f} kWh "
        f"(outer {outer['e_min_kwh'].iat[-1]:.1f} .. {outer['e_max_kwh'].iat[-1]:.1f} kWh)",
    ]
    if env.best_effort_requirements:
        lines.append(
            f"  out of reach      {env.best_effort_requirements} requirements cannot be met even charging flat out "
            f"({env.best_effort_shortfall_kwh:.1f} kWh short): their best effort is planned instead"
        )
    return lines


def run_flex_cli(scenario_path: str | os.PathLike, out_dir: str | os.PathLike, quiet: bool = False) -> int:
    """Compute the envelope of a scenario file and write it; return the exit code (0).

    Parameters
    ----------
    scenario_path : path-like
        Scenario YAML.
    out_dir : path-like
        Output folder (see :func:`write_envelope`).
    quiet : bool
        Print nothing.

    Raises
    ------
    ScenarioError
        Bad scenario or data, or an output folder that cannot be written (exit
        code 2 for the caller, one line).
    """
    from ..io import load_scenario

    sc = load_scenario(scenario_path)
    for w in sc.warnings:
        print(f"warning: {w}", file=sys.stderr)
    env = flexibility(sc)
    write_envelope(env, out_dir)
    if not quiet:
        for line in summary_lines(env, sc.name):
            print(line)
        print(f"  wrote {Path(out_dir) / 'envelope.csv'}, envelope_outer.csv, envelope.json")
    return 0
