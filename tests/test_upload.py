"""Uploaded zips are not trusted: names, links, sizes and the files the YAML may name."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest
import yaml

import gridopt
from gridopt.errors import ScenarioError
from gridopt.io import upload
from gridopt.io.save import scenario_zip
from gridopt.io.upload import unpack_scenario_zip

ROOT = Path(__file__).resolve().parents[1]


def make_zip(entries: dict[str, bytes], *, links: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in links:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def good_zip() -> bytes:
    return scenario_zip(gridopt.load_scenario(ROOT / "scenarios" / "workplace_acn.yaml"))


def test_a_good_zip_unpacks_and_loads_confined(good_zip, tmp_path):
    path = unpack_scenario_zip(good_zip, tmp_path)
    assert path == tmp_path / "workplace-acn" / "workplace-acn.yaml"
    assert gridopt.load_scenario(path, confine=True).name == "workplace-acn"


def test_archiver_junk_is_ignored(good_zip, tmp_path):
    z = zipfile.ZipFile(io.BytesIO(good_zip))
    entries = {n: z.read(n) for n in z.namelist()}
    entries["__MACOSX/workplace-acn/._workplace-acn.yaml"] = b"junk"
    entries["workplace-acn/.DS_Store"] = b"junk"
    path = unpack_scenario_zip(make_zip(entries), tmp_path)
    assert path.name == "workplace-acn.yaml" and not (tmp_path / "__MACOSX").exists()


@pytest.mark.parametrize(
    "name, message",
    [
        ("../evil.csv", r"'\.\./evil\.csv' points outside the upload"),
        ("data/../../evil.csv", "points outside the upload"),
        ("/etc/passwd", "absolute path"),
        ("C:/Windows/evil.csv", "absolute path"),
        ("..\\..\\evil.csv", "points outside the upload"),
    ],
)
def test_entries_that_leave_the_folder_are_rejected_before_anything_is_written(name, message, tmp_path):
    data = make_zip({"s.yaml": b"name: x", name: b"x"})
    with pytest.raises(ScenarioError, match=message):
        unpack_scenario_zip(data, tmp_path / "dest", name="mine.zip")
    assert not (tmp_path / "dest").exists()
    assert not (tmp_path / "evil.csv").exists()


def test_links_are_rejected(tmp_path):
    data = make_zip({"s.yaml": b"name: x", "data/v.csv": b"/etc/passwd"}, links=("data/v.csv",))
    with pytest.raises(ScenarioError, match="is a link"):
        unpack_scenario_zip(data, tmp_path)


def test_a_zip_bomb_is_rejected_by_its_unpacked_size(tmp_path):
    zeros = bytes(upload.MAX_UNPACKED_BYTES + 1)  # compresses to about 100 kB
    data = make_zip({"s.yaml": b"name: x", "big.csv": zeros})
    assert len(data) < upload.MAX_UPLOAD_BYTES
    with pytest.raises(ScenarioError, match="unpacks to more than 100 MB"):
        unpack_scenario_zip(data, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_sizes_are_counted_while_unpacking_too(tmp_path, monkeypatch):
    data = make_zip({"s.yaml": b"name: x", "a.csv": bytes(3000)})
    # an entry whose header understates its size: simulate by trusting headers less than the stream
    monkeypatch.setattr(upload, "MAX_UNPACKED_BYTES", 4000)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert sum(i.file_size for i in z.infolist()) < 4000
    real_infolist = zipfile.ZipFile.infolist

    def lying(self):
        infos = real_infolist(self)
        for i in infos:
            i.file_size = 1
        return infos

    monkeypatch.setattr(zipfile.ZipFile, "infolist", lying)
    monkeypatch.setattr(upload, "MAX_UNPACKED_BYTES", 1000)
    with pytest.raises(ScenarioError):  # either the counter or zipfile's own size check stops it
        unpack_scenario_zip(data, tmp_path)


def test_too_big_too_many_not_a_zip_and_yaml_count(tmp_path, monkeypatch):
    with pytest.raises(ScenarioError, match="mine.zip: not a zip file"):
        unpack_scenario_zip(b"name: x\n", tmp_path / "a", name="mine.zip")
    with pytest.raises(ScenarioError, match="no scenario YAML"):
        unpack_scenario_zip(make_zip({"v.csv": b"x"}), tmp_path / "b")
    with pytest.raises(ScenarioError, match="holds 2 YAML files"):
        unpack_scenario_zip(make_zip({"a.yaml": b"x", "b/c.yml": b"y"}), tmp_path / "c")
    monkeypatch.setattr(upload, "MAX_ENTRIES", 3)
    with pytest.raises(ScenarioError, match="4 entries"):
        unpack_scenario_zip(make_zip({f"{i}.csv": b"x" for i in range(4)}), tmp_path / "d")
    monkeypatch.setattr(upload, "MAX_UPLOAD_BYTES", 10)
    with pytest.raises(ScenarioError, match="larger than"):
        unpack_scenario_zip(make_zip({"a.yaml": b"x"}), tmp_path / "e")


def test_the_yaml_may_only_name_files_inside_the_upload(good_zip, tmp_path):
    z = zipfile.ZipFile(io.BytesIO(good_zip))
    entries = {n: z.read(n) for n in z.namelist()}
    cfg = yaml.safe_load(entries["workplace-acn/workplace-acn.yaml"])
    for bad in ("../../../../etc/passwd", "/etc/passwd"):
        cfg["fleet"]["vehicles"] = bad
        entries["workplace-acn/workplace-acn.yaml"] = yaml.safe_dump(cfg).encode()
        path = unpack_scenario_zip(make_zip(entries), tmp_path / str(abs(hash(bad))))
        with pytest.raises(ScenarioError, match="points outside the scenario's folder"):
            gridopt.load_scenario(path, confine=True)


def test_yaml_is_parsed_safely(tmp_path):
    evil = b"name: !!python/object/apply:os.system ['echo pwned > pwned.txt']\n"
    path = unpack_scenario_zip(make_zip({"s.yaml": evil}), tmp_path)
    with pytest.raises(ScenarioError):
        gridopt.load_scenario(path, confine=True)
    assert not Path("pwned.txt").exists() and not (tmp_path / "pwned.txt").exists()
