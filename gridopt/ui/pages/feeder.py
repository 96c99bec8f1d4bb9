"""Feeder page: the results of `gridopt feeder` read from a folder (network map, loading, voltage, violations)."""

from gridopt.ui.feeder import render

render()
