"""Settings checked at start, not at the first job: misspelt ADE_* names, and ADE_JOB_USER, ADE_JOB_PYTHON and
ADE_WHEELHOUSE that cannot work on this machine, refused by `ade worker`, `ade run` and the workstation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ade_engine.errors import AdeError
from ade_engine.settings import load_settings
from sandbox_helpers import job_user_env

REPO = Path(__file__).resolve().parents[1]
MISSING_USER = "ade-no-such-account"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ADE_")}
    env.update(job_user_env())
    env.update(ADE_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(REPO))
    env.update(extra)
    return env


def ade(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ade_engine.cli.main", *args], cwd=tmp_path,
                          env=_env(tmp_path, **extra), capture_output=True, text=True, timeout=180)


def workstation(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ade_tui", "--headless", "--exit-when-ready"], cwd=tmp_path,
                          env=_env(tmp_path, **extra), capture_output=True, text=True, timeout=180)


@pytest.fixture
def roster(tmp_path) -> tuple[str, str]:
    """An input and a package for `ade run` (refusals happen before either is read)."""
    (tmp_path / "people.csv").write_text("Name\nAnn\n")
    return str(tmp_path / "people.csv"), str(REPO / "sample_configs" / "member_roster")


# ----------------------------------------------------------------------------------------- misspelt names
def test_a_misspelt_variable_is_named_once_with_the_closest_known_name(tmp_path):
    proc = ade(tmp_path, "doc", "list", ADE_MAX_CONCURENCY="4")
    assert proc.returncode == 0, proc.stderr
    warning = ("warning: ADE_MAX_CONCURENCY is not an ADE setting and is ignored; did you mean "
               "ADE_MAX_CONCURRENCY?")
    assert proc.stderr.count(warning) == 1, proc.stderr


def test_variables_other_parts_read_are_not_reported(tmp_path):
    # The job process's own variables and the workstation's ADE_TUI_* settings are read elsewhere.
    proc = ade(tmp_path, "doc", "list", ADE_JOB_ID="01J", ADE_JOB_DIR="/tmp", ADE_TRACE_ID="t", ADE_NETWORK="0",
               ADE_TUI_THEME="ansi-dark", ADE_STRICT_SETTINGS="1")
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr


def test_strict_settings_refuse_a_misspelt_variable_before_anything_is_created(tmp_path):
    proc = ade(tmp_path, "doc", "list", ADE_STRICT_SETTINGS="1", ADE_JOBUSER="nobody")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: settings_invalid: unknown settings (ADE_STRICT_SETTINGS is on): "
                                  "ADE_JOBUSER is not an ADE setting and is ignored; did you mean ADE_JOB_USER?")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()


def test_a_name_like_nothing_known_says_so(monkeypatch, capsys):
    for name in [n for n in os.environ if n.upper().startswith("ADE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ADE_ZZQX", "1")
    load_settings()
    load_settings()  # once per process, however often settings load
    err = capsys.readouterr().err
    assert err.count("ADE_ZZQX is not an ADE setting and is ignored; no ADE setting has a similar name") == 1
    monkeypatch.setenv("ADE_STRICT_SETTINGS", "true")
    with pytest.raises(AdeError) as exc:
        load_settings()
    assert exc.value.code == "settings_invalid" and exc.value.details["problems"][0].startswith("ADE_ZZQX")


# ----------------------------------------------------------------------------------------- machine checks
def test_worker_refuses_a_job_user_that_does_not_exist(tmp_path):
    proc = ade(tmp_path, "worker", "--once", ADE_JOB_USER=MISSING_USER)
    assert proc.returncode == 2
    assert (f"error: settings_invalid: cannot start: ADE_JOB_USER='{MISSING_USER}' is not an account on this "
            f"machine; create it (e.g. `useradd --system --no-create-home {MISSING_USER}`)") in proc.stderr
    assert not (tmp_path / "data" / "ade.sqlite").exists()  # refused before the workspace opened


def test_worker_refuses_root_as_job_user(tmp_path):
    proc = ade(tmp_path, "worker", "--once", ADE_JOB_USER="root")
    assert proc.returncode == 2
    assert "ADE_JOB_USER='root' is root; set it to an unprivileged account" in proc.stderr


def test_run_refuses_a_job_python_that_does_not_exist(tmp_path, roster):
    proc = ade(tmp_path, "run", *roster[:1], "--config", roster[1], ADE_JOB_PYTHON="/opt/nowhere/python3")
    assert proc.returncode == 2
    assert ("error: settings_invalid: cannot start: ADE_JOB_PYTHON=/opt/nowhere/python3 does not exist; set "
            f"ADE_JOB_PYTHON to a Python {sys.version_info[0]}.{sys.version_info[1]}") in proc.stderr
    assert not (tmp_path / "ade-out").exists()


def test_run_refuses_a_job_python_of_another_minor_version(tmp_path, roster):
    # This machine may have no second Python: a stand-in executable answers the launcher's version question
    # the way a Python 3.9 would (the question is one `-c` script printing JSON).
    other = tmp_path / "python3.9"
    other.write_text('#!/bin/sh\necho \'{"version": [3, 9, 18], "paths": []}\'\n')
    other.chmod(0o755)
    proc = ade(tmp_path, "run", *roster[:1], "--config", roster[1], "--json", ADE_JOB_PYTHON=str(other))
    assert proc.returncode == 2
    major, minor = sys.version_info[:2]
    assert (f"ADE_JOB_PYTHON={other} is Python 3.9, but jobs need Python {major}.{minor} (the job runtime holds "
            f"cp{major}{minor} modules)") in proc.stdout
    assert '"code": "settings_invalid"' in proc.stdout


def test_run_refuses_a_job_python_that_is_not_executable(tmp_path, roster):
    text = tmp_path / "python"
    text.write_text("not a program\n")
    proc = ade(tmp_path, "run", *roster[:1], "--config", roster[1], ADE_JOB_PYTHON=str(text))
    assert proc.returncode == 2
    assert f"ADE_JOB_PYTHON={text} is not an executable file" in proc.stderr


def test_run_refuses_a_wheelhouse_that_does_not_exist(tmp_path, roster):
    proc = ade(tmp_path, "run", *roster[:1], "--config", roster[1], ADE_WHEELHOUSE=str(tmp_path / "wheels"))
    assert proc.returncode == 2
    assert (f"ADE_WHEELHOUSE={tmp_path / 'wheels'} does not exist; create it and put the wheels there, or unset "
            "ADE_WHEELHOUSE to install dependencies from the package index") in proc.stderr


def test_every_problem_is_named_in_one_message(tmp_path):
    proc = ade(tmp_path, "worker", "--once", ADE_JOB_USER=MISSING_USER, ADE_JOB_PYTHON="/opt/nowhere/python3",
               ADE_WHEELHOUSE=str(tmp_path / "wheels"))
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert all(name in line for name in ("ADE_JOB_USER=", "ADE_JOB_PYTHON=", "ADE_WHEELHOUSE="))


def test_the_workstation_refuses_a_job_user_that_does_not_exist(tmp_path):
    proc = workstation(tmp_path, ADE_JOB_USER=MISSING_USER)
    assert proc.returncode == 2
    assert (f"error: settings_invalid: cannot start: ADE_JOB_USER='{MISSING_USER}' is not an account on this "
            "machine") in proc.stderr
    assert not (tmp_path / "data" / "ade.sqlite").exists()


def test_the_workstation_refuses_a_missing_wheelhouse(tmp_path):
    proc = workstation(tmp_path, ADE_WHEELHOUSE=str(tmp_path / "wheels"))
    assert proc.returncode == 2
    assert f"ADE_WHEELHOUSE={tmp_path / 'wheels'} does not exist" in proc.stderr


def test_good_settings_pass(tmp_path, roster):
    (tmp_path / "wheels").mkdir()
    env = job_user_env()
    proc = ade(tmp_path, "worker", "--once", ADE_WHEELHOUSE=str(tmp_path / "wheels"),
               ADE_JOB_PYTHON=env.get("ADE_JOB_PYTHON", sys.executable))
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_workstation_shows_a_misspelt_variable(tmp_path, monkeypatch):
    # stderr is the app's screen, so the warning is a notification instead.
    from ade_engine.settings import isolated_settings
    from ade_tui.app import AdeApp
    from ade_tui.settings import explicit_tui_settings
    from ade_tui.worker_host import NoWorkerHost, SandboxStatus

    monkeypatch.setenv("ADE_SANDBOXX", "strict")
    settings = isolated_settings(tmp_path / "data", sample_configs_dir=tmp_path / "no-samples")
    tui = explicit_tui_settings(watch=False, show_times=False, cursor_blink=False)
    app = AdeApp(None, None, settings_loader=lambda: (settings, tui), worker_host=NoWorkerHost(),
                 sandbox_probe=lambda _s: SandboxStatus("standard"))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            if app.workspace_ready:
                break
            await pilot.pause(0.05)
        messages = [n.message for n in app._notifications]
        assert ("ADE_SANDBOXX is not an ADE setting and is ignored; did you mean ADE_SANDBOX?" in messages), messages
