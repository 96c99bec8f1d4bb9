"""The HTTP API of ``gridopt serve`` (FastAPI): load a site, post deltas, get the plan and setpoints.

Routes (the OpenAPI schema is at ``/openapi.json``, its pages at ``/docs``):

* ``GET /health``: up, and which scenario is loaded;
* ``GET /scenarios``: the scenario names the server may load;
* ``POST /scenario`` ``{"name": ...}``: load one of them and plan it;
* ``POST /scenario/zip``: load an uploaded zip (a YAML and its files, as the app's upload) and plan it;
* ``POST /scenario/json`` ``{"scenario": {...}, "files": {"vehicles.csv": "...", ...}}``: the
  same as JSON (the YAML's content as an object, data files as text);
* ``POST /events`` ``{"events": [...]}``: deltas (``plug_in``, ``unplug``, ``soc``,
  ``energy_need``, ``price``; for fleets with trips ``trip_start``, ``trip_end``, ``trip``:
  :mod:`gridopt.serve.trips`); "now" moves to the step boundary at or after the latest,
  and the rest of the horizon is re-planned;
* ``GET /plan``: the current plan from now: summary and one row per vehicle and step;
* ``GET /setpoints``: the plan as contiguous blocks per charger and vehicle
  (:func:`gridopt.export.setpoints.setpoints_table`).

Bad requests get 422 with ``detail[].loc`` naming the field. With a token
(:data:`TOKEN_ENV`) every request must carry ``Authorization: Bearer TOKEN``
(401 otherwise). Nothing about vehicles is logged.
"""

from __future__ import annotations

import hmac
import math
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ..errors import GridoptError, InfeasibleError, ScenarioError
from .state import DeltaError, LiveSite

#: Environment variable holding the API token.
TOKEN_ENV = "GRIDOPT_SERVE_TOKEN"
#: Largest zip upload [bytes] (the upload module checks its own limits too).
MAX_ZIP_BYTES = 50 * 2**20
#: Largest data file of a JSON scenario [characters].
MAX_JSON_FILE_CHARS = 20 * 2**20

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Price = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScenarioByName(_Model):
    """A scenario of the server's scenario folder, by name (``GET /scenarios``)."""

    name: Id


FileName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")]


class ScenarioJson(_Model):
    """A scenario as JSON: the YAML's content as an object, and its data files by name (CSV text)."""

    scenario: dict
    files: Annotated[dict[FileName, Annotated[str, Field(max_length=MAX_JSON_FILE_CHARS)]], Field(max_length=50)] = {}


class PlugIn(_Model):
    """A vehicle plugged in: its SoC then, its (estimated) departure and, optionally, its target SoC."""

    type: Literal["plug_in"]
    vehicle_id: Id
    time: AwareDatetime
    soc: Fraction
    departure: AwareDatetime
    target_soc: Fraction | None = None
    session_id: Id | None = None


class Unplug(_Model):
    """A vehicle unplugged (its session ends at ``time``)."""

    type: Literal["unplug"]
    vehicle_id: Id
    time: AwareDatetime


class SocReading(_Model):
    """A new SoC reading of a plugged-in vehicle (fraction of its battery)."""

    type: Literal["soc"]
    vehicle_id: Id
    time: AwareDatetime
    soc: Fraction


class EnergyNeed(_Model):
    """A new need of a plugged-in vehicle: a target SoC, or energy to add [kWh] from now, and/or a new departure."""

    type: Literal["energy_need"]
    vehicle_id: Id
    time: AwareDatetime
    target_soc: Fraction | None = None
    energy_kwh: Annotated[float, Field(ge=0.0, le=1e4, allow_inf_nan=False)] | None = None
    departure: AwareDatetime | None = None


class PriceUpdate(_Model):
    """New prices [currency/kWh], one per step from the boundary at or after ``time``."""

    type: Literal["price"]
    time: AwareDatetime
    import_price: Annotated[list[Price], Field(min_length=1, max_length=100_000)]
    export_price: Annotated[list[Price], Field(min_length=1, max_length=100_000)] | None = None


Energy = Annotated[float, Field(ge=0.0, le=1e4, allow_inf_nan=False)]
#: A trip's charger (``charger_id`` of trips.csv and chargers.csv); empty: none named, gridopt assigns one.
TripCharger = Annotated[
    str,
    Field(
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="the charger the vehicle plugs into when back from this trip (a charger_id of the site's "
        "chargers); absent: unchanged, empty: none named (gridopt assigns one)",
    ),
]


