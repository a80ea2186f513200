"""Issue 19 §5: prepare installs wheels only, runs pip as the job account, confined, and says so in the artifact.

A source distribution runs its build code when pip builds it. Each test gives prepare a local wheelhouse
(no network) holding an sdist of `adeevil` whose in-tree build backend (a `pyproject.toml` naming
`backend.py`, the PEP 517 equivalent of a `setup.py`) tries what a hostile package would: write a file
outside the prepare folder, open a TCP connection to a listener of this test, plant a link where the parent
writes its log. Where it is allowed to build (ADE_PREPARE_ALLOW_SDIST=1) it records what it saw in the wheel
it builds, so the installed module says what the build code could do.

As root, pip runs as the job account (`nobody`); as a normal user (CI runs this folder that way too) it runs
as that user, and only the sandbox layers stand in the way. Tests that need a layer skip with the probe's
reason where this machine lacks it.
"""

from __future__ import annotations

import ast
import io
import json
import os
import pwd
import socket
import tarfile
from pathlib import Path

import pytest
from pkgfactory import write_csv
from test_dependencies_publish import build_wheel, dependent_package, wheelhouse  # noqa: F401 - fixture

from sandbox_helpers import IS_ROOT, JOB_PYTHON, JOB_USER, NO_JOB_PYTHON

from ade_engine.cli.main import main
from ade_engine.errors import AdeError
from ade_engine.jobs.prepare import ensure_prepared
from ade_engine.jobs.sandbox import probe
from ade_engine.settings import isolated_settings

REPORT = probe()
pytestmark = [pytest.mark.skipif(os.name != "posix", reason="POSIX only"),
              pytest.mark.skipif(bool(NO_JOB_PYTHON), reason=NO_JOB_PYTHON or "jobs can run")]
NEEDS_STANDARD = pytest.mark.skipif(
    not REPORT.available("standard"),
    reason=f"sandbox level standard is not available here: missing {', '.join(REPORT.levels['standard'].blocked_by)}")
PIP_ACCOUNT = JOB_USER if IS_ROOT else pwd.getpwuid(os.getuid()).pw_name

BACKEND = '''
"""In-tree build backend of adeevil: its code runs whenever pip builds the sdist."""
import base64, hashlib, os, zipfile

OUTSIDE = {outside!r}
PORT = {port!r}
VICTIM = {victim!r}
LINGER = {linger!r}


def _attempt(action):
    try:
        action()
        return "ok"
    except OSError as exc:
        return type(exc).__name__


def _write():
    with open(OUTSIDE, "w") as fh:
        fh.write("the build code escaped")


def _connect():
    import _socket  # the kernel's answer, not a Python-level stub
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        s.settimeout(5)
        s.connect(("127.0.0.1", PORT))
    finally:
        s.close()


def _plant_link():
    # the parent writes install.log in the prepare folder after pip: a link there would make it write the victim
    os.symlink(VICTIM, os.path.join(os.environ["HOME"], os.pardir, "install.log"))


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    seen = {{"uid": os.getuid(), "write": _attempt(_write), "connect": _attempt(_connect)}}
    if VICTIM:
        seen["link"] = _attempt(_plant_link)
    if LINGER:  # a child left behind (its output detached, or pip itself would wait for it)
        import subprocess, sys
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", LINGER], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dist = "adeevil-1.0.dist-info"
    files = {{"adeevil/__init__.py": "SEEN = " + repr(seen) + "\\n",
             dist + "/METADATA": "Metadata-Version: 2.1\\nName: adeevil\\nVersion: 1.0\\n",
             dist + "/WHEEL": "Wheel-Version: 1.0\\nGenerator: adeevil\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(path + ",sha256=" + digest + "," + str(len(text.encode())))
    files[dist + "/RECORD"] = "\\n".join(record + [dist + "/RECORD,,"]) + "\\n"
    name = "adeevil-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return name
'''

PYPROJECT = '''[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]

[project]
name = "adeevil"
version = "1.0"
'''


