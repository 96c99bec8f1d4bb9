"""Pictures of a plan (plotly figures; no Streamlit, so notebooks and scripts can use them too).

Every function takes a :class:`gridopt.optimizer.Result` (or plain tables) and
returns a :class:`plotly.graph_objects.Figure`. Times are shown as local wall
clock time in the scenario's timezone; powers are step averages, drawn as
steps (a value holds over its whole step).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .report import KPIS, fmt_value, kpi_value
from .scenario import step_inputs

#: One colour per flow, the same in every figure.
COLORS = {
    "grid_import": "#4a5d7e",
    "pv_used": "#f2b701",
    "pv_curtailed": "rgba(242, 183, 1, 0.28)",
    "v2g": "#8e5cc4",
    "base_load": "#a3acb6",
    "ev_charge": "#2a9d8f",
    "grid_export": "#5fa8d3",
    "price": "#333333",
    "export_price": "#888888",
    "limit": "#d62728",
    "baseline": "#111111",
    "unmet": "#d62728",
    "requirement": "#264653",
}
RUN_COLORS = ("#2a9d8f", "#e76f51", "#4a5d7e", "#8e5cc4", "#f2b701", "#5fa8d3", "#6a994e", "#bc4749")
_FONT = dict(family="Source Sans Pro, Arial, sans-serif", size=13)


def _local(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Wall-clock times without offset (plotly shows tz-aware times inconsistently)."""
    idx = pd.DatetimeIndex(index)
    return idx.tz_localize(None) if idx.tz is not None else idx


