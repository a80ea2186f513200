"""Two or more processes starting on a fresh workspace (issue 19 §2): every one of them succeeds.

Each round starts, on a new data dir and all at once, what an operator starts by hand: `ade worker`, two
`ade job submit FILE --wait`, `ade job list` and a workstation (headless, quitting once its workspace is
open). The first start creates the tree, migrates and imports the sample configs under the data dir's
start-up lock; the others wait for it and find an active config. Observed before the lock: 6 failures in 6
(`database is locked`, `no config version is active`, `cannot create …/envs: File exists`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from sandbox_helpers import IS_ROOT, job_user_env

from ade_engine.services.workspace import BOOTSTRAP_LOCK, open_workspace
from ade_engine.settings import isolated_settings

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 10
INPUTS = REPO / "sample_configs" / "inputs"


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADE_")}
    env.update(job_user_env() if IS_ROOT else {})
    env.update({"ADE_DATA_DIR": str(data), "ADE_SAMPLE_CONFIGS_DIR": str(REPO / "sample_configs"),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])), **extra})
    return env


def _start(env: dict[str, str], *argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *argv], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _ade(*args: str) -> tuple[str, ...]:
    return ("-m", "ade_engine.cli.main", *args)


def _finish(procs: dict[str, subprocess.Popen], worker: subprocess.Popen) -> dict[str, tuple[int, str, str]]:
    """Wait for the one-shot processes (bounded), then stop the worker as Ctrl-C would; kill what hangs."""
    out: dict[str, tuple[int, str, str]] = {}
    try:
        for name, proc in procs.items():
            try:
                stdout, stderr = proc.communicate(timeout=180)
                out[name] = (proc.returncode, stdout, stderr)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                stdout, stderr = proc.communicate()
                out[name] = (-999, stdout, stderr + "\n[hung: killed by the test after 180 s]")
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = worker.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            stdout, stderr = worker.communicate()
            stderr += "\n[hung after SIGTERM: killed by the test]"
        out["worker"] = (worker.returncode, stdout, stderr)
    return out


def test_worker_submits_list_and_workstation_starting_together_all_succeed(tmp_path):
    failures = []
    for n in range(ROUNDS):
        data = tmp_path / f"round{n}" / "data"
        env = _env(data)
        # Everything at once, in the order an operator's shell would start them.
        worker = _start(env, *_ade("worker", "--concurrency", "2"))
        procs = {
            "submit roster": _start(env, *_ade("job", "submit", str(INPUTS / "roster_clean.xlsx"), "--wait")),
            "submit export": _start(env, *_ade("job", "submit", str(INPUTS / "roster_export.csv"), "--wait")),
            "job list": _start(env, *_ade("job", "list")),
            # The workstation's own worker stays off: a workstation that quits at once would cancel what it took.
            "workstation": _start(_env(data, ADE_EMBEDDED_WORKER="false"), "-m", "ade_tui", "--exit-when-ready",
                                  "--headless"),
        }
        results = _finish(procs, worker)
        for name, (code, stdout, stderr) in results.items():
            ok = code == 0 and (name != "workstation" or "workspace_seconds=" in stdout)
            if not ok:
                failures.append(f"round {n}, {name}: exit {code}\n{stdout[-800:]}\n{stderr[-1500:]}")
        # Not only "exit 0": the jobs really ran, and the workspace is whole (samples published, one active).
        with open_workspace(isolated_settings(data, sample_configs_dir=REPO / "sample_configs")) as ws:
            from ade_engine.services import configs, jobs

            states = sorted((j.source_file, j.status) for j in jobs.list_jobs(ws))
            listed = {c.config_id: c for c in configs.list_configs(ws)}
            active = configs.active_version(ws)
        if states != [("roster_clean.xlsx", "succeeded"), ("roster_export.csv", "succeeded")]:
            failures.append(f"round {n}: jobs {states}")
        if set(listed) != {"member_roster", "payroll_remittance"} or active is None:
            failures.append(f"round {n}: configs {sorted(listed)}, active {active and active.config_id}")
        if any(c.latest_published_id is None for c in listed.values()):
            failures.append(f"round {n}: a sample was left unpublished")
    assert not failures, "\n\n".join(failures)


def test_a_second_process_waits_for_the_first_start_and_says_so(tmp_path):
    """While one process holds the start-up lock, another waits, prints one line naming it, then proceeds."""
    data = tmp_path / "data"
    data.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys\n"
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('held', flush=True)\n"
         "sys.stdin.readline()\n",
         str(data / BOOTSTRAP_LOCK)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    err_path = tmp_path / "list.err"
    try:
        assert holder.stdout.readline().strip() == "held"
        with open(err_path, "w") as err:
            lister = subprocess.Popen([sys.executable, *_ade("job", "list")], env=_env(data), cwd=REPO,
                                      stdout=subprocess.PIPE, stderr=err, text=True)
        # The waiting process says so, naming the holder, while the holder still holds the lock.
        for _ in range(1200):  # bounds a hung test (60 s); nothing here is timed
            if "waiting for another ADE process" in err_path.read_text() or lister.poll() is not None:
                break
            threading.Event().wait(0.05)
        message = err_path.read_text()
        assert lister.poll() is None, f"the second process did not wait: {message}"
        assert "waiting for another ADE process" in message and str(data) in message
        assert f"pid {holder.pid}" in message
    finally:
        holder.stdin.write("go\n")
        holder.stdin.flush()
        holder.wait(30)
    stdout, _ = lister.communicate(timeout=120)
    assert lister.returncode == 0, err_path.read_text()
    assert "no jobs" in stdout
    assert err_path.read_text().count("waiting for another ADE process") == 1


def test_a_first_start_killed_half_way_is_completed_by_the_next_start(tmp_path):
    """The state a first start leaves when killed between importing a sample and publishing it: the next start
    publishes that draft, imports the rest, activates one, and imports nothing twice."""
    from ade_engine.services import configs
    from ade_engine.services.workspace import SAMPLES_PENDING

    settings = isolated_settings(tmp_path / "data", sample_configs_dir=REPO / "sample_configs")
    with open_workspace(settings, import_samples=False) as ws:  # the workspace row is in, no samples yet
        assert (settings.data_dir / SAMPLES_PENDING).exists()
        configs.import_package(ws, REPO / "sample_configs" / "member_roster")  # killed before publishing
    with open_workspace(settings) as ws:
        listed = {c.config_id: c for c in configs.list_configs(ws)}
        assert set(listed) == {"member_roster", "payroll_remittance"}
        assert all(c.latest_published_id and c.version_count == 1 for c in listed.values())
        assert configs.active_version(ws).config_id == "member_roster"
        assert ws.report.problems == []
    assert not (settings.data_dir / SAMPLES_PENDING).exists()
    with open_workspace(settings) as ws:  # and then never again
        assert ws.report.imported == [] and len(configs.list_configs(ws)) == 2
