"""Limits and cancellation (issue 19 §4; reliability checks 9–13): each limit ends the job with its own code and
a message that names what to change, and nothing the job started is left running.

Jobs run as `ade run` runs them (`cli.run.plan_run` + the shared runner, real bootstrap and pipeline), as the
unprivileged job user when the tests run as root. "No survivors" means no process whose environment carries
the job's marker (`ADE_JOB_ID=<id>`), looked for 0.5 s after the job ends. Existing tests this file does not
repeat: tests/test_job_user.py (a script's own MemoryError/EFBIG/EMFILE, cpu_limit from the run request,
`setsid` denied at `standard`), tests/test_bootstrap.py (limits against a stand-in pipeline, the lifeline when
the parent is SIGKILLed), tests/jobs/test_job_cancel_crash.py (timeout of a job that ignores SIGTERM, kill -9).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psutil
import pytest

from pkgfactory import write_csv, write_package
from sandbox_helpers import IS_ROOT, JOB_PYTHON, JOB_USER

from ade_engine.cli.run import execute, plan_run
from ade_engine.jobs.sandbox import probe
from ade_engine.settings import isolated_settings

REPORT = probe()
LEVELS = ["reduced"] + [level for level in ("standard",) if REPORT.available(level)]
ROWS = [["SKU", "Unit Price"], ["AB-1234", "3.50"], ["CD-5678", "4.00"]]

RECORD = '''
import json, os
def record(**found):  # one file per name: processes of the job record at the same time
    for name, value in found.items():
        path = os.path.join(os.environ["ADE_JOB_DIR"], "found." + name)
        with open(path + ".new", "w") as fh:
            json.dump(value, fh)
        os.replace(path + ".new", path)
'''


def settings_for(tmp_path: Path, level: str = "reduced", **overrides):
    base = {"job_user": JOB_USER if IS_ROOT else None, "job_python": JOB_PYTHON, "sandbox": level,
            "cancel_grace_seconds": 1, "sample_configs_dir": tmp_path / "no-samples"}
    return isolated_settings(tmp_path / "data", **{**base, **overrides})


def hook_package(tmp_path: Path, body: str, *, stage: str = "on_job_start", manifest: dict | None = None,
                 files: dict | None = None) -> Path:
    extra = {"hooks": {stage: [{"script": "hooks/probe.py"}]}, **(manifest or {})}
    return write_package(tmp_path / "pkg", manifest=extra,
                         files={"hooks/probe.py": RECORD + textwrap.dedent(body), **(files or {})})


def run(tmp_path: Path, pkg: Path, src: Path | None = None, *, settings=None, cancel_when=None):
    """(outcome, job_dir, request) of one `ade run`-style job; `cancel_when(job_dir)` cancels when truthy."""
    settings = settings or settings_for(tmp_path)
    src = src or write_csv(tmp_path / "prices.csv", ROWS)
    job_dir, request = plan_run(str(src), str(pkg), str(tmp_path / "job"), force=False, reader="auto",
                                settings=settings)
    check = (lambda: cancel_when(job_dir)) if cancel_when else None
    outcome = execute(job_dir, request, settings, cancel_check=check)
    return outcome, job_dir, request


def probe_found(job_dir: Path) -> dict:
    found = {}
    for path in job_dir.glob("found.*"):
        if not path.name.endswith(".new"):
            found[path.name.removeprefix("found.")] = json.loads(path.read_text())
    return found


def carrying_marker(job_id: str) -> list[int]:
    """Live processes whose environment holds this job's marker (the checks' definition of a survivor)."""
    marker = f"ADE_JOB_ID={job_id}".encode()
    pids = []
    for proc in psutil.process_iter(["pid", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            with open(f"/proc/{proc.pid}/environ", "rb") as fh:
                if marker in fh.read().split(b"\0"):
                    pids.append(proc.pid)
        except OSError:
            continue
    return pids


def survivors(job_id: str) -> list[int]:
    time.sleep(0.5)
    return carrying_marker(job_id)


def log_of(job_dir: Path) -> str:
    log = job_dir / "logs" / "worker.log"
    return log.read_text()[-3000:] if log.exists() else ""


# A hook that leaves three kinds of descendants, each holding the job's stdout and stderr and the marker:
# one in the job's process group, one that called setsid() (where the sandbox allows it), and a daemon that
# double-forked and called setsid() in between. Each ignores SIGTERM, and so does the job process itself.
ESCAPEES = '''
import os, signal, time

def _linger():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(3600)
    os._exit(0)

def _spawn(kind):
    pid = os.fork()
    if pid:
        return pid
    try:
        if kind in ("setsid", "daemon"):
            try:
                os.setsid()
            except OSError:
                pass  # denied at standard and above: the child stays in the group
        if kind == "daemon" and os.fork():
            os._exit(0)  # the middle process exits: the grandchild is orphaned
        record(**{kind: os.getpid()})
        _linger()
    finally:
        os._exit(0)

def run(**_):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for kind in ("group", "setsid", "daemon"):
        _spawn(kind)
    time.sleep(3600)
'''


def _all_spawned(job_dir: Path) -> bool:
    return {"group", "setsid", "daemon"} <= set(probe_found(job_dir))


# ----------------------------------------------------------------------------- check 9
def test_timeout_kills_group(tmp_path):
    """A job stuck in sleep(3600), with descendants in and out of its group, ends `failed/timeout`: no survivors."""
    pkg = hook_package(tmp_path, ESCAPEES, manifest={"engine": {"defaults": {"timeout_ms": 4000}}})
    outcome, job_dir, request = run(tmp_path, pkg)
    assert (outcome.status, outcome.error["code"]) == ("failed", "timeout"), (outcome.error, log_of(job_dir))
    assert _all_spawned(job_dir), log_of(job_dir)
    assert survivors(request["job_id"]) == []


# ----------------------------------------------------------------------------- check 10
@pytest.mark.parametrize("level", LEVELS)
def test_cancel_escalates_and_contains_escapees(tmp_path, level):
    """Cancel a job that ignores SIGTERM and left a setsid() child and a double-forked daemon holding its
    pipes: it ends `cancelled`, the parent returns (no wait on a pipe a grandchild holds), no survivors."""
    pkg = hook_package(tmp_path, ESCAPEES)
    outcome, job_dir, request = run(tmp_path, pkg, settings=settings_for(tmp_path, level), cancel_when=_all_spawned)
    assert outcome.status == "cancelled", (outcome.error, log_of(job_dir))
    found = probe_found(job_dir)
    assert survivors(request["job_id"]) == [], found
    for kind in ("group", "setsid", "daemon"):
        assert not psutil.pid_exists(found[kind]) or psutil.Process(found[kind]).status() == psutil.STATUS_ZOMBIE


def test_an_escapee_without_the_marker_is_found_by_the_pipe_it_holds(tmp_path):
    """A setsid() child that replaces its environment (so it carries no marker) but keeps the job's stdout is
    still the job's: it is killed when the job is cancelled."""
    token = f"escapee-{uuid.uuid4().hex}"  # in its command line, so the test finds it (and nothing else)
    pkg = hook_package(tmp_path, f'''
        import os, signal, sys, time
        def run(**_):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if os.fork() == 0:
                os.setsid()
                os.execve(sys.executable, [sys.executable, "-c", "import signal, time; "
                          "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)", "{token}"], {{}})
            time.sleep(0.5)
            record(started=True)
            time.sleep(3600)
    ''')
    seen: list[int] = []

    def cancel_when(job_dir: Path) -> bool:
        if not probe_found(job_dir).get("started"):
            return False
        seen.extend(p.pid for p in psutil.process_iter(["pid", "cmdline"]) if token in (p.info["cmdline"] or []))
        return True

    outcome, job_dir, request = run(tmp_path, pkg, cancel_when=cancel_when)
    assert outcome.status == "cancelled", (outcome.error, log_of(job_dir))
    assert seen, "the escapee was not seen running"
    time.sleep(0.5)
    assert [pid for pid in seen if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE] == []


