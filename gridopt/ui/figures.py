"""Figures of the app: built once per run and kept in the session, with tooltips for people.

* :func:`cached` keeps each run's figures (a widget that changes nothing in a
  figure does not rebuild it);
* :func:`name_directions`: the site-power chart draws use below zero; its
  tooltips say ``'EV charging: 45.0 kW into the vehicles'``, never ``-45.0 kW``;
* :func:`availability`: how many vehicles are plugged in over time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from gridopt.fleet import build_fleet_plan
from gridopt.scenario import Scenario

#: Where each flow of the site-power chart goes or comes from (shown in its tooltip).
DIRECTIONS = {
    "Grid import": "drawn from the grid",
    "PV used": "from the PV",
    "V2G discharge": "from the vehicles (V2G)",
    "PV curtailed (not used)": "of PV not used",
    "Base load": "used by the site's own load",
    "EV charging": "into the vehicles",
    "Grid export": "fed into the grid",
    "Grid import, uncontrolled": "drawn from the grid with uncontrolled charging",
}
#: Figures kept per session (the most recent).
MAX_FIGURES = 48


def cached(key: tuple, build: Callable[[], go.Figure]) -> go.Figure:
    """The figure for ``key`` (e.g. ``(run number, "site_power", options)``), built on first use."""
    cache: dict = st.session_state.setdefault("_figures", {})
    fig = cache.get(key)
    if fig is None:
        fig = cache[key] = build()
        for old in list(cache)[:-MAX_FIGURES]:
            del cache[old]
    return fig


def name_directions(fig: go.Figure) -> go.Figure:
    """Tooltips of the site-power chart: positive kW with the direction named (in place; returns ``fig``)."""
    for tr in fig.data:
        where = DIRECTIONS.get(tr.name)
        if where is None or tr.y is None:
            continue
        y = np.asarray(tr.y, dtype=float)
        tr.customdata = np.abs(y)
        tr.hovertemplate = f"{tr.name}: %{{customdata:,.1f}} kW {where}<extra></extra>"
    return fig


def with_currency(fig: go.Figure, currency: str | None) -> go.Figure:
    """The site-power chart's price axis and tooltips in the scenario's currency (in place; returns ``fig``)."""
    if not currency:
        return fig
    for tr in fig.data:
        if tr.name in ("Import price (right axis)", "Export price (right axis)"):
            tr.hovertemplate = f"%{{y:.4f}} {currency} per kWh"
    fig.update_yaxes(title_text=f"price [{currency}/kWh]", secondary_y=True)
    return fig


@st.cache_data(show_spinner=False, max_entries=32)
def plugged_counts(fingerprint: str, _sc: Scenario) -> pd.Series:
    """Vehicles plugged in at the site in each step (index: the scenario's step starts)."""
    plan = build_fleet_plan(_sc)
    return pd.Series(np.asarray(plan.plugged).sum(axis=0), index=_sc.grid.index, name="plugged")


def availability(counts: pd.Series, n_vehicles: int, tz: str) -> go.Figure:
    """A strip chart of the vehicles plugged in over time, of ``n_vehicles``."""
    idx = counts.index.tz_convert(tz) if counts.index.tz is not None else counts.index
    fig = go.Figure(
        go.Scatter(
            x=idx,
            y=counts.to_numpy(),
            mode="lines",
            line=dict(shape="hv", width=1, color="#2a9d8f"),
            fill="tozeroy",
            fillcolor="rgba(42, 157, 143, 0.35)",
            name="Plugged in",
            hovertemplate="%{y:,.0f} of " + f"{n_vehicles:,}" + " vehicles plugged in<extra>%{x|%a %H:%M}</extra>",
        )
    )
    fig.update_layout(
        height=170,
        margin=dict(l=10, r=10, t=10, b=10),
        showlegend=False,
        yaxis=dict(title_text="vehicles plugged in", rangemode="tozero", range=[0, max(n_vehicles, 1) * 1.05]),
        xaxis=dict(title_text=None, hoverformat="%a %H:%M"),
    )
    return fig
