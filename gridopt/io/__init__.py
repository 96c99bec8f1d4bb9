"""Reading scenarios and writing results: the only part of gridopt that touches files."""

from .read import load_scenario, read_table
from .write import write_results

__all__ = ["load_scenario", "read_table", "write_results"]
