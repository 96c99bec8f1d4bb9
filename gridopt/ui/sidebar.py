"""The sidebar of the Plan page: pick or upload a scenario, and edit what analysts vary."""

from __future__ import annotations

import dataclasses
import json
import math

import streamlit as st

from gridopt.edit import MAX_PRICE_CSV_BYTES, Edits, current_edits, parse_tou, tou_from_series, tou_text
from gridopt.errors import ScenarioError
from gridopt.io.upload import MAX_UPLOAD_BYTES
from gridopt.scenario import Scenario
from gridopt.ui import state

KEEP, CONSTANT, TOU, CSV = "As in the scenario", "Constant", "Time-of-use table", "Prices from a CSV file"
STEP_CHOICES = (5, 10, 15, 20, 30, 60)


def _on_upload() -> None:
    up = st.session_state.get("upload_file")
    if up is None:
        st.session_state.pop("upload_error", None)
        return
    sid, err = state.add_upload(up.name, up.getvalue())
    st.session_state["upload_error"] = (up.name, err) if err else None
    if sid is not None:
        st.session_state["source"] = sid


def scenario_picker() -> state.Source:
    """Selectbox of ready and uploaded scenarios, and the upload box; returns the chosen source."""
    apply_query()
    sb = st.sidebar
    sb.caption(
        "**gridopt** plans when each electric vehicle charges or discharges, at the lowest cost within the site's limits."
    )
    ids = state.source_ids()
    if st.session_state.get("source") not in ids:
        st.session_state["source"] = ids[0]
    sb.selectbox(
        "Scenario",
        ids,
        format_func=state.source_label,
        key="source",
        on_change=lambda: st.session_state.pop("upload_error", None),  # an old upload's error goes with its choice
        help="Ready scenarios from the scenarios/ folder, and the ones you uploaded in this session.",
    )
    with sb.expander("Upload your own scenario", expanded=bool(st.session_state.get("upload_error"))):
        st.file_uploader(
            "A .zip with the scenario YAML and its CSV files",
            type=["zip"],
            key="upload_file",
            on_change=_on_upload,
            max_upload_size=MAX_UPLOAD_BYTES >> 20,
            help="Paths in the YAML are relative to it and must stay inside the zip. "
            "The format is described in the README; download any scenario below as an example.",
        )
        if st.session_state.get("upload_error"):
            st.error("Not loaded: see the message on the page.", icon=":material/error:")
    return state.get_source(st.session_state["source"])


def upload_error() -> None:
    """The last upload's error, if any, for the top of the page."""
    err = st.session_state.get("upload_error")
    if err:
        name, message = err
        st.error(f"**Your upload {name} was not loaded.** {message}", icon=":material/error:")


def _price_source(sc: Scenario) -> str:
    tariff = sc.config.get("tariff") or {}
    spec = tariff.get("import_price")
    if isinstance(spec, dict):
        return f"a time-of-use table with {len(spec)} periods"
    if spec is not None:
        return f"a constant {float(spec):g} per kWh"
    if tariff.get("tariff_file"):
        return f"the tariff file {tariff['tariff_file'].rsplit('/', 1)[-1]}"
    return f"the time series {str(sc.config.get('timeseries', '')).rsplit('/', 1)[-1]} (e.g. day-ahead prices)"


def _price_csv_upload(key: str) -> None:
    up = st.session_state.get(_upload_key(key))
    if up is None:
        return
    data = up.getvalue()
    if len(data) > MAX_PRICE_CSV_BYTES:
        st.session_state[key] = None
        st.session_state[key + ":error"] = f"{up.name}: larger than {MAX_PRICE_CSV_BYTES >> 20} MB"
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        st.session_state[key] = None
        st.session_state[key + ":error"] = f"{up.name}: not a text (UTF-8) file"
        return
    st.session_state[key] = (up.name, text)
    st.session_state[key + ":error"] = None


def _reset(prefix: str) -> None:
    for k in [k for k in st.session_state.keys() if isinstance(k, str) and k.startswith(prefix)]:
        del st.session_state[k]


