"""Unsafe package archives are refused with a clear error before anything is written."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
from example_package import write_example_package

from ade_engine.errors import AdeError
from ade_engine.packages import archive
from ade_engine.packages.archive import ArchiveLimits, UnsafeArchive
from ade_engine.services import configs

MANIFEST = b'{"config_script_api_version": "1"}'


def _zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]], compression=zipfile.ZIP_DEFLATED) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for info, data in members:
            zf.writestr(info, data)
    path.write_bytes(buf.getvalue())
    return path


def _symlink_member(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


CASES = {
    "traversal": ([("manifest.json", MANIFEST), ("../evil.py", b"x")], "path traversal"),
    "nested_traversal": ([("manifest.json", MANIFEST), ("columns/../../evil.py", b"x")], "path traversal"),
    "absolute": ([("manifest.json", MANIFEST), ("/etc/cron.d/evil", b"x")], "absolute path"),
    "drive": ([("manifest.json", MANIFEST), ("C:/evil.py", b"x")], "absolute path"),
    "backslash": ([("manifest.json", MANIFEST), ("columns\\..\\..\\evil.py", b"x")], "path traversal"),
    "backslash_plain": ([("manifest.json", MANIFEST), ("columns\\evil.py", b"x")], "unsafe path"),
    "symlink": ([("manifest.json", MANIFEST), (_symlink_member("columns/link.py", "/etc/passwd"), b"/etc/passwd")],
                "symlink"),
    "duplicate": ([("manifest.json", MANIFEST), ("manifest.json", MANIFEST)], "duplicate member"),
    "oversized": ([("manifest.json", MANIFEST), ("big.py", b"#" * 2_000_000)], "member too large"),
    "bomb": ([("manifest.json", MANIFEST), ("columns/bomb.py", b"\0" * 900_000)], "over-compressed"),
    "too_many": ([("manifest.json", MANIFEST)] + [(f"columns/f{i}.py", b"x") for i in range(30)], "too many files"),
    "too_large_total": ([("manifest.json", MANIFEST)] + [(f"columns/f{i}.py", os.urandom(400_000)) for i in range(5)],
                        "package too large"),
}
LIMITS = ArchiveLimits(max_files=20, max_total_bytes=1_500_000, max_member_bytes=1_000_000, max_ratio=100)


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", sorted(CASES))
def test_unsafe_archive_is_refused_and_nothing_written(tmp_path, case):
    members, reason = CASES[case]
    source = _zip(tmp_path / f"{case}.zip", members)
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchive) as err:
        archive.extract_zip(source, dest, LIMITS)
    assert err.value.code == "archive_unsafe"
    assert reason in err.value.message and f"{case}.zip" in err.value.message
    assert err.value.details["reason"].startswith(reason)
    assert not dest.exists() or not any(dest.rglob("*"))
    assert not (tmp_path / "evil.py").exists()


def test_service_import_refuses_unsafe_zip_and_records_nothing(workspace, tmp_path, settings):
    source = _zip(tmp_path / "evil.zip", [("manifest.json", MANIFEST), ("../../escape.py", b"x")])
    before = configs.list_configs(workspace, include_archived=True)
    with pytest.raises(AdeError) as err:
        configs.import_package(workspace, source)
    assert err.value.code == "archive_unsafe"
    assert configs.list_configs(workspace, include_archived=True) == before
    assert not (settings.configs_dir / "evil").exists() or not any((settings.configs_dir / "evil").iterdir())
    assert not (settings.data_dir / "escape.py").exists()


def test_member_larger_than_its_header_claims_is_caught(tmp_path):
    source = _zip(tmp_path / "liar.zip", [("manifest.json", MANIFEST), ("columns/a.py", b"A" * 5000)])
    raw = bytearray(source.read_bytes())
    # Patch the declared uncompressed size (local header and central directory) down to 10 bytes.
    with zipfile.ZipFile(source) as zf:
        info = zf.getinfo("columns/a.py")
    for offset in (info.header_offset + 22,):
        raw[offset:offset + 4] = (10).to_bytes(4, "little")
    cd = raw.rfind(b"PK\x01\x02", 0, len(raw))
    raw[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    source.write_bytes(bytes(raw))
    with pytest.raises(AdeError) as err:
        archive.extract_zip(source, tmp_path / "out")
    assert err.value.code in ("archive_unsafe", "archive_invalid") and "columns/a.py" in err.value.message


def test_folder_with_symlink_is_refused(tmp_path):
    pkg = write_example_package(tmp_path / "pkg")
    (pkg / "columns" / "link.py").symlink_to("/etc/passwd")
    with pytest.raises(UnsafeArchive) as err:
        archive.copy_folder(pkg, tmp_path / "out")
    assert "symlink" in err.value.message and "columns/link.py" in err.value.message


def test_not_a_zip_is_a_clear_error(tmp_path):
    bogus = tmp_path / "bogus.zip"
    bogus.write_text("hello")
    with pytest.raises(AdeError) as err:
        archive.extract_zip(bogus, tmp_path / "out")
    assert err.value.code == "archive_invalid" and "not a zip" in err.value.message


def test_export_is_deterministic_and_skips_caches(tmp_path):
    pkg = write_example_package(tmp_path / "pkg")
    (pkg / "columns" / "__pycache__").mkdir()
    (pkg / "columns" / "__pycache__" / "sku.cpython-311.pyc").write_bytes(b"junk")
    one = archive.zip_package_bytes(pkg)
    os.utime(pkg / "manifest.json", (0, 0))
    (pkg / "columns" / "sku.py").chmod(0o600)
    assert archive.zip_package_bytes(pkg) == one
    with zipfile.ZipFile(io.BytesIO(one)) as zf:
        names = zf.namelist()
    assert names == sorted(names) and not any("__pycache__" in n for n in names)
    out = tmp_path / "back"
    archive.extract_zip(_write(tmp_path / "pkg.zip", one), out)
    assert archive.zip_package_bytes(out) == one


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
