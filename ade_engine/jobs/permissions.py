"""The permission model of the data dir and of job dirs: the one place that sets their modes and owners.

Data dir. The same modes whether or not jobs run as another account (`ADE_JOB_USER`), so that no command
ever loosens or tightens them as a side effect (a job running as the job account needs to pass through the
data dir and `jobs/` for as long as it runs, whatever other `ade` commands start meanwhile):

    <data dir>, jobs/, runtime/, envs/            0711  the job account may pass through, never list
    configs/, documents/, keys/, cache/, tmp/     0700  the job account never enters
    ade.sqlite, ade.sqlite-wal, ade.sqlite-shm    0600
    runtime/<id>/, envs/<deps hash>/ contents     0755 folders, 0644 files (`open_for_jobs`): read, never write

Job dir (`jobs/<job id>/`, or the `ade run --out` folder). Staged by ADE, 0700 and ADE's: `config/` and
`inputs/` read-only, `logs/` private. While a job runs as the job account (`hand_over`), the job dir and
`tmp/` belong to that account, because the job process writes `artifact.json`, `result.json`,
`events.ndjson` and `normalized.xlsx` there; `config/` and `inputs/` stay ADE's and read-only to it, `logs/`
stays ADE's and private (the parent writes the log through a descriptor opened before the spawn). When the
job's process group is gone (`reclaim`), the job dir is ADE's again, 0700, before anything else happens:
from then on nothing of the job account can change a name in it. `inspect` then looks for entries the job
swapped (links, hard links, replaced folders), and the parent only ever opens job-dir files through
`ade_engine.runtime.jobfiles` (no link is followed, no hard-linked file is written).

Prepare work dir (`envs/.prepare-*`). ADE's and 0700; while pip runs as the job account (`hand_over_prepare`)
the folder and all in it are that account's, its only writable place. When pip's process group is gone
(`reclaim_prepare`) it is ADE's again before the parent reads or writes anything in it, and any link, hard
link or special file in it (an install never makes one) is reported; the prepared environment is then
opened for jobs read-only (`open_for_jobs`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ade_engine.runtime.jobfiles import describe, walk_tree

TRAVERSE = 0o711
PRIVATE = 0o700
DB_FILE = 0o600
# "" is the data dir itself. The order is the creation order.
DATA_DIR_MODES: dict[str, int] = {
    "": TRAVERSE, "jobs": TRAVERSE, "runtime": TRAVERSE, "envs": TRAVERSE,
    "configs": PRIVATE, "documents": PRIVATE, "keys": PRIVATE, "cache": PRIVATE, "tmp": PRIVATE,
}
DB_FILES = ("ade.sqlite", "ade.sqlite-wal", "ade.sqlite-shm")
# Files of a job dir that the parent reads or writes after the job; none may be a link or a hard link.
PARENT_FILES = ("events.ndjson", "artifact.json", "result.json", "run-request.json", "normalized.xlsx",
                "normalized.xlsx.partial", "normalized.incomplete.xlsx")
# Folders of a job dir that ADE made before the spawn; the job may not swap them for others.
ADE_FOLDERS = ("config", "inputs", "logs")
_POSIX = os.name == "posix"


# ----------------------------------------------------------------------------------------- data dir
def apply_data_dir_model(data_dir: str | os.PathLike[str]) -> list[str]:
    """Create what is missing of the data-dir tree and give every folder and database file its model mode.

    Idempotent: once a data dir follows the model, nothing changes. Returns the folders it created. Raises
    OSError when a folder cannot be created."""
    root = Path(data_dir)
    created = []
    for name, mode in DATA_DIR_MODES.items():
        path = root / name if name else root
        if not path.exists():
            path.mkdir(mode=PRIVATE, parents=True, exist_ok=True)
            created.append(str(path))
        if _POSIX and not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) != mode:
            os.chmod(path, mode)  # mkdir's mode is filtered by the umask
    if _POSIX:
        for name in DB_FILES:
            path = root / name
            if path.is_file() and not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) != DB_FILE:
                os.chmod(path, DB_FILE)
    return created


def data_dir_deviations(data_dir: str | os.PathLike[str]) -> list[str]:
    """Where the data dir differs from the model, one phrase each ("keys (0o755, expected 0o700)")."""
    root = Path(data_dir)
    found = []
    if not _POSIX:
        return found
    expected = {**DATA_DIR_MODES, **{name: DB_FILE for name in DB_FILES}}
    for name, mode in expected.items():
        path = root / name if name else root
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        label = name or str(root)
        if stat.S_ISLNK(st.st_mode):
            found.append(f"{label} (a symbolic link, expected a {'file' if name in DB_FILES else 'folder'})")
        elif stat.S_IMODE(st.st_mode) != mode:
            found.append(f"{label} ({oct(stat.S_IMODE(st.st_mode))}, expected {oct(mode)})")
    return found


def open_for_jobs(root: str | os.PathLike[str]) -> None:
    """Folders 0755 and files 0644 under `root` (a runtime site or a prepared environment that ADE built):
    readable by the job account, writable only by ADE. Links are left alone."""
    for dirpath, _dirs, files in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in files:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)


# ------------------------------------------------------------------------------------------ job dir
@dataclass
class Handover:
    """What ADE made in a job dir before the spawn (device and inode of each name), to tell swaps apart."""

    job_dir: Path
    uid: int | None = None  # the job account, or None when the job runs as ADE's own account
    gid: int | None = None
    identities: dict[str, tuple[int, int]] = field(default_factory=dict)
    vendor_target: str | None = None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def snapshot(job_dir: str | os.PathLike[str]) -> Handover:
    """Record ADE's own folders (and the log) of a staged job dir; call before the spawn."""
    job_dir = Path(job_dir)
    record = Handover(job_dir)
    for name in (*ADE_FOLDERS, "logs/worker.log"):
        ident = _identity(job_dir / name)
        if ident is not None:
            record.identities[name] = ident
    vendor = job_dir / "vendor"
    if vendor.is_symlink():
        record.vendor_target = os.readlink(vendor)
    else:
        ident = _identity(vendor)
        if ident is not None:
            record.identities["vendor"] = ident
    return record