def edit_widgets(source: state.Source) -> tuple[Edits, list[str]]:
    """Widgets for every editable value, set from the scenario.

    Returns the edits they describe and the messages of values that could not
    be read (a TOU table that does not parse); those values are left as in
    the scenario.
    """
    sc = source.scenario
    base = current_edits(sc)
    prefix = f"edit:{source.id}:"

    def key(name: str) -> str:
        return prefix + name

    def init(name: str, value) -> str:
        st.session_state.setdefault(key(name), value)
        st.session_state.setdefault("_edit_defaults", {})[key(name)] = value  # for the query string
        return key(name)

    sb = st.sidebar
    sb.markdown("**Edit the scenario**")
    changes: dict = {}
    errors: list[str] = []

    with sb.expander("Grid connection", expanded=True):
        no_limit = st.checkbox("No import limit", key=init("no_import_limit", base.import_limit_kw is None))
        imp = st.number_input(
            "Import limit [kW]",
            min_value=0.0,
            step=10.0,
            key=init("import_limit_kw", base.import_limit_kw if base.import_limit_kw is not None else 100.0),
            disabled=no_limit,
            help="Largest power the site may draw from the grid in any step.",
        )
        changes["import_limit_kw"] = None if no_limit else float(imp)
        changes["export_limit_kw"] = float(
            st.number_input(
                "Export limit [kW]",
                min_value=0.0,
                step=10.0,
                key=init("export_limit_kw", base.export_limit_kw),
                help="Largest power the site may feed into the grid; 0 = no export.",
            )
        )

    with sb.expander("PV"):
        if "pv_kw" in _series_columns(sc) and base.pv_peak_kw == 0:
            pct = st.slider(
                "Scale the PV time series [%]",
                0,
                300,
                step=5,
                key=init("pv_series_scale", 100),
                help="The scenario's PV comes from the pv_kw column of its time series.",
            )
            changes["pv_series_scale"] = pct / 100.0
        else:
            peak = st.number_input(
                "PV size [kWp]",
                min_value=0.0,
                step=10.0,
                key=init("pv_peak_kw", base.pv_peak_kw),
                help="DC peak power; 0 = no PV. PV power is computed with pvlib"
                + (
                    " from the scenario's measured irradiance."
                    if (sc.config.get("pv") or {}).get("weather")
                    else " for clear sky."
                ),
            )
            changes["pv_peak_kw"] = float(peak)
            changes["pv_tilt_deg"] = float(
                st.slider("Tilt [°]", 0.0, 90.0, step=1.0, key=init("pv_tilt_deg", base.pv_tilt_deg), help="0 = flat")
            )
            changes["pv_azimuth_deg"] = float(
                st.slider(
                    "Azimuth [°]",
                    0.0,
                    360.0,
                    step=5.0,
                    key=init("pv_azimuth_deg", base.pv_azimuth_deg),
                    help="Direction the panels face: 90 = east, 180 = south, 270 = west.",
                )
            )
            if base.pv_latitude is None:
                st.caption("This scenario has no PV yet: give the site's location to add it.")
                lat = st.number_input(
                    "Latitude [°]", -90.0, 90.0, key=init("pv_latitude", None), placeholder="e.g. 52.37"
                )
                lon = st.number_input(
                    "Longitude [°]", -180.0, 180.0, key=init("pv_longitude", None), placeholder="e.g. 4.90"
                )
                if peak > 0:
                    changes["pv_latitude"], changes["pv_longitude"] = lat, lon

    with sb.expander("Tariff"):
        st.caption(f"Import price now: {_price_source(sc)}.")
        mode = st.radio("Import price", (KEEP, CONSTANT, TOU, CSV), key=init("import_mode", KEEP))
        if mode == CONSTANT:
            changes["import_price"] = float(
                st.number_input(
                    "Import price per kWh",
                    step=0.01,
                    format="%.4f",
                    key=init("import_const", round(float(sc.series["import_price"].mean()), 4)),
                )
            )
        elif mode == TOU:
            text = st.text_area(
                "One line per period: start (HH:MM) and price",
                key=init("import_tou", tou_text(tou_from_series(sc.series["import_price"]))),
                height=160,
                help="Each price holds from its time until the next line's, every day; "
                "e.g. '00:00 0.10', '16:00 0.40', '21:00 0.10'.",
            )
            try:
                changes["import_price"] = parse_tou(text, "Time-of-use table")
            except ScenarioError as exc:
                errors.append(str(exc))
        elif mode == CSV:
            csv_key = key("price_csv")
            st.file_uploader(
                "CSV: time, import_price [, export_price]",
                type=["csv"],
                key=_upload_key(csv_key),
                on_change=_price_csv_upload,
                args=(csv_key,),
                help="One row per interval start (e.g. hourly day-ahead prices), times ISO 8601 with offset, "
                "covering the horizon. Its columns replace the scenario's prices.",
            )
            got = st.session_state.get(csv_key)
            if st.session_state.get(csv_key + ":error"):
                st.error(st.session_state[csv_key + ":error"])
            elif got:
                st.caption(f"Using {got[0]} ({len(got[1].splitlines()) - 1} rows).")
                changes["price_csv"], changes["price_csv_name"] = got[1], got[0]
            else:
                st.caption("No file yet: the scenario's prices are used.")
        exp_mode = st.radio("Export price", (KEEP, CONSTANT), key=init("export_mode", KEEP), horizontal=True)
        if exp_mode == CONSTANT:
            changes["export_price"] = float(
                st.number_input(
                    "Export price per kWh",
                    step=0.01,
                    format="%.4f",
                    key=init("export_const", round(float(sc.series["export_price"].mean()), 4)),
                )
            )
        changes["demand_charge_per_kw"] = float(
            st.number_input(
                "Demand charge per kW"
                + ("" if sc.demand_charge_period == "horizon" else f" per {sc.demand_charge_period}"),
                min_value=0.0,
                step=0.5,
                key=init("demand_charge_per_kw", base.demand_charge_per_kw),
                help="Charged on the horizon's peak import, as the tariff states it: a charge billed per day or "
                "month (tariff.demand_charge_period) is prorated to the horizon.",
            )
        )

    with sb.expander("Fleet"):
        n0 = base.n_vehicles
        n = st.number_input(
            "Number of vehicles",
            min_value=1,
            max_value=max(20 * n0, 200),
            step=1,
            key=init("n_vehicles", n0),
            help="More vehicles are copies of the scenario's (with their trips or sessions); "
            "fewer keeps an even spread of them.",
        )
        changes["n_vehicles"] = int(n)
        pct0 = round(100 * base.v2g_share)
        pct = st.slider("V2G-capable vehicles [%]", 0, 100, step=1, key=init("v2g_pct", pct0))
        share = base.v2g_share if pct == pct0 else pct / 100.0
        changes["v2g_share"] = share
        st.caption(
            f"{round(share * int(n))} of {int(n)} vehicles can discharge. Vehicles made bidirectional "
            "discharge up to their charging power."
        )
        changes["battery_degradation_cost_per_kwh"] = float(
            st.number_input(
                "Battery degradation cost per kWh discharged",
                min_value=0.0,
                step=0.01,
                format="%.3f",
                key=init("degradation", base.battery_degradation_cost_per_kwh),
            )
        )

    with sb.expander("Horizon and solver"):
        changes["horizon_hours"] = float(
            st.number_input(
                "Horizon [h]",
                min_value=1.0,
                max_value=744.0,
                step=1.0,
                key=init("horizon_hours", base.horizon_hours),
                help="The scenario's data must cover it.",
            )
        )
        steps = sorted(set(STEP_CHOICES) | {base.step_minutes})
        changes["step_minutes"] = int(st.selectbox("Step [min]", steps, key=init("step_minutes", base.step_minutes)))
        changes["time_limit_s"] = float(
            st.number_input(
                "Solver time limit [s]",
                min_value=1.0,
                max_value=3600.0,
                step=5.0,
                key=init("time_limit_s", base.time_limit_s),
                help="The solver returns its best plan so far when the limit is reached.",
            )
        )
        gap0 = 100 * base.mip_rel_gap
        gap = st.number_input(
            "Target gap [%]",
            min_value=0.0,
            max_value=100.0,
            step=0.05,
            format="%.3f",
            key=init("gap_pct", gap0),
            help="The solver stops once the plan is proven within this share of the best possible cost.",
        )
        changes["mip_rel_gap"] = base.mip_rel_gap if gap == gap0 else gap / 100.0

    sb.button("Reset all edits", on_click=_reset, args=(prefix,), icon=":material/restart_alt:", width="stretch")
    tariff = sc.config.get("tariff") or {}
    for col in ("import_price", "export_price"):  # the scenario's own price is no edit
        if col in changes and changes[col] == tariff.get(col):
            del changes[col]
    return dataclasses.replace(base, **changes), errors


