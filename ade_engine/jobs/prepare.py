"""Prepare: install a package's `requirements.txt` once per `deps_hash` (jobs.md §5.1, config-packages.md §1).

`${ADE_DATA_DIR}/envs/<deps_hash>/` holds `vendor/` (pip `--target`), `freeze.txt`, `install.log`,
`build.json {deps_hash, python_version, engine_version, prepared_at}` and `last_used` (touched on every
use; retention deletes envs idle for 30 days). pip runs in its own process group with a scrubbed environment
and a 10-minute timeout, into a temp folder renamed into place; concurrent prepares of one hash wait on a
lock file. Jobs never install anything: validation before publish (`services.configs.validate_prepared`) and
the runner before a spawn call `ensure_prepared`, whose `on_progress` hears pip's progress lines. A failure is
`prepare_failed` whose message starts with pip's own reason (`pip_reason`), since job records keep 400 chars.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ade_engine import ENGINE_VERSION
from ade_engine.errors import AdeError
from ade_engine.jobs.permissions import apply_data_dir_model, open_for_jobs

PIP_TIMEOUT_S = 600
Progress = Callable[[str], None]


def env_dir(settings: Any, deps_hash: str) -> Path:
    return Path(settings.envs_dir) / deps_hash


def is_prepared(settings: Any, deps_hash: str) -> bool:
    env = env_dir(settings, deps_hash)
    return (env / "build.json").is_file() and (env / "vendor").is_dir()


def _touch(path: Path) -> None:
    path.touch(exist_ok=True)
    os.utime(path)


def _pip_env(home: Path) -> dict[str, str]:
    # Nothing of the parent's environment: no database URL, keys or tokens reach pip or a package's setup.py.
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": str(home), "TMPDIR": str(home),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def pip_command(settings: Any, requirements: Path, target: Path) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "install", "--target", str(target), "-r", str(requirements),
           "--no-input", "--disable-pip-version-check", "--no-warn-script-location", "--only-binary", ":all:"]
    if settings.pip_cache_dir:
        cmd += ["--cache-dir", str(settings.pip_cache_dir)]
    if settings.wheelhouse:
        cmd += ["--no-index", "--find-links", str(settings.wheelhouse)]
    return cmd


def prepared_vendor(settings: Any, deps_hash: str | None) -> Path | None:
    """The `vendor/` dir of an environment that is already prepared, else None (never installs)."""
    if not deps_hash or not is_prepared(settings, deps_hash):
        return None
    return env_dir(settings, deps_hash) / "vendor"


def resolved_dependencies(vendor: str | os.PathLike[str] | None) -> list[str]:
    """`name==version` of every distribution installed in a prepared `vendor/` (from its `freeze.txt`),
    sorted; [] without an environment. This is what `artifact.environment.dependencies` lists."""
    if vendor is None:
        return []
    try:
        lines = (Path(vendor).parent / "freeze.txt").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return sorted({ln.strip() for ln in lines if "==" in ln and not ln.lstrip().startswith(("#", "-"))},
                  key=str.lower)


def ensure_prepared(settings: Any, config_dir: str | os.PathLike[str], deps_hash: str | None, *,
                    on_progress: Progress | None = None) -> Path | None:
    """The `vendor/` dir for `deps_hash` (installing it the first time), or None when there is nothing to
    prepare. `on_progress(line)` hears what happens while installing (nothing when already prepared).
    Raises AdeError `prepare_failed` whose message leads with pip's own reason."""
    requirements = Path(config_dir) / "requirements.txt"
    if not deps_hash or not requirements.is_file():
        return None
    env = env_dir(settings, deps_hash)
    if is_prepared(settings, deps_hash):
        _touch(env / "last_used")
        return env / "vendor"
    say = on_progress or (lambda _line: None)
    envs = Path(settings.envs_dir)
    if not envs.is_dir():  # e.g. `ade config validate DIR` before any workspace was opened
        apply_data_dir_model(settings.data_dir)  # envs/ is part of the data dir's permission model
    with open(envs / f".{deps_hash}.lock", "a+") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another process that is preparing the same requirements ({deps_hash[:12]})")
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if is_prepared(settings, deps_hash):  # another process prepared it while we waited
            _touch(env / "last_used")
            return env / "vendor"
        _install(settings, requirements, deps_hash, env, say)
    return env / "vendor"


