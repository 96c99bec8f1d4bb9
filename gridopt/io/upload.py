"""Unpack an uploaded scenario (a zip of a YAML and its data files) without trusting it.

The archive is checked before anything is written: its size, the number of
entries, every entry's name (no absolute paths, no ``..``, no drive letters),
no links, no encryption, and the total size once unpacked, which is counted
while unpacking too, so that an entry that lies about its size cannot fill the
disk (zip bombs). Files are written only below ``dest``. Load the result with
``load_scenario(path, confine=True)`` so that the YAML may only name files
inside the upload.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from io import BytesIO
from pathlib import Path, PurePosixPath

from ..errors import ScenarioError

#: Largest upload accepted [bytes] (the zip as sent).
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: Largest total size of the unpacked files [bytes].
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
#: Most entries an upload may hold.
MAX_ENTRIES = 200
_CHUNK = 1 << 16
_DRIVE = re.compile(r"^[A-Za-z]:")
YAML_SUFFIXES = (".yaml", ".yml")


def _is_junk(parts: tuple[str, ...]) -> bool:
    """Files that archivers add on their own (macOS resource forks, Finder data)."""
    return parts[0] == "__MACOSX" or parts[-1].startswith("._") or parts[-1] == ".DS_Store"


def _safe_parts(raw: str, where: str) -> tuple[str, ...]:
    name = raw.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise ScenarioError(f"{where}: entry {raw!r} has an absolute path; an upload may only hold relative paths")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if ".." in parts:
        raise ScenarioError(f"{where}: entry {raw!r} points outside the upload ('..' in its path)")
    if any("\0" in p for p in parts):
        raise ScenarioError(f"{where}: entry {raw!r} has an invalid name")
    return parts


def unpack_scenario_zip(data: bytes, dest: str | os.PathLike, *, name: str = "upload.zip") -> Path:
    """Unpack a scenario zip into ``dest`` and return the path of its YAML.

    Parameters
    ----------
    data : bytes
        The uploaded archive.
    dest : path-like
        An empty folder to unpack into (created if missing).
    name : str
        The upload's file name, for messages.

    Returns
    -------
    Path
        The one ``.yaml``/``.yml`` file of the archive.

    Raises
    ------
    ScenarioError
        Naming the upload and, where there is one, the offending entry.
    """
    where = name
    if len(data) > MAX_UPLOAD_BYTES:
        raise ScenarioError(f"{where}: {len(data) / 2**20:.1f} MB is larger than the {MAX_UPLOAD_BYTES >> 20} MB limit")
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise ScenarioError(
            f"{where}: not a zip file (upload a .zip with the scenario YAML and its CSV files)"
        ) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ScenarioError(f"{where}: {len(infos)} entries; an upload may hold at most {MAX_ENTRIES}")
        plan: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
        declared = 0
        seen: set[str] = set()
        for info in infos:
            parts = _safe_parts(info.filename, where)
            if info.is_dir() or not parts or _is_junk(parts):
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ScenarioError(f"{where}: entry {info.filename!r} is a link; an upload may hold only plain files")
            if info.flag_bits & 0x1:
                raise ScenarioError(f"{where}: entry {info.filename!r} is encrypted")
            key = "/".join(parts).lower()
            if key in seen:
                raise ScenarioError(f"{where}: entry {info.filename!r} appears twice")
            seen.add(key)
            declared += info.file_size
            if declared > MAX_UNPACKED_BYTES:
                raise ScenarioError(f"{where}: unpacks to more than {MAX_UNPACKED_BYTES >> 20} MB")
            plan.append((info, parts))
        yamls = [parts for info, parts in plan if parts[-1].lower().endswith(YAML_SUFFIXES)]
        if not yamls:
            raise ScenarioError(f"{where}: no scenario YAML (.yaml) in the zip")
        if len(yamls) > 1:
            listed = ", ".join("/".join(p) for p in yamls[:4])
            raise ScenarioError(f"{where}: holds {len(yamls)} YAML files ({listed}); upload one scenario per zip")

        root = Path(dest)
        root.mkdir(parents=True, exist_ok=True)
        real_root = root.resolve()
        written = 0
        for info, parts in plan:
            target = root.joinpath(*parts)
            if real_root not in target.resolve().parents:
                raise ScenarioError(f"{where}: entry {info.filename!r} points outside the upload")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as src, open(target, "xb") as out:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        if written > MAX_UNPACKED_BYTES:
                            raise ScenarioError(f"{where}: unpacks to more than {MAX_UNPACKED_BYTES >> 20} MB")
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, RuntimeError) as exc:
                raise ScenarioError(f"{where}: entry {info.filename!r} cannot be unpacked ({exc})") from None
            except FileExistsError:
                raise ScenarioError(f"{where}: entry {info.filename!r} appears twice") from None
    return root.joinpath(*yamls[0])
