"""The Plan page: the chosen scenario, its edits, the Run button and the results."""

from __future__ import annotations

import dataclasses
import math
import time

import pandas as pd
import streamlit as st

from gridopt import plots, report
from gridopt.edit import current_edits, describe_changes
from gridopt.fingerprint import scenario_fingerprint
from gridopt.io.save import scenario_zip, slug
from gridopt.io.write import result_files
from gridopt.scenario import Scenario
from gridopt.ui import figures, sidebar, state
from gridopt.ui.kpis import kpi_cards
from gridopt.ui.text import human_times

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
    kpi_cards(summary, report.KPIS, baseline=bool(summary.get("baseline")))  # one wrapping row: no ragged gaps
    notes = caveats(summary)
    if notes:
        st.caption("  \n".join(notes))


def caveats(summary: dict, *, grid: bool = False) -> list[str]:
    """What a reader must know to trust the cards' differences: the baseline, its energy, its limit breaks.

    Each line is one caveat, shown right below the cards (``grid``: worded for the Grid page's cards).
    """
    base = summary.get("baseline")
    if not base:
        return []
    cur = f" Costs in {summary['currency']}." if summary.get("currency") and not grid else ""
    out = [
        "Small figures: the plan minus **uncontrolled charging until each need is met** (every vehicle at full power "
        f"from plug-in, no V2G); green = better{' for the grid' if grid else ''}.{cur}"
    ]
    e_plan, e_base = summary.get("energy_to_batteries_kwh"), base.get("energy_to_batteries_kwh")
    if e_plan is not None and e_base is not None:
        diff = e_plan - e_base
        if abs(diff) <= max(0.5, 0.01 * abs(e_base)):
            out.append(f"Like for like: both store {e_plan:,.0f} kWh in the batteries.")
        else:
            out.append(
                f"**Not like for like:** the plan stores {e_plan:,.0f} kWh in the batteries, uncontrolled charging "
                f"{e_base:,.0f} kWh ({diff:+,.0f} kWh); compare the cost per kWh rather than the total."
            )
    n = base.get("import_limit_violation_steps") or 0
    if n:
        out.append(
            f"**Uncontrolled charging breaks the import limit** in {n} step{'s' if n != 1 else ''} (peak "
            f"{base['peak_import_kw']:,.0f} kW): the site could not run it, so its cost and peak are not a plan "
            "the site could choose."
        )
    u_plan, u_base = summary.get("unmet_energy_kwh") or 0.0, base.get("unmet_energy_kwh") or 0.0
    if u_plan > 0.05 or u_base > 0.05:
        out.append(f"Unmet energy: {u_plan:,.1f} kWh in the plan, {u_base:,.1f} kWh uncontrolled.")
    return out