def _steps(index: pd.DatetimeIndex, step_minutes: int, values) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Step starts plus the end of the last step, and the values with the last one repeated."""
    x = _local(index)
    x = x.append(pd.DatetimeIndex([x[-1] + pd.Timedelta(minutes=step_minutes)])) if len(x) else x
    v = np.asarray(values, dtype=float)
    v = np.append(v, v[-1]) if len(v) else v
    return x, v


def _layout(fig: go.Figure, *, height: int, title: str | None = None, tz: str | None = None) -> go.Figure:
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=60 if title else 30, b=10),
        font=_FONT,
        title=dict(text=title, x=0, xanchor="left", font=dict(size=16)) if title else None,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
        hovermode="x unified",
        plot_bgcolor="white",
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eeeeee", zeroline=False, linecolor="#cccccc")
    fig.update_yaxes(gridcolor="#eeeeee", zerolinecolor="#999999", linecolor="#cccccc")
    if tz:
        fig.update_xaxes(title_text=f"local time ({tz})", row=None)
    return fig


def _import_limit(fig: go.Figure, sc, legendrank: int | None = None) -> None:
    """The site's import limit as a dashed line: flat when constant, per step when limit columns or
    ``import_cap`` events change it (``sc.series["import_limit_kw"]``); nothing when there is none."""
    limit = step_inputs(sc).import_limit_kw
    finite = np.isfinite(limit)
    if not finite.any():
        return
    x, y = _steps(sc.grid.index, sc.grid.step_minutes, np.where(finite, limit, np.nan))
    if finite.all() and np.ptp(limit) == 0:
        x, y, name = [x[0], x[-1]], [float(limit[0])] * 2, f"Import limit {float(limit[0]):,.0f} kW"
    else:
        name = f"Import limit, per step ({np.nanmin(y):,.0f}–{np.nanmax(y):,.0f} kW)"
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            name=name,
            mode="lines",
            line=dict(color=COLORS["limit"], width=2, dash="dash", shape="hv"),
            hoverinfo="skip",
            legendrank=legendrank,
        ),
        secondary_y=False,
    )


def _step_minutes(result) -> int:
    return int(result.scenario.grid.step_minutes)


def site_power(result, *, baseline: bool = True) -> go.Figure:
    """Power balance of the site over time, with the import limit and the price.

    Above zero, where the site's power comes from (grid import, PV used, V2G
    discharge, and the PV that was curtailed, hatched); below zero, where it
    goes (base load, EV charging, grid export). The two stacks are equal in
    every step. The import limit is a dashed line; the import price is on the
    right axis; the uncontrolled baseline's grid import a dotted line.
    """
    sc = result.scenario
    site = result.site
    step = _step_minutes(result)
    fig = make_subplots(specs=[[{"secondary_y": True}]])

    def area(col_values, name, color, group, pattern=None, legendrank=None):
        x, y = _steps(site.index, step, col_values)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=name,
                mode="lines",
                line=dict(width=0.5, color=color, shape="hv"),
                fillcolor=color,
                fillpattern=pattern,
                stackgroup=group,
                hovertemplate="%{y:,.1f} kW",
                legendrank=legendrank,
            ),
            secondary_y=False,
        )

    pv_curtailed = (site["pv_kw"] - site["pv_used_kw"]).clip(lower=0)
    area(site["grid_import_kw"], "Grid import", COLORS["grid_import"], "supply", legendrank=1)
    if site["pv_kw"].max() > 0:
        area(site["pv_used_kw"], "PV used", COLORS["pv_used"], "supply", legendrank=2)
    if site["ev_discharge_kw"].max() > 0:
        area(site["ev_discharge_kw"], "V2G discharge", COLORS["v2g"], "supply", legendrank=3)
    if pv_curtailed.max() > 1e-6:
        area(
            pv_curtailed,
            "PV curtailed (not used)",
            COLORS["pv_curtailed"],
            "supply",
            pattern=dict(shape="/", fgcolor="#c99a00", size=6),
            legendrank=4,
        )
    area(-site["base_load_kw"], "Base load", COLORS["base_load"], "use", legendrank=5)
    area(-site["ev_charge_kw"], "EV charging", COLORS["ev_charge"], "use", legendrank=6)
    if site["grid_export_kw"].max() > 0:
        area(-site["grid_export_kw"], "Grid export", COLORS["grid_export"], "use", legendrank=7)

    if baseline and result.baseline_site is not None:
        x, y = _steps(result.baseline_site.index, step, result.baseline_site["grid_import_kw"])
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name="Grid import, uncontrolled",
                mode="lines",
                line=dict(color=COLORS["baseline"], width=1.5, dash="dot", shape="hv"),
                hovertemplate="%{y:,.1f} kW",
                legendrank=8,
            ),
            secondary_y=False,
        )
    _import_limit(fig, sc, legendrank=9)
    x, y = _steps(site.index, step, site["import_price"])
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            name="Import price (right axis)",
            mode="lines",
            line=dict(color=COLORS["price"], width=1.5, shape="hv"),
            hovertemplate="%{y:.4f} per kWh",
            legendrank=10,
        ),
        secondary_y=True,
    )
    if site["export_price"].abs().max() > 0 and site["grid_export_kw"].max() > 0:
        x, y = _steps(site.index, step, site["export_price"])
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name="Export price (right axis)",
                mode="lines",
                line=dict(color=COLORS["export_price"], width=1.2, dash="dot", shape="hv"),
                hovertemplate="%{y:.4f} per kWh",
                legendrank=11,
            ),
            secondary_y=True,
        )
    _layout(fig, height=470, tz=sc.timezone)
    fig.update_layout(legend=dict(traceorder="normal"))
    fig.update_yaxes(title_text="power [kW]", secondary_y=False)
    fig.update_yaxes(title_text="price per kWh", secondary_y=True, showgrid=False, rangemode="tozero", tickformat=".2f")
    for text, y, anchor in (("▲ supply to the site", 1.0, "top"), ("▼ use on the site", 0.0, "bottom")):
        fig.add_annotation(
            text=text,
            xref="paper",
            yref="paper",
            x=0.005,
            y=y,
            xanchor="left",
            yanchor=anchor,
            showarrow=False,
            font=dict(size=12, color="#555555"),
            bgcolor="rgba(255,255,255,0.7)",
        )
    return fig


def _stretches(mask: np.ndarray) -> list[tuple[int, int]]:
    """Start and end (exclusive) of each run of True."""
    out, start = [], None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append((start, i))
            start = None
    if start is not None:
        out.append((start, len(mask)))
    return out


def soc(result, vehicle_ids, *, baseline: bool = True) -> go.Figure:
    """State of charge of some vehicles over time, one panel each.

    A line per vehicle (SoC at the end of each step, in % of its battery),
    shaded where it is away on a trip or plugged in for a session, and a marker
    for each requirement (departure, session end, final SoC) at the SoC it
    needs; a red cross where the plan falls short of it.
    """
    sc = result.scenario
    vehicle_ids = list(vehicle_ids)
    n = max(len(vehicle_ids), 1)
    titles = []
    for vid in vehicle_ids:
        v = sc.vehicles.loc[vid]
        model = v.get("model", "") if "model" in sc.vehicles.columns else ""
        v2g = ", V2G" if v["max_discharge_kw"] > 0 else ""
        battery = f"{v['battery_kwh']:g} kWh"
        model = "" if not isinstance(model, str) else model.replace(battery, "").strip()  # a model named by its size
        titles.append(f"<b>{vid}</b>  {model} {battery}, {v['max_charge_kw']:g} kW{v2g}".replace("  ", " "))
    height = 90 + 190 * n
    fig = make_subplots(
        rows=n, cols=1, shared_xaxes=True, vertical_spacing=min(0.3, 48 / height), subplot_titles=titles or None
    )
    step = pd.Timedelta(minutes=_step_minutes(result))
    x0, x1 = _local(sc.grid.index)[0], _local(sc.grid.index)[-1] + step
    legend_shown: set[str] = set()

    def once(name: str) -> bool:
        first = name not in legend_shown
        legend_shown.add(name)
        return first

    for row, vid in enumerate(vehicle_ids, start=1):
        battery = float(sc.vehicles.at[vid, "battery_kwh"])
        g = result.schedule[result.schedule["vehicle_id"] == vid]
        t_end = _local(pd.DatetimeIndex(g["time"])) + step
        # shading: trips (away) and sessions (plugged in)
        for kind, table, a, b, color in (
            ("On a trip", sc.trips, "departure", "arrival", "rgba(120, 120, 120, 0.16)"),
            ("Plugged in (session)", sc.sessions, "arrival", "departure", "rgba(42, 157, 143, 0.12)"),
        ):
            ev = table[table["vehicle_id"] == vid]
            for _, r in ev.iterrows():
                s = max(_local(pd.DatetimeIndex([r[a]]))[0], x0)
                e = min(_local(pd.DatetimeIndex([r[b]]))[0], x1)
                if e <= s:
                    continue
                fig.add_trace(
                    go.Scatter(
                        x=[s, s, e, e, s],
                        y=[0, 100, 100, 0, 0],
                        fill="toself",
                        fillcolor=color,
                        line=dict(width=0),
                        mode="lines",
                        name=kind,
                        legendgroup=kind,
                        showlegend=once(kind),
                        hoverinfo="text",
                        text=f"{kind.lower()} {r[a]:%H:%M}–{r[b]:%H:%M}",
                    ),
                    row=row,
                    col=1,
                )
        # the plan's SoC, and the uncontrolled one
        pct = 100.0 * g["soc_kwh"].to_numpy(dtype=float) / battery
        fig.add_trace(
            go.Scatter(
                x=t_end,
                y=pct,
                name="SoC, optimized",
                legendgroup="soc",
                showlegend=once("soc"),
                mode="lines",
                line=dict(color=COLORS["ev_charge"], width=2.2),
                hovertemplate=f"{vid}: %{{y:.1f}}%",
                connectgaps=False,
            ),
            row=row,
            col=1,
        )
        if baseline and result.baseline_schedule is not None:
            bg = result.baseline_schedule[result.baseline_schedule["vehicle_id"] == vid]
            fig.add_trace(
                go.Scatter(
                    x=_local(pd.DatetimeIndex(bg["time"])) + step,
                    y=100.0 * bg["soc_kwh"].to_numpy(dtype=float) / battery,
                    name="SoC, uncontrolled",
                    legendgroup="base",
                    showlegend=once("base"),
                    mode="lines",
                    line=dict(color="#888888", width=1.2, dash="dot"),
                    hovertemplate=f"{vid} uncontrolled: %{{y:.1f}}%",
                ),
                row=row,
                col=1,
            )
        # requirements
        req = result.unmet[result.unmet["vehicle_id"] == vid]
        if len(req):
            short = req["unmet_kwh"].to_numpy(dtype=float) > 1e-6
            for mask, name, symbol, color in (
                (~short, "Requirement met", "triangle-up", COLORS["requirement"]),
                (short, "Requirement not met", "x", COLORS["unmet"]),
            ):
                if not mask.any():
                    continue
                r = req[mask]
                fig.add_trace(
                    go.Scatter(
                        x=_local(pd.DatetimeIndex(r["boundary_time"])),
                        y=100.0 * r["required_kwh"].to_numpy(dtype=float) / battery,
                        name=name,
                        legendgroup=name,
                        showlegend=once(name),
                        mode="markers",
                        marker=dict(symbol=symbol, size=11, color=color, line=dict(width=1, color="white")),
                        customdata=np.stack([r["kind"].astype(str), r["event_id"].astype(str), r["unmet_kwh"]], axis=1),
                        hovertemplate="needs %{y:.0f}% (%{customdata[0]} %{customdata[1]}), short %{customdata[2]:.1f} kWh<extra></extra>",
                    ),
                    row=row,
                    col=1,
                )
        fig.update_yaxes(range=[0, 105], title_text="SoC %", row=row, col=1, ticksuffix="")
    _layout(fig, height=height, tz=None)
    fig.update_xaxes(range=[x0, x1])
    fig.update_xaxes(title_text=f"local time ({sc.timezone})", row=n, col=1)
    fig.update_annotations(font=dict(size=13), x=0, xanchor="left")
    fig.update_layout(legend=dict(y=1.0 + 36 / height), margin=dict(t=70), hovermode="closest")
    return fig


def charging_heatmap(result) -> go.Figure:
    """Vehicle × time map of power: charging positive, V2G discharge negative, grey while away."""
    sc = result.scenario
    sched = result.schedule
    ids = list(dict.fromkeys(sched["vehicle_id"]))
    net = (sched["charge_kw"] - sched["discharge_kw"]).where(sched["plugged_in"].astype(bool))
    z = net.to_numpy(dtype=float).reshape(len(ids), -1)
    x = _local(sc.grid.index)
    zmax = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    zmax = zmax or 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=x,
            y=ids,
            zmin=-zmax,
            zmax=zmax,
            zmid=0,
            colorscale=[[0.0, COLORS["v2g"]], [0.5, "#ffffff"], [1.0, COLORS["ev_charge"]]],
            colorbar=dict(title=dict(text="kW<br>+ charge<br>− discharge"), thickness=14),
            hovertemplate="%{y}<br>%{x|%H:%M}: %{z:.1f} kW<extra></extra>",
            xgap=0,
            ygap=1,
        )
    )
    _layout(fig, height=110 + 18 * len(ids), tz=sc.timezone)
    fig.update_layout(plot_bgcolor="#d9d9d9", hovermode="closest")
    fig.update_yaxes(autorange="reversed", title_text=None, showgrid=False, type="category")
    fig.update_xaxes(showgrid=False)
    return fig


def inputs(sc) -> go.Figure:
    """What the scenario brings: base load and available PV [kW], import and export price."""
    s = sc.series
    step = sc.grid.step_minutes
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x, y = _steps(s.index, step, s["base_load_kw"])
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            name="Base load",
            mode="lines",
            line=dict(color=COLORS["base_load"], width=2, shape="hv"),
            fill="tozeroy",
            fillcolor="rgba(163, 172, 182, 0.3)",
            hovertemplate="%{y:,.1f} kW",
        ),
        secondary_y=False,
    )
    if s["pv_kw"].max() > 0:
        x, y = _steps(s.index, step, s["pv_kw"])
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name="PV available",
                mode="lines",
                line=dict(color=COLORS["pv_used"], width=2, shape="hv"),
                fill="tozeroy",
                fillcolor="rgba(242, 183, 1, 0.25)",
                hovertemplate="%{y:,.1f} kW",
            ),
            secondary_y=False,
        )
    _import_limit(fig, sc)
    for col, name, color, dash in (
        ("import_price", "Import price (right axis)", COLORS["price"], None),
        ("export_price", "Export price (right axis)", COLORS["export_price"], "dot"),
    ):
        if col == "export_price" and s[col].abs().max() == 0:
            continue
        x, y = _steps(s.index, step, s[col])
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=name,
                mode="lines",
                line=dict(color=color, width=1.5, dash=dash, shape="hv"),
                hovertemplate="%{y:.4f} per kWh",
            ),
            secondary_y=True,
        )
    _layout(fig, height=340, tz=sc.timezone)
    fig.update_layout(legend=dict(traceorder="normal"))
    fig.update_yaxes(title_text="power [kW]", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title_text="price per kWh", secondary_y=True, showgrid=False, rangemode="tozero", tickformat=".2f")
    return fig


def import_overlay(runs) -> go.Figure:
    """Grid import of several runs on one time axis, each with its import limit.

    Parameters
    ----------
    runs : sequence of (label, site DataFrame, step_minutes, import_limit_kw)
        When the runs start at different times, the axis is hours since start.
    """
    runs = list(runs)
    starts = {pd.Timestamp(site.index[0]) for _, site, _, _ in runs}
    same_start = len(starts) == 1
    fig = go.Figure()
    limits_drawn: set[float] = set()
    for i, (label, site, step, limit) in enumerate(runs):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        x, y = _steps(site.index, step, site["grid_import_kw"])
        if not same_start:
            x = (x - x[0]) / pd.Timedelta(hours=1)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=label,
                mode="lines",
                line=dict(color=color, width=2, shape="hv"),
                hovertemplate="%{y:,.1f} kW",
            )
        )
        if math.isfinite(limit) and limit not in limits_drawn:
            limits_drawn.add(limit)
            fig.add_trace(
                go.Scatter(
                    x=[x[0], x[-1]],
                    y=[limit] * 2,
                    name=f"import limit {limit:,.0f} kW ({label})",
                    mode="lines",
                    line=dict(color=color, width=1.5, dash="dash"),
                    hoverinfo="skip",
                )
            )
    _layout(fig, height=420)
    fig.update_yaxes(title_text="grid import [kW]", rangemode="tozero")
    fig.update_xaxes(title_text="local time" if same_start else "hours since start")
    fig.update_layout(legend=dict(orientation="h", y=-0.2, yanchor="top"))
    return fig


def cost_bars(summaries: dict[str, dict], *, baseline_of: str | None = None) -> go.Figure:
    """Cost parts of several runs as stacked bars (and, optionally, one run's uncontrolled baseline)."""
    labels = list(summaries)
    rows = dict(summaries)
    if baseline_of is not None and "baseline" in summaries[baseline_of]:
        rows = {f"{baseline_of}: uncontrolled": summaries[baseline_of]["baseline"], **rows}
        labels = list(rows)
    fig = go.Figure()
    parts = [k for k in KPIS if k.unit == "cost" and k.key != "total_cost"]
    colors = {
        "energy_cost": COLORS["grid_import"],
        "demand_charge_cost": "#e76f51",
        "degradation_cost": COLORS["v2g"],
        "unmet_energy_cost": COLORS["unmet"],
    }
    for k in parts:
        fig.add_trace(
            go.Bar(
                y=labels,
                x=[kpi_value(rows[lb], k.key) or 0.0 for lb in labels],
                name=k.label,
                orientation="h",
                marker_color=colors.get(k.key),
                hovertemplate=f"{k.label}: %{{x:,.2f}}<extra></extra>",
            )
        )
    totals = [kpi_value(rows[lb], "total_cost") or 0.0 for lb in labels]
    fig.add_trace(
        go.Scatter(
            y=labels,
            x=totals,
            mode="text",
            text=[f"  {fmt_value(KPIS[0], t)}" for t in totals],
            textposition="middle right",
            showlegend=False,
            hoverinfo="skip",
        )
    )
    _layout(fig, height=120 + 48 * len(labels))
    fig.update_layout(barmode="relative", hovermode="closest")
    fig.update_yaxes(autorange="reversed")
    top = max([t for t in totals if t > 0], default=1.0)
    low = min([0.0] + [kpi_value(rows[lb], k.key) or 0.0 for lb in labels for k in parts])
    fig.update_xaxes(title_text="cost (scenario currency)", range=[low * 1.05, top * 1.18])
    return fig


# ---------------------------------------------------------------------------
# The grid view: what a plan does for the grid (issue 9)
# ---------------------------------------------------------------------------

#: Shading and legend name of each utility event kind.
EVENT_STYLE = {
    "import_cap": "rgba(214, 39, 40, 0.10)",
    "export_request": "rgba(142, 92, 196, 0.14)",
    "shift_away": "rgba(242, 153, 0, 0.16)",
}
GRID_COLORS = {
    "net_load": "#a3acb6",
    "plan": COLORS["ev_charge"],
    "baseline": COLORS["baseline"],
    "surplus": "rgba(106, 153, 78, 0.30)",
    "absorbed": "#6a994e",
    "carbon": "#7a7a7a",
    "target": "#e76f51",
    "inner": "rgba(42, 157, 143, 0.22)",
    "outer": "#4a5d7e",
}


def event_label(event: dict, currency: str | None = None) -> str:
    """``'Import cap 115 kW, 16:00–21:00'`` for an event of :attr:`gridopt.scenario.Scenario.events`.

    Parameters
    ----------
    event : dict
        ``kind``, ``start``, ``end`` (tz-aware Timestamps) and the event's own
        fields (``kw`` [kW], ``extra_price_per_kwh`` [currency/kWh], ``hard``).
    currency : str or None
        The scenario's currency, for ``shift_away``'s extra price.
    """
    start, end = event["start"], event["end"]
    same_day = start.date() == (end - pd.Timedelta(seconds=1)).date()  # 16:00-24:00 is one day
    fmt = "%H:%M" if same_day else "%a %H:%M"
    when = f"{start:{fmt}}–{end:{fmt}}"
    kind = event["kind"]
    if kind == "import_cap":
        return f"Import cap {event['kw']:,.0f} kW, {when}"
    if kind == "export_request":
        hard = " (hard)" if event.get("hard") else ""
        return f"Export request {event['kw']:,.0f} kW{hard}, {when}"
    if kind == "shift_away":
        unit = f" {currency}/kWh" if currency else " per kWh"
        return f"Shift away: import +{event['extra_price_per_kwh']:g}{unit}, {when}"
    return f"{kind}, {when}"


def _shade_events(fig: go.Figure, sc, rows=(1,)) -> None:
    """Shade every utility event's window (its steps) in the given subplot rows; one legend entry each."""
    x = _steps(sc.grid.index, sc.grid.step_minutes, np.zeros(sc.grid.n_steps))[0]
    for i, ev in enumerate(sc.events):
        a, b = int(ev["first_step"]), int(ev["end_step"])
        if b <= a:
            continue
        name = event_label(ev, sc.currency)
        for j, row in enumerate(rows):
            fig.add_vrect(
                x0=x[a],
                x1=x[b],
                fillcolor=EVENT_STYLE.get(ev["kind"], "rgba(120, 120, 120, 0.12)"),
                line_width=0,
                layer="below",
                row=row,
                col=1,
                name=name,
                legendgroup=f"event{i}",
                showlegend=j == 0,
                exclude_empty_subplots=False,  # shaded before the traces are added
            )


def _line(
    fig,
    index,
    step,
    values,
    name,
    color,
    *,
    row=1,
    dash=None,
    width=2.0,
    fill=None,
    fillcolor=None,
    unit="kW",
    fmt=",.1f",
    secondary_y=None,
    legendgroup=None,
    showlegend=True,
) -> None:
    """A step line (a value holds over its whole step)."""
    x, y = _steps(index, step, values)
    kw = {} if secondary_y is None else {"secondary_y": secondary_y}
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            name=name,
            mode="lines",
            line=dict(color=color, width=width, dash=dash, shape="hv"),
            fill=fill,
            fillcolor=fillcolor,
            hovertemplate=f"%{{y:{fmt}}} {unit}",
            legendgroup=legendgroup,
            showlegend=showlegend,
        ),
        row=row,
        col=1,
        **kw,
    )


