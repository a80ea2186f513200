"""`ade doctor` as a user runs it: a real `ade` process, its output and exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ade_engine.runtime.confine import LEVELS

IS_ROOT = os.geteuid() == 0


def ade(tmp_path, *args, **env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADE_")}
    env.update({"ADE_DATA_DIR": str(tmp_path / "data"), **env_extra})
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
    proc = ade(tmp_path, "--json")
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