def _status(run: state.Run) -> None:
    s = run.result.summary
    if run.stopped:
        text = (
            f"Stopped by you after {run.wall_seconds:.1f} s: the best plan found by then, checked like every plan; "
            f"its cost is at most {report.fmt_gap(s.get('mip_gap'))} above the best possible (proven gap)."
        )
    else:
        text = report.status_text(s, run.outcome.seconds or None)  # the solve; the wait follows
        if run.outcome.reused:
            text += " Same inputs as an earlier run: its plan is shown, not solved again."
        text += f" You waited {run.wall_seconds:.1f} s (from the click to this page)." if run.wall_seconds else ""
    if run.quick:
        text += f" Quick run (target gap {100 * state.QUICK_GAP:g}%)."
    if s.get("status") == "optimal" and not run.stopped:
        st.success(f"**Run #{run.number}.** {text}", icon=":material/check_circle:")
    else:
        st.warning(f"**Run #{run.number}.** {text}", icon=":material/timer:")
    unmet = s.get("unmet_energy_kwh") or 0.0
    if unmet > 0.05:
        events = s.get("unmet_events") or []
        vehicles = len({e["vehicle_id"] for e in events})
        unreachable = sum(e.get("physically_unreachable", False) for e in events)
        why = f" {unreachable} of them cannot be met by any plan (too little time or power)." if unreachable else ""
        st.warning(
            f"**{unmet:,.1f} kWh of the energy the vehicles need is not delivered**: {len(events)} requirement"
            f"{'s' if len(events) != 1 else ''} of {vehicles} vehicle{'s' if vehicles != 1 else ''} "
            f"(see the tab Unmet needs).{why}",
            icon=":material/battery_alert:",
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
    status = st.container()  # filled last: a new run's status counts the wait until the page is drawn
    _kpi_cards(res.summary)
    st.page_link(
        "gridopt/ui/pages/grid.py",
        label="Grid view of this plan",
        icon=":material/electrical_services:",
    )
    _site_power(run)
    _tabs(run)
    st.subheader("Download")
    _downloads(run)
    state.finish_wait(run)
    with status:
        _status(run)


@st.fragment
def _site_power(run: state.Run) -> None:
    """The site-power chart; its toggle reruns only this part of the page."""
    st.subheader("Site power")
    show_base = st.toggle("Compare with the grid import of uncontrolled charging", value=False, key="show_baseline")
    fig = figures.cached(
        (run.number, "site_power", show_base),
        lambda: figures.with_currency(
            figures.name_directions(plots.site_power(run.result, baseline=show_base)), run.scenario.currency
        ),
    )
    st.plotly_chart(fig, config=PLOT_CONFIG, key=f"site_power_{run.number}")
    st.caption(
        "Above zero: where the site's power comes from. Below zero: where it goes (the tooltips give every flow as a "
        "positive power and name its direction). Uncontrolled = every vehicle charges at full power from plug-in until "
        "its need is met; no V2G."
    )


def _short(res) -> pd.DataFrame:
    u = res.unmet
    return u[u["unmet_kwh"] > 1e-6]


@st.fragment
def _tabs(run: state.Run) -> None:
    """The tabs below the chart: only the open one is drawn, and switching reruns only this part."""
    res = run.result
    n_short = len(_short(res))
    labels = ["State of charge", "Charging heatmap", f"Unmet needs ({n_short})" if n_short else "Unmet needs", "Inputs"]
    tab_soc, tab_map, tab_unmet, tab_inputs = st.tabs(labels, key="plan_tab", on_change="rerun")
    if tab_soc.open:
        with tab_soc:
            chosen = _vehicle_choice(res, f"soc_vehicles:{run.source_id}")
            if chosen:
                fig = figures.cached((run.number, "soc", tuple(chosen)), lambda: plots.soc(res, chosen))
                st.plotly_chart(fig, config=PLOT_CONFIG, key=f"soc_{run.number}")
            else:
                st.info("Pick one or more vehicles.")
    if tab_map.open:
        with tab_map:
            st.plotly_chart(
                figures.cached((run.number, "heatmap"), lambda: plots.charging_heatmap(res)),
                config=PLOT_CONFIG,
                key="heatmap",
            )
            st.caption("Green: charging; purple: discharging (V2G); grey: not plugged in.")
    if tab_unmet.open:
        with tab_unmet:
            _unmet(res)
    if tab_inputs.open:
        with tab_inputs:
            _inputs(run.scenario, run.fingerprint)


def _unmet(res) -> None:
    u = res.unmet
    short = _short(res)
    if short.empty:
        st.success(f"Every requirement is met ({len(u)} departures, session ends and final SoCs).")
        return
    st.warning(
        f"{len(short)} of {len(u)} requirements are not fully met, {short['unmet_kwh'].sum():,.1f} kWh in all. "
        "Energy is left unmet only where serving it is impossible (too little time or power) or costs more than "
        "the unmet-energy penalty."
    )
    table = short[["vehicle_id", "kind", "event_id", "boundary_time", "required_kwh", "soc_kwh", "unmet_kwh"]].copy()
    table["boundary_time"] = table["boundary_time"].dt.strftime("%a %d %b %H:%M")
    kwh = dict(format="%.1f")
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "vehicle_id": st.column_config.TextColumn("Vehicle"),
            "kind": st.column_config.TextColumn("Kind", help="trip (departure), session (its end) or final SoC"),
            "event_id": st.column_config.TextColumn("Trip / session"),
            "boundary_time": st.column_config.TextColumn("Ready by (local time)"),
            "required_kwh": st.column_config.NumberColumn("Needed [kWh]", **kwh),
            "soc_kwh": st.column_config.NumberColumn("Has [kWh]", **kwh),
            "unmet_kwh": st.column_config.NumberColumn("Short [kWh]", **kwh),
        },
    )


