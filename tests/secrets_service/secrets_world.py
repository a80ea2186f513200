"""Helpers for the secrets service tests: settings, fake keyrings, a leaky package, real jobs, byte scans."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from keyring.backend import KeyringBackend

# Characters that URL-encoding changes, so the encoded forms differ from the plaintext.
TOKEN = "tok/en+S3cr3t&v=1 with space"
OTHER = "another-Secret-Value-42"


def env_key() -> str:
    return "ci-1:" + base64.b64encode(os.urandom(32)).decode("ascii")


def forms(value: str) -> list[bytes]:
    """Every spelling a leak could take: exact (UTF-8) and URL-encoded."""
    out = {value, quote(value, safe=""), quote(value), quote_plus(value, safe=""), quote_plus(value)}
    # JSON escapes '/' only optionally; json.dumps never does, so exact covers it.
    return sorted({f.encode("utf-8") for f in out})


def _zip_members(data: bytes) -> list[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return [(info.filename, zf.read(info)) for info in zf.infolist()]
    except zipfile.BadZipFile:
        return []


def scan_tree(root: Path, value: str) -> list[str]:
    """Paths (and zip members, e.g. inside .xlsx) under `root` whose bytes contain `value` in any form."""
    hits = []
    needles = forms(value)
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        if any(n in data for n in needles):
            hits.append(str(path.relative_to(root)))
        if data[:2] == b"PK":
            for name, member in _zip_members(data):
                if any(n in member for n in needles):
                    hits.append(f"{path.relative_to(root)}!{name}")
    return hits


def scan_text(text: str | bytes, value: str) -> bool:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return any(n in data for n in forms(value))


# --------------------------------------------------------------------------------------- fake keyrings


def _unregister(cls):
    KeyringBackend._classes.discard(cls)  # keep fakes out of keyring's auto-detection
    return cls


@_unregister
class MemoryKeyring(KeyringBackend):
    """Stands in for a desktop keyring (SecretService); module name gives the doctor label."""

    __module__ = "keyring.backends.SecretService"
    __qualname__ = "Keyring"
    priority = 5

    def __init__(self):
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        self.entries.pop((service, username), None)


@_unregister
class PlaintextFileKeyring(MemoryKeyring):
    """Looks like keyrings.alt's plaintext backend, which must never hold master keys."""

    __module__ = "keyrings.alt.file"
    __qualname__ = "PlaintextKeyring"
    priority = 0.5


# --------------------------------------------------------------------------------------- packages

LEAK_HOOK = '''
import logging, sys, urllib.parse

def run(*, stage, secrets, **_):
    tok = secrets.get("API_TOKEN")
    got = ",".join(sorted(secrets))
    if tok is None:
        print(f"hook {stage} got nothing: {dict(secrets)}")
        return {"notes": f"got=[{got}]"}
    print(f"hook {stage} token={tok} url={urllib.parse.quote(tok, safe='')}")
    print(f"stderr {tok}", file=sys.stderr)
    logging.getLogger("leaky").warning("log line with %s", tok)
    if stage == "on_job_start":
        raise RuntimeError(f"boom with {tok}")
    out = {"notes": f"got=[{got}] token={tok}", "echo": {"token": tok, tok: [tok]}}
    if stage == "after_validate":
        out["issues"] = [{"table_id": "sheet_1.table_1", "row_index": 1, "code": "lookup",
                          "severity": "warning", "message": f"lookup failed for {tok}"}]
    return out
'''

LEAK_SKU = '''
from columns._common import header_score

def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}

def transform(*, values, secrets, **_):
    tok = secrets["API_TOKEN"]
    print("transform sees", tok)
    # The first cell gets the bare value, the second embeds it: both must be redacted in the output.
    out = [tok if i == 0 else f"{v}-{tok}" if i == 1 else v for i, v in enumerate(values)]
    return {"values": out, "warnings": [f"transform used {tok}"]}

def validate(*, values, secrets, **_):
    tok = secrets["API_TOKEN"]
    if any(isinstance(v, str) and "ABCD-3" in v for v in values):  # real data only, not validation probes
        raise ValueError(f"validator exploded on {tok}")
    return {"issues": []}
'''

PLAIN_SKU = '''
from columns._common import header_score

def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}

def transform(*, values, secrets, **_):
    return {"values": values, "warnings": [f"secrets seen: {len(secrets)}"]}
'''


