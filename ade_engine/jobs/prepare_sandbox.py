"""How prepare runs pip (jobs.md §5.1; docs/security.md "Preparing dependencies"): as which account, confined at
which level, with or without network, from which sources — the parent side of `runtime/prepare_child.py`.

- **Account**: as root with `ADE_JOB_USER`, pip runs as that account (`Popen(user=, group=, extra_groups=[])`);
  the prepare work dir is handed to it for the install and reclaimed after (`jobs.permissions`). Otherwise
  pip runs as ADE's own account (as root without `ADE_JOB_USER` only wheels are installed: no package code).
- **Level**: `ADE_SANDBOX` resolved as for jobs (auto = the best this machine has), without bubblewrap:
  `strict` becomes `standard`. Landlock (write: the work dir only), seccomp, limits (`runtime/prepare_child`).
- **Network**: on only when installing from the index; with `ADE_WHEELHOUSE` it is off (seccomp, Landlock TCP).
- **Wheels only** unless `ADE_PREPARE_ALLOW_SDIST=1`: `--only-binary :all:`, and the wheelhouse is shown to pip
  as a page of links to its wheels (`links.html`), so a source distribution in it is not even seen.

The pip process imports from `runtime/prepare-<12 hex>/site/` (built once, like the job runtime): this
engine's `errors`, `runtime/{confine,landlock,seccomp_filter,prepare_child}` and pyseccomp, and this
engine's pip — so the job account needs neither ADE's interpreter prefix nor a pip of its own.
"""

from __future__ import annotations

import compileall
import fcntl
import hashlib
import html
import importlib.util
import os
import pwd
import py_compile
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ade_engine.errors import AdeError
from ade_engine.jobs.permissions import apply_data_dir_model, open_for_jobs

PIP_TIMEOUT_S = 600
# Limits of the pip process: CPU time = the wall clock; memory and file size generous enough for large
# wheels (a 2 GiB shared library), small enough that a runaway build cannot take the machine.
MEMORY_MB = 4096
FSIZE_MB = 4096
INTERPRETER_FLAGS = ("-s", "-S", "-P", "-B", "-X", "utf8")
ENGINE_FILES = ("__init__.py", "errors.py", "runtime/__init__.py", "runtime/confine.py", "runtime/landlock.py",
                "runtime/seccomp_filter.py", "runtime/prepare_child.py")
THIRD_PARTY = ("pyseccomp", "pip")
BOOT = ("import sys; sys.path[:] = [p for p in sys.path if p] + [{site!r}]; "
        "from ade_engine.runtime.prepare_child import main; sys.exit(main(sys.argv))")
