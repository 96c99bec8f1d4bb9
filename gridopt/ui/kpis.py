"""KPI cards (``st.metric``) with their difference from the uncontrolled baseline."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from gridopt import report


def kpi_cards(summary: dict, kpis: Sequence[report.KPI], *, baseline: bool = True) -> None:
    """One row of metric cards, one per KPI, with the difference from ``summary["baseline"]``.

    Parameters
    ----------
    summary : dict
        ``result.summary``.
    kpis : sequence of report.KPI
        The cards, in order (one column each).
    baseline : bool
        Show each card's difference from the baseline (green = better, grey when
        it rounds to zero or neither direction is better).
    """
    base = summary.get("baseline") if baseline else None
    cols = st.columns(len(kpis))
    for col, k in zip(cols, kpis, strict=True):
        value = report.kpi_value(summary, k.key)
        d = report.delta(summary, base, k.key) if base else None
        text = report.fmt_delta(k, d)
        if k.better is None or not text:
            color = "off"
        else:
            color = "inverse" if k.better == "lower" else "normal"
        if text:
            text = 0 if report.rounds_to_zero(k, d) else text.split()[0]  # 0: grey, no arrow
        col.metric(
            report.label_with_unit(k),
            report.fmt_number(k, value),
            delta=text if text != "" else None,
            delta_color=color,
            help=k.help,
            border=True,
        )
