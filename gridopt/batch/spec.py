"""The sweep file: base scenario(s), parameters, and how they combine into cases.

A sweep is a YAML file (paths relative to it)::

    name: depot-limits
    base: ../depot_bus_v2g.yaml          # or a list of scenarios, or {synthetic: {...}}
    mode: grid                           # grid (Cartesian product, default), list or lhs
    parameters:
      import_limit_kw: [400, 800, null]  # null: no limit
      v2g_share: {start: 0, stop: 1, num: 5}
      week:                              # a group: each value sets several fields
        - {label: june, start: "2024-06-17T00:00:00+02:00", timeseries: june.csv}
        - {label: january, start: "2024-01-15T00:00:00+01:00", timeseries: january.csv}
    fixed: {time_limit_s: 60}            # set in every case

Every parameter is a field of :meth:`gridopt.Scenario.replace` (the YAML's
fields without their block, and ``v2g_share``, ``n_vehicles``, ``price_file``,
``pv_series_scale``), a group of them, ``base`` (a list of scenarios), or for a
synthetic base (:mod:`gridopt.synthetic`) one of :data:`SYNTHETIC_KEYS`
(``seed``, ``n_vehicles``, ``v2g_share``, ...). Values are a list, or a range:
``{start, stop, num}`` (both ends included) or ``{start, stop, step}``; for
``mode: lhs`` a range is ``{min, max}`` (``integer: true`` for whole numbers)
and a list is sampled as categories. ``mode: list`` takes explicit ``cases:``.

:func:`load_sweep` checks the file; :func:`expand` turns it into :class:`Case`
objects, each with a content hash of everything that determines its result.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..edit import PATH_KEYS, REPLACE_KEYS
from ..errors import ScenarioError

#: Arguments of :func:`gridopt.synthetic.write_synthetic_fleet` a sweep may vary or fix.
SYNTHETIC_KEYS = ("seed", "n_vehicles", "v2g_share", "binding", "step_minutes", "time_limit_s", "mip_rel_gap")
#: Keys of a sweep file.
SWEEP_KEYS = (
    "name",
    "description",
    "base",
    "mode",
    "parameters",
    "cases",
    "samples",
    "seed",
    "fixed",
    "method",
    "baseline",
)
MODES = ("grid", "list", "lhs")
#: Most cases one sweep may expand to.
MAX_CASES = 100_000


@dataclass(frozen=True)
class Case:
    """One scenario of a sweep.

    Attributes
    ----------
    index : int
        Position in the expansion (0-based).
    params : dict
        The varied parameters as the results table shows them (numbers, text,
        file names relative to the sweep file, a group's label).
    changes : dict
        Keyword arguments of :meth:`gridopt.Scenario.replace` (absolute paths).
    base : str or None
        Absolute path of the base scenario YAML; None for a synthetic base.
    synthetic : dict or None
        Arguments of :func:`gridopt.synthetic.write_synthetic_fleet`.
    seed : int or None
        Seed of a synthetic fleet.
    key : str
        SHA-256 (hex) of everything that determines the result: gridopt's
        version, the base's and every named file's content, the changes, the
        method; equal keys, equal results.
    """

    index: int
    params: dict
    changes: dict
    base: str | None
    synthetic: dict | None
    seed: int | None
    key: str

    @property
    def id(self) -> str:
        """Folder name under ``DIR/cases/``: the key's first 16 hex digits."""
        return self.key[:16]


@dataclass(frozen=True)
class Sweep:
    """A checked sweep file.

    Attributes
    ----------
    name, description : str
    path : Path or None
        The sweep file (None for a sweep given as a dict with ``folder``).
    folder : Path
        Folder relative paths are read from.
    bases : list of str
        Absolute paths of the base scenarios (empty for a synthetic base).
    synthetic : dict or None
        Fixed arguments of the synthetic fleet.
    mode : {"grid", "list", "lhs"}
    parameters : dict
        Name -> list of values, or a range dict (lhs).
    cases : list of dict or None
        ``mode: list``.
    samples, seed : int or None
        ``mode: lhs``.
    fixed : dict
        Replace fields set in every case.
    method : {"auto", "milp"}
    baseline : bool
    spec : dict
        The file's content as read (for the manifest).
    """

    name: str
    description: str
    path: Path | None
    folder: Path
    bases: list
    synthetic: dict | None
    mode: str
    parameters: dict
    cases: list | None
    samples: int | None
    seed: int | None
    fixed: dict
    method: str
    baseline: bool
    spec: dict = field(repr=False, default_factory=dict)


def _err(where: str, msg: str) -> ScenarioError:
    return ScenarioError(f"{where}: {msg}")


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))


