"""The parent side of a job: real child processes, scrubbed environment, limits, cancel, log capture."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from ade_engine.jobs.launcher import build_child_env, launch
from ade_engine.jobs.outcome import OperatorLimits

FAST = OperatorLimits(grace_s=0.5, rss_poll_s=0.1)


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    job = tmp_path / "job"
    for sub in ("logs", "tmp", "config"):
        (job / sub).mkdir(parents=True)
    (job / "config" / "manifest.json").write_text(json.dumps({"env": {"CURRENCY": "CAD", "LD_PRELOAD": "x"}}))
    return job


def request(job_dir: Path, **limits) -> dict:
    return {
        "job_id": "01JOBTEST", "attempt": 1, "trace_id": "trace-1", "runtime_network_access": False,
        "config_dir": str(job_dir / "config"),
        "limits": {"timeout_s": 30, "cpu_seconds": 35, "memory_mb": 256, "fsize_mb": 100, "nofile": 256, **limits},
    }


def run(job_dir: Path, script: str, *, secrets=None, limits=FAST, **kw):
    req = kw.pop("req", None) or request(job_dir, **kw.pop("job_limits", {}))
    cmd = [sys.executable, "-c", script]
    return launch(job_dir, req, secrets or {}, limits=limits, command=cmd, **kw)


def events(job_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (job_dir / "events.ndjson").read_text().splitlines()]


def alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_child_sees_only_the_scrubbed_environment(job_dir, monkeypatch):
    monkeypatch.setenv("ADE_DATABASE_URL", "postgresql://user:pw@db/ade")
    monkeypatch.setenv("AWS_SECRET", "not-for-jobs")
    script = "import os, json; open('env.json', 'w').write(json.dumps(dict(os.environ)))"
    out = run(job_dir, script)
    assert out.exit_code == 0
    env = json.loads((job_dir / "env.json").read_text())
    tmp = str(job_dir.resolve() / "tmp")
    assert env == {
        "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC", "PYTHONHASHSEED": "0",
        "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "HOME": tmp, "TMPDIR": tmp,
        "ADE_JOB_ID": "01JOBTEST", "ADE_JOB_DIR": str(job_dir.resolve()), "ADE_TRACE_ID": "trace-1",
        "ADE_NETWORK": "0", "CURRENCY": "CAD",
    }


def test_manifest_env_cannot_override_the_fixed_variables(tmp_path):
    env = build_child_env(tmp_path, {"job_id": "J"}, {"PATH": "/evil", "ADE_JOB_ID": "x", "PYTHONPATH": "/x", "ok": "1"})
    assert env["PATH"] == "/usr/bin:/bin" and env["ADE_JOB_ID"] == "J" and "PYTHONPATH" not in env
    assert env["ok"] == "1"


def test_secret_goes_over_stdin_and_is_redacted_in_the_log(job_dir):
    script = (
        "import sys, json\n"
        "doc = json.loads(sys.stdin.readline())\n"
        "token = doc['secrets']['TOKEN']\n"
        "print('token is', token)\n"
        "for n in (65530, 65536, 131060, 200000):\n"  # values placed across window edges
        "    sys.stderr.write('x' * n + token + 'y' * 10 + chr(10)); sys.stderr.flush()\n"
    )
    out = run(job_dir, script, secrets={"TOKEN": "s3cr3t-value-42"})
    assert out.exit_code == 0
    log = (job_dir / "logs" / "worker.log").read_text()
    assert "s3cr3t-value-42" not in log
    assert log.count("[redacted:TOKEN]") == 5
    assert "s3cr3t" not in (job_dir / "events.ndjson").read_text()
    assert {"names": ["TOKEN"]} in [e.get("detail") for e in events(job_dir)]


def test_wall_clock_timeout_terminates_the_group(job_dir):
    out = run(job_dir, "import time; time.sleep(60)", job_limits={"timeout_s": 1})
    assert out.cause == "timeout" and out.timed_out
    assert out.signal == signal.SIGTERM
    names = [e["event"] for e in events(job_dir)]
    assert names == ["start", "worker.spawn", "worker.timeout", "worker.exit"]
    assert events(job_dir)[-1]["detail"] == {"exit_code": None, "signal": signal.SIGTERM, "timed_out": True}


def test_cancel_kills_a_child_that_ignores_sigterm_and_its_grandchild(job_dir):
    script = (
        "import signal, subprocess, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "p = subprocess.Popen(['sleep', '100'])\n"
        "open('grandchild.pid', 'w').write(str(p.pid))\n"
        "time.sleep(100)\n"
    )
    marker = job_dir / "grandchild.pid"
    out = run(job_dir, script, cancel_check=lambda: marker.exists() and marker.read_text() and "user")
    assert out.cause == "cancelled" and out.cancel_source == "user"
    assert out.signal == signal.SIGKILL  # SIGTERM was ignored; SIGKILL came after the grace period
    assert not alive(int(marker.read_text()))
    assert "cancel.requested" in [e["event"] for e in events(job_dir)]


def test_grandchild_holding_the_pipes_does_not_hang_the_parent(job_dir):
    # The child exits at once; `sleep` keeps stdout/stderr open. Waiting on EOF would hang until timeout.
    script = "import subprocess; p = subprocess.Popen(['sleep', '100']); open('gc.pid', 'w').write(str(p.pid)); print('bye')"
    out = run(job_dir, script, job_limits={"timeout_s": 20})
    assert out.exit_code == 0 and out.cause is None
    assert not alive(int((job_dir / "gc.pid").read_text()))
    assert "bye" in (job_dir / "logs" / "worker.log").read_text()


def test_rss_watchdog_kills_a_job_over_its_memory(job_dir):
    script = "import time; b = bytearray(300 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep(60)"
    out = run(job_dir, script, job_limits={"memory_mb": 64})
    assert out.cause == "memory_limit"
    assert out.peak_rss_mb > 64 * 1.1


def test_worker_log_is_capped(job_dir):
    script = "import sys\nfor i in range(40000): print('line %06d ' % i + 'z' * 64)"
    out = run(job_dir, script, limits=OperatorLimits(log_mb=1, grace_s=0.5))
    assert out.exit_code == 0 and out.log_capped
    log = job_dir / "logs" / "worker.log"
    assert log.stat().st_size <= 1024 * 1024 + 200
    assert log.read_text().rstrip().endswith("later output dropped]")


def test_exit_code_and_signal_are_reported(job_dir):
    assert run(job_dir, "import sys; sys.exit(7)").exit_code == 7
    out = run(job_dir, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert out.exit_code is None and out.signal == signal.SIGKILL and out.cause is None


# ----------------------------------------------------------------------------- staging and finalization
from ade_engine.jobs.finalize import finalize, log_tail  # noqa: E402
from ade_engine.jobs.outcome import LaunchOutcome  # noqa: E402
from ade_engine.jobs.staging import safe_name, stage_job_dir, write_run_request  # noqa: E402


def test_safe_name_keeps_only_plain_characters():
    assert safe_name("Q3 prices (final).xlsx") == "01_Q3_prices__final_.xlsx"
    assert safe_name("..hidden.csv") == "01_hidden.csv"
    assert safe_name("../../etc/passwd") == "01_passwd"
    assert safe_name("données.csv", 2) == "02_donn_es.csv"


def test_staging_builds_a_read_only_job_dir(tmp_path):
    src = tmp_path / "My File.csv"
    src.write_text("a,b\n")
    pkg = tmp_path / "pkg"
    (pkg / "columns" / "__pycache__").mkdir(parents=True)
    (pkg / "manifest.json").write_text("{}")
    (pkg / "columns" / "a.py").write_text("x = 1\n")
    (pkg / "columns" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    job = tmp_path / "job"
    staged = stage_job_dir(job, input_path=src, original_name=src.name, config_dir=pkg)
    assert staged == job / "inputs" / "01_My_File.csv" and staged.read_text() == "a,b\n"
    assert not os.access(staged, os.W_OK) or os.geteuid() == 0
    assert not staged.stat().st_mode & 0o222 and not (job / "config" / "columns" / "a.py").stat().st_mode & 0o222
    assert src.stat().st_mode & 0o200  # the user's own file keeps its mode
    assert not (job / "config" / "columns" / "__pycache__").exists()
    assert (job / "tmp").is_dir() and (job / "logs").is_dir()
    write_run_request(job, {"job_id": "J", "secrets": {"TOKEN": "value"}, "secrets_requested": ["TOKEN"]})
    saved = json.loads((job / "run-request.json").read_text())
    assert saved["schema"] == "ade.run_request/v1" and "secrets" not in saved and "value" not in json.dumps(saved)


def _finish(job_dir: Path, result: dict | None, **launch) -> object:
    if result is not None:
        (job_dir / "result.json").write_text(json.dumps({"schema": "ade.run_result/v1", "stats": {}, "duration_ms": 1,
                                                          **result}))
    base = {"pid": 1, "pgid": 1, "exit_code": 0, "signal": None, "cause": None}
    return finalize(job_dir, LaunchOutcome(**{**base, **launch}), request(job_dir))


SUCCESS = {"status": "succeeded", "error": None}
FAILED = {"status": "failed", "error": {"code": "rule_error", "message": "boom", "stage": "mapping"}}


def test_success_with_clean_exit_wins_even_after_a_cancel_request(job_dir):
    (job_dir / "normalized.xlsx").write_bytes(b"PK")
    job = _finish(job_dir, SUCCESS, cause="cancelled")
    assert job.status == "succeeded" and job.output_path == "normalized.xlsx"
    assert (job_dir / "normalized.xlsx").exists() and not (job_dir / "tmp").exists()


def test_parent_cause_wins_over_result_json(job_dir):
    job = _finish(job_dir, FAILED, exit_code=None, signal=15, cause="timeout", timed_out=True)
    assert job.status == "failed" and job.error["code"] == "timeout" and "30 s" in job.error["message"]


def test_result_json_wins_over_exit_code(job_dir):
    job = _finish(job_dir, FAILED, exit_code=1)
    assert job.error == {"code": "rule_error", "message": "boom", "stage": "mapping",
                         "hint": "See rule_errors and the log tail."}


def test_no_result_is_a_worker_crash_with_the_log_tail(job_dir):
    (job_dir / "logs" / "worker.log").write_text("".join(f"line {i}\n" for i in range(200)))
    job = _finish(job_dir, None, exit_code=139)
    assert job.error["code"] == "worker_crash" and "code 139" in job.error["message"]
    assert job.log_tail.splitlines() == [f"line {i}" for i in range(150, 200)]
    assert json.loads((job_dir / "artifact.json").read_text())["job"]["status"] == "failed"


def test_log_tail_is_bounded_in_bytes(job_dir):
    (job_dir / "logs" / "worker.log").write_text("x" * 20000 + "\nlast\n")
    assert log_tail(job_dir) == "last"


def test_a_failing_cancel_callback_does_not_leave_the_job_running(job_dir):
    script = "import os, time; open('child.pid', 'w').write(str(os.getpid())); time.sleep(60)"
    pid_file = job_dir / "child.pid"

    def broken():
        if pid_file.exists() and pid_file.read_text():
            raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        run(job_dir, script, cancel_check=broken)
    assert not alive(int(pid_file.read_text()))
