"""One exception family for gridopt.

Every error a user can cause carries a message that names the file, the row or
field and the problem, so that the command line can print it on one line.
"""

from __future__ import annotations


class GridoptError(Exception):
    """Base class of all gridopt errors."""

    exit_code = 1


class ScenarioError(GridoptError, ValueError):
    """A scenario or one of its data files is wrong (exit code 2)."""

    exit_code = 2


class OutputError(GridoptError, OSError):
    """The results could not be written (exit code 73, ``EX_CANTCREAT``); the output folder is as it was."""

    exit_code = 73


class InfeasibleError(GridoptError):
    """The site limits make every plan impossible (exit code 3).

    ``conflicts`` lists the offending steps as dicts with ``time``, ``limit``
    and the power figures that conflict.
    """

    exit_code = 3

    def __init__(self, message: str, conflicts: list[dict] | None = None):
        super().__init__(message)
        self.conflicts = conflicts or []


class SolverError(GridoptError):
    """The solver failed or stopped without any feasible plan (exit code 4)."""

    exit_code = 4


class PhysicsViolation(GridoptError):
    """A schedule broke a physical limit. This is a bug in gridopt, never an output."""

    exit_code = 70

    def __init__(self, message: str, violations: list[str] | None = None):
        super().__init__(message)
        self.violations = violations or []


class GridoptWarning(UserWarning):
    """A scenario is valid but probably not what the user meant."""
