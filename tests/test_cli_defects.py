"""Smaller CLI defects, as a user meets them (real `ade` processes, a real data dir, real jobs):

- a reader that leaves early (`ade … | head`) ends the command quietly, never with a BrokenPipeError traceback;
- `ade doc add` of a known document reports the same job count as `ade doc show`;
- `ade secret audit --config NOSUCH` is `not_found`, not an empty list;
- `--network` refused by the operator is said on stderr and recorded in the job's events and artifact.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ade_engine.cli.main import EXIT_BROKEN_PIPE
from sandbox_helpers import job_user_env

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_configs"
ROSTER = SAMPLES / "inputs" / "roster_clean.xlsx"


def _env(tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADE_", "PYTHON_KEYRING"))}
    env.update(job_user_env())
    env.update(ADE_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(REPO),
               ADE_SECRETS_KEY="ci-1:" + "A" * 43 + "=", PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env.update(extra)
    return env


@pytest.fixture
def ade(tmp_path):
    def run(*args: str, closed_stdout: bool = False, **extra: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "ade_engine.cli.main", *map(str, args)]
        if not closed_stdout:
            return subprocess.run(cmd, cwd=tmp_path, env=_env(tmp_path, extra), capture_output=True, text=True,
                                  timeout=300)
        # A pipe whose reader is already gone: the first write to stdout fails with EPIPE, every time.
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            return subprocess.run(cmd, cwd=tmp_path, env=_env(tmp_path, extra), stdout=write_end,
                                  stderr=subprocess.PIPE, text=True, timeout=300)
        finally:
            os.close(write_end)

    return run


# ----------------------------------------------------------------------------------------- closed pipe
@pytest.mark.parametrize("args", [
    ("job", "list"),
    ("config", "list", "--json"),
    ("doc", "list"),
    ("secret", "list"),
    ("secret", "audit", "--json"),
    ("doctor",),
    ("gc", "--dry-run"),
], ids=lambda a: " ".join(a))
def test_a_closed_pipe_ends_a_command_quietly(ade, args):
    proc = ade(*args, closed_stdout=True)
    assert proc.stderr == "", proc.stderr
    assert proc.returncode == EXIT_BROKEN_PIPE


@pytest.mark.parametrize("extra", [(), ("--json",)], ids=["summary", "json"])
def test_ade_run_into_a_closed_pipe_runs_the_job_and_ends_quietly(ade, tmp_path, extra):
    proc = ade("run", ROSTER, "--config", SAMPLES / "member_roster", "--out", tmp_path / "out", *extra,
               closed_stdout=True)
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert proc.returncode == EXIT_BROKEN_PIPE, proc.stderr
    artifact = json.loads((tmp_path / "out" / "artifact.json").read_text())
    # the job itself was not harmed by the reader leaving
    assert artifact["job"]["status"] == "succeeded", (artifact.get("error"), proc.stderr)


def test_help_into_a_closed_pipe_is_quiet(ade):
    proc = ade("--help", closed_stdout=True)
    assert proc.stderr == "" and proc.returncode in (0, EXIT_BROKEN_PIPE)


# ----------------------------------------------------------------------------------------- doc add
def test_doc_add_of_a_known_document_counts_its_jobs_like_doc_show(ade, tmp_path):
    added = json.loads(ade("doc", "add", ROSTER, "--json").stdout)
    assert added["jobs"] == 0 and added["reused"] is False
    for _ in range(2):
        submitted = ade("job", "submit", added["document_id"], "--config", "member_roster", "--force")
        assert submitted.returncode == 0, submitted.stderr
    again = ade("doc", "add", ROSTER, "--json")
    assert again.returncode == 0, again.stderr
    shown = json.loads(ade("doc", "show", added["document_id"], "--json").stdout)
    assert shown["jobs"] == 2
    assert json.loads(again.stdout)["jobs"] == shown["jobs"]
    assert "already registered (2 job(s))" in ade("doc", "add", ROSTER).stdout


# ----------------------------------------------------------------------------------------- secret audit
def test_secret_audit_of_an_unknown_config_is_not_found(ade):
    proc = ade("secret", "audit", "--config", "NOSUCH")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: not_found: config 'NOSUCH' not found in workspace")
    as_json = json.loads(ade("secret", "audit", "--config", "NOSUCH", "--json").stdout)
    assert as_json["error"]["code"] == "not_found"
    known = ade("secret", "audit", "--config", "member_roster", "--json")
    assert known.returncode == 0 and json.loads(known.stdout)["entries"] == []


# ----------------------------------------------------------------------------------------- --network
def test_network_refused_by_the_operator_is_said_and_recorded(ade):
    submitted = ade("job", "submit", ROSTER, "--config", "member_roster", "--network", "--json")
    assert submitted.returncode == 0, submitted.stderr
    assert ("warning: --network is ignored: the operator does not allow network (ADE_RUNTIME_NETWORK_ALLOWED is "
            "off); the job runs without network") in submitted.stderr
    job_id = json.loads(submitted.stdout)["job"]["job_id"]

    worked = ade("worker", "--once")
    assert worked.returncode == 0, worked.stderr
    shown = json.loads(ade("job", "show", job_id, "--json").stdout)
    assert shown["status"] == "succeeded", shown
    events = [json.loads(line) for line in ade("job", "logs", job_id, "--events").stdout.splitlines() if line]
    refused = [e for e in events if e["event"] == "network.refused"]
    assert len(refused) == 1 and refused[0]["detail"]["setting"] == "ADE_RUNTIME_NETWORK_ALLOWED"
    artifact = json.loads(ade("job", "artifact", job_id).stdout)
    assert artifact["job"]["runtime_network_access"] is False
    codes = [w["code"] for w in artifact["warnings"]]
    assert codes == ["network_refused"]
    assert "--network" in artifact["warnings"][0]["message"]


def test_network_allowed_by_the_operator_is_not_a_warning(ade):
    submitted = ade("job", "submit", ROSTER, "--config", "member_roster", "--network",
                    ADE_RUNTIME_NETWORK_ALLOWED="true")
    assert submitted.returncode == 0 and "warning" not in submitted.stderr


def test_ade_run_says_when_the_manifest_asks_for_network_the_operator_refuses(ade, tmp_path):
    pkg = tmp_path / "roster_net"
    shutil.copytree(SAMPLES / "member_roster", pkg)
    manifest = json.loads((pkg / "manifest.json").read_text())
    manifest["engine"]["defaults"]["runtime_network_access"] = True
    (pkg / "manifest.json").write_text(json.dumps(manifest))
    proc = ade("run", ROSTER, "--config", pkg, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert ("warning: network_refused: network access was asked for by the manifest (runtime_network_access), "
            "but the operator does not allow it (ADE_RUNTIME_NETWORK_ALLOWED is off)") in proc.stdout