def write_leaky_package(root: Path, *, request: bool = True, strict: bool = False) -> Path:
    """A package whose hooks and `sku` field use API_TOKEN in every way a careless script could.

    With `request=False` it declares the secret but no enabled script requests it.
    """
    from pkgfactory import write_package

    names = ["API_TOKEN"] if request else []
    hooks = {stage: [{"script": "hooks/leak.py", "secrets": names}]
             for stage in ("on_job_start", "after_mapping", "after_validate", "on_job_end")}
    manifest = {
        "secrets": ["API_TOKEN"],
        "hooks": hooks,
        "columns": {"meta": {"sku": {"secrets": names}}},
    }
    if strict:  # a contained script error now fails the job: its message reaches result.json and the record
        manifest["engine"] = {"defaults": {"strict_rules": True}}
    files = {"hooks/leak.py": LEAK_HOOK, "columns/sku.py": LEAK_SKU if request else PLAIN_SKU}
    return write_package(root, manifest=manifest, files=files)


def write_input(path: Path) -> Path:
    from pkgfactory import write_xlsx

    rows = [["SKU", "Unit Price"], ["ABCD-1", 1.5], ["ABCD-2", 2.5], ["ABCD-3", 3.5]]
    return write_xlsx(path, {"Prices": rows})


# --------------------------------------------------------------------------------------- jobs


def run_job(ws: Any, ref: str, input_path: Path) -> tuple[Any, Path, dict[str, str]]:
    """Run one real job of a published version the way the worker does; returns (outcome, job_dir, secrets).

    Until `services.jobs` exists: resolve secrets with `secrets_for_job`, stage, launch, finalize.
    """
    import secrets as random_tokens

    import ulid

    from ade_engine import ENGINE_VERSION
    from ade_engine.jobs.finalize import finalize
    from ade_engine.jobs.launcher import launch
    from ade_engine.jobs.outcome import OperatorLimits
    from ade_engine.jobs.sandbox import probe
    from ade_engine.jobs.staging import stage_job_dir, write_run_request
    from ade_engine.manifest import load_manifest
    from ade_engine.services import configs
    from ade_engine.services.secrets import secrets_for_job

    info = configs.get_version(ws, ref)
    pkg = configs.package_dir(ws, ref)
    manifest = load_manifest(pkg)
    job_id = ulid.new().str
    values = secrets_for_job(ws, config_id=info.config_id, manifest=manifest, job_id=job_id)
    job_dir = ws.settings.jobs_dir / job_id
    staged = stage_job_dir(job_dir, input_path=input_path, original_name=input_path.name, config_dir=pkg)
    caps = OperatorLimits.from_settings(ws.settings)
    request = {
        "schema": "ade.run_request/v1", "job_id": job_id, "attempt": 1, "retry_of_job_id": None,
        "trace_id": random_tokens.token_hex(16), "config_id": info.config_id,
        "config_version_id": info.config_version_id, "content_hash": info.content_hash, "deps_hash": None,
        "config_title": manifest.info.title, "manifest_version": manifest.info.version,
        "manifest_schema": manifest.info.schema_, "config_script_api_version": manifest.config_script_api_version,
        "input": {"document_id": None, "filename": input_path.name, "sha256": "", "path": str(staged),
                  "format": "xlsx", "size_bytes": input_path.stat().st_size},
        "limits": caps.effective(timeout_ms=60000, memory_mb=512),
        "runtime_network_access": False, "sandbox_level": probe().best_level,
        "secrets_requested": sorted(values), "engine_version": ENGINE_VERSION,
        "python_executable": sys.executable, "created_at": "2025-01-01T00:00:00Z",
        "started_at": "2025-01-01T00:00:00Z", "job_dir": str(job_dir), "config_dir": str(job_dir / "config"),
        "reader": "auto",
        "input_budget": {"max_uncompressed_mb": 1024, "max_ratio": 200, "inmemory_max_mb": 64},
    }
    write_run_request(job_dir, request)
    import inspect

    extra = {"settings": ws.settings} if "settings" in inspect.signature(launch).parameters else {}
    launched = launch(job_dir, request, values, limits=caps, **extra)
    outcome = finalize(job_dir, launched, request, secrets=values, remove_inputs=False)
    return outcome, job_dir, values


def artifact(job_dir: Path) -> dict[str, Any]:
    return json.loads((job_dir / "artifact.json").read_text(encoding="utf-8"))
