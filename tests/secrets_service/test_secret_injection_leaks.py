"""Real jobs: a job gets exactly the secrets its scripts request, and no byte it leaves behind holds a value.

Jobs are run the way the worker does (resolve with `secrets_for_job`, stage, launch, finalize), with the
package's hooks and field script printing, logging, raising with, writing to cells, and returning the value
in notes, hook data and issue messages. Then every file under the data dir (job files, the SQLite database
and its WAL, xlsx members unzipped) and every CLI output is searched for the value, exact and URL-encoded.
"""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from pkgfactory import read_output
from secrets_world import TOKEN, artifact, run_job, scan_text, scan_tree, write_input, write_leaky_package

from ade_engine.services import configs
from ade_engine.services import secrets as svc
from ade_engine.services.workspace import open_workspace
from ade_engine.settings import load_settings

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def job_ws(tmp_path: Path, empty_samples: Path):
    if IS_ROOT and not os.environ.get("ADE_JOB_USER"):  # tests/conftest.py sets it for the session when usable
        pytest.skip("running as root: jobs need ADE_JOB_USER and a Python that account can run")
    # load_settings: ADE_JOB_USER/ADE_JOB_PYTHON come from the session environment when running as root.
    settings = load_settings(data_dir=tmp_path / "data", sample_configs_dir=empty_samples, secrets_key=None,
                             secrets_keyring=None, database_url=None)
    ws = open_workspace(settings)
    yield ws
    ws.close()


def publish(ws, root: Path, *, request: bool, strict: bool = False) -> str:
    draft = configs.import_package(ws, write_leaky_package(root, request=request, strict=strict))
    return configs.publish(ws, draft.config_id).config_version_id


def cli(*argv: str) -> str:
    from ade_engine.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        main(list(argv))
    return out.getvalue() + err.getvalue()


def test_requested_secret_reaches_the_scripts_and_never_lands_on_disk(job_ws, tmp_path, monkeypatch):
    ws = job_ws
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    version = publish(ws, tmp_path / "leaky", request=True)
    outcome, job_dir, values = run_job(ws, version, write_input(tmp_path / "in.xlsx"))
    assert values == {"API_TOKEN": TOKEN}
    assert outcome.status == "succeeded", outcome.error

    art = artifact(job_dir)
    assert art["job"]["secrets_used"] == ["API_TOKEN"]
    text = json.dumps(art)
    # The scripts did receive the value: its marker shows where they echoed it.
    assert "got=[API_TOKEN] token=[redacted:API_TOKEN]" in text
    assert "lookup failed for [redacted:API_TOKEN]" in text
    assert "secret_in_output" in text
    cells = [row[0] for row in read_output(job_dir / "normalized.xlsx")[1:]]
    assert cells[0] == "[redacted:API_TOKEN]" and cells[1] == "ABCD-2-[redacted:API_TOKEN]"
    log = (job_dir / "logs" / "worker.log").read_text()
    assert "boom with [redacted:API_TOKEN]" in log and "validator exploded on [redacted:API_TOKEN]" in log
    events = [json.loads(line) for line in (job_dir / "events.ndjson").read_text().splitlines()]
    assert {"names": ["API_TOKEN"]} in [e.get("detail") for e in events if e["event"] == "secrets.injected"]
    assert "API_TOKEN" not in json.loads((job_dir / "run-request.json").read_text()).get("secrets", {})

    (info,) = svc.list_secrets(ws)
    assert info.last_used_job_id == art["job"]["job_id"]
    assert [(e.action, e.job_id) for e in svc.audit_log(ws) if e.action == "inject"] == [
        ("inject", art["job"]["job_id"])]

    monkeypatch.setenv("ADE_DATA_DIR", str(ws.settings.data_dir))
    monkeypatch.delenv("ADE_SECRETS_KEY", raising=False)
    monkeypatch.delenv("ADE_SECRETS_KEYRING", raising=False)
    monkeypatch.delenv("ADE_DATABASE_URL", raising=False)
    outputs = [cli("secret", "list"), cli("secret", "list", "--json"), cli("secret", "audit", "--json")]
    assert "API_TOKEN" in outputs[0]
    for out in outputs:
        assert not scan_text(out, TOKEN)

    ws.close()  # flush the WAL as the application would leave it, then search everything
    assert scan_tree(ws.settings.data_dir, TOKEN) == []


def test_a_job_that_requests_nothing_gets_nothing(job_ws, tmp_path):
    ws = job_ws
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    version = publish(ws, tmp_path / "plain", request=False)
    outcome, job_dir, values = run_job(ws, version, write_input(tmp_path / "in.xlsx"))
    assert values == {} and outcome.status == "succeeded", outcome.error
    art = artifact(job_dir)
    assert art["job"]["secrets_used"] == []
    assert "got=[]" in json.dumps(art) and "secrets seen: 0" in json.dumps(art)
    assert "got nothing: {}" in (job_dir / "logs" / "worker.log").read_text()
    events = (job_dir / "events.ndjson").read_text()
    assert "secrets.injected" not in events
    assert [e for e in svc.audit_log(ws) if e.action == "inject"] == []
    (info,) = svc.list_secrets(ws)
    assert info.last_used_at is None
    ws.close()
    assert scan_tree(ws.settings.data_dir, TOKEN) == []


def test_a_job_whose_secret_is_missing_fails_before_it_starts(job_ws, tmp_path):
    ws = job_ws
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    version = publish(ws, tmp_path / "leaky", request=True)
    svc.remove_secret(ws, "API_TOKEN")
    with pytest.raises(Exception) as err:
        run_job(ws, version, write_input(tmp_path / "in.xlsx"))
    assert err.value.code == "secrets_unavailable"
    assert not list(ws.settings.jobs_dir.iterdir())  # nothing was staged or spawned
    assert [e.action for e in svc.audit_log(ws)][0] == "decrypt_failed"


def test_a_job_failing_with_the_secret_in_its_error_keeps_it_out_of_the_record(job_ws, tmp_path):
    ws = job_ws
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    version = publish(ws, tmp_path / "strict", request=True, strict=True)
    outcome, job_dir, _values = run_job(ws, version, write_input(tmp_path / "in.xlsx"))
    assert outcome.status == "failed"
    assert outcome.error["code"] == "rule_error"
    assert "boom with [redacted:API_TOKEN]" in outcome.log_tail
    assert not scan_text(json.dumps(outcome.error) + outcome.log_tail, TOKEN)
    ws.close()
    assert scan_tree(ws.settings.data_dir, TOKEN) == []
