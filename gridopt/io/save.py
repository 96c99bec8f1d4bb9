"""Write a scenario back to files: a YAML and its data files, runnable with ``gridopt run``.

:func:`save_scenario` writes ``<name>.yaml`` and ``data/`` into a folder such
that :func:`gridopt.load_scenario` gives back the same scenario;
:func:`scenario_zip` gives the same files as a zip (what the app offers for
download). Data files are copied byte for byte from the scenario's folder (or
taken from edited tables), under fixed names per field, so two files can
never collide.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import yaml

#: The config fields that name files, as key paths.
PATH_FIELDS: tuple[tuple[str, ...], ...] = (
    ("timeseries",),
    ("pv", "weather"),
    ("tariff", "tariff_file"),
    ("fleet", "vehicles"),
    ("fleet", "trips"),
    ("fleet", "sessions"),
    ("grid", "signals"),
    ("site", "chargers"),
    ("site", "circuit"),
)
#: Where each field's file goes inside a saved scenario.
FILE_NAMES = {
    ("timeseries",): "data/timeseries.csv",
    ("pv", "weather"): "data/weather.csv",
    ("tariff", "tariff_file"): "data/tariff.json",
    ("fleet", "vehicles"): "data/vehicles.csv",
    ("fleet", "trips"): "data/trips.csv",
    ("fleet", "sessions"): "data/sessions.csv",
    ("grid", "signals"): "data/grid_signals.csv",
    ("site", "chargers"): "data/chargers.csv",
    ("site", "circuit"): "data/circuit.csv",
}
#: File name of the YAML in folders written by :func:`write_scenario_files`.
SCENARIO_FILE = "scenario.yaml"


def get_path(config: dict, field: tuple[str, ...]) -> str | None:
    """The file named at key path ``field`` of ``config``, or None (also for a table given inline,
    as ``site.circuit`` may be: a list of nodes)."""
    node = config
    for key in field:
        if not isinstance(node, dict) or node.get(key) is None:
            return None
        node = node[key]
    return None if isinstance(node, (list, dict)) else str(node)


def _set_path(config: dict, field: tuple[str, ...], value: str) -> None:
    node = config
    for key in field[:-1]:
        node = node[key]
    node[field[-1]] = value


def slug(name: str) -> str:
    """A file-name-safe form of a scenario name."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return s or "scenario"


def scenario_files(
    config: dict, base_dir: str | os.PathLike, texts: dict | None = None
) -> tuple[dict, dict[str, bytes]]:
    """The config pointing at canonical file names, and those files' contents.

    Parameters
    ----------
    config : dict
        YAML-ready scenario whose paths are relative to ``base_dir``.
    base_dir : path-like
    texts : dict, optional
        Replacement contents (text) by key path, e.g. an edited vehicles table
        under ``("fleet", "vehicles")``.

    Returns
    -------
    config : dict
        A copy naming ``data/vehicles.csv`` etc.
    files : dict
        Relative path -> bytes.
    """
    texts = texts or {}
    cfg = copy.deepcopy(config)
    files: dict[str, bytes] = {}
    for field in PATH_FIELDS:
        if field in texts:
            data = texts[field].encode("utf-8")
        else:
            rel = get_path(config, field)
            if rel is None:
                continue
            data = (Path(base_dir) / rel).read_bytes()
        if get_path(cfg, field) is None and field in texts:
            node = cfg
            for key in field[:-1]:
                node = node.setdefault(key, {})
        name = FILE_NAMES[field]
        _set_path(cfg, field, name)
        files[name] = data
    return cfg, files


def yaml_text(config: dict, filename: str) -> str:
    """The scenario YAML with a header that says how to run it."""
    head = (
        f"# gridopt scenario {config.get('name', '')!s}: paths are relative to this file.\n"
        f"# Run it with: gridopt run {filename} --out results\n"
    )
    return head + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)


def _write(folder: Path, yaml_name: str, config: dict, files: dict[str, bytes]) -> Path:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        (folder / rel).write_bytes(data)
    path = folder / yaml_name
    path.write_text(yaml_text(config, yaml_name), encoding="utf-8")
    return path


def save_scenario(sc, folder: str | os.PathLike) -> Path:
    """Write ``sc`` as ``<folder>/<name>.yaml`` with its files in ``<folder>/data/``.

    ``gridopt.load_scenario`` of the returned path gives back the same scenario
    (same config apart from the paths, same tables and time series).
    """
    cfg, files = scenario_files(sc.config, sc.base_dir)
    return _write(Path(folder), f"{slug(sc.name)}.yaml", cfg, files)


def scenario_zip(sc) -> bytes:
    """The files of :func:`save_scenario` as a zip, inside a folder named after the scenario."""
    cfg, files = scenario_files(sc.config, sc.base_dir)
    name = slug(sc.name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{name}/{name}.yaml", yaml_text(cfg, f"{name}.yaml"))
        for rel, data in files.items():
            z.writestr(f"{name}/{rel}", data)
    return buf.getvalue()


def write_scenario_files(
    config: dict, base_dir: str | os.PathLike, workdir: str | os.PathLike, texts: dict | None = None
) -> tuple[Path, dict]:
    """Write a self-contained scenario into a subfolder of ``workdir`` named by its content.

    The folder holds ``scenario.yaml`` and ``data/``; an existing folder of the
    same content is reused, and a folder appears complete or not at all.

    Returns
    -------
    folder : Path
    config : dict
        The config as written (paths relative to ``folder``).
    """
    cfg, files = scenario_files(config, base_dir, texts)
    text = yaml_text(cfg, SCENARIO_FILE)
    digest = hashlib.sha256(text.encode("utf-8"))
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    workdir = Path(workdir)
    folder = workdir / digest.hexdigest()[:24]
    if not folder.is_dir():
        workdir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=workdir))
        try:
            _write(tmp, SCENARIO_FILE, cfg, files)
            os.replace(tmp, folder)
        except OSError:
            if not folder.is_dir():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder, cfg


def stash_text(workdir: str | os.PathLike, text: str, name: str) -> Path:
    """Write ``text`` to ``<workdir>/stash/<hash>/<name>`` (once per content) and return the path.

    For inputs that arrive as text (an uploaded price table) but are read like
    files, so that they get the same reader and the same messages.
    """
    safe = Path(name).name or "data.txt"
    folder = Path(workdir) / "stash" / hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]
    path = folder / safe
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{safe}.partial"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return path
