"""Dynamic package validation (config-packages.md §6.2): import and probe scripts in a child process.

The child (`probe_child.py`, run as a script) gets a scrubbed environment, the package root on
`sys.path`, an address-space and CPU limit, no sockets, and placeholder secrets; it answers with one
JSON line of diagnostics. A child that dies or overruns the wall clock becomes a diagnostic.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from ade_engine.errors import AdeError
from ade_engine.manifest.models import load_manifest
from ade_engine.packages.layout import scan_package
from ade_engine.packages.static_checks import Diagnostic

CHILD_SCRIPT = Path(__file__).with_name("probe_child.py")
MEMORY_MB = 256
CPU_SECONDS = 10
WALL_TIMEOUT_S = 60.0
_STDERR_TAIL = 600


def validate_dynamic(
    pkg_dir: str | Path,
    *,
    vendor_dir: str | Path | None = None,
    timeout_s: float = WALL_TIMEOUT_S,
    memory_mb: int = MEMORY_MB,
    cpu_seconds: int = CPU_SECONDS,
) -> list[Diagnostic]:
    """Import every referenced module and probe its functions in a confined child; never raises."""
    root = Path(pkg_dir).resolve()
    try:
        manifest = load_manifest(root)
        scan = scan_package(root)
    except AdeError as exc:
        return [Diagnostic("manifest.json", "error", exc.code, exc.message,
                           "fix the static errors first (run validation without --dynamic)")]
    row_modules = [f.rel_path for f in scan.files if re.fullmatch(r"row_types/[^/_][^/]*\.py", f.rel_path)]
    request = {
        "package_dir": str(root),
        "vendor_dir": str(Path(vendor_dir).resolve()) if vendor_dir else None,
        "manifest": manifest.to_runtime_dict(),
        "row_modules": row_modules,
        "memory_mb": memory_mb,
        "cpu_seconds": cpu_seconds,
    }
    with tempfile.TemporaryDirectory(prefix="ade-probe-") as work:
        env = {
            "PATH": os.defpath,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": work,
            "TMPDIR": work,
            **manifest.env,  # the job exports env too; the model already rejects ADE_/PYTHON/LD_ keys
        }
        proc = subprocess.Popen(
            [sys.executable, "-E", "-s", "-B", str(CHILD_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=work,
            env=env,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(json.dumps(request).encode("utf-8") + b"\n", timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            return [Diagnostic(".", "error", "probe.timeout",
                               f"dynamic validation did not finish within {timeout_s:.0f} s"
                               + _running(err),
                               "look for functions that sleep, wait or loop without end")]
    return _parse(proc.returncode, out, err, cpu_seconds, memory_mb)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _running(stderr: bytes) -> str:
    """' (while running columns/x.py:transform)' from the child's last PROBE line, if any."""
    probes = re.findall(rb"^PROBE (?:import|call) (.+)$", stderr, re.M)
    return f" (while running {probes[-1].decode('utf-8', 'replace')})" if probes else ""


def _parse(code: int, out: bytes, err: bytes, cpu_seconds: int, memory_mb: int) -> list[Diagnostic]:
    lines = [ln for ln in out.decode("utf-8", "replace").splitlines() if ln.strip()]
    if code == 0 and lines:
        try:
            payload = json.loads(lines[-1])
            return [Diagnostic(**d) for d in payload["diagnostics"]]
        except (ValueError, KeyError, TypeError):
            pass
    where = _running(err)
    if code == -getattr(signal, "SIGXCPU", 24):
        message = f"the validation process used more than {cpu_seconds} s of CPU{where}"
        hint = "make detectors, transforms and validators cheap; they get small samples"
        return [Diagnostic(".", "error", "probe.cpu_limit", message, hint)]
    tail = _tail(err)
    if b"MemoryError" in err:
        return [Diagnostic(".", "error", "probe.memory_limit",
                           f"the validation process ran out of memory ({memory_mb} MiB){where}",
                           "avoid building large data structures at import time or in probes")]
    status = f"signal {-code}" if code < 0 else f"exit status {code}"
    return [Diagnostic(".", "error", "probe.crashed",
                       f"the validation process died ({status}){where}" + (f": {tail}" if tail else ""),
                       "a script may call os._exit/sys.exit at import time or crash the interpreter")]


def _tail(err: bytes) -> str:
    text = "\n".join(ln for ln in err.decode("utf-8", "replace").splitlines() if not ln.startswith("PROBE "))
    text = text.strip()
    return ("..." + text[-_STDERR_TAIL:]) if len(text) > _STDERR_TAIL else text
