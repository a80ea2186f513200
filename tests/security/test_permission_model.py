"""One permission model for the data dir (issue 10): no command changes what a running job can reach.

As root with a job user, a long job keeps running and succeeds while 20 other `ade` commands and a workstation
start open the same workspace beside it; `ade doctor` agrees with the model the jobs rely on.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox_helpers import IS_ROOT, job_user_env

from ade_engine.jobs.permissions import DATA_DIR_MODES, apply_data_dir_model, data_dir_deviations

REPO = Path(__file__).resolve().parents[2]
SLOW_HOOK = "import time\n\ndef run(**_):\n    time.sleep(6)\n"

def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADE_")}
    env.update(job_user_env() if IS_ROOT else {})
    env.update({"ADE_DATA_DIR": str(data), "ADE_SAMPLE_CONFIGS_DIR": str(REPO / "sample_configs"),
                "ADE_JOB_TIMEOUT_SECONDS": "120"})
    return env


def _ade(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ade_engine.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def _slow_package(tmp_path: Path) -> Path:
    pkg = tmp_path / "slow_roster"
    shutil.copytree(REPO / "sample_configs" / "member_roster", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = json.loads((pkg / "manifest.json").read_text())
    manifest.setdefault("hooks", {})["on_job_start"] = [{"script": "hooks/slow_start.py"}]
    (pkg / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (pkg / "hooks").mkdir(exist_ok=True)
    (pkg / "hooks" / "slow_start.py").write_text(SLOW_HOOK)
    return pkg


def _sample_input() -> Path:
    inputs = sorted((REPO / "sample_configs" / "inputs").glob("*roster*.csv")) or sorted(
        (REPO / "sample_configs" / "inputs").glob("*.csv"))
    return inputs[0]


def test_long_job_survives_twenty_commands_and_a_workstation_start(tmp_path):
    data = tmp_path / "data"
    env = _env(data)
    assert _ade(env, "job", "list").returncode == 0  # first start: samples imported
    pkg = _slow_package(tmp_path)
    out = _ade(env, "config", "import", str(pkg), "--json")
    assert out.returncode == 0, out.stderr
    draft = json.loads(out.stdout)
    config_id = draft.get("config_id") or "slow_roster"
    for args in (("config", "publish", f"{config_id}@draft"), ("config", "activate", f"{config_id}@latest")):
        done = _ade(env, *args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)

    worker = subprocess.Popen([sys.executable, "-m", "ade_engine.cli.main", "worker", "--concurrency", "2"],
                              env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        src = _sample_input()
        submitted = _ade(env, "job", "submit", str(src), "--json")
        assert submitted.returncode == 0, submitted.stderr
        job_id = json.loads(submitted.stdout)["job"]["job_id"]
        deadline = time.monotonic() + 60
        while json.loads(_ade(env, "job", "show", job_id, "--json").stdout)["status"] == "queued":
            assert time.monotonic() < deadline, "the worker never claimed the job"
            time.sleep(0.2)

        # Beside the running job: 20 commands that open the workspace, and a workstation start.
        others = tmp_path / "others"
        others.mkdir()
        commands = []
        for i in range(20):
            kind = i % 4
            if kind == 0:
                other = others / f"other_{i}.csv"
                other.write_bytes(src.read_bytes() + f"\n# {i}\n".encode())
                commands.append(("job", "submit", str(other), "--config", "member_roster"))
            elif kind == 1:
                commands.append(("job", "list"))
            elif kind == 2:
                commands.append(("job", "show", job_id))
            else:
                commands.append(("doctor", "--json"))
        for args in commands:
            done = _ade(env, *args)
            assert done.returncode in (0, 1), (args, done.stderr)  # doctor exits 1 on a missing sandbox layer
        # The workstation's real start (settings, workspace open, first screen), headless, quitting when ready.
        tui = subprocess.run([sys.executable, "-m", "ade_tui", "--exit-when-ready", "--headless"], env=env,
                             cwd=REPO, capture_output=True, text=True, timeout=120)
        assert tui.returncode == 0 and "workspace_seconds=" in tui.stdout, (tui.stdout, tui.stderr[-3000:])

        deadline = time.monotonic() + 90
        while True:
            job = json.loads(_ade(env, "job", "show", job_id, "--json").stdout)
            if job["status"] in ("succeeded", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, "the long job never ended"
            time.sleep(0.3)
        assert job["status"] == "succeeded", (job["error_code"], job["error_message"], job.get("log_tail"))
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()

    # The data dir still follows the model, and doctor says so for the job user.
    assert data_dir_deviations(data) == []
    doctor = json.loads(_ade(env, "doctor", "--json").stdout)
    checks = {c["name"]: c for c in doctor["checks"]}
    assert checks["data_dir"]["status"] == "ok", checks["data_dir"]
    assert checks["job_user"]["status"] == "ok", checks["job_user"]


def test_opening_a_workspace_applies_the_model_once_and_then_changes_nothing(tmp_path):
    data = tmp_path / "data"
    created = apply_data_dir_model(data)
    assert str(data) in created
    for name, mode in DATA_DIR_MODES.items():
        assert stat.S_IMODE((data / name if name else data).stat().st_mode) == mode, name
    # An old data dir (every folder 0700, as earlier releases left it) is brought to the model...
    for name in DATA_DIR_MODES:
        os.chmod(data / name if name else data, 0o700)
    assert data_dir_deviations(data) and len(data_dir_deviations(data)) == 4
    apply_data_dir_model(data)
    assert data_dir_deviations(data) == []
    # ...and a second application touches nothing (ctime of every folder unchanged).
    before = {name: os.stat(data / name if name else data).st_ctime_ns for name in DATA_DIR_MODES}
    time.sleep(0.01)
    assert apply_data_dir_model(data) == []
    assert before == {name: os.stat(data / name if name else data).st_ctime_ns for name in DATA_DIR_MODES}


def test_doctor_reports_a_data_dir_that_differs_from_the_model(tmp_path):
    data = tmp_path / "data"
    apply_data_dir_model(data)
    os.chmod(data / "keys", 0o755)
    env = _env(data)
    doctor = json.loads(_ade(env, "doctor", "--json").stdout)
    check = {c["name"]: c for c in doctor["checks"]}["data_dir"]
    assert check["status"] == "warn" and "keys (0o755, expected 0o700)" in check["summary"], check