def load_sweep(source, folder=None) -> Sweep:
    """Read and check a sweep.

    Parameters
    ----------
    source : path-like or dict
        The sweep YAML, or its content as a dict.
    folder : path-like, optional
        For a dict: the folder its relative paths refer to (default: the current folder).

    Raises
    ------
    ScenarioError
        One line naming the sweep file, the key and the problem.
    """
    from ..io.read import _read_yaml

    if isinstance(source, dict):
        data, path, where = source, None, "sweep"
        base_folder = Path(folder or ".").absolute()
    else:
        path = Path(source).absolute()
        data = _read_yaml(path)
        where = path.name
        base_folder = path.parent
    unknown = [k for k in data if k not in SWEEP_KEYS]
    if unknown:
        raise _err(where, f"unknown key {unknown[0]!r} (allowed: {', '.join(SWEEP_KEYS)})")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _err(where, "missing key 'name' (a name for the sweep)")
    mode = data.get("mode", "grid")
    if mode not in MODES:
        raise _err(where, f"field 'mode': must be one of {', '.join(MODES)} (got {mode!r})")
    method = data.get("method", "auto")
    if method not in ("auto", "milp"):
        raise _err(where, f"field 'method': must be auto or milp (got {method!r})")
    baseline = data.get("baseline", True)
    if not isinstance(baseline, bool):
        raise _err(where, "field 'baseline': must be true or false")

    base = data.get("base")
    bases: list = []
    synthetic = None
    if isinstance(base, dict):
        if list(base) != ["synthetic"] or not isinstance(base["synthetic"], dict):
            raise _err(where, "field 'base': a scenario path, a list of them, or {synthetic: {n_vehicles: ...}}")
        synthetic = dict(base["synthetic"])
        for k in synthetic:
            if k not in SYNTHETIC_KEYS:
                raise _err(where, f"field 'base.synthetic.{k}': unknown (allowed: {', '.join(SYNTHETIC_KEYS)})")
    elif isinstance(base, (str, list)) and base:
        for i, b in enumerate(base if isinstance(base, list) else [base]):
            if not isinstance(b, str):
                raise _err(where, f"field 'base{f'.{i}' if isinstance(base, list) else ''}': must be a scenario path")
            p = base_folder / b
            if not p.is_file():
                raise _err(where, f"field 'base': scenario {b!r} not found")
            bases.append(str(p.resolve()))
    else:
        raise _err(where, "missing key 'base' (the scenario YAML to vary, a list of them, or {synthetic: {...}})")

    fixed = data.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise _err(where, "field 'fixed': a mapping of fields set in every case")
    for k in fixed:
        _check_name(k, where, f"fixed.{k}", synthetic is not None)
    fixed = {k: _resolve_value(k, v, base_folder) for k, v in fixed.items()}

    params = data.get("parameters") or {}
    if not isinstance(params, dict):
        raise _err(where, "field 'parameters': a mapping of field names to values")
    checked: dict = {}
    for k, v in params.items():
        checked[k] = _check_parameter(k, v, where, mode, synthetic is not None, base_folder)
    if len(bases) > 1:
        if "base" in checked:
            raise _err(where, "give the base scenarios in 'base' or as parameter 'base', not both")
        checked = {"base": list(bases), **checked}
    elif "base" in checked:
        raise _err(where, "parameters.base: list the scenarios in 'base' instead")

    cases = None
    if mode == "list":
        cases = data.get("cases")
        if not isinstance(cases, list) or not cases:
            raise _err(where, "mode list needs 'cases': a list of mappings of field values")
        out_cases = []
        for i, c in enumerate(cases):
            if not isinstance(c, dict):
                raise _err(where, f"cases.{i}: a mapping of field values")
            for k in c:
                if k != "base":
                    _check_name(k, where, f"cases.{i}.{k}", synthetic is not None)
            out_cases.append(c)
        cases = out_cases
        if checked:
            raise _err(where, "mode list takes its values from 'cases'; put common values in 'fixed'")
    elif data.get("cases") is not None:
        raise _err(where, "'cases' is for mode: list")
    samples = seed = None
    if mode == "lhs":
        samples, seed = data.get("samples"), data.get("seed", 0)
        if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= MAX_CASES:
            raise _err(where, f"mode lhs needs 'samples': a whole number of cases within 1..{MAX_CASES}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise _err(where, "field 'seed': a whole number (the Latin hypercube's random seed)")
        if not checked:
            raise _err(where, "mode lhs needs 'parameters' to sample")
    elif mode == "grid":
        n = math.prod(len(v) for v in checked.values()) if checked else 1
        if n > MAX_CASES:
            raise _err(where, f"the grid has {n:,} cases, more than {MAX_CASES:,}")
    return Sweep(
        name=name,
        description=str(data.get("description", "")),
        path=path,
        folder=base_folder,
        bases=bases,
        synthetic=synthetic,
        mode=mode,
        parameters=checked,
        cases=cases,
        samples=samples,
        seed=seed,
        fixed=fixed,
        method=method,
        baseline=baseline,
        spec=json.loads(json.dumps(data, default=str)),
    )


def _check_name(name: str, where: str, loc: str, synthetic: bool) -> None:
    if synthetic and name in SYNTHETIC_KEYS:
        return
    if name not in REPLACE_KEYS:
        extra = f", or for a synthetic base {', '.join(SYNTHETIC_KEYS)}" if synthetic else ""
        raise _err(
            where,
            f"{loc}: unknown field {name!r}; a parameter is a scenario field as Scenario.replace takes it "
            f"(import_limit_kw, v2g_share, step_minutes, horizon_hours, import_price, price_file, ...){extra}, "
            "or a group of them (a list of mappings)",
        )


def _resolve_value(name: str, value, folder: Path):
    """File fields: absolute paths (relative ones are read from the sweep's folder)."""
    if name in PATH_KEYS and isinstance(value, str):
        return str((folder / value).resolve())
    return value


def _range_values(spec: dict, where: str, loc: str) -> list:
    keys = set(spec)
    if keys == {"start", "stop", "num"}:
        a, b, n = spec["start"], spec["stop"], spec["num"]
        if not (_is_number(a) and _is_number(b)) or not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise _err(where, f"{loc}: a range needs numbers start, stop and a whole num >= 1")
        vals = np.linspace(float(a), float(b), n)
    elif keys == {"start", "stop", "step"}:
        a, b, s = spec["start"], spec["stop"], spec["step"]
        if not (_is_number(a) and _is_number(b) and _is_number(s)) or s == 0 or (b - a) / s < 0:
            raise _err(where, f"{loc}: a range needs numbers start, stop and a step that leads from start to stop")
        n = int(math.floor((b - a) / s + 1e-9)) + 1
        if n > MAX_CASES:
            raise _err(where, f"{loc}: the range has {n:,} values, more than {MAX_CASES:,}")
        vals = float(a) + s * np.arange(n)
    else:
        raise _err(where, f"{loc}: a range is {{start, stop, num}} or {{start, stop, step}} (got keys {sorted(keys)})")
    ints = all(isinstance(spec[k], int) for k in spec if k != "num") and bool(np.all(vals == np.round(vals)))
    return [int(round(v)) if ints else float(np.round(v, 12)) for v in vals]


def _check_parameter(name: str, values, where: str, mode: str, synthetic: bool, folder: Path):
    loc = f"parameters.{name}"
    if isinstance(values, dict):
        if mode == "lhs":
            keys = set(values) - {"integer"}
            if keys != {"min", "max"} or not (_is_number(values["min"]) and _is_number(values["max"])):
                raise _err(where, f"{loc}: an lhs range is {{min, max}} (numbers; integer: true for whole numbers)")
            if values["max"] < values["min"]:
                raise _err(where, f"{loc}: max is below min")
            if not isinstance(values.get("integer", False), bool):
                raise _err(where, f"{loc}.integer: must be true or false")
            _check_name(name, where, loc, synthetic)
            return dict(values)
        vals = _range_values(values, where, loc)
    elif isinstance(values, list):
        if not values:
            raise _err(where, f"{loc}: no values")
        vals = values
    else:
        raise _err(where, f"{loc}: a list of values or a range (got {values!r})")
    if name == "base":
        return [str((folder / v).resolve()) if isinstance(v, str) else v for v in vals]
    groups = [isinstance(v, dict) for v in vals]
    if any(groups):
        if not all(groups):
            raise _err(where, f"{loc}: a group's values are all mappings of fields")
        out = []
        for i, g in enumerate(vals):
            g = dict(g)
            label = g.pop("label", None)
            if not g:
                raise _err(where, f"{loc}.{i}: sets no field")
            for k in g:
                _check_name(k, where, f"{loc}.{i}.{k}", synthetic)
            out.append(
                {
                    "label": str(label if label is not None else i),
                    **{k: _resolve_value(k, v, folder) for k, v in g.items()},
                }
            )
        labels = [g["label"] for g in out]
        if len(set(labels)) != len(labels):
            raise _err(where, f"{loc}: two values have the label {next(x for x in labels if labels.count(x) > 1)!r}")
        return out
    _check_name(name, where, loc, synthetic)
    return [_resolve_value(name, v, folder) for v in vals]


# ---------------------------------------------------------------------------
# Expansion
# ---------------------------------------------------------------------------


def _lhs_points(sweep: Sweep) -> list[dict]:
    from scipy.stats import qmc

    names = list(sweep.parameters)
    u = qmc.LatinHypercube(d=len(names), seed=sweep.seed).random(sweep.samples)
    out = []
    for row in u:
        point = {}
        for name, x in zip(names, row, strict=True):
            spec = sweep.parameters[name]
            if isinstance(spec, dict):
                lo, hi = float(spec["min"]), float(spec["max"])
                if spec.get("integer"):
                    point[name] = int(min(hi, math.floor(lo + x * (hi - lo + 1))))
                else:
                    point[name] = float(lo + x * (hi - lo))
            else:
                point[name] = spec[min(len(spec) - 1, int(x * len(spec)))]
        out.append(point)
    return out


def points(sweep: Sweep) -> list[dict]:
    """The parameter values of every case, in order (before file resolution of ``cases``)."""
    if sweep.mode == "list":
        return [
            {
                k: (
                    str((sweep.folder / v).resolve())
                    if k == "base" and isinstance(v, str)
                    else _resolve_value(k, v, sweep.folder)
                )
                for k, v in c.items()
            }
            for c in sweep.cases
        ]
    if sweep.mode == "lhs":
        return _lhs_points(sweep)
    names = list(sweep.parameters)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*sweep.parameters.values())]


