"""The parent-side probe, level resolution, and the bubblewrap prefix of level `strict`."""

from __future__ import annotations

import sys

import pytest
from sandbox_helpers import make_job, run_confined

from ade_engine.jobs import sandbox
from ade_engine.jobs.sandbox import LEVELS, Mechanism, SandboxUnavailable, _build_report, resolve_level

REPORT = sandbox.probe()
needs_strict = pytest.mark.skipif(not REPORT.available("strict"),
                                  reason=f"strict unavailable here: {REPORT.levels['strict'].blocked_by}")


def _report(bwrap=True, landlock=True, seccomp=True, root=False):
    mech = {
        "bubblewrap": Mechanism("bubblewrap", bwrap, "x", None if bwrap else "install bubblewrap"),
        "landlock": Mechanism("landlock", landlock, "x", None if landlock else "upgrade the kernel"),
        "seccomp": Mechanism("seccomp", seccomp, "x", None if seccomp else "install libseccomp"),
    }
    return _build_report(mech, root)


def test_probe_reports_a_consistent_picture_of_this_machine():
    report = sandbox.probe()
    assert report is sandbox.probe()  # cached per process
    assert report.levels["reduced"].available
    assert report.best_level == next(level for level in LEVELS if report.available(level))
    assert report.missing("strict") == [] or sys.platform != "linux"
    assert report.missing("standard")[:1] == ["bubblewrap"]
    for mech in report.mechanisms.values():
        assert mech.available or mech.fix, f"{mech.name} is missing without a fix"
    if report.mechanisms["landlock"].available:
        assert report.mechanisms["landlock"].abi >= 1


def test_force_refresh_probes_again(monkeypatch):
    # bwrap's presence is the machine's edge: hide it and the probe must say so, with the fix.
    monkeypatch.setattr(sandbox.shutil, "which", lambda *a, **k: None)
    try:
        report = sandbox.probe(force_refresh=True)
        assert not report.available("strict")
        assert report.levels["strict"].blocked_by[0] == "bubblewrap"
        assert "apt-get install bubblewrap" in report.mechanisms["bubblewrap"].fix
        assert any("bubblewrap" in p["what"] for p in report.problems)
        assert report.best_level != "strict"
    finally:
        monkeypatch.undo()
        sandbox.probe(force_refresh=True)


def test_auto_picks_the_best_level_and_a_lower_named_level_is_used_exactly():
    report = _report(bwrap=False)
    assert resolve_level("auto", report) == "standard"
    assert resolve_level("", report) == "standard"
    assert resolve_level("basic", report) == "basic"
    assert resolve_level("reduced", report) == "reduced"


def test_a_named_level_that_is_not_available_fails_with_the_fix():
    report = _report(bwrap=False, landlock=False)
    assert report.best_level == "basic"
    with pytest.raises(SandboxUnavailable) as err:
        resolve_level("standard", report)
    assert err.value.code == "sandbox_unavailable"
    assert "landlock" in err.value.message and "upgrade the kernel" in err.value.message
    assert "best available: basic" in err.value.message


def test_unknown_level_is_refused():
    with pytest.raises(SandboxUnavailable):
        resolve_level("paranoid", _report())


def test_root_without_job_user_runs_no_job():
    report = _report(root=True)
    assert any(p["kind"] == "root" and "ADE_JOB_USER" in p["fix"] for p in report.problems)
    with pytest.raises(SandboxUnavailable) as err:
        resolve_level("auto", report)
    assert "ADE_JOB_USER" in err.value.message
    assert resolve_level("auto", report, job_user="ade-jobs") == "strict"


def test_without_seccomp_only_reduced_is_left():
    report = _report(bwrap=False, landlock=False, seccomp=False)
    assert report.best_level == "reduced"
    assert report.missing("reduced") == ["bubblewrap", "landlock", "seccomp"]
    assert report.levels["basic"].blocked_by == ["seccomp"]


def test_bwrap_argv_shares_the_network_only_when_asked(tmp_path):
    dirs = make_job(tmp_path)
    off = sandbox.bwrap_argv(dirs.job_dir, sandbox.runtime_read_paths(), network=False)
    on = sandbox.bwrap_argv(dirs.job_dir, sandbox.runtime_read_paths(), network=True)
    assert off[:2] == ["bwrap", "--unshare-all"] and "--share-net" not in off
    assert "--share-net" in on and "--die-with-parent" in on
    assert "--new-session" not in off  # the job must stay in the launcher's process group
    assert str(dirs.outside) not in " ".join(off)
    assert "/run/user" not in " ".join(off)


@needs_strict
def test_strict_job_sees_only_its_job_dir_and_cannot_change_its_package(tmp_path):
    dirs = make_job(tmp_path)
    prefix = sandbox.bwrap_argv(dirs.job_dir, sandbox.runtime_read_paths(sys.executable), network=False)
    res = run_confined(dirs, "strict", [
        ("write_inside", "write", str(dirs.job_dir / "result.json")),
        ("write_config", "write", str(dirs.config_dir / "manifest.json")),
        ("write_input", "write", str(dirs.input_path)),
        ("see_data_dir", "exists", str(dirs.secret)),
        ("see_home", "exists", "/root/.bashrc"),
        ("udp", "udp_socket"),
        ("setsid", "setsid"),
    ], prefix=prefix)
    assert res.error is None, res.error
    assert res.missing == []
    assert res.allowed("write_inside")
    assert (dirs.job_dir / "result.json").read_text() == "x"
    assert res.denied_with("write_config") in ("EROFS", "EACCES")
    assert res.denied_with("write_input") in ("EROFS", "EACCES")
    assert (dirs.config_dir / "manifest.json").read_text() == "{}"
    assert res.denied_with("see_data_dir") == "ENOENT"
    assert res.denied_with("see_home") == "ENOENT"
    assert res.denied_with("udp") == "EPERM"
    assert res.denied_with("setsid") == "EPERM"
