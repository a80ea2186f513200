"""The real thing: `ade` with no arguments in a pseudo-terminal (tmux), from launch to quit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def _wait_screen(session: str, predicate, limit_s: float = 60) -> str:
    deadline = time.monotonic() + limit_s  # an upper bound for a slow machine, not a timing claim
    text = ""
    while time.monotonic() < deadline:
        text = _tmux("capture-pane", "-p", "-t", session)
        if predicate(text):
            return text
        time.sleep(0.2)
    return text


def test_ade_opens_the_workstation_and_quits(settings):
    session = f"ade-tui-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADE_")}
    env.update(ADE_DATA_DIR=str(settings.data_dir), ADE_TUI_DATA_DIR_LABEL="test-data", TERM="xterm-256color",
               PYTHONPATH=str(REPO))
    exit_file = settings.data_dir.parent / "exit-code"
    command = f"{sys.executable} -m ade_tui.launch; echo $? > {exit_file}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command],
                   env=env, check=True)
    try:
        screen = _wait_screen(session, lambda t: "payroll_remittance" in t and "data: test-data" in t)
        assert "member_roster" in screen and "payroll_remittance" in screen
        assert "Open" in screen and "Publish" in screen  # the footer
        _tmux("send-keys", "-t", session, "F1")
        screen = _wait_screen(session, lambda t: "Keys: Configs" in t)
        assert "configs.publish" in screen
        _tmux("send-keys", "-t", session, "Escape")
        _tmux("send-keys", "-t", session, "C-q")
        deadline = time.monotonic() + 30
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert exit_file.read_text().strip() == "0"
    finally:
        _tmux("kill-session", "-t", session)


def test_ade_without_a_terminal_prints_help(settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADE_")}
    env.update(ADE_DATA_DIR=str(settings.data_dir), PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-m", "ade_tui.launch"], capture_output=True, text=True, env=env,
                         stdin=subprocess.DEVNULL, timeout=60)
    assert out.returncode == 0 and "usage: ade" in out.stdout
