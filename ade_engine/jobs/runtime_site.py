"""The job process's own import world (jobs.md §5.2): `${ADE_DATA_DIR}/runtime/<id>/`.

`<id>` = `<engine_version>-<12 hex of the copied ade_engine sources>`, so an engine changed in
development never runs stale code. The folder holds:

- `site/`: the job-process part of the engine (`ade_engine/__init__.py`, `errors.py`, `manifest/`, `detect/`,
  `runtime/`) and the third-party modules it imports (pydantic & co., the readers/writer, pyseccomp);
- `ade_worker_bootstrap.py`: run as `<python> -s -S -P -B -X utf8 <runtime>/ade_worker_bootstrap.py`
  with cwd = the job dir; it sets `sys.path` = stdlib + `site` + `vendor` + `config`.

Nothing else of the application (database, key store, UI) is importable in a job. Built once, in a
temp dir renamed into place, under a lock; directories 0755 and files 0644 so a job user can read it.

Also here: a check that an unprivileged job user (`ADE_JOB_USER`) can reach a path (`unreachable_for`);
the modes it relies on are set by `ade_engine.jobs.permissions`.
"""

from __future__ import annotations

import compileall
import fcntl
import hashlib
import importlib.util
import os
import py_compile
import shutil
import stat
import tempfile
import threading
from pathlib import Path

from ade_engine import ENGINE_VERSION
from ade_engine.errors import AdeError
from ade_engine.jobs.permissions import open_for_jobs

BOOTSTRAP_NAME = "ade_worker_bootstrap.py"
INTERPRETER_FLAGS = ("-s", "-S", "-P", "-B", "-X", "utf8")
ENGINE_PARTS = ("__init__.py", "errors.py", "manifest", "runtime", "detect")
# Top-level modules the job process imports (and what they import). psutil is not used in the job.
THIRD_PARTY = (
    "pydantic", "pydantic_core", "typing_extensions", "annotated_types", "typing_inspection",
    "openpyxl", "et_xmlfile", "defusedxml", "xlsxwriter", "python_calamine_plus", "pyseccomp", "charset_normalizer",
)
_IGNORED_DIRS = {"__pycache__"}
_IGNORED_SUFFIXES = (".pyc", ".pyo")

BOOTSTRAP_SOURCE = '''\
"""ADE job process entry (generated): stdlib + site + vendor + config on sys.path, nothing else."""
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_job = os.getcwd()
sys.path[:] = [p for p in sys.path if p] + [
    os.path.join(_here, "site"), os.path.join(_job, "vendor"), os.path.join(_job, "config")]
from ade_engine.runtime.bootstrap import main

sys.exit(main())
'''


def _engine_root() -> Path:
    import ade_engine

    return Path(ade_engine.__file__).resolve().parent


def _walk_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_DIRS)
        out.extend(Path(dirpath) / f for f in sorted(filenames) if not f.endswith(_IGNORED_SUFFIXES))
    return out


def engine_files() -> list[tuple[str, Path]]:
    """(path relative to site/, source file) of the job-process part of the engine."""
    root = _engine_root()
    files = []
    for part in ENGINE_PARTS:
        for f in _walk_files(root / part):
            files.append(("ade_engine/" + f.relative_to(root).as_posix(), f))
    return files


# Bumped when what a runtime folder holds changes (2: precompiled bytecode), so old folders are not reused.
_LAYOUT = 2


def runtime_id() -> str:
    """`<engine_version>-<hash>`: hash over the copied engine sources (paths and bytes) and the module list."""
    h = hashlib.sha256(("\0".join(THIRD_PARTY) + f"\0layout:{_LAYOUT}").encode())
    for rel, src in engine_files():
        h.update(rel.encode() + b"\0" + src.read_bytes() + b"\0")
    for name in THIRD_PARTY:  # a reinstalled or upgraded library gets a new runtime, never a stale copy
        src = _module_source(name)
        h.update(f"{name}\0{src}\0{src.stat().st_mtime_ns}\0".encode())
    h.update(BOOTSTRAP_SOURCE.encode())
    return f"{ENGINE_VERSION}-{h.hexdigest()[:12]}"


