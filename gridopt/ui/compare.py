"""The Compare page: runs side by side (kept on disk, see :mod:`gridopt.ui.store`), and a sweep's results.

* the runs table: which runs to compare, and their short labels (editable);
* warnings when the chosen runs are not comparable as they stand (currency,
  horizon, step, start, scenario);
* the grid import of each run, its cost parts, and the key figures as a table
  with one row per run (and one of differences from a reference run);
* a CSV of that table.
"""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
import streamlit as st

from gridopt import plots, report
from gridopt.io.save import slug
from gridopt.ui import figures, kpis, state, sweep

PLOT_CONFIG = {"displaylogo": False}
_VERDICT_STYLE = {"better": "color: #1a7f37; font-weight: 600", "worse": "color: #cf222e; font-weight: 600", "same": ""}
TABLE_KPIS = report.KPIS + report.COMPARE_EXTRA


def _horizon_h(run: state.Run) -> float:
    return run.scenario.grid.n_steps * run.scenario.grid.dt_h


def mismatches(chosen: list[state.Run]) -> list[str]:
    """Why the chosen runs' figures are not comparable as they stand (one sentence each; empty if they are)."""
    out = []

    def differ(values: dict) -> bool:
        return len(set(values.values())) > 1

    def listing(values: dict, fmt) -> str:
        return ", ".join(f"{r.label}: {fmt(v)}" for r, v in values.items())

    cur = {r: r.scenario.currency or "no currency" for r in chosen}
    if differ(cur):
        out.append(
            f"**Different currencies** ({listing(cur, str)}): costs are not comparable; the Δ of costs mixes them."
        )
    hours = {r: _horizon_h(r) for r in chosen}
    if differ(hours):
        out.append(
            f"**Different horizons** ({listing(hours, lambda h: f'{h:g} h')}): totals (cost, energy, emissions) "
            "cover different times; compare the cost per kWh."
        )
    step = {r: r.scenario.grid.step_minutes for r in chosen}
    if differ(step):
        out.append(
            f"**Different steps** ({listing(step, lambda m: f'{m} min')}): peaks are step averages, lower with "
            "longer steps."
        )
    start = {r: r.scenario.grid.start for r in chosen}
    if differ(start):
        out.append(
            "**Different start times**: the grid import chart shows hours since each run's start, not clock time."
        )
    names = {r: r.scenario.name for r in chosen}
    if differ(names):
        out.append(
            f"**Different scenarios** ({len(set(names.values()))}): fleets, sites and prices differ; the Δ columns "
            "show how the plans differ, not what an edit changed."
        )
    stopped = [r.label for r in chosen if r.stopped]
    if stopped:
        out.append(f"**Stopped before the target gap**: {', '.join(stopped)} (their proven gap is in the table).")
    return out


def _runs_table(done: list[state.Run]) -> list[state.Run]:
    """The runs with a tick to compare and an editable label; returns the ticked runs."""
    chosen = st.session_state.setdefault("cmp_chosen", [r.number for r in done[-state.COMPARE_TICKED :]])
    numbers = {r.number for r in done}
    chosen[:] = [n for n in chosen if n in numbers]
    df = pd.DataFrame(
        {
            "compare": [r.number in chosen for r in done],
            "run": [r.number for r in done],
            "label": [r.label for r in done],
            "status": [_status_word(r) for r in done],
            "scenario": [r.scenario.name for r in done],
            "edits": [", ".join(r.changes) or "none" for r in done],
            "when": [datetime.fromtimestamp(r.when).strftime("%a %d %b %H:%M") for r in done],
        }
    )
    edited = st.data_editor(
        df,
        key=f"cmp_editor:{','.join(str(r.number) for r in done)}",
        hide_index=True,
        width="stretch",
        disabled=["run", "status", "scenario", "edits", "when"],
        column_config={
            "compare": st.column_config.CheckboxColumn("Compare", width=100),
            "run": st.column_config.NumberColumn("Run", format="#%d", width=60),
            "label": st.column_config.TextColumn(
                "Label (click to rename)", max_chars=state.LABEL_MAX, width=300, required=True
            ),
            "status": st.column_config.TextColumn("Status", width=150),
            "scenario": st.column_config.TextColumn("Scenario", width=160),
            "edits": st.column_config.TextColumn("Edits", width=260),
            "when": st.column_config.TextColumn("Run at", width=120),
        },
    )
    by_number = {r.number: r for r in done}
    for number, label in zip(edited["run"], edited["label"], strict=True):
        if isinstance(label, str) and label.strip():
            state.relabel(by_number[int(number)], label)
    chosen[:] = [int(n) for n, c in zip(edited["run"], edited["compare"], strict=True) if c]
    return [by_number[n] for n in chosen]


