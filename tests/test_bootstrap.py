"""The job process's start-up and exit contract (jobs.md §5.3), driven through the real launcher.

A stand-in `run_pipeline` (written per test) replaces the real pipeline inside the child, so each test
shows one behaviour of the bootstrap: limits, cancel, lifeline, redaction, network stubs, exit codes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ade_engine.jobs.finalize import finalize
from ade_engine.jobs.launcher import launch
from ade_engine.jobs.outcome import OperatorLimits

FAST = OperatorLimits(grace_s=1.0, rss_poll_s=0.2)
WRAPPER = textwrap.dedent("""
    import sys, types
    path = sys.argv[1]
    mod = types.ModuleType("ade_engine.runtime.pipeline")
    exec(compile(open(path).read(), path, "exec"), mod.__dict__)
    sys.modules[mod.__name__] = mod
    from ade_engine.runtime.bootstrap import main
    sys.exit(main())
""")
OK = 'def ok(**stats):\n    return {"schema": "ade.run_result/v1", "status": "succeeded", "error": None, "stats": {"rows_written": 0, "tables": 0, "issues_found": 0}, "duration_ms": 1}\n'


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    job = tmp_path / "job"
    for sub in ("logs", "tmp", "config", "inputs"):
        (job / sub).mkdir(parents=True)
    (job / "config" / "manifest.json").write_text("{}")
    (job / "inputs" / "01_in.csv").write_text("a,b\n1,2\n")
    return job


def request(job_dir: Path, **limits) -> dict:
    return {
        "schema": "ade.run_request/v1", "job_id": "01JOBBOOT", "attempt": 1, "trace_id": "t-1",
        "job_dir": str(job_dir), "config_dir": str(job_dir / "config"), "sandbox_level": "reduced",
        "runtime_network_access": False, "config_version_id": "draft:abc", "config_id": "pkg",
        "input": {"document_id": None, "filename": "in.csv", "sha256": "0" * 64,
                  "path": str(job_dir / "inputs" / "01_in.csv"), "format": "csv"},
        "limits": {"timeout_s": 30, "cpu_seconds": 35, "memory_mb": 512, "fsize_mb": 100, "nofile": 256, **limits},
    }


def run_job(job_dir: Path, pipeline_src: str, *, secrets=None, cancel_check=None, **limits):
    stub = job_dir.parent / "stub_pipeline.py"
    stub.write_text(OK + textwrap.dedent(pipeline_src))
    req = request(job_dir, **limits)
    cmd = [sys.executable, "-s", "-P", "-B", "-X", "utf8", "-c", WRAPPER, str(stub)]
    out = launch(job_dir, req, secrets or {}, limits=FAST, command=cmd, cancel_check=cancel_check)
    return out, req


def result(job_dir: Path) -> dict:
    return json.loads((job_dir / "result.json").read_text())


def test_success_writes_result_and_worker_ready(job_dir):
    out, _ = run_job(job_dir, """
        import os, resource
        def run_pipeline(request, secrets, job_dir, cancel):
            assert os.getcwd() == str(job_dir)
            assert oct(os.umask(0o077)) == "0o77"
            assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 256
            assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)
            assert request["sandbox_level"] == "reduced" and "seccomp" in request["sandbox_missing"]
            assert "secrets" not in request
            return ok()
    """)
    assert out.exit_code == 0, (job_dir / "logs" / "worker.log").read_text()
    assert result(job_dir)["status"] == "succeeded"
    ready = [json.loads(line) for line in (job_dir / "events.ndjson").read_text().splitlines()
             if '"worker.ready"' in line]
    assert ready and ready[0]["detail"]["sandbox_level"] == "reduced"


def test_cancel_flag_from_sigterm_gives_exit_3(job_dir):
    started = job_dir / "started"
    out, req = run_job(job_dir, """
        from pathlib import Path
        def run_pipeline(request, secrets, job_dir, cancel):
            Path(job_dir, "started").write_text("1")
            cancel.wait(30)
            return {"schema": "ade.run_result/v1", "status": "cancelled", "stats": {},
                    "error": {"code": "cancelled", "message": "cancelled", "stage": "structure"}, "duration_ms": 1}
    """, cancel_check=lambda: started.exists())
    assert out.cause == "cancelled" and out.exit_code == 3
    job = finalize(job_dir, out, req)
    assert job.status == "cancelled" and job.error["code"] == "cancelled"


def test_memory_error_under_rlimit_as_is_memory_limit(job_dir):
    out, _ = run_job(job_dir, """
        def run_pipeline(request, secrets, job_dir, cancel):
            blob = bytearray(2 * 1024 * 1024 * 1024)
            return ok()
    """, memory_mb=256)
    assert out.exit_code == 4
    assert result(job_dir)["error"]["code"] == "memory_limit"


def test_file_size_limit_is_efbig_not_a_signal(job_dir):
    out, _ = run_job(job_dir, """
        def run_pipeline(request, secrets, job_dir, cancel):
            with open(job_dir / "normalized.xlsx.partial", "wb") as fh:
                fh.write(b"x" * (3 * 1024 * 1024))
            return ok()
    """, fsize_mb=1)
    assert out.exit_code == 4 and out.signal is None
    assert result(job_dir)["error"]["code"] == "file_size_limit"


def test_cpu_limit_from_sigxcpu(job_dir):
    out, _ = run_job(job_dir, """
        def run_pipeline(request, secrets, job_dir, cancel):
            n = 0
            while not cancel.is_set():
                n += 1
            return {"schema": "ade.run_result/v1", "status": "cancelled", "stats": {},
                    "error": {"code": "cancelled", "message": "cancelled", "stage": "structure"}, "duration_ms": 1}
    """, cpu_seconds=1)
    assert out.exit_code == 4
    assert result(job_dir)["error"]["code"] == "cpu_limit"


def test_network_is_stubbed_and_output_redacted(job_dir):
    out, _ = run_job(job_dir, """
        import socket, sys
        def run_pipeline(request, secrets, job_dir, cancel):
            print("the token", secrets["API_TOKEN"])
            print("stderr too", secrets["API_TOKEN"], file=sys.stderr)
            try:
                socket.create_connection(("127.0.0.1", 9))
            except PermissionError as exc:
                raise RuntimeError(f"{exc} (token {secrets['API_TOKEN']})")
            return ok()
    """, secrets={"API_TOKEN": "tok-1234567890"})
    assert out.exit_code == 1
    err = result(job_dir)["error"]
    assert err["code"] == "pipeline_error"
    assert "network access is disabled for this job" in err["message"]
    assert "tok-1234567890" not in json.dumps(result(job_dir))
    log = (job_dir / "logs" / "worker.log").read_text()
    assert "tok-1234567890" not in log and log.count("[redacted:API_TOKEN]") >= 2


def test_config_invalid_exits_2(job_dir):
    out, _ = run_job(job_dir, """
        from ade_engine.errors import ConfigInvalid
        def run_pipeline(request, secrets, job_dir, cancel):
            raise ConfigInvalid("columns/sku.py has no detect_* function")
    """)
    assert out.exit_code == 2
    assert result(job_dir)["error"] == {"code": "config_invalid", "stage": "start",
                                        "message": "columns/sku.py has no detect_* function"}


def test_kill_9_mid_write_never_exposes_the_output(job_dir):
    """The child is SIGKILLed while writing; finalization hides what it left behind."""
    out, req = run_job(job_dir, """
        import os, time
        def run_pipeline(request, secrets, job_dir, cancel):
            (job_dir / "normalized.xlsx.partial").write_bytes(b"half")
            (job_dir / "normalized.xlsx").write_bytes(b"whole?")
            os.kill(os.getpid(), 9)
    """)
    assert out.signal == signal.SIGKILL
    job = finalize(job_dir, out, req)
    assert job.status == "failed" and job.error["code"] == "worker_crash"
    assert "SIGKILL" in job.error["message"]
    assert not (job_dir / "normalized.xlsx").exists() and not (job_dir / "normalized.xlsx.partial").exists()
    assert (job_dir / "normalized.incomplete.xlsx").read_bytes() == b"whole?"
    art = json.loads((job_dir / "artifact.json").read_text())
    assert art["job"]["status"] == "failed" and art["error"]["code"] == "worker_crash"
    assert art["job"]["job_id"] == "01JOBBOOT" and art["config"]["config_version_id"] == "draft:abc"
    assert not (job_dir / "tmp").exists() and (job_dir / "inputs").exists()
    names = [json.loads(line)["event"] for line in (job_dir / "events.ndjson").read_text().splitlines()]
    assert names[-3:] == ["exit", "error", "cleanup"]


def test_lifeline_ends_the_job_when_the_parent_dies(job_dir, tmp_path):
    """A parent killed with SIGKILL leaves no job process behind (parent-death signal + stdin EOF)."""
    stub = tmp_path / "stub_pipeline.py"
    stub.write_text(textwrap.dedent("""
        import os
        from pathlib import Path
        def run_pipeline(request, secrets, job_dir, cancel):
            Path(job_dir, "child.pid").write_text(str(os.getpid()))
            cancel.wait(60)
            return {"schema": "ade.run_result/v1", "status": "cancelled", "stats": {},
                    "error": {"code": "cancelled", "message": "parent gone", "stage": "start"}, "duration_ms": 1}
    """))
    parent_src = textwrap.dedent(f"""
        import json, sys
        from ade_engine.jobs.launcher import launch
        req = json.loads({json.dumps(json.dumps(request(job_dir)))})
        cmd = [sys.executable, "-s", "-P", "-B", "-c", {WRAPPER!r}, {str(stub)!r}]
        launch({str(job_dir)!r}, req, {{}}, command=cmd)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_src])
    pid_file = job_dir / "child.pid"
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    child = int(pid_file.read_text())
    parent.kill()
    parent.wait()
    import psutil

    try:
        proc = psutil.Process(child)
        proc.wait(timeout=20)
    except psutil.NoSuchProcess:
        pass
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_standard_level_confines_the_job_before_the_pipeline_runs(job_dir, tmp_path):
    from ade_engine.jobs.sandbox import probe

    if not probe().available("standard"):
        pytest.skip("Landlock + seccomp not available on this machine")
    outside = tmp_path / "outside.txt"
    stub = tmp_path / "stub_pipeline.py"
    stub.write_text(OK + textwrap.dedent(f"""
        def run_pipeline(request, secrets, job_dir, cancel):
            try:
                open({str(outside)!r}, "w").write("escaped")
            except PermissionError:
                pass
            (job_dir / "inside.txt").write_text("ok")
            assert request["sandbox_level"] == "standard" and request["sandbox_missing"] == ["bubblewrap"]
            return ok()
    """))
    req = {**request(job_dir), "sandbox_level": "standard"}
    cmd = [sys.executable, "-s", "-P", "-B", "-X", "utf8", "-c", WRAPPER, str(stub)]
    out = launch(job_dir, req, {}, limits=FAST, command=cmd)
    assert out.exit_code == 0, (job_dir / "logs" / "worker.log").read_text()
    assert not outside.exists() and (job_dir / "inside.txt").read_text() == "ok"


def test_redacting_writer_never_lets_a_value_through_split_writes():
    import io

    from ade_engine.runtime.bootstrap import RedactingWriter
    from ade_engine.runtime.redact import Redactor

    sink = io.StringIO()
    w = RedactingWriter(sink, Redactor({"K": "value-0123456789"}), keep=len("value-0123456789"))
    w.write("a" * 70000 + "value-01")  # over-long line: flushed in a window, the value's start held back
    w.write("23456789 and value-0123456789 again\n")
    w.write("tail value-0123456789")
    w.flush()
    assert "value-0123456789" not in sink.getvalue()
    assert sink.getvalue().count("[redacted:K]") == 3
