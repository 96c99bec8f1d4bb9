"""The scenario YAML is read as written: strict types, no duplicate keys, bounded numbers.

YAML 1.1 (what PyYAML reads) turns ``true``, ``yes`` and ``on`` into booleans,
``017`` into octal 15 and ``1:30`` into 90 (base 60); a duplicate key silently
takes the last value. Each of these gave a wrong plan with exit 0. Here each one
is refused with one line naming the file, the line or field and the problem;
absurd magnitudes are refused before they reach the solver; the currency and the
demand charge's billing period are stated and carried into ``summary.json``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from conftest import car, write_scenario
from test_bad_input import _has, sess, visitor

import gridopt
from gridopt.cli import main
from gridopt.edit import apply_edits, current_edits
from gridopt.io.read import scenario_from_dict
from gridopt.tariffs import MONTH_HOURS, tou_series

ROOT = Path(__file__).resolve().parents[1]

BASE = """\
name: test
timezone: Europe/Amsterdam
start: '2026-06-15T00:00:00+02:00'
horizon_hours: 4
step_minutes: 60
site:
  import_limit_kw: 100
  export_limit_kw: 100
  base_load_kw: 0
tariff:
  import_price: 0.2
  export_price: 0.0
unmet_energy_penalty_per_kwh: 10.0
fleet:
  vehicles: vehicles.csv