def _net_import_kw(site: pd.DataFrame) -> np.ndarray:
    """Site net import, import - export [kW], shape (n_steps,)."""
    return site["grid_import_kw"].to_numpy(dtype=float) - site["grid_export_kw"].to_numpy(dtype=float)


def _peak_marker(fig, index, values, color, label: str, *, row=1) -> None:
    """A marker at the highest step (its value on hover)."""
    k = int(np.argmax(values))
    fig.add_trace(
        go.Scatter(
            x=[_local(index)[k]],
            y=[values[k]],
            mode="markers",
            marker=dict(color=color, size=10, symbol="triangle-down", line=dict(width=1, color="white")),
            showlegend=False,
            hovertemplate=f"peak {label}: %{{y:,.0f}} kW<extra></extra>",
        ),
        row=row,
        col=1,
    )


def _time_axis(fig, sc, rows: int, height: int) -> go.Figure:
    _layout(fig, height=height)
    fig.update_yaxes(tickformat=",~f")  # 10,000 kW, not 10k kW
    fig.update_layout(legend=dict(traceorder="normal"))
    fig.update_xaxes(title_text=f"local time ({sc.timezone})", row=rows, col=1)
    return fig


def grid_load(result) -> go.Figure:
    """The grid's load without this site, with the plan and with uncontrolled charging [kW].

    ``L(t) = net_load_kw(t) + grid_import_kw(t) - grid_export_kw(t)`` (the
    ``grid_peak_kw`` and ``net_load_std_kw`` KPIs are its maximum and standard
    deviation), for the plan and for the like-for-like uncontrolled baseline,
    over ``net_load_kw`` alone; the peaks are marked, event windows shaded.
    Needs the ``net_load_kw`` signal.
    """
    sc, site = result.scenario, result.site
    step = sc.grid.step_minutes
    net_load = step_inputs(sc).net_load_kw
    fig = make_subplots(rows=1, cols=1)
    _shade_events(fig, sc)
    _line(
        fig,
        site.index,
        step,
        net_load,
        "Grid without this site (net_load_kw)",
        GRID_COLORS["net_load"],
        width=1.5,
        fill="tozeroy",
        fillcolor="rgba(163, 172, 182, 0.22)",
    )
    series = [("with the plan", net_load + _net_import_kw(site), GRID_COLORS["plan"], None, 2.4)]
    if result.baseline_site is not None:
        series.append(
            (
                "with uncontrolled charging",
                net_load + _net_import_kw(result.baseline_site),
                GRID_COLORS["baseline"],
                "dot",
                1.6,
            )
        )
    for label, load, color, dash, width in series:
        _line(fig, site.index, step, load, f"Grid {label} (peak {load.max():,.0f} kW)", color, dash=dash, width=width)
        _peak_marker(fig, site.index, load, color, label)
    _time_axis(fig, sc, 1, 430)
    fig.update_yaxes(title_text="grid load [kW]")
    return fig


