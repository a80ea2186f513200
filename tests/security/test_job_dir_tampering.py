"""A hostile package cannot make the engine write, chmod or delete outside its sandbox (issue 19, item 1).

The job swaps every file and folder of its job dir for symbolic links and hard links to victim files (owned
by the test's account, 0600) and keeps swapping from a forked process while the parent finalizes. Every
victim must be unchanged (content and mode), and the job must fail with `job_dir_tampered` naming the path.
As root the job runs as the unprivileged job user, the real deployment; the kernel's protected_hardlinks
then forbids it to hard-link the victims, so the test plants those hard links itself at the moment the job
says it is ready, as a job could on a kernel without that protection.
"""

from __future__ import annotations

import hashlib
import os
import stat
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pkgfactory import make_request, write_csv, write_package
from sandbox_helpers import IS_ROOT, JOB_PYTHON, JOB_USER

from ade_engine.jobs.runner import run_job
from ade_engine.jobs.staging import stage_job_dir
from ade_engine.settings import isolated_settings

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")

SWAPPED_FILES = ("events.ndjson", "artifact.json", "result.json", "run-request.json", "normalized.xlsx",
                 "normalized.xlsx.partial", "normalized.incomplete.xlsx", "artifact.json.tmp", "result.json.tmp")
SWAPPED_DIRS = ("tmp", "logs", "config", "inputs")

HOOK = '''
import os, time

VICTIMS = {victims!r}
VICTIM_DIR = {victim_dir!r}
FILES = {files!r}
DIRS = {dirs!r}


def swap(job_dir, n):
    for i, name in enumerate(FILES):
        target = VICTIMS[(i + n) % len(VICTIMS)]
        tmp = os.path.join(job_dir, ".swap-%d-%d" % (n, i))
        try:
            if (n + i) % 2 and {try_hardlinks!r}:
                os.link(target, tmp)  # a hard link where the kernel allows it
            else:
                os.symlink(target, tmp)
            os.replace(tmp, os.path.join(job_dir, name))
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    for name in DIRS:
        path = os.path.join(job_dir, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rename(path, path + ".moved-%d" % n)
            tmp = os.path.join(job_dir, ".dswap-%d-%s" % (n, name))
            os.symlink(VICTIM_DIR, tmp)
            os.replace(tmp, path)
        except OSError:
            pass


def run(**_):
    job_dir = os.environ["ADE_JOB_DIR"]
    swap(job_dir, 0)
    open(os.path.join(job_dir, "ready"), "w").close()
    if os.fork() == 0:  # keeps swapping while the parent finalizes, until it is killed
        try:
            os.setsid()  # escape the process group where the sandbox allows it
        except OSError:
            pass
        n = 1
        end = time.monotonic() + 4
        while time.monotonic() < end:
            swap(job_dir, n)
            n += 1
        os._exit(0)
    time.sleep(0.3)  # the test plants its hard links meanwhile (as root)
    swap(job_dir, 99)
'''


def _fingerprint(paths: list[Path]) -> dict[str, tuple[str, int, int]]:
    out = {}
    for p in paths:
        st = os.lstat(p)
        out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), stat.S_IMODE(st.st_mode), st.st_uid)
    return out


def _victims(tmp_path: Path) -> tuple[list[Path], Path]:
    vdir = tmp_path / "victims"
    vdir.mkdir(mode=0o755)
    os.chmod(vdir, 0o755)  # a folder the job might get chmod-ed or emptied: it must keep this mode and files
    files = []
    for i in range(4):
        p = vdir / f"victim{i}"
        p.write_text(f'{{"victim": {i}}}\nline two of a private file\n')
        os.chmod(p, 0o600)
        files.append(p)
    return files, vdir