# pip's configuration files; read (only) when installing from the index, so an operator's index settings apply.
PIP_CONFIG_PATHS = ("/etc/pip.conf", "/etc/xdg/pip")
# What pip's user agent reads (vendored `distro`), offline too; it fails on EACCES where it expects ENOENT.
PIP_SYSTEM_FILES = ("/etc/os-release", "/etc/debian_version", "/etc/lsb-release", "/etc/armbian-release")
SDIST_SUFFIXES = (".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".tar")
_LAYOUT = 1


@dataclass
class Plan:
    """How one prepare runs pip; `record()` is what build.json and `artifact.environment.prepare` say."""

    account: str  # the account pip runs as
    switch_to: str | None  # set when ADE (root) starts pip as another account
    python: str
    level: str
    missing: list[str]
    network: bool  # True: from the index; False: only the wheelhouse
    wheels_only: bool
    limits: dict[str, int] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {"account": self.account, "sandbox_level": self.level, "sandbox_missing": list(self.missing),
                "network": "index" if self.network else "none", "wheels_only": self.wheels_only,
                "limits": dict(self.limits)}


def _fail(message: str, **details: Any) -> AdeError:
    return AdeError(message, code="prepare_failed", details=details or None)


def make_plan(settings: Any) -> Plan:
    """Decide account, level, network and sources for pip; raises `prepare_failed` when it cannot be safe."""
    from ade_engine.jobs import sandbox
    from ade_engine.runtime.confine import SandboxUnavailable

    root = hasattr(os, "geteuid") and os.geteuid() == 0
    job_user = getattr(settings, "job_user", None) if root else None
    wheels_only = not getattr(settings, "prepare_allow_sdist", False)
    if root and not job_user and not wheels_only:
        raise _fail("ADE_PREPARE_ALLOW_SDIST=1 lets prepare build source distributions, which runs their code; ADE "
                    "runs as root and ADE_JOB_USER is not set, so that code would run as root. Set ADE_JOB_USER to an "
                    "unprivileged account, or unset ADE_PREPARE_ALLOW_SDIST and put wheels in ADE_WHEELHOUSE.")
    if job_user:
        try:
            entry = pwd.getpwnam(job_user)
        except KeyError:
            raise _fail(f"ADE_JOB_USER names {job_user!r}, which is not an account on this machine; "
                        "set it to an existing unprivileged account.") from None
        if entry.pw_uid == 0:
            raise _fail(f"ADE_JOB_USER {job_user!r} is root; name an unprivileged account.")
        account = job_user
    else:
        account = pwd.getpwuid(os.getuid()).pw_name
    report = sandbox.probe()
    try:
        # `job_user=account`: pip may run as root (wheels only), where a job may not; the level is the same rule.
        level = sandbox.resolve_level(getattr(settings, "sandbox", "auto"), report, job_user=account)
    except SandboxUnavailable as exc:
        raise _fail(f"cannot confine pip: {exc.message}") from None
    if level == "strict":
        level = "standard"  # prepare does not use bubblewrap (docs/security.md)
    network = not getattr(settings, "wheelhouse", None)
    return Plan(account=account, switch_to=job_user, python=str(getattr(settings, "job_python", None) or sys.executable),
                level=level, missing=report.missing(level), network=network, wheels_only=wheels_only,
                limits={"cpu_seconds": PIP_TIMEOUT_S, "memory_mb": MEMORY_MB, "fsize_mb": FSIZE_MB})


# ----------------------------------------------------------------------------------- the prepare site
def _module_source(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not (spec.submodule_search_locations or spec.origin):
        raise _fail(f"cannot prepare dependencies: module {name!r} is not installed with ADE; reinstall ADE")
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(spec.origin or "")


def _engine_root() -> Path:
    import ade_engine

    return Path(ade_engine.__file__).resolve().parent


def site_id() -> str:
    h = hashlib.sha256(f"layout:{_LAYOUT}\0{BOOT}".encode())
    root = _engine_root()
    for rel in ENGINE_FILES:
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    for name in THIRD_PARTY:  # an upgraded pip or pyseccomp gets a new site
        src = _module_source(name)
        h.update(f"{name}\0{src}\0{src.stat().st_mtime_ns}\0".encode())
    return h.hexdigest()[:12]


def ensure_site(settings: Any) -> Path:
    """`runtime/prepare-<id>/site/`, built once (temp folder renamed into place, under a lock)."""
    base = Path(settings.runtime_dir)
    if not base.is_dir():
        apply_data_dir_model(settings.data_dir)  # runtime/ is part of the data dir's permission model
    target = base / f"prepare-{site_id()}"
    if (target / "site" / "ade_engine" / "runtime" / "prepare_child.py").is_file():
        return target / "site"
    with open(base / ".prepare.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if (target / "site" / "ade_engine" / "runtime" / "prepare_child.py").is_file():
            return target / "site"
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{target.name}-", dir=base))  # `ade gc` removes leftovers
        try:
            site = tmp / "site"
            root = _engine_root()
            for rel in ENGINE_FILES:
                (site / "ade_engine" / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / rel, site / "ade_engine" / rel)
            for name in THIRD_PARTY:
                src = _module_source(name)
                if src.is_dir():
                    shutil.copytree(src, site / src.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    shutil.copyfile(src, site / src.name)
            # pip runs with -B from a read-only site: compile once here, not on every prepare.
            compileall.compile_dir(site, quiet=2, workers=1,
                                   invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            open_for_jobs(tmp)
            if target.exists():
                shutil.rmtree(target)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target / "site"


# ----------------------------------------------------------------------------------- the wheelhouse
def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Wheelhouse:
    page: Path | None = None  # links.html in the work dir
    sdists: dict[str, list[str]] = field(default_factory=dict)  # canonical name -> sdist file names
    wheels: set[str] = field(default_factory=set)  # canonical names that have a wheel

    def sdist_only(self, name: str) -> list[str]:
        key = _canonical(name)
        return [] if key in self.wheels else self.sdists.get(key, [])


def wheelhouse_page(wheelhouse: Path, dest: Path, *, wheels_only: bool) -> Wheelhouse:
    """Write `dest` (an HTML page of links to the wheelhouse's archives: only wheels when `wheels_only`).

    pip reads the archives through it, so the installing account needs only read access to those files, not
    to list the folder; and a source distribution left out of the page is never considered."""
    found = Wheelhouse(page=dest)
    links = []
    try:
        names = sorted(os.listdir(wheelhouse))
    except OSError as exc:
        raise _fail(f"cannot read ADE_WHEELHOUSE={wheelhouse}: {exc.strerror}; point it at a folder of wheels "
                    "readable by ADE") from None
    for name in names:
        path = wheelhouse / name
        if not path.is_file():
            continue
        if name.endswith(".whl"):
            found.wheels.add(_canonical(name.split("-")[0]))
        elif name.lower().endswith(SDIST_SUFFIXES):
            project = re.sub(r"\.(tar\.gz|tgz|zip|tar\.bz2|tar\.xz|tar)$", "", name, flags=re.I).rpartition("-")[0]
            found.sdists.setdefault(_canonical(project or name), []).append(name)
            if wheels_only:
                continue
        else:
            continue
        links.append(f'<a href="{html.escape(path.absolute().as_uri())}">{html.escape(name)}</a><br>')
    dest.write_text("<!DOCTYPE html>\n<html><body>\n" + "\n".join(links) + "\n</body></html>\n", encoding="utf-8")
    return found


# ----------------------------------------------------------------------------------- the command
def pip_args(plan: Plan, requirements: Path, target: Path, links: Path | None) -> list[str]:
    args = ["install", "--target", str(target), "-r", str(requirements), "--no-input",
            "--disable-pip-version-check", "--no-warn-script-location"]
    if plan.wheels_only:
        args += ["--only-binary", ":all:"]
    # No cache: one shared by every prepare would be written by the sandboxed pip (and by a build's code), and
    # an entry planted there would reach other packages' environments. ADE_WHEELHOUSE is the offline source.
    args.append("--no-cache-dir")
    if links is not None:
        args += ["--no-index", "--find-links", str(links)]
    return args


def child_env(plan: Plan, work: Path, marker: str) -> dict[str, str]:
    """pip's whole environment: nothing of the parent's (no database URL, keys or tokens)."""
    home = str(work / "home")
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": home, "TMPDIR": home,
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONNOUSERSITE": "1", "ADE_JOB_ID": marker}
    if not plan.network:
        env["PIP_CONFIG_FILE"] = os.devnull  # offline: the wheelhouse is the only source, whatever pip.conf says
    return env


def read_paths(plan: Plan, site: Path, wheelhouse: Path | None) -> list[str]:
    """What pip may read besides the system, the interpreter's stdlib and its site: the interpreter (a build
    backend runs in a new one), the wheelhouse, pip's configuration (index only) and what its user agent reads."""
    from ade_engine.jobs.runtime_site import interpreter_info

    paths = [str(site), os.path.dirname(plan.python), os.path.dirname(os.path.realpath(plan.python)),
             *interpreter_info(plan.python).get("paths", [])]
    venv_cfg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(plan.python))), "pyvenv.cfg")
    if os.path.isfile(venv_cfg):  # a venv's interpreter reads it at start-up (a build backend's too)
        paths.append(venv_cfg)
    paths.extend(p for p in PIP_SYSTEM_FILES if os.path.exists(p))
    if wheelhouse is not None:
        paths.append(str(wheelhouse))
    if plan.network:
        paths.extend(p for p in PIP_CONFIG_PATHS if os.path.exists(p))
    return paths


def command(plan: Plan, site: Path, request: dict[str, Any]) -> list[str]:
    import json

    return [plan.python, *INTERPRETER_FLAGS, "-c", BOOT.format(site=str(site)), json.dumps(request)]


def check_reach(plan: Plan, site: Path, work_parent: Path, wheelhouse: Path | None) -> None:
    """As another account: it must run the interpreter, read the site and pass through envs/ (and the
    wheelhouse); else `prepare_failed` naming the path and the fix. ADE only checks, never opens them up."""
    if not plan.switch_to:
        return
    from ade_engine.jobs.runtime_site import unreachable_for

    checks = [(plan.python, "x"), (str(site / "pip" / "__init__.py"), "r"), (str(work_parent), "x")]
    if wheelhouse is not None:
        checks.append((str(wheelhouse), "x"))
    for path, need in checks:
        problem = unreachable_for(plan.switch_to, path, need=need)
        if problem:
            fix = ("set ADE_JOB_PYTHON to a Python the account can run, of the same minor version" if path == plan.python
                   else f"let {plan.switch_to} pass through the folders above it (chmod o+x) and read the files")
            raise _fail(f"pip runs as ADE_JOB_USER={plan.switch_to}, which cannot reach what it needs: {problem}; "
                        f"{fix}.", path=path)


def popen_identity(plan: Plan) -> dict[str, Any]:
    if not plan.switch_to:
        return {}
    entry = pwd.getpwnam(plan.switch_to)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