def site_exchange(result) -> go.Figure:
    """The site's net import (plan and uncontrolled) against its per-step limits and export requests [kW].

    Import minus export of the site, with the import limit of every step (after
    ``import_cap`` events and limit columns), the export limit (below zero) and
    the export requested by ``export_request`` events (below zero); event
    windows shaded.
    """
    sc, site = result.scenario, result.site
    step = sc.grid.step_minutes
    st_ = step_inputs(sc)
    fig = make_subplots(rows=1, cols=1)
    _shade_events(fig, sc)
    _line(fig, site.index, step, _net_import_kw(site), "Net import, plan", GRID_COLORS["plan"], width=2.4)
    if result.baseline_site is not None:
        _line(
            fig,
            site.index,
            step,
            _net_import_kw(result.baseline_site),
            "Net import, uncontrolled",
            GRID_COLORS["baseline"],
            dash="dot",
            width=1.6,
        )
    imp = st_.import_limit_kw
    if np.isfinite(imp).any():
        _line(
            fig,
            site.index,
            step,
            np.where(np.isfinite(imp), imp, np.nan),
            "Import limit",
            COLORS["limit"],
            dash="dash",
            width=1.8,
        )
    exp = st_.export_limit_kw
    if (np.isfinite(exp) & (exp > 0)).any():
        _line(
            fig,
            site.index,
            step,
            np.where(np.isfinite(exp), -exp, np.nan),
            "Export limit (below zero)",
            COLORS["grid_export"],
            dash="dash",
            width=1.5,
        )
    req = st_.export_request_kw
    if (req > 0).any():
        _line(
            fig,
            site.index,
            step,
            np.where(req > 0, -req, np.nan),
            "Export requested (below zero)",
            COLORS["v2g"],
            dash="dashdot",
            width=2.0,
        )
    _time_axis(fig, sc, 1, 430)
    fig.update_yaxes(title_text="import − export [kW]")
    return fig


