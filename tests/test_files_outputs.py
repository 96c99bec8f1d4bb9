"""Files in and out: the CSV reader's limits and refusals, PV weather, uploads, results written all or nothing.

Every test here reproduces a report of issue 8 ("Trust every input"): each failed
on the code before its fix.
"""

from __future__ import annotations

import fcntl
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from conftest import car, write_scenario
from test_bad_input import trip
from test_upload import make_zip

import gridopt
from gridopt.cli import main
from gridopt.errors import OutputError
from gridopt.io import read, upload, write
from gridopt.io.upload import unpack_scenario_zip

ROOT = Path(__file__).resolve().parents[1]
START = pd.Timestamp("2026-06-15T00:00:00+02:00")
VEHICLES_HEADER = "vehicle_id,battery_kwh,max_charge_kw,max_discharge_kw,min_soc,initial_soc\n"
VEHICLE_ROW = "EV1,50,10,0,0.1,0.5\n"


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and "Traceback" not in err, err
    return lines[0]


def refused(path: Path, capsys, *fragments: str) -> str:
    """``path`` is refused by the library and by ``gridopt validate`` (exit 2, one line holding ``fragments``)."""
    with pytest.raises(gridopt.ScenarioError) as exc:
        gridopt.load_scenario(path)
    msg = str(exc.value)
    assert "\n" not in msg
    for f in fragments:
        assert f.lower() in msg.lower(), (f, msg)
    capsys.readouterr()
    assert main(["validate", str(path)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert msg in line
    return msg


def scenario_with_vehicles_file(folder: Path, content: bytes, name: str = "vehicles.csv") -> Path:
    """The one-car scenario whose ``fleet.vehicles`` file holds ``content`` (bytes as given)."""
    path = write_scenario(folder, vehicles=[car()])
    (folder / name).write_bytes(content)
    data = yaml.safe_load(path.read_text())
    data["fleet"]["vehicles"] = name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ---------------------------------------------------------------------------
# The CSV reader
# ---------------------------------------------------------------------------


def test_a_gzip_table_is_counted_while_it_inflates(tmp_path, capsys, monkeypatch):
    """A gzip CSV is stopped once its inflated text passes the limit, not read whole first."""
    monkeypatch.setattr(read, "MAX_FILE_BYTES", 1 << 17)
    text = VEHICLES_HEADER + "".join(f"EV{i},50,10,0,0.1,0.5\n" for i in range(20_000))  # ~420 kB
    packed = gzip.compress(text.encode())
    assert len(packed) < 1 << 17 < len(text)
    path = scenario_with_vehicles_file(tmp_path / "sc", packed, "vehicles.csv.gz")
    refused(path, capsys, "vehicles.csv.gz", "more than 0.125 MB", "decompressed")


def test_a_gzip_bomb_stops_early_with_little_memory(tmp_path):
    """The reported bomb: a few hundred kB of gzip inflating to over 100 MB of CSV. It is refused
    by its cell count long before it is read whole, and the process stays small (it needed ~2.7 GB)."""
    folder = tmp_path / "sc"
    path = write_scenario(folder, vehicles=[car()])
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz:
        gz.write(VEHICLES_HEADER.encode())
        block = (VEHICLE_ROW * 50_000).encode()
        for _ in range((110 << 20) // len(block)):
            gz.write(block)
    (folder / "vehicles.csv").write_bytes(buf.getvalue())
    assert buf.tell() < 1 << 20
    code = (
        "import resource, gridopt\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"  # the old reader needed ~2.7 GB
        "try:\n"
        f"    gridopt.load_scenario({str(path)!r})\n"
        "except gridopt.ScenarioError as e:\n"
        "    print(e)\n"
        # VmHWM: this program's own peak. ru_maxrss would also count the parent's size at the fork
        # (Linux keeps the larger of the two across exec), so it grew with what earlier tests loaded
        "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')) // 1024)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    message, peak_mb = proc.stdout.splitlines()
    assert "vehicles.csv" in message and "cells" in message, message
    assert int(peak_mb) < 500, f"peak {peak_mb} MB"  # ~200 MB here, gridopt imported included


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_gzip_stream_is_bad_input(tmp_path, capsys, damage):
    packed = bytearray(gzip.compress((VEHICLES_HEADER + VEHICLE_ROW * 2000).encode()))
    if damage == "flip":
        for i in range(20, 60):
            packed[i] ^= 0x5A
    else:
        packed = packed[: len(packed) // 2]
    path = scenario_with_vehicles_file(tmp_path / "sc", bytes(packed), "vehicles.csv.gz")
    refused(path, capsys, "vehicles.csv.gz", "cannot read as CSV (damaged gzip")


@pytest.mark.parametrize(
    "header, column",
    [
        ("vehicle_id,battery_kwh,max_charge_kw,max_discharge_kw,min_soc,initial_soc,battery_kwh", "battery_kwh"),
        ("vehicle_id ,battery_kwh,max_charge_kw,max_discharge_kw,min_soc,initial_soc, vehicle_id", "vehicle_id"),
    ],
)
def test_a_column_given_twice_is_refused_by_name(tmp_path, capsys, header, column):
    row = VEHICLE_ROW.strip() + (",50" if column == "battery_kwh" else ",EV1")
    path = scenario_with_vehicles_file(tmp_path / "sc", f"{header}\n{row}\n".encode())
    refused(path, capsys, "vehicles.csv line 1", f"column '{column}' appears twice")


def test_a_column_given_twice_in_the_timeseries(tmp_path, capsys):
    folder = tmp_path / "sc"
    path = write_scenario(
        folder,
        vehicles=[car()],
        timeseries=pd.DataFrame({"time": ["2026-06-15T00:00:00+02:00"], "import_price": [0.2]}),
    )
    (folder / "timeseries.csv").write_text("time,import_price,time\n2026-06-15T00:00:00+02:00,0.2,x\n")
    refused(path, capsys, "timeseries.csv", "column 'time' appears twice")


def test_two_byte_order_marks_are_named(tmp_path, capsys):
    content = ("\ufeff\ufeff" + VEHICLES_HEADER + VEHICLE_ROW).encode("utf-8")
    path = scenario_with_vehicles_file(tmp_path / "sc", content)
    refused(path, capsys, "vehicles.csv", "byte-order mark twice")


def test_one_byte_order_mark_is_fine(tmp_path):
    content = ("\ufeff" + VEHICLES_HEADER + VEHICLE_ROW).encode("utf-8")
    path = scenario_with_vehicles_file(tmp_path / "sc", content)
    assert list(gridopt.load_scenario(path).vehicles.index) == ["EV1"]


def test_reader_keeps_lines_blank_cells_and_gzip(tmp_path):
    """What read_table promises: file lines as the index, stripped cells, NaN for empty, gzip read as is."""
    text = 'a, b ,c\n\n1, x ,\n"multi\nline",2,3\n'
    (tmp_path / "t.csv").write_text(text)
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(text.encode()))
    for name in ("t.csv", "t.csv.gz"):
        df = read.read_table(tmp_path / name, name)
        assert list(df.columns) == ["a", "b", "c"]
        assert list(df.index) == [3, 4]
        assert df.at[3, "b"] == "x" and pd.isna(df.at[3, "c"])
        assert df.at[4, "a"] == "multi\nline"


def test_a_table_with_too_many_cells_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(read, "MAX_TABLE_CELLS", 1000)
    (tmp_path / "t.csv").write_text("a,b\n" + "1,2\n" * 600)
    with pytest.raises(gridopt.ScenarioError, match=r"t\.csv: more than 1,000 cells"):
        read.read_table(tmp_path / "t.csv", "t.csv")
    (tmp_path / "ok.csv").write_text("a,b\n" + "1,2\n" * 400)
    assert len(read.read_table(tmp_path / "ok.csv", "ok.csv")) == 400


# ---------------------------------------------------------------------------
# Uploads
# ---------------------------------------------------------------------------


def scenario_zip_with(
    folder: Path, extra: dict[str, bytes] | None = None, *, gz_vehicles: bytes | None = None
) -> bytes:
    """The one-car scenario as an upload (``up/s.yaml``, ``up/vehicles.csv``), plus ``extra`` entries."""
    path = write_scenario(folder, vehicles=[car()])
    entries = {"up/s.yaml": path.read_bytes(), "up/vehicles.csv": (folder / "vehicles.csv").read_bytes()}
    if gz_vehicles is not None:
        data = yaml.safe_load(path.read_text())
        data["fleet"]["vehicles"] = "vehicles.csv.gz"
        entries["up/s.yaml"] = yaml.safe_dump(data).encode()
        entries["up/vehicles.csv.gz"] = gz_vehicles
    entries.update(extra or {})
    return make_zip(entries)


def test_a_gzip_table_in_an_upload_inflates_at_most_to_the_unpacked_limit(tmp_path, monkeypatch):
    """The decompression bomb through an upload: the zip unpacks within its limit, but the gzip
    table inside it would inflate far past it when read."""
    monkeypatch.setattr(upload, "MAX_UNPACKED_BYTES", 1 << 16)
    text = VEHICLES_HEADER + "".join(f"EV{i},50,10,0,0.1,0.5\n" for i in range(10_000))  # ~250 kB
    data = scenario_zip_with(tmp_path / "src", gz_vehicles=gzip.compress(text.encode()))
    path = unpack_scenario_zip(data, tmp_path / "dest", name="mine.zip")
    with pytest.raises(
        gridopt.ScenarioError, match=r"vehicles\.csv\.gz: more than 0\.0625 MB of text once decompressed"
    ):
        gridopt.load_scenario(path, confine=True)
    assert len(gridopt.load_scenario(path).vehicles) == 10_000  # outside an upload the file limit holds


def test_the_reported_upload_bomb_is_refused_at_100_mb(tmp_path):
    """A zip of a few hundred kB whose gzip table inflates to over 100 MB (long cells, so that the
    byte limit and not the cell limit stops it)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz:
        gz.write((VEHICLES_HEADER.strip() + ",model\n").encode())
        row = (VEHICLE_ROW.strip() + "," + "x" * 100_000 + "\n").encode()
        for _ in range(1100):  # 110 MB
            gz.write(row)
    data = scenario_zip_with(tmp_path / "src", gz_vehicles=buf.getvalue())
    assert len(data) < 1 << 20
    path = unpack_scenario_zip(data, tmp_path / "dest", name="mine.zip")
    with pytest.raises(gridopt.ScenarioError, match=r"vehicles\.csv\.gz: more than 100 MB of text once decompressed"):
        gridopt.load_scenario(path, confine=True)


def damaged_entry_zip(entries: dict[str, bytes], damaged: str) -> bytes:
    """A zip whose entry ``damaged`` has its compressed bytes overwritten (a CRC or inflate error)."""
    data = bytearray(make_zip(entries))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo(damaged)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start, start + info.compress_size):
        data[i] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize("existing", [False, True])
def test_a_refusal_part_way_leaves_nothing_behind(tmp_path, existing):
    entries = {"s.yaml": b"name: x\n", "data/a.csv": b"a\n1\n" * 100, "data/b.csv": b"b\n2\n" * 100}
    data = damaged_entry_zip(entries, "data/b.csv")
    dest = tmp_path / "dest"
    if existing:
        dest.mkdir()
        (dest / "mine.txt").write_text("keep")
    with pytest.raises(gridopt.ScenarioError, match="mine.zip: entry 'data/b.csv' cannot be unpacked"):
        unpack_scenario_zip(data, dest, name="mine.zip")
    if existing:
        assert [p.name for p in dest.iterdir()] == ["mine.txt"]
    else:
        assert not dest.exists()


def test_too_many_entries_are_counted_before_the_archive_is_opened(tmp_path, monkeypatch):
    """zipfile reads the whole central directory on open (60,000 entries: 10 s, 151 MB): the count
    comes from the end record first."""
    data = make_zip({f"{i}.csv": b"" for i in range(upload.MAX_ENTRIES + 1)})

    def never(*args, **kwargs):
        raise AssertionError("the archive was opened before its entries were counted")

    monkeypatch.setattr(upload.zipfile, "ZipFile", never)
    with pytest.raises(gridopt.ScenarioError, match=f"mine.zip: {upload.MAX_ENTRIES + 1} entries"):
        unpack_scenario_zip(data, tmp_path / "dest", name="mine.zip")


def test_an_end_record_that_understates_the_entries_is_caught_by_the_directory_size(tmp_path, monkeypatch):
    data = bytearray(make_zip({f"{i}.csv": b"" for i in range(5000)}))
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = (3).to_bytes(2, "little") * 2  # "3 entries"
    monkeypatch.setattr(upload.zipfile, "ZipFile", None)  # never reached
    with pytest.raises(gridopt.ScenarioError, match="mine.zip: its table of contents takes"):
        unpack_scenario_zip(bytes(data), tmp_path / "dest", name="mine.zip")


def test_sixty_thousand_entries_are_refused_at_once(tmp_path):
    """Refused from the end record: no memory for 60,000 entries' metadata (zipfile's open took 32 MB here)."""
    data = make_zip({f"data/file_{i:06d}.csv": b"" for i in range(60_000)})
    tracemalloc.start()
    try:
        with pytest.raises(gridopt.ScenarioError, match="60000 entries"):
            unpack_scenario_zip(data, tmp_path / "dest", name="mine.zip")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{peak >> 20} MB"
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("order", ["file-first", "folder-first"])
def test_a_file_that_is_also_a_folder_is_refused(tmp_path, order):
    pair = [("data/vehicles.csv", b"x\n"), ("data/vehicles.csv/x", b"y\n")]
    if order == "folder-first":
        pair.reverse()
    data = make_zip({"s.yaml": b"name: x\n", **dict(pair)})
    with pytest.raises(gridopt.ScenarioError) as exc:
        unpack_scenario_zip(data, tmp_path / "dest", name="mine.zip")
    msg = str(exc.value)
    assert msg == (
        "mine.zip: entry 'data/vehicles.csv' is a file, but entry 'data/vehicles.csv/x' needs a folder of that name"
    )
    assert not (tmp_path / "dest").exists()


def test_a_long_entry_name_is_refused_without_server_paths(tmp_path):
    long = "d/" + "a" * 300 + ".csv"
    data = make_zip({"s.yaml": b"name: x\n", long: b"x\n"})
    with pytest.raises(gridopt.ScenarioError) as exc:
        unpack_scenario_zip(data, tmp_path / "dest", name="mine.zip")
    msg = str(exc.value)
    assert msg.startswith("mine.zip: entry 'd/aaaa") and "306 characters" in msg and "at most 255 bytes" in msg
    assert str(tmp_path) not in msg
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize(
    "entries, message",
    [
        ({"data/vehicles.csv": b"x", "data/vehicles.csv/x": b"y"}, "needs a folder of that name"),
        ({("a" * 300) + ".csv": b"x"}, "at most 255 bytes"),
    ],
)
def test_the_app_shows_upload_refusals_as_bad_input(entries, message):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    data = make_zip({"s.yaml": b"name: x\n", **entries})
    at.file_uploader(key="upload_file").upload("mine.zip", data, "application/zip").run()
    assert not at.exception
    errors = "\n".join(str(e.value) for e in at.error)
    assert message in errors and "mine.zip" in errors
    assert "bug in gridopt" not in errors
    assert tempfile.gettempdir() not in errors


def test_an_unexpected_file_error_in_the_app_names_no_server_path():
    from gridopt.ui.state import unexpected

    msg = unexpected("Reading mine.zip", FileExistsError(17, "File exists", "/tmp/gridopt-app-x1/uploads/ab/data"))
    assert "File exists" in msg and "/tmp/" not in msg


# ---------------------------------------------------------------------------
# PV: the weather file and pvlib
# ---------------------------------------------------------------------------


def pv_scenario(tmp_path: Path, weather: str | None = None, **pv) -> Path:
    """A copy of the shipped ``pv_tight_grid`` scenario; ``weather`` replaces its weather CSV, ``pv`` its pv fields."""
    folder = tmp_path / "sc"
    shutil.copytree(ROOT / "scenarios" / "data" / "pv_tight_grid", folder / "data" / "pv_tight_grid")
    path = folder / "pv_tight_grid.yaml"
    data = yaml.safe_load((ROOT / "scenarios" / "pv_tight_grid.yaml").read_text())
    data["pv"].update(pv)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    if weather is not None:
        (folder / "data" / "pv_tight_grid" / "weather.csv").write_text(weather)
    return path


def weather_lines() -> list[str]:
    return (ROOT / "scenarios" / "data" / "pv_tight_grid" / "weather.csv").read_text().splitlines()


def test_a_weather_file_without_rows_is_bad_input(tmp_path, capsys):
    refused(pv_scenario(tmp_path, "time,ghi,temp_air\n"), capsys, "weather.csv", "no rows")


def test_an_unsorted_weather_file_is_named_as_such(tmp_path, capsys):
    lines = weather_lines()
    lines[10], lines[11] = lines[11], lines[10]  # file lines 11 and 12
    msg = refused(pv_scenario(tmp_path, "\n".join(lines) + "\n"), capsys, "weather.csv line 12", "not sorted")
    assert "covers" not in msg


def test_weather_times_given_twice_are_refused_with_both_lines(tmp_path, capsys):
    lines = weather_lines()
    t = lines[20].split(",")[0]
    lines.insert(21, f"{t},555.0,20.0")  # same time, another value: file lines 21 and 22
    refused(pv_scenario(tmp_path, "\n".join(lines) + "\n"), capsys, "weather.csv lines 21 and 22", t)


@pytest.mark.parametrize(
    "column, value",
    [("wind_speed", -3.655), ("temp_air", 400.0), ("ghi", 12000.0)],
)
def test_weather_values_outside_physics_are_refused(tmp_path, capsys, column, value):
    """A negative wind speed (-3.655 m/s zeroes the Faiman model's denominator: PV became 0, exit 0),
    an oven, irradiance beyond the sun's."""
    lines = weather_lines()
    lines[0] += ",wind_speed" if column == "wind_speed" else ""
    for i in range(1, len(lines)):
        cells = lines[i].split(",") + (["1.0"] if column == "wind_speed" else [])
        if i == 29:  # file line 30
            cells[["time", "ghi", "temp_air", "wind_speed"].index(column)] = str(value)
        lines[i] = ",".join(cells)
    refused(pv_scenario(tmp_path, "\n".join(lines) + "\n"), capsys, "weather.csv line 30", column)


@pytest.mark.parametrize("altitude", [float("nan"), float("inf"), 1e9])
def test_pv_altitude_that_pvlib_cannot_use_is_refused(tmp_path, capsys, altitude):
    """``altitude_m: .nan`` made pvlib return NaN, filled with 0: PV fell from 452 to 0 kWh, exit 0."""
    refused(pv_scenario(tmp_path, altitude_m=altitude), capsys, "pv_tight_grid.yaml", "altitude_m")


def test_pvlib_nan_is_never_turned_into_zero_power():
    """supply.py itself: bad numbers are refused by name, and NaN from pvlib is an error naming the first time."""
    from gridopt.supply import pv_power_kw

    idx = pd.date_range("2026-06-15", periods=24, freq="1h", tz="Europe/Amsterdam")
    kw = {"latitude": 52.0, "longitude": 5.0, "peak_kw": 10.0}
    assert pv_power_kw(idx, 60, **kw).sum() > 10  # sanity: a June day
    with pytest.raises(gridopt.ScenarioError, match=r"s\.yaml: field 'pv\.altitude_m': .*nan"):
        pv_power_kw(idx, 60, altitude_m=float("nan"), where="s.yaml", **kw)
    with pytest.raises(gridopt.ScenarioError, match=r"field 'pv\.inverter_kw'"):
        pv_power_kw(idx, 60, inverter_kw=0.0, where="s.yaml", **kw)
    weather = pd.DataFrame({"ghi": 500.0, "temp_air": float("nan")}, index=idx)
    with pytest.raises(gridopt.ScenarioError, match=r"w\.csv: .*NaN.*2026-06-15T00:00:00\+02:00"):
        pv_power_kw(idx, 60, weather=weather, where="s.yaml", weather_where="w.csv", **kw)


def test_the_shipped_pv_scenario_still_has_its_pv(tmp_path):
    sc = gridopt.load_scenario(pv_scenario(tmp_path))
    assert sc.series["pv_kw"].sum() * 0.25 == pytest.approx(452, abs=5)


# ---------------------------------------------------------------------------
# Results: all or nothing, one writer at a time
# ---------------------------------------------------------------------------

TESTS = Path(__file__).resolve().parent


def fake_result(run: int, vehicle_id: str | None = None) -> SimpleNamespace:
    """A result whose three files all carry ``run`` (vehicle id, site import, summary)."""
    times = pd.date_range("2026-06-15", periods=4, freq="1h", tz="Europe/Amsterdam")
    vid = vehicle_id or f"RUN{run}"
    schedule = pd.DataFrame(
        {
            "time": times,
            "vehicle_id": vid,
            "plugged_in": True,
            "charge_kw": 1.0,
            "discharge_kw": 0.0,
            "soc_kwh": [10.0, 11.0, 12.0, 13.0],
        }
    )
    site = pd.DataFrame({c: 0.0 for c in write.SITE_COLUMNS[1:]}, index=times)
    site["grid_import_kw"] = float(run)
    summary = {"scenario": f"run {run}", "run": run, "unmet_energy_by_vehicle": {vid: 0.0}}
    return SimpleNamespace(schedule=schedule, site=site, summary=summary)


def run_of(out: Path) -> int:
    """The run whose files ``out`` holds; fails unless all three come from one run."""
    assert sorted(p.name for p in out.iterdir()) == ["schedule.csv", "site.csv", "summary.json"]
    runs = {
        int(pd.read_csv(out / "schedule.csv")["vehicle_id"].iloc[0][3:]),
        int(pd.read_csv(out / "site.csv")["grid_import_kw"].iloc[0]),
        json.loads((out / "summary.json").read_text())["run"],
    }
    assert len(runs) == 1, f"files from different runs: {runs}"
    return runs.pop()


def leftovers(parent: Path, out: Path) -> list[str]:
    """Anything beside ``out`` but its lock file."""
    return sorted(p.name for p in parent.iterdir() if p != out and p.name != f".{out.name}.lock")


def writer(out: Path, run: int, before: str = "", env: dict | None = None) -> subprocess.Popen:
    """A process that writes ``fake_result(run)`` into ``out`` after running ``before`` (crash hooks)."""
    code = (
        f"import os, sys, time\nsys.path.insert(0, {str(TESTS)!r})\n"
        "from test_files_outputs import fake_result\nfrom gridopt.io import write\n"
        f"{before}\n"
        f"write.write_results(fake_result({run}), {str(out)!r})\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def crash_before(module: str, func: str, n: int = 1) -> str:
    """Kill the writer (no cleanup, like kill -9) just before its ``n``-th call of ``module.func``."""
    return (
        f"import {module} as target\nreal = target.{func}\ncalls = []\n"
        "def hook(*args, **kwargs):\n"
        "    calls.append(1)\n"
        f"    if len(calls) == {n}:\n"
        "        os._exit(9)\n"
        "    return real(*args, **kwargs)\n"
        f"target.{func} = hook\n"
    )


NO_EXCHANGE = "write._exchange = lambda a, b: False\n"


def test_results_replace_an_earlier_run_whole(tmp_path):
    out = tmp_path / "results"
    write.write_results(fake_result(1), out)
    assert run_of(out) == 1
    write.write_results(fake_result(2), out)
    assert run_of(out) == 2
    assert leftovers(tmp_path, out) == []


@pytest.mark.parametrize(
    "crash",
    [
        pytest.param(crash_before("gridopt.io.write", "_exchange"), id="exchange:before"),
        pytest.param(crash_before("shutil", "rmtree"), id="exchange:after"),
        pytest.param(NO_EXCHANGE + crash_before("os", "rename", 1), id="renames:before-first"),
        pytest.param(NO_EXCHANGE + crash_before("os", "rename", 2), id="renames:between"),
        pytest.param(NO_EXCHANGE + crash_before("shutil", "rmtree"), id="renames:after"),
    ],
)
def test_a_writer_killed_during_the_swap_leaves_one_whole_set(tmp_path, crash):
    """Killed at any step of the swap: DIR holds all of the old run or all of the new one (never
    a new schedule.csv beside an old site.csv); the next writer repairs and cleans up."""
    out = tmp_path / "results"
    write.write_results(fake_result(1), out)
    proc = writer(out, 2, crash)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 9, err
    if out.exists():
        assert run_of(out) in (1, 2)
    else:  # only between the two renames of a system without an atomic exchange
        assert crash.endswith(crash_before("os", "rename", 2))
    write.write_results(fake_result(3), out)
    assert run_of(out) == 3
    assert leftovers(tmp_path, out) == []


def test_this_system_exchanges_folders_atomically(tmp_path):
    """Linux (kernel 3.15+, glibc 2.28+, most file systems) swaps two folders in one step."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "from_a").touch()
    swapped = write._exchange(tmp_path / "a", tmp_path / "b")
    assert swapped == sys.platform.startswith("linux")
    assert (tmp_path / ("b" if swapped else "a") / "from_a").exists()


def test_a_swap_interrupted_between_two_renames_restores_the_old_run(tmp_path, monkeypatch):
    out = tmp_path / "results"
    write.write_results(fake_result(1), out)
    proc = writer(out, 2, NO_EXCHANGE + crash_before("os", "rename", 2))
    proc.communicate(timeout=60)
    assert proc.returncode == 9 and not out.exists()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(write, "_stage", disk_full)
    with pytest.raises(OutputError, match="No space left on device"):
        write.write_results(fake_result(3), out)
    assert run_of(out) == 1  # the next writer put the old run back before failing
    assert leftovers(tmp_path, out) == []


CRASH_ON_SITE_CSV = (
    "import builtins, io\nreal_open = builtins.open\n"
    "def hook(file, *args, **kwargs):\n"
    "    if os.path.basename(str(file)) == 'site.csv':\n"
    "        os._exit(9)\n"
    "    return real_open(file, *args, **kwargs)\n"
    "builtins.open = io.open = hook\n"
)


def test_a_writer_killed_while_writing_leaves_the_old_run_and_its_temp_folder_goes(tmp_path):
    """A killed run left a ``.OUT.xxxx/`` temp folder forever: the next write removes it."""
    out = tmp_path / "results"
    write.write_results(fake_result(1), out)
    proc = writer(out, 2, CRASH_ON_SITE_CSV)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 9, err
    assert run_of(out) == 1
    assert leftovers(tmp_path, out), "the killed writer's temp folder should be there until the next write"
    write.write_results(fake_result(3), out)
    assert run_of(out) == 3 and leftovers(tmp_path, out) == []


def test_the_reported_kill_between_file_moves(tmp_path):
    """The report: a kill after the first of three moves left a new schedule.csv beside an old
    site.csv and summary.json. Killed at its second move (rename or replace), a writer leaves a
    whole set, or (without an atomic exchange) one that the next writer restores."""
    out = tmp_path / "results"
    write.write_results(fake_result(1), out)
    crash = crash_before("os", "replace", 2).replace("calls = []", "calls = CALLS") + crash_before(
        "os", "rename", 2
    ).replace("calls = []", "calls = CALLS")
    proc = writer(out, 2, "CALLS = []\n" + crash)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 9), err
    assert run_of(out) in (1, 2)
    write.write_results(fake_result(3), out)
    assert run_of(out) == 3 and leftovers(tmp_path, out) == []


def test_a_writer_that_starts_while_another_swaps_waits_its_turn(tmp_path, monkeypatch):
    """Deterministic interleaving: a second write starts in the middle of the first one's moves.
    It must not slip its files in between (it waits for the lock and, here, gives up)."""
    out = tmp_path / "results"
    write.write_results(fake_result(1), out)
    monkeypatch.setattr(write, "LOCK_WAIT_S", 0.2)
    second: list[str] = []
    real = {"rename": os.rename, "replace": os.replace}
    calls: list[int] = []

    def hook(kind):
        def move(a, b):
            calls.append(1)
            if len(calls) == 2 and not second:
                try:
                    write.write_results(fake_result(3), out)
                    second.append("written")
                except OutputError as exc:
                    second.append(str(exc))
            return real[kind](a, b)

        return move

    monkeypatch.setattr(os, "rename", hook("rename"))
    monkeypatch.setattr(os, "replace", hook("replace"))
    monkeypatch.setattr(write, "_exchange", lambda a, b: False)  # two renames: a second move to interleave
    write.write_results(fake_result(2), out)
    assert second and "another gridopt run is writing" in second[0]
    assert run_of(out) == 2


def test_two_writers_at_once_never_mix_their_files(tmp_path):
    """Each writer stages slowly; both finish (exit 0), one after the other, and DIR holds one whole run."""
    out = tmp_path / "results"
    write.write_results(fake_result(1), out)
    slow = (
        "real = {'rename': os.rename, 'replace': os.replace}\n"
        "def slow(kind):\n"
        "    def move(a, b):\n"
        "        time.sleep(0.2)\n"
        "        return real[kind](a, b)\n"
        "    return move\n"
        "os.rename, os.replace = slow('rename'), slow('replace')\n"
    )
    procs = [writer(out, run, slow) for run in (2, 3)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    assert run_of(out) in (2, 3)
    assert leftovers(tmp_path, out) == []


def test_a_second_writer_waits_a_bounded_time_then_fails_clearly(tmp_path, monkeypatch):
    out = tmp_path / "results"
    write.write_results(fake_result(1), out)
    monkeypatch.setattr(write, "LOCK_WAIT_S", 0.3)
    with open(tmp_path / ".results.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        t0 = time.monotonic()
        with pytest.raises(OutputError, match=r"another gridopt run is writing .*results"):
            write.write_results(fake_result(2), out)
        assert 0.25 < time.monotonic() - t0 < 5
    assert run_of(out) == 1
    write.write_results(fake_result(2), out)  # the lock is free again
    assert run_of(out) == 2


def test_a_folder_with_files_gridopt_did_not_write_is_not_replaced(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    (out / "summary.json").write_text("{}\n")
    with pytest.raises(OutputError, match=r"results holds files gridopt did not write \(notes\.txt\)"):
        write.write_results(fake_result(1), out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "summary.json"]
    assert (out / "notes.txt").read_text() == "mine\n"
    assert leftovers(tmp_path, out) == []


def test_an_empty_folder_and_a_new_nested_one_are_fine(tmp_path):
    (tmp_path / "empty").mkdir()
    write.write_results(fake_result(1), tmp_path / "empty")
    assert run_of(tmp_path / "empty") == 1
    write.write_results(fake_result(2), tmp_path / "a" / "b" / "c")
    assert run_of(tmp_path / "a" / "b" / "c") == 2


def small_run_scenario(folder: Path) -> Path:
    return write_scenario(folder, vehicles=[car()], trips=[trip()])


def test_cannot_write_output_exits_73_not_2(tmp_path, capsys):
    """A failure to write is not bad input: exit 73 (EX_CANTCREAT), one line, nothing written."""
    path = small_run_scenario(tmp_path / "sc")
    (tmp_path / "file").write_text("x")
    code = main(["run", str(path), "--out", str(tmp_path / "file" / "results")])
    line = one_error_line(capsys.readouterr().err)
    assert code == 73
    assert "cannot write results to" in line and "nothing was written" in line
    assert OutputError.exit_code == 73 and issubclass(OutputError, gridopt.GridoptError)


def test_cli_refuses_a_folder_of_other_files_before_solving(tmp_path, capsys, monkeypatch):
    path = small_run_scenario(tmp_path / "sc")
    out = tmp_path / "results"
    out.mkdir()
    (out / "thesis.docx").write_text("years of work")
    solved = []
    monkeypatch.setattr(gridopt, "optimize", lambda *a, **k: solved.append(1))
    code = main(["run", str(path), "--out", str(out)])
    line = one_error_line(capsys.readouterr().err)
    assert code == 73 and "thesis.docx" in line and not solved
    assert (out / "thesis.docx").read_text() == "years of work"


def test_cli_run_into_a_locked_folder_exits_73(tmp_path, capsys, monkeypatch):
    path = small_run_scenario(tmp_path / "sc")
    out = tmp_path / "results"
    monkeypatch.setattr(write, "LOCK_WAIT_S", 0.2)
    with open(tmp_path / ".results.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        code = main(["run", str(path), "--out", str(out)])
    line = one_error_line(capsys.readouterr().err)
    assert code == 73 and "another gridopt run" in line
    assert not out.exists()


# ---------------------------------------------------------------------------
# Spreadsheet-safe outputs (OWASP CSV injection)
# ---------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\t=1+1"]


@pytest.mark.parametrize("text", FORMULAS)
@pytest.mark.parametrize("column", ["vehicle_id", "trip_id", "session_id", "station_id"])
def test_ids_that_a_spreadsheet_runs_as_formulas_are_refused(tmp_path, capsys, column, text):
    """Ids are identifiers, read by chargers' back-ends as well as by people: refused when read, rather
    than changed on export (a tab or CR before the formula is stripped with the cell, then refused)."""
    vid = text if column == "vehicle_id" else "EV1"
    trips = [trip(vid=vid, **({"trip_id": text} if column == "trip_id" else {}))]
    sessions = None
    if column in ("session_id", "station_id"):
        trips = None
        sessions = [
            {"vehicle_id": "V1", "arrival": START.isoformat(), "departure": (START + pd.Timedelta(hours=3)).isoformat()}
            | {"arrival_soc": 0.2, "target_soc": 0.8, column: text}
        ]
    vehicles = [car(vid)] if sessions is None else [car("V1", initial_soc=None)]
    path = write_scenario(tmp_path / "sc", vehicles=vehicles, trips=trips, sessions=sessions)
    where = {"vehicle_id": "vehicles.csv", "trip_id": "trips.csv"}.get(column, "sessions.csv")
    refused(path, capsys, f"{where} line 2", f"'{column}'", "formula")


@pytest.mark.parametrize("text", FORMULAS[:4])
def test_a_scenario_name_that_runs_as_a_formula_is_refused(tmp_path, capsys, text):
    path = write_scenario(tmp_path / "sc", vehicles=[car()], name=text)
    refused(path, capsys, "scenario.yaml", "field 'name'", "formula")


def test_formula_ids_are_refused_through_an_uploaded_zip(tmp_path, capsys):
    folder = tmp_path / "src"
    path = write_scenario(folder, vehicles=[car("=1+1")])
    data = make_zip({"up/s.yaml": path.read_bytes(), "up/vehicles.csv": (folder / "vehicles.csv").read_bytes()})
    yaml_path = unpack_scenario_zip(data, tmp_path / "dest", name="mine.zip")
    with pytest.raises(gridopt.ScenarioError, match=r"vehicles\.csv line 2: 'vehicle_id' = '=1\+1'.*formula"):
        gridopt.load_scenario(yaml_path, confine=True)
    capsys.readouterr()
    assert main(["run", str(yaml_path), "--out", str(tmp_path / "results")]) == 2  # the scenario the app runs
    assert "formula" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "results").exists()


def test_ids_that_only_contain_the_signs_are_fine(tmp_path, capsys):
    """Only the first character matters: ``EV-1``, ``A+B``, ``x=y`` and ``a@b`` are ordinary ids."""
    ids = ["EV-1", "A+B", "x=y", "a@b"]
    path = write_scenario(tmp_path / "sc", vehicles=[car(v) for v in ids], name="depot - night")
    out = tmp_path / "results"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    sched = pd.read_csv(out / "schedule.csv", dtype=str)
    assert sorted(sched["vehicle_id"].unique()) == sorted(ids)


def test_results_built_in_python_are_written_spreadsheet_safe(tmp_path):
    """A result whose ids never passed the file reader (built in Python): the cells get a leading '."""
    res = fake_result(1, vehicle_id="=HYPERLINK(1)")
    res.summary["scenario"] = "@SUM(1)"
    out = tmp_path / "results"
    write.write_results(res, out)
    sched = pd.read_csv(out / "schedule.csv", dtype=str)
    assert set(sched["vehicle_id"]) == {"'=HYPERLINK(1)"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "'@SUM(1)" and list(summary["unmet_energy_by_vehicle"]) == ["'=HYPERLINK(1)"]
    for line in (out / "schedule.csv").read_text().splitlines():
        assert not any(cell.startswith(write.FORMULA_START) for cell in line.split(","))


def test_a_gzip_history_for_forecasts_is_counted_while_it_inflates(tmp_path, monkeypatch):
    """Forecast histories keep their own 500 MB limit, counted after decompression as well."""
    from gridopt.forecast import io as forecast_io

    text = (ROOT / "tests" / "data" / "acn_excerpt.csv").read_bytes()
    (tmp_path / "history.csv.gz").write_bytes(gzip.compress(text))
    assert len(forecast_io.read_history([tmp_path / "history.csv.gz"]).frame) > 0
    monkeypatch.setattr(forecast_io, "MAX_FILE_BYTES", len(text) // 2)
    with pytest.raises(gridopt.ScenarioError, match=r"history\.csv\.gz: more than .* MB of text once decompressed"):
        forecast_io.read_history([tmp_path / "history.csv.gz"])


def test_a_refused_upload_leaves_nothing_in_the_apps_workspace():
    """An upload that unpacks but does not load (a bad number) is removed from the session's workspace."""
    from streamlit.testing.v1 import AppTest

    folder = Path(tempfile.mkdtemp())
    try:
        path = write_scenario(folder, vehicles=[car(battery_kwh="fifty")])
        data = make_zip({"up/s.yaml": path.read_bytes(), "up/vehicles.csv": (folder / "vehicles.csv").read_bytes()})
    finally:
        shutil.rmtree(folder)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.file_uploader(key="upload_file").upload("mine.zip", data, "application/zip").run()
    assert "battery_kwh" in "\n".join(str(e.value) for e in at.error)
    uploads = at.session_state["_workspace"].path / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []
