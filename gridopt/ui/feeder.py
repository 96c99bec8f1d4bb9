"""The Feeder page: the results of ``gridopt feeder FEEDER.yaml --out DIR`` (issue 12), read from a folder.

The folder is read on this machine (the app binds to 127.0.0.1): ``summary.json`` (cases, costs,
violations), ``network.json`` (buses with their coordinates, lines and transformers), ``elements.csv``
(pandapower's AC power flow of every step and case) and ``buses.csv`` (the sites' net load per bus).
No pandapower is needed: the network is drawn from ``network.json``. The format is described in
``docs/feeders.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from gridopt import report

PLOT_CONFIG = {"displaylogo": False}
#: The cases of a feeder run, in the order shown, with their names for people.
CASES = {
    "baseline": "Uncontrolled charging",
    "alone": "Each site's own optimum",
    "plan": "Feeder plan",
}
CASE_COLORS = {"baseline": "#8d99ae", "alone": "#e76f51", "plan": "#2a9d8f"}
FILES = ("summary.json", "network.json", "elements.csv", "buses.csv")


class FeederError(Exception):
    """A folder that is not a feeder's results (one line for the page)."""


def _stamp(folder: Path) -> str:
    return ":".join(f"{(folder / n).stat().st_mtime_ns}" for n in FILES if (folder / n).exists())


@st.cache_data(show_spinner=False, max_entries=4)
def load(folder: str, stamp: str) -> dict:
    """The feeder results in ``folder``: ``summary``, ``network`` (dicts), ``elements``, ``buses`` (DataFrames)."""
    path = Path(folder)
    missing = [n for n in FILES if not (path / n).is_file()]
    if missing:
        raise FeederError(f"{path.name}: not a feeder's results folder (no {', '.join(missing)})")
    try:
        summary = json.loads((path / "summary.json").read_text())
        network = json.loads((path / "network.json").read_text())
        elements = pd.read_csv(path / "elements.csv")
        buses = pd.read_csv(path / "buses.csv")
    except (ValueError, OSError) as exc:
        raise FeederError(f"{path.name}: cannot be read ({' '.join(str(exc).split())[:160]})") from None
    need = {"time", "element", "kind", "loading_percent", "vm_pu", "case"}
    if not need <= set(elements.columns):
        raise FeederError(f"elements.csv: needs the columns {', '.join(sorted(need - set(elements.columns)))}")
    if not isinstance(summary.get("cases"), dict) or not isinstance(network.get("buses"), list):
        raise FeederError("summary.json / network.json: not written by gridopt feeder (no cases or buses)")
    elements["time"] = pd.to_datetime(elements["time"], utc=True).dt.tz_convert(_tz(summary))
    buses["time"] = pd.to_datetime(buses["time"], utc=True).dt.tz_convert(_tz(summary))
    return {"summary": summary, "network": network, "elements": elements, "buses": buses}


def _count(n, word: str) -> str:
    return f"? {word}s" if n is None else f"{n:,} {word}{'' if n == 1 else 's'}"


def _tz(summary: dict):
    """The feeder's UTC offset from its start (the files carry offsets, not zone names)."""
    return pd.Timestamp(summary["start"]).tz


def cases_table(summary: dict) -> pd.DataFrame:
    """One row per case: cost, violations, steps with violations, highest loadings, voltage range."""
    rows = []
    for case, name in CASES.items():
        c = summary["cases"].get(case)
        if not c:
            continue
        rows.append(
            {
                "case": name,
                "cost": c.get("cost"),
                "violations": c.get("violations"),
                "steps_with_violations": c.get("steps_with_violations"),
                "max_trafo_loading_percent": c.get("max_trafo_loading_percent"),
                "max_line_loading_percent": c.get("max_line_loading_percent"),
                "min_vm_pu": c.get("min_vm_pu"),
                "max_vm_pu": c.get("max_vm_pu"),
            }
        )
    return pd.DataFrame(rows).set_index("case")


