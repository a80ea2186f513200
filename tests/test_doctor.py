"""`ade doctor` as a user runs it: a real `ade` process, its output and exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sandbox_helpers import job_user_env

from ade_engine.runtime.confine import LEVELS

IS_ROOT = os.geteuid() == 0


def ade(tmp_path, *args, **env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADE_")}
    env.update({"ADE_DATA_DIR": str(tmp_path / "data"), **job_user_env(), **env_extra})
    return subprocess.run([sys.executable, "-m", "ade_engine.cli.main", "doctor", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_doctor_json_shape(tmp_path):
    proc = ade(tmp_path, "--json", ADE_JOB_USER="nobody")
    doc = json.loads(proc.stdout)
    assert doc["ok"] is (proc.returncode == 0)
    assert doc["engine_version"] and doc["python_version"].startswith("3.")
    sb = doc["sandbox"]
    assert sb["best_level"] in LEVELS
    assert list(sb["levels"]) == list(LEVELS)
    assert sb["levels"]["reduced"]["available"] is True
    assert sb["levels"]["reduced"]["missing"][:3] == ["bubblewrap", "landlock", "seccomp"]
    assert set(sb["mechanisms"]) == {"bubblewrap", "landlock", "seccomp"}
    for mech in sb["mechanisms"].values():
        assert isinstance(mech["available"], bool) and mech["detail"]
        assert mech["available"] or mech["fix"]
    assert sb["requested"] == "auto" and sb["effective"] == sb["best_level"]
    names = [c["name"] for c in doc["checks"]]
    assert names[:3] == ["versions", "settings", "sandbox"]
    for check in doc["checks"]:
        assert check["status"] in ("ok", "warn", "fail") and check["summary"]


def test_doctor_text_names_the_level_and_what_is_missing(tmp_path):
    proc = ade(tmp_path, ADE_JOB_USER="nobody", ADE_SANDBOX="reduced")
    assert proc.returncode == 0, proc.stderr
    assert "jobs run at level reduced" in proc.stdout
    assert "missing bubblewrap, landlock, seccomp" in proc.stdout
    assert "Levels (strongest first)" in proc.stdout


@pytest.mark.skipif(not IS_ROOT, reason="the root check only applies when running as root")
def test_doctor_as_root_without_job_user_fails_with_the_fix(tmp_path):
    proc = ade(tmp_path, "--json", ADE_JOB_USER="")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False
    sandbox_check = next(c for c in doc["checks"] if c["name"] == "sandbox")
    assert sandbox_check["status"] == "fail"
    assert "ADE_JOB_USER" in sandbox_check["fix"]
    assert any(p["kind"] == "root" for p in doc["sandbox"]["problems"])


def test_doctor_reports_bad_settings_instead_of_crashing(tmp_path):
    proc = ade(tmp_path, "--json", ADE_SANDBOX="paranoid", ADE_JOB_USER="nobody")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    settings_check = next(c for c in doc["checks"] if c["name"] == "settings")
    assert settings_check["status"] == "fail" and "ADE_SANDBOX" in settings_check["summary"]


def _check(doc, name):
    return next(c for c in doc["checks"] if c["name"] == name)


def test_doctor_redacts_the_database_password_and_names_the_key_source(tmp_path):
    proc = ade(tmp_path, "--json", ADE_JOB_USER="nobody", ADE_SANDBOX="reduced",
               ADE_DATABASE_URL="postgresql://ade:hunter2-secret@db.example/ade")
    assert "hunter2-secret" not in proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    db = _check(doc, "database")
    assert db["status"] == "ok" and "PostgreSQL" in db["summary"] and "db.example" in db["summary"]
    secrets = _check(doc, "secrets")
    assert secrets["status"] in ("ok", "warn") and secrets["summary"]
    assert _check(doc, "data_dir")["status"] in ("ok", "warn")


@pytest.mark.skipif(not IS_ROOT, reason="needs root to make an interpreter the job user cannot run")
def test_doctor_says_when_the_job_user_cannot_run_the_interpreter(tmp_path):
    from sandbox_helpers import JOB_PYTHON

    if JOB_PYTHON is None:
        pytest.skip("no interpreter the job user can run")
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    (hidden / "python3").symlink_to(JOB_PYTHON)
    proc = ade(tmp_path, "--json", ADE_JOB_USER="nobody", ADE_SANDBOX="reduced", ADE_JOB_PYTHON=str(hidden / "python3"))
    assert proc.returncode == 1
    check = _check(json.loads(proc.stdout), "job_user")
    assert check["status"] == "fail" and "cannot execute" in check["summary"] and str(hidden) in check["summary"]
    assert "ADE_JOB_PYTHON=" in check["fix"] or "install python" in check["fix"]

    ok = ade(tmp_path, "--json", ADE_JOB_USER="nobody", ADE_SANDBOX="reduced", ADE_JOB_PYTHON=JOB_PYTHON)
    assert _check(json.loads(ok.stdout), "job_user")["status"] == "ok"
