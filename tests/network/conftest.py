"""Network tests run in the grid venv (.venv-grid: pandapower pins pandas 2.3).

Without pandapower and simbench (the main venv) this folder is not collected;
CI runs it in .venv-grid (see .ci/run and the README's test command).
"""

import importlib.util

if importlib.util.find_spec("pandapower") is None or importlib.util.find_spec("simbench") is None:
    collect_ignore_glob = ["test_*.py"]