def loading_by_step(elements: pd.DataFrame) -> pd.DataFrame:
    """Highest loading [%] per step, kind (trafo, line) and case."""
    e = elements[elements["kind"].isin(["trafo", "line"])]
    return e.groupby(["case", "kind", "time"], sort=False)["loading_percent"].max().reset_index()


def voltage_by_step(elements: pd.DataFrame) -> pd.DataFrame:
    """Lowest and highest bus voltage [pu] per step and case."""
    b = elements[elements["vm_pu"].notna()]
    return b.groupby(["case", "time"], sort=False)["vm_pu"].agg(["min", "max"]).reset_index()


def _ends(x: pd.Series, y: pd.Series, step_minutes: int) -> tuple[list, list]:
    """Step-chart points with the last step drawn to its end."""
    if not len(x):
        return [], []
    return [*x, x.iloc[-1] + pd.Timedelta(minutes=step_minutes)], [*y, y.iloc[-1]]


def _loading_figure(elements: pd.DataFrame, step_minutes: int) -> go.Figure:
    df = loading_by_step(elements)
    fig = go.Figure()
    for case, name in CASES.items():
        for kind, dash in (("trafo", "solid"), ("line", "dot")):
            d = df[(df["case"] == case) & (df["kind"] == kind)]
            if d.empty:
                continue
            x, y = _ends(d["time"], d["loading_percent"], step_minutes)
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    name=f"{name}: {'transformer' if kind == 'trafo' else 'lines'}",
                    mode="lines",
                    line=dict(color=CASE_COLORS[case], dash=dash, width=2 if kind == "trafo" else 1.5, shape="hv"),
                    hovertemplate="%{y:.1f}% at %{x|%a %H:%M}<extra>%{fullData.name}</extra>",
                )
            )
    fig.add_hline(y=100, line=dict(color="#cf222e", dash="dash", width=1), annotation_text="100% (limit)")
    fig.update_layout(
        height=440,
        margin=dict(l=10, r=10, t=10, b=10),
        yaxis=dict(title_text="highest loading [%]", rangemode="tozero"),
        legend=dict(orientation="h", y=-0.3, yanchor="top"),
        hovermode="x unified",
    )
    return fig


def _voltage_figure(elements: pd.DataFrame, network: dict, step_minutes: int) -> go.Figure:
    df = voltage_by_step(elements)
    fig = go.Figure()
    for case, name in CASES.items():
        d = df[df["case"] == case]
        if d.empty:
            continue
        x, y = _ends(d["time"], d["min"], step_minutes)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=f"{name}: lowest",
                mode="lines",
                line=dict(color=CASE_COLORS[case], width=2, shape="hv"),
                hovertemplate="%{y:.4f} pu at %{x|%a %H:%M}<extra>%{fullData.name}</extra>",
            )
        )
    lows = [b.get("vm_min_pu") for b in network["buses"] if b.get("vm_min_pu") is not None and not b.get("slack")]
    if lows:
        fig.add_hline(y=max(lows), line=dict(color="#cf222e", dash="dash", width=1), annotation_text="lower limit")
    fig.update_layout(
        height=380,
        margin=dict(l=10, r=10, t=10, b=10),
        yaxis=dict(title_text="lowest bus voltage [pu]"),
        legend=dict(orientation="h", y=-0.3, yanchor="top"),
        hovermode="x unified",
    )
    return fig


