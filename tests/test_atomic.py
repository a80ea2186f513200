"""The job's JSON files: one encoder, the same text with or without pydantic-core, always valid JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ade_engine.runtime.atomic import encode_json, save_json_atomic
from ade_engine.runtime.pipeline import run_pipeline
from pkgfactory import make_request

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> dict:
    job = tmp_path_factory.mktemp("job")
    req = make_request(job, REPO / "sample_configs" / "inputs" / "roster_messy.xlsx",
                       REPO / "sample_configs" / "member_roster")
    assert run_pipeline(req, {}, job)["status"] == "succeeded"
    return json.loads((job / "artifact.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("pretty", [True, False])
def test_same_bytes_without_pydantic_core(artifact, pretty, monkeypatch):
    fast = encode_json(artifact, pretty=pretty)
    monkeypatch.setitem(sys.modules, "pydantic_core", None)  # `import pydantic_core` now fails
    assert encode_json(artifact, pretty=pretty) == fast
    assert json.loads(fast) == artifact


@pytest.mark.parametrize("core", [True, False])
def test_text_is_utf8_json_and_nan_is_refused(tmp_path, core, monkeypatch):
    if not core:
        monkeypatch.setitem(sys.modules, "pydantic_core", None)
    target = tmp_path / "result.json"
    save_json_atomic(target, {"name": "Zoë", "note": "NaN and -Infinity are words here", "n": 2}, pretty=True)
    text = target.read_text(encoding="utf-8")
    assert text.startswith('{\n  "name": "Zoë",') and text.endswith("}\n")
    assert json.loads(text) == {"name": "Zoë", "note": "NaN and -Infinity are words here", "n": 2}
    for bad in (float("nan"), float("inf"), [{"deep": -float("inf")}]):
        with pytest.raises(ValueError):
            save_json_atomic(target, {"score": bad}, pretty=False)
    assert target.read_text(encoding="utf-8") == text  # the file as it was
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