@lru_cache(maxsize=4096)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes (cached by path, modification time and size); ``missing`` if absent."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return "missing"
    return _file_digest(str(p), st.st_mtime_ns, st.st_size)


def scenario_files_digest(yaml_path: str) -> str:
    """SHA-256 of a scenario YAML and every file it names (its content, not its paths)."""
    from ..io.read import _read_yaml
    from ..io.save import PATH_FIELDS, get_path

    p = Path(yaml_path)
    h = hashlib.sha256(file_digest(str(p)).encode())
    try:
        cfg = _read_yaml(p)
    except ScenarioError:
        return h.hexdigest()
    for fld in PATH_FIELDS:
        rel = get_path(cfg, fld)
        if rel is not None:
            h.update(f"\0{'.'.join(fld)}\0{file_digest(str(p.parent / rel))}".encode())
    return h.hexdigest()


def _shown(name: str, value, folder: Path):
    """A parameter value as the results table shows it."""
    if isinstance(value, dict) and "label" in value:
        return value["label"]
    if (name in PATH_KEYS or name == "base") and isinstance(value, str):
        return Path(os.path.relpath(value, folder)).as_posix()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _hashable(changes: dict) -> dict:
    out = {}
    for k, v in sorted(changes.items()):
        if k in PATH_KEYS and isinstance(v, str):
            out[k] = {"file": Path(v).name, "sha256": file_digest(v)}
        else:
            out[k] = v
    return out


