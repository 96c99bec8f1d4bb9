"""Compare page: runs of this session side by side."""

from gridopt.ui.compare import render

render()