#: Column formats of the scenario's tables (st.column_config); SoC columns are shown in %.
_PCT_COLS = ("min_soc", "initial_soc", "max_soc", "final_soc", "arrival_soc", "target_soc", "departure_soc")


def _table_config(df: pd.DataFrame, tz: str) -> tuple[pd.DataFrame, dict]:
    """A scenario table for people: SoC in %, times in local time, names and units in the headers."""
    names = {
        "battery_kwh": ("Battery [kWh]", "%.0f"),
        "max_charge_kw": ("Charge [kW]", "%.1f"),
        "max_discharge_kw": ("V2G [kW]", "%.1f"),
        "min_charge_kw": ("Min charge [kW]", "%.1f"),
        "charge_efficiency": ("Charge efficiency", "%.2f"),
        "discharge_efficiency": ("Discharge efficiency", "%.2f"),
        "energy_kwh": ("Trip energy [kWh]", "%.1f"),
        "min_soc": ("Min SoC [%]", "%.0f"),
        "initial_soc": ("Initial SoC [%]", "%.0f"),
        "max_soc": ("Max SoC [%]", "%.0f"),
        "final_soc": ("Final SoC [%]", "%.0f"),
        "arrival_soc": ("SoC at arrival [%]", "%.0f"),
        "target_soc": ("Target SoC [%]", "%.0f"),
        "departure_soc": ("SoC needed at departure [%]", "%.0f"),
    }
    out = df.copy()
    config: dict = {}
    for col in out.columns:
        if col in _PCT_COLS:
            out[col] = pd.to_numeric(out[col], errors="coerce") * 100.0
        if col in names:
            title, fmt = names[col]
            config[col] = st.column_config.NumberColumn(title, format=fmt)
        elif isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.tz_convert(tz).dt.strftime("%a %d %b %H:%M")
            config[col] = st.column_config.TextColumn(col.replace("_", " ").capitalize() + " (local time)")
        else:
            config[col] = st.column_config.Column(col.replace("_", " ").capitalize().replace(" id", " ID"))
    return out, config


def _inputs(sc: Scenario, fingerprint: str) -> None:
    st.plotly_chart(figures.cached(("inputs", fingerprint), lambda: plots.inputs(sc)), config=PLOT_CONFIG, key="inputs")
    counts = figures.plugged_counts(fingerprint, sc)
    st.markdown(
        f"**Vehicles plugged in** (at most {int(counts.max()):,} of {len(sc.vehicles):,} at once; "
        f"on average {counts.mean():,.1f})"
    )
    st.plotly_chart(
        figures.cached(("plugged", fingerprint), lambda: figures.availability(counts, len(sc.vehicles), sc.timezone)),
        config=PLOT_CONFIG,
        key="plugged",
    )
    cols = [c for c in sc.vehicles.columns if c != "line"]
    with st.expander(f"Vehicles ({len(sc.vehicles)})"):
        table, config = _table_config(sc.vehicles[cols].reset_index(), sc.timezone)
        st.dataframe(table, width="stretch", hide_index=True, column_config=config)
    for title, df in (("Trips", sc.trips), ("Charging sessions", sc.sessions)):
        if len(df):
            with st.expander(f"{title} ({len(df)})"):
                table, config = _table_config(df.drop(columns=["line"], errors="ignore"), sc.timezone)
                st.dataframe(table, hide_index=True, width="stretch", column_config=config)


def file_stem(run: state.Run) -> str:
    """Downloads are named after the scenario and the run: ``depot-bus-v2g-run3``."""
    return f"{slug(run.scenario.name)}-run{run.number}"