class TripStart(_Model):
    """A fleet vehicle left on a trip: the timetable's next trip, or an unplanned one (``arrival`` before
    that trip's departure, or no trip planned: ``arrival`` and ``energy_kwh`` required); ``charger_id``:
    the charger it plugs into when back."""

    type: Literal["trip_start"]
    vehicle_id: Id
    time: AwareDatetime
    soc: Fraction | None = None
    arrival: AwareDatetime | None = None
    energy_kwh: Energy | None = None
    trip_id: Id | None = None
    charger_id: TripCharger | None = None


class TripEnd(_Model):
    """A fleet vehicle is back from its trip at ``time``, with a SoC reading."""

    type: Literal["trip_end"]
    vehicle_id: Id
    time: AwareDatetime
    soc: Fraction


class TripChange(_Model):
    """A timetable change: a new trip, new times or energy of trip ``trip_id`` (not yet left), its charger
    (``charger_id``: the one it plugs into when back; also while under way), or ``cancel``."""

    type: Literal["trip"]
    vehicle_id: Id
    time: AwareDatetime
    trip_id: Id | None = None
    departure: AwareDatetime | None = None
    arrival: AwareDatetime | None = None
    energy_kwh: Energy | None = None
    departure_soc: Fraction | None = None
    charger_id: TripCharger | None = None
    cancel: bool = False


Event = Annotated[
    PlugIn | Unplug | SocReading | EnergyNeed | PriceUpdate | TripStart | TripEnd | TripChange,
    Field(discriminator="type"),
]


class Deltas(_Model):
    """Deltas, applied in order; the plan is re-made once, after the last."""

    events: Annotated[list[Event], Field(min_length=1, max_length=1000)]


class PlanSummary(BaseModel):
    """The current plan in brief."""

    scenario: str
    now: str
    end: str
    step_minutes: int
    steps: int
    vehicles_plugged_in_now: int
    status: str
    total_cost: float | None
    solve_seconds: float | None
    replan_seconds: float | None
    replans: int


class ScheduleRow(BaseModel):
    time: str
    vehicle_id: str
    plugged_in: bool
    charge_kw: float
    discharge_kw: float
    soc_kwh: float | None


class PlanOut(BaseModel):
    summary: PlanSummary
    schedule: list[ScheduleRow]


class SetpointRow(BaseModel):
    charger_id: str
    vehicle_id: str
    start: str
    end: str
    limit_kw: float
    limit_a: float
    phases: int
    voltage_v: float


class SetpointsOut(BaseModel):
    summary: PlanSummary
    setpoints: list[SetpointRow]
    assumptions: dict


class Health(BaseModel):
    status: str
    scenario: str | None


class ScenarioNames(BaseModel):
    names: list[str]


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    detail: list[ErrorItem] | str


ERRORS = {
    401: {"model": ErrorOut, "description": "missing or wrong token"},
    409: {"model": ErrorOut, "description": "no scenario loaded, or the site cannot be planned"},
    422: {"model": ErrorOut, "description": "a field is wrong (detail[].loc names it)"},
}


def _finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _problem(status: int, loc: tuple, msg: str, kind: str = "value_error") -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": [{"loc": list(loc), "msg": msg, "type": kind}]})


def scenario_names(folder: Path | None) -> dict[str, Path]:
    """Name (path below ``folder`` without ``.yaml``) -> YAML path, for every scenario YAML in ``folder``."""
    if folder is None or not folder.is_dir():
        return {}
    out = {}
    for p in sorted(folder.rglob("*.y*ml")):
        if p.suffix.lower() in (".yaml", ".yml") and p.is_file():
            out[p.relative_to(folder).with_suffix("").as_posix()] = p
    return out