def _map_figure(network: dict, elements: pd.DataFrame, case: str) -> go.Figure:
    """The feeder from network.json: edges coloured by their highest loading in ``case``, buses with sites."""
    pos = {b["name"]: (b.get("x"), b.get("y")) for b in network["buses"]}
    e = elements[(elements["case"] == case) & elements["kind"].isin(["trafo", "line"])]
    peak = e.groupby("element")["loading_percent"].max()
    fig = go.Figure()
    bands = (
        ("up to 60%", 0, 60, "#9bc9c2"),
        ("60-90%", 60, 90, "#f4a261"),
        ("90-100%", 90, 100.0001, "#e76f51"),
        ("over 100%", 100.0001, float("inf"), "#cf222e"),
    )
    for label, lo, hi, color in bands:
        xs, ys, texts = [], [], []
        for edge in network.get("edges", []):
            a, b = pos.get(edge["from"]), pos.get(edge["to"])
            load = peak.get(edge["name"])
            if a is None or b is None or None in (*a, *b) or load is None or not (lo <= load < hi):
                continue
            xs += [a[0], b[0], None]
            ys += [a[1], b[1], None]
            text = f"{edge['name']}: up to {load:.1f}%"
            texts += [text, text, None]
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    name=f"loading {label}",
                    line=dict(color=color, width=4 if lo >= 90 else 2),
                    text=texts,
                    hoverinfo="text",
                )
            )
    with_sites = [b for b in network["buses"] if b.get("sites") and b.get("x") is not None]
    plain = [b for b in network["buses"] if not b.get("sites") and b.get("x") is not None]
    for buses, name, size, color in (
        (plain, "bus", 5, "#adb5bd"),
        (with_sites, "bus with EVs", 9, "#264653"),
    ):
        if buses:
            fig.add_trace(
                go.Scatter(
                    x=[b["x"] for b in buses],
                    y=[b["y"] for b in buses],
                    mode="markers",
                    name=name,
                    marker=dict(size=size, color=color),
                    text=[f"{b['name']} ({b.get('level', '')}, {b.get('vn_kv', '')} kV)" for b in buses],
                    customdata=[", ".join(b.get("sites") or []) or "no site" for b in buses],
                    hovertemplate="%{text}<br>%{customdata}<extra></extra>",
                )
            )
    fig.update_layout(
        height=520,
        margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(visible=False),
        yaxis=dict(visible=False, scaleanchor="x", scaleratio=1.6),  # lon/lat at mid latitudes
        legend=dict(orientation="h", y=-0.02, yanchor="top"),
        plot_bgcolor="white",
    )
    return fig


def violations_table(elements: pd.DataFrame) -> pd.DataFrame:
    """Elements over their limits: steps over and the worst loading [%] or voltage [pu], per case."""
    v = elements[elements["violated"].astype(str).str.lower() == "true"] if "violated" in elements else elements[:0]
    if v.empty:
        return pd.DataFrame(columns=["case", "element", "kind", "steps", "worst"])
    worst = v.groupby(["case", "element", "kind"]).agg(
        steps=("time", "nunique"),
        loading=("loading_percent", "max"),
        vm_low=("vm_pu", "min"),
        first=("time", "min"),
    )
    worst = worst.reset_index()
    worst["case"] = worst["case"].map(CASES).fillna(worst["case"])
    worst["worst"] = [
        f"{r.loading:.1f}%" if r.kind in ("trafo", "line") else f"{r.vm_low:.4f} pu" for r in worst.itertuples()
    ]
    worst["first"] = worst["first"].dt.strftime("%a %H:%M")
    return worst[["case", "element", "kind", "steps", "worst", "first"]].sort_values(["case", "steps"], ascending=False)