@pytest.mark.parametrize("level", ["reduced", "standard"])
def test_hostile_package_swapping_job_dir_entries_changes_no_victim(tmp_path, level):
    from ade_engine.jobs.sandbox import probe

    if not probe().available(level):
        pytest.skip(f"sandbox level {level} is not available here")
    victims, vdir = _victims(tmp_path)
    before = _fingerprint(victims)
    hook = HOOK.format(victims=[str(v) for v in victims], victim_dir=str(vdir), files=list(SWAPPED_FILES),
                       dirs=list(SWAPPED_DIRS), try_hardlinks=not IS_ROOT)
    pkg = write_package(tmp_path / "pkg", manifest={"hooks": {"on_job_end": [{"script": "hooks/evil.py"}]}},
                        files={"hooks/evil.py": textwrap.dedent(hook)})
    src = write_csv(tmp_path / "prices.csv", [["SKU", "Unit Price"], ["AB-1234", "3.50"], ["CD-5678", "4.00"]])
    job_dir = tmp_path / "job"
    staged = stage_job_dir(job_dir, input_path=src, original_name=src.name, config_dir=pkg)
    request = make_request(job_dir, staged, job_dir / "config")
    settings = isolated_settings(tmp_path / "data", job_user=JOB_USER if IS_ROOT else None,
                                 job_python=JOB_PYTHON, sandbox=level, cancel_grace_seconds=1)

    planted: list[str] = []

    def plant_hard_links() -> None:
        # As root, play a job on a kernel without protected_hardlinks: hard links to root's 0600 victims.
        deadline = time.monotonic() + 30
        while not (job_dir / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        for name, victim in zip(("events.ndjson", "artifact.json", "result.json"), victims):
            tmp = job_dir / f".plant-{name}"
            try:
                os.link(victim, tmp)
                os.replace(tmp, job_dir / name)
                planted.append(name)
            except OSError:
                pass

    planter = threading.Thread(target=plant_hard_links, daemon=True)
    if IS_ROOT:
        planter.start()
    outcome = run_job(job_dir, request, settings, remove_inputs=False)
    if IS_ROOT:
        planter.join(timeout=5)
    time.sleep(0.2)

    assert _fingerprint(victims) == before, "a victim file was written, truncated, chmod-ed or chown-ed"
    assert stat.S_IMODE(os.stat(vdir).st_mode) == 0o755 and sorted(p.name for p in vdir.iterdir()) == [
        v.name for v in victims], "the victim folder was chmod-ed or emptied through a link"
    assert outcome.status == "failed", outcome
    assert outcome.error["code"] == "job_dir_tampered", outcome.error
    assert any(name in outcome.error["message"] for name in SWAPPED_FILES + SWAPPED_DIRS), outcome.error
    # ADE's own record of the job is a plain file it wrote, not a link, and says what happened.
    artifact = job_dir / "artifact.json"
    assert not artifact.is_symlink() and os.lstat(artifact).st_nlink == 1
    assert '"job_dir_tampered"' in artifact.read_text()


def test_hard_linked_and_symlinked_parent_files_are_refused_without_writing(tmp_path):
    """The parent's file primitives themselves: append, atomic save and read refuse links and hard links."""
    from ade_engine.runtime.atomic import save_json_atomic
    from ade_engine.runtime.events import EventLog
    from ade_engine.runtime.jobfiles import UnsafeEntry, read_bytes

    victims, _ = _victims(tmp_path)
    before = _fingerprint(victims)
    d = tmp_path / "jobdir"
    d.mkdir()
    (d / "events.ndjson").symlink_to(victims[0])
    os.link(victims[1], d / "hard.json")
    (d / "artifact.json.tmp").symlink_to(victims[2])  # the old fixed temp name
    log = EventLog(d / "events.ndjson", "J", 1, "parent")
    assert log.emit("exit", state="failed") is False and log.refused is not None
    assert EventLog(d / "hard.json", "J", 1, "parent").emit("exit") is False
    save_json_atomic(d / "artifact.json", {"ok": True})
    assert (d / "artifact.json").read_text().strip() == '{\n  "ok": true\n}'
    with pytest.raises(UnsafeEntry):
        read_bytes(d / "events.ndjson")
    with pytest.raises(UnsafeEntry):
        read_bytes(d / "hard.json")
    os.mkfifo(d / "fifo")
    with pytest.raises(UnsafeEntry):
        read_bytes(d / "fifo")  # refused at once, never blocking on a FIFO
    assert _fingerprint(victims) == before
