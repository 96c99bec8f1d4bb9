"""KPI cards (``st.metric``) with their difference from the uncontrolled baseline.

The cards flow in a wrapping row (a horizontal container) with a fixed width,
so that every value stays readable from a phone to a wide screen: at 800 px
two cards a row, at 1400 px four or five.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from gridopt import report

#: Width of a KPI card [px]: the longest label ("Battery degradation [EUR]") and value fit on one line.
CARD_WIDTH_PX = 215


def label(kpi: report.KPI, currency: str | None) -> str:
    """``'Total cost [EUR]'``, ``'Cost per kWh [EUR/kWh]'``, ``'Peak import [kW]'`` (money without a currency: no unit)."""
    if kpi.unit == "cost":
        return f"{kpi.label} [{currency}]" if currency else kpi.label
    if kpi.unit == "cost/kWh":
        return f"{kpi.label} [{currency}/kWh]" if currency else kpi.label
    return report.label_with_unit(kpi)


def kpi_cards(summary: dict, kpis: Sequence[report.KPI], *, baseline: bool = True) -> None:
    """A wrapping row of metric cards, one per KPI, with the difference from ``summary["baseline"]``.

    Parameters
    ----------
    summary : dict
        ``result.summary``.
    kpis : sequence of report.KPI
        The cards, in order.
    baseline : bool
        Show each card's difference from the baseline (green = better, grey when
        it rounds to zero or neither direction is better).
    """
    base = summary.get("baseline") if baseline else None
    currency = summary.get("currency")
    row = st.container(horizontal=True, wrap=True, gap="small")
    for k in kpis:
        value = report.kpi_value(summary, k.key)
        d = report.delta(summary, base, k.key) if base else None
        text = report.fmt_delta(k, d)
        if k.better is None or not text:
            color = "off"
        else:
            color = "inverse" if k.better == "lower" else "normal"
        if text:
            text = 0 if report.rounds_to_zero(k, d) else text.split()[0]  # 0: grey, no arrow
        row.metric(
            label(k, currency),
            report.fmt_number(k, value),
            delta=text if text != "" else None,
            delta_color=color,
            help=k.help,
            border=True,
            width=CARD_WIDTH_PX,
        )
