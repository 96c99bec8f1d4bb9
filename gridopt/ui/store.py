"""The app's runs on disk, so that a reload (or a new browser tab) keeps them.

One file per run in ``<data dir>/runs/<number>.pkl`` (a pickle of
:class:`gridopt.ui.state.Run`: the scenario as run, its result and label).
The data directory is ``$GRIDOPT_APP_DIR`` when set (the tests use a temporary
folder), else ``$XDG_DATA_HOME/gridopt/app`` (``~/.local/share/gridopt/app``).
It holds vehicle data: it stays on this machine, and **Forget all runs** on the
Compare page deletes it. Files are only ever read back from this folder, which
the app itself writes; a file that no longer loads (written by another gridopt
version) is skipped with a warning, never a crash.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from pathlib import Path

log = logging.getLogger("gridopt.ui")

#: Version of the stored files; files of another version are skipped.
FORMAT = 1
_NAME = re.compile(r"^(\d{6})\.pkl$")


def data_dir() -> Path:
    """The folder of the app's stored runs (created on first use)."""
    env = os.environ.get("GRIDOPT_APP_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "gridopt" / "app"


def _runs_dir() -> Path:
    d = data_dir() / "runs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _path(number: int) -> Path:
    return _runs_dir() / f"{number:06d}.pkl"


def numbers() -> list[int]:
    """Numbers of the stored runs, oldest first."""
    d = data_dir() / "runs"
    if not d.is_dir():
        return []
    return sorted(int(m.group(1)) for p in d.iterdir() if (m := _NAME.match(p.name)))


def claim_number() -> int:
    """A new run number, unique in the store even with several browser tabs (an empty file claims it)."""
    n = max(numbers(), default=0) + 1
    while True:
        try:
            with open(_path(n), "xb"):
                return n
        except FileExistsError:
            n += 1


def save(run) -> None:
    """Write ``run`` (atomically: a reader never sees half a file)."""
    path = _path(run.number)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump({"format": FORMAT, "run": run}, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def load(keep: int) -> tuple[list, list[str]]:
    """The last ``keep`` stored runs, oldest first, and warnings for files that could not be read.

    Older runs beyond ``keep`` are deleted; empty files (a number claimed by a
    solve that is still running or was never finished) are skipped.
    """
    nums = numbers()
    for n in nums[:-keep] if keep else nums:
        _path(n).unlink(missing_ok=True)
    out, problems = [], []
    for n in nums[-keep:] if keep else ():
        path = _path(n)
        try:
            if path.stat().st_size == 0:
                continue
            with open(path, "rb") as f:
                data = pickle.load(f)  # noqa: S301 - the app's own files in the user's data folder
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError("written by another gridopt version")
            out.append(data["run"])
        except Exception as exc:  # noqa: BLE001 - a stale file is skipped, never a crash
            log.warning("stored run %s not loaded: %s", path, exc)
            problems.append(f"stored run #{n} could not be read ({type(exc).__name__}) and is left out")
    return out, problems


def delete(number: int) -> None:
    _path(number).unlink(missing_ok=True)


def delete_all() -> None:
    """Forget every stored run."""
    for n in numbers():
        delete(n)