def sdist_house(root: Path, *, outside: Path, port: int | None = None, victim: Path | None = None,
                linger: str | None = None) -> Path:
    """A wheelhouse holding only `adeevil-1.0.tar.gz`, readable by the job account."""
    house = root / "house"
    house.mkdir()
    members = {"pyproject.toml": PYPROJECT,
               "backend.py": BACKEND.format(outside=str(outside), port=port, victim=str(victim) if victim else None,
                                            linger=linger),
               "PKG-INFO": "Metadata-Version: 2.1\nName: adeevil\nVersion: 1.0\n"}
    with tarfile.open(house / "adeevil-1.0.tar.gz", "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"adeevil-1.0/{name}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    house.chmod(0o755)
    (house / "adeevil-1.0.tar.gz").chmod(0o644)
    return house


def outside_dir(tmp_path: Path) -> Path:
    """A folder outside the prepare folder that the pip account may write as far as file modes go (0777), so
    that only the sandbox can keep the build code out of it."""
    path = tmp_path / "outside"
    path.mkdir()
    path.chmod(0o777)
    return path


def package(root: Path, requirement: str = "adeevil==1.0") -> Path:
    root.mkdir(parents=True)
    (root / "requirements.txt").write_text(requirement + "\n", encoding="utf-8")
    return root


def settings_for(tmp_path: Path, house: Path, **extra):
    return isolated_settings(tmp_path / "data", wheelhouse=house, job_user=JOB_USER if IS_ROOT else None,
                             job_python=JOB_PYTHON, **extra)


@pytest.fixture
def listener():
    """A loopback TCP listener; after the test, a connection made to it is still waiting to be accepted."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def connections(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


# ------------------------------------------------------------------------------------------ wheels only
def test_sdist_only_requirement_is_refused_by_default_and_its_build_code_never_runs(tmp_path):
    outside = outside_dir(tmp_path)
    house = sdist_house(tmp_path, outside=outside / "marker")
    settings = settings_for(tmp_path, house)
    with pytest.raises(AdeError) as err:
        ensure_prepared(settings, package(tmp_path / "pkg"), "a" * 64)
    assert err.value.code == "prepare_failed"
    message = err.value.message
    # why, and how to fix it, inside the 400 characters a job record keeps
    assert message.startswith("pip could not install requirements.txt: adeevil has only a source distribution in "
                              "ADE_WHEELHOUSE (adeevil-1.0.tar.gz), and prepare installs wheels only")
    assert "pip wheel --no-deps adeevil -w DIR" in message[:400] and "ADE_PREPARE_ALLOW_SDIST=1" in message[:400]
    assert "No matching distribution found for adeevil==1.0" in message
    assert not (outside / "marker").exists()  # the backend was never imported
    log = Path(err.value.details["install_log"]).read_text(encoding="utf-8")
    assert "--only-binary :all:" in log and "adeevil-1.0.tar.gz" not in log  # pip never even saw the sdist
    assert not (tmp_path / "data" / "envs" / ("a" * 64)).exists()


def test_allowing_source_builds_as_root_needs_the_job_account(tmp_path):
    if not IS_ROOT:
        pytest.skip("only root has a job account to run builds as")
    outside = outside_dir(tmp_path)
    house = sdist_house(tmp_path, outside=outside / "marker")
    settings = isolated_settings(tmp_path / "data", wheelhouse=house, prepare_allow_sdist=True)  # no ADE_JOB_USER
    with pytest.raises(AdeError) as err:
        ensure_prepared(settings, package(tmp_path / "pkg"), "b" * 64)
    assert err.value.code == "prepare_failed" and "ADE_JOB_USER" in err.value.message
    assert not (outside / "marker").exists()


# ------------------------------------------------------------------------------------------ confinement
@NEEDS_STANDARD
def test_source_build_allowed_runs_as_the_job_account_without_network_or_writes_outside(tmp_path, listener):
    outside = outside_dir(tmp_path)
    house = sdist_house(tmp_path, outside=outside / "marker", port=listener.getsockname()[1])
    settings = settings_for(tmp_path, house, prepare_allow_sdist=True, sandbox="standard")
    vendor = ensure_prepared(settings, package(tmp_path / "pkg"), "c" * 64)

    seen_text = (vendor / "adeevil" / "__init__.py").read_text(encoding="utf-8")
    seen = ast.literal_eval(seen_text.split("=", 1)[1].strip())
    assert seen["uid"] == pwd.getpwnam(PIP_ACCOUNT).pw_uid  # the build code ran as the job account
    assert seen["write"] == "PermissionError" and not (outside / "marker").exists()  # Landlock
    assert seen["connect"] == "PermissionError" and connections(listener) == 0  # seccomp / Landlock TCP
    build = json.loads((vendor.parent / "build.json").read_text(encoding="utf-8"))
    assert build["prepare"] == {"account": PIP_ACCOUNT, "sandbox_level": "standard", "sandbox_missing": ["bubblewrap"],
                                "network": "none", "wheels_only": False,
                                "limits": {"cpu_seconds": 600, "memory_mb": 4096, "fsize_mb": 4096}}
    # the prepared environment is ADE's and read-only to jobs
    assert vendor.stat().st_uid == os.getuid() and (vendor / "adeevil" / "__init__.py").stat().st_mode & 0o777 == 0o644


@NEEDS_STANDARD
def test_a_link_planted_by_the_build_fails_prepare_and_the_parent_never_writes_through_it(tmp_path, listener):
    outside = outside_dir(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n", encoding="utf-8")
    victim.chmod(0o666)  # writable by the pip account as far as modes go: only the parent could be made to write it
    house = sdist_house(tmp_path, outside=outside / "marker", port=listener.getsockname()[1], victim=victim)
    settings = settings_for(tmp_path, house, prepare_allow_sdist=True, sandbox="standard")
    with pytest.raises(AdeError) as err:
        ensure_prepared(settings, package(tmp_path / "pkg"), "d" * 64)
    assert err.value.code == "prepare_failed"
    assert f"install.log is a symbolic link to {victim}" in err.value.message
    assert victim.read_text(encoding="utf-8") == "untouched\n"
    envs = tmp_path / "data" / "envs"
    assert not (envs / ("d" * 64)).exists() and not [p for p in envs.iterdir() if p.name.startswith(".prepare-")]


@NEEDS_STANDARD
def test_nothing_the_build_started_outlives_prepare(tmp_path, listener):
    import uuid

    import psutil

    token = f"ade-prepare-survivor-{uuid.uuid4().hex}"
    house = sdist_house(tmp_path, outside=outside_dir(tmp_path) / "marker", port=listener.getsockname()[1],
                        linger=token)
    settings = settings_for(tmp_path, house, prepare_allow_sdist=True, sandbox="standard")
    # the child the build left behind is gone when prepare returns
    assert (ensure_prepared(settings, package(tmp_path / "pkg"), "e" * 64) / "adeevil").is_dir()
    survivors = []
    for proc in psutil.process_iter(["cmdline"]):
        if token in (proc.info["cmdline"] or []) and proc.status() != psutil.STATUS_ZOMBIE:
            survivors.append(proc.pid)
    assert survivors == []


# ------------------------------------------------------------------------------------------ the artifact
def test_the_artifact_says_how_prepare_ran(tmp_path, monkeypatch, capsys, wheelhouse):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ADE_WHEELHOUSE", str(wheelhouse))
    monkeypatch.setenv("ADE_SAMPLE_CONFIGS_DIR", str(tmp_path / "no-samples"))
    for name in ("ADE_SAFE_MODE", "ADE_SANDBOX", "ADE_PREPARE_ALLOW_SDIST"):
        monkeypatch.delenv(name, raising=False)
    write_csv(tmp_path / "prices.csv", [["SKU", "Unit Price"], ["A-1001", "3.50"]])
    pkg = dependent_package(tmp_path / "pkgs" / "tidy")

    code = main(["run", "prices.csv", "--config", str(pkg), "--out", "run", "--json"])
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert code == 0 and report["status"] == "succeeded", (report["error"], err)
    artifact = json.loads((tmp_path / "run" / "artifact.json").read_text(encoding="utf-8"))
    level = "standard" if REPORT.best_level == "strict" else REPORT.best_level  # prepare never uses bubblewrap
    assert artifact["environment"]["prepare"] == {
        "account": PIP_ACCOUNT, "sandbox_level": level, "sandbox_missing": REPORT.missing(level),
        "network": "none", "wheels_only": True}
    # the account is the one the pip process reported itself, before pip ran
    env = tmp_path / "data" / "envs" / artifact["config"]["deps_hash"]
    first = (env / "install.log").read_text(encoding="utf-8").splitlines()[2]
    assert first.startswith("[ade] prepare: ")
    assert json.loads(first.removeprefix("[ade] prepare: "))["uid"] == pwd.getpwnam(PIP_ACCOUNT).pw_uid
    events = [json.loads(x) for x in (tmp_path / "run" / "events.ndjson").read_text().splitlines()]
    said = [e["detail"]["line"] for e in events if e["event"] == "prepare.progress"]
    assert any(f"as {PIP_ACCOUNT}, sandbox {level}" in line and "network: none, wheels only" in line for line in said)


def test_a_package_without_requirements_has_no_prepare_record(tmp_path, monkeypatch, capsys):
    from pkgfactory import write_package

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ADE_SAMPLE_CONFIGS_DIR", str(tmp_path / "no-samples"))
    monkeypatch.delenv("ADE_SANDBOX", raising=False)
    write_csv(tmp_path / "prices.csv", [["SKU", "Unit Price"], ["A-1001", "3.50"]])
    pkg = write_package(tmp_path / "pkgs" / "plain")
    assert main(["run", "prices.csv", "--config", str(pkg), "--out", "run", "--json"]) == 0, capsys.readouterr()
    artifact = json.loads((tmp_path / "run" / "artifact.json").read_text(encoding="utf-8"))
    assert "prepare" not in artifact["environment"] and artifact["environment"]["dependencies"] == []

