"""The sweep's journal and its results table.

Each finished case is one file ``DIR/journal/<key>.json``, written atomically
(a temporary file, flushed, renamed) the moment its row arrives: a sweep killed
at any point loses at most the cases that were running. ``results.parquet`` and
``results.csv`` are rebuilt from the journal (at the end of a run, and when a
run resumes), one row per case of the current sweep in expansion order.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

from ..errors import OutputError

JOURNAL = "journal"
RESULTS_PARQUET = "results.parquet"
RESULTS_CSV = "results.csv"
MANIFEST = "manifest.json"


def _json_safe(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_json_safe(v) for v in o]
    if hasattr(o, "item") and callable(o.item):  # numpy scalars
        return _json_safe(o.item())
    return o


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one (never a part)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def record(out_dir: Path, row: dict) -> Path:
    """Journal one case's row as ``DIR/journal/<case_key>.json`` (atomically)."""
    path = Path(out_dir) / JOURNAL / f"{row['case_key']}.json"
    try:
        atomic_write(path, json.dumps(_json_safe(row), sort_keys=False, allow_nan=False, default=str) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write the sweep's journal {path}: {exc.strerror or exc}") from None
    return path


def read_journal(out_dir: Path, keys=None) -> dict[str, dict]:
    """Rows in the journal by case key (only ``keys`` if given); unreadable files are skipped."""
    folder = Path(out_dir) / JOURNAL
    rows: dict[str, dict] = {}
    if not folder.is_dir():
        return rows
    wanted = None if keys is None else set(keys)
    for p in folder.glob("*.json"):
        key = p.stem
        if wanted is not None and key not in wanted:
            continue
        try:
            rows[key] = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a file that a crash cut short cannot exist (atomic writes), but never trust one
    return rows


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Columns parquet can store: a column of mixed kinds (numbers and text) becomes text."""
    for c in df.columns:
        if df[c].dtype != object:
            continue
        kinds = {type(v) for v in df[c] if v is not None and not (isinstance(v, float) and math.isnan(v))}
        if kinds <= {bool}:
            continue
        if kinds <= {int, float}:
            df[c] = pd.to_numeric(df[c])
        elif len(kinds) > 1:
            df[c] = [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in df[c]]
    return df


def results_frame(rows: list[dict]) -> pd.DataFrame:
    """One row per case, sorted by case index; the first columns are the case, its parameters and status."""
    if not rows:
        return pd.DataFrame(columns=["case", "case_id", "case_key", "status", "message"])
    df = pd.DataFrame(rows).sort_values("case", kind="stable").reset_index(drop=True)
    return _tidy(df)


def write_results_table(out_dir: Path, df: pd.DataFrame) -> list[Path]:
    """``results.parquet`` and ``results.csv`` of ``df`` (each written atomically)."""
    from ..io.write import spreadsheet_safe

    out_dir = Path(out_dir)
    paths = [out_dir / RESULTS_PARQUET, out_dir / RESULTS_CSV]
    try:
        fd, tmp = tempfile.mkstemp(prefix=".results.", suffix=".parquet.tmp", dir=out_dir)
        os.close(fd)
        try:
            df.to_parquet(tmp, index=False)
            os.replace(tmp, paths[0])
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        shown = df.copy()
        for c in shown.columns:
            if shown[c].dtype == object:
                shown[c] = [spreadsheet_safe(v) if isinstance(v, str) else v for v in shown[c]]
        atomic_write(paths[1], shown.to_csv(index=False))
    except OSError as exc:
        raise OutputError(f"cannot write the sweep's results in {out_dir}: {exc.strerror or exc}") from None
    return paths


def load_results(out_dir) -> pd.DataFrame:
    """A sweep's results table: ``results.parquet`` if present, else rebuilt from the journal.

    Parameters
    ----------
    out_dir : path-like
        The sweep's folder ``DIR`` (or a ``results.parquet`` / ``results.csv`` file).
    """
    p = Path(out_dir)
    if p.is_file():
        return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    if (p / RESULTS_PARQUET).is_file():
        return pd.read_parquet(p / RESULTS_PARQUET)
    return results_frame(list(read_journal(p).values()))