def _upload_key(csv_key: str) -> str:
    """Key of the price file's uploader (outside the persisted ``edit:`` keys: an uploader cannot be set)."""
    return "prices_upload:" + csv_key


def _series_columns(sc: Scenario) -> set[str]:
    """Columns that came from the scenario's time series file (as far as the scenario tells)."""
    out = set()
    if sc.config.get("timeseries") and "pv" not in sc.config and sc.series["pv_kw"].max() > 0:
        out.add("pv_kw")
    return out


# ---------------------------------------------------------------------------
# The scenario and its edits in the query string: a reload or a shared link keeps them
# ---------------------------------------------------------------------------

#: Query parameters that are not edits.
QUERY_SCENARIO, QUERY_MODE = "scenario", "mode"
#: Edits that may be negative (every other number in the sidebar is at least 0).
SIGNED = ("pv_latitude", "pv_longitude", "import_const", "export_const")


def _query_value(text: str, default):
    """A query parameter as the widget's type (that of its default), or None if it does not fit."""
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    if isinstance(default, bool) or isinstance(value, bool):
        return value if isinstance(value, bool) and isinstance(default, bool) else None
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            return None
        if isinstance(default, int):
            return int(value) if float(value).is_integer() else None
        return float(value)
    if isinstance(value, str) and isinstance(default, str):
        return value
    return None


