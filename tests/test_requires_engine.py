"""`info.requires_engine` (config-packages.md §2.1) is enforced: at validation (publish, `ade run`), at
activation, and when a worker claims a job (it leaves the job to a worker whose engine matches, then fails it
with `engine_unsupported` once a lease has passed and none came)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pkgfactory import write_package, write_csv
from sandbox_helpers import job_user_env

from ade_engine import ENGINE_VERSION
from ade_engine.cli.main import main
from ade_engine.errors import AdeError
from ade_engine.jobs import queue
from ade_engine.jobs.engine_gate import EngineGate
from ade_engine.jobs.worker import Worker
from ade_engine.packages import engine_requirement
from ade_engine.packages.validation import validate_static
from ade_engine.services import configs, jobs
from ade_engine.services.workspace import open_workspace
from ade_engine.settings import isolated_settings

FUTURE = ">=2.0" if not engine_requirement.satisfies(">=2.0") else ">=99.0"  # not met by this engine
FUTURE_ENGINE = "99.1.0"  # an engine that meets it


def package(root: Path, requires: str | None) -> Path:
    info = {"requires_engine": requires} if requires is not None else {}
    return write_package(root, manifest={"info": info})


def events(job_dir: str | Path) -> list[dict]:
    path = Path(job_dir) / "events.ndjson"
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


@pytest.fixture
def ws(tmp_path):
    """A workspace whose workers run jobs for real (as `nobody` under root), with a 2 s lease."""
    env = job_user_env()
    extra = {"job_user": env["ADE_JOB_USER"], "job_python": env.get("ADE_JOB_PYTHON")} if env else {}
    settings = isolated_settings(tmp_path / "data", sample_configs_dir=tmp_path / "no-samples",
                                 worker_lease_seconds=2, **{k: v for k, v in extra.items() if v})
    with open_workspace(settings) as opened:
        yield opened


def publish_on_future_engine(ws, monkeypatch, pkg: Path, config_id: str) -> str:
    """Publish a version requiring FUTURE as an engine that meets it would (a shared workspace, mixed fleet)."""
    with monkeypatch.context() as m:
        m.setattr(engine_requirement, "current_engine_version", lambda: FUTURE_ENGINE)
        draft = configs.import_package(ws, pkg, config_id=config_id)
        return configs.publish(ws, draft.config_version_id).config_version_id


# ------------------------------------------------------------------------------------------------ the check
def test_specifiers_follow_pep_440():
    assert engine_requirement.satisfies(None) and engine_requirement.satisfies("")
    assert engine_requirement.satisfies(">=1.0,<2.0", "1.0.0")
    assert not engine_requirement.satisfies(">=2.0", "1.0.0")
    assert engine_requirement.satisfies(">=2.0", "2.0.0rc1") is False  # a pre-release is before its release
    assert engine_requirement.satisfies(">=2.0rc1", "2.0.0rc2")
    assert not engine_requirement.satisfies("~=1", "1.0.0")  # not a specifier: never met
    assert "not a version specifier" in engine_requirement.problem("~=1")
    assert engine_requirement.problem(f"=={ENGINE_VERSION}") is None


# ------------------------------------------------------------------------------------------------ validation
def test_static_validation_names_the_unmet_requirement_and_its_line(tmp_path):
    found = validate_static(package(tmp_path / "future", FUTURE))
    hits = [d for d in found if d.code == "manifest.requires_engine"]
    assert len(hits) == 1 and hits[0].level == "error" and hits[0].path == "manifest.json"
    assert repr(FUTURE) in hits[0].message and ENGINE_VERSION in hits[0].message
    line = (tmp_path / "future" / "manifest.json").read_text().splitlines()[hits[0].line - 1]
    assert '"requires_engine"' in line
    for ok in (f"=={ENGINE_VERSION}", f">={ENGINE_VERSION},<99", None):
        assert not [d for d in validate_static(package(tmp_path / f"ok{hash(ok)}", ok))
                    if d.code == "manifest.requires_engine"]


def test_publish_and_ade_run_refuse_a_package_this_engine_does_not_satisfy(ws, tmp_path, monkeypatch, capsys):
    pkg = package(tmp_path / "future", FUTURE)
    draft = configs.import_package(ws, pkg, config_id="future")
    with pytest.raises(AdeError) as err:
        configs.publish(ws, draft.config_version_id)
    assert err.value.code == "config_invalid" and "requires_engine" in err.value.message
    assert configs.get_version(ws, draft.config_version_id).status == "draft"

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADE_DATA_DIR", str(tmp_path / "run-data"))
    write_csv(tmp_path / "in.csv", [["SKU", "Unit Price"], ["A-1001", 3.5]])
    code = main(["run", "in.csv", "--config", str(pkg), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and out["error"]["code"] == "config_invalid"
    assert "manifest.requires_engine" in out["error"]["message"]
    assert not (tmp_path / "ade-out").exists()  # refused before anything was staged


def test_activation_refuses_a_version_this_engine_does_not_satisfy(ws, tmp_path, monkeypatch):
    version_id = publish_on_future_engine(ws, monkeypatch, package(tmp_path / "future", FUTURE), "future")
    with pytest.raises(AdeError) as err:
        configs.activate(ws, version_id)
    assert err.value.code == "engine_unsupported"
    assert repr(FUTURE) in err.value.message and ENGINE_VERSION in err.value.message
    assert configs.active_version(ws) is None


# ------------------------------------------------------------------------------------------------ claims
def test_a_worker_leaves_the_job_for_another_engine_then_fails_it_after_a_lease(ws, tmp_path, monkeypatch):
    future = publish_on_future_engine(ws, monkeypatch, package(tmp_path / "future", FUTURE), "future")
    draft = configs.import_package(ws, package(tmp_path / "plain", None), config_id="plain")
    plain = configs.publish(ws, draft.config_version_id).config_version_id
    first = jobs.submit_job(ws, write_csv(tmp_path / "a.csv", [["SKU", "Unit Price"], ["A-1001", 3.5]]),
                            config=future).job
    second = jobs.submit_job(ws, write_csv(tmp_path / "b.csv", [["SKU", "Unit Price"], ["B-2002", 4]]),
                             config=plain).job

    Worker(ws, concurrency=1).run(once=True)  # returns once the queue is empty

    done = jobs.get_job(ws, second.job_id)
    assert done.status == "succeeded", (done.error_code, done.error_message)
    failed = jobs.get_job(ws, first.job_id)
    assert failed.status == "failed" and failed.error_code == "engine_unsupported"
    assert repr(FUTURE) in failed.error_message and ENGINE_VERSION in failed.error_message
    # The older job was passed over (once, with an event), the newer one ran meanwhile, then the older failed.
    skipped = [e for e in events(failed.job_dir) if e["event"] == "claim.skipped"]
    assert len(skipped) == 1 and skipped[0]["state"] == "queued"
    assert skipped[0]["detail"]["requires_engine"] == FUTURE
    assert skipped[0]["detail"]["engine_version"] == ENGINE_VERSION
    assert failed.started_at > done.started_at
    assert not (Path(failed.job_dir) / "normalized.xlsx").exists()
    artifact = json.loads((Path(failed.job_dir) / "artifact.json").read_text(encoding="utf-8"))
    assert artifact["error"]["code"] == "engine_unsupported"


def test_a_worker_whose_engine_matches_takes_the_job_another_left(ws, tmp_path, monkeypatch):
    future = publish_on_future_engine(ws, monkeypatch, package(tmp_path / "future", FUTURE), "future")
    job = jobs.submit_job(ws, write_csv(tmp_path / "a.csv", [["SKU", "Unit Price"], ["A-1001", 3.5]]),
                          config=future).job

    old = Worker(ws)
    assert queue.claim(ws, old.worker_id, 2, accept=old.engine_gate.accept) is None
    assert jobs.get_job(ws, job.job_id).status == "queued"

    new = Worker(ws)
    new.engine_gate.engine_version = FUTURE_ENGINE
    new.run(once=True)
    ran = jobs.get_job(ws, job.job_id)
    assert ran.status == "succeeded", (ran.error_code, ran.error_message)
    assert ran.worker_id == new.worker_id


def test_a_live_worker_with_a_matching_engine_keeps_the_job_waiting_past_the_lease(ws, tmp_path, monkeypatch):
    future = publish_on_future_engine(ws, monkeypatch, package(tmp_path / "future", FUTURE), "future")
    job = jobs.submit_job(ws, write_csv(tmp_path / "a.csv", [["SKU", "Unit Price"], ["A-1001", 3.5]]),
                          config=future).job
    row = type("Row", (), {"job_id": job.job_id, "job_dir": job.job_dir, "attempt": 1,
                           "config_version_id": job.config_version_id})()
    gate = EngineGate(ws.settings, "here:1:aaaaaa")
    assert gate.accept(row) is False  # first pass over: remembered, event written
    time.sleep(ws.settings.worker_lease_seconds + 0.1)  # a lease passes (nothing here is timed, only waited for)
    # another machine's worker, alive (a fresh heartbeat), on an engine that satisfies the requirement
    queue.write_beat(ws.settings, "elsewhere:7:bbbbbb", {"mode": "standalone", "hostname": "elsewhere", "pid": 7,
                                                         "engine_version": FUTURE_ENGINE})
    assert gate.accept(row) is False  # that worker will take it
    queue.remove_beat(ws.settings, "elsewhere:7:bbbbbb")
    assert gate.accept(row) is True  # nobody else can: claim it to fail it
    assert "requires_engine" in gate.refusal(row)