def _status_word(run: state.Run) -> str:
    s = run.result.summary
    if run.stopped:
        return f"stopped (gap {report.fmt_gap(s.get('mip_gap'))})"
    return "optimal" if s.get("status") == "optimal" else f"time limit (gap {report.fmt_gap(s.get('mip_gap'))})"


def _unique_labels(chosen: list[state.Run]) -> dict[str, state.Run]:
    """Label -> run; a label two runs share gets the run's number appended."""
    out: dict[str, state.Run] = {}
    for r in chosen:
        label = r.label if r.label not in out else f"{r.label} (#{r.number})"
        out[label] = r
    return out


def key_figures(runs: dict[str, state.Run]) -> pd.DataFrame:
    """One row per run (index: label): scenario, currency, horizon, step, then each KPI's value (numbers)."""
    rows = []
    for label, r in runs.items():
        s = r.result.summary
        row = {
            "label": label,
            "run": r.number,
            "scenario": r.scenario.name,
            "edits": ", ".join(r.changes),
            "currency": s.get("currency") or "",
            "horizon_h": _horizon_h(r),
            "step_minutes": r.scenario.grid.step_minutes,
            "status": _status_word(r),
        }
        for k in TABLE_KPIS:
            row[k.key] = report.kpi_value(s, k.key)
        rows.append(row)
    return pd.DataFrame(rows).set_index("label")


def _column_label(k: report.KPI, currencies: set[str]) -> str:
    one = next(iter(currencies)) if len(currencies) == 1 and "" not in currencies else None
    return kpis.label(k, one)


def _values_table(table: pd.DataFrame):
    """The key figures as text, one row per run."""
    currencies = set(table["currency"])
    shown = pd.DataFrame(index=table.index)
    shown["Scenario"] = table["scenario"]
    if len(currencies) > 1:
        shown["Currency"] = table["currency"]
    shown["Horizon"] = [f"{h:g} h, {m} min" for h, m in zip(table["horizon_h"], table["step_minutes"], strict=True)]
    for k in TABLE_KPIS:
        shown[_column_label(k, currencies)] = [report.fmt_number(k, _num(v)) for v in table[k.key]]
    return shown


