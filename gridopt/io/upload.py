"""Unpack an uploaded scenario (a zip of a YAML and its data files) without trusting it.

The archive is checked before anything is written: its size, the number of
entries (read from the zip's end record before the archive is opened, so that
an archive of 60,000 entries costs nothing), every entry's name (no absolute
paths, no ``..``, no drive letters, at most 255 bytes, no file that is also a
folder of another entry), no links, no encryption, and the total size once
unpacked, which is counted while unpacking too, so that an entry that lies
about its size cannot fill the disk (zip bombs). Files are written only below
``dest``; a refusal part-way removes what was written. Load the result with
``load_scenario(path, confine=True)`` so that the YAML may only name files
inside the upload and a gzip table in it cannot inflate past
:data:`MAX_UNPACKED_BYTES` either.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import struct
import zipfile
import zlib
from io import BytesIO
from pathlib import Path, PurePosixPath

from ..errors import ScenarioError

#: Largest upload accepted [bytes] (the zip as sent).
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: Largest total size of the unpacked files [bytes]; also the most text one table of an upload may inflate to.
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
#: Most entries an upload may hold.
MAX_ENTRIES = 200
#: Largest entry name [bytes of UTF-8], whole path.
MAX_NAME_BYTES = 255
#: Largest central directory (the zip's table of contents) [bytes]: a generous 1 kB per entry.
MAX_DIRECTORY_BYTES = MAX_ENTRIES * 1024
_CHUNK = 1 << 16
_DRIVE = re.compile(r"^[A-Za-z]:")
YAML_SUFFIXES = (".yaml", ".yml")
_END = b"PK\x05\x06"  # end of central directory record
_END64_LOCATOR = b"PK\x06\x07"
_END64 = b"PK\x06\x06"  # zip64 end of central directory record


def _directory_size(data: bytes) -> tuple[int, int] | None:
    """Entries and central-directory size [bytes] that the zip's end record declares.

    The end record is looked for as :mod:`zipfile` looks for it (last 22 bytes,
    else the last signature within a 64 kB comment), with its zip64 record when
    there is one; the larger of both figures is returned, so that the archive
    :mod:`zipfile` then opens cannot hold a larger directory than was checked.
    ``None`` when there is no end record (not a zip).
    """
    n = len(data)
    if n >= 22 and data[n - 22 : n - 18] == _END and data[n - 2 :] == b"\0\0":
        pos = n - 22
    else:
        pos = data.rfind(_END, max(n - 22 - 0xFFFF, 0))
        if pos < 0 or pos + 22 > n:
            return None
    entries, size = struct.unpack_from("<HI", data, pos + 10)
    loc = pos - 20
    if loc >= 56 and data[loc : loc + 4] == _END64_LOCATOR and data[loc - 56 : loc - 52] == _END64:
        entries64, size64 = struct.unpack_from("<QQ", data, loc - 56 + 32)
        entries, size = max(entries, entries64), max(size, size64)
    return entries, size


def _is_junk(parts: tuple[str, ...]) -> bool:
    """Files that archivers add on their own (macOS resource forks, Finder data)."""
    return parts[0] == "__MACOSX" or parts[-1].startswith("._") or parts[-1] == ".DS_Store"


def _safe_parts(raw: str, where: str) -> tuple[str, ...]:
    name = raw.replace("\\", "/")
    shown = raw if len(raw) <= 60 else raw[:40] + "..."
    if len(raw.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise ScenarioError(
            f"{where}: entry {shown!r} has a name of {len(raw)} characters; at most {MAX_NAME_BYTES} bytes"
        )
    if name.startswith("/") or _DRIVE.match(name):
        raise ScenarioError(f"{where}: entry {raw!r} has an absolute path; an upload may only hold relative paths")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if ".." in parts:
        raise ScenarioError(f"{where}: entry {raw!r} points outside the upload ('..' in its path)")
    if any("\0" in p for p in parts):
        raise ScenarioError(f"{where}: entry {raw!r} has an invalid name")
    return parts


def _check_directory(data: bytes, where: str) -> None:
    """Refuse an archive whose end record declares too many entries, before :mod:`zipfile` reads them."""
    found = _directory_size(data)
    if found is None:
        raise ScenarioError(f"{where}: not a zip file (upload a .zip with the scenario YAML and its CSV files)")
    entries, size = found
    if entries > MAX_ENTRIES:
        raise ScenarioError(f"{where}: {entries} entries; an upload may hold at most {MAX_ENTRIES}")
    if size > MAX_DIRECTORY_BYTES:
        raise ScenarioError(
            f"{where}: its table of contents takes {size:,} bytes, more than {MAX_ENTRIES} entries can need"
        )


def _plan(archive: zipfile.ZipFile, where: str) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """The entries to write, every name, size and kind checked; nothing is written yet."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ScenarioError(f"{where}: {len(infos)} entries; an upload may hold at most {MAX_ENTRIES}")
    plan: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
    declared = 0
    files: dict[str, str] = {}  # lower-case path -> entry name
    folders: dict[str, str] = {}  # lower-case folder path -> an entry inside it
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
        if key in files:
            raise ScenarioError(f"{where}: entry {info.filename!r} appears twice")
        files[key] = info.filename
        for i in range(1, len(parts)):
            folders.setdefault("/".join(parts[:i]).lower(), info.filename)
        declared += info.file_size
        if declared > MAX_UNPACKED_BYTES:
            raise ScenarioError(f"{where}: unpacks to more than {MAX_UNPACKED_BYTES >> 20} MB")
        plan.append((info, parts))
    for key, inner in folders.items():
        if key in files:
            raise ScenarioError(
                f"{where}: entry {files[key]!r} is a file, but entry {inner!r} needs a folder of that name"
            )
    return plan


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
        Naming the upload and, where there is one, the offending entry (never a
        path on this machine). Whatever was written before the refusal is removed.
    """
    where = name
    if len(data) > MAX_UPLOAD_BYTES:
        raise ScenarioError(f"{where}: {len(data) / 2**20:.1f} MB is larger than the {MAX_UPLOAD_BYTES >> 20} MB limit")
    _check_directory(data, where)
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise ScenarioError(
            f"{where}: not a zip file (upload a .zip with the scenario YAML and its CSV files)"
        ) from None
    with archive:
        plan = _plan(archive, where)
        yamls = [parts for info, parts in plan if parts[-1].lower().endswith(YAML_SUFFIXES)]
        if not yamls:
            raise ScenarioError(f"{where}: no scenario YAML (.yaml) in the zip")
        if len(yamls) > 1:
            listed = ", ".join("/".join(p) for p in yamls[:4])
            raise ScenarioError(f"{where}: holds {len(yamls)} YAML files ({listed}); upload one scenario per zip")
        root = Path(dest)
        made_root = not root.exists()
        before = set() if made_root else {p.name for p in root.iterdir()}
        try:
            root.mkdir(parents=True, exist_ok=True)
            _write_entries(archive, plan, root, where)
        except BaseException:
            if made_root:
                shutil.rmtree(root, ignore_errors=True)
            else:
                for p in root.iterdir():
                    if p.name in before:
                        continue
                    if p.is_dir() and not p.is_symlink():
                        shutil.rmtree(p, ignore_errors=True)
                    else:
                        p.unlink(missing_ok=True)
            raise
    return root.joinpath(*yamls[0])


def _write_entries(archive: zipfile.ZipFile, plan, root: Path, where: str) -> None:
    real_root = root.resolve()
    written = 0
    for info, parts in plan:
        try:
            target = root.joinpath(*parts)
            if real_root not in target.resolve().parents:
                raise ScenarioError(f"{where}: entry {info.filename!r} points outside the upload")
            target.parent.mkdir(parents=True, exist_ok=True)
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
        except OSError as exc:  # the message names the entry, never this machine's paths
            raise ScenarioError(
                f"{where}: entry {info.filename!r} cannot be unpacked ({exc.strerror or type(exc).__name__})"
            ) from None
