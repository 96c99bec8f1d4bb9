"""The Compare page's sweep section: load a sweep's results (a folder or an uploaded table) and plot them.

The charts are :func:`gridopt.batch.report.sweep_figures` (the same as ``gridopt sweep --plot``).
A folder is read on this machine (the app binds to 127.0.0.1): ``results.parquet``,
else ``results.csv``, else the journal.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import streamlit as st

PLOT_CONFIG = {"displaylogo": False}
#: Largest uploaded results table [MB].
MAX_UPLOAD_MB = 50


def read_table(name: str, data: bytes) -> pd.DataFrame:
    """A results table from an uploaded ``results.parquet`` or ``results.csv``."""
    if name.lower().endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(data))
    return pd.read_csv(io.BytesIO(data))


def _load_folder(text: str) -> pd.DataFrame | None:
    from gridopt.batch import load_results

    folder = Path(text).expanduser()
    if not folder.is_dir():
        st.error(f"{text}: no such folder")
        return None
    if not any((folder / n).exists() for n in ("results.parquet", "results.csv", "journal")):
        st.error(f"{text}: not a sweep's folder (no results.parquet, results.csv or journal/)")
        return None
    return load_results(folder)


def render() -> None:
    """Draw the sweep section (below the runs)."""
    from gridopt.batch.report import KPIS, PLAN_STATUSES, parameters_of, sweep_figures

    st.divider()
    st.subheader("Sweep results")
    st.caption("Load the table of a `gridopt sweep` run: its folder on this machine, or its results.parquet / .csv.")
    left, right = st.columns(2)
    folder = left.text_input("Sweep folder", key="sweep_dir", placeholder="results/depot-sweep")
    upload = right.file_uploader(
        "or a results table", type=["parquet", "csv"], key="sweep_upload", max_upload_size=MAX_UPLOAD_MB
    )
    df = None
    try:
        if upload is not None:
            df = read_table(upload.name, upload.getvalue())
        elif folder:
            df = _load_folder(folder)
    except Exception as exc:  # noqa: BLE001 - a bad table is a message, not a crash
        st.error(f"cannot read the sweep's results: {' '.join(str(exc).split())[:200]}")
        return
    if df is None:
        return
    if "status" not in df or "case" not in df:
        st.error("not a sweep's results table (no case and status columns)")
        return
    params = parameters_of(df)
    counts = df["status"].value_counts()
    st.markdown(
        f"**{len(df)} cases**: "
        + ", ".join(f"{n} {s}" for s, n in counts.items())
        + (f"; parameters: {', '.join(params)}" if params else "")
    )
    if not params:
        st.info("No parameter varies in this table.")
        return
    ok = df[df["status"].isin(PLAN_STATUSES)]
    kpis = [k for k in KPIS if k in ok and ok[k].notna().any()]
    if not kpis:
        st.warning("No case of this sweep has a plan.")
    else:
        chosen = st.multiselect("KPIs", kpis, default=kpis[:3], key="sweep_kpis")
        for name, fig in sweep_figures(df, params, chosen):
            st.plotly_chart(fig, config=PLOT_CONFIG, key=f"sweep_{name}")
    failed = df[~df["status"].isin(PLAN_STATUSES)]
    if len(failed):
        with st.expander(f"{len(failed)} cases without a plan"):
            st.dataframe(failed[["case_id", *params, "status", "message"]], hide_index=True)
    with st.expander("Table"):
        st.dataframe(df[["case_id", *params, "status", *kpis]], hide_index=True)