def expand(sweep: Sweep) -> list[Case]:
    """Every case of ``sweep`` with its content hash.

    Values of a group are merged into the case's changes; ``fixed`` fields come
    first and parameters override them. Two cases with the same key would give
    the same result: the second is dropped (a sweep never runs one twice).
    """
    from importlib import metadata

    try:
        version = metadata.version("gridopt")
    except metadata.PackageNotFoundError:
        version = "unknown"
    base_digests = {b: scenario_files_digest(b) for b in sweep.bases}
    out: list[Case] = []
    seen: set[str] = set()
    for point in points(sweep):
        changes = {k: v for k, v in sweep.fixed.items() if not (sweep.synthetic is not None and k in SYNTHETIC_KEYS)}
        synth = None
        if sweep.synthetic is not None:
            synth = {**sweep.synthetic, **{k: v for k, v in sweep.fixed.items() if k in SYNTHETIC_KEYS}}
        base = sweep.bases[0] if sweep.bases else None
        params = {}
        for name, value in point.items():
            params[name] = _shown(name, value, sweep.folder)
            if name == "base":
                base = value
                if base not in base_digests:
                    base_digests[base] = scenario_files_digest(base)
            elif isinstance(value, dict) and "label" in value:
                for k, v in value.items():
                    if k == "label":
                        continue
                    if synth is not None and k in SYNTHETIC_KEYS:
                        synth[k] = v
                    else:
                        changes[k] = v
            elif synth is not None and name in SYNTHETIC_KEYS:
                synth[name] = value
            else:
                changes[name] = value
        seed = None if synth is None else synth.get("seed", 0)
        ident = {
            "gridopt": version,
            "base": None if base is None else base_digests[base],
            "synthetic": synth,
            "changes": _hashable(changes),
            "method": sweep.method,
            "baseline": sweep.baseline,
        }
        key = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()
        if key in seen:
            continue
        seen.add(key)
        out.append(Case(len(out), params, changes, base, synth, seed, key))
    return out
