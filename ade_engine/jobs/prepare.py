"""Prepare: install a package's `requirements.txt` once per `deps_hash` (jobs.md §5.1, config-packages.md §1).

`${ADE_DATA_DIR}/envs/<deps_hash>/` holds `vendor/` (pip `--target`), `freeze.txt`, `install.log`,
`build.json {deps_hash, python_version, engine_version, prepared_at}` and `last_used` (touched on every
use; retention deletes envs idle for 30 days). pip runs in its own subprocess with a scrubbed environment
and a 10-minute timeout, into a temp folder renamed into place; concurrent prepares of one hash wait on a
lock file. Jobs never install anything.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ade_engine import ENGINE_VERSION
from ade_engine.errors import AdeError

PIP_TIMEOUT_S = 600
LOG_TAIL_LINES = 20


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


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def pip_command(settings: Any, requirements: Path, target: Path) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "install", "--target", str(target), "-r", str(requirements),
           "--no-input", "--disable-pip-version-check", "--no-warn-script-location", "--only-binary", ":all:"]
    if settings.pip_cache_dir:
        cmd += ["--cache-dir", str(settings.pip_cache_dir)]
    if settings.wheelhouse:
        cmd += ["--no-index", "--find-links", str(settings.wheelhouse)]
    return cmd


def ensure_prepared(settings: Any, config_dir: str | os.PathLike[str], deps_hash: str | None) -> Path | None:
    """The `vendor/` dir for `deps_hash` (installing it the first time), or None when there is nothing to
    prepare. Raises AdeError `prepare_failed` with the install log tail."""
    requirements = Path(config_dir) / "requirements.txt"
    if not deps_hash or not requirements.is_file():
        return None
    env = env_dir(settings, deps_hash)
    if is_prepared(settings, deps_hash):
        _touch(env / "last_used")
        return env / "vendor"
    envs = Path(settings.envs_dir)
    envs.mkdir(parents=True, exist_ok=True)
    with open(envs / f".{deps_hash}.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if is_prepared(settings, deps_hash):  # another process prepared it while we waited
            _touch(env / "last_used")
            return env / "vendor"
        _install(settings, requirements, deps_hash, env)
    return env / "vendor"


def _install(settings: Any, requirements: Path, deps_hash: str, env: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix=f".prepare-{deps_hash[:12]}-", dir=env.parent))
    try:
        home = work / "home"
        home.mkdir()
        staged_req = work / "requirements.txt"
        shutil.copyfile(requirements, staged_req)
        if settings.pip_cache_dir:
            Path(settings.pip_cache_dir).mkdir(parents=True, exist_ok=True)
        cmd = pip_command(settings, staged_req, work / "vendor")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, env=_pip_env(home),
                                  cwd=work, stdin=subprocess.DEVNULL)
            log = f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
            ok = proc.returncode == 0
            why = f"pip exited with status {proc.returncode}"
        except subprocess.TimeoutExpired as exc:
            log = f"$ {' '.join(cmd)}\n{exc.stdout or ''}\n{exc.stderr or ''}\n[ade: timed out after {PIP_TIMEOUT_S} s]"
            log = log if isinstance(log, str) else log.decode("utf-8", "replace")
            ok, why = False, f"pip did not finish within {PIP_TIMEOUT_S // 60} minutes"
        (work / "install.log").write_text(log, encoding="utf-8")
        if not ok:
            failed_log = env.parent / f"{deps_hash}.failed.log"
            shutil.copyfile(work / "install.log", failed_log)
            source = f"offline from ADE_WHEELHOUSE={settings.wheelhouse}" if settings.wheelhouse else "from the index"
            raise AdeError(
                f"installing requirements.txt ({source}) failed: {why}. Full log: {failed_log}. "
                f"Last lines:\n{_tail(log)}", code="prepare_failed",
                details={"deps_hash": deps_hash, "install_log": str(failed_log)})
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
        # Readable (not writable) by a job user; the job sees vendor/ read-only.
        for dirpath, _dirs, files in os.walk(work):
            os.chmod(dirpath, 0o755)
            for name in files:
                os.chmod(os.path.join(dirpath, name), 0o644)
        if env.exists():  # a half-made folder without build.json (crash): replace it
            shutil.rmtree(env)
        os.rename(work, env)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
