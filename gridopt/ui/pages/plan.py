"""Plan page: pick or upload a scenario, edit it, run it, see the plan."""

from gridopt.ui.plan import render

render()