def render() -> None:
    """Draw the Feeder page."""
    st.title("Feeder")
    st.caption(
        "The results of `gridopt feeder FEEDER.yaml --out DIR`: many sites planned together on one distribution "
        "grid, checked by AC power flow (see docs/feeders.md). Give the results folder on this machine."
    )
    folder = st.text_input("Feeder results folder", key="feeder_dir", placeholder="results/lv-homes")
    if not folder:
        st.info("No folder yet: run `gridopt feeder` (the grid extra's venv) and give its --out folder here.")
        return
    path = Path(folder).expanduser()
    if not path.is_dir():
        st.error(f"{folder}: no such folder", icon=":material/error:")
        return
    try:
        data = load(str(path.resolve()), _stamp(path))
    except FeederError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    s, network, elements = data["summary"], data["network"], data["elements"]
    start, end = pd.Timestamp(s["start"]), pd.Timestamp(s["end"])
    st.subheader(s.get("feeder", path.name))
    st.markdown(
        f"**{_count(s.get('n_sites'), 'site')}**, {_count(s.get('n_vehicles'), 'vehicle')} on the SimBench network "
        f"`{s.get('network', network.get('network'))}` · {start:%a %d %b %Y %H:%M} to {end:%a %d %b %H:%M} in "
        f"{s.get('step_minutes')}-min steps · method {s.get('method', '?')} · "
        + ("**AC power flow: the plan keeps every limit**" if s.get("ac_ok") else "**AC power flow: limits broken**")
    )
    cva, avoided = s.get("cost_vs_alone") or {}, s.get("violations_avoided") or {}
    row = st.container(horizontal=True, wrap=True)
    plan = s["cases"].get("plan", {})
    kpi = report.KPI("", "", "cost", None, "")
    for label, value, delta, help_text in (
        ("Feeder plan cost", report.fmt_number(kpi, plan.get("cost")), None, "Sum of the sites' costs."),
        (
            "Against each site alone",
            f"{cva.get('difference', float('nan')):+,.2f}",
            f"{cva.get('percent', float('nan')):+.2f}%",
            "What keeping the network's limits costs the sites together.",
        ),
        (
            "Violations avoided",
            f"{(avoided.get('baseline') or {}).get('violations', 0):,}",
            None,
            "Element-steps over their limits with uncontrolled charging that the plan avoids.",
        ),
        (
            "Transformer peak loading",
            f"{plan.get('max_trafo_loading_percent', float('nan')):.1f}%",
            None,
            "In the plan, by AC power flow.",
        ),
    ):
        row.metric(label, value, delta=delta, delta_color="inverse", help=help_text, border=True, width=215)
    for w in s.get("warnings") or ():
        st.warning(w, icon=":material/warning:")

    st.subheader("Cases")
    st.dataframe(
        cases_table(s),
        width="stretch",
        column_config={
            "case": st.column_config.TextColumn("Case", pinned=True),
            "cost": st.column_config.NumberColumn("Cost", format="%.2f"),
            "violations": st.column_config.NumberColumn("Violations", help="Element-steps over a limit"),
            "steps_with_violations": st.column_config.NumberColumn("Steps with violations"),
            "max_trafo_loading_percent": st.column_config.NumberColumn("Transformer max [%]", format="%.1f"),
            "max_line_loading_percent": st.column_config.NumberColumn("Line max [%]", format="%.1f"),
            "min_vm_pu": st.column_config.NumberColumn("Lowest voltage [pu]", format="%.4f"),
            "max_vm_pu": st.column_config.NumberColumn("Highest voltage [pu]", format="%.4f"),
        },
    )
    st.caption(
        "Uncontrolled: every vehicle charges at full power from plug-in until its need is met. Each site's own "
        "optimum: the sites planned one by one, the network ignored. Feeder plan: all sites together within the "
        f"network's limits ({s.get('limits', 'SimBench limits')})."
    )

    st.subheader("Network")
    case = st.segmented_control(
        "Case on the map", list(CASES), format_func=CASES.get, default="plan", key="feeder_case"
    )
    st.plotly_chart(_map_figure(network, elements, case or "plan"), config=PLOT_CONFIG, key="feeder_map")
    st.caption(
        "Lines and transformers coloured by their highest loading over the horizon in the chosen case; dark dots "
        f"are buses with EVs. Coordinates: {network.get('crs', 'SimBench geodata')}."
    )
    st.subheader("Loading over time")
    step = int(s.get("step_minutes") or 15)
    st.plotly_chart(_loading_figure(elements, step), config=PLOT_CONFIG, key="feeder_loading")
    st.subheader("Voltage over time")
    st.plotly_chart(_voltage_figure(elements, network, step), config=PLOT_CONFIG, key="feeder_voltage")
    v = violations_table(elements)
    st.subheader(f"Violations ({len(v)})")
    if v.empty:
        st.success("No element over its limit in any case.")
    else:
        st.dataframe(
            v,
            hide_index=True,
            width="stretch",
            column_config={
                "case": "Case",
                "element": "Element",
                "kind": "Kind",
                "steps": st.column_config.NumberColumn("Steps over"),
                "worst": "Worst",
                "first": "First (local time)",
            },
        )