def apply_query() -> None:
    """Once per session (a reload, a shared link): take the scenario and the edits from the query string.

    ``?scenario=depot_bus_v2g&import_limit_kw=140.0&v2g_pct=50&mode="quick"``: the names are the
    sidebar's fields, the values JSON as :func:`sync_query` writes them. Values that do not fit their
    field are left out with a warning.
    """
    if st.session_state.get("_query_applied"):
        return
    st.session_state["_query_applied"] = True
    q = st.query_params.to_dict()
    if not q:
        return
    stem = q.pop(QUERY_SCENARIO, None)
    mode = q.pop(QUERY_MODE, None)
    if mode in ('"quick"', "quick"):
        st.session_state["run_mode"] = "Quick"
    sid = f"ready:{stem}" if stem else None
    if sid is None or sid not in state.ready_paths():
        if stem:
            st.session_state["query_problems"] = [f"the link's scenario {stem!r} is not one of the ready scenarios"]
        return
    st.session_state["source"] = sid
    source = state.get_source(sid)
    if source.scenario is None:
        return
    base = current_edits(source.scenario)
    defaults = _widget_defaults(base)
    problems = []
    for name, text in q.items():
        if name not in defaults:
            problems.append(f"the link's {name}={text} is not an edit and is left out")
            continue
        value = _query_value(text, defaults[name])
        if value is None or (isinstance(value, (int, float)) and value < 0 and name not in SIGNED):
            problems.append(f"the link's {name}={text} does not fit that field and is left out")
            continue
        st.session_state[f"edit:{sid}:{name}"] = value
    st.session_state["query_problems"] = problems


def _widget_defaults(base: Edits) -> dict:
    """The type of each sidebar field (its default's), for reading the query string."""
    return {
        "no_import_limit": False,
        "import_limit_kw": 0.0,
        "export_limit_kw": 0.0,
        "pv_series_scale": 100,
        "pv_peak_kw": 0.0,
        "pv_tilt_deg": 0.0,
        "pv_azimuth_deg": 0.0,
        "pv_latitude": 0.0,
        "pv_longitude": 0.0,
        "import_mode": KEEP,
        "import_const": 0.0,
        "import_tou": "",
        "export_mode": KEEP,
        "export_const": 0.0,
        "demand_charge_per_kw": 0.0,
        "n_vehicles": int(base.n_vehicles),
        "v2g_pct": 0,
        "degradation": 0.0,
        "horizon_hours": 0.0,
        "step_minutes": int(base.step_minutes),
        "time_limit_s": 0.0,
        "gap_pct": 0.0,
    }


def sync_query(source: state.Source) -> None:
    """Write the scenario (a ready one) and the edits that differ from it into the query string."""
    want: dict[str, str] = {}
    if source.id.startswith("ready:"):
        want[QUERY_SCENARIO] = source.id.split(":", 1)[1]
        prefix = f"edit:{source.id}:"
        defaults = st.session_state.get("_edit_defaults", {})
        for k, default in defaults.items():
            if not k.startswith(prefix) or k not in st.session_state:
                continue
            value = st.session_state[k]
            if value != default and isinstance(value, (bool, int, float, str)):
                want[k[len(prefix) :]] = json.dumps(value)
    if st.session_state.get("run_mode") == "Quick":
        want[QUERY_MODE] = "quick"
    if st.query_params.to_dict() != want:
        st.query_params.from_dict(want)