def _num(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def _delta_table(runs: dict[str, state.Run], reference: str):
    """Each other run minus the reference, coloured green (better) or red (worse), one row per run."""
    ref = runs[reference].result.summary
    currencies = {r.result.summary.get("currency") or "" for r in runs.values()}
    values, styles = {}, {}
    for label, r in runs.items():
        if label == reference:
            continue
        s = r.result.summary
        row, style = {}, {}
        for k in TABLE_KPIS:
            d = report.delta(s, ref, k.key)
            col = _column_label(k, currencies)
            row[col] = report.fmt_delta(k, d) or "–"
            style[col] = _VERDICT_STYLE[report.verdict(k, d)]
        values[label], styles[label] = row, style
    df = pd.DataFrame.from_dict(values, orient="index")
    css = pd.DataFrame.from_dict(styles, orient="index")
    return df.style.apply(lambda _: css, axis=None)


def _overlay(runs: dict[str, state.Run]):
    fig = plots.import_overlay(
        (lb, r.result.site, r.scenario.grid.step_minutes, r.scenario.import_limit_kw) for lb, r in runs.items()
    )
    fig.update_layout(height=440 + 22 * len(runs), margin=dict(b=40 + 24 * len(runs)))
    return fig


def _render_runs() -> None:
    """The runs side by side."""
    state.keep_widget_state()
    state.collect_job()
    st.title("Compare runs")
    done = [r for r in state.runs() if r.result is not None]
    if len(done) < 2:
        st.info(
            "Run at least two plans on the **Plan** page to compare them here, for example a scenario with and "
            "without V2G (Fleet → V2G-capable vehicles) or with two tariffs. Runs are kept on this machine "
            f"(the last {state.MAX_RUNS}), also after a reload.",
            icon=":material/info:",
        )
        if done:
            st.markdown(f"So far: {done[0].label}.")
        st.page_link("gridopt/ui/pages/plan.py", label="Go to the Plan page", icon=":material/arrow_back:")
        return

    st.caption(
        f"Tick the runs to compare (a new run is ticked, the oldest tick beyond {state.COMPARE_TICKED} goes); "
        f"click a label to rename it (at most {state.LABEL_MAX} characters). The last {state.MAX_RUNS} runs are kept on this machine, also after a reload."
    )
    chosen = _runs_table(done)
    if len(chosen) < 2:
        st.info("Tick at least two runs.", icon=":material/info:")
        _forget_button()
        return
    runs = _unique_labels(chosen)
    labels = list(runs)
    if st.session_state.get("cmp_ref") not in labels:
        st.session_state["cmp_ref"] = labels[0]
    for text in mismatches(chosen):
        st.warning(text, icon=":material/warning:")

    st.subheader("Grid import")
    key = tuple((r.number, lb) for lb, r in runs.items())
    st.plotly_chart(figures.cached(("overlay", key), lambda: _overlay(runs)), config=PLOT_CONFIG, key="overlay")

    st.subheader("Key figures")
    table = key_figures(runs)
    shown = _values_table(table)
    st.dataframe(
        shown,
        width="stretch",
        height=35 * (len(shown) + 1) + 3,
        column_config={"_index": st.column_config.TextColumn("Run", pinned=True)},
    )
    row = st.container(horizontal=True, wrap=True, vertical_alignment="bottom")
    with row:
        reference = st.selectbox(
            "Differences against",
            labels,
            key="cmp_ref",
            width=320,
            help="The table below shows each other run minus this one.",
        )
    st.dataframe(
        _delta_table(runs, reference),
        width="stretch",
        height=35 * len(runs) + 3,
        column_config={"_index": st.column_config.TextColumn(f"Run minus {reference}", pinned=True)},
    )
    st.caption(
        f"Δ = run minus **{reference}**; green is better, red is worse (for costs, peak, unmet energy: lower is better; "
        "for PV self-consumption: higher). Costs in each run's currency."
    )
    row2 = st.container(horizontal=True, wrap=True)
    row2.download_button(
        "Comparison (.csv)",
        table.to_csv().encode(),
        file_name=download_name(chosen),
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        help="One row per run: its label, scenario, edits, currency, horizon and every key figure as a number.",
    )
    st.subheader("Cost")
    st.plotly_chart(
        figures.cached(("costs", key, reference), lambda: _costs(runs, reference)), config=PLOT_CONFIG, key="costs"
    )
    _forget_button()


def _costs(runs: dict[str, state.Run], reference: str):
    fig = plots.cost_bars({lb: r.result.summary for lb, r in runs.items()}, baseline_of=reference)
    fig.update_layout(legend=dict(orientation="h", y=-0.25, yanchor="top"), margin=dict(l=10))
    fig.update_yaxes(automargin=True)
    # room for the total printed right of each bar, also on a narrow screen
    totals = [r.result.summary.get("total_cost") or 0.0 for r in runs.values()]
    totals += [(r.result.summary.get("baseline") or {}).get("total_cost") or 0.0 for r in runs.values()]
    low, top = fig.layout.xaxis.range or (min(0.0, *totals), max(1.0, *totals))
    fig.update_xaxes(range=[low, max(top, max(totals) * 1.45)])
    currencies = {r.scenario.currency or "" for r in runs.values()}
    one = next(iter(currencies)) if len(currencies) == 1 else ""
    fig.update_xaxes(title_text=f"cost [{one}]" if one else "cost (each run's currency)")
    return fig


def _forget_button() -> None:
    st.button(
        "Forget all runs",
        on_click=state.forget_runs,
        icon=":material/delete:",
        help="Deletes every stored run from this machine.",
    )


def download_name(chosen: list[state.Run]) -> str:
    """``compare-<scenario>-runs-1-2.csv`` for one scenario, ``compare-runs-1-2-3.csv`` for several."""
    names = {slug(r.scenario.name) for r in chosen}
    nums = "-".join(str(r.number) for r in chosen)
    return f"compare-{names.pop()}-runs-{nums}.csv" if len(names) == 1 else f"compare-runs-{nums}.csv"


def render() -> None:
    """Draw the Compare page: the runs, then a sweep's results (:mod:`gridopt.ui.sweep`)."""
    _render_runs()
    sweep.render()