def create_app(scenario_dir: str | Path | None = None, token: str | None = None, preload: str | None = None) -> FastAPI:
    """The API (see the module doc).

    Parameters
    ----------
    scenario_dir : path-like, optional
        Folder whose scenario YAMLs may be loaded by name.
    token : str, optional
        Required as ``Authorization: Bearer TOKEN`` on every request when given.
    preload : str, optional
        Name of a scenario to load and plan at start.
    """
    from .. import load_scenario

    folder = Path(scenario_dir) if scenario_dir is not None else None
    names = scenario_names(folder)
    lock = threading.Lock()
    state: dict = {"site": None}
    app = FastAPI(
        title="gridopt serve",
        description="Live re-planning of a site: load a scenario, post deltas, get the plan and setpoints.",
        version="1",
    )

    @app.middleware("http")
    async def _auth(request: Request, call_next):
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return _problem(401, ("header", "authorization"), "missing or wrong token (Authorization: Bearer ...)")
        return await call_next(request)

    @app.exception_handler(DeltaError)
    async def _delta(request: Request, exc: DeltaError):
        return _problem(422, ("body", *exc.loc), str(exc))

    @app.exception_handler(ScenarioError)
    async def _scenario(request: Request, exc: ScenarioError):
        return _problem(422, ("body",), str(exc))

    @app.exception_handler(InfeasibleError)
    async def _infeasible(request: Request, exc: InfeasibleError):
        return _problem(409, ("body",), str(exc), "infeasible")

    @app.exception_handler(GridoptError)
    async def _gridopt(request: Request, exc: GridoptError):
        return _problem(409, ("body",), str(exc), type(exc).__name__)

    def site() -> LiveSite:
        s = state["site"]
        if s is None:
            raise GridoptError("no scenario loaded: POST /scenario first")
        return s

    def summary(s: LiveSite) -> PlanSummary:
        p = s.plan
        sched = p.schedule
        first = sched[sched["time"] == sched["time"].iloc[0]] if len(sched) else sched
        return PlanSummary(
            scenario=s.name,
            now=s.now.isoformat(),
            end=s.base.grid.end.isoformat(),
            step_minutes=s.base.grid.step_minutes,
            steps=p.scenario.grid.n_steps,
            vehicles_plugged_in_now=int(first["plugged_in"].astype(bool).sum()) if len(first) else 0,
            status=p.summary["status"],
            total_cost=_finite(p.summary["total_cost"]),
            solve_seconds=_finite(p.summary["solve_seconds"]),
            replan_seconds=_finite(p.summary["wall_seconds"]),
            replans=s.replans,
        )

    def load(sc, name: str) -> PlanSummary:
        new = LiveSite(sc, name)
        state["site"] = new
        return summary(new)

    @app.get("/health", response_model=Health, responses=ERRORS)
    def health() -> Health:
        s = state["site"]
        return Health(status="ok", scenario=None if s is None else s.name)

    @app.get("/scenarios", response_model=ScenarioNames, responses=ERRORS)
    def list_scenarios() -> ScenarioNames:
        return ScenarioNames(names=sorted(names))

    @app.post("/scenario", response_model=PlanSummary, responses=ERRORS)
    def post_scenario(body: ScenarioByName) -> PlanSummary:
        if body.name not in names:
            raise DeltaError(("name",), f"unknown scenario {body.name!r} (GET /scenarios lists them)")
        with lock:
            return load(load_scenario(names[body.name]), body.name)

    @app.post(
        "/scenario/zip",
        response_model=PlanSummary,
        responses=ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def post_zip(request: Request) -> PlanSummary:
        from ..io.upload import unpack_scenario_zip

        if request.headers.get("content-type", "").split(";")[0].strip() != "application/zip":
            raise DeltaError((), "send the zip as the request body with Content-Type: application/zip")
        data = await request.body()
        if len(data) > MAX_ZIP_BYTES:
            raise DeltaError((), f"the zip is larger than {MAX_ZIP_BYTES >> 20} MB")
        with tempfile.TemporaryDirectory(prefix="gridopt-serve-") as tmp:
            path = unpack_scenario_zip(data, Path(tmp) / "upload", name="upload.zip")
            sc = load_scenario(path, confine=True)
        with lock:
            return load(sc, path.stem)

    @app.post("/scenario/json", response_model=PlanSummary, responses=ERRORS)
    def post_json(body: ScenarioJson) -> PlanSummary:
        import yaml

        if "scenario.yaml" in body.files:
            raise DeltaError(("files", "scenario.yaml"), "the scenario goes in 'scenario', not in 'files'")
        with tempfile.TemporaryDirectory(prefix="gridopt-serve-") as tmp:
            root = Path(tmp)
            path = root / "scenario.yaml"
            where: tuple = ("scenario",)
            try:
                for name, text in body.files.items():
                    where = ("files", name)
                    (root / name).write_bytes(text.encode("utf-8"))
                where = ("scenario",)
                path.write_bytes(yaml.safe_dump(body.scenario, sort_keys=False, allow_unicode=True).encode("utf-8"))
            except (UnicodeEncodeError, yaml.YAMLError):
                raise DeltaError(where, "is not valid text (a lone surrogate or a value YAML cannot hold)") from None
            sc = load_scenario(path, confine=True)
        with lock:
            return load(sc, str(body.scenario.get("name") or "scenario"))

    @app.post("/events", response_model=PlanSummary, responses=ERRORS)
    def post_events(body: Deltas) -> PlanSummary:
        with lock:
            s = site()
            # work on a copy: a delta that fails leaves the live site as it was
            trial = s.trial()
            latest = s.k
            for i, e in enumerate(body.events):
                t = _time(e.time, ("events", i, "time"))
                k = trial.boundary_at_or_after(t, ("events", i, "time"))
                if k < s.k:
                    raise DeltaError(
                        ("events", i, "time"), f"{t.isoformat()} is before now ({s.now.isoformat()}): too late to apply"
                    )
                latest = max(latest, k)
                if e.type == "plug_in":
                    trial.plug_in(
                        i,
                        e.vehicle_id,
                        t,
                        e.soc,
                        _time(e.departure, ("events", i, "departure")),
                        e.target_soc,
                        e.session_id,
                    )
                elif e.type == "unplug":
                    trial.unplug(i, e.vehicle_id, t)
                elif e.type == "soc":
                    trial.soc_reading(i, e.vehicle_id, t, e.soc)
                elif e.type == "energy_need":
                    dep = None if e.departure is None else _time(e.departure, ("events", i, "departure"))
                    trial.energy_need(i, e.vehicle_id, t, e.target_soc, e.energy_kwh, dep)
                elif e.type == "trip_start":
                    arr = None if e.arrival is None else _time(e.arrival, ("events", i, "arrival"))
                    trial.trip_start(i, e.vehicle_id, t, e.soc, arr, e.energy_kwh, e.trip_id, e.charger_id)
                elif e.type == "trip_end":
                    trial.trip_end(i, e.vehicle_id, t, e.soc)
                elif e.type == "trip":
                    for field in ("departure", "arrival"):
                        if getattr(e, field) is not None:
                            setattr(e, field, _time(getattr(e, field), ("events", i, field)))
                    trial.trip_change(i, e, t)
                else:
                    trial.prices(i, t, e.import_price, e.export_price)
            trial.advance(latest)
            trial.replan()
            state["site"] = trial
            return summary(trial)

    @app.get("/plan", response_model=PlanOut, responses=ERRORS)
    def get_plan() -> PlanOut:
        with lock:
            s = site()
            sched = s.plan.schedule
            rows = [
                ScheduleRow(
                    time=pd.Timestamp(r.time).isoformat(),
                    vehicle_id=str(r.vehicle_id),
                    plugged_in=bool(r.plugged_in),
                    charge_kw=float(r.charge_kw),
                    discharge_kw=float(r.discharge_kw),
                    soc_kwh=_finite(r.soc_kwh),
                )
                for r in sched.itertuples()
            ]
            return PlanOut(summary=summary(s), schedule=rows)

    @app.get("/setpoints", response_model=SetpointsOut, responses=ERRORS)
    def get_setpoints() -> SetpointsOut:
        from ..export.setpoints import setpoints_table

        with lock:
            s = site()
            if not len(s.plan.schedule):
                return SetpointsOut(summary=summary(s), setpoints=[], assumptions={})
            table, info = setpoints_table(s.plan.scenario, s.plan.schedule)
            rows = [
                SetpointRow(
                    charger_id=str(r.charger_id),
                    vehicle_id=str(r.vehicle_id),
                    start=pd.Timestamp(r.start).isoformat(),
                    end=pd.Timestamp(r.end).isoformat(),
                    limit_kw=float(r.limit_kw),
                    limit_a=float(r.limit_a),
                    phases=int(r.phases),
                    voltage_v=float(r.voltage_v),
                )
                for r in table.itertuples()
            ]
            return SetpointsOut(summary=summary(s), setpoints=rows, assumptions=info)

    if preload is not None:
        if preload not in names:
            raise ScenarioError(
                f"--scenario: unknown scenario {preload!r} (known: {', '.join(sorted(names)) or 'none'})"
            )
        load(load_scenario(names[preload]), preload)
    return app


def _time(dt: datetime, loc: tuple) -> pd.Timestamp:
    """A request's time as a Timestamp; one pandas cannot hold is refused with its field."""
    try:
        ts = pd.Timestamp(dt)
        ts.value  # noqa: B018 - in nanoseconds' range (1677-2262), as the plan's times are
        return ts
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        raise DeltaError(loc, f"{dt.isoformat()} is out of range") from None


__all__ = ["TOKEN_ENV", "create_app", "scenario_names"]