def renewable_surplus(result) -> go.Figure:
    """Renewable surplus on the grid, EV charging, and the part of the surplus the fleet absorbed [kW].

    Absorbed is ``min(ev_charge_kw, renewable_surplus_kw)`` per step (the
    ``renewable_surplus_absorbed_kwh`` KPI is its sum times ``dt_h``), for the plan
    (filled) and the uncontrolled baseline (dotted). Needs the
    ``renewable_surplus_kw`` signal.
    """
    sc, site = result.scenario, result.site
    step, dt = sc.grid.step_minutes, sc.grid.dt_h
    surplus = step_inputs(sc).renewable_surplus_kw
    ev = site["ev_charge_kw"].to_numpy(dtype=float)
    fig = make_subplots(rows=1, cols=1)
    _shade_events(fig, sc)
    _line(
        fig,
        site.index,
        step,
        surplus,
        f"Renewable surplus ({surplus.sum() * dt:,.0f} kWh)",
        GRID_COLORS["absorbed"],
        width=1.2,
        fill="tozeroy",
        fillcolor=GRID_COLORS["surplus"],
    )
    absorbed = np.minimum(ev, surplus)
    _line(
        fig,
        site.index,
        step,
        absorbed,
        f"Absorbed by the plan ({absorbed.sum() * dt:,.0f} kWh)",
        GRID_COLORS["absorbed"],
        width=0.5,
        fill="tozeroy",
        fillcolor="rgba(106, 153, 78, 0.75)",
    )
    _line(fig, site.index, step, ev, f"EV charging, plan ({ev.sum() * dt:,.0f} kWh)", GRID_COLORS["plan"], width=2.0)
    if result.baseline_site is not None:
        b_ev = result.baseline_site["ev_charge_kw"].to_numpy(dtype=float)
        b_abs = np.minimum(b_ev, surplus)
        _line(
            fig,
            site.index,
            step,
            b_abs,
            f"Absorbed by uncontrolled charging ({b_abs.sum() * dt:,.0f} kWh)",
            GRID_COLORS["baseline"],
            dash="dot",
            width=1.6,
        )
    _time_axis(fig, sc, 1, 430)
    fig.update_yaxes(title_text="power [kW]", rangemode="tozero")
    return fig


