"""Engine benchmark: each run in a fresh subprocess, wall time and peak RSS of that child.

(a) floor  — read the input twice streaming with python-calamine-plus, write the values once with
             xlsxwriter constant_memory (the least any two-pass engine must do);
(b) engine — `ade run <file> --config <package> --out <tmp>` (skipped with a message if it fails);
readers    — our reader with each engine (calamine vs openpyxl), to justify the default.
Ratios (b/a) are what to compare across machines, never absolute times (docs/performance.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Measure:
    name: str
    rows: int
    ok: bool
    wall_s: float | None = None
    peak_rss_mib: float | None = None
    rows_per_s: float | None = None
    note: str = ""
    samples_s: list[float] | None = None  # every wall time when the run was repeated

    def to_dict(self) -> dict:
        return asdict(self)


def run_measured(name: str, rows: int, cmd: list[str], *, cwd: Path = REPO, timeout: float = 3600,
                 extra_env: dict[str, str] | None = None) -> Measure:
    """Run `cmd` in a fresh process; wall clock and peak RSS (of the child and whatever it waited for)."""
    env = dict(os.environ, PYTHONHASHSEED="0", TZ="UTC", **(extra_env or {}))
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, env=env)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode("utf-8", "replace").strip().splitlines()[-3:]
    # ru_maxrss (KiB on Linux) covers the child and its reaped descendants (the job subprocess of `ade run`).
    rss = usage.ru_maxrss / 1024
    if proc.returncode != 0:
        return Measure(name, rows, False, wall, rss, None, f"exit {proc.returncode}: {' | '.join(tail)}")
    return Measure(name, rows, True, wall, rss, rows / wall if wall else None)


def python() -> str:
    return sys.executable


def ade_command() -> list[str]:
    exe = Path(sys.executable).with_name("ade")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "ade_engine.cli.main"]


def measure_floor(path: Path, rows: int, workdir: Path) -> Measure:
    """The floor runs on the interpreter the job process uses (ADE_JOB_PYTHON as root), with the job's own
    runtime site for calamine and xlsxwriter, so that the ratio compares code, not Python builds."""
    out = workdir / f"floor-{rows}.xlsx"
    env = job_env(workdir)
    job_python = env.get("ADE_JOB_PYTHON", python())
    extra: dict[str, str] = {}
    if job_python != python():
        from ade_engine.jobs.runtime_site import ensure_runtime

        site = ensure_runtime(env["ADE_DATA_DIR"]) / "site"
        extra["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])
    m = run_measured("floor", rows, [job_python, "-s", "-m", "benchmarks.child", "floor", str(path), str(out)],
                     extra_env=extra)
    if job_python != python():
        m.note = f"on {job_python}, the job interpreter"
    out.unlink(missing_ok=True)
    return m


def bench_config(config: Path, workdir: Path) -> Path:
    """A copy of `config` whose job limits leave room for the largest inputs (the wall clock of a 500k-row job
    is beyond a sample's 60 s); the operator caps are raised in `job_env` for the same reason."""
    import json

    dest = workdir / f"config-{config.name}"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(config, dest, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = json.loads((dest / "manifest.json").read_text())
    defaults = manifest.setdefault("engine", {}).setdefault("defaults", {})
    defaults["timeout_ms"] = 3_600_000
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return dest


def measure_engine(path: Path, rows: int, workdir: Path, config: Path) -> Measure:
    out = workdir / f"engine-{rows}"
    shutil.rmtree(out, ignore_errors=True)
    if not config.is_dir():
        return Measure("engine", rows, False, note=f"skipped: config package {config} not found")
    config = bench_config(config, workdir)
    env = job_env(workdir)
    from ade_engine.jobs.runtime_site import ensure_runtime

    ensure_runtime(env["ADE_DATA_DIR"])  # built (and compiled) once per engine version, not part of a job's time
    m = run_measured("engine", rows, ade_command() + ["run", str(path), "--config", str(config), "--out", str(out)],
                     extra_env=env)
    if not m.ok:
        m.note = f"skipped: `ade run` failed ({m.note})"
        m.wall_s = m.peak_rss_mib = None
    shutil.rmtree(out, ignore_errors=True)
    return m


def job_env(workdir: Path) -> dict[str, str]:
    """Settings for `ade run` here: a data dir of its own and, as root, the unprivileged job user
    (spec decision 11) with an interpreter that account can execute."""
    # Limits out of the way: xlsxwriter's constant-memory temp file (the sheet XML, uncompressed) passes the
    # default 100 MiB file-size limit near 100k rows of 20 columns (docs/performance.md).
    env = {"ADE_DATA_DIR": str(workdir / "data"), "ADE_JOB_TIMEOUT_SECONDS": "3600", "ADE_WORKER_FSIZE_MB": "8192"}
    if os.geteuid() == 0:
        from ade_engine.jobs.runtime_site import find_job_python

        user = os.environ.get("ADE_JOB_USER") or "nobody"
        env["ADE_JOB_USER"] = user
        python = os.environ.get("ADE_JOB_PYTHON") or find_job_python(user)[0]
        if python:
            env["ADE_JOB_PYTHON"] = python
    return env


def measure_reader(engine: str, path: Path, rows: int) -> Measure:
    return run_measured(f"read:{engine}", rows, [python(), "-m", "benchmarks.child", "read", engine, str(path)])
