"""Prepare: install a package's `requirements.txt` once per `deps_hash` (jobs.md §5.1, config-packages.md §1).

`${ADE_DATA_DIR}/envs/<deps_hash>/` holds `vendor/` (pip `--target`), `freeze.txt`, `install.log`,
`build.json {deps_hash, python_version, engine_version, prepared_at, prepare}` and `last_used` (touched on
every use; retention deletes envs idle for 30 days). `build.json.prepare` says how pip ran (account, sandbox
level, network, wheels only, limits) and reaches `artifact.environment.prepare` (`prepare_record`).

pip runs confined (`jobs/prepare_sandbox.py`, `runtime/prepare_child.py`): wheels only unless
`ADE_PREPARE_ALLOW_SDIST`, as the job account when ADE runs as root with `ADE_JOB_USER`, under Landlock and
seccomp (writes only its work dir; network only for the index, none with `ADE_WHEELHOUSE`), limits on CPU
time, memory and file size, its own process group, a scrubbed environment and a 10-minute timeout. It
installs into a temp folder renamed into place; concurrent prepares of one hash wait on a lock file. Jobs
never install anything: validation before publish (`services.configs.validate_prepared`) and the runner
before a spawn call `ensure_prepared`, whose `on_progress` hears pip's progress lines. A failure is
`prepare_failed` whose message starts with pip's own reason (`pip_reason`), since job records keep 400 chars.
"""

from __future__ import annotations

import codecs
import fcntl
import json
import os
import platform
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ade_engine import ENGINE_VERSION
from ade_engine.errors import AdeError
from ade_engine.jobs import permissions, prepare_sandbox
from ade_engine.jobs.permissions import apply_data_dir_model, open_for_jobs
from ade_engine.jobs.prepare_sandbox import PIP_TIMEOUT_S, Plan, Wheelhouse

Progress = Callable[[str], None]


def env_dir(settings: Any, deps_hash: str) -> Path:
    return Path(settings.envs_dir) / deps_hash


def is_prepared(settings: Any, deps_hash: str) -> bool:
    env = env_dir(settings, deps_hash)
    return (env / "build.json").is_file() and (env / "vendor").is_dir()


def _touch(path: Path) -> None:
    path.touch(exist_ok=True)
    os.utime(path)


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


