"""Named checks 20, 22 and 24 (secrets): what a job's environment holds, which key source `ade doctor` reports for
each keyring backend, and a key rotation killed halfway. (Checks 21 and 23 are tests named in
tests/security/test_named_checks.py.)"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from security_jobs import held_job, prices_csv, probe_package, settings_for, wait_until

from sandbox_helpers import IS_ROOT, NO_JOB_PYTHON, job_user_env

from ade_engine.errors import AdeError

REPO = Path(__file__).resolve().parents[2]
TOKEN = "requested-Secret/value+42"
OTHER = "unrequested-Secret-value-77"
AWS = "aws-canary-wJalrXUtnFEMI/K7MDENG"
DB_URL = "postgresql://ade:db-canary-pw@db.example/ade"

# The job's whole environment (jobs.md §6.2), plus what its manifest's `env` adds.
ALLOWED_ENV = {"PATH", "LANG", "LC_ALL", "TZ", "PYTHONHASHSEED", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE",
               "HOME", "TMPDIR", "ADE_JOB_ID", "ADE_JOB_DIR", "ADE_TRACE_ID", "ADE_NETWORK",
               "PWD"}  # set by bubblewrap at `strict` to the job dir (its --chdir): the same as ADE_JOB_DIR


def _ade(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ade_engine.cli.main", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def _base_env(tmp_path: Path, data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADE_", "PYTHON_KEYRING"))}
    (tmp_path / "no-samples").mkdir(exist_ok=True)
    env.update({"ADE_DATA_DIR": str(data), "ADE_SAMPLE_CONFIGS_DIR": str(tmp_path / "no-samples"),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])), **extra})
    return env


# ------------------------------------------------------------------------------------------- check 20
ENV_HOOK = '''
def run(*, secrets, **_):
    record(env=dict(os.environ), names=sorted(secrets), got_token=secrets.get("API_TOKEN") == {token!r})
    hold()
'''


@pytest.mark.skipif(bool(NO_JOB_PYTHON), reason=NO_JOB_PYTHON or "jobs can run")
def test_env_scrubbed_and_only_requested_secrets(tmp_path, monkeypatch):
    from ade_engine.services import secrets as svc
    from ade_engine.services.workspace import open_workspace

    (tmp_path / "no-samples").mkdir()
    settings = settings_for(tmp_path / "data", "auto")
    ws = open_workspace(settings)
    try:
        svc.set_secret(ws, "API_TOKEN", TOKEN)
        svc.set_secret(ws, "OTHER_TOKEN", OTHER)
        # The engine's own environment holds what a job must never see.
        for key, value in {"AWS_SECRET_ACCESS_KEY": AWS, "ADE_DATABASE_URL": DB_URL,
                           "ADE_SECRET_OTHER_TOKEN": OTHER}.items():
            monkeypatch.setenv(key, value)

        def secrets_for(request):
            from ade_engine.manifest import load_manifest

            manifest = load_manifest(Path(request["config_dir"]))
            return svc.secrets_for_job(ws, config_id=request["config_id"], manifest=manifest, job_id=request["job_id"])

        seen = {}
        for name, requested in (("requests", ["API_TOKEN"]), ("requests-nothing", [])):
            manifest = {"env": {"CURRENCY": "CAD"}, "secrets": ["API_TOKEN", "OTHER_TOKEN"]}
            pkg = probe_package(tmp_path / name, ENV_HOOK.format(token=TOKEN), manifest=manifest, secrets=requested)
            with held_job(settings, pkg, prices_csv(tmp_path / f"{name}.csv"), secrets_for=secrets_for) as job:
                try:  # what anyone on the host could read of the running job
                    environ = Path(f"/proc/{job.spawned['pid']}/environ").read_bytes()
                except PermissionError:
                    environ = b""  # not even readable: nothing to find in it
            assert job.run.outcome.status == "succeeded", job.run.outcome.error
            seen[name] = (job.run.found, environ)
    finally:
        ws.close()

    found, environ = seen["requests"]
    assert set(found["env"]) <= ALLOWED_ENV | {"CURRENCY"}, sorted(set(found["env"]) - ALLOWED_ENV)
    assert found["env"]["CURRENCY"] == "CAD"
    assert found["names"] == ["API_TOKEN"] and found["got_token"] is True
    for value in (TOKEN, OTHER, AWS, DB_URL):
        assert value not in json.dumps(found["env"]) and value.encode() not in environ

    found, environ = seen["requests-nothing"]
    assert found["names"] == [] and not any(k.startswith("ADE_SECRET") for k in found["env"])
    for value in (TOKEN, OTHER, AWS, DB_URL):
        assert value not in json.dumps(found["env"]) and value.encode() not in environ


# ------------------------------------------------------------------------------------------- check 22
FAKE_BACKENDS = {
    # A stand-in for keyrings.alt's plaintext file backend, at its real import path.
    "keyrings/alt/file.py": '''
        import json, os
        from keyring.backend import KeyringBackend

        class PlaintextKeyring(KeyringBackend):
            priority = 0.5

            def _load(self):
                path = os.environ["FAKE_KEYRING_STORE"]
                return json.load(open(path)) if os.path.exists(path) else {}

            def get_password(self, service, username):
                return self._load().get(service + "/" + username)

            def set_password(self, service, username, password):
                data = self._load()
                data[service + "/" + username] = password
                json.dump(data, open(os.environ["FAKE_KEYRING_STORE"], "w"))

            def delete_password(self, service, username):
                pass
    ''',
    # A working OS keyring (a desktop's Secret Service, say): kept in a file so that every `ade` process sees it.
    "desktop_keyring.py": '''
        from keyrings.alt.file import PlaintextKeyring as _Store

        class DesktopKeyring(_Store):
            priority = 5
    ''',
}


@pytest.mark.parametrize(("backend", "source"), [
    ("keyrings.alt.file.PlaintextKeyring", "key file"),
    ("keyring.backends.fail.Keyring", "key file"),
    ("desktop_keyring.DesktopKeyring", "OS keyring"),
], ids=["plaintext", "fail", "working"])
def test_keyring_backend_selection(tmp_path, backend, source):
    fakes = tmp_path / "fakes"
    for rel, text in FAKE_BACKENDS.items():
        (fakes / rel).parent.mkdir(parents=True, exist_ok=True)
        (fakes / rel).write_text(textwrap.dedent(text))
    data, store = tmp_path / "data", tmp_path / "backend-store.json"
    env = _base_env(tmp_path, data, PYTHON_KEYRING_BACKEND=backend, FAKE_KEYRING_STORE=str(store),
                    ADE_SANDBOX="reduced", **job_user_env())
    env["PYTHONPATH"] = os.pathsep.join([str(fakes), env["PYTHONPATH"]])

    done = _ade(env, "secret", "set", "API_TOKEN", stdin=TOKEN)
    assert done.returncode == 0, done.stderr
    doctor = _ade(env, "doctor", "--json")
    check = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "secrets")
    assert check["status"] == "ok", check
    assert check["summary"].startswith(f"master keys from {source}"), check["summary"]
    key_file = data / "keys" / "keyring.json"
    if source == "key file":
        assert key_file.is_file() and not store.exists()  # the refused backend was never written
    else:
        assert not key_file.exists() and "ade" in store.read_text()
    listed = _ade(env, "secret", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)["secrets"][0]["status"] == "ok", listed.stderr


# ------------------------------------------------------------------------------------------- check 24
KILLED_MIDWAY = r'''
import sys, time
import ade_engine.services.secrets as svc

real_replace = svc._TableRecords.replace
done = []

def replace(self, record, envelope, key_id):
    real_replace(self, record, envelope, key_id)
    done.append(record.id)
    if len(done) == 2:  # two rows re-encrypted and committed: now the test kills us
        open(sys.argv[1], "w").write("halfway")
        time.sleep(600)

svc._TableRecords.replace = replace
from ade_engine.cli.main import main
sys.exit(main(["secret", "rotate-key"]))
'''
NAMES = [f"TOKEN_{i}" for i in range(5)]


def _all_values(ws) -> dict[str, str]:
    from pkgfactory import BASE_MANIFEST, deep_merge

    from ade_engine.services import secrets as svc

    manifest = deep_merge(BASE_MANIFEST, {"secrets": NAMES, "hooks": {"after_mapping": [
        {"script": "hooks/h.py", "secrets": NAMES}]}})
    return svc.secrets_for_job(ws, config_id="c", manifest=manifest, job_id=None)


def _db(data: Path, sql: str, *args) -> list[tuple]:
    con = sqlite3.connect(data / "ade.sqlite")
    try:
        rows = con.execute(sql, args).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def test_rotation_crash_safe(tmp_path):
    from ade_engine.services import secrets as svc
    from ade_engine.services.workspace import open_workspace

    data = tmp_path / "data"
    env = _base_env(tmp_path, data, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    values = {name: f"value-of-{name.lower()}-{i}" for i, name in enumerate(NAMES)}
    for name, value in values.items():
        assert _ade(env, "secret", "set", name, stdin=value).returncode == 0
    key_file = data / "keys" / "keyring.json"
    old = json.loads(key_file.read_text())["primary"]

    marker = tmp_path / "halfway"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_MIDWAY, str(marker)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: marker.exists() or proc.poll() is not None, timeout=90, what="rotate-key to get halfway")
        assert marker.exists(), proc.communicate()[1].decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    keys = json.loads(key_file.read_text())
    assert old in keys["keys"] and len(keys["keys"]) == 2  # both keys present
    used = {row[0] for row in _db(data, "select key_id from secrets where ciphertext is not null")}
    assert used == set(keys["keys"])  # really halfway: rows under each key
    settings = settings_for(data, "reduced")
    with open_workspace(settings) as ws:
        assert _all_values(ws) == values  # every secret still decrypts

    rerun = _ade(env, "secret", "rotate-key")
    assert rerun.returncode == 0, rerun.stderr
    keys = json.loads(key_file.read_text())
    assert list(keys["keys"]) == [keys["primary"]] and old not in keys["keys"]  # the old key is retired
    with open_workspace(settings) as ws:
        assert _all_values(ws) == values

        # Ciphertext tampered with, or moved to another name: no value, a clean secrets_unavailable.
        (ct0,) = _db(data, "select ciphertext from secrets where name = ?", NAMES[0])[0]
        (ct1,) = _db(data, "select ciphertext from secrets where name = ?", NAMES[1])[0]
        flipped = ct0[:-3] + ("A" if ct0[-3] != "A" else "B") + ct0[-2:]
        for name, bad in ((NAMES[0], flipped), (NAMES[1], ct0)):
            _db(data, "update secrets set ciphertext = ? where name = ?", bad, name)
            with pytest.raises(AdeError) as err:
                _all_values(ws)
            assert err.value.code == "secrets_unavailable" and name in err.value.message
            assert not any(v in err.value.message for v in values.values())
            _db(data, "update secrets set ciphertext = ? where name = ?", ct0 if name == NAMES[0] else ct1, name)
        assert _all_values(ws) == values
