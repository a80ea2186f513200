"""The job process confines itself: real child processes apply a level, then try to break out."""

from __future__ import annotations

import os
import pwd
import shutil
import socket

import pytest
from sandbox_helpers import chmod_tree, make_job, run_confined, world_accessible_root

from ade_engine.jobs import sandbox

REPORT = sandbox.probe()
needs_landlock = pytest.mark.skipif(not REPORT.mechanisms["landlock"].available,
                                    reason=f"no Landlock here: {REPORT.mechanisms['landlock'].detail}")
needs_seccomp = pytest.mark.skipif(not REPORT.mechanisms["seccomp"].available,
                                   reason=f"no seccomp here: {REPORT.mechanisms['seccomp'].detail}")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching to another account needs root")


@pytest.fixture
def job(tmp_path):
    return make_job(tmp_path)


@pytest.fixture
def listener():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv.getsockname()[1]
    srv.close()


@needs_landlock
@needs_seccomp
def test_standard_keeps_writes_inside_the_job_dir_and_reads_to_the_package(job):
    res = run_confined(job, "standard", [
        ("write_inside", "write", str(job.job_dir / "result.json")),
        ("write_tmp", "write", str(job.job_dir / "tmp" / "scratch.txt")),
        ("write_outside", "write", str(job.outside / "planted.txt")),
        ("read_config", "read", str(job.config_dir / "manifest.json")),
        ("read_input", "read", str(job.input_path)),
        ("read_secret", "read", str(job.secret)),
        ("list_secret_dir", "listdir", str(job.outside)),
        ("read_etc_shadowlike", "read", "/etc/passwd"),
    ])
    assert res.error is None
    assert res.missing == ["bubblewrap"]
    assert res.allowed("write_inside") and res.allowed("write_tmp")
    assert (job.job_dir / "result.json").read_text() == "x"
    assert res.allowed("read_config") and res.allowed("read_input")
    assert res.denied_with("write_outside") == "EACCES"
    assert not (job.outside / "planted.txt").exists()
    assert res.denied_with("read_secret") == "EACCES"
    assert res.denied_with("list_secret_dir") == "EACCES"
    assert res.denied_with("read_etc_shadowlike") == "EACCES"


@needs_landlock
@needs_seccomp
def test_standard_blocks_every_socket_family_while_network_is_off(job, listener):
    res = run_confined(job, "standard", [
        ("tcp_connect", "tcp_connect", listener),
        ("udp", "udp_socket"),
        ("unix", "unix_socket"),
        ("socketpair", "socketpair"),
        ("stub", "stub_socket"),
    ])
    assert res.denied_with("tcp_connect") == "EPERM"
    assert res.denied_with("udp") == "EPERM"
    assert res.denied_with("unix") == "EPERM"
    assert res.denied_with("socketpair") == "EPERM"
    assert "network access is disabled for this job" in res.results["stub"]


@needs_landlock
@needs_seccomp
def test_network_on_allows_inet_but_still_no_unix_sockets(job, listener):
    res = run_confined(job, "standard", [
        ("tcp_connect", "tcp_connect", listener),
        ("udp", "udp_socket"),
        ("unix", "unix_socket"),
    ], network=True)
    assert res.allowed("tcp_connect")
    assert res.allowed("udp")
    assert res.denied_with("unix") == "EPERM"


@pytest.mark.skipif((REPORT.mechanisms["landlock"].abi or 0) < 4, reason="Landlock TCP rules need ABI 4 (Linux 6.7)")
def test_landlock_alone_refuses_tcp_while_network_is_off(job, listener):
    off = run_confined(job, "landlock-only", [("tcp_connect", "tcp_connect", listener), ("udp", "udp_socket")])
    assert off.denied_with("tcp_connect") == "EACCES"
    assert off.allowed("udp")  # Landlock has no UDP rules: seccomp is the barrier there
    on = run_confined(job, "landlock-only", [("tcp_connect", "tcp_connect", listener)], network=True)
    assert on.allowed("tcp_connect")


@needs_seccomp
def test_escape_syscalls_are_refused_but_subprocesses_still_work(job):
    res = run_confined(job, "basic", [
        ("setsid", "setsid"),
        ("unshare", "unshare_user"),
        ("io_uring", "io_uring_setup"),
        ("subprocess", "subprocess_true"),
    ])
    assert res.missing == ["bubblewrap", "landlock"]
    assert res.denied_with("setsid") == "EPERM"
    assert res.denied_with("unshare") == "EPERM"
    assert res.denied_with("io_uring") == "EPERM"
    # clone3 is refused with ENOSYS so libc falls back to clone, whose flags the filter can check.
    assert res.allowed("subprocess")


def test_unconfined_child_can_do_what_the_filter_refuses(job):
    """Guards the tests above: without a filter the same attempts succeed, so they test the sandbox."""
    res = run_confined(job, "reduced", [
        ("setsid", "setsid"),
        ("udp", "udp_socket"),
        ("read_secret", "read", str(job.secret)),
        ("write_outside", "write", str(job.outside / "planted.txt")),
        ("stub", "stub_socket"),
    ])
    assert res.missing == ["bubblewrap", "landlock", "seccomp"]
    assert res.allowed("setsid") and res.allowed("udp") and res.allowed("read_secret")
    assert res.allowed("write_outside")
    # At `reduced` the socket stubs are the only (contract) barrier and give a clear message.
    assert "network access is disabled for this job" in res.results["stub"]


def test_strict_outside_bubblewrap_is_refused(job):
    res = run_confined(job, "strict", [("write_outside", "write", str(job.outside / "planted.txt"))])
    assert res.error is not None and res.error["code"] == "sandbox_unavailable"
    assert "bubblewrap" in res.error["message"] and "ade doctor" in res.error["message"]
    assert res.results == {}


def test_unknown_level_is_refused(job):
    res = run_confined(job, "paranoid", [])
    assert res.error["code"] == "sandbox_unavailable"
    assert "paranoid" in res.error["message"]


@needs_root
@needs_landlock
@needs_seccomp
def test_unprivileged_job_is_confined_even_where_file_modes_allow_everything():
    root = world_accessible_root()
    try:
        dirs = make_job(root)
        chmod_tree(root)  # 0777/0666: only Landlock stands between the job and these files
        res = run_confined(dirs, "standard", [
            ("write_inside", "write", str(dirs.job_dir / "artifact.json")),
            ("write_outside", "write", str(dirs.outside / "planted.txt")),
            ("read_secret", "read", str(dirs.secret)),
            ("setsid", "setsid"),
        ], user="nobody", cwd=root)
        assert res.uid == pwd.getpwnam("nobody").pw_uid
        assert res.allowed("write_inside")
        assert res.denied_with("write_outside") == "EACCES"
        assert res.denied_with("read_secret") == "EACCES"
        assert res.denied_with("setsid") == "EPERM"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@needs_root
def test_drop_privileges_switches_for_good(job):
    root_only = job.outside / "root-only.txt"
    root_only.write_text("root")
    root_only.chmod(0o600)
    res = run_confined(job, "reduced", [("read_root_only", "read", str(root_only))], drop_to="nobody", cwd="/")
    assert res.error is None
    assert res.uid == pwd.getpwnam("nobody").pw_uid
    assert res.denied_with("read_root_only") == "EACCES"


@needs_root
def test_drop_privileges_to_unknown_account_is_a_sandbox_error(job):
    res = run_confined(job, "reduced", [], drop_to="no-such-user-ade", cwd="/")
    assert res.error["code"] == "sandbox_unavailable"
    assert "no-such-user-ade" in res.error["message"]
