"""Files in a job directory, opened without following links.

A job directory is writable by the job while it runs, so any name in it may have been swapped for a
symbolic link, a hard link to another file, a FIFO or a folder. The engine (often root) must never write,
truncate or read through such an entry: every open here uses `O_NOFOLLOW` (a link as the last component
fails with ELOOP), `O_NONBLOCK` (a FIFO cannot stall the caller) and then checks with `fstat` that it got a
regular file with a single link. The directory given is trusted: its own path is not the job's to change.

Used on both sides: the job process writes its files with these calls, and the parent finalizes with them.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Callable, Iterator

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class UnsafeEntry(OSError):
    """A job-dir entry is a link, a hard-linked file or not a regular file: nothing was read or written."""

    def __init__(self, path: str | os.PathLike[str], why: str):
        super().__init__(f"{path}: {why}")
        self.path = str(path)
        self.why = why


def describe(path: str | os.PathLike[str]) -> str | None:
    """None when `path` is a regular file with one link (or absent); else what it is instead."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        try:
            return f"a symbolic link to {os.readlink(path)}"
        except OSError:
            return "a symbolic link"
    if stat.S_ISDIR(st.st_mode):
        return "a folder"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a FIFO, socket or device)"
    if st.st_nlink != 1:
        return f"a hard link shared with {st.st_nlink - 1} other name(s)"
    return None


def _checked(fd: int, path: str | os.PathLike[str]) -> int:
    st = os.fstat(fd)
    why = None
    if not stat.S_ISREG(st.st_mode):
        why = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a FIFO, socket or device)"
    elif st.st_nlink != 1:
        why = f"a hard link shared with {st.st_nlink - 1} other name(s)"
    if why is not None:
        os.close(fd)
        raise UnsafeEntry(path, why)
    return fd


def open_regular(path: str | os.PathLike[str], flags: int, mode: int = 0o600) -> int:
    """`os.open` that refuses links, FIFOs, folders and hard-linked files (`UnsafeEntry`); returns the fd.

    With `O_CREAT`, a dangling link in place of the file is refused too (no file is created at its target)."""
    try:
        fd = os.open(path, flags | _NOFOLLOW | _NONBLOCK | _CLOEXEC, mode)
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafeEntry(path, describe(path) or "a symbolic link") from None
        if isinstance(exc, IsADirectoryError):
            raise UnsafeEntry(path, "a folder") from None
        raise
    fd = _checked(fd, path)
    if _NONBLOCK:
        os.set_blocking(fd, True)
    return fd


def read_bytes(path: str | os.PathLike[str], *, limit: int | None = None, tail: bool = False) -> bytes:
    """The bytes of a regular file (the last `limit` bytes when `tail`); `UnsafeEntry` for anything else."""
    fd = open_regular(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if limit is not None and tail and size > limit:
            os.lseek(fd, size - limit, os.SEEK_SET)
        want = size if limit is None else min(size, limit)
        chunks, got = [], 0
        while got < want:
            chunk = os.read(fd, min(want - got, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def append_bytes(path: str | os.PathLike[str], data: bytes, *, cap: int | None = None) -> bool:
    """Append `data` in one write (creating the file 0600); False when `cap` would be passed.
    `UnsafeEntry` when the name is a link or not a plain file."""
    fd = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        if cap is not None and os.fstat(fd).st_size + len(data) > cap:
            return False
        os.write(fd, data)  # one write per line: concurrent appenders never interleave a line
        return True
    finally:
        os.close(fd)


def create_exclusive(path: str | os.PathLike[str], mode: int = 0o600) -> int:
    """A new file at `path` for writing; fails if any entry (a link included) is already there."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)


def unlink_entry(path: str | os.PathLike[str]) -> bool:
    """Remove the name `path` (a link is removed, never its target); folders are removed with their
    contents by `remove_tree`. Returns whether something was removed."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        remove_tree(path)
    else:
        os.unlink(path)
    return True


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Delete `path` and everything under it without following any link, even where the job made folders
    read-only (they are made writable through their own descriptor). A link at `path` itself is removed."""

    def on_file(dir_fd: int, name: str, _st: os.stat_result) -> None:
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass

    def on_dir(parent_fd: int, name: str, _fd: int) -> None:
        os.rmdir(name, dir_fd=parent_fd)

    walk_tree(path, on_file, on_dir, make_writable=True)


def walk_tree(path: str | os.PathLike[str], on_file: Callable[[int, str, os.stat_result], None],
              on_dir: Callable[[int, str, int], None], *, make_writable: bool = False) -> None:
    """Visit the tree at `path` bottom-up through directory descriptors, never through a link.

    `on_file(dir_fd, name, stat)` for every non-folder (links included, as links); `on_dir(parent_fd, name,
    fd)` for every folder after its contents. A link or file at `path` itself goes to `on_file`. An explicit
    stack instead of recursion: a hostile job may nest thousands of levels (a too-deep tree ends in OSError)."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    try:
        if not stat.S_ISDIR(st.st_mode):
            on_file(parent, path.name, st)
            return
        stack: list[tuple[int, str, int, Iterator[tuple[str, os.stat_result]]]] = []
        try:
            fd = _open_dir_at(parent, path.name, st, make_writable)
            stack.append((fd, path.name, parent, _entries(fd)))
            while stack:
                fd, name, pfd, entries = stack[-1]
                for child, cst in entries:
                    if stat.S_ISDIR(cst.st_mode):
                        try:
                            cfd = _open_dir_at(fd, child, cst, make_writable)
                        except (UnsafeEntry, FileNotFoundError, NotADirectoryError, OSError) as exc:
                            if isinstance(exc, OSError) and exc.errno == errno.EMFILE:
                                raise
                            continue  # swapped or gone while we looked: not ours to follow
                        stack.append((cfd, child, fd, _entries(cfd)))
                        break
                    on_file(fd, child, cst)
                else:
                    stack.pop()
                    try:
                        on_dir(pfd, name, fd)
                    finally:
                        os.close(fd)
        except BaseException:
            for fd, *_ in stack:
                os.close(fd)
            raise
    finally:
        os.close(parent)


def _entries(fd: int) -> Iterator[tuple[str, os.stat_result]]:
    with os.scandir(fd) as it:
        listed = [(e.name, e.stat(follow_symlinks=False)) for e in it]
    return iter(listed)


def _open_dir_at(parent_fd: int, name: str, st: os.stat_result, make_writable: bool) -> int:
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=parent_fd)
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise UnsafeEntry(name, "changed while it was being visited")
    if make_writable and (now.st_mode & 0o700) != 0o700 and now.st_uid == os.geteuid():
        os.fchmod(fd, (now.st_mode & 0o7777) | 0o700)  # through the descriptor: never a link's target
    return fd
