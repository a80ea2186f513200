"""A script that writes a secret into files of its own job dir, or prints it base64- or hex-encoded, leaves no
trace of it (issue 19, §5): ADE's records are redacted, other files removed, the job fails `secret_in_output`."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from secrets_world import TOKEN, run_job, scan_tree, write_input

from ade_engine.services import configs
from ade_engine.services import secrets as svc
from ade_engine.services.workspace import open_workspace
from ade_engine.settings import load_settings

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
PREFIX = b"token is: "  # the value sits inside a longer text, at an offset base64 does not align to

WRITER_HOOK = '''
import base64, os

def run(*, secrets, **_):
    tok = secrets["API_TOKEN"].encode()
    job_dir = os.environ["ADE_JOB_DIR"]
    with open(os.path.join(job_dir, "leak.txt"), "wb") as fh:
        fh.write(b"plain " + tok)
    os.makedirs(os.path.join(job_dir, "notes"), exist_ok=True)
    with open(os.path.join(job_dir, "notes", "hex.txt"), "w") as fh:
        fh.write(tok.hex())
    with open(os.path.join(job_dir, "wide.txt"), "wb") as fh:
        fh.write(secrets["API_TOKEN"].encode("utf-16-le"))
    print("encoded:", base64.b64encode(PREFIX + tok).decode())
    with open(os.path.join(job_dir, "harmless.txt"), "w") as fh:
        fh.write("nothing secret here")
'''.replace("PREFIX", repr(PREFIX))


def _encoded_spellings() -> list[bytes]:
    raw = TOKEN.encode()
    return [raw, raw.hex().encode(), TOKEN.encode("utf-16-le"), base64.b64encode(PREFIX + raw)[16:40]]


@pytest.fixture
def job_ws(tmp_path: Path):
    if IS_ROOT and not os.environ.get("ADE_JOB_USER"):
        pytest.skip("running as root: jobs need ADE_JOB_USER and a Python that account can run")
    samples = tmp_path / "no-samples"
    samples.mkdir()
    settings = load_settings(data_dir=tmp_path / "data", sample_configs_dir=samples, secrets_key=None,
                             secrets_keyring=None, database_url=None)
    ws = open_workspace(settings)
    yield ws
    ws.close()


def test_secret_written_to_job_files_or_printed_encoded_is_contained(job_ws, tmp_path):
    from pkgfactory import write_package

    ws = job_ws
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    pkg = write_package(tmp_path / "writer", manifest={
        "secrets": ["API_TOKEN"],
        "hooks": {"on_job_end": [{"script": "hooks/writer.py", "secrets": ["API_TOKEN"]}]},
    }, files={"hooks/writer.py": WRITER_HOOK})
    draft = configs.import_package(ws, pkg)
    version = configs.publish(ws, draft.config_id).config_version_id
    outcome, job_dir, values = run_job(ws, version, write_input(tmp_path / "in.xlsx"))
    assert values == {"API_TOKEN": TOKEN}

    # Not one byte of the value, in any of the spellings the script used, is left anywhere in the job dir.
    leftovers = []
    for path in sorted(job_dir.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            leftovers += [f"{path.relative_to(job_dir)}: {s[:12]!r}" for s in _encoded_spellings() if s in data]
    assert leftovers == [] and scan_tree(job_dir, TOKEN) == []
    assert not (job_dir / "leak.txt").exists() and not (job_dir / "notes" / "hex.txt").exists()
    assert not (job_dir / "wide.txt").exists()
    assert (job_dir / "harmless.txt").read_text() == "nothing secret here"  # other files are left alone
    log = (job_dir / "logs" / "worker.log").read_text()
    assert "encoded:" in log and "[redacted:API_TOKEN]" in log  # the log line is kept, its value redacted

    assert outcome.status == "failed" and outcome.error["code"] == "secret_in_output", outcome.error
    message = outcome.error["message"]
    assert "leak.txt" in message and "notes/hex.txt" in message and "API_TOKEN" in message
    assert TOKEN not in message