def test_descendants_are_ended_when_the_job_ends_by_itself(tmp_path):
    """A job that succeeds but left a setsid() daemon behind: the daemon does not outlive the job."""
    pkg = hook_package(tmp_path, '''
        import os, time
        def run(**_):
            if os.fork() == 0:
                os.setsid()
                if os.fork():
                    os._exit(0)
                record(daemon=os.getpid())
                time.sleep(3600)
                os._exit(0)
            while not os.path.exists(os.path.join(os.environ["ADE_JOB_DIR"], "found.daemon")):
                time.sleep(0.05)
    ''')
    outcome, job_dir, request = run(tmp_path, pkg)
    assert outcome.status == "succeeded", (outcome.error, log_of(job_dir))
    assert survivors(request["job_id"]) == []


def test_a_killed_worker_leaves_nothing_of_its_job_once_recovered(tmp_path):
    """kill -9 of `ade worker` (check 2): the job process ends with it (parent-death signal), and what the job
    started — a child in its group, a setsid() child, a daemon — is ended when its expired lease is recovered."""
    import signal as sig

    from sandbox_helpers import job_user_env

    from ade_engine.jobs.worker import recover_expired
    from ade_engine.services import configs, jobs
    from ade_engine.services.workspace import open_workspace

    settings = settings_for(tmp_path, worker_lease_seconds=2)
    pkg = hook_package(tmp_path, ESCAPEES)
    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADE_")}
    env.update(job_user_env(), ADE_DATA_DIR=str(tmp_path / "data"), ADE_SANDBOX="reduced",
               ADE_WORKER_LEASE_SECONDS="2", ADE_SAMPLE_CONFIGS_DIR=str(tmp_path / "no-samples"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH")])))
    with open_workspace(settings) as ws:
        draft = configs.import_package(ws, pkg, config_id="escapees")
        configs.publish(ws, draft.config_version_id)
        configs.activate(ws, "escapees@latest")
        job = jobs.submit_job(ws, write_csv(tmp_path / "prices.csv", ROWS)).job
        worker = subprocess.Popen([sys.executable, "-m", "ade_engine.cli.main", "worker", "--concurrency", "1"],
                                  env=env, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while not _all_spawned(Path(job.job_dir)) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _all_spawned(Path(job.job_dir)), "the job did not start its children"
            leader = jobs.get_job(ws, job.job_id).worker_pid
            os.killpg(worker.pid, sig.SIGKILL)
            worker.wait(30)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not recover_expired(ws):
            time.sleep(0.2)
        assert jobs.get_job(ws, job.job_id).error_code == "interrupted"
    assert not psutil.pid_exists(leader) or psutil.Process(leader).status() == psutil.STATUS_ZOMBIE
    assert survivors(job.job_id) == [], probe_found(Path(job.job_dir))


# ----------------------------------------------------------------------------- check 11
@pytest.mark.parametrize("where", ["hook", "import"])
def test_memory_limit(tmp_path, where):
    """A script that allocates 2 GiB ends the job `failed/memory_limit` (not `succeeded` with a rule error, nor
    `config_invalid` when it happens at import), naming the limit and the setting; the engine stays flat."""
    alloc = "blob = bytearray(2 * 1024 * 1024 * 1024)\n"
    body = ("def run(**_):\n    " + alloc) if where == "hook" else (alloc + "def run(**_):\n    pass\n")
    pkg = hook_package(tmp_path, body, manifest={"engine": {"defaults": {"memory_mb": 256}}})
    before = psutil.Process().memory_info().rss
    outcome, job_dir, request = run(tmp_path, pkg)
    grown = psutil.Process().memory_info().rss - before
    assert (outcome.status, outcome.error["code"]) == ("failed", "memory_limit"), (outcome.error, log_of(job_dir))
    assert "256 MiB" in outcome.error["message"] and "memory_mb" in outcome.error["message"]
    assert "ADE_WORKER_MEM_MB" in outcome.error["hint"]
    assert grown < 64 * 1024 * 1024, f"the engine grew by {grown / 1048576:.0f} MiB"


# ----------------------------------------------------------------------------- check 12
BUSY_PY = "def run(**_):\n    n = 0\n    while True:\n        n += 1\n"
# Catastrophic backtracking: the CPU is burnt inside the regex engine, which holds the GIL, so no Python code
# of the job process (its SIGXCPU handler's timer) runs again: the kernel's hard limit ends it.
BUSY_C = "import re\ndef run(**_):\n    re.match(r'(a+)+$', 'a' * 64 + 'b')\n"


@pytest.mark.parametrize("loop", [BUSY_PY, BUSY_C], ids=["python", "in-c"])
def test_cpu_limit(tmp_path, loop):
    """A busy loop ends `failed/cpu_limit` at ADE_WORKER_CPU_SECONDS, well before the wall clock (60 s)."""
    pkg = hook_package(tmp_path, loop, manifest={"engine": {"defaults": {"timeout_ms": 60000}}})
    outcome, job_dir, request = run(tmp_path, pkg, settings=settings_for(tmp_path, worker_cpu_seconds=2))
    assert request["limits"]["cpu_seconds"] == 2 and request["limits"]["timeout_s"] == 60
    assert (outcome.status, outcome.error["code"]) == ("failed", "cpu_limit"), (outcome.error, log_of(job_dir))
    assert "2 s" in outcome.error["message"]
    assert "ADE_WORKER_CPU_SECONDS" in outcome.error["hint"]


# ----------------------------------------------------------------------------- check 13
def test_file_size_and_fd_limits(tmp_path):
    """Writing 64 MiB past a 16 MiB limit ends `failed/file_size_limit` (EFBIG, not a signal) naming the file,
    the limit and the setting; opening 5000 files is an EMFILE rule error, not a hang."""
    pkg = hook_package(tmp_path, '''
        import os
        def run(**_):
            with open(os.path.join(os.environ["ADE_JOB_DIR"], "tmp", "dump.bin"), "wb") as fh:
                for _ in range(64):
                    fh.write(b"x" * (1024 * 1024))
    ''')
    outcome, job_dir, request = run(tmp_path, pkg, settings=settings_for(tmp_path, worker_fsize_mb=16))
    assert (outcome.status, outcome.error["code"]) == ("failed", "file_size_limit"), (outcome.error, log_of(job_dir))
    assert outcome.signal is None
    message = outcome.error["message"]
    assert "tmp/dump.bin" in message and "16 MiB" in message and "ADE_WORKER_FSIZE_MB" in message

    fds = tmp_path / "fds"
    fds.mkdir()
    pkg = hook_package(fds, '''
        import os
        def run(**_):
            return [open(os.devnull) for _ in range(5000)]
    ''')
    outcome, job_dir, request = run(fds, pkg)
    assert outcome.status == "succeeded", (outcome.error, log_of(job_dir))  # strict_rules is off
    art = json.loads((job_dir / "artifact.json").read_text())
    assert [e["kind"] for e in art["rule_errors"]] == ["exception"] and "OSError" in art["rule_errors"][0]["message"]
    assert "Too many open files" in (job_dir / "logs" / "worker.log").read_text()


def test_writer_scratch_over_the_limit_names_the_file_and_the_setting(tmp_path):
    """When the output writer's uncompressed scratch file is what reaches the limit, the message says so."""
    pkg = write_package(tmp_path / "pkg")
    rows = [["SKU", "Unit Price"]] + [[f"AB-{i:06d}", f"{i % 97}.50"] for i in range(60_000)]
    src = write_csv(tmp_path / "prices.csv", rows)
    # The file size limit is the setting, or more when the input needs more: pin it as for a small input.
    settings = settings_for(tmp_path, worker_fsize_mb=1)
    job_dir, request = plan_run(str(src), str(pkg), str(tmp_path / "job"), force=False, reader="auto",
                                settings=settings)
    request["limits"]["fsize_mb"] = 1  # as for an input too small to raise it
    request["limits"]["fsize_basis"] = "ADE_WORKER_FSIZE_MB=1"
    outcome = execute(job_dir, request, settings)
    assert (outcome.status, outcome.error["code"]) == ("failed", "file_size_limit"), (outcome.error, log_of(job_dir))
    message = outcome.error["message"]
    assert "tmp/" in message and "scratch" in message and "1 MiB" in message and "ADE_WORKER_FSIZE_MB" in message
    assert not (job_dir / "normalized.xlsx").exists()


def test_file_size_limit_grows_with_the_input(tmp_path):
    """At a small ADE_WORKER_FSIZE_MB, an input whose output scratch passes it still goes through: the limit
    grows with the input (24x a CSV; the writer's scratch of these 60k rows is several MiB)."""
    pkg = write_package(tmp_path / "pkg")
    rows = [["SKU", "Unit Price"]] + [[f"AB-{i:06d}", f"{i % 97}.50"] for i in range(60_000)]
    src = write_csv(tmp_path / "prices.csv", rows)
    outcome, job_dir, request = run(tmp_path, pkg, src, settings=settings_for(tmp_path, worker_fsize_mb=1))
    assert request["limits"]["fsize_mb"] >= 24 * src.stat().st_size // (1024 * 1024)
    assert "ADE_WORKER_FSIZE_MB=1" in request["limits"]["fsize_basis"]
    assert outcome.status == "succeeded", (outcome.error, log_of(job_dir))


# ----------------------------------------------------------------------------- sandbox set-up under load
def test_seccomp_sets_up_when_no_subprocess_can_be_started(tmp_path):
    """The seccomp layer loads its library without a subprocess: at a descriptor limit where `ldconfig -p`
    cannot be run (as under load), `pyseccomp` alone says "Unable to find libseccomp"; the sandbox does not."""
    if not REPORT.available("basic"):
        pytest.skip("seccomp is not available here")
    code = textwrap.dedent('''
        import json, resource, sys
        resource.setrlimit(resource.RLIMIT_NOFILE, (6, 6))
        found = {}
        if sys.argv[1] == "bare":
            try:
                import pyseccomp
                found["bare"] = "ok"
            except Exception as exc:
                found["bare"] = f"{type(exc).__name__}: {exc}"
        else:
            from ade_engine.runtime import seccomp_filter
            found["sandbox"] = seccomp_filter.probe() or "ok"
        print(json.dumps(found))
    ''')
    repo = Path(__file__).resolve().parents[2]

    def child(mode: str) -> dict:
        done = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, cwd=repo,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    # pyseccomp alone fails there (as root: "Unable to find libseccomp", the failure mode of the issue; as a
    # normal user it may already fail opening ldconfig's temp file), while the sandbox's loader does not.
    bare = child("bare")["bare"]
    assert bare != "ok" and ("Unable to find libseccomp" in bare or "Too many open files" in bare), bare
    assert child("sandbox")["sandbox"] == "ok"


# ----------------------------------------------------------------------------- check 14
FORK_BOMB = '''
import errno, os, signal, time

def run(**_):
    children, refused = 0, None
    for _ in range(2000):  # far past the job account's process limit
        try:
            pid = os.fork()
        except OSError as exc:
            refused = errno.errorcode.get(exc.errno, str(exc.errno))
            break
        if pid == 0:
            try:  # a small process, so that memory is not what stops the bomb first
                os.execv("/bin/sleep", ["sleep", "3600"])
            finally:
                os._exit(0)
        children += 1
    record(children=children, refused=refused)
    raise RuntimeError(f"fork bomb stopped after {children} children: {refused}")
'''


@pytest.mark.skipif(not IS_ROOT, reason="a process limit binds only a dedicated job account (as root with "
                                        "ADE_JOB_USER); as a normal user it would count the whole session")
def test_fork_bomb_bounded(tmp_path):
    """A job that forks without end meets the job account's process limit (EAGAIN) long before 2000, the job
    fails, the host keeps answering, and nothing it forked is left."""
    pkg = hook_package(tmp_path, FORK_BOMB, manifest={"engine": {"defaults": {"strict_rules": True,
                                                                                "memory_mb": 4096}}})
    t0 = time.monotonic()
    outcome, job_dir, request = run(tmp_path, pkg, settings=settings_for(tmp_path, worker_mem_mb=4096))
    found = probe_found(job_dir)
    assert found.get("refused") == "EAGAIN", (found, outcome, log_of(job_dir))
    assert found["children"] < 2000
    assert outcome.status == "failed", outcome
    # The host stays responsive: a new process starts at once beside it.
    assert subprocess.run(["true"], timeout=10).returncode == 0
    assert survivors(request["job_id"]) == []
    assert time.monotonic() - t0 < 120