def emissions(result) -> go.Figure:
    """Emissions of the site's grid energy over time, plan and uncontrolled, and the carbon signal.

    Top: the emission rate ``carbon_kg_per_kwh * (import - [credit] export)`` [kg/h]
    per step, with ``carbon_kg_per_kwh`` [kg/kWh] on the right axis. Bottom: the
    cumulative emissions [kg] at each step's end (the last value is the
    ``emissions_kg`` KPI). Needs the ``carbon_kg_per_kwh`` signal.
    """
    sc, site = result.scenario, result.site
    step, dt = sc.grid.step_minutes, sc.grid.dt_h
    carbon = step_inputs(sc).carbon_kg_per_kwh
    credit = 1.0 if sc.grid_terms.carbon_credit_export else 0.0
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        row_heights=[0.6, 0.4],
        specs=[[{"secondary_y": True}], [{}]],
    )
    _shade_events(fig, sc, rows=(1, 2))
    runs = [("plan", site, GRID_COLORS["plan"], None, 2.4)]
    if result.baseline_site is not None:
        runs.append(("uncontrolled", result.baseline_site, GRID_COLORS["baseline"], "dot", 1.6))
    t_end = _local(site.index) + pd.Timedelta(minutes=step)
    x_cum = _local(site.index)[:1].append(t_end)
    for label, s, color, dash, width in runs:
        rate = carbon * (s["grid_import_kw"].to_numpy(float) - credit * s["grid_export_kw"].to_numpy(float))
        cum = np.concatenate([[0.0], np.cumsum(rate * dt)])
        _line(
            fig,
            site.index,
            step,
            rate,
            f"Emissions, {label} ({cum[-1]:,.0f} kg)",
            color,
            dash=dash,
            width=width,
            unit="kg/h",
            secondary_y=False,
            legendgroup=label,
        )
        fig.add_trace(
            go.Scatter(
                x=x_cum,
                y=cum,
                name=f"cumulative, {label}",
                mode="lines",
                legendgroup=label,
                showlegend=False,
                line=dict(color=color, dash=dash, width=width),
                hovertemplate="%{y:,.1f} kg",
            ),
            row=2,
            col=1,
        )
    _line(
        fig,
        site.index,
        step,
        carbon,
        "Carbon intensity (right axis)",
        GRID_COLORS["carbon"],
        width=1.2,
        unit="kg/kWh",
        fmt=".3f",
        secondary_y=True,
    )
    _time_axis(fig, sc, 2, 560)
    fig.update_yaxes(title_text="emissions [kg CO₂/h]", rangemode="tozero", row=1, col=1, secondary_y=False)
    fig.update_yaxes(
        title_text="carbon [kg/kWh]",
        rangemode="tozero",
        showgrid=False,
        tickformat=".2f",
        row=1,
        col=1,
        secondary_y=True,
    )
    fig.update_yaxes(title_text="since start [kg CO₂]", rangemode="tozero", row=2, col=1)
    return fig


