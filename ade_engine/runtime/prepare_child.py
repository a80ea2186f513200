"""The pip process of prepare (jobs.md §5.1), confined before pip is imported.

`ade_engine.jobs.prepare` starts it as `<python> -s -S -P -B -X utf8 -c <boot> <request JSON>`, as the job
account when ADE runs as root with `ADE_JOB_USER`, with `sys.path` = the stdlib + the prepare site (this
module, `confine` and what it imports, pyseccomp, pip). Nothing else of the application is importable.

Order: limits (CPU time, address space, file size; no core files), then `confine.apply(level, ...)`: Landlock
lets it write only the prepare work dir (which holds its `HOME`/`TMPDIR`) and read the system, the
interpreter, its site and the wheelhouse; seccomp and Landlock's TCP rules take the network away unless it
installs from the index. Then it says what it is (`[ade] prepare: ...` as its first line, read by the parent
for the record) and runs `pip install` in this process; a build backend pip starts inherits every layer.
When pip succeeds it writes `freeze.txt` (`name==version` of each distribution in `vendor/`).

Exit status: pip's own, or 3 when a confinement step failed (`[ade] sandbox_unavailable: ...`).
Imports only the stdlib, `ade_engine.errors` and `ade_engine.runtime.confine`; never the rest of the engine.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

MIB = 1024 * 1024
SELF_REPORT = "[ade] prepare: "
UNAVAILABLE = "[ade] sandbox_unavailable: "
EXIT_SANDBOX = 3


def _limit(which: int, soft: int, hard: int) -> None:
    import resource

    _cur, cur_hard = resource.getrlimit(which)
    if cur_hard != resource.RLIM_INFINITY:
        hard = min(hard, cur_hard)
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))


def apply_limits(limits: dict[str, Any]) -> None:
    """CPU seconds (hard = soft + 5), address space, file size (SIGXFSZ ignored: writes fail with EFBIG)."""
    import resource

    os.umask(0o022)
    _limit(resource.RLIMIT_CORE, 0, 0)
    if limits.get("cpu_seconds"):
        _limit(resource.RLIMIT_CPU, int(limits["cpu_seconds"]), int(limits["cpu_seconds"]) + 5)
    if limits.get("memory_mb"):
        _limit(resource.RLIMIT_AS, int(limits["memory_mb"]) * MIB, int(limits["memory_mb"]) * MIB)
    if limits.get("fsize_mb"):
        _limit(resource.RLIMIT_FSIZE, int(limits["fsize_mb"]) * MIB, int(limits["fsize_mb"]) * MIB)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def write_freeze(vendor: str, dest: str) -> None:
    """`name==version` of every distribution installed in `vendor`, sorted (what `pip freeze --path` lists)."""
    from importlib import metadata

    found = set()
    for dist in metadata.distributions(path=[vendor]):
        name = dist.metadata.get("Name")
        if name:
            found.add(f"{name}=={dist.version}")
    with open(dest, "w", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in sorted(found, key=str.lower)))


def main(argv: list[str]) -> int:
    request = json.loads(argv[1])
    work = request["work"]
    apply_limits(request.get("limits") or {})
    from ade_engine.runtime import confine

    try:
        missing = confine.apply(request["level"], job_dir=work, config_dir=work, input_path=None,
                                vendor_dir=None, network=bool(request["network"]),
                                extra_read=request.get("read") or ())
    except confine.SandboxUnavailable as exc:
        print(UNAVAILABLE + exc.reason, flush=True)
        return EXIT_SANDBOX
    report = {"uid": os.getuid(), "gid": os.getgid(), "level": request["level"], "missing": missing,
              "network": bool(request["network"])}
    print(SELF_REPORT + json.dumps(report), flush=True)
    sys.argv = ["pip", *request["pip_args"]]
    from pip._internal.cli.main import main as pip_main

    code = pip_main(request["pip_args"])
    if code == 0:
        write_freeze(os.path.join(work, "vendor"), os.path.join(work, "freeze.txt"))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
