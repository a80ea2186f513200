"""The job runtime folder (jobs.md §5.2): built once, atomically, named after the engine sources it holds."""

from __future__ import annotations

import os
import stat
import subprocess
import threading

from sandbox_helpers import JOB_PYTHON

from ade_engine.jobs import runtime_site


def test_runtime_is_built_once_with_only_the_job_process_code(tmp_path):
    first = runtime_site.ensure_runtime(tmp_path)
    assert first.parent == tmp_path / "runtime" and first.name.startswith("1.") and first.name == runtime_site.runtime_id()
    site = first / "site"
    engine = sorted(p.name for p in (site / "ade_engine").iterdir() if p.name != "__pycache__")
    assert engine == ["__init__.py", "detect", "errors.py", "manifest", "runtime"]
    # Bytecode is compiled once at build time (jobs run with -B and cannot write it).
    assert list((site / "ade_engine" / "runtime" / "__pycache__").glob("pipeline.cpython-*.pyc"))
    assert not (site / "sqlalchemy").exists() and not (site / "textual").exists()
    mtime = (first / runtime_site.BOOTSTRAP_NAME).stat().st_mtime_ns
    assert runtime_site.ensure_runtime(tmp_path) == first
    assert (first / runtime_site.BOOTSTRAP_NAME).stat().st_mtime_ns == mtime
    for dirpath, dirnames, filenames in os.walk(first):  # readable by a job user, writable only by us
        assert stat.S_IMODE(os.stat(dirpath).st_mode) == 0o755
        for f in filenames:
            assert stat.S_IMODE(os.stat(os.path.join(dirpath, f)).st_mode) == 0o644
    assert not [p for p in (tmp_path / "runtime").iterdir() if p.name.startswith(".build-")]


def test_concurrent_first_starts_build_one_runtime(tmp_path):
    results = []
    threads = [threading.Thread(target=lambda: results.append(runtime_site.ensure_runtime(tmp_path))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert [p.name for p in (tmp_path / "runtime").iterdir() if not p.name.startswith(".")] == [results[0].name]


def test_a_changed_engine_source_gets_a_new_runtime(tmp_path, monkeypatch):
    before = runtime_site.runtime_id()
    original = runtime_site.engine_files

    def changed():
        files = original()
        extra = tmp_path / "extra.py"
        extra.write_text("X = 1\n")
        return files + [("ade_engine/runtime/extra.py", extra)]

    monkeypatch.setattr(runtime_site, "engine_files", changed)
    assert runtime_site.runtime_id() != before


def test_the_job_interpreter_imports_the_engine_and_readers_from_the_site_only(tmp_path):
    rt = runtime_site.ensure_runtime(tmp_path)
    code = ("import sys; sys.path.append(sys.argv[1]); import ade_engine.runtime.pipeline, openpyxl, xlsxwriter, "
            "python_calamine_plus, pyseccomp, defusedxml.ElementTree; print(ade_engine.__file__)")
    argv = runtime_site.spawn_argv(JOB_PYTHON, rt)[:-1] + ["-c", code, str(rt / "site")]
    proc = subprocess.run(argv, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(rt / "site" / "ade_engine" / "__init__.py")
