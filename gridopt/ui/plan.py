"""The Plan page: the chosen scenario, its edits, the Run button and the results."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from gridopt import plots, report
from gridopt.edit import current_edits, describe_changes
from gridopt.fingerprint import scenario_fingerprint
from gridopt.io.save import scenario_zip, slug
from gridopt.io.write import schedule_csv, site_csv, summary_json
from gridopt.scenario import Scenario
from gridopt.ui import sidebar, state
from gridopt.ui.kpis import kpi_cards

PLOT_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def _facts(sc: Scenario) -> str:
    v = sc.vehicles
    n_v2g = int((v["max_discharge_kw"] > 0).sum())
    events = []
    if len(sc.trips):
        events.append(f"{len(sc.trips)} trips")
    if len(sc.sessions):
        events.append(f"{len(sc.sessions)} charging sessions")
    hours = sc.grid.n_steps * sc.grid.dt_h
    start = sc.grid.start
    grid = (
        "no import limit" if math.isinf(sc.import_limit_kw) else f"import ≤ {sc.import_limit_kw:,.0f} kW"
    ) + f", export ≤ {sc.export_limit_kw:,.0f} kW"
    pv = f" · PV up to {sc.series['pv_kw'].max():,.0f} kW" if sc.series["pv_kw"].max() > 0 else ""
    return (
        f"**{len(v)} vehicles** ({n_v2g} V2G) · {', '.join(events) or 'no trips or sessions'} · "
        f"**{hours:g} h** in {sc.grid.step_minutes}-min steps from {start:%a %d %b %Y %H:%M} ({sc.timezone}) · "
        f"{grid}{pv}"
    )


def _kpi_cards(summary: dict) -> None:
    base = summary.get("baseline")
    if base:
        st.caption(
            "Small figures: difference from uncontrolled charging until each need is met, the same energy as the "
            "plan (green = better). Costs in the scenario's currency."
        )
    for row in (report.KPIS[:6], report.KPIS[6:]):
        kpi_cards(summary, row, baseline=bool(base))


def _status(run: state.Run) -> None:
    s = run.result.summary
    text = report.status_text(s, run.outcome.seconds or None)
    if s.get("status") == "optimal":
        st.success(f"**Run #{run.number}.** {text}", icon=":material/check_circle:")
    else:
        st.warning(f"**Run #{run.number}.** {text}", icon=":material/timer:")
    b = s.get("baseline") or {}
    if b.get("import_limit_violation_steps"):
        st.caption(
            f"Uncontrolled charging would exceed the import limit in {b['import_limit_violation_steps']} steps "
            f"(peak {b['peak_import_kw']:,.0f} kW)."
        )
    f = s.get("reference_full") or {}
    if f:
        k = report.KPI_BY_KEY["cost_per_kwh_delivered"]
        st.caption(
            f"Charging every vehicle to full instead (not like for like) would store "
            f"{f['energy_to_batteries_kwh']:,.0f} kWh instead of {s['energy_to_batteries_kwh']:,.0f} kWh and cost "
            f"{f['total_cost']:,.2f} ({report.fmt_value(k, f['cost_per_kwh_delivered'])} per kWh stored)."
        )


def _vehicle_choice(result, key: str) -> list[str]:
    sched = result.schedule
    ids = list(dict.fromkeys(sched["vehicle_id"]))
    unmet = result.unmet.groupby("vehicle_id")["unmet_kwh"].sum() if len(result.unmet) else pd.Series(dtype=float)
    v2g = sched.groupby("vehicle_id")["discharge_kw"].sum()
    # the interesting ones first: short of energy, then most V2G, then the rest
    order = sorted(ids, key=lambda v: (-int(unmet.get(v, 0.0) > 1e-6), -float(v2g.get(v, 0.0)), ids.index(v)))
    default = [v for v in ids if v in set(order[:3])]
    st.session_state.setdefault(key, default)
    st.session_state[key] = [v for v in st.session_state[key] if v in ids] or default
    return st.multiselect(
        "Vehicles",
        ids,
        key=key,
        max_selections=8,
        help="Up to 8 vehicles; shown first are those left short of energy and those discharging most.",
    )


def _results(run: state.Run) -> None:
    res = run.result
    st.session_state["shown_run"] = run.number  # the Grid page shows this run first
    _status(run)
    _kpi_cards(res.summary)
    st.page_link(
        "gridopt/ui/pages/grid.py",
        label="Grid view: this plan's grid load, emissions, renewable surplus, target, events and flexibility",
        icon=":material/electrical_services:",
    )

    st.subheader("Site power")
    show_base = st.toggle("Compare with the grid import of uncontrolled charging", value=False, key="show_baseline")
    st.plotly_chart(plots.site_power(res, baseline=show_base), config=PLOT_CONFIG, key="site_power")
    st.caption(
        "Above zero: where the site's power comes from. Below zero: where it goes. "
        "Uncontrolled = every vehicle charges at full power from plug-in until its need is met; no V2G."
    )

    tab_soc, tab_map, tab_unmet, tab_inputs = st.tabs(
        ["State of charge", "Charging heatmap", "Unmet needs", "Input data"]
    )
    with tab_soc:
        chosen = _vehicle_choice(res, f"soc_vehicles:{run.source_id}")
        if chosen:
            st.plotly_chart(plots.soc(res, chosen), config=PLOT_CONFIG, key="soc")
        else:
            st.info("Pick one or more vehicles.")
    with tab_map:
        st.plotly_chart(plots.charging_heatmap(res), config=PLOT_CONFIG, key="heatmap")
        st.caption("Green: charging; purple: discharging (V2G); grey: not plugged in.")
    with tab_unmet:
        _unmet(res)
    with tab_inputs:
        _inputs(run.scenario)

    st.subheader("Download")
    _downloads(run)


def _unmet(res) -> None:
    u = res.unmet
    short = u[u["unmet_kwh"] > 1e-6]
    if short.empty:
        st.success(f"Every requirement is met ({len(u)} departures, session ends and final SoCs).")
        return
    st.warning(
        f"{len(short)} of {len(u)} requirements are not fully met, {short['unmet_kwh'].sum():,.1f} kWh in all. "
        "Energy is left unmet only where serving it is impossible (too little time or power) or costs more than "
        "the unmet-energy penalty."
    )
    table = short[["vehicle_id", "kind", "event_id", "boundary_time", "required_kwh", "soc_kwh", "unmet_kwh"]].rename(
        columns={
            "vehicle_id": "vehicle",
            "kind": "kind",
            "event_id": "trip / session",
            "boundary_time": "ready by",
            "required_kwh": "needed [kWh]",
            "soc_kwh": "has [kWh]",
            "unmet_kwh": "short [kWh]",
        }
    )
    table["ready by"] = table["ready by"].dt.strftime("%a %H:%M")
    kwh = st.column_config.NumberColumn(format="%.1f")
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={"needed [kWh]": kwh, "has [kWh]": kwh, "short [kWh]": kwh},
    )


def _inputs(sc: Scenario) -> None:
    st.plotly_chart(plots.inputs(sc), config=PLOT_CONFIG, key=f"inputs:{id(sc)}")
    cols = [c for c in sc.vehicles.columns if c != "line"]
    with st.expander(f"Vehicles ({len(sc.vehicles)})"):
        st.dataframe(sc.vehicles[cols], width="stretch")
    if len(sc.trips):
        with st.expander(f"Trips ({len(sc.trips)})"):
            st.dataframe(sc.trips, hide_index=True, width="stretch")
    if len(sc.sessions):
        with st.expander(f"Charging sessions ({len(sc.sessions)})"):
            st.dataframe(sc.sessions, hide_index=True, width="stretch")


def _downloads(run: state.Run) -> None:
    res = run.result
    name = slug(run.scenario.name)
    c1, c2, c3, c4 = st.columns(4)
    files = [
        (
            c1,
            "schedule.csv",
            schedule_csv(res.schedule),
            "text/csv",
            "One row per vehicle and step: plugged in, charge and discharge power, SoC.",
        ),
        (
            c2,
            "site.csv",
            site_csv(res.site),
            "text/csv",
            "One row per step: grid import and export, base load, PV, EV charging and discharging, prices.",
        ),
        (
            c3,
            "summary.json",
            summary_json(res.summary),
            "application/json",
            "Status, costs, KPIs, the uncontrolled baseline and the savings against it.",
        ),
    ]
    for col, file_name, data, mime, help_text in files:
        col.download_button(
            file_name,
            data,
            file_name=file_name,
            mime=mime,
            icon=":material/download:",
            on_click="ignore",
            width="stretch",
            help=help_text,
        )
    c4.download_button(
        "Scenario (.zip)",
        _zip(run),
        file_name=f"{name}.zip",
        mime="application/zip",
        icon=":material/folder_zip:",
        on_click="ignore",
        width="stretch",
        help=f"The scenario as run, with your edits: unzip and run `gridopt run {name}/{name}.yaml --out results`.",
    )
    st.caption("The same files as `gridopt run SCENARIO --out DIR` writes.")


def _zip(run: state.Run) -> bytes:
    cache = st.session_state.setdefault("_zips", {})
    if run.number not in cache:
        cache[run.number] = scenario_zip(run.scenario)
    return cache[run.number]


def render() -> None:
    """Draw the Plan page."""
    state.keep_widget_state()
    source = sidebar.scenario_picker()
    sidebar.upload_error()
    if source.scenario is None:
        st.title("gridopt")
        st.error(f"**This scenario cannot be loaded.** {source.error}")
        return
    edits, widget_errors = sidebar.edit_widgets(source)
    sc, error = state.edited_scenario(source, edits)
    if widget_errors:
        error = widget_errors[0]
        sc = None
    shown = sc or source.scenario

    st.title(shown.name)
    if shown.description:
        st.caption(shown.description)
    st.markdown(_facts(shown))
    changes = describe_changes(current_edits(source.scenario), edits)
    if changes:
        st.markdown("**Your edits:** " + " · ".join(changes))
    if error:
        st.error(f"**This edit cannot be used.** {error}", icon=":material/error:")
    for w in shown.warnings if sc is not None else ():
        st.warning(w, icon=":material/warning:")

    fp = scenario_fingerprint(sc) if sc is not None else None
    left, right = st.columns([1, 3], vertical_alignment="center")
    clicked = left.button(
        "Run optimization",
        type="primary",
        icon=":material/play_arrow:",
        disabled=sc is None,
        width="stretch",
        key="run",
    )
    if sc is not None:
        right.caption(
            f"HiGHS stops at a proven gap of {100 * sc.solver.mip_rel_gap:g}% or after {sc.solver.time_limit_s:g} s "
            "and returns its best plan. Runs are kept for the Compare page."
        )
    run = state.run_for(source.id, fp) if fp else None
    if clicked and sc is not None and run is None:
        outcome = state.solve(sc)
        run = state.add_run(source, sc, edits, outcome)

    if run is None:
        last = state.latest_run(source.id)
        if last is not None and last.result is not None:
            st.info(
                f"The inputs changed since run #{last.number}. Press **Run optimization** to plan with them; "
                f"below are the results of run #{last.number}.",
                icon=":material/info:",
            )
            _results(last)
            return
        st.info(
            "Press **Run optimization** to plan when each vehicle charges or discharges. Edit the scenario in the "
            "sidebar first if you like: grid connection, PV, tariff, fleet, horizon.",
            icon=":material/info:",
        )
        st.subheader("Input data")
        _inputs(shown)
        return
    if run.result is None:
        o = run.outcome
        title = {
            "infeasible": "No plan can keep to the site's import limit.",
            "solver": "The solver found no plan in time.",
            "bug": "gridopt failed (a bug).",
        }.get(o.kind, "The run failed.")
        st.error(f"**Run #{run.number}: {title}** {o.error}", icon=":material/error:")
        name = slug(run.scenario.name)
        st.download_button(
            "Scenario (.zip)",
            _zip(run),
            file_name=f"{name}.zip",
            mime="application/zip",
            icon=":material/folder_zip:",
            on_click="ignore",
            help="The scenario as run, with your edits (to change it offline, or to report a bug).",
        )
        st.subheader("Input data")
        _inputs(run.scenario)
        return
    _results(run)
