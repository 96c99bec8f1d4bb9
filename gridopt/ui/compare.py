"""The Compare page: two or more runs of this session side by side, and a sweep's results."""

from __future__ import annotations

import streamlit as st

from gridopt import plots, report
from gridopt.ui import state, sweep

PLOT_CONFIG = {"displaylogo": False}
_VERDICT_STYLE = {"better": "color: #1a7f37; font-weight: 600", "worse": "color: #cf222e; font-weight: 600", "same": ""}


def _clear_runs() -> None:
    st.session_state["runs"] = []
    st.session_state.pop("cmp_runs", None)
    st.session_state.pop("cmp_ref", None)


def _table(summaries: dict[str, dict], reference: str):
    """The KPI table as formatted text, coloured by which run is better."""
    kpis = report.KPIS + report.COMPARE_EXTRA
    values = report.compare_table(summaries, reference, kpis)
    verdicts = report.compare_verdicts(summaries, reference, kpis)
    shown = values.drop(columns=["unit"]).copy().astype(object)
    for i, k in enumerate(kpis):
        for col in shown.columns:
            v = values.iloc[i][col]
            v = None if v != v else v  # NaN -> None
            shown.iloc[i, shown.columns.get_loc(col)] = (
                report.fmt_delta(k, v) if col.startswith("Δ ") else report.fmt_value(k, v)
            )
    styler = shown.style.apply(
        lambda col: [_VERDICT_STYLE[v] for v in verdicts[col.name]] if col.name in verdicts else [""] * len(col),
        axis=0,
    )
    return styler


def render() -> None:
    """Draw the Compare page: this session's runs, then a sweep's results (:mod:`gridopt.ui.sweep`)."""
    _render_runs()
    sweep.render()


def _render_runs() -> None:
    """The runs of this session side by side."""
    state.keep_widget_state()
    st.title("Compare runs")
    done = [r for r in state.runs() if r.result is not None]
    if len(done) < 2:
        st.info(
            "Run at least two plans on the **Plan** page to compare them here, for example a scenario with and "
            "without V2G (Fleet → V2G-capable vehicles) or with two tariffs. Every run of this session is kept "
            f"(the last {state.MAX_RUNS}).",
            icon=":material/info:",
        )
        if done:
            st.markdown(f"So far: {done[0].label}.")
        st.page_link("gridopt/ui/pages/plan.py", label="Go to the Plan page", icon=":material/arrow_back:")
        return

    labels = [r.label for r in done]
    by_label = {r.label: r for r in done}
    default = labels[-min(len(labels), 4) :]
    st.session_state["cmp_runs"] = [x for x in st.session_state.get("cmp_runs", default) if x in labels] or default
    chosen = st.multiselect("Runs to compare", labels, key="cmp_runs")
    if len(chosen) < 2:
        st.info("Pick at least two runs.")
        return
    if st.session_state.get("cmp_ref") not in chosen:
        st.session_state["cmp_ref"] = chosen[0]
    reference = st.selectbox(
        "Differences against", chosen, key="cmp_ref", help="Δ columns show each run minus this one."
    )
    summaries = {lb: by_label[lb].result.summary for lb in chosen}

    st.subheader("Grid import")
    st.plotly_chart(
        plots.import_overlay(
            (
                lb,
                by_label[lb].result.site,
                by_label[lb].scenario.grid.step_minutes,
                by_label[lb].scenario.import_limit_kw,
            )
            for lb in chosen
        ),
        config=PLOT_CONFIG,
        key="overlay",
    )
    st.subheader("Cost")
    st.plotly_chart(plots.cost_bars(summaries, baseline_of=reference), config=PLOT_CONFIG, key="costs")

    st.subheader("Key figures")
    table = _table(summaries, reference)
    st.dataframe(table, width="stretch", height=35 * (len(table.data) + 1) + 3)  # every row, no scrolling
    st.caption(
        f"Δ = run minus **{reference}**; green is better, red is worse (for costs, peak, unmet energy: lower is better; "
        "for PV self-consumption: higher). Costs in the scenarios' currency."
    )
    st.button("Forget all runs", on_click=_clear_runs, icon=":material/delete:")