def tracking(result) -> go.Figure:
    """The site's net import against ``target_kw``, and the deviation [kW].

    Top: ``target_kw`` (gaps where a step has none), the plan's and the
    uncontrolled net import. Bottom: net import minus target per step; the
    ``tracking_error_kwh`` KPI is ``sum |deviation| * dt_h``. Needs the
    ``target_kw`` signal.
    """
    sc, site = result.scenario, result.site
    step, dt = sc.grid.step_minutes, sc.grid.dt_h
    target = step_inputs(sc).target_kw
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4])
    _shade_events(fig, sc, rows=(1, 2))
    runs = [("plan", site, GRID_COLORS["plan"], None, 2.4)]
    if result.baseline_site is not None:
        runs.append(("uncontrolled", result.baseline_site, GRID_COLORS["baseline"], "dot", 1.6))
    for label, s, color, dash, width in runs:
        net = _net_import_kw(s)
        dev = net - target
        err = float(np.nansum(np.abs(dev)) * dt)
        _line(
            fig,
            site.index,
            step,
            net,
            f"Net import, {label} (off target {err:,.1f} kWh)",
            color,
            dash=dash,
            width=width,
            legendgroup=label,
        )
        _line(
            fig,
            site.index,
            step,
            dev,
            f"deviation, {label}",
            color,
            dash=dash,
            width=width,
            row=2,
            legendgroup=label,
            showlegend=False,
            fill="tozeroy" if label == "plan" else None,
            fillcolor="rgba(42, 157, 143, 0.25)",
        )
    # on top of the plan, which often covers it
    _line(fig, site.index, step, target, "Target (target_kw)", GRID_COLORS["target"], dash="dash", width=2.2)
    _time_axis(fig, sc, 2, 560)
    fig.update_yaxes(title_text="import − export [kW]", row=1, col=1)
    fig.update_yaxes(title_text="minus target [kW]", row=2, col=1)
    return fig