#: What each file of a run holds (the download buttons' help), in the order shown.
FILE_HELP = {
    "schedule.csv": "One row per vehicle and step: plugged in, charger, charge and discharge power, SoC in kWh and %.",
    "site.csv": "One row per step: grid import and export, base load, PV, EV charging and discharging, prices.",
    "summary.json": "Status, costs, KPIs, the uncontrolled baseline and the savings against it.",
    "vehicles.csv": "Ready-by report: per vehicle and requirement the need, planned SoC at departure, unmet energy.",
    "setpoints.csv": "Charger setpoints: contiguous blocks of equal power per charger and vehicle (kW and A).",
}


def _downloads(run: state.Run) -> None:
    res = run.result
    stem = file_stem(run)
    texts = result_files(res)
    files = [
        (f"{stem}-{name}", texts[name], "application/json" if name.endswith(".json") else "text/csv", help_text)
        for name, help_text in FILE_HELP.items()
        if name in texts
    ]
    row = st.container(horizontal=True, wrap=True)
    for file_name, data, mime, help_text in files:
        row.download_button(
            file_name.rsplit("-", 1)[-1],
            data,
            file_name=file_name,
            mime=mime,
            icon=":material/download:",
            on_click="ignore",
            width="content",
            help=help_text + f" Saved as {file_name}.",
        )
    _zip_button(run, row)
    st.caption(f"The same files as `gridopt run SCENARIO --out DIR` writes, named {stem}-….")


def _zip_button(run: state.Run, where) -> None:
    name = slug(run.scenario.name)
    data = _zip(run)
    if data is None:
        where.button(
            "Scenario (.zip)",
            icon=":material/folder_zip:",
            disabled=True,
            key=f"nozip:{run.number}",
            help="This run's scenario files are no longer on this machine (an edited or uploaded scenario of an "
            "earlier session).",
        )
        return
    where.download_button(
        "Scenario (.zip)",
        data,
        file_name=f"{file_stem(run)}.zip",
        mime="application/zip",
        icon=":material/folder_zip:",
        on_click="ignore",
        width="content",
        help=f"The scenario as run, with your edits: unzip and run `gridopt run {name}/{name}.yaml --out results`.",
    )


def _zip(run: state.Run) -> bytes | None:
    """The scenario as run: zipped with the run (:attr:`state.Run.scenario_zip`), else now if its files exist."""
    kept = getattr(run, "scenario_zip", None)
    if kept is not None:
        return kept
    cache = st.session_state.setdefault("_zips", {})
    if run.number not in cache:
        try:
            cache[run.number] = scenario_zip(run.scenario)
        except OSError:
            cache[run.number] = None
    return cache[run.number]


#: How long the page waits for a solve before it shows the progress panel [s]: small scenarios finish
#: within it and their results show in the same rerun.
FIRST_WAIT_S = 1.5
#: How often the progress panel polls a running solve [s].
POLL_S = 0.3
QUICK, PRECISE = "Quick", "Precise"


@st.fragment(run_every=POLL_S)
def _progress() -> None:
    """The running solve: stage, best plan, bound, gap, and Stop; reruns the page when it is done."""
    j = state.job()
    if j is None:
        return
    if j.done:
        st.rerun(scope="app")
    snap = j.progress.snapshot()
    sc = j.scenario
    with st.container(border=True):
        row = st.container(horizontal=True, vertical_alignment="center")
        row.markdown(
            f":material/hourglass_top: **Optimizing {sc.name}** ({len(sc.vehicles):,} vehicles × "
            f"{sc.grid.n_steps:,} steps): {j.elapsed():.0f} s of at most {sc.solver.time_limit_s:g} s"
            + (" · stopping…" if j.stopped else "")
        )
        row.button(
            "Stop",
            icon=":material/stop_circle:",
            key="stop",
            on_click=state.stop_job,
            disabled=j.stopped,
            help="Stop the solver and keep the best plan found so far (checked like every plan).",
        )
        inc = f"{snap['incumbent']:,.2f}" if math.isfinite(snap["incumbent"]) else "none yet"
        bound = f"{snap['bound']:,.2f}" if math.isfinite(snap["bound"]) else "none yet"
        gap = report.fmt_gap(snap["gap"]) if snap["gap"] is not None else "unknown"
        cur = f" {sc.currency}" if sc.currency else ""
        st.caption(
            f"Now {snap['stage']}. Best plan so far: **{inc}**{cur} · proven bound: **{bound}**{cur} · "
            f"gap **{gap}** (target {100 * sc.solver.mip_rel_gap:g}%). Costs here are the solver's objective: the "
            "total cost plus any weighted grid terms."
        )


