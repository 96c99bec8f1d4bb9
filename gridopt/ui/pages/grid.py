"""Grid page: what a run's plan does for the grid, and the fleet's flexibility envelope."""

from gridopt.ui.grid import render

render()