def prepare_record(vendor: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """How the environment of a prepared `vendor/` was installed (`build.json.prepare`: account, sandbox level
    and missing protections, network "index"/"none", wheels only), or None when unknown (an environment
    prepared before this was recorded). This is `artifact.environment.prepare`."""
    if vendor is None:
        return None
    try:
        build = json.loads((Path(vendor).parent / "build.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    record = build.get("prepare") if isinstance(build, dict) else None
    if not isinstance(record, dict):
        return None
    keys = ("account", "sandbox_level", "sandbox_missing", "network", "wheels_only")
    if not all(k in record for k in keys):
        return None
    return {k: record[k] for k in keys}


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
    plan = prepare_sandbox.make_plan(settings)
    site = prepare_sandbox.ensure_site(settings)
    wheelhouse = Path(settings.wheelhouse) if settings.wheelhouse else None
    source = f"offline from ADE_WHEELHOUSE={wheelhouse}" if wheelhouse else "from the package index"
    prepare_sandbox.check_reach(plan, site, env.parent, wheelhouse)
    work = Path(tempfile.mkdtemp(prefix=f".prepare-{deps_hash[:12]}-", dir=env.parent))
    try:
        (work / "home").mkdir()
        staged_req = work / "requirements.txt"
        shutil.copyfile(requirements, staged_req)
        house = Wheelhouse()
        if wheelhouse is not None:
            house = prepare_sandbox.wheelhouse_page(wheelhouse, work / "links.html", wheels_only=plan.wheels_only)
        args = prepare_sandbox.pip_args(plan, staged_req, work / "vendor", house.page)
        request = {"work": str(work), "level": plan.level, "network": plan.network, "limits": plan.limits,
                   "read": prepare_sandbox.read_paths(plan, site, wheelhouse), "pip_args": args}
        say(f"preparing dependencies {deps_hash[:12]}: pip install -r requirements.txt ({source}; "
            f"{_how(plan.record())})")
        if plan.switch_to:
            permissions.hand_over_prepare(work, plan.switch_to)
        try:
            ok, output, why = _run_pip(plan, prepare_sandbox.command(plan, site, request), work, say)
        finally:
            # ADE's again before anything in it is read or written; links or special files fail the prepare
            problems = permissions.reclaim_prepare(work)
        record = _as_ran(plan, output)
        log = (f"$ pip {' '.join(args)}\n[ade: {_how(record)}]\n{output}"
               + (f"\n[ade: {why}]" if why and not ok else ""))
        if problems:  # nothing is written in the work dir: a planted link would take the write elsewhere
            failed_log = _keep_log(log, env, deps_hash)
            raise AdeError(f"prepare refused what pip left in its folder: {'; '.join(problems)} (an install never "
                           f"makes links or special files; check requirements.txt). Full log: {failed_log}",
                           code="prepare_failed", details={"deps_hash": deps_hash, "install_log": str(failed_log),
                                                           "entries": problems})
        if not ok:
            failed_log = _keep_log(log, env, deps_hash)
            reason = why if why.startswith(("pip did not finish", "could not")) else (pip_reason(output) or why)
            hint = (f"put a wheel of it in {settings.wheelhouse}, or fix the pin in requirements.txt"
                    if settings.wheelhouse and "matching distribution" in output
                    else "fix requirements.txt (or the network / ADE_WHEELHOUSE) and try again")
            sdist = _sdist_only(output, house, plan)
            if sdist:  # the real reason: pip's own words do not say it
                reason, hint = sdist, f"pip: {reason}"
            # the reason first: job records keep only the first 400 characters of a message.
            raise AdeError(
                f"pip could not install requirements.txt: {reason} ({source}; {hint}). Full log: {failed_log}",
                code="prepare_failed",
                details={"deps_hash": deps_hash, "install_log": str(failed_log), "pip_exit": why,
                         "pip_errors": pip_error_lines(output), "prepare": record})
        (work / "install.log").write_text(log, encoding="utf-8")
        if not (work / "freeze.txt").is_file():
            (work / "freeze.txt").write_text("", encoding="utf-8")
        build = {"deps_hash": deps_hash, "python_version": platform.python_version(),
                 "engine_version": ENGINE_VERSION,
                 "prepared_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "prepare": record}
        (work / "build.json").write_text(json.dumps(build, indent=2) + "\n", encoding="utf-8")
        for name in ("home", "requirements.txt", "links.html"):
            path = work / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
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


def _keep_log(log: str, env: Path, deps_hash: str) -> Path:
    """`envs/<deps_hash>.failed.log` (in envs/, which only ADE writes), through a temp file and a rename."""
    failed_log = env.parent / f"{deps_hash}.failed.log"
    fd, tmp = tempfile.mkstemp(prefix=f".{deps_hash[:12]}-", suffix=".log.tmp", dir=env.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(log)
    os.replace(tmp, failed_log)
    return failed_log


def _how(record: dict[str, Any]) -> str:
    """"as nobody, sandbox standard (no bubblewrap), network: none, wheels only" — for progress and the log."""
    missing = record.get("sandbox_missing") or []
    return (f"as {record['account']}, sandbox {record['sandbox_level']}"
            + (f" (no {', '.join(missing)})" if missing else "")
            + f", network: {record['network']}, " + ("wheels only" if record["wheels_only"] else "source builds allowed"))


def _as_ran(plan: Plan, output: str) -> dict[str, Any]:
    """The plan's record, with what the pip process said of itself (its first line, printed before pip or any
    package code ran): the account it really ran as and the protections it really lacked."""
    from ade_engine.runtime.prepare_child import SELF_REPORT

    record = plan.record()
    first = output.split("\n", 1)[0]
    if first.startswith(SELF_REPORT):
        try:
            ran = json.loads(first[len(SELF_REPORT):])
            import pwd

            record["account"] = pwd.getpwuid(int(ran["uid"])).pw_name
            record["sandbox_missing"] = list(dict.fromkeys([*record["sandbox_missing"], *(ran.get("missing") or [])]))
        except (ValueError, KeyError, TypeError):
            pass
    return record


_NO_MATCH = re.compile(r"No matching distribution found for ([A-Za-z0-9][A-Za-z0-9._-]*)")


def _sdist_only(output: str, house: Wheelhouse, plan: Plan) -> str | None:
    """Why a requirement pip found no wheel for cannot be installed wheels-only, or None."""
    if not plan.wheels_only:
        return None
    for name in dict.fromkeys(_NO_MATCH.findall(output)):
        files = house.sdist_only(name)
        if files:
            return (f"{name} has only a source distribution in ADE_WHEELHOUSE ({', '.join(files[:3])}), and prepare "
                    "installs wheels only, because building one runs the package's own code. Build a wheel of it on a "
                    f"trusted machine (pip wheel --no-deps {name} -w DIR) and put it in the wheelhouse, or set "
                    "ADE_PREPARE_ALLOW_SDIST=1 (unsafe: runs its build code, sandboxed)")
    return None


# pip's lines worth showing while it works (the rest goes to install.log only)
_PROGRESS_PREFIXES = ("Collecting ", "Processing ", "Downloading ", "Installing collected packages",
                      "Successfully installed")
_FROM_STAGED = re.compile(r"\s*\(from -r \S+ \(line \d+\)\)")  # names the staged copy: noise to a reader
_DRAIN_S = 2.0


def _run_pip(plan: Plan, cmd: list[str], work: Path, say: Progress) -> tuple[bool, str, str]:
    """Run the confined pip with stdout and stderr merged (so the log keeps their order), reporting progress
    lines; its process group and anything carrying its marker are killed when it ends or times out.
    Returns (ok, output, why-not). Reads in the caller's thread, never waiting on a pipe's end for long."""
    from ade_engine.jobs.launcher import job_processes
    from ade_engine.runtime.prepare_child import EXIT_SANDBOX, UNAVAILABLE

    marker = f"prepare-{work.name}"
    uid = _uid(plan.switch_to)
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=prepare_sandbox.child_env(plan, work, marker), cwd=work, start_new_session=True,
                                close_fds=True, **prepare_sandbox.popen_identity(plan))
    except OSError as exc:
        return False, "", f"could not start pip with {plan.python}: {exc.strerror or exc} (check ADE_JOB_PYTHON)"

    def sweep() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for escapee in job_processes(marker, uid=uid):
            try:
                escapee.kill()
            except Exception:  # noqa: BLE001 - psutil.Error: gone already
                continue

    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    lines: list[str] = []
    pending = ""

    def take(text: str) -> None:
        nonlocal pending
        *complete, pending = (pending + text).split("\n")
        for line in complete:
            lines.append(line + "\n")
            shown = line.strip()
            if shown.startswith(_PROGRESS_PREFIXES):
                say(_FROM_STAGED.sub("", shown))

    deadline = time.monotonic() + PIP_TIMEOUT_S
    timed_out = eof = False
    ended_at: float | None = None
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        try:
            while ended_at is None or not (eof or time.monotonic() >= ended_at + _DRAIN_S):
                for _key, _events in sel.select(timeout=0.2):
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    if data:
                        take(decoder.decode(data))
                    else:
                        eof = True
                        sel.unregister(fd)
                if ended_at is None and proc.poll() is not None:
                    ended_at = time.monotonic()
                    sweep()  # nothing pip started outlives it
                elif ended_at is None and time.monotonic() >= deadline and not timed_out:
                    timed_out = True
                    sweep()
            # past the drain time, an escapee may still hold the pipe: stop listening
        except BaseException:
            sweep()
            proc.wait()
            raise
        finally:
            proc.stdout.close()
    take(decoder.decode(b"", final=True))
    if pending:
        lines.append(pending)
    code = proc.wait()
    sweep()
    output = "".join(lines)
    if timed_out:
        return False, output, f"pip did not finish within {PIP_TIMEOUT_S // 60} minutes"
    if code == EXIT_SANDBOX and UNAVAILABLE in output:
        return False, output, "could not confine pip: " + output.split(UNAVAILABLE, 1)[1].strip().splitlines()[0]
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        hint = f" (its CPU-time limit is {plan.limits.get('cpu_seconds')} s)" if name in ("SIGXCPU", "SIGKILL") else ""
        return False, output, f"pip was ended by {name}{hint}"
    return code == 0, output, f"pip exited with status {code}"


def _uid(user: str | None) -> int:
    if not user:
        return os.getuid()
    import pwd

    return pwd.getpwnam(user).pw_uid


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