def _module_source(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise AdeError(f"cannot build the job runtime: module {name!r} is not installed; reinstall ADE",
                       code="runtime_unavailable")
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    if not spec.origin:
        raise AdeError(f"cannot build the job runtime: module {name!r} has no file", code="runtime_unavailable")
    return Path(spec.origin)


def _copy_module(src: Path, site: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, site / src.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copy2(src, site / src.name)


def ensure_runtime(data_dir: str | os.PathLike[str]) -> Path:
    """Build `${data_dir}/runtime/<id>/` once (atomic rename, serialized by a lock); return its path."""
    base = Path(data_dir) / "runtime"
    base.mkdir(parents=True, exist_ok=True)
    rid = runtime_id()
    target = base / rid
    if (target / BOOTSTRAP_NAME).is_file():
        return target
    with open(base / ".lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if (target / BOOTSTRAP_NAME).is_file():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{rid}-", dir=base))
        try:
            site = tmp / "site"
            (site / "ade_engine").mkdir(parents=True)
            for rel, src in engine_files():
                dest = site / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
            for name in THIRD_PARTY:
                _copy_module(_module_source(name), site)
            # A module imported by a copied package and left out above shows up as an ImportError in the job.
            (tmp / BOOTSTRAP_NAME).write_text(BOOTSTRAP_SOURCE, encoding="utf-8")
            # Jobs run with -B and a read-only runtime, so they never write bytecode: compile it once here,
            # or every job would compile pydantic, openpyxl and the engine from source at start-up.
            compileall.compile_dir(site, quiet=2, workers=1,
                                   invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            open_for_jobs(tmp)
            if target.exists():  # a half-built folder from an old crash (no bootstrap file): replace it
                shutil.rmtree(target)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def spawn_argv(python: str, runtime: Path) -> list[str]:
    """`<python> -s -S -P -B -X utf8 <runtime>/ade_worker_bootstrap.py`."""
    return [python, *INTERPRETER_FLAGS, str(runtime / BOOTSTRAP_NAME)]


# ----------------------------------------------------------------------------- job user access
def _can(st: os.stat_result, uid: int, gids: set[int], bit: int) -> bool:
    """Permission `bit` (4 r, 2 w, 1 x) for uid/gids from the mode bits (ACLs are ignored)."""
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & (bit << 6))
    if st.st_gid in gids:
        return bool(st.st_mode & (bit << 3))
    return bool(st.st_mode & bit)


def unreachable_for(user: str, path: str | os.PathLike[str], *, need: str = "r") -> str | None:
    """None when `user` can reach `path` (x on every ancestor) and has `need` ("r", "x", "rx") on it;
    else a sentence naming the first directory or file in the way."""
    import grp
    import pwd

    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return f"ADE_JOB_USER names {user!r}, which is not an account on this machine"
    gids = {pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    absolute = os.path.abspath(os.fspath(path))
    for target in dict.fromkeys((absolute, os.path.realpath(absolute))):
        problem = _walk(Path(target), pw.pw_uid, gids, user, need)
        if problem:
            return problem
    return None


def _walk(target: Path, uid: int, gids: set[int], user: str, need: str) -> str | None:
    current = Path(target.parts[0])
    for part in target.parts[1:]:
        try:
            st = os.stat(current)
        except OSError as exc:
            return f"{current}: {exc.strerror}"
        if not _can(st, uid, gids, 1):
            return f"{user} cannot enter {current} (mode {stat.filemode(st.st_mode)})"
        current = current / part
    try:
        st = os.stat(target)
    except OSError as exc:
        return f"{target}: {exc.strerror}"
    for ch, bit in (("r", 4), ("x", 1)):
        if ch in need and not _can(st, uid, gids, bit):
            what = "read" if ch == "r" else ("enter" if stat.S_ISDIR(st.st_mode) else "execute")
            return f"{user} cannot {what} {target} (mode {stat.filemode(st.st_mode)})"
    return None


# ----------------------------------------------------------------------------- the job interpreter
_INFO_SCRIPT = (
    "import json, os, sys, sysconfig\n"
    "paths = [sysconfig.get_path('stdlib'), sysconfig.get_path('platstdlib'), os.path.dirname(os.path.realpath(sys.executable))]\n"
    "lib = sysconfig.get_config_var('LIBDIR') or ''\n"
    "so = sysconfig.get_config_var('LDLIBRARY') or ''\n"
    "if lib and so and os.path.exists(os.path.join(lib, so)): paths.append(os.path.join(lib, so))\n"
    "print(json.dumps({'version': list(sys.version_info[:3]), 'paths': [p for p in paths if p]}))\n"
)
_info_cache: dict[str, dict] = {}
_info_lock = threading.Lock()


def interpreter_info(python: str) -> dict:
    """{"version": [3, 11, 2], "paths": [stdlib, platstdlib, bin dir, libpython]} of `python`, or {"error": why}.
    Cached per interpreter path; a second caller waits for a question already being asked (`ade run` asks
    early, in a background thread)."""
    import json
    import subprocess

    with _info_lock:
        if python in _info_cache:
            return _info_cache[python]
        try:
            proc = subprocess.run([python, "-s", "-S", "-c", _INFO_SCRIPT], capture_output=True, text=True,
                                  timeout=30, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                                  stdin=subprocess.DEVNULL)
            info = json.loads(proc.stdout.strip().splitlines()[-1])
        except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
            return {"error": f"cannot run it ({exc})"}
        _info_cache[python] = info
        return info


def interpreter_error(python: str, why: str) -> AdeError:
    major, minor = __import__("sys").version_info[:2]
    return AdeError(
        f"the job interpreter {python} is not usable: {why}; set ADE_JOB_PYTHON to a Python {major}.{minor} "
        f"(e.g. /usr/bin/python{major}.{minor})", code="runtime_unavailable", details={"python": python})


def find_job_python(user: str, candidates: tuple[str, ...] | None = None) -> tuple[str | None, list[str]]:
    """The first interpreter of this Python minor version that `user` can execute — this one first, then the
    usual system locations — and, for each one passed over, why. Used by `ade doctor`'s fix text, the test
    suite and the benchmarks when they run as root (the venv's interpreter may sit under a private home)."""
    import sys

    major, minor = sys.version_info[:2]
    if candidates is None:
        candidates = (sys.executable, f"/usr/bin/python{major}.{minor}", f"/usr/local/bin/python{major}.{minor}")
    passed_over: list[str] = []
    for cand in candidates:
        if not os.path.exists(cand):
            continue
        problem = unreachable_for(user, os.path.realpath(cand), need="x") or unreachable_for(user, cand, need="x")
        info = {} if problem else interpreter_info(cand)
        if problem or info.get("error") or tuple(info.get("version", [])[:2]) != (major, minor):
            passed_over.append(f"{cand}: {problem or info.get('error') or 'another Python version'}")
            continue
        return cand, passed_over
    return None, passed_over
