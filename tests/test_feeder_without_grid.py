"""`gridopt feeder` where the grid extra (pandapower, simbench) is not installed: one line naming the
extra and how to install it, exit 2 (as `gridopt sweep` does without the scale extra), no traceback.

Runs in both venvs: the main one has no pandapower; in .venv-grid its absence is simulated.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gridopt.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_feeder_without_pandapower_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pandapower", None)  # "import pandapower" raises ImportError
    code = main(["feeder", str(ROOT / "scenarios/feeders/lv_rural2_homes.yaml"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "pandapower" in err and ".[grid]" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