def _run_controls(sc: Scenario | None, running: state.Job | None) -> tuple[bool, bool]:
    """The Run button and the quick / precise switch; returns (clicked, quick)."""
    row = st.container(horizontal=True, wrap=True, vertical_alignment="center")
    clicked = row.button(
        "Run optimization",
        type="primary",
        icon=":material/play_arrow:",
        disabled=sc is None or running is not None,
        key="run",
        help="A solve is running: stop it or wait." if running is not None else None,
    )
    mode = row.segmented_control(
        "Accuracy",
        (QUICK, PRECISE),
        key="run_mode",
        label_visibility="collapsed",
        help=f"Quick: the solver stops at a proven gap of {100 * state.QUICK_GAP:g}% (a first look, seconds); "
        "Precise: at the target gap of the scenario (Horizon and solver).",
    )
    if sc is not None:
        row.caption(
            f"HiGHS stops at a proven gap of {100 * sc.solver.mip_rel_gap:g}% or after {sc.solver.time_limit_s:g} s "
            "and returns its best plan; Stop returns the best plan so far."
        )
    return clicked, mode == QUICK


def _quick(sc: Scenario) -> Scenario:
    """``sc`` with the quick gap (never stricter than the scenario's own)."""
    if sc.solver.mip_rel_gap >= state.QUICK_GAP:
        return sc
    return dataclasses.replace(sc, solver=dataclasses.replace(sc.solver, mip_rel_gap=state.QUICK_GAP))


def render() -> None:
    """Draw the Plan page."""
    t_click = time.monotonic()  # the start of this rerun: a click on Run is counted from here
    state.keep_widget_state()
    state.runs()  # a new session (a reload) loads the stored runs
    state.collect_job()
    source = sidebar.scenario_picker()
    sidebar.upload_error()
    if source.scenario is None:
        st.title("gridopt")
        st.error(f"**This scenario cannot be loaded.** {source.error}")
        return
    st.session_state.setdefault("run_mode", PRECISE)
    edits, widget_errors = sidebar.edit_widgets(source)
    sidebar.sync_query(source)
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
        st.warning(human_times(w), icon=":material/warning:")
    for p in [*(st.session_state.get("store_problems") or ()), *(st.session_state.get("query_problems") or ())]:
        st.warning(p[:1].upper() + p[1:] + ".", icon=":material/warning:")

    running = state.job()
    clicked, quick = _run_controls(sc, running)
    if quick and sc is not None:
        sc = _quick(sc)
    fp = scenario_fingerprint(sc) if sc is not None else None
    run = state.run_for(source.id, fp) if fp else None
    if clicked and sc is not None and running is None and (run is None or run.stopped):
        running = state.start_job(source, sc, edits, quick, clicked_at=t_click)
        if running.wait(FIRST_WAIT_S):
            run = state.collect_job()
            running = None
    if running is not None:
        _progress()
        if running.source_id != source.id:
            st.info(f"The solve above is for {running.scenario.name}; its results show on its page when done.")

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
        if running is None:
            st.info(
                "Press **Run optimization** to plan when each vehicle charges or discharges. Edit the scenario in the "
                "sidebar first if you like: grid connection, PV, tariff, fleet, horizon.",
                icon=":material/info:",
            )
        st.subheader("Input data")
        _inputs(shown, fp or scenario_fingerprint(shown))
        return
    if run.result is None:
        o = run.outcome
        title = {
            "infeasible": "No plan can keep to the site's import limit.",
            "solver": "The solver found no plan in time.",
            "bug": "gridopt failed (a bug).",
        }.get(o.kind, "The run failed.")
        error = human_times(o.error) if o.kind in ("infeasible", "solver") else o.error  # computed, not quoted
        st.error(f"**Run #{run.number}: {title}** {error}", icon=":material/error:")
        _zip_button(run, st)
        st.subheader("Input data")
        _inputs(run.scenario, run.fingerprint)
        return
    _results(run)
