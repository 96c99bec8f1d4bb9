"""A private temporary folder for one user session (uploads, edited tables)."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path


class Workspace:
    """A temporary folder readable only by this user, removed with the object.

    The folder goes when the object is garbage-collected (e.g. when a Streamlit
    session ends), when :meth:`cleanup` is called, or when the interpreter exits.

    >>> ws = Workspace()
    >>> (ws.folder("uploads") / "x.txt").write_text("hi")
    2
    >>> ws.cleanup(); ws.path.exists()
    False
    """

    def __init__(self, prefix: str = "gridopt-"):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def folder(self, name: str) -> Path:
        """A subfolder (created on first use)."""
        p = self.path / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    def cleanup(self) -> None:
        self._finalizer()