def hand_over(job_dir: str | os.PathLike[str], user: str) -> Handover:
    """Give the job account what it writes: the job dir itself, `tmp/` and `events.ndjson`. `config/` and
    `inputs/` stay ADE's and become readable to it; `logs/` stays ADE's and private."""
    import pwd

    pw = pwd.getpwnam(user)
    job_dir = Path(job_dir)
    (job_dir / "tmp").mkdir(mode=PRIVATE, exist_ok=True)
    (job_dir / "events.ndjson").touch(mode=0o600, exist_ok=True)
    record = snapshot(job_dir)
    record.uid, record.gid = pw.pw_uid, pw.pw_gid
    os.chown(job_dir, pw.pw_uid, pw.pw_gid)
    os.chmod(job_dir, PRIVATE)
    os.chown(job_dir / "events.ndjson", pw.pw_uid, pw.pw_gid, follow_symlinks=False)
    _chown_tree(job_dir / "tmp", pw.pw_uid, pw.pw_gid)
    for sub in ("config", "inputs"):
        for dirpath, dirnames, filenames in os.walk(job_dir / sub):
            for path in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                if not os.path.islink(path):
                    mode = os.stat(path).st_mode
                    os.chmod(path, (mode | (0o555 if os.path.isdir(path) else 0o444)) & ~0o022)
    return record


def reclaim(job_dir: str | os.PathLike[str]) -> None:
    """After the job's process group is gone: the job dir (and all in it, links not followed) is ADE's
    again and 0700, so the job account can no longer change any name in it. A no-op for a job that ran as
    ADE's own account. Call before reading or writing anything in the job dir."""
    job_dir = Path(job_dir)
    uid, gid = os.getuid(), os.getgid()
    st = os.lstat(job_dir)
    if st.st_uid == uid or os.geteuid() != 0:
        return  # ran as ADE's own account (only root hands a job dir to another one)
    # The job dir's own path is ADE's (its parent folder is not writable by the job account): chown first,
    # then nothing below it can be renamed or replaced by that account any more.
    os.chown(job_dir, uid, gid, follow_symlinks=False)
    os.chmod(job_dir, PRIVATE)
    try:
        _chown_tree(job_dir, uid, gid)
    except OSError:
        pass  # a tree too deep to walk: its files stay the job account's, out of its reach behind 0700


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    def on_file(dir_fd: int, name: str, _st: os.stat_result) -> None:
        try:
            os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            pass

    def on_dir(_parent_fd: int, _name: str, fd: int) -> None:
        os.fchown(fd, uid, gid)

    walk_tree(root, on_file, on_dir)


def inspect(job_dir: str | os.PathLike[str], record: Handover | None) -> list[str]:
    """Entries of a reclaimed job dir that the job swapped or linked, one sentence each ("events.ndjson is a
    symbolic link to /etc/passwd"); empty when the job dir is as the model says."""
    job_dir = Path(job_dir)
    found = []
    for name in PARENT_FILES:
        why = describe(job_dir / name)
        if why is not None:
            found.append(f"{name} is {why}")
    if record is not None:
        for name, ident in record.identities.items():
            now = _identity(job_dir / name)
            if now != ident:
                found.append(f"{name} was {'removed' if now is None else 'replaced'} by the job")
        vendor = job_dir / "vendor"
        if record.vendor_target is not None:
            target = os.readlink(vendor) if vendor.is_symlink() else None
            if target != record.vendor_target:
                found.append("vendor (ADE's link to the prepared environment) was replaced by the job")
    return found


# ------------------------------------------------------------------------------------ prepare work dir
def hand_over_prepare(work: str | os.PathLike[str], user: str) -> None:
    """Give the prepare work dir (and all in it) to `user`, 0700: pip installs there as that account. envs/
    stays ADE's (0711), so the account reaches this folder by name and nothing else of envs/."""
    import pwd

    pw = pwd.getpwnam(user)
    _chown_tree(Path(work), pw.pw_uid, pw.pw_gid)
    os.chmod(work, PRIVATE)


def reclaim_prepare(work: str | os.PathLike[str]) -> list[str]:
    """After pip's process group is gone: the work dir is ADE's again (0700; a no-op when pip ran as ADE's own
    account), then every entry that is not a plain file or folder — a symbolic or hard link, a FIFO, a
    socket, a device — one sentence each ("vendor/x is a symbolic link to /etc/shadow"). Call before reading
    or writing anything in it."""
    work = Path(work)
    reclaim(work)
    found: list[str] = []

    def on_file(dir_fd: int, name: str, st: os.stat_result) -> None:
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
            return
        try:
            path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), name)
        except OSError:  # no /proc: the name alone
            path = str(work / name)
        why = describe(path) or "not a plain file"
        found.append(f"{os.path.relpath(path, work)} is {why}")

    try:
        walk_tree(work, on_file, lambda _parent_fd, _name, _fd: None)
    except OSError as exc:
        found.append(f"the folder could not be checked ({exc.strerror or exc})")
    return found[:20]
