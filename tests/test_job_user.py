"""Security of a real job process: the runtime site, the job user (as root) and the `standard` level.

Each test stages a job whose `on_job_start` hook tries something, then runs it through the real launcher
and bootstrap (`<python> -s -S -P ... ade_worker_bootstrap.py`). As root, the job runs as `nobody`.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from sandbox_helpers import IS_ROOT, JOB_PYTHON, JOB_USER
from pkgfactory import make_request, write_csv, write_package

from ade_engine.jobs.launcher import launch
from ade_engine.jobs.outcome import OperatorLimits
from ade_engine.jobs.sandbox import probe
from ade_engine.jobs.staging import stage_job_dir
from ade_engine.settings import isolated_settings

REPORT = probe()
needs_standard = pytest.mark.skipif(not REPORT.available("standard"), reason="Landlock + seccomp not available here")
FAST = OperatorLimits(grace_s=1.0, rss_poll_s=0.2)

PROBE_HEAD = '''
import json, os, sys
def record(**found):
    path = os.path.join(os.environ["ADE_JOB_DIR"], "probe.json")
    data = json.load(open(path)) if os.path.exists(path) else {}
    data.update(found)
    with open(path, "w") as fh:
        json.dump(data, fh)
def attempt(fn):
    try:
        fn()
        return "ok"
    except BaseException as exc:
        return type(exc).__name__ + ":" + str(getattr(exc, "errno", ""))
'''


def run_job(tmp_path: Path, hook_body: str, *, level: str = "standard", limits: dict | None = None,
            operator: OperatorLimits = FAST, cancel_when=None):
    pkg = write_package(tmp_path / "pkg", manifest={"hooks": {"on_job_start": [{"script": "hooks/probe.py"}]}},
                        files={"hooks/probe.py": PROBE_HEAD + textwrap.dedent(hook_body)})
    src = write_csv(tmp_path / "prices.csv", [["SKU", "Unit Price"], ["AB-1234", "3.50"], ["CD-5678", "4.00"]])
    job_dir = tmp_path / "job"
    staged = stage_job_dir(job_dir, input_path=src, original_name=src.name, config_dir=pkg)
    request = make_request(job_dir, staged, job_dir / "config", sandbox_level=level,
                           limits=limits or {})
    settings = isolated_settings(tmp_path / "data", job_user=JOB_USER if IS_ROOT else None,
                                 job_python=JOB_PYTHON, sandbox=level)
    check = (lambda: cancel_when(job_dir)) if cancel_when else None
    out = launch(job_dir, request, {}, limits=operator, settings=settings, cancel_check=check)
    probe_file = job_dir / "probe.json"
    found = json.loads(probe_file.read_text()) if probe_file.exists() else {}
    result = json.loads((job_dir / "result.json").read_text()) if (job_dir / "result.json").exists() else {}
    return out, found, result, job_dir


def test_job_sees_only_the_runtime_site_and_runs_as_the_job_user(tmp_path):
    out, found, result, job_dir = run_job(tmp_path, '''
        def run(**_):
            import importlib
            found = {"uid": os.getuid(), "euid": os.geteuid(), "path": sys.path, "no_site": sys.flags.no_site}
            for name in ("sqlalchemy", "ade_engine.store", "ade_engine.services", "textual", "keyring",
                         "cryptography", "ade_engine.secrets", "psutil"):
                found[name] = attempt(lambda: importlib.import_module(name))
            record(**found)
    ''', level="reduced")
    assert result.get("status") == "succeeded", (result, (job_dir / "logs" / "worker.log").read_text()[-2000:])
    for name in ("sqlalchemy", "ade_engine.store", "ade_engine.services", "textual", "keyring", "cryptography",
                 "ade_engine.secrets", "psutil"):
        assert found[name].startswith("ModuleNotFoundError"), (name, found[name])
    assert found["no_site"] == 1
    site = [p for p in found["path"] if p.endswith("/site")]
    assert len(site) == 1 and "/runtime/" in site[0]
    assert not any("site-packages" in p or "dist-packages" in p for p in found["path"])
    if IS_ROOT:
        assert found["uid"] == found["euid"] == pwd.getpwnam(JOB_USER).pw_uid
        assert os.stat(job_dir / "artifact.json").st_uid == 0  # handed back after the job


@pytest.mark.skipif(not IS_ROOT, reason="the root rule applies only when running as root")
def test_root_without_job_user_spawns_nothing(tmp_path):
    from ade_engine.errors import AdeError

    src = write_csv(tmp_path / "in.csv", [["a"], ["1"]])
    pkg = write_package(tmp_path / "pkg")
    job_dir = tmp_path / "job"
    staged = stage_job_dir(job_dir, input_path=src, original_name=src.name, config_dir=pkg)
    settings = isolated_settings(tmp_path / "data", job_python=JOB_PYTHON)
    with pytest.raises(AdeError) as err:
        launch(job_dir, make_request(job_dir, staged, job_dir / "config"), {}, settings=settings)
    assert err.value.code == "sandbox_unavailable" and "ADE_JOB_USER" in err.value.message
    assert not (job_dir / "result.json").exists()


@pytest.mark.skipif(not IS_ROOT, reason="needs root to have an interpreter the job user cannot run")
def test_job_user_that_cannot_run_the_interpreter_gets_the_fix(tmp_path):
    from ade_engine.errors import AdeError

    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    python = hidden / "python3"
    python.symlink_to(JOB_PYTHON)
    src = write_csv(tmp_path / "in.csv", [["a"], ["1"]])
    job_dir = tmp_path / "job"
    staged = stage_job_dir(job_dir, input_path=src, original_name=src.name, config_dir=write_package(tmp_path / "pkg"))
    settings = isolated_settings(tmp_path / "data", job_user=JOB_USER, job_python=python)
    with pytest.raises(AdeError) as err:
        launch(job_dir, make_request(job_dir, staged, job_dir / "config", sandbox_level="reduced"), {},
               settings=settings)
    assert err.value.code == "sandbox_unavailable"
    assert "ADE_JOB_PYTHON" in err.value.message and str(hidden) in err.value.message


@needs_standard
def test_standard_blocks_writes_outside_network_and_setsid(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    outside.chmod(0o777)  # file modes allow it: only the sandbox says no
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        out, found, result, job_dir = run_job(tmp_path, f'''
            def run(**_):
                import _socket
                def tcp():
                    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
                    s.connect(("127.0.0.1", {port}))
                record(
                    write_outside=attempt(lambda: open({str(outside / "x.txt")!r}, "w").write("x")),
                    write_inside=attempt(lambda: open(os.path.join(os.environ["ADE_JOB_DIR"], "tmp", "x"), "w").write("x")),
                    read_home=attempt(lambda: os.listdir("/root")),
                    tcp=attempt(tcp),
                    udp=attempt(lambda: _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)),
                    unix=attempt(lambda: _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)),
                    setsid=attempt(os.setsid),
                )
        ''')
    finally:
        listener.close()
    assert result.get("status") == "succeeded", result
    assert found["write_inside"] == "ok"
    assert found["write_outside"].startswith("PermissionError")
    assert not (outside / "x.txt").exists()
    assert found["read_home"].startswith("PermissionError")
    for name in ("tcp", "udp", "unix", "setsid"):
        assert found[name].startswith("PermissionError"), (name, found[name])


@needs_standard
def test_a_child_that_tries_setsid_does_not_outlive_cancel(tmp_path):
    import psutil

    def pid_file_written(job_dir: Path):
        return (job_dir / "probe.json").exists() and "child" in json.loads((job_dir / "probe.json").read_text())

    out, found, result, job_dir = run_job(tmp_path, '''
        import time
        def run(**_):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                try:
                    os.setsid()
                    os.write(w, b"escaped")
                except OSError as exc:
                    os.write(w, type(exc).__name__.encode())
                os.close(w)
                time.sleep(120)
                os._exit(0)
            os.close(w)
            record(setsid=os.read(r, 100).decode(), child=pid)
            time.sleep(120)
    ''', cancel_when=pid_file_written)
    assert out.cause == "cancelled"
    assert found["setsid"] == "PermissionError"
    child = found["child"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if psutil.Process(child).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"grandchild {child} outlived the cancel")


def test_memory_and_file_size_limits_apply_in_the_job(tmp_path):
    out, found, result, job_dir = run_job(tmp_path, '''
        def run(**_):
            big = os.path.join(os.environ["ADE_JOB_DIR"], "tmp", "big.bin")
            record(memory=attempt(lambda: bytearray(1024 * 1024 * 1024)),
                   fsize=attempt(lambda: open(big, "wb").write(b"0" * (3 * 1024 * 1024))))
    ''', level="reduced", limits={"memory_mb": 256, "fsize_mb": 1})
    # A script's own MemoryError / EFBIG is contained like any script error; the limits are what matter here.
    assert found["memory"] == "MemoryError:"
    assert found["fsize"] == "OSError:27"  # EFBIG, not a SIGXFSZ death
    assert (job_dir / "tmp" / "big.bin").stat().st_size <= 1024 * 1024


def test_cpu_limit_ends_the_job_with_cpu_limit(tmp_path):
    out, found, result, job_dir = run_job(tmp_path, '''
        def run(**_):
            while True:
                pass
    ''', level="reduced", limits={"cpu_seconds": 1})
    assert (result.get("error") or {}).get("code") == "cpu_limit", result
    assert out.exit_code == 4


def test_open_file_limit_applies_in_the_job(tmp_path):
    out, found, result, job_dir = run_job(tmp_path, '''
        def run(**_):
            handles = []
            def grab():
                while len(handles) < 1000:
                    handles.append(open(os.devnull))
            opened = attempt(grab)
            for h in handles:
                h.close()
            record(opened=opened, count=len(handles))
    ''', level="reduced", limits={"nofile": 64})
    assert found["opened"] == "OSError:24"  # EMFILE
    assert found["count"] < 64


def test_log_flood_is_capped(tmp_path):
    out, found, result, job_dir = run_job(tmp_path, '''
        def run(**_):
            line = "flood " * 20
            for _ in range(60000):
                print(line)
    ''', level="reduced", operator=OperatorLimits(grace_s=1.0, rss_poll_s=0.2, log_mb=1))
    log = job_dir / "logs" / "worker.log"
    assert out.log_capped
    assert log.stat().st_size <= 1024 * 1024 + 200
    assert "reached its cap" in log.read_text()


@pytest.mark.skipif(not REPORT.available("strict"), reason="bubblewrap level not available here")
def test_strict_job_sees_neither_the_data_dir_nor_home(tmp_path):
    keys = tmp_path / "data" / "keys"
    keys.mkdir(parents=True)
    (keys / "keyring.json").write_text("{}")
    out, found, result, job_dir = run_job(tmp_path, f'''
        def run(**_):
            record(data_dir=os.path.exists({str(keys / "keyring.json")!r}), root=os.path.exists("/root"),
                   uid=os.getuid(), runtime=[p for p in sys.path if p.endswith("/site")])
    ''', level="strict")
    assert result.get("status") == "succeeded", (result, (job_dir / "logs" / "worker.log").read_text()[-2000:])
    assert found["data_dir"] is False and found["root"] is False
    if IS_ROOT:
        assert found["uid"] == pwd.getpwnam(JOB_USER).pw_uid