def flexibility_envelope(envelope, result=None) -> go.Figure:
    """The fleet's flexibility envelope: inner band shaded, outer band dashed, the plan inside.

    Parameters
    ----------
    envelope : gridopt.grid.Envelope
        From :func:`gridopt.grid.flexibility`.
    result : Result, optional
        A plan of the same scenario: its fleet net power ``ev_charge_kw -
        ev_discharge_kw`` [kW] and cumulative net energy [kWh] are drawn over
        the bands.

    Returns
    -------
    Figure
        Top: the band of the fleet's aggregate net power [kW] per step. Bottom:
        the band of its cumulative net energy since the start [kWh], at step ends.
    """
    inner, outer = envelope.inner, envelope.outer
    step = envelope.step_minutes
    idx = inner.index
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.55, 0.45])
    if result is not None:
        _shade_events(fig, result.scenario, rows=(1, 2))
    x_end = _local(idx)[:1].append(_local(idx) + pd.Timedelta(minutes=step))

    def energy(values):
        return np.concatenate([[0.0], np.asarray(values, dtype=float)])

    for row, lo, hi, unit in ((1, "p_min_kw", "p_max_kw", "kW"), (2, "e_min_kwh", "e_max_kwh", "kWh")):
        first = row == 1
        if row == 1:
            xs, lo_in, hi_in = (
                _steps(idx, step, inner[lo])[0],
                _steps(idx, step, inner[lo])[1],
                _steps(idx, step, inner[hi])[1],
            )
            lo_out, hi_out = _steps(idx, step, outer[lo])[1], _steps(idx, step, outer[hi])[1]
            shape = "hv"
        else:
            xs, lo_in, hi_in = x_end, energy(inner[lo]), energy(inner[hi])
            lo_out, hi_out = energy(outer[lo]), energy(outer[hi])
            shape = "linear"
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=lo_in,
                mode="lines",
                line=dict(width=0, shape=shape),
                legendgroup="inner",
                showlegend=False,
                hovertemplate=f"guaranteed from %{{y:,.1f}} {unit}",
                name="inner min",
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=hi_in,
                mode="lines",
                line=dict(width=0, shape=shape),
                fill="tonexty",
                fillcolor=GRID_COLORS["inner"],
                legendgroup="inner",
                showlegend=first,
                name="Guaranteed band (inner: every profile inside is deliverable)",
                hovertemplate=f"guaranteed to %{{y:,.1f}} {unit}",
            ),
            row=row,
            col=1,
        )
        for y, which in ((lo_out, "min"), (hi_out, "max")):
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=y,
                    mode="lines",
                    line=dict(color=GRID_COLORS["outer"], width=1.3, dash="dash", shape=shape),
                    legendgroup="outer",
                    showlegend=first and which == "max",
                    name="Outer band (each vehicle's own limits, no guarantee)",
                    hovertemplate=f"outer {which} %{{y:,.1f}} {unit}",
                ),
                row=row,
                col=1,
            )
        if result is not None:
            p = result.site["ev_charge_kw"].to_numpy(float) - result.site["ev_discharge_kw"].to_numpy(float)
            y = _steps(idx, step, p)[1] if row == 1 else energy(np.cumsum(p * envelope.dt_h))
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=y,
                    mode="lines",
                    line=dict(color=COLORS["baseline"], width=2.0, shape=shape),
                    legendgroup="plan",
                    showlegend=first,
                    name="The plan's fleet (charging − discharging)",
                    hovertemplate=f"plan %{{y:,.1f}} {unit}",
                ),
                row=row,
                col=1,
            )
    tz = str(idx.tz) if idx.tz is not None else None
    _layout(fig, height=600)
    fig.update_yaxes(tickformat=",~f")
    fig.update_layout(legend=dict(traceorder="normal"))
    if tz:
        fig.update_xaxes(title_text=f"local time ({tz})", row=2, col=1)
    fig.update_yaxes(title_text="fleet net power [kW]", row=1, col=1)
    fig.update_yaxes(title_text="net energy since start [kWh]", row=2, col=1)
    return fig


def grid_figures(result, envelope=None) -> dict[str, go.Figure]:
    """The grid view's figures of a plan, only those whose signal exists (no empty charts).

    Parameters
    ----------
    result : Result
    envelope : gridopt.grid.Envelope, optional
        The fleet's flexibility envelope (drawn when given).

    Returns
    -------
    dict
        In display order, any of ``"grid_load"`` (needs ``net_load_kw``),
        ``"renewable"`` (``renewable_surplus_kw``), ``"emissions"``
        (``carbon_kg_per_kwh``), ``"tracking"`` (``target_kw``), ``"exchange"``
        (utility events or limit columns) and ``"envelope"``.
    """
    sc = result.scenario
    st_ = step_inputs(sc)
    out: dict[str, go.Figure] = {}
    if st_.has_net_load:
        out["grid_load"] = grid_load(result)
    if st_.renewable_surplus_kw is not None:
        out["renewable"] = renewable_surplus(result)
    if st_.carbon_kg_per_kwh is not None:
        out["emissions"] = emissions(result)
    if st_.target_kw is not None and len(st_.target_steps):
        out["tracking"] = tracking(result)
    if sc.events or any(c in sc.series for c in ("import_limit_kw", "export_limit_kw")):
        out["exchange"] = site_exchange(result)
    if envelope is not None:
        out["envelope"] = flexibility_envelope(envelope, result)
    return out


#: The cost term of each Pareto trade's weight in a summary (left out of the front's cost axis).
_TRADE_COST = {"cost:carbon": ("emissions_kg", "carbon_cost"), "cost:peak": ("grid_peak_kw", "grid_peak_cost")}


def mark_plan_on_front(fig: go.Figure, summary: dict, trade: str, label: str = "This run's plan") -> go.Figure:
    """Add a plan to a Pareto front's figure (:func:`gridopt.grid.pareto_figure`) as a star.

    Parameters
    ----------
    fig : Figure
        The front: cost [currency] against emissions [kg] or grid peak [kW].
    summary : dict
        The plan's ``result.summary``.
    trade : {"cost:carbon", "cost:peak"}
    label : str
        Its legend name.

    Returns
    -------
    Figure
        ``fig``, with the plan at (``emissions_kg`` or ``grid_peak_kw``, ``objective``
        minus the traded term's cost), which is how the front counts cost.
        Unchanged when the summary lacks the value.
    """
    kpi, term = _TRADE_COST[trade]
    x = summary.get(kpi)
    if x is None or summary.get("objective") is None:
        return fig
    y = float(summary["objective"]) - float(summary.get(term) or 0.0)
    fig.add_trace(
        go.Scatter(
            x=[x],
            y=[y],
            mode="markers",
            name=label,
            marker=dict(symbol="star", size=16, color=COLORS["baseline"], line=dict(width=1, color="white")),
            hovertemplate=f"{label}<br>%{{x:,.1f}}, cost %{{y:,.2f}}<extra></extra>",
        )
    )
    for t in fig.data:
        if t.name is None:  # the front's line: no legend entry
            t.showlegend = False
    fig.update_layout(showlegend=True, legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1))
    return fig
