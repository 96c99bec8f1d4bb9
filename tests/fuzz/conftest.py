"""Hypothesis profiles of the fuzz suite.

``ci`` (the default): a few hundred examples in all, derandomized so that every
CI run draws the same examples, no example database written. ``long``: 10,000
examples of the main property (``--hypothesis-profile=long``), random, for a
nightly-style run; ``FUZZ_EXAMPLES=N`` changes that count. Set
``FUZZ_LOG=path.jsonl`` to record every failure and go on (see test_fuzz_cli.py).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_COMMON = dict(
    deadline=None,  # one run is a full load + solve; the wall clock is guarded per run instead
    database=None,  # no .hypothesis/ folder
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],  # no slow "explain"
)
settings.register_profile("ci", max_examples=200, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "10000")), **_COMMON)
if settings.get_current_profile_name() == "default":
    settings.load_profile("ci")