def _install(settings: Any, requirements: Path, deps_hash: str, env: Path, say: Progress) -> None:
    work = Path(tempfile.mkdtemp(prefix=f".prepare-{deps_hash[:12]}-", dir=env.parent))
    source = f"offline from ADE_WHEELHOUSE={settings.wheelhouse}" if settings.wheelhouse else "from the package index"
    try:
        home = work / "home"
        home.mkdir()
        staged_req = work / "requirements.txt"
        shutil.copyfile(requirements, staged_req)
        if settings.pip_cache_dir:
            Path(settings.pip_cache_dir).mkdir(parents=True, exist_ok=True)
        cmd = pip_command(settings, staged_req, work / "vendor")
        say(f"preparing dependencies {deps_hash[:12]}: pip install -r requirements.txt ({source})")
        ok, output, why = _run_pip(cmd, home, work, say)
        log = f"$ {' '.join(cmd)}\n{output}" + (f"\n[ade: {why}]" if why and not ok else "")
        (work / "install.log").write_text(log, encoding="utf-8")
        if not ok:
            failed_log = env.parent / f"{deps_hash}.failed.log"
            shutil.copyfile(work / "install.log", failed_log)
            reason = why if why.startswith("pip did not finish") else (pip_reason(output) or why)
            hint = (f"put a wheel of it in {settings.wheelhouse}, or fix the pin in requirements.txt"
                    if settings.wheelhouse and "matching distribution" in output
                    else "fix requirements.txt (or the network / ADE_WHEELHOUSE) and try again")
            # pip's reason first: job records keep only the first 400 characters of a message.
            raise AdeError(
                f"pip could not install requirements.txt: {reason} ({source}; {hint}). Full log: {failed_log}",
                code="prepare_failed",
                details={"deps_hash": deps_hash, "install_log": str(failed_log), "pip_exit": why,
                         "pip_errors": pip_error_lines(output)})
        freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--path", str(work / "vendor")],
                                capture_output=True, text=True, timeout=120, env=_pip_env(home), cwd=work,
                                stdin=subprocess.DEVNULL)
        (work / "freeze.txt").write_text(freeze.stdout, encoding="utf-8")
        build = {"deps_hash": deps_hash, "python_version": platform.python_version(),
                 "engine_version": ENGINE_VERSION,
                 "prepared_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        (work / "build.json").write_text(json.dumps(build, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(home)
        staged_req.unlink()
        (work / "last_used").touch()
        open_for_jobs(work)  # readable (not writable) by a job user; the job sees vendor/ read-only
        if env.exists():  # a half-made folder without build.json (crash): replace it
            shutil.rmtree(env)
        os.rename(work, env)
        installed = resolved_dependencies(env / "vendor")
        say("prepared " + (", ".join(installed) if installed else "nothing to install") + f" ({deps_hash[:12]})")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


# pip's lines worth showing while it works (the rest goes to install.log only)
_PROGRESS_PREFIXES = ("Collecting ", "Processing ", "Downloading ", "Installing collected packages",
                      "Successfully installed")
_FROM_STAGED = re.compile(r"\s*\(from -r \S+ \(line \d+\)\)")  # names the staged copy: noise to a reader


def _run_pip(cmd: list[str], home: Path, work: Path, say: Progress) -> tuple[bool, str, str]:
    """Run pip with stdout and stderr merged (so the log keeps their order), reporting progress lines.
    Returns (ok, output, why-not)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, encoding="utf-8", errors="replace", env=_pip_env(home), cwd=work,
                            start_new_session=True)
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(PIP_TIMEOUT_S, stop)
    timer.daemon = True
    timer.start()
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            text = line.strip()
            if text.startswith(_PROGRESS_PREFIXES):
                say(_FROM_STAGED.sub("", text))
        code = proc.wait()
    finally:
        timer.cancel()
    output = "".join(lines)
    if timed_out.is_set():
        return False, output, f"pip did not finish within {PIP_TIMEOUT_S // 60} minutes"
    return code == 0, output, f"pip exited with status {code}"


_ERROR_START = re.compile(r"^(ERROR|error):\s*")
_MAX_REASON = 1200


def pip_error_lines(output: str) -> list[str]:
    """pip's error report: each `ERROR:`/`error:` line with the indented lines that explain it."""
    picked: list[str] = []
    inside = False
    for raw in output.splitlines():
        line = raw.rstrip()
        if _ERROR_START.match(line):
            inside = True
            picked.append(line)
        elif inside and line and (line[0].isspace() or line[0] in "×│╰╭"):
            picked.append(line)
        elif line:
            inside = False
    return picked[:40]


def pip_reason(output: str) -> str:
    """pip's actual reason in one line: its error report, or else its last meaningful lines."""
    lines = pip_error_lines(output)
    if lines:
        parts: list[str] = []
        for line in lines:
            text = _ERROR_START.sub("", line.strip()).strip()
            if text and text not in parts:
                parts.append(text)
    else:
        noise = ("Looking in links", "Looking in indexes", "WARNING: Running pip as", "[notice]")
        meaningful = [ln.strip() for ln in output.splitlines() if ln.strip() and not ln.strip().startswith(noise)]
        parts = meaningful[-4:]
    reason = "; ".join(parts)
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 1] + "…"