"""
PV = "pv:\n  latitude: 52.37\n  longitude: 4.9\n  peak_kw: 10\n"


def set_key(text: str, dotted: str, raw: str) -> str:
    """``text`` with the YAML line of ``dotted`` (e.g. ``site.import_limit_kw``) set to ``raw``, as written."""
    parts = dotted.split(".")
    indent = "  " * (len(parts) - 1)
    lines = text.splitlines()
    section = None if len(parts) == 1 else re.compile(rf"^{'  ' * (len(parts) - 2)}{parts[-2]}:")
    inside = section is None
    for i, line in enumerate(lines):
        if section is not None and section.match(line):
            inside = True
            continue
        if inside and re.match(rf"^{indent}{re.escape(parts[-1])}:", line):
            lines[i] = f"{indent}{parts[-1]}: {raw}"
            return "\n".join(lines) + "\n"
    if section is None:
        return text + f"{parts[-1]}: {raw}\n"
    for i, line in enumerate(lines):
        if section.match(line):
            lines.insert(i + 1, f"{indent}{parts[-1]}: {raw}")
            return "\n".join(lines) + "\n"
    return text + f"{parts[-2]}:\n{indent}{parts[-1]}: {raw}\n"


def scenario(folder: Path, text: str = BASE, vehicles=None, **files) -> Path:
    """Write ``text`` as ``scenario.yaml`` beside a one-car ``vehicles.csv`` (and ``files``: name -> text)."""
    path = write_scenario(folder, vehicles=vehicles or [car()])
    path.write_text(text)
    for name, content in files.items():
        (folder / name).write_text(content)
    return path


def refused(path: Path, fragments, capsys) -> str:
    """Assert the scenario is refused with one line holding every fragment, by the API and by the CLI."""
    with pytest.raises(gridopt.ScenarioError) as exc:
        gridopt.load_scenario(path)
    msg = str(exc.value)
    missing = [f for f in fragments if not _has(msg, f)]
    assert not missing, f"message {msg!r} lacks {missing}"
    assert "\n" not in msg
    capsys.readouterr()
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err + out, err
    return msg


# ---------------------------------------------------------------------------
# 1. strict types: no boolean as a number, no text as a number, no number as a boolean
# ---------------------------------------------------------------------------

STRICT_CASES = [
    pytest.param("step_minutes", "true", ["step_minutes", "boolean"], id="step-true"),
    pytest.param("horizon_hours", "true", ["horizon_hours", "boolean"], id="horizon-true"),
    pytest.param("pv.latitude", "yes", ["pv.latitude", "boolean"], id="latitude-yes"),
    pytest.param("tariff.demand_charge_per_kw", "no", ["tariff.demand_charge_per_kw", "boolean"], id="demand-no"),
    pytest.param("solver.time_limit_s", "on", ["solver.time_limit_s", "boolean"], id="time-limit-on"),
    pytest.param("battery_degradation_cost_per_kwh", "yes", ["battery_degradation", "boolean"], id="degr-yes"),
    pytest.param("step_minutes", '"5"', ["step_minutes", "'5'", "quotes"], id="step-quoted"),
    pytest.param("horizon_hours", "'4'", ["horizon_hours", "'4'", "quotes"], id="horizon-quoted"),
    pytest.param("site.import_limit_kw", "'100'", ["site.import_limit_kw", "quotes"], id="import-limit-quoted"),
    pytest.param("unmet_energy_penalty_per_kwh", "'10'", ["unmet_energy_penalty_per_kwh", "quotes"], id="pen-quoted"),
    pytest.param("tariff.import_price", "{'00:00': true}", ["tariff.import_price", "boolean"], id="tou-price-true"),
    pytest.param("tariff.export_price", "'0.05'", ["tariff.export_price", "quotes"], id="export-quoted"),
    pytest.param("step_minutes", "60.0", ["step_minutes", "whole number"], id="step-decimal"),
    pytest.param("timezone", "NO", ["timezone", "boolean", "quotes"], id="timezone-no"),
    pytest.param("name", "2026", ["name", "text", "quotes"], id="name-a-number"),
    pytest.param("site.pv_curtailable", "1", ["site.pv_curtailable", "true or false"], id="curtailable-1"),
    pytest.param("site.pv_curtailable", "'false'", ["site.pv_curtailable", "true or false"], id="curtailable-text"),
]


@pytest.mark.parametrize("dotted, raw, fragments", STRICT_CASES)
def test_yaml_values_of_the_wrong_type_are_refused(tmp_path, capsys, dotted, raw, fragments):
    text = BASE + PV if dotted.startswith("pv.") else BASE
    path = scenario(tmp_path / "sc", set_key(text, dotted, raw))
    refused(path, ["scenario.yaml", *fragments], capsys)


def test_whole_numbers_and_plain_yaml_numbers_are_still_numbers(tmp_path):
    text = BASE + PV + "solver:\n  time_limit_s: 1e3\n  mip_rel_gap: 1.0e-3\n"
    text = set_key(text, "site.import_limit_kw", "1_000")
    text = set_key(text, "tariff.demand_charge_per_kw", "10")
    text = set_key(text, "pv.altitude_m", "-20")
    text = set_key(text, "site.pv_curtailable", "false")
    sc = gridopt.load_scenario(scenario(tmp_path / "sc", text))
    assert sc.solver.time_limit_s == 1000.0 and sc.solver.mip_rel_gap == 1e-3
    assert sc.import_limit_kw == 1000.0 and sc.demand_charge_per_kw == 10.0
    assert sc.config["pv"]["latitude"] == 52.37 and sc.config["pv"]["altitude_m"] == -20.0
    assert sc.pv_curtailable is False
    assert sc.grid.n_steps == 4


# ---------------------------------------------------------------------------
# 2. duplicate keys
# ---------------------------------------------------------------------------

DUPLICATES = [
    pytest.param(BASE + "step_minutes: 15\n", ["line 16", "step_minutes", "twice", "line 5"], id="top-level"),
    pytest.param(
        BASE.replace("  import_limit_kw: 100\n", "  import_limit_kw: 100\n  import_limit_kw: 300\n"),
        ["line 8", "import_limit_kw", "twice", "line 7"],
        id="nested",
    ),
    pytest.param(
        BASE.replace(
            "site:\n  import_limit_kw: 100\n  export_limit_kw: 100\n  base_load_kw: 0\n",
            "site: {import_limit_kw: 10, import_limit_kw: 20}\n",
        ),
        ["line 6", "import_limit_kw", "twice"],
        id="flow-mapping",
    ),
    pytest.param(
        BASE.replace(
            "  import_price: 0.2\n", "  import_price:\n    '00:00': 0.1\n    '16:00': 0.4\n    '16:00': 0.5\n"
        ),
        ["line 14", "16:00", "twice", "line 13"],
        id="tou-key",
    ),
]


@pytest.mark.parametrize("text, fragments", DUPLICATES)
def test_a_duplicate_key_is_refused_with_its_lines(tmp_path, capsys, text, fragments):
    refused(scenario(tmp_path / "sc", text), ["scenario.yaml", *fragments], capsys)


def test_a_merge_key_may_still_be_overridden(tmp_path):
    """``<<`` merges a mapping whose keys the explicit ones override: that is YAML, not a duplicate."""
    text = BASE.replace(
        "  import_price: 0.2\n  export_price: 0.0\n",
        "  import_price: &day {'00:00': 0.1, '02:00': 0.3}\n  export_price: {<<: *day, '00:00': 0.05}\n",
    )
    sc = gridopt.load_scenario(scenario(tmp_path / "sc", text))
    assert sc.series["import_price"].tolist() == [0.1, 0.1, 0.3, 0.3]
    assert sc.series["export_price"].tolist() == [0.05, 0.05, 0.3, 0.3]


# ---------------------------------------------------------------------------
# 3. time-of-use times given twice in different spellings
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table, fragments",
    [
        pytest.param(
            "    00:00: 0.1\n    16:00: 0.4\n    '16:00': 0.5\n",
            ["line 14", "16:00", "twice", "line 13"],
            id="unquoted-and-quoted",
        ),
        pytest.param(
            "    '00:00': 0.1\n    '4:00': 0.4\n    '04:00': 0.5\n",
            ["tariff.import_price", "04:00", "twice"],
            id="4:00-and-04:00",
        ),
        pytest.param(
            "    00:00: 0.1\n    7:30: 0.4\n    '07:30': 0.5\n",
            ["tariff.import_price", "07:30", "twice"],
            id="7:30-and-07:30",
        ),
    ],
)
def test_a_tou_time_given_twice_is_refused(tmp_path, capsys, table, fragments):
    text = BASE.replace("  import_price: 0.2\n", "  import_price:\n" + table)
    refused(scenario(tmp_path / "sc", text), ["scenario.yaml", *fragments], capsys)


def test_a_tou_time_given_twice_is_refused_from_python_data(tmp_path):
    """``yaml.safe_load`` turns ``16:00`` into 960: beside ``"16:00"`` one price would vanish."""
    path = scenario(tmp_path / "sc")
    import yaml

    data = yaml.safe_load(path.read_text())
    data["tariff"]["import_price"] = {0: 0.1, 960: 0.4, "16:00": 0.5}
    with pytest.raises(gridopt.ScenarioError, match=r"tariff\.import_price.*16:00.*twice"):
        scenario_from_dict(data, path.parent)


def test_tou_series_refuses_one_time_in_two_spellings():
    import pandas as pd

    idx = pd.date_range("2026-06-15", periods=24, freq="1h", tz="Europe/Amsterdam")
    with pytest.raises(gridopt.ScenarioError, match="04:00.*twice"):
        tou_series({"00:00": 0.1, "4:00": 0.2, "04:00": 0.3}, idx, "t")


def test_unquoted_tou_times_keep_their_prices(tmp_path):
    text = set_key(BASE, "horizon_hours", "24").replace(
        "  import_price: 0.2\n", "  import_price:\n    0:00: 0.1\n    7:30: 0.2\n    16:00: 0.4\n    21:00: 0.1\n"
    )
    text = set_key(text, "step_minutes", "30")
    p = gridopt.load_scenario(scenario(tmp_path / "sc", text)).series["import_price"].to_numpy()
    assert list(p[:15]) == [0.1] * 15 and list(p[15:32]) == [0.2] * 17
    assert list(p[32:42]) == [0.4] * 10 and list(p[42:]) == [0.1] * 6


# ---------------------------------------------------------------------------
# 4. octal, hexadecimal and base-60 numbers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dotted, raw, fragments",
    [
        pytest.param("site.import_limit_kw", "017", ["line 7", "017", "octal"], id="octal"),
        pytest.param("site.base_load_kw", "-010", ["line 9", "-010", "octal"], id="negative-octal"),
        pytest.param("site.import_limit_kw", "0x1F", ["line 7", "0x1F", "decimal"], id="hex"),
        pytest.param("site.import_limit_kw", "0b101", ["line 7", "0b101", "decimal"], id="binary"),
        pytest.param("horizon_hours", "1:30", ["line 4", "1:30", "base 60"], id="sexagesimal-int"),
        pytest.param("site.base_load_kw", "1:30.5", ["line 9", "1:30.5", "base 60"], id="sexagesimal-float"),
    ],
)
def test_numbers_yaml_11_reads_differently_are_refused(tmp_path, capsys, dotted, raw, fragments):
    refused(scenario(tmp_path / "sc", set_key(BASE, dotted, raw)), ["scenario.yaml", *fragments], capsys)


# ---------------------------------------------------------------------------
# 5. nested too deeply
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [pytest.param("[" * 500 + "]" * 500, id="lists"), pytest.param("{a: " * 500 + "1" + "}" * 500, id="maps")]
)
def test_yaml_nested_500_deep_is_refused_not_a_recursion_error(tmp_path, capsys, value):
    path = scenario(tmp_path / "sc", BASE + f"description: {value}\n")
    refused(path, ["scenario.yaml", "line 16", "nested too deeply"], capsys)


def test_a_character_yaml_may_not_hold_is_named_by_line_column_and_code(tmp_path, capsys):
    # found by the fuzz suite: PyYAML's ReaderError has no mark, so the message said only
    # "special characters are not allowed"; a UTF-16 file (no BOM) ends the same way
    path = scenario(tmp_path / "sc", BASE.replace("name: ", "name: x\x00", 1))
    refused(path, ["scenario.yaml", "line 1", "column", "U+0000", "UTF-8"], capsys)
    path.write_bytes(BASE.encode("utf-16-le"))
    refused(path, ["scenario.yaml", "line 1", "U+0000", "UTF-8"], capsys)


# ---------------------------------------------------------------------------
# 6. a YAML that cannot be read is named as the other files are, by its name
# ---------------------------------------------------------------------------


def test_an_unreadable_yaml_is_named_by_its_file_name_not_its_absolute_path(tmp_path, capsys):
    folder = tmp_path / "scen.yaml"
    folder.mkdir()
    for path in (folder, tmp_path / "absent.yaml"):
        with pytest.raises(gridopt.ScenarioError) as exc:
            gridopt.load_scenario(path)
        msg = str(exc.value)
        assert msg.startswith(path.name + ":") and str(tmp_path) not in msg, msg
        capsys.readouterr()
        assert main(["validate", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(tmp_path) not in err, err


# ---------------------------------------------------------------------------
# 7. bounds: finite and physical, named by their field
# ---------------------------------------------------------------------------

YAML_BOUNDS = [
    pytest.param("pv.altitude_m", ".nan", ["pv.altitude_m", "finite"], id="altitude-nan"),
    pytest.param("pv.altitude_m", ".inf", ["pv.altitude_m", ("finite", "9000")], id="altitude-inf"),
    pytest.param("pv.altitude_m", "-.inf", ["pv.altitude_m", ("finite", "-500")], id="altitude-minus-inf"),
    pytest.param("pv.altitude_m", "1e9", ["pv.altitude_m", "9000"], id="altitude-1e9"),
    pytest.param("pv.altitude_m", "-1000", ["pv.altitude_m", "-500"], id="altitude-below-dead-sea"),
    pytest.param("pv.peak_kw", "3.0e+9", ["pv.peak_kw", "1000000"], id="pv-peak"),
    pytest.param("pv.inverter_kw", "3e9", ["pv.inverter_kw", "1000000"], id="pv-inverter"),
    pytest.param("site.import_limit_kw", "3e9", ["site.import_limit_kw", "1000000"], id="import-limit"),
    pytest.param("site.export_limit_kw", "3e9", ["site.export_limit_kw", "1000000"], id="export-limit"),
    pytest.param("site.base_load_kw", "3e9", ["site.base_load_kw", "1000000"], id="base-load"),
    pytest.param("tariff.import_price", "1e20", ["tariff.import_price", "10000"], id="import-price"),
    pytest.param("tariff.export_price", "-1e20", ["tariff.export_price", "-10000"], id="export-price"),
    pytest.param("tariff.import_price", "{'00:00': 1e20}", ["tariff.import_price", "10000"], id="tou-price"),
    pytest.param("tariff.demand_charge_per_kw", "1e16", ["tariff.demand_charge_per_kw", "100000"], id="demand"),
    pytest.param("battery_degradation_cost_per_kwh", "3e9", ["battery_degradation", "10000"], id="degradation"),
    pytest.param("unmet_energy_penalty_per_kwh", "3e9", ["unmet_energy_penalty", "1000000"], id="penalty"),
    pytest.param("solver.time_limit_s", "3e10", ["solver.time_limit_s", "1000000"], id="time-limit-huge"),
    pytest.param("solver.time_limit_s", ".inf", ["solver.time_limit_s", ("finite", "1000000")], id="time-limit-inf"),
]


@pytest.mark.parametrize("dotted, raw, fragments", YAML_BOUNDS)
def test_yaml_numbers_outside_physical_ranges_are_refused(tmp_path, capsys, dotted, raw, fragments):
    text = BASE + PV if dotted.startswith("pv.") else BASE
    refused(scenario(tmp_path / "sc", set_key(text, dotted, raw)), ["scenario.yaml", *fragments], capsys)


def _series(**cols) -> str:
    times = [f"2026-06-15T{h:02d}:00:00+02:00" for h in range(4)]
    head = "time," + ",".join(cols)
    rows = [",".join([t, *(str(v[i]) for v in cols.values())]) for i, t in enumerate(times)]
    return "\n".join([head, *rows]) + "\n"


def _tariff_file(tariffs=(0.1, 0.3), demand=15.51) -> str:
    block = {"effective_start": "01-01", "effective_end": "12-31", "dow_mask": "ALL", "times": [0, 12]}
    return json.dumps({"schedule": [{**block, "tariffs": list(tariffs), "demand_charge": demand}]})


TS = BASE + "timeseries: timeseries.csv\n"
TF = BASE.replace("  import_price: 0.2\n", "  tariff_file: tariff.json\n")
TABLE_BOUNDS = [
    pytest.param([car(battery_kwh=3e5)], BASE, {}, ["vehicles.csv", "line 2", "battery_kwh", "100000"], id="battery"),
    pytest.param(
        [car(), car("EV2", max_charge_kw=5e6)], BASE, {}, ["vehicles.csv", "line 3", "max_charge_kw", "1000000"],
        id="max-charge",
    ),
    pytest.param(
        [car(max_discharge_kw=7e6)], BASE, {}, ["vehicles.csv", "line 2", "max_discharge_kw", "1000000"],
        id="max-discharge",
    ),
    pytest.param(
        None, TS, {"timeseries.csv": _series(import_price=[0.1, 1e20, 0.1, 0.1])},
        ["timeseries.csv", "line 3", "import_price", "10000"], id="ts-import-price",
    ),
    pytest.param(
        None, TS, {"timeseries.csv": _series(export_price=[0.1, 0.1, -1e20, 0.1])},
        ["timeseries.csv", "line 4", "export_price", "10000"], id="ts-export-price",
    ),
    pytest.param(
        None, TS, {"timeseries.csv": _series(base_load_kw=[1, 1, 1, 3e9])},
        ["timeseries.csv", "line 5", "base_load_kw", "1000000"], id="ts-base-load",
    ),
    pytest.param(
        None, TS, {"timeseries.csv": _series(pv_kw=[3e9, 1, 1, 1])},
        ["timeseries.csv", "line 2", "pv_kw", "1000000"], id="ts-pv",
    ),
    pytest.param(
        None, TF, {"tariff.json": _tariff_file(tariffs=(0.1, 1e20))}, ["tariff.json", "tariffs", "10000"],
        id="tariff-file-price",
    ),
    pytest.param(
        None, TF, {"tariff.json": _tariff_file(demand=1e16)}, ["tariff.json", "demand_charge", "100000"],
        id="tariff-file-demand",
    ),
]  # fmt: skip


@pytest.mark.parametrize("vehicles, text, files, fragments", TABLE_BOUNDS)
def test_table_numbers_outside_physical_ranges_are_refused(tmp_path, capsys, vehicles, text, files, fragments):
    refused(scenario(tmp_path / "sc", text, vehicles, **files), fragments, capsys)


# ---------------------------------------------------------------------------
# 8. currency
# ---------------------------------------------------------------------------


def test_currency_is_carried_into_the_summary(tmp_path):
    sc = gridopt.load_scenario(scenario(tmp_path / "a", BASE + "currency: USD\n"))
    assert sc.currency == "USD"
    res = gridopt.optimize(sc)
    gridopt.write_results(res, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["currency"] == "USD"
    unstated = gridopt.load_scenario(scenario(tmp_path / "b"))
    assert unstated.currency is None
    assert gridopt.optimize(unstated, baseline=False).summary["currency"] is None


@pytest.mark.parametrize("raw", ["usd", "EURO", "'€'", "12", "''"])
def test_a_currency_that_is_not_an_iso_code_is_refused(tmp_path, capsys, raw):
    refused(scenario(tmp_path / "sc", BASE + f"currency: {raw}\n"), ["scenario.yaml", "currency"], capsys)


# ---------------------------------------------------------------------------
# 9. the demand charge's billing period
# ---------------------------------------------------------------------------


def _demand(period: str | None, hours: int = 24, rate: str = "10") -> str:
    text = set_key(BASE, "horizon_hours", str(hours))
    text = set_key(text, "tariff.demand_charge_per_kw", rate)
    return text if period is None else set_key(text, "tariff.demand_charge_period", period)


def test_a_monthly_demand_charge_is_prorated_to_the_horizon(tmp_path):
    sc = gridopt.load_scenario(scenario(tmp_path / "sc", _demand("month")))
    assert MONTH_HOURS == pytest.approx(365.2425 * 24 / 12)
    assert sc.demand_charge_per_kw == pytest.approx(10 * 24 / MONTH_HOURS)
    assert sc.demand_charge_stated_per_kw == 10.0 and sc.demand_charge_period == "month"
    assert any("prorated" in w and "month" in w and "demand_charge" in w for w in sc.warnings), sc.warnings
    res = gridopt.optimize(sc, baseline=False)
    s = res.summary
    assert (s["demand_charge_period"], s["demand_charge_stated_per_kw"]) == ("month", 10.0)
    assert s["demand_charge_per_kw"] == pytest.approx(10 * 24 / MONTH_HOURS)
    assert s["demand_charge_cost"] == pytest.approx(sc.demand_charge_per_kw * s["peak_import_kw"])


def test_a_daily_demand_charge_is_prorated_to_a_4_hour_horizon(tmp_path):
    sc = gridopt.load_scenario(scenario(tmp_path / "sc", _demand("day", hours=4)))
    assert sc.demand_charge_per_kw == pytest.approx(10 * 4 / 24)
    assert any("prorated" in w for w in sc.warnings)


@pytest.mark.parametrize("period", [None, "horizon"])
def test_a_demand_charge_per_horizon_is_applied_in_full_without_a_warning(tmp_path, period):
    sc = gridopt.load_scenario(scenario(tmp_path / "sc", _demand(period)))
    assert sc.demand_charge_per_kw == 10.0 and sc.demand_charge_period == "horizon"
    assert not [w for w in sc.warnings if "demand" in w]


def test_a_horizon_longer_than_the_billing_period_is_refused(tmp_path, capsys):
    refused(
        scenario(tmp_path / "sc", _demand("day", hours=48)),
        ["scenario.yaml", "tariff.demand_charge_period", "48 h", "longer"],
        capsys,
    )


def test_an_unknown_billing_period_is_refused(tmp_path, capsys):
    refused(scenario(tmp_path / "sc", _demand("week")), ["scenario.yaml", "tariff.demand_charge_period"], capsys)


def test_a_tariff_files_monthly_demand_charge_without_a_period_is_applied_in_full_with_a_warning(tmp_path):
    sc = gridopt.load_scenario(scenario(tmp_path / "a", TF, **{"tariff.json": _tariff_file()}))
    assert sc.demand_charge_per_kw == 15.51
    hits = [w for w in sc.warnings if "tariff_file" in w and "demand_charge_period: month" in w]
    assert len(hits) == 1 and "15.51" in hits[0], sc.warnings
    stated = gridopt.load_scenario(
        scenario(tmp_path / "b", set_key(TF, "tariff.demand_charge_period", "month"), **{"tariff.json": _tariff_file()})
    )
    assert stated.demand_charge_per_kw == pytest.approx(15.51 * 4 / MONTH_HOURS)
    assert stated.demand_charge_stated_per_kw == 15.51
    assert not [w for w in stated.warnings if "demand_charge_period: month" in w]


def test_the_shipped_workplace_scenario_states_a_monthly_demand_charge(tmp_path):
    sc = gridopt.load_scenario(ROOT / "scenarios" / "workplace_acn.yaml")
    assert sc.demand_charge_period == "month" and sc.demand_charge_stated_per_kw == 15.51
    assert sc.demand_charge_per_kw == pytest.approx(15.51 * 24 / MONTH_HOURS)
    # an edit of another cost keeps the stated rate (prorated once, not twice)
    edits = dataclasses.replace(current_edits(sc), battery_degradation_cost_per_kwh=0.07)
    edited = apply_edits(sc, edits, tmp_path)
    assert edited.demand_charge_stated_per_kw == 15.51
    assert edited.demand_charge_per_kw == pytest.approx(sc.demand_charge_per_kw)


def test_a_visitor_scenario_with_a_monthly_charge_solves_and_reports_it(tmp_path):
    """End to end through the CLI: the summary names the period and both rates."""
    text = _demand("month", hours=4) + "currency: EUR\n"
    folder = tmp_path / "sc"
    path = write_scenario(folder, vehicles=[visitor()], sessions=[sess()])
    path.write_text(text.replace("  vehicles: vehicles.csv\n", "  vehicles: vehicles.csv\n  sessions: sessions.csv\n"))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["currency"] == "EUR" and s["demand_charge_period"] == "month"
    assert s["demand_charge_stated_per_kw"] == 10.0
    assert s["demand_charge_cost"] == pytest.approx(10 * 4 / MONTH_HOURS * s["peak_import_kw"])
